//! Spending caps and spend by day: `PUT /api/v1/budget` (`{"owner_id"?,
//! "monthly_cap_micros"}`), `DELETE /api/v1/budget` (`?owner_id=`), for the caller or an org
//! where their role allows (owners and billing managers; the vault checks), and
//! `GET /api/v1/usage/daily` (`?month=YYYY-MM&owner_id=`), every day of the month.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use keyroute_proto::vault::v1::{GetDailyUsageRequest, SetBudgetRequest, UsageDay};
use keyroute_wire::catalog::dollars;
use serde_json::{Value, json};

use crate::management_api::account::{budget_json, valid_month};
use crate::management_api::caller::Caller;
use crate::management_api::error::ApiError;
use crate::management_api::input::{json_body, only_known, only_known_query, string_field};
use crate::management_api::output::{finish, reply};
use crate::state::Edge;

async fn set_cap(
    edge: &Edge,
    headers: &HeaderMap,
    owner: Option<&str>,
    cap: i64,
) -> Result<Value, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let owner_id = caller.owner(owner)?;
    let request = SetBudgetRequest {
        owner_id,
        monthly_cap_micros: cap,
    };
    let budget = edge
        .vault()
        .set_budget(caller.request(request, headers)?)
        .await?
        .into_inner()
        .budget
        .unwrap_or_default();
    Ok(budget_json(&budget))
}

async fn put_budget(edge: &Edge, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let object = json_body(edge, headers, body).await?;
    only_known(&object, &["owner_id", "monthly_cap_micros"])?;
    let owner = string_field(&object, "owner_id")?;
    let cap = object
        .get("monthly_cap_micros")
        .and_then(Value::as_i64)
        .filter(|cap| *cap > 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "monthly_cap_micros",
                "must be a whole number of micro-dollars above 0 (DELETE /api/v1/budget removes the cap)",
            )
        })?;
    let budget = set_cap(edge, headers, owner, cap).await?;
    Ok(reply(StatusCode::OK, &budget))
}

/// `PUT /api/v1/budget`: sets the monthly cap of the caller or one of their orgs.
pub async fn put(State(edge): State<Edge>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let result = put_budget(&edge, &headers, body).await;
    finish(&edge, "api_budget_put", started, result)
}

async fn remove_budget(
    edge: &Edge,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    only_known_query(query, &["owner_id"])?;
    set_cap(edge, headers, query.get("owner_id").map(String::as_str), 0).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/budget`: removes the monthly cap.
pub async fn delete(
    State(edge): State<Edge>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = remove_budget(&edge, &headers, &query).await;
    finish(&edge, "api_budget_delete", started, result)
}

/// How many days `YYYY-MM` has.
fn days_in(month: &str) -> u32 {
    let year: u32 = month.get(..4).and_then(|y| y.parse().ok()).unwrap_or(1970);
    match month.get(5..7).and_then(|m| m.parse::<u32>().ok()) {
        Some(2)
            if (year.is_multiple_of(4) && !year.is_multiple_of(100))
                || year.is_multiple_of(400) =>
        {
            29
        }
        Some(2) => 28,
        Some(4 | 6 | 9 | 11) => 30,
        _ => 31,
    }
}

fn day_json(date: &str, day: Option<&UsageDay>) -> Value {
    let day = day.cloned().unwrap_or_default();
    json!({
        "date": date,
        "requests": day.requests,
        "cost_micros": day.cost_micros,
        "cost_usd": dollars(day.cost_micros),
        "byok_requests": day.byok_requests,
        "managed_requests": day.managed_requests,
        "byok_cost_micros": day.byok_cost_micros,
        "managed_cost_micros": day.managed_cost_micros,
    })
}

async fn get_daily(
    edge: &Edge,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    only_known_query(query, &["month", "owner_id"])?;
    let caller = Caller::of(edge, headers).await?;
    let owner_id = caller.owner(query.get("owner_id").map(String::as_str))?;
    let month = query.get("month").cloned().unwrap_or_default();
    if !month.is_empty() && !valid_month(&month) {
        return Err(ApiError::invalid("month", "must be YYYY-MM"));
    }
    let usage = edge
        .vault()
        .get_daily_usage(caller.request(GetDailyUsageRequest { owner_id, month }, headers)?)
        .await?
        .into_inner();
    let by_date: BTreeMap<&str, &UsageDay> =
        usage.days.iter().map(|d| (d.date.as_str(), d)).collect();
    let days: Vec<Value> = (1..=days_in(&usage.month))
        .map(|n| {
            let date = format!("{}-{n:02}", usage.month);
            day_json(&date, by_date.get(date.as_str()).copied())
        })
        .collect();
    Ok(reply(
        StatusCode::OK,
        &json!({ "month": usage.month, "days": days }),
    ))
}

/// `GET /api/v1/usage/daily`: the month's calls and cost by UTC day, every day listed.
pub async fn daily(
    State(edge): State<Edge>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = get_daily(&edge, &headers, &query).await;
    finish(&edge, "api_usage_daily", started, result)
}

#[cfg(test)]
mod tests {
    use super::days_in;

    #[test]
    fn months_have_their_days() {
        assert_eq!(days_in("2024-02"), 29);
        assert_eq!(days_in("2025-02"), 28);
        assert_eq!(days_in("2000-02"), 29);
        assert_eq!(days_in("1900-02"), 28);
        assert_eq!(days_in("2026-04"), 30);
        assert_eq!(days_in("2026-12"), 31);
    }
}
