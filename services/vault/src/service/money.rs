//! Money: usage from routers, credit balances and monthly budgets.

use keyroute_proto::vault::v1 as pb;
use serde_json::json;

use super::{Call, Vault};
use crate::authz::PeerRole;
use crate::convert::now_ms;
use crate::error::VaultError;
use crate::storage::{BudgetRecord, TokenCounts, UsageLineRecord, UsageRow, UsageSource, month_of};

/// The longest a credit hold stands without being asked again.
const MAX_HOLD_TTL_SECONDS: u32 = 3600;

/// Most records one `RecordUsage` call may carry; routers batch below this.
const MAX_USAGE_BATCH: usize = 1000;

fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, VaultError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(VaultError::InvalidArgument(format!("{field} is required")));
    }
    Ok(value)
}

fn usage_row(index: usize, record: pb::UsageRecord, now: i64) -> Result<UsageRow, VaultError> {
    let invalid =
        |message: String| VaultError::InvalidArgument(format!("records[{index}]: {message}"));
    let source = match pb::UsageSource::try_from(record.source) {
        Ok(pb::UsageSource::Byok) => UsageSource::Byok,
        Ok(pb::UsageSource::Managed) => UsageSource::Managed,
        _ => return Err(invalid("source must be BYOK or MANAGED".into())),
    };
    if record.cost_micros < 0 {
        return Err(invalid("cost_micros must not be negative".into()));
    }
    let text = |field: &str, value: &str| {
        required(field, value)
            .map(str::to_owned)
            .map_err(|error| invalid(error.to_string()))
    };
    let tokens = TokenCounts {
        input: record.input_tokens,
        output: record.output_tokens,
        cache_read: record.cache_read_tokens,
        cache_write: record.cache_write_tokens,
        cache_write_1h: record.cache_write_1h_tokens,
        reasoning: record.reasoning_tokens,
    };
    if let Some(reason) = tokens.inconsistency() {
        return Err(invalid(reason));
    }
    let time = record.time.map_or(now, |time| {
        time.seconds * 1000 + i64::from(time.nanos) / 1_000_000
    });
    // A router from before usage ids sends none: a fresh one keeps every record.
    let usage_id = if record.usage_id.is_empty() {
        uuid::Uuid::now_v7().to_string()
    } else {
        record.usage_id.clone()
    };
    Ok(UsageRow {
        hold_id: record.hold_id.trim().to_owned(),
        usage_id,
        request_id: text("request_id", &record.request_id)?,
        time,
        principal_id: text("principal_id", &record.principal_id)?,
        credential_id: text("credential_id", &record.credential_id)?,
        credential_owner: text("credential_owner_id", &record.credential_owner_id)?,
        source,
        provider: text("provider", &record.provider)?,
        model: text("model", &record.model)?,
        tokens,
        cost_micros: record.cost_micros,
    })
}

fn budget(owner_id: &str, record: BudgetRecord) -> pb::Budget {
    pb::Budget {
        owner_id: owner_id.to_owned(),
        monthly_cap_micros: record.monthly_cap_micros,
        month_spend_micros: record.month_spend_micros,
    }
}

fn usage_line(line: UsageLineRecord) -> pb::UsageLine {
    let source = match line.source {
        UsageSource::Byok => pb::UsageSource::Byok,
        UsageSource::Managed => pb::UsageSource::Managed,
    };
    pb::UsageLine {
        provider: line.provider,
        model: line.model,
        source: source as i32,
        requests: line.requests,
        input_tokens: line.tokens.input,
        output_tokens: line.tokens.output,
        cache_read_tokens: line.tokens.cache_read,
        cache_write_tokens: line.tokens.cache_write,
        cache_write_1h_tokens: line.tokens.cache_write_1h,
        reasoning_tokens: line.tokens.reasoning,
        cost_micros: line.cost_micros,
    }
}

/// Every line summed, each count saturating: the report's totals row.
fn usage_total(lines: &[pb::UsageLine]) -> pb::UsageLine {
    lines
        .iter()
        .fold(pb::UsageLine::default(), |total, line| pb::UsageLine {
            requests: total.requests.saturating_add(line.requests),
            input_tokens: total.input_tokens.saturating_add(line.input_tokens),
            output_tokens: total.output_tokens.saturating_add(line.output_tokens),
            cache_read_tokens: total
                .cache_read_tokens
                .saturating_add(line.cache_read_tokens),
            cache_write_tokens: total
                .cache_write_tokens
                .saturating_add(line.cache_write_tokens),
            cache_write_1h_tokens: total
                .cache_write_1h_tokens
                .saturating_add(line.cache_write_1h_tokens),
            reasoning_tokens: total.reasoning_tokens.saturating_add(line.reasoning_tokens),
            cost_micros: total.cost_micros.saturating_add(line.cost_micros),
            ..total
        })
}

/// Accepts `YYYY-MM` with a real month, or empty for the current one.
fn month_or_current(month: &str) -> Result<String, VaultError> {
    let month = month.trim();
    if month.is_empty() {
        return Ok(month_of(now_ms()));
    }
    let valid = month.len() == 7
        && month.as_bytes()[4] == b'-'
        && month[..4].bytes().all(|b| b.is_ascii_digit())
        && matches!(month[5..].parse::<u8>(), Ok(1..=12));
    if !valid {
        return Err(VaultError::InvalidArgument(format!(
            "month must look like 2026-11, not {month:?}"
        )));
    }
    Ok(month.to_owned())
}

impl Vault {
    pub(super) async fn record_usage(
        &self,
        _call: &Call,
        request: pb::RecordUsageRequest,
    ) -> Result<pb::RecordUsageResponse, VaultError> {
        if request.records.len() > MAX_USAGE_BATCH {
            return Err(VaultError::InvalidArgument(format!(
                "at most {MAX_USAGE_BATCH} records per call, got {}",
                request.records.len()
            )));
        }
        let now = now_ms();
        let rows = request
            .records
            .into_iter()
            .enumerate()
            .map(|(index, record)| usage_row(index, record, now))
            .collect::<Result<Vec<_>, _>>()?;
        let (recorded, duplicates) = self.store().record_usage(rows, now).await?;
        tracing::debug!(recorded, duplicates, "recorded usage");
        Ok(pb::RecordUsageResponse {
            recorded,
            duplicates,
        })
    }

    pub(super) async fn hold_credits(
        &self,
        _call: &Call,
        request: pb::HoldCreditsRequest,
    ) -> Result<pb::HoldCreditsResponse, VaultError> {
        let hold_id = required("hold_id", &request.hold_id)?;
        let principal_id = required("principal_id", &request.principal_id)?;
        if request.micros < 0 {
            return Err(VaultError::InvalidArgument(
                "micros must not be negative".into(),
            ));
        }
        if !(1..=MAX_HOLD_TTL_SECONDS).contains(&request.ttl_seconds) {
            return Err(VaultError::InvalidArgument(format!(
                "ttl_seconds must be 1 to {MAX_HOLD_TTL_SECONDS}"
            )));
        }
        let now = now_ms();
        let expires_at = now + i64::from(request.ttl_seconds) * 1000;
        let outcome = self
            .store()
            .hold_credits(hold_id, principal_id, request.micros, expires_at, now)
            .await?;
        Ok(pb::HoldCreditsResponse {
            granted: outcome.granted,
            held_micros: outcome.held,
            balance_micros: outcome.balance,
            held_by_others_micros: outcome.held_by_others,
        })
    }

    pub(super) async fn get_balance(
        &self,
        call: &Call,
        request: pb::GetBalanceRequest,
    ) -> Result<pb::GetBalanceResponse, VaultError> {
        let principal_id = required("principal_id", &request.principal_id)?;
        if call.role != PeerRole::Router {
            self.authorize_read(call, principal_id).await?;
        }
        let month = month_of(now_ms());
        let mut owners = vec![principal_id.to_owned()];
        owners.extend(
            self.store()
                .memberships_of(principal_id)
                .await?
                .into_iter()
                .map(|membership| membership.org_id),
        );
        let balance_micros = self.store().balance(principal_id).await?;
        let rate_limits = self
            .store()
            .owner_rate_limits(owners.clone())
            .await?
            .into_iter()
            .map(super::rate_limits::rate_limit)
            .collect();
        let mut budgets = self.store().budgets(owners.clone(), &month).await?;
        let org_budgets = budgets
            .split_off(1)
            .into_iter()
            .zip(&owners[1..])
            .map(|(record, org)| budget(org, record))
            .collect();
        Ok(pb::GetBalanceResponse {
            principal_id: principal_id.to_owned(),
            balance_micros,
            month,
            budget: budgets.pop().map(|record| budget(principal_id, record)),
            org_budgets,
            rate_limits,
        })
    }

    pub(super) async fn grant_credits(
        &self,
        call: &Call,
        request: pb::GrantCreditsRequest,
    ) -> Result<pb::GrantCreditsResponse, VaultError> {
        let principal_id = required("principal_id", &request.principal_id)?;
        if request.micros == 0 {
            return Err(VaultError::InvalidArgument(
                "micros must not be zero".into(),
            ));
        }
        let now = now_ms();
        let detail = json!({ "micros": request.micros, "reason": request.reason });
        let audit = call.audit("credits.grant", principal_id, principal_id, detail, now);
        let balance_micros = self
            .store()
            .grant_credits(principal_id, request.micros, audit)
            .await?;
        tracing::info!(
            principal = principal_id,
            micros = request.micros,
            balance = balance_micros,
            "granted credits"
        );
        Ok(pb::GrantCreditsResponse { balance_micros })
    }

    pub(super) async fn set_budget(
        &self,
        call: &Call,
        request: pb::SetBudgetRequest,
    ) -> Result<pb::SetBudgetResponse, VaultError> {
        let owner_id = required("owner_id", &request.owner_id)?;
        if request.monthly_cap_micros < 0 {
            return Err(VaultError::InvalidArgument(
                "monthly_cap_micros must not be negative (0 removes the cap)".into(),
            ));
        }
        self.authorize_manage(call, owner_id).await?;
        let now = now_ms();
        let detail = json!({ "monthly_cap_micros": request.monthly_cap_micros });
        let audit = call.audit("budget.set", owner_id, owner_id, detail, now);
        let record = self
            .store()
            .set_budget(owner_id, request.monthly_cap_micros, audit)
            .await?;
        Ok(pb::SetBudgetResponse {
            budget: Some(budget(owner_id, record)),
        })
    }

    pub(super) async fn get_usage(
        &self,
        call: &Call,
        request: pb::GetUsageRequest,
    ) -> Result<pb::GetUsageResponse, VaultError> {
        let owner_id = required("owner_id", &request.owner_id)?;
        let month = month_or_current(&request.month)?;
        self.authorize_read(call, owner_id).await?;
        let lines: Vec<_> = self
            .store()
            .usage(owner_id, &month)
            .await?
            .into_iter()
            .map(usage_line)
            .collect();
        let total = usage_total(&lines);
        Ok(pb::GetUsageResponse {
            month,
            total_cost_micros: total.cost_micros,
            total: Some(total),
            lines,
        })
    }

    pub(super) async fn get_daily_usage(
        &self,
        call: &Call,
        request: pb::GetDailyUsageRequest,
    ) -> Result<pb::GetDailyUsageResponse, VaultError> {
        let owner_id = required("owner_id", &request.owner_id)?;
        let month = month_or_current(&request.month)?;
        self.authorize_read(call, owner_id).await?;
        let days = self
            .store()
            .daily_usage(owner_id, &month)
            .await?
            .into_iter()
            .map(|day| pb::UsageDay {
                requests: day.byok_requests.saturating_add(day.managed_requests),
                cost_micros: day.byok_cost_micros.saturating_add(day.managed_cost_micros),
                date: day.date,
                byok_requests: day.byok_requests,
                managed_requests: day.managed_requests,
                byok_cost_micros: day.byok_cost_micros,
                managed_cost_micros: day.managed_cost_micros,
            })
            .collect();
        Ok(pb::GetDailyUsageResponse { month, days })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::month_or_current;

    #[test]
    fn months_are_checked() {
        assert_eq!(month_or_current(" 2026-11 ").unwrap(), "2026-11");
        assert_eq!(month_or_current("").unwrap().len(), 7);
        for bad in [
            "2026-13",
            "2026-00",
            "26-11",
            "2026/11",
            "2026-1x",
            "２026-11",
        ] {
            assert!(month_or_current(bad).is_err(), "{bad}");
        }
    }
}
