//! Each resource as a table and as JSON. Credentials show fingerprints, never secrets; a
//! token is shown only in the reply that issued it.

use keyroute_proto::vault::v1::*;
use serde_json::{Value, json};

use keyroute_wire::catalog::dollars;

use crate::output::{Listing, time};

fn kind_name(kind: i32) -> &'static str {
    match PrincipalKind::try_from(kind) {
        Ok(PrincipalKind::User) => "user",
        Ok(PrincipalKind::Org) => "org",
        Ok(PrincipalKind::Platform) => "platform",
        _ => "unknown",
    }
}

fn role_name(role: i32) -> &'static str {
    match Role::try_from(role) {
        Ok(Role::Owner) => "owner",
        Ok(Role::BillingManager) => "billing_manager",
        Ok(Role::Member) => "member",
        _ => "unknown",
    }
}

fn principal_json(p: &Principal) -> Value {
    json!({
        "id": p.id, "kind": kind_name(p.kind), "name": p.name, "email": p.email,
        "created_at": time(p.created_at.as_ref()),
        "disabled_at": p.disabled_at.as_ref().map(|d| time(Some(d))),
    })
}

/// A time column that is empty when unset.
fn optional_time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp.map(|t| time(Some(t))).unwrap_or_default()
}

pub fn principals(list: &[Principal]) -> Listing {
    Listing {
        json: Value::Array(list.iter().map(principal_json).collect()),
        headers: &["ID", "KIND", "NAME", "EMAIL", "CREATED", "DISABLED"],
        rows: list
            .iter()
            .map(|p| {
                vec![
                    p.id.clone(),
                    kind_name(p.kind).into(),
                    p.name.clone(),
                    p.email.clone(),
                    time(p.created_at.as_ref()),
                    optional_time(p.disabled_at.as_ref()),
                ]
            })
            .collect(),
    }
}

fn membership_json(m: &Membership) -> Value {
    json!({ "org_id": m.org_id, "org_name": m.org_name, "user_id": m.user_id, "role": role_name(m.role), "created_at": time(m.created_at.as_ref()) })
}

pub fn memberships(list: &[Membership]) -> Listing {
    Listing {
        json: Value::Array(list.iter().map(membership_json).collect()),
        headers: &["ORG", "ORG NAME", "USER", "ROLE"],
        rows: list
            .iter()
            .map(|m| {
                vec![
                    m.org_id.clone(),
                    m.org_name.clone(),
                    m.user_id.clone(),
                    role_name(m.role).into(),
                ]
            })
            .collect(),
    }
}

pub fn principal_detail(reply: &GetPrincipalResponse) -> Listing {
    let principal = reply.principal.clone().unwrap_or_default();
    let mut json = principal_json(&principal);
    json["memberships"] = Value::Array(reply.memberships.iter().map(membership_json).collect());
    let row = |org: &str, role: &str| {
        vec![
            principal.id.clone(),
            kind_name(principal.kind).into(),
            principal.name.clone(),
            org.to_owned(),
            role.to_owned(),
        ]
    };
    let mut rows: Vec<Vec<String>> = reply
        .memberships
        .iter()
        .map(|m| row(&m.org_id, role_name(m.role)))
        .collect();
    if rows.is_empty() {
        rows.push(row("", ""));
    }
    Listing {
        json,
        headers: &["ID", "KIND", "NAME", "ORG", "ROLE"],
        rows,
    }
}

fn token_json(t: &TokenInfo) -> Value {
    json!({
        "id": t.id, "principal_id": t.principal_id, "name": t.name, "last_four": t.last_four,
        "created_at": time(t.created_at.as_ref()), "revoked_at": t.revoked_at.as_ref().map(|r| time(Some(r))),
        "expires_at": t.expires_at.as_ref().map(|e| time(Some(e))),
    })
}

pub fn tokens(list: &[TokenInfo]) -> Listing {
    Listing {
        json: Value::Array(list.iter().map(token_json).collect()),
        headers: &[
            "ID",
            "PRINCIPAL",
            "NAME",
            "ENDS WITH",
            "CREATED",
            "EXPIRES",
            "REVOKED",
        ],
        rows: list
            .iter()
            .map(|t| {
                vec![
                    t.id.clone(),
                    t.principal_id.clone(),
                    t.name.clone(),
                    t.last_four.clone(),
                    time(t.created_at.as_ref()),
                    optional_time(t.expires_at.as_ref()),
                    optional_time(t.revoked_at.as_ref()),
                ]
            })
            .collect(),
    }
}

/// The tokens `revoke-all` revoked: JSON `{"principal_id", "revoked": [...]}`.
pub fn revoked_tokens(principal_id: &str, list: &[TokenInfo]) -> Listing {
    let mut listing = tokens(list);
    listing.json = json!({
        "principal_id": principal_id,
        "revoked": list.iter().map(token_json).collect::<Vec<_>>(),
    });
    if list.is_empty() {
        listing.rows.clear();
    }
    listing
}

/// The one place a token is printed: the reply that issued it.
pub fn issued_token(reply: &IssueTokenResponse) -> Listing {
    let info = reply.info.clone().unwrap_or_default();
    let mut json = token_json(&info);
    json["token"] = Value::String(reply.token.clone());
    Listing {
        json,
        headers: &["ID", "PRINCIPAL", "EXPIRES", "TOKEN (shown once)"],
        rows: vec![vec![
            info.id,
            info.principal_id,
            optional_time(info.expires_at.as_ref()),
            reply.token.clone(),
        ]],
    }
}

fn credential_json(c: &Credential) -> Value {
    let mut config: Vec<(&String, &String)> = c.config.iter().collect();
    config.sort();
    json!({
        "id": c.id, "owner_id": c.owner_id, "provider": c.provider, "label": c.label, "enabled": c.enabled,
        "config": config.into_iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "fingerprint": c.fingerprint, "created_at": time(c.created_at.as_ref()), "updated_at": time(c.updated_at.as_ref()),
    })
}

pub fn credentials(list: &[Credential]) -> Listing {
    Listing {
        json: Value::Array(list.iter().map(credential_json).collect()),
        headers: &[
            "ID",
            "OWNER",
            "PROVIDER",
            "LABEL",
            "ENABLED",
            "FINGERPRINT",
            "UPDATED",
        ],
        rows: list
            .iter()
            .map(|c| {
                vec![
                    c.id.clone(),
                    c.owner_id.clone(),
                    c.provider.clone(),
                    c.label.clone(),
                    c.enabled.to_string(),
                    c.fingerprint.clone(),
                    time(c.updated_at.as_ref()),
                ]
            })
            .collect(),
    }
}

fn mode_name(mode: i32) -> &'static str {
    match ProviderMode::try_from(mode) {
        Ok(ProviderMode::Managed) => "managed",
        Ok(ProviderMode::CustomKey) => "custom_key",
        Ok(ProviderMode::Disabled) => "disabled",
        _ => "unknown",
    }
}

fn fallback_name(policy: i32) -> &'static str {
    match FallbackPolicy::try_from(policy) {
        Ok(FallbackPolicy::Never) => "never",
        Ok(FallbackPolicy::WhenNoKey) => "when_no_key",
        Ok(FallbackPolicy::WhenKeyFails) => "when_key_fails",
        _ => "unknown",
    }
}

pub fn settings(list: &[ProviderSetting]) -> Listing {
    let one = |s: &ProviderSetting| json!({ "owner_id": s.owner_id, "provider": s.provider, "mode": mode_name(s.mode), "fallback": fallback_name(s.fallback_policy) });
    Listing {
        json: Value::Array(list.iter().map(one).collect()),
        headers: &["OWNER", "PROVIDER", "MODE", "FALLBACK"],
        rows: list
            .iter()
            .map(|s| {
                vec![
                    s.owner_id.clone(),
                    s.provider.clone(),
                    mode_name(s.mode).into(),
                    fallback_name(s.fallback_policy).into(),
                ]
            })
            .collect(),
    }
}

pub fn audit(events: &[AuditEvent], next_page_token: &str) -> Listing {
    let one = |e: &AuditEvent| {
        json!({
            "id": e.id, "time": time(e.time.as_ref()), "actor": e.actor, "peer": e.peer, "action": e.action,
            "target": e.target, "owner_id": e.owner_id, "request_id": e.request_id,
            "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null),
        })
    };
    Listing {
        json: json!({ "events": events.iter().map(one).collect::<Vec<_>>(), "next_page_token": next_page_token }),
        headers: &["TIME", "ACTION", "TARGET", "ACTOR", "PEER", "REQUEST"],
        rows: events
            .iter()
            .map(|e| {
                vec![
                    time(e.time.as_ref()),
                    e.action.clone(),
                    e.target.clone(),
                    e.actor.clone(),
                    e.peer.clone(),
                    e.request_id.clone(),
                ]
            })
            .collect(),
    }
}

pub fn rotation(reply: &RotateKekResponse) -> Listing {
    let in_use: Vec<String> = reply.versions_in_use.iter().map(u32::to_string).collect();
    let skipped: Vec<Value> = reply
        .skipped
        .iter()
        .map(|s| json!({ "credential_id": s.credential_id, "owner_id": s.owner_id, "reason": s.reason }))
        .collect();
    Listing {
        json: json!({ "active_version": reply.active_version, "rewrapped": reply.rewrapped, "skipped": skipped, "versions_in_use": reply.versions_in_use }),
        headers: &["ACTIVE VERSION", "REWRAPPED", "SKIPPED", "VERSIONS IN USE"],
        rows: vec![vec![
            reply.active_version.to_string(),
            reply.rewrapped.to_string(),
            reply.skipped.len().to_string(),
            in_use.join(","),
        ]],
    }
}

/// The credentials a rotation skipped, as a table (empty when none was).
pub fn rotation_skipped(reply: &RotateKekResponse) -> String {
    if reply.skipped.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = reply
        .skipped
        .iter()
        .map(|s| {
            vec![
                s.credential_id.clone(),
                s.owner_id.clone(),
                s.reason.clone(),
            ]
        })
        .collect();
    crate::output::table(&["SKIPPED CREDENTIAL", "OWNER", "REASON"], &rows)
}

pub fn done(message: &str) -> Listing {
    Listing {
        json: json!({ "result": message }),
        headers: &["RESULT"],
        rows: vec![vec![message.to_owned()]],
    }
}

fn source_name(source: i32) -> &'static str {
    match UsageSource::try_from(source) {
        Ok(UsageSource::Byok) => "byok",
        Ok(UsageSource::Managed) => "managed",
        _ => "unknown",
    }
}

/// A usage line's counts as JSON: input and output with the parts of them priced apart.
fn usage_counts_json(line: &UsageLine) -> Value {
    json!({
        "requests": line.requests,
        "input_tokens": line.input_tokens,
        "cache_read_tokens": line.cache_read_tokens,
        "cache_write_tokens": line.cache_write_tokens,
        "cache_write_1h_tokens": line.cache_write_1h_tokens,
        "output_tokens": line.output_tokens,
        "reasoning_tokens": line.reasoning_tokens,
        "cost_micros": line.cost_micros,
    })
}

/// The counts columns of a usage row, after its provider, model and source.
fn usage_counts_row(line: &UsageLine) -> [String; 8] {
    [
        line.requests.to_string(),
        line.input_tokens.to_string(),
        line.cache_read_tokens.to_string(),
        line.cache_write_tokens.to_string(),
        line.cache_write_1h_tokens.to_string(),
        line.output_tokens.to_string(),
        line.reasoning_tokens.to_string(),
        dollars(line.cost_micros),
    ]
}

/// A month's usage, a row per provider, model and source and a total row. Cache reads and
/// writes are part of INPUT, 1-hour writes part of CACHE WRITE, reasoning part of OUTPUT:
/// the columns show what was priced apart.
pub fn usage(reply: &GetUsageResponse) -> Listing {
    let total = reply.total.clone().unwrap_or_else(|| UsageLine {
        requests: reply.lines.iter().map(|l| l.requests).sum(),
        cost_micros: reply.total_cost_micros,
        ..UsageLine::default()
    });
    let mut rows: Vec<Vec<String>> = reply
        .lines
        .iter()
        .map(|l| {
            let mut row = vec![
                l.provider.clone(),
                l.model.clone(),
                source_name(l.source).into(),
            ];
            row.extend(usage_counts_row(l));
            row
        })
        .collect();
    let mut total_row = vec!["TOTAL".to_owned(), String::new(), String::new()];
    total_row.extend(usage_counts_row(&total));
    rows.push(total_row);
    Listing {
        json: json!({
            "month": reply.month,
            "total_cost_micros": reply.total_cost_micros,
            "total": usage_counts_json(&total),
            "lines": reply.lines.iter().map(|l| {
                let mut line = usage_counts_json(l);
                line["provider"] = json!(l.provider);
                line["model"] = json!(l.model);
                line["source"] = json!(source_name(l.source));
                line
            }).collect::<Vec<_>>(),
        }),
        headers: &[
            "PROVIDER",
            "MODEL",
            "SOURCE",
            "REQUESTS",
            "INPUT",
            "CACHE READ",
            "CACHE WRITE",
            "1H WRITE",
            "OUTPUT",
            "REASONING",
            "COST",
        ],
        rows,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use keyroute_proto::vault::v1::{GetUsageResponse, UsageLine, UsageSource};

    #[test]
    fn usage_shows_the_split_per_line_and_in_the_total() {
        let line = UsageLine {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            source: UsageSource::Managed as i32,
            requests: 2,
            input_tokens: 110,
            cache_read_tokens: 64,
            cache_write_tokens: 32,
            cache_write_1h_tokens: 11,
            output_tokens: 57,
            reasoning_tokens: 23,
            cost_micros: 1_250_000,
        };
        let reply = GetUsageResponse {
            month: "2026-05".into(),
            lines: vec![line.clone()],
            total_cost_micros: 1_250_000,
            total: Some(UsageLine {
                provider: String::new(),
                model: String::new(),
                source: 0,
                ..line
            }),
        };
        let listing = super::usage(&reply);
        let counts = ["2", "110", "64", "32", "11", "57", "23", "$1.250000"];
        assert_eq!(
            listing.rows[0][..3],
            ["anthropic", "claude-sonnet-4-5", "managed"]
        );
        assert_eq!(listing.rows[0][3..], counts);
        assert_eq!(listing.rows[1][..3], ["TOTAL", "", ""]);
        assert_eq!(listing.rows[1][3..], counts);
        assert_eq!(listing.headers.len(), listing.rows[0].len());
        let json = &listing.json;
        assert_eq!(json["lines"][0]["cache_write_1h_tokens"], 11);
        assert_eq!(json["lines"][0]["source"], "managed");
        assert_eq!(json["total"]["reasoning_tokens"], 23);
        assert_eq!(json["total_cost_micros"], 1_250_000);
    }
}
