-- Rate limits: requests and tokens per minute on one target, which routers enforce together.
-- The scope says what the target is: a user (`principal`), an org (`org`), a provider key
-- (`credential`) or a catalog model served by the platform's managed keys (`managed_model`).
-- A row has at least one figure above 0 (both 0 is no limit: the row is deleted instead).
-- `set_by_operator` is 0/1: a limit the operator set is the operator's alone to change.
-- No foreign key: the target is in a different table per scope (or, for a model, in none).
CREATE TABLE rate_limits (
    scope TEXT NOT NULL CHECK (scope IN ('principal', 'org', 'credential', 'managed_model')),
    target_id TEXT NOT NULL,
    requests_per_minute INTEGER NOT NULL CHECK (requests_per_minute >= 0),
    tokens_per_minute INTEGER NOT NULL CHECK (tokens_per_minute >= 0),
    set_by_operator INTEGER NOT NULL CHECK (set_by_operator IN (0, 1)),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, target_id),
    CHECK (requests_per_minute > 0 OR tokens_per_minute > 0)
);
