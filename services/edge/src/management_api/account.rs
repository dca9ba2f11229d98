//! Money and history: `GET /api/v1/balance` (credits, budgets, rate limits), `GET /api/v1/usage`
//! (`?month=YYYY-MM&org=<id>`), `GET /api/v1/orgs/{org}/audit` (`?page_size&page_token`).

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use keyroute_proto::vault::v1::{
    Budget, GetBalanceRequest, GetUsageRequest, ListAuditEventsRequest, UsageLine, UsageSource,
};
use keyroute_wire::catalog::dollars;
use serde_json::{Value, json};

use crate::management_api::caller::Caller;
use crate::management_api::error::ApiError;
use crate::management_api::input::only_known_query;
use crate::management_api::output::{finish, reply, time};
use crate::management_api::rate_limits::rate_limit_json;
use crate::state::Edge;

/// A budget as the API shows it.
pub fn budget_json(budget: &Budget) -> Value {
    json!({
        "owner_id": budget.owner_id,
        "monthly_cap_micros": budget.monthly_cap_micros,
        "monthly_cap_usd": if budget.monthly_cap_micros == 0 { Value::Null } else { json!(dollars(budget.monthly_cap_micros)) },
        "month_spend_micros": budget.month_spend_micros,
        "month_spend_usd": dollars(budget.month_spend_micros),
    })
}

async fn get_balance(edge: &Edge, headers: &HeaderMap) -> Result<Response, ApiError> {
    let caller = Caller::of(edge, headers).await?;
    let request = GetBalanceRequest {
        principal_id: caller.principal.id.clone(),
    };
    let balance = edge
        .vault()
        .get_balance(caller.request(request, headers)?)
        .await?
        .into_inner();
    let orgs: Vec<Value> = balance.org_budgets.iter().map(budget_json).collect();
    let limits: Vec<Value> = balance.rate_limits.iter().map(rate_limit_json).collect();
    Ok(reply(
        StatusCode::OK,
        &json!({
            "principal_id": balance.principal_id,
            "balance_micros": balance.balance_micros,
            "balance_usd": dollars(balance.balance_micros),
            "month": balance.month,
            "budget": balance.budget.as_ref().map(budget_json),
            "org_budgets": orgs,
            "rate_limits": limits,
        }),
    ))
}

/// The caller's credit balance, budgets and the rate limits on them and their orgs.
pub async fn balance(State(edge): State<Edge>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let result = get_balance(&edge, &headers).await;
    finish(&edge, "api_balance", started, result)
}

/// Whether `month` is `YYYY-MM`.
pub fn valid_month(month: &str) -> bool {
    let bytes = month.as_bytes();
    bytes.len() == 7
        && bytes[4] == b'-'
        && bytes[..4].iter().chain(&bytes[5..]).all(u8::is_ascii_digit)
        && matches!(month[5..].parse::<u8>(), Ok(1..=12))
}

async fn get_usage(
    edge: &Edge,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    only_known_query(query, &["org", "month"])?;
    let caller = Caller::of(edge, headers).await?;
    let owner_id = caller.owner(query.get("org").map(String::as_str))?;
    let month = query.get("month").cloned().unwrap_or_default();
    if !month.is_empty() && !valid_month(&month) {
        return Err(ApiError::invalid("month", "must be YYYY-MM"));
    }
    let usage = edge
        .vault()
        .get_usage(caller.request(GetUsageRequest { owner_id, month }, headers)?)
        .await?
        .into_inner();
    let lines: Vec<Value> = usage
        .lines
        .iter()
        .map(|line| {
            let mut json = usage_counts(line);
            json["provider"] = json!(line.provider);
            json["model"] = json!(line.model);
            json["key_source"] = json!(if line.source() == UsageSource::Managed {
                "managed"
            } else {
                "byok"
            });
            json
        })
        .collect();
    // A vault from before totals were reported: summed here.
    let total = usage.total.clone().unwrap_or_else(|| {
        usage
            .lines
            .iter()
            .fold(UsageLine::default(), |sum, line| UsageLine {
                requests: sum.requests.saturating_add(line.requests),
                input_tokens: sum.input_tokens.saturating_add(line.input_tokens),
                output_tokens: sum.output_tokens.saturating_add(line.output_tokens),
                cost_micros: sum.cost_micros.saturating_add(line.cost_micros),
                ..sum
            })
    });
    Ok(reply(
        StatusCode::OK,
        &json!({
            "month": usage.month,
            "data": lines,
            "total": usage_counts(&total),
            "total_cost_micros": usage.total_cost_micros,
            "total_cost_usd": dollars(usage.total_cost_micros),
        }),
    ))
}

/// A usage line's counts and cost: the split of input into plain, cache-read and
/// cache-written tokens and of output into reasoning, which are priced apart.
fn usage_counts(line: &UsageLine) -> Value {
    json!({
        "requests": line.requests,
        "input_tokens": line.input_tokens,
        "output_tokens": line.output_tokens,
        "cache_read_tokens": line.cache_read_tokens,
        "cache_write_tokens": line.cache_write_tokens,
        "cache_write_1h_tokens": line.cache_write_1h_tokens,
        "reasoning_tokens": line.reasoning_tokens,
        "cost_micros": line.cost_micros,
        "cost_usd": dollars(line.cost_micros),
    })
}

/// This month's (or `?month=`'s) usage by provider, model and key source.
pub async fn usage(
    State(edge): State<Edge>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = get_usage(&edge, &headers, &query).await;
    finish(&edge, "api_usage", started, result)
}

async fn get_audit(
    edge: &Edge,
    headers: &HeaderMap,
    org: &str,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    only_known_query(query, &["page_size", "page_token"])?;
    let caller = Caller::of(edge, headers).await?;
    let owner_id = caller.owner(Some(org))?;
    let page_size = match query.get("page_size") {
        None => 0,
        Some(size) => size
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::invalid("page_size", "must be an integer from 1 to 1000"))?,
    };
    let request = ListAuditEventsRequest {
        owner_id,
        page_size,
        page_token: query.get("page_token").cloned().unwrap_or_default(),
    };
    let page = edge
        .vault()
        .list_audit_events(caller.request(request, headers)?)
        .await?
        .into_inner();
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|event| {
            json!({
                "id": event.id,
                "time": time(event.time.as_ref()),
                "actor": event.actor,
                "action": event.action,
                "target": event.target,
                "owner_id": event.owner_id,
                "request_id": event.request_id,
                "detail": serde_json::from_str::<Value>(&event.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(reply(
        StatusCode::OK,
        &json!({
            "data": events,
            "next_page_token": if page.next_page_token.is_empty() { Value::Null } else { json!(page.next_page_token) },
        }),
    ))
}

/// An org's audit log, newest first; owners and billing managers.
pub async fn org_audit(
    State(edge): State<Edge>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = get_audit(&edge, &headers, &org, &query).await;
    finish(&edge, "api_org_audit", started, result)
}
