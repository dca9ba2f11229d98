-- A session token remembers the API (or session) token it was started from, so revoking
-- that token ends the sessions made from it. NULL for API tokens, sign-in codes and
-- sessions started with a sign-in code (the code is spent as the session starts).
ALTER TABLE tokens ADD COLUMN parent_id TEXT;
CREATE INDEX tokens_by_parent ON tokens (parent_id) WHERE parent_id IS NOT NULL;
