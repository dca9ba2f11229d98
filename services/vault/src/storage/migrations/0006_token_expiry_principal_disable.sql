-- Gateway tokens may expire (NULL: never), and users and orgs may be disabled (NULL: enabled);
-- a disabled principal's tokens are refused until it is enabled again. Existing tokens never
-- expire and existing principals stay enabled.
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE principals ADD COLUMN disabled_at INTEGER;
