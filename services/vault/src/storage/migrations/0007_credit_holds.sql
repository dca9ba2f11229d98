-- Routers' holds on principals' credit for managed calls in flight: together they never
-- exceed the balance, so several routers cannot overdraw it between them. A hold lapses at
-- expires_at unless its router asks again.
CREATE TABLE credit_holds (
    id TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    micros INTEGER NOT NULL CHECK (micros >= 0),
    expires_at INTEGER NOT NULL
);
CREATE INDEX credit_holds_by_principal ON credit_holds (principal_id);
