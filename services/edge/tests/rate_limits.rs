//! `/api/v1/rate-limits` over real HTTP, with a real vault behind the edge: a user sets,
//! lists and removes their own limit; an org's owner sets the org's and a plain member may
//! only read it; another user's key does not exist for the caller; managed models and the
//! operator's limits are the operator's; bad input is a 400 that changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyroute_proto::vault::v1::{
    CreateCredentialRequest, RateLimitScope, Role, SetRateLimitRequest,
};
use keyroute_test_support::with_token;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Gateway, gateway};

const LIMITS: &str = "/api/v1/rate-limits";

/// `method path` with `body` as it is and `token`: the status and the JSON answer.
async fn raw(
    gateway: &Gateway,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let body = body.map(str::to_owned);
    let (status, _, json) = gateway.send(method, path, Some(token), &[], body).await;
    (status, json)
}

/// `PUT /api/v1/rate-limits` with `body` as `token`.
async fn put(gateway: &Gateway, token: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    raw(gateway, token, Method::PUT, LIMITS, Some(&body)).await
}

/// `GET path` as `token`: the list, once it is a 200.
async fn list(gateway: &Gateway, token: &str, path: &str) -> Value {
    let (status, body) = raw(gateway, token, Method::GET, path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body["data"].clone()
}

/// Asserts a refusal: `status`, its code, and `field` (empty: null).
fn refused((status, body): (u16, Value), expected: u16, code: &str, field: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let field = Some(field).filter(|f| !f.is_empty());
    assert_eq!(body["error"]["field"].as_str(), field, "{body}");
}

#[tokio::test]
async fn a_user_sets_lists_and_removes_their_own_limit() {
    let gateway = gateway().await;
    let (user, token) = (gateway.user.as_str(), gateway.token.as_str());
    assert_eq!(list(&gateway, token, LIMITS).await, json!([]));

    // The target defaults to the caller; 0 is "not limited".
    let (status, stored) = put(
        &gateway,
        token,
        json!({ "scope": "principal", "requests_per_minute": 30 }),
    )
    .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["scope"], "principal");
    assert_eq!(stored["target_id"], user);
    assert_eq!(stored["requests_per_minute"], 30);
    assert_eq!(stored["tokens_per_minute"], 0);
    assert_eq!(stored["set_by_operator"], false);
    assert!(stored["updated_at"].as_str().unwrap().ends_with('Z'));
    // A change replaces both figures.
    let change = json!({ "scope": "principal", "target_id": user, "tokens_per_minute": 5000 });
    let (status, changed) = put(&gateway, token, change).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (
            &changed["requests_per_minute"],
            &changed["tokens_per_minute"]
        ),
        (&json!(0), &json!(5000))
    );
    assert_eq!(list(&gateway, token, LIMITS).await, json!([changed]));
    let mine = format!("{LIMITS}?scope=principal&target_id={user}");
    assert_eq!(list(&gateway, token, &mine).await, json!([changed]));
    let orgs = format!("{LIMITS}?scope=org");
    assert_eq!(list(&gateway, token, &orgs).await, json!([]));

    let remove = format!("{LIMITS}?scope=principal");
    let (status, body) = raw(&gateway, token, Method::DELETE, &remove, None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(list(&gateway, token, LIMITS).await, json!([]));
    // Removing what is not there is not an error.
    let (status, _) = raw(&gateway, token, Method::DELETE, &remove, None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn roles_and_ownership_decide_who_sets_what() {
    let gateway = gateway().await;
    let (vault, token) = (&gateway.vault, gateway.token.as_str());
    let (other, other_token) = vault.user_with_token("someone-else").await;
    let owned = vault.org("owned", &gateway.user, &[]).await;
    let as_member = [(gateway.user.as_str(), Role::Member)];
    let team = vault.org("team", &other, &as_member).await;

    // The org's owner sets the org's limit; a plain member may read it but not change it.
    let org_limit = json!({ "scope": "org", "target_id": owned, "requests_per_minute": 100 });
    let (status, stored) = put(&gateway, token, org_limit).await;
    assert_eq!(status, 200, "{stored}");
    let team_limit = json!({ "scope": "org", "target_id": team, "requests_per_minute": 5 });
    let (status, _) = put(&gateway, &other_token, team_limit.clone()).await;
    assert_eq!(status, 200);
    refused(
        put(&gateway, token, team_limit).await,
        403,
        "permission_denied",
        "",
    );
    let path = format!("{LIMITS}?scope=org&target_id={team}");
    let (status, body) = raw(&gateway, token, Method::DELETE, &path, None).await;
    refused((status, body), 403, "permission_denied", "");
    let seen = list(&gateway, token, &format!("{LIMITS}?scope=org")).await;
    let targets: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["target_id"].as_str())
        .collect();
    assert_eq!(targets.len(), 2, "{seen}");
    assert!(targets.contains(&owned.as_str()) && targets.contains(&team.as_str()));
    assert!(seen.as_array().unwrap().contains(&stored), "{seen}");

    // Another user's key, and another user, do not exist for the caller.
    let theirs = vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: other.clone(),
                provider: "openai".into(),
                secret: "sk-other-0123456789abcdef".into(),
                ..Default::default()
            },
            &other_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;
    let key_limit = json!({ "scope": "credential", "target_id": theirs, "requests_per_minute": 1 });
    let (status, body) = put(&gateway, token, key_limit).await;
    refused((status, body.clone()), 404, "not_found", "");
    assert!(!body.to_string().contains(&other), "{body}");
    let user_limit = json!({ "scope": "principal", "target_id": other, "requests_per_minute": 1 });
    refused(put(&gateway, token, user_limit).await, 404, "not_found", "");
    // Their own key is theirs to limit.
    let keys = list(&gateway, token, "/api/v1/keys").await;
    let own_key = keys[0]["id"].as_str().unwrap();
    let key_limit = json!({ "scope": "credential", "target_id": own_key, "tokens_per_minute": 9 });
    let (status, body) = put(&gateway, token, key_limit).await;
    assert_eq!(
        (status, &body["scope"]),
        (200, &json!("credential")),
        "{body}"
    );

    // Managed models, and limits the operator set, are the operator's.
    let model =
        json!({ "scope": "managed_model", "target_id": "gpt-4o-mini", "tokens_per_minute": 1 });
    refused(
        put(&gateway, token, model).await,
        403,
        "permission_denied",
        "",
    );
    let operator = SetRateLimitRequest {
        scope: RateLimitScope::Principal.into(),
        target_id: gateway.user.clone(),
        requests_per_minute: 7,
        tokens_per_minute: 0,
    };
    vault
        .client("admin")
        .set_rate_limit(operator)
        .await
        .unwrap();
    let mine = json!({ "scope": "principal", "requests_per_minute": 1000 });
    refused(
        put(&gateway, token, mine).await,
        403,
        "permission_denied",
        "",
    );
    let remove = format!("{LIMITS}?scope=principal");
    let (status, body) = raw(&gateway, token, Method::DELETE, &remove, None).await;
    refused((status, body), 403, "permission_denied", "");
    let own = list(&gateway, token, &format!("{LIMITS}?scope=principal")).await;
    assert_eq!(own[0]["requests_per_minute"], 7, "{own}");
    assert_eq!(own[0]["set_by_operator"], true, "{own}");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let gateway = gateway().await;
    let token = gateway.token.as_str();
    let (status, _) = put(
        &gateway,
        token,
        json!({ "scope": "principal", "requests_per_minute": 10 }),
    )
    .await;
    assert_eq!(status, 200);
    let before = list(&gateway, token, LIMITS).await;

    let bodies: [(&str, &str); 13] = [
        (r#"{"scope":"team","requests_per_minute":1}"#, "scope"),
        (
            r#"{"scope":"managed-model","requests_per_minute":1}"#,
            "scope",
        ),
        (r#"{"requests_per_minute":1}"#, "scope"),
        (
            r#"{"scope":"principal","requests_per_minute":-1}"#,
            "requests_per_minute",
        ),
        (
            r#"{"scope":"principal","tokens_per_minute":1.5}"#,
            "tokens_per_minute",
        ),
        (
            r#"{"scope":"principal","requests_per_minute":"5"}"#,
            "requests_per_minute",
        ),
        (
            r#"{"scope":"principal","requests_per_minute":0,"tokens_per_minute":0}"#,
            "",
        ),
        (r#"{"scope":"principal"}"#, ""),
        (
            r#"{"scope":"principal","requests_per_minute":1,"burst":2}"#,
            "burst",
        ),
        (r#"{"scope":"org","requests_per_minute":1}"#, "target_id"),
        (
            r#"{"scope":"principal","target_id":5,"requests_per_minute":1}"#,
            "target_id",
        ),
        ("not json", ""),
        ("[1]", ""),
    ];
    for (body, field) in bodies {
        let answer = raw(&gateway, token, Method::PUT, LIMITS, Some(body)).await;
        assert_eq!(answer.0, 400, "{body}: {}", answer.1);
        refused(answer, 400, "invalid_request", field);
    }
    let queries: [(Method, &str, &str); 6] = [
        (Method::GET, "?scope=team", "scope"),
        (Method::GET, "?scopes=org", "scopes"),
        (Method::DELETE, "", "scope"),
        (Method::DELETE, "?scope=nope&target_id=x", "scope"),
        (Method::DELETE, "?scope=org", "target_id"),
        (Method::DELETE, "?scope=principal&owner_id=x", "owner_id"),
    ];
    for (method, query, field) in queries {
        let path = format!("{LIMITS}{query}");
        let answer = raw(&gateway, token, method.clone(), &path, None).await;
        assert_eq!(answer.0, 400, "{method} {path}: {}", answer.1);
        refused(answer, 400, "invalid_request", field);
    }
    // Without a token, nothing is read or changed.
    let (status, _, _) = gateway.send(Method::GET, LIMITS, None, &[], None).await;
    assert_eq!(status, 401);
    let body = json!({ "scope": "principal", "requests_per_minute": 1 }).to_string();
    let (status, _, _) = gateway
        .send(Method::PUT, LIMITS, None, &[], Some(body))
        .await;
    assert_eq!(status, 401);

    assert_eq!(list(&gateway, token, LIMITS).await, before);
}
