-- Rate limits: SQLite's migration 13 in PostgreSQL's dialect (see that file for the columns).
CREATE TABLE rate_limits (
    scope TEXT NOT NULL CHECK (scope IN ('principal', 'org', 'credential', 'managed_model')),
    target_id TEXT NOT NULL,
    requests_per_minute BIGINT NOT NULL CHECK (requests_per_minute >= 0),
    tokens_per_minute BIGINT NOT NULL CHECK (tokens_per_minute >= 0),
    set_by_operator BIGINT NOT NULL CHECK (set_by_operator IN (0, 1)),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope, target_id),
    CHECK (requests_per_minute > 0 OR tokens_per_minute > 0)
);
