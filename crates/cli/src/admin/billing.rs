//! `keyroute admin billing`: credit balances, budgets and usage. Amounts are dollars on the
//! command line (`5`, `0.25`, `-1.5`) and exact micro-dollars underneath.

use keyroute_proto::vault::v1::*;
use serde_json::json;

use super::{Admin, render};
use keyroute_wire::catalog::dollars;

use crate::CliError;
use crate::output::Listing;

#[derive(Debug, clap::Subcommand)]
pub enum BillingCommand {
    /// A principal's credit balance and this month's budgets.
    Balance { principal: String },
    /// Adds credits (a negative amount takes them back).
    Grant {
        principal: String,
        /// Dollars, up to six decimals.
        #[arg(allow_hyphen_values = true, value_parser = parse_dollars)]
        amount: i64,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Sets a monthly budget cap for a user or org (0 removes it).
    Budget {
        owner: String,
        /// Dollars per calendar month (UTC).
        #[arg(value_parser = parse_dollars)]
        amount: i64,
    },
    /// Usage charged to an owner, by provider, model and key source.
    Usage {
        owner: String,
        /// `YYYY-MM`; the current month by default.
        #[arg(long, default_value = "")]
        month: String,
    },
}

/// `"1.25"` → 1_250_000 micro-dollars; rejects more than six decimals and overflow.
pub fn parse_dollars(text: &str) -> Result<i64, String> {
    let invalid = || format!("{text:?} is not an amount in dollars (like 5 or 0.25)");
    let (negative, digits) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim().trim_start_matches('$')),
    };
    let digits = digits.trim_start_matches('$');
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || fraction.len() > 6
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: i64 = format!("{fraction:0<6}").parse().map_err(|_| invalid())?;
    let micros = whole
        .checked_mul(1_000_000)
        .and_then(|m| m.checked_add(fraction))
        .ok_or_else(invalid)?;
    Ok(if negative { -micros } else { micros })
}

fn budget_row(budget: &Budget) -> Vec<String> {
    let cap = if budget.monthly_cap_micros == 0 {
        "none".to_owned()
    } else {
        dollars(budget.monthly_cap_micros)
    };
    vec![
        budget.owner_id.clone(),
        cap,
        dollars(budget.month_spend_micros),
    ]
}

fn budget_json(budget: &Budget) -> serde_json::Value {
    json!({ "owner_id": budget.owner_id, "monthly_cap_micros": budget.monthly_cap_micros, "month_spend_micros": budget.month_spend_micros })
}

pub(super) async fn run(admin: &mut Admin, command: BillingCommand) -> Result<Listing, CliError> {
    Ok(match command {
        BillingCommand::Balance { principal } => {
            let reply = admin
                .client
                .get_balance(GetBalanceRequest {
                    principal_id: principal,
                })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            let budgets: Vec<&Budget> = reply.budget.iter().chain(&reply.org_budgets).collect();
            eprintln!(
                "{}: balance {} ({})",
                reply.principal_id,
                dollars(reply.balance_micros),
                reply.month
            );
            Listing {
                json: json!({
                    "principal_id": reply.principal_id,
                    "balance_micros": reply.balance_micros,
                    "month": reply.month,
                    "budgets": budgets.iter().map(|b| budget_json(b)).collect::<Vec<_>>(),
                }),
                headers: &["BUDGET OWNER", "MONTHLY CAP", "SPENT THIS MONTH"],
                rows: budgets.iter().map(|b| budget_row(b)).collect(),
            }
        }
        BillingCommand::Grant {
            principal,
            amount,
            reason,
        } => {
            let reply = admin
                .client
                .grant_credits(GrantCreditsRequest {
                    principal_id: principal.clone(),
                    micros: amount,
                    reason,
                })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            Listing {
                json: json!({ "principal_id": principal, "balance_micros": reply.balance_micros }),
                headers: &["PRINCIPAL", "BALANCE"],
                rows: vec![vec![principal, dollars(reply.balance_micros)]],
            }
        }
        BillingCommand::Budget { owner, amount } => {
            let reply = admin
                .client
                .set_budget(SetBudgetRequest {
                    owner_id: owner,
                    monthly_cap_micros: amount,
                })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            let budget = reply.budget.unwrap_or_default();
            Listing {
                json: budget_json(&budget),
                headers: &["BUDGET OWNER", "MONTHLY CAP", "SPENT THIS MONTH"],
                rows: vec![budget_row(&budget)],
            }
        }
        BillingCommand::Usage { owner, month } => {
            let reply = admin
                .client
                .get_usage(GetUsageRequest {
                    owner_id: owner,
                    month,
                })
                .await
                .map_err(|s| admin.status(s))?
                .into_inner();
            eprintln!(
                "{}: total {}",
                reply.month,
                dollars(reply.total_cost_micros)
            );
            render::usage(&reply)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse_dollars;

    #[test]
    fn dollars_parse_exactly() {
        assert_eq!(parse_dollars("5"), Ok(5_000_000));
        assert_eq!(parse_dollars("0.25"), Ok(250_000));
        assert_eq!(parse_dollars("$1.000001"), Ok(1_000_001));
        assert_eq!(parse_dollars("-1.5"), Ok(-1_500_000));
        assert_eq!(parse_dollars(".5"), Ok(500_000));
        for bad in [
            "",
            ".",
            "1.0000001",
            "1e3",
            "abc",
            "1,5",
            "99999999999999999999",
        ] {
            assert!(parse_dollars(bad).is_err(), "{bad}");
        }
    }
}
