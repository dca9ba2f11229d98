-- Which AAD each credential's secret is sealed with. 1: credential id, owner and provider
-- (every row written before this migration); 2: the same plus the routing config, so that a
-- config edited in the database without the KEK fails to open. The vault re-seals version 1
-- rows as version 2 when it starts.
ALTER TABLE credentials ADD COLUMN aad_version INTEGER NOT NULL DEFAULT 1
    CHECK (aad_version IN (1, 2));
