-- The usage ledger is keyed by a router-made usage id (one per billable upstream attempt);
-- the caller's request id becomes a plain correlation column. Existing rows keep their
-- request id as their usage id.
CREATE TABLE usage_records_v3 (
    usage_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    month TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    credential_owner TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('byok', 'managed')),
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL
);
INSERT INTO usage_records_v3 (usage_id, request_id, time, month, principal_id, credential_id,
    credential_owner, source, provider, model, input_tokens, output_tokens, cost_micros)
SELECT request_id, request_id, time, month, principal_id, credential_id, credential_owner,
    source, provider, model, input_tokens, output_tokens, cost_micros
FROM usage_records;
DROP TABLE usage_records;
ALTER TABLE usage_records_v3 RENAME TO usage_records;
CREATE INDEX usage_by_principal ON usage_records (principal_id, month);
CREATE INDEX usage_by_owner ON usage_records (credential_owner, month);
CREATE INDEX usage_by_request ON usage_records (request_id);
