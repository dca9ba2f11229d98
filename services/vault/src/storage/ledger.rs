//! The usage ledger's running totals and the retention of its raw rows. Each recorded call
//! adds to its owners' monthly spend and daily lines in the transaction that records it, so
//! budget checks read one row and usage reports a month's lines, however many calls there
//! were; raw per-call rows only serve idempotency and audits and are pruned after a while.

use std::collections::BTreeMap;

use super::sql::{Row, Tx, params};

use super::money::{TokenCounts, UsageDayRecord, UsageLineRecord, UsageRow, UsageSource, column};
use super::{Millis, Store, StoreError, parse_enum};

/// How many raw rows one pruning transaction deletes: small enough that the writers waiting
/// behind it (usage batches, key changes) are held up for milliseconds, not seconds.
const PRUNE_BATCH: u32 = 5_000;

/// `YYYY-MM-DD` (UTC) of a time in milliseconds.
pub fn day_of(ms: Millis) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The owners a call is charged to: its caller, and the key's owner when that is another.
fn owners(row: &UsageRow) -> impl Iterator<Item = &str> {
    let key_owner = (!row.credential_owner.is_empty() && row.credential_owner != row.principal_id)
        .then_some(row.credential_owner.as_str());
    std::iter::once(row.principal_id.as_str()).chain(key_owner)
}

/// A day line's sums: one call or many of a batch.
#[derive(Debug, Default, Clone, Copy)]
struct DaySums {
    requests: i64,
    input: i64,
    output: i64,
    cost_micros: i64,
    cache_read: i64,
    cache_write: i64,
    cache_write_1h: i64,
    reasoning: i64,
}

impl DaySums {
    fn add(&mut self, row: &UsageRow) -> Result<(), StoreError> {
        let tokens = row.tokens;
        let add = |sum: &mut i64, count: u64| -> Result<(), StoreError> {
            *sum = sum.saturating_add(column(count)?);
            Ok(())
        };
        self.requests = self.requests.saturating_add(1);
        self.cost_micros = self.cost_micros.saturating_add(row.cost_micros);
        add(&mut self.input, tokens.input)?;
        add(&mut self.output, tokens.output)?;
        add(&mut self.cache_read, tokens.cache_read)?;
        add(&mut self.cache_write, tokens.cache_write)?;
        add(&mut self.cache_write_1h, tokens.cache_write_1h)?;
        add(&mut self.reasoning, tokens.reasoning)
    }
}

/// (owner, day, provider, model, source).
type DayKey = (String, String, String, String, &'static str);

/// The totals a batch of newly recorded calls adds, gathered in memory and written once per
/// owner and month and once per day line (a batch of 500 calls by one caller is two
/// statements, not a thousand), in the transaction that records the calls.
#[derive(Debug, Default)]
pub(super) struct BatchTotals {
    spend: BTreeMap<(String, String), i64>,
    days: BTreeMap<DayKey, DaySums>,
}

impl BatchTotals {
    /// Counts a newly recorded call for its owners.
    pub(super) fn add(&mut self, row: &UsageRow) -> Result<(), StoreError> {
        let day = day_of(row.time);
        let month = day[..7].to_owned();
        for owner in owners(row) {
            let spend = self
                .spend
                .entry((owner.to_owned(), month.clone()))
                .or_default();
            *spend = spend.saturating_add(row.cost_micros);
            let key = (
                owner.to_owned(),
                day.clone(),
                row.provider.clone(),
                row.model.clone(),
                row.source.as_str(),
            );
            self.days.entry(key).or_default().add(row)?;
        }
        Ok(())
    }

    /// Adds the gathered totals to the stored ones.
    pub(super) fn write(self, tx: &Tx<'_>) -> Result<(), StoreError> {
        for ((owner, month), micros) in &self.spend {
            tx.execute(
                "INSERT INTO spend_by_month (owner_id, month, micros) VALUES (?1, ?2, ?3)
                 ON CONFLICT (owner_id, month) DO UPDATE SET micros = spend_by_month.micros + ?3",
                params![owner, month, micros],
            )?;
        }
        for ((owner, day, provider, model, source), sums) in &self.days {
            tx.execute(
                "INSERT INTO usage_daily (owner_id, month, day, provider, model, source, requests,
                    input_tokens, output_tokens, cost_micros, cache_read_tokens, cache_write_tokens,
                    cache_write_1h_tokens, reasoning_tokens)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (owner_id, month, day, provider, model, source) DO UPDATE SET
                    requests = usage_daily.requests + ?7,
                    input_tokens = usage_daily.input_tokens + ?8,
                    output_tokens = usage_daily.output_tokens + ?9,
                    cost_micros = usage_daily.cost_micros + ?10,
                    cache_read_tokens = usage_daily.cache_read_tokens + ?11,
                    cache_write_tokens = usage_daily.cache_write_tokens + ?12,
                    cache_write_1h_tokens = usage_daily.cache_write_1h_tokens + ?13,
                    reasoning_tokens = usage_daily.reasoning_tokens + ?14",
                params![
                    owner,
                    &day[..7],
                    day,
                    provider,
                    model,
                    source,
                    sums.requests,
                    sums.input,
                    sums.output,
                    sums.cost_micros,
                    sums.cache_read,
                    sums.cache_write,
                    sums.cache_write_1h,
                    sums.reasoning,
                ],
            )?;
        }
        Ok(())
    }
}

/// Spend charged to `owner_id` in `month`: calls it made, and calls made with its keys.
pub(super) fn month_spend(tx: &Tx<'_>, owner_id: &str, month: &str) -> Result<i64, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT micros FROM spend_by_month WHERE owner_id = ?1 AND month = ?2",
            params![owner_id, month],
            |row| row.get(0),
        )?
        .unwrap_or(0))
}

/// A summed count read back as the unsigned number it is.
fn count(row: &Row<'_>, index: usize) -> Result<u64, StoreError> {
    row.get(index)
}

impl Store {
    /// Usage charged to `owner_id` in `month`, grouped by provider, model and source.
    pub async fn usage(
        &self,
        owner_id: &str,
        month: &str,
    ) -> Result<Vec<UsageLineRecord>, StoreError> {
        let (owner_id, month) = (owner_id.to_owned(), month.to_owned());
        self.read(move |tx| {
            let rows = tx.query_map(
                "SELECT provider, model, source, CAST(SUM(requests) AS BIGINT),
                        CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT),
                        CAST(SUM(cost_micros) AS BIGINT), CAST(SUM(cache_read_tokens) AS BIGINT),
                        CAST(SUM(cache_write_tokens) AS BIGINT),
                        CAST(SUM(cache_write_1h_tokens) AS BIGINT),
                        CAST(SUM(reasoning_tokens) AS BIGINT)
                 FROM usage_daily WHERE owner_id = ?1 AND month = ?2
                 GROUP BY provider, model, source ORDER BY provider, model, source",
                params![owner_id, month],
                |row| {
                    Ok((
                        row.get::<String>(0)?,
                        row.get::<String>(1)?,
                        row.get::<String>(2)?,
                        count(row, 3)?,
                        TokenCounts {
                            input: count(row, 4)?,
                            output: count(row, 5)?,
                            cache_read: count(row, 7)?,
                            cache_write: count(row, 8)?,
                            cache_write_1h: count(row, 9)?,
                            reasoning: count(row, 10)?,
                        },
                        row.get::<i64>(6)?,
                    ))
                },
            )?;
            rows.into_iter()
                .map(|raw| {
                    let (provider, model, source, requests, tokens, cost_micros) = raw;
                    Ok(UsageLineRecord {
                        source: parse_enum(&source, UsageSource::parse, "usage source")?,
                        provider,
                        model,
                        requests,
                        tokens,
                        cost_micros,
                    })
                })
                .collect()
        })
        .await
    }

    /// The month's usage of `owner_id` (as in [`Store::usage`]) by UTC day, oldest first;
    /// days without calls are left out.
    pub async fn daily_usage(
        &self,
        owner_id: &str,
        month: &str,
    ) -> Result<Vec<UsageDayRecord>, StoreError> {
        let (owner_id, month) = (owner_id.to_owned(), month.to_owned());
        self.read(move |tx| {
            tx.query_map(
                "SELECT day,
                        CAST(SUM(CASE WHEN source = 'byok' THEN requests ELSE 0 END) AS BIGINT),
                        CAST(SUM(CASE WHEN source = 'managed' THEN requests ELSE 0 END) AS BIGINT),
                        CAST(SUM(CASE WHEN source = 'byok' THEN cost_micros ELSE 0 END) AS BIGINT),
                        CAST(SUM(CASE WHEN source = 'managed' THEN cost_micros ELSE 0 END) AS BIGINT)
                 FROM usage_daily WHERE owner_id = ?1 AND month = ?2
                 GROUP BY day ORDER BY day",
                params![owner_id, month],
                |row| {
                Ok(UsageDayRecord {
                    date: row.get(0)?,
                    byok_requests: count(row, 1)?,
                    managed_requests: count(row, 2)?,
                    byok_cost_micros: row.get(3)?,
                    managed_cost_micros: row.get(4)?,
                })
            })
        })
        .await
    }

    /// Deletes raw usage rows older than `before`, a batch per transaction so that writers
    /// queue behind it for milliseconds only; totals are kept. Returns how many went.
    /// A usage id pruned this way is no longer recognised as a duplicate, which is why the
    /// retention is days while routers retry a batch for minutes.
    pub async fn prune_usage(&self, before: Millis) -> Result<u64, StoreError> {
        let mut pruned = 0_u64;
        loop {
            let deleted = self
                .write_in_background(move |tx| {
                    tx.execute(
                        "DELETE FROM usage_records WHERE usage_id IN (
                            SELECT usage_id FROM usage_records WHERE time < ?1 LIMIT ?2)",
                        params![before, PRUNE_BATCH],
                    )
                })
                .await?;
            pruned += deleted as u64;
            if deleted < PRUNE_BATCH as usize {
                return Ok(pruned);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::day_of;
    use crate::storage::month_of;

    #[test]
    fn days_and_months_are_utc_calendar_ones() {
        assert_eq!(
            (day_of(0).as_str(), month_of(0).as_str()),
            ("1970-01-01", "1970-01")
        );
        // 2026-11-30T23:59:59.999Z and one millisecond later.
        assert_eq!(day_of(1_796_083_199_999), "2026-11-30");
        assert_eq!(month_of(1_796_083_199_999), "2026-11");
        assert_eq!(day_of(1_796_083_200_000), "2026-12-01");
        assert_eq!(month_of(1_796_083_200_000), "2026-12");
    }
}
