CREATE TABLE balances (
    principal_id TEXT PRIMARY KEY REFERENCES principals (id),
    micros INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE usage_records (
    request_id TEXT PRIMARY KEY,
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
CREATE INDEX usage_by_principal ON usage_records (principal_id, month);
CREATE INDEX usage_by_owner ON usage_records (credential_owner, month);

CREATE TABLE budgets (
    owner_id TEXT PRIMARY KEY REFERENCES principals (id),
    monthly_cap_micros INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
