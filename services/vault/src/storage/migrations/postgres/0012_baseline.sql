-- PostgreSQL's schema as SQLite's migrations 1 to 12 leave theirs, in one step: no PostgreSQL
-- database predates version 12, so the history before it is not replayed. Migrations after
-- 12 come in both dialects under the same version number. Integers are BIGINT throughout
-- (SQLite's INTEGER is 64-bit), booleans are BIGINT 0/1 as in SQLite, blobs are BYTEA.

CREATE TABLE principals (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'org', 'platform')),
    name TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE memberships (
    org_id TEXT NOT NULL REFERENCES principals (id),
    user_id TEXT NOT NULL REFERENCES principals (id),
    role TEXT NOT NULL CHECK (role IN ('owner', 'billing_manager', 'member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id, created_at);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    hash BYTEA NOT NULL UNIQUE,
    name TEXT NOT NULL,
    last_four TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    expires_at BIGINT,
    kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'session', 'sign_in')),
    parent_id TEXT
);
CREATE INDEX tokens_by_principal ON tokens (principal_id);
CREATE INDEX tokens_by_parent ON tokens (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES principals (id),
    provider TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    config TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    ciphertext BYTEA NOT NULL,
    nonce BYTEA NOT NULL,
    wrapped_key BYTEA NOT NULL,
    key_nonce BYTEA NOT NULL,
    kek_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    aad_version BIGINT NOT NULL DEFAULT 1 CHECK (aad_version IN (1, 2)),
    last_tested_at BIGINT,
    last_test_outcome TEXT,
    UNIQUE (owner_id, provider, label)
);
CREATE INDEX credentials_by_kek_version ON credentials (kek_version);

CREATE TABLE provider_settings (
    owner_id TEXT NOT NULL REFERENCES principals (id),
    provider TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('managed', 'custom_key', 'disabled')),
    fallback TEXT NOT NULL CHECK (fallback IN ('never', 'when_no_key', 'when_key_fails')),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (owner_id, provider)
);

CREATE TABLE audit_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time BIGINT NOT NULL,
    actor TEXT NOT NULL,
    peer TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_by_owner ON audit_events (owner_id, id);

INSERT INTO principals (id, kind, name, email, created_at) VALUES ('platform', 'platform', 'platform', '', 0);

CREATE TABLE balances (
    principal_id TEXT PRIMARY KEY REFERENCES principals (id),
    micros BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE usage_records (
    usage_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    time BIGINT NOT NULL,
    month TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    credential_owner TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('byok', 'managed')),
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL DEFAULT 0 CHECK (cache_read_tokens >= 0),
    cache_write_tokens BIGINT NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0),
    cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0
        CHECK (cache_write_1h_tokens >= 0 AND cache_write_1h_tokens <= cache_write_tokens),
    reasoning_tokens BIGINT NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0)
);
CREATE INDEX usage_by_principal ON usage_records (principal_id, month);
CREATE INDEX usage_by_owner ON usage_records (credential_owner, month);
CREATE INDEX usage_by_request ON usage_records (request_id);
CREATE INDEX usage_by_time ON usage_records (time);

CREATE TABLE budgets (
    owner_id TEXT PRIMARY KEY REFERENCES principals (id),
    monthly_cap_micros BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE credit_holds (
    id TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    micros BIGINT NOT NULL CHECK (micros >= 0),
    expires_at BIGINT NOT NULL
);
CREATE INDEX credit_holds_by_principal ON credit_holds (principal_id);

CREATE TABLE spend_by_month (
    owner_id TEXT NOT NULL,
    month TEXT NOT NULL,
    micros BIGINT NOT NULL,
    PRIMARY KEY (owner_id, month)
);

CREATE TABLE usage_daily (
    owner_id TEXT NOT NULL,
    month TEXT NOT NULL,
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('byok', 'managed')),
    requests BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    PRIMARY KEY (owner_id, month, day, provider, model, source)
);
