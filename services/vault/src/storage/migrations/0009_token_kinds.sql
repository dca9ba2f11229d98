-- Gateway tokens have a kind: 'api' (every existing token), 'session' (the console's, made by
-- StartSession) or 'sign_in' (a one-time code spent by StartSession).
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api'
    CHECK (kind IN ('api', 'session', 'sign_in'));
