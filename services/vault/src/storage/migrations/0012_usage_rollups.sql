-- Running totals, kept in the same transaction as each usage record, so that budget checks
-- and usage reports read a handful of rows however large the ledger grows, and raw rows can
-- be pruned after their retention without changing any total.
--
-- spend_by_month: what each owner was charged in a month (its own calls and calls made with
-- its keys, counted once when both are the same owner): the budget check.
CREATE TABLE spend_by_month (
    owner_id TEXT NOT NULL,
    month TEXT NOT NULL,
    micros INTEGER NOT NULL,
    PRIMARY KEY (owner_id, month)
) WITHOUT ROWID;

-- usage_daily: the usage report's lines by UTC day, provider, model and key source.
CREATE TABLE usage_daily (
    owner_id TEXT NOT NULL,
    month TEXT NOT NULL,
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('byok', 'managed')),
    requests INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    PRIMARY KEY (owner_id, month, day, provider, model, source)
) WITHOUT ROWID;

-- Every owner a row is charged to: its caller, and the key's owner when that is another.
CREATE TEMP VIEW usage_owners AS
SELECT principal_id AS owner_id, * FROM usage_records
UNION ALL
SELECT credential_owner AS owner_id, * FROM usage_records
WHERE credential_owner <> '' AND credential_owner <> principal_id;

INSERT INTO spend_by_month (owner_id, month, micros)
SELECT owner_id, month, SUM(cost_micros) FROM usage_owners GROUP BY owner_id, month;

INSERT INTO usage_daily (owner_id, month, day, provider, model, source, requests, input_tokens,
    output_tokens, cost_micros, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,
    reasoning_tokens)
SELECT owner_id, month, date(time / 1000, 'unixepoch'), provider, model, source, COUNT(*),
    SUM(input_tokens), SUM(output_tokens), SUM(cost_micros), SUM(cache_read_tokens),
    SUM(cache_write_tokens), SUM(cache_write_1h_tokens), SUM(reasoning_tokens)
FROM usage_owners
GROUP BY owner_id, month, date(time / 1000, 'unixepoch'), provider, model, source;

DROP VIEW usage_owners;

-- Pruning raw rows by age walks this index.
CREATE INDEX usage_by_time ON usage_records (time);
