CREATE TABLE principals (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'org', 'platform')),
    name TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    org_id TEXT NOT NULL REFERENCES principals (id),
    user_id TEXT NOT NULL REFERENCES principals (id),
    role TEXT NOT NULL CHECK (role IN ('owner', 'billing_manager', 'member')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id, created_at);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    hash BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    last_four TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX tokens_by_principal ON tokens (principal_id);

CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES principals (id),
    provider TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    config TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    nonce BLOB NOT NULL,
    wrapped_key BLOB NOT NULL,
    key_nonce BLOB NOT NULL,
    kek_version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (owner_id, provider, label)
);
CREATE INDEX credentials_by_kek_version ON credentials (kek_version);

CREATE TABLE provider_settings (
    owner_id TEXT NOT NULL REFERENCES principals (id),
    provider TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('managed', 'custom_key', 'disabled')),
    fallback TEXT NOT NULL CHECK (fallback IN ('never', 'when_no_key', 'when_key_fails')),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner_id, provider)
);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
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
