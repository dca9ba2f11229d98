//! Credit balances, the usage ledger and monthly budgets. Amounts are integer micro-dollars,
//! so sums never drift. A usage row and the balance debit it causes commit together.

use super::sql::{Tx, params};

use super::audit::append;
use super::identities::get_principal;
use super::{AuditRecord, Millis, PrincipalKind, Store, StoreError};

/// Who paid for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSource {
    /// The caller's or its org's own key: the provider bills them; the cost is an estimate.
    Byok,
    /// A platform key, paid from the caller's credit balance.
    Managed,
}

impl UsageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Byok => "byok",
            Self::Managed => "managed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "byok" => Some(Self::Byok),
            "managed" => Some(Self::Managed),
            _ => None,
        }
    }
}

/// One billable upstream attempt, as a router reports it.
#[derive(Debug, Clone)]
pub struct UsageRow {
    /// The ledger's key: one per attempt, made by the router.
    pub usage_id: String,
    /// The caller's correlation id; not unique.
    pub request_id: String,
    /// The router's credit hold the call was served under, or empty.
    pub hold_id: String,
    pub time: Millis,
    pub principal_id: String,
    pub credential_id: String,
    pub credential_owner: String,
    pub source: UsageSource,
    pub provider: String,
    pub model: String,
    pub tokens: TokenCounts,
    pub cost_micros: i64,
}

/// A call's token counts and the parts of them priced apart: cache reads and writes are part
/// of the input, 1-hour writes part of the cache writes, reasoning part of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub cache_write_1h: u64,
    pub reasoning: u64,
}

impl TokenCounts {
    /// Why these counts cannot be a call's, if they cannot: a part larger than its whole, or
    /// a count the ledger's signed 64-bit columns cannot hold.
    pub fn inconsistency(&self) -> Option<String> {
        let fields = [
            ("input_tokens", self.input),
            ("output_tokens", self.output),
            ("cache_read_tokens", self.cache_read),
            ("cache_write_tokens", self.cache_write),
            ("cache_write_1h_tokens", self.cache_write_1h),
            ("reasoning_tokens", self.reasoning),
        ];
        if let Some((name, _)) = fields.iter().find(|(_, n)| i64::try_from(*n).is_err()) {
            return Some(format!("{name} is too large"));
        }
        if self.cache_read.saturating_add(self.cache_write) > self.input {
            return Some(
                "cache_read_tokens and cache_write_tokens are part of input_tokens: together they cannot exceed it"
                    .into(),
            );
        }
        if self.cache_write_1h > self.cache_write {
            return Some("cache_write_1h_tokens cannot exceed cache_write_tokens".into());
        }
        if self.reasoning > self.output {
            return Some("reasoning_tokens is part of output_tokens: it cannot exceed it".into());
        }
        None
    }
}

/// A count as the ledger's signed column holds it; counts are checked before they get here.
pub(super) fn column(count: u64) -> Result<i64, StoreError> {
    i64::try_from(count)
        .map_err(|_| StoreError::Conflict(format!("token count {count} is too large")))
}

/// What asking for a credit hold came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldOutcome {
    pub granted: bool,
    /// The hold's size now.
    pub held: i64,
    pub balance: i64,
    pub held_by_others: i64,
}

/// A monthly cap and the spend counted against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetRecord {
    /// 0: no cap.
    pub monthly_cap_micros: i64,
    pub month_spend_micros: i64,
}

/// Usage summed by provider, model and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageLineRecord {
    pub provider: String,
    pub model: String,
    pub source: UsageSource,
    pub requests: u64,
    pub tokens: TokenCounts,
    pub cost_micros: i64,
}

/// One UTC day of usage, split by who paid.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageDayRecord {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub byok_requests: u64,
    pub managed_requests: u64,
    pub byok_cost_micros: i64,
    pub managed_cost_micros: i64,
}

/// `YYYY-MM` (UTC) of a time in milliseconds: the key budgets and usage reports group by.
pub fn month_of(ms: Millis) -> String {
    let mut day = super::ledger::day_of(ms);
    day.truncate("YYYY-MM".len());
    day
}

fn balance_in(tx: &Tx<'_>, principal_id: &str) -> Result<i64, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT micros FROM balances WHERE principal_id = ?1",
            params![principal_id],
            |row| row.get(0),
        )?
        .unwrap_or(0))
}

fn add_to_balance(
    tx: &Tx<'_>,
    principal_id: &str,
    micros: i64,
    now: Millis,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO balances (principal_id, micros, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (principal_id) DO UPDATE SET micros = balances.micros + ?2, updated_at = ?3",
        params![principal_id, micros, now],
    )?;
    Ok(())
}

fn budget_in(tx: &Tx<'_>, owner_id: &str, month: &str) -> Result<BudgetRecord, StoreError> {
    let cap: Option<i64> = tx.query_opt(
        "SELECT monthly_cap_micros FROM budgets WHERE owner_id = ?1",
        params![owner_id],
        |row| row.get(0),
    )?;
    Ok(BudgetRecord {
        monthly_cap_micros: cap.unwrap_or(0),
        month_spend_micros: super::ledger::month_spend(tx, owner_id, month)?,
    })
}

fn require_account(tx: &Tx<'_>, id: &str) -> Result<(), StoreError> {
    let principal =
        get_principal(tx, id)?.ok_or_else(|| StoreError::NotFound(format!("principal {id}")))?;
    if principal.kind == PrincipalKind::Platform {
        return Err(StoreError::Conflict(format!(
            "{id} is the platform: it has no balance or budget"
        )));
    }
    Ok(())
}

impl Store {
    /// Appends `rows`, skipping usage ids already recorded (a router retrying a batch);
    /// each new managed row debits its caller's balance in the same transaction. Returns
    /// (recorded, duplicates). One unknown principal fails the whole batch: nothing is kept.
    pub async fn record_usage(
        &self,
        rows: Vec<UsageRow>,
        now: Millis,
    ) -> Result<(u32, u32), StoreError> {
        self.write_in_background(move |tx| {
            let (mut recorded, mut duplicates) = (0, 0);
            let mut totals = super::ledger::BatchTotals::default();
            let mut known = std::collections::HashSet::new();
            for row in &rows {
                if !known.contains(&row.principal_id) {
                    require_account(tx, &row.principal_id)?;
                    known.insert(row.principal_id.clone());
                }
                if let Some(reason) = row.tokens.inconsistency() {
                    return Err(StoreError::Conflict(format!(
                        "usage {}: {reason}",
                        row.usage_id
                    )));
                }
                let tokens = row.tokens;
                let inserted = tx.execute(
                    "INSERT INTO usage_records (usage_id, request_id, time, month,
                            principal_id, credential_id, credential_owner, source, provider,
                            model, input_tokens, output_tokens, cost_micros, cache_read_tokens,
                            cache_write_tokens, cache_write_1h_tokens, reasoning_tokens)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                            ?15, ?16, ?17)
                         ON CONFLICT (usage_id) DO NOTHING",
                    params![
                        row.usage_id,
                        row.request_id,
                        row.time,
                        month_of(row.time),
                        row.principal_id,
                        row.credential_id,
                        row.credential_owner,
                        row.source.as_str(),
                        row.provider,
                        row.model,
                        column(tokens.input)?,
                        column(tokens.output)?,
                        row.cost_micros,
                        column(tokens.cache_read)?,
                        column(tokens.cache_write)?,
                        column(tokens.cache_write_1h)?,
                        column(tokens.reasoning)?,
                    ],
                )?;
                if inserted == 0 {
                    duplicates += 1;
                    continue;
                }
                recorded += 1;
                totals.add(row)?;
                if row.source == UsageSource::Managed {
                    add_to_balance(tx, &row.principal_id, -row.cost_micros, now)?;
                    if !row.hold_id.is_empty() {
                        // The cost leaves the hold as it leaves the balance: held and spent
                        // are never counted twice.
                        tx.execute(
                            "UPDATE credit_holds
                             SET micros = CASE WHEN micros > ?2 THEN micros - ?2 ELSE 0 END
                             WHERE id = ?1 AND principal_id = ?3",
                            params![row.hold_id, row.cost_micros, row.principal_id],
                        )?;
                    }
                }
            }
            totals.write(tx)?;
            Ok((recorded, duplicates))
        })
        .await
    }

    /// Creates or resizes hold `hold_id` on `principal_id`'s credit: shrinking always, growing
    /// only while the balance less every other unexpired hold covers `micros`. Expired holds
    /// are dropped on the way.
    pub async fn hold_credits(
        &self,
        hold_id: &str,
        principal_id: &str,
        micros: i64,
        expires_at: Millis,
        now: Millis,
    ) -> Result<HoldOutcome, StoreError> {
        let (hold_id, principal_id) = (hold_id.to_owned(), principal_id.to_owned());
        self.write(move |tx| {
            require_account(tx, &principal_id)?;
            tx.execute(
                "DELETE FROM credit_holds WHERE expires_at <= ?1",
                params![now],
            )?;
            let current: Option<(String, i64)> = tx.query_opt(
                "SELECT principal_id, micros FROM credit_holds WHERE id = ?1",
                params![hold_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            if let Some((owner, _)) = &current
                && *owner != principal_id
            {
                return Err(StoreError::Conflict(format!(
                    "hold {hold_id} belongs to another principal"
                )));
            }
            let held = current.map_or(0, |(_, micros)| micros);
            let balance = balance_in(tx, &principal_id)?;
            let held_by_others: i64 = tx.query_row(
                "SELECT CAST(COALESCE(SUM(micros), 0) AS BIGINT) FROM credit_holds
                 WHERE principal_id = ?1 AND id != ?2",
                params![principal_id, hold_id],
                |row| row.get(0),
            )?;
            let granted = micros <= held || micros <= balance - held_by_others;
            if !granted {
                return Ok(HoldOutcome {
                    granted,
                    held,
                    balance,
                    held_by_others,
                });
            }
            if micros == 0 {
                tx.execute("DELETE FROM credit_holds WHERE id = ?1", params![hold_id])?;
            } else {
                tx.execute(
                    "INSERT INTO credit_holds (id, principal_id, micros, expires_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET micros = ?3, expires_at = ?4",
                    params![hold_id, principal_id, micros, expires_at],
                )?;
            }
            Ok(HoldOutcome {
                granted,
                held: micros,
                balance,
                held_by_others,
            })
        })
        .await
    }

    /// The principal's credit balance (0 when it never had any).
    pub async fn balance(&self, principal_id: &str) -> Result<i64, StoreError> {
        let principal_id = principal_id.to_owned();
        self.read(move |tx| balance_in(tx, &principal_id)).await
    }

    /// Adds (or, negative, takes back) credits; refuses to take back more than is left.
    pub async fn grant_credits(
        &self,
        principal_id: &str,
        micros: i64,
        audit: AuditRecord,
    ) -> Result<i64, StoreError> {
        let principal_id = principal_id.to_owned();
        self.write(move |tx| {
            require_account(tx, &principal_id)?;
            let balance = balance_in(tx, &principal_id)?;
            let after = balance
                .checked_add(micros)
                .ok_or_else(|| StoreError::Conflict("the balance would overflow".to_owned()))?;
            if micros < 0 && after < 0 {
                return Err(StoreError::Conflict(format!(
                    "cannot take back {} micros: the balance is {balance}",
                    -micros
                )));
            }
            add_to_balance(tx, &principal_id, micros, audit.time)?;
            append(tx, &audit)?;
            Ok(after)
        })
        .await
    }

    /// Sets (cap > 0) or removes (cap = 0) the owner's monthly budget.
    pub async fn set_budget(
        &self,
        owner_id: &str,
        monthly_cap_micros: i64,
        audit: AuditRecord,
    ) -> Result<BudgetRecord, StoreError> {
        let owner_id = owner_id.to_owned();
        self.write(move |tx| {
            require_account(tx, &owner_id)?;
            if monthly_cap_micros == 0 {
                tx.execute("DELETE FROM budgets WHERE owner_id = ?1", params![owner_id])?;
            } else {
                tx.execute(
                    "INSERT INTO budgets (owner_id, monthly_cap_micros, updated_at)
                     VALUES (?1, ?2, ?3)
                     ON CONFLICT (owner_id) DO UPDATE SET monthly_cap_micros = ?2, updated_at = ?3",
                    params![owner_id, monthly_cap_micros, audit.time],
                )?;
            }
            append(tx, &audit)?;
            budget_in(tx, &owner_id, &month_of(audit.time))
        })
        .await
    }

    /// The owner's budget and this month's spend, in one snapshot per owner.
    pub async fn budgets(
        &self,
        owner_ids: Vec<String>,
        month: &str,
    ) -> Result<Vec<BudgetRecord>, StoreError> {
        let month = month.to_owned();
        self.read(move |tx| {
            owner_ids
                .iter()
                .map(|owner| budget_in(tx, owner, &month))
                .collect()
        })
        .await
    }
}
