//! `openapi.json` describes the management API as the edge serves it: the file's operations
//! are exactly those routed under `/api/v1` (and no other method answers on its paths), and
//! every operation, called over real HTTP with good and bad input, answers with a status the
//! file declares for it and a body that validates against the declared schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::cell::RefCell;
use std::collections::BTreeSet;

use keyroute_proto::vault::v1::Role;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use support::openapi::{check_references, resolve, validate};
use support::{BODY_LIMIT, Gateway, gateway};

const SPEC: &str = include_str!("../openapi.json");
/// The edge's routes as text: every `/api/...` path literal in it must be in the file.
const ROUTES: &str = include_str!("../src/app.rs");
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every management operation: what this test calls, and what the file must describe.
const OPERATIONS: [(&str, &str); 26] = [
    ("GET", "/api/v1/keys"),
    ("POST", "/api/v1/keys"),
    ("PATCH", "/api/v1/keys/{id}"),
    ("DELETE", "/api/v1/keys/{id}"),
    ("POST", "/api/v1/keys/{id}/test"),
    ("GET", "/api/v1/orgs/{org}/keys"),
    ("POST", "/api/v1/orgs/{org}/keys"),
    ("GET", "/api/v1/orgs/{org}/audit"),
    ("GET", "/api/v1/providers"),
    ("GET", "/api/v1/models"),
    ("GET", "/api/v1/provider-settings"),
    ("PUT", "/api/v1/provider-settings"),
    ("GET", "/api/v1/usage"),
    ("GET", "/api/v1/balance"),
    ("GET", "/api/v1/usage/daily"),
    ("PUT", "/api/v1/budget"),
    ("DELETE", "/api/v1/budget"),
    ("GET", "/api/v1/rate-limits"),
    ("PUT", "/api/v1/rate-limits"),
    ("DELETE", "/api/v1/rate-limits"),
    ("POST", "/api/v1/session"),
    ("GET", "/api/v1/session"),
    ("DELETE", "/api/v1/session"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{id}"),
];

/// A method and a path template.
type Operation = (String, String);

fn spec() -> Value {
    serde_json::from_str(SPEC).expect("openapi.json is JSON")
}

fn listed() -> BTreeSet<Operation> {
    OPERATIONS
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect()
}

/// The operations the file describes.
fn described(spec: &Value) -> BTreeSet<Operation> {
    let mut operations = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|method| item.get(**method).is_some()) {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

#[test]
fn the_file_describes_exactly_the_routed_operations() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    assert_eq!(spec["info"]["title"], "keyroute management API");
    assert_eq!(spec["info"]["version"], "1");
    assert_eq!(described(&spec), listed(), "the file's operations");
    // `src/app.rs` routes no other path under /api (a new method on one is caught by the
    // 405s in the test below).
    let routed: BTreeSet<&str> = ROUTES
        .split('"')
        .filter(|p| p.starts_with("/api/"))
        .collect();
    let paths: BTreeSet<&str> = OPERATIONS.iter().map(|(_, path)| *path).collect();
    assert_eq!(routed, paths, "the paths src/app.rs routes");
    check_references(&spec, &spec);
    // Request bodies refuse unknown fields, as the edge does.
    for (method, path) in listed() {
        let operation = &spec["paths"][&path][method.to_lowercase()];
        if let Some(body) = operation.get("requestBody") {
            let schema = resolve(&spec, &body["content"]["application/json"]["schema"]);
            assert_eq!(schema["additionalProperties"], false, "{method} {path}");
        }
    }
}

// === Calling the edge, and checking each answer against the file ===

const KEYS: &str = "/api/v1/keys";
const PROVIDERS: &str = "/api/v1/providers";
const MODELS: &str = "/api/v1/models";
const SETTINGS: &str = "/api/v1/provider-settings";
const USAGE: &str = "/api/v1/usage";
const BALANCE: &str = "/api/v1/balance";
const STRANGER: &str = "Bearer kr_not-a-real-token-0123456789abcdef";

/// Request headers.
type Headers<'a> = &'a [(&'a str, &'a str)];

/// The error code that goes with each status this test expects.
fn code_for(status: u16) -> &'static str {
    match status {
        400 => "invalid_request",
        401 => "unauthenticated",
        403 => "permission_denied",
        404 => "not_found",
        409 => "already_exists",
        413 => "payload_too_large",
        503 => "unavailable",
        _ => panic!("no error code expected with {status}"),
    }
}

/// An answer from the edge, already checked against the file.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// The body, once the status is `status`.
    fn ok(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }

    /// Asserts a refusal: `status`, the code that goes with it, and `field` (empty: null).
    fn refused(self, status: u16, field: &str) {
        let error = self.ok(status)["error"].clone();
        assert_eq!(error["code"], code_for(status), "{error}");
        let field = Some(field).filter(|field| !field.is_empty());
        assert_eq!(error["field"].as_str(), field, "{error}");
    }
}

/// The gateway, the file, and the operations called so far.
struct Api {
    gateway: Gateway,
    spec: Value,
    called: RefCell<BTreeSet<Operation>>,
}

impl Api {
    /// The file's operation for `method path` (a concrete path), with its path item.
    fn operation(&self, method: &Method, path: &str) -> (Operation, &Value, &Value) {
        let segments: Vec<&str> = path.split('/').collect();
        for (template, item) in self.spec["paths"].as_object().unwrap() {
            let pattern: Vec<&str> = template.split('/').collect();
            let fits = pattern.len() == segments.len()
                && (pattern.iter().zip(&segments)).all(|(p, s)| p == s || p.starts_with('{'));
            let operation = &item[method.as_str().to_lowercase()];
            if fits && operation.is_object() {
                return ((method.to_string(), template.clone()), item, operation);
            }
        }
        panic!("openapi.json has no operation {method} {path}");
    }

    /// Sends `method path` with `auth` headers, and checks the query, the status, the body and
    /// the headers against the file (and, when the edge accepted it, the request body too).
    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Headers<'_>,
        body: Option<&str>,
    ) -> Answer {
        let (template, query) = path.split_once('?').unwrap_or((path, ""));
        let (called, item, operation) = self.operation(&method, template);
        self.called.borrow_mut().insert(called);
        let declared: Vec<&str> = [&operation["parameters"], &item["parameters"]]
            .into_iter()
            .flat_map(|list| list.as_array().into_iter().flatten())
            .map(|parameter| resolve(&self.spec, parameter))
            .filter(|parameter| parameter["in"] == "query")
            .filter_map(|parameter| parameter["name"].as_str())
            .collect();
        for name in query
            .split_terminator('&')
            .filter_map(|p| p.split('=').next())
        {
            assert!(declared.contains(&name), "{path}: undeclared {name}");
        }
        let (gateway, sent) = (&self.gateway, body.map(str::to_owned));
        let sending = gateway.send(method.clone(), path, None, auth, sent);
        let (status, headers, answer) = sending.await;
        let context = format!("{method} {path} → {status}");
        let response = resolve(&self.spec, &operation["responses"][status.to_string()]);
        assert!(response.is_object(), "{context}, undeclared: {answer}");
        if let Some(content) = response.get("content") {
            let media = headers[CONTENT_TYPE].to_str().unwrap();
            assert!(media.starts_with("application/json"), "{context}: {media}");
            let schema = &content["application/json"]["schema"];
            let verdict = validate(&self.spec, schema, &answer, "body");
            assert!(verdict.is_ok(), "{context}: {verdict:?}\n{answer}");
        } else {
            assert!(answer.is_null(), "{context} has a body: {answer}");
        }
        for (name, _) in response["headers"].as_object().into_iter().flatten() {
            let name = name.to_ascii_lowercase();
            assert!(headers.contains_key(name.as_str()), "{context}: no {name}");
        }
        if let (200..300, Some(body)) = (status, body) {
            let request = resolve(&self.spec, &operation["requestBody"]);
            let schema = &request["content"]["application/json"]["schema"];
            let verdict = validate(&self.spec, schema, &serde_json::from_str(body).unwrap(), "");
            assert!(verdict.is_ok(), "{context}: {body}: {verdict:?}");
        }
        Answer {
            status,
            headers,
            body: answer,
        }
    }

    /// `method path` as the test user, with `body` as it is.
    async fn call(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        let bearer = format!("Bearer {}", self.gateway.token);
        let auth = [("authorization", bearer.as_str())];
        self.send(method, path, &auth, body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        let body = body.to_string();
        self.call(Method::POST, path, Some(&body)).await
    }

    async fn put(&self, path: &str, body: &Value) -> Answer {
        let body = body.to_string();
        self.call(Method::PUT, path, Some(&body)).await
    }

    async fn patch(&self, path: &str, body: &Value) -> Answer {
        let body = body.to_string();
        self.call(Method::PATCH, path, Some(&body)).await
    }

    /// Asserts that the file's schema `name` refuses `body`, as the edge did.
    fn schema_refuses(&self, name: &str, body: &Value) {
        let schema = &self.spec["components"]["schemas"][name];
        let verdict = validate(&self.spec, schema, body, name);
        assert!(verdict.is_err(), "the file's {name} accepts {body}");
    }
}

#[tokio::test]
async fn every_operation_answers_as_the_file_says() {
    use Method as M;
    let mut api = Api {
        gateway: gateway().await,
        spec: spec(),
        called: RefCell::default(),
    };
    let (user, token) = (api.gateway.user.clone(), api.gateway.token.clone());

    // Personal keys: the user starts with an OpenAI key.
    let keys = api.get(KEYS).await.ok(200);
    assert_eq!(keys["data"][0]["provider"], "openai", "{keys}");
    let new_key = json!({ "provider": "anthropic", "secret": "sk-ant-test-0123456789" });
    let created = api.post(KEYS, &new_key).await;
    let location = created.headers["location"].to_str().unwrap().to_owned();
    let key = created.ok(201);
    let key_path = format!("{KEYS}/{}", key["id"].as_str().unwrap());
    assert_eq!(location, key_path);
    assert_eq!(key["owner_id"], user.as_str());
    assert_eq!(key["enabled"], true);
    assert_eq!(key["fingerprint"], "anthropic:…6789");
    api.post(KEYS, &new_key).await.refused(409, "label");
    let bad_json = Some("{\"provider\": ");
    api.call(M::POST, KEYS, bad_json).await.refused(400, "");
    let typo = json!({ "provider": "anthropic", "secret": "sk-ant-test-0123456789", "lable": "x" });
    api.post(KEYS, &typo).await.refused(400, "lable");
    api.schema_refuses("NewKey", &typo);
    let huge = json!({ "provider": "anthropic", "secret": "x".repeat(BODY_LIMIT) });
    api.post(KEYS, &huge).await.refused(413, "");
    let stored = api.get(KEYS).await.ok(200);
    assert_eq!(
        stored["data"].as_array().unwrap().len(),
        2,
        "refused keys store nothing: {stored}"
    );
    // Without a token, or with one the vault does not know.
    let strangers: [Headers; 2] = [&[], &[("authorization", STRANGER)]];
    for auth in strangers {
        for (method, path) in [(M::GET, KEYS), (M::POST, KEYS), (M::GET, PROVIDERS)] {
            let body = (method == M::POST).then(|| new_key.to_string());
            let answer = api.send(method, path, auth, body.as_deref()).await;
            answer.refused(401, "");
        }
    }

    // A test call: the mock provider does not know this key, and the outcome says so.
    let test_path = format!("{key_path}/test");
    let test = api.call(M::POST, &test_path, None).await.ok(200);
    assert_eq!(test["outcome"], "key_invalid", "{test}");
    assert_eq!(test["ok"], false);
    let unknown = "/api/v1/keys/cred_unknown";
    let probe = format!("{unknown}/test");
    api.call(M::POST, &probe, None).await.refused(404, "");

    let disable = json!({ "enabled": false });
    let disabled = api.patch(&key_path, &disable).await.ok(200);
    assert_eq!(disabled["enabled"], false);
    let secret = json!({ "secret": "sk-ant-test-9876543210" });
    let rotated = api.patch(&key_path, &secret).await.ok(200);
    assert_eq!(rotated["fingerprint"], "anthropic:…3210");
    assert_eq!(rotated["enabled"], false);
    api.patch(&key_path, &json!({})).await.refused(400, "");
    api.schema_refuses("KeyUpdate", &json!({}));
    api.patch(unknown, &disable).await.refused(404, "");
    api.call(M::DELETE, &key_path, None).await.ok(204);
    api.call(M::DELETE, &key_path, None).await.refused(404, "");
    assert_eq!(api.get(KEYS).await.ok(200), keys);

    // Providers, with the token in `x-api-key`; the file lists the same provider ids.
    let by_header = [("x-api-key", token.as_str())];
    let providers = api.send(M::GET, PROVIDERS, &by_header, None).await.ok(200);
    let providers = providers["data"].as_array().unwrap();
    let ids: Value = providers.iter().map(|p| p["id"].clone()).collect();
    for schema in ["NewKey", "ProviderSettingUpdate"] {
        let schema = &api.spec["components"]["schemas"][schema];
        assert_eq!(schema["properties"]["provider"]["enum"], ids);
    }

    // What the caller can route: the managed Anthropic key's models, and their own
    // OpenAI key's, plain and pinned.
    let models = api.get(MODELS).await.ok(200);
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"gpt-4o-mini"), "{ids:?}");
    assert!(ids.contains(&"openai/gpt-4o-mini"), "{ids:?}");
    api.send(M::GET, MODELS, &[("authorization", STRANGER)], None)
        .await
        .refused(401, "");

    // Provider settings.
    assert_eq!(api.get(SETTINGS).await.ok(200)["data"], json!([]));
    let setting = json!({ "provider": "google", "mode": "managed", "fallback_policy": "never" });
    let saved = api.put(SETTINGS, &setting).await.ok(200);
    assert_eq!(saved["owner_id"], user.as_str());
    assert_eq!(saved["mode"], "managed");
    let bad_mode = json!({ "provider": "google", "mode": "sometimes" });
    api.put(SETTINGS, &bad_mode).await.refused(400, "mode");
    api.schema_refuses("ProviderSettingUpdate", &bad_mode);
    assert_eq!(api.get(SETTINGS).await.ok(200)["data"][0], saved);
    // Without a fallback policy, the provider's current one stays.
    let mode_only = json!({ "provider": "google", "mode": "custom_key" });
    let changed = api.put(SETTINGS, &mode_only).await.ok(200);
    assert_eq!(
        (
            changed["mode"].as_str(),
            changed["fallback_policy"].as_str()
        ),
        (Some("custom_key"), Some("never"))
    );

    // Money.
    let balance = api.get(BALANCE).await.ok(200);
    assert_eq!(balance["principal_id"], user.as_str());
    api.get(USAGE).await.ok(200);
    let usage = api.get(&format!("{USAGE}?month=2026-01")).await.ok(200);
    assert_eq!(usage["month"], "2026-01");
    let bad_month = format!("{USAGE}?month=2026-13");
    api.get(&bad_month).await.refused(400, "month");
    // An unknown query parameter is refused, not ignored (sent around the spec's checks,
    // which would rightly call it undeclared).
    let typo = format!("{USAGE}?monht=2026-01");
    let auth = [("authorization", format!("Bearer {token}"))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, refused) = api.gateway.send(M::GET, &typo, None, &auth, None).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("monht"))
    );

    // Orgs: one the user owns, one they are a plain member of, one they are not in.
    let vault = &api.gateway.vault;
    let (other, _) = vault.user_with_token("other-user").await;
    let owned = vault.org("owned", &user, &[]).await;
    let as_member = [(user.as_str(), Role::Member)];
    let member = vault.org("member", &other, &as_member).await;
    let foreign = vault.org("foreign", &other, &[]).await;
    let org = |id: &str, rest: &str| format!("/api/v1/orgs/{id}/{rest}");
    let (owned_keys, member_keys) = (org(&owned, "keys"), org(&member, "keys"));
    assert_eq!(api.get(&owned_keys).await.ok(200)["data"], json!([]));
    let org_key = json!({ "provider": "openai", "secret": "sk-org-openai-0123456789" });
    let created = api.post(&owned_keys, &org_key).await.ok(201);
    assert_eq!(created["owner_id"], owned.as_str());
    assert_eq!(api.get(&owned_keys).await.ok(200)["data"][0], created);
    let page = api.get(&org(&owned, "audit?page_size=1")).await.ok(200);
    assert_eq!(page["data"][0]["action"], "credential.create", "{page}");
    let next = page["next_page_token"].as_str().unwrap();
    let path = org(&owned, &format!("audit?page_size=1&page_token={next}"));
    let page = api.get(&path).await.ok(200);
    assert_eq!(page["data"][0]["action"], "org.create", "{page}");
    let path = org(&owned, "audit?page_size=0");
    api.get(&path).await.refused(400, "page_size");
    api.get(&format!("{SETTINGS}?org={owned}")).await.ok(200);
    api.get(&format!("{USAGE}?org={owned}")).await.ok(200);
    let balance = api.get(BALANCE).await.ok(200);
    assert_eq!(balance["org_budgets"].as_array().unwrap().len(), 2);

    // A plain member reads the org's keys, but may not add one, read the audit or set it up.
    api.get(&member_keys).await.ok(200);
    api.post(&member_keys, &org_key).await.refused(403, "");
    api.get(&org(&member, "audit")).await.refused(403, "");
    let path = format!("{SETTINGS}?org={member}");
    api.put(&path, &setting).await.refused(403, "");

    // An org the user is not in does not exist for them, whatever the call.
    let (foreign_keys, audit) = (org(&foreign, "keys"), org(&foreign, "audit"));
    let settings = format!("{SETTINGS}?org={foreign}");
    let usage = format!("{USAGE}?org={foreign}");
    for path in [&foreign_keys, &audit, &settings, &usage] {
        api.get(path).await.refused(404, "");
    }
    api.post(&foreign_keys, &org_key).await.refused(404, "");
    api.put(&settings, &setting).await.refused(404, "");

    // Spend by day, and monthly caps: the user's own, an org they own; not as a member.
    let daily = api.get("/api/v1/usage/daily?month=2026-02").await.ok(200);
    assert_eq!(daily["days"].as_array().unwrap().len(), 28, "{daily}");
    let path = format!("/api/v1/usage/daily?owner_id={owned}");
    api.get(&path).await.ok(200);
    api.get("/api/v1/usage/daily?month=02")
        .await
        .refused(400, "month");
    let path = format!("/api/v1/usage/daily?owner_id={foreign}");
    api.get(&path).await.refused(404, "");
    let cap = json!({ "monthly_cap_micros": 2_000_000 });
    let budget = api.put("/api/v1/budget", &cap).await.ok(200);
    assert_eq!(budget["owner_id"], user.as_str());
    let org_cap = json!({ "owner_id": owned, "monthly_cap_micros": 3_000_000 });
    assert_eq!(
        api.put("/api/v1/budget", &org_cap).await.ok(200)["monthly_cap_micros"],
        3_000_000
    );
    let member_cap = json!({ "owner_id": member, "monthly_cap_micros": 1 });
    api.put("/api/v1/budget", &member_cap)
        .await
        .refused(403, "");
    let zero = json!({ "monthly_cap_micros": 0 });
    api.put("/api/v1/budget", &zero)
        .await
        .refused(400, "monthly_cap_micros");
    api.schema_refuses("BudgetUpdate", &zero);
    let path = format!("/api/v1/budget?owner_id={owned}");
    api.call(M::DELETE, &path, None).await.ok(204);
    let path = format!("/api/v1/budget?owner_id={member}");
    api.call(M::DELETE, &path, None).await.refused(403, "");
    api.call(M::DELETE, "/api/v1/budget", None).await.ok(204);

    // Rate limits: the user's own and an owned org's; a member's org is 403, a foreign 404.
    const LIMITS: &str = "/api/v1/rate-limits";
    let own = json!({ "scope": "principal", "requests_per_minute": 60 });
    let mine = api.put(LIMITS, &own).await.ok(200);
    assert_eq!(mine["target_id"], user.as_str());
    let org_limit = |org: &str| json!({ "scope": "org", "target_id": org, "tokens_per_minute": 9 });
    api.put(LIMITS, &org_limit(&owned)).await.ok(200);
    api.put(LIMITS, &org_limit(&member)).await.refused(403, "");
    api.put(LIMITS, &org_limit(&foreign)).await.refused(404, "");
    let nothing = json!({ "scope": "principal", "requests_per_minute": 0 });
    api.put(LIMITS, &nothing).await.refused(400, "");
    api.schema_refuses("RateLimitUpdate", &nothing);
    let orgs = api.get(&format!("{LIMITS}?scope=org")).await.ok(200);
    assert_eq!(orgs["data"][0]["target_id"], owned.as_str(), "{orgs}");
    let team = format!("{LIMITS}?scope=team");
    api.get(&team).await.refused(400, "scope");
    let path = format!("{LIMITS}?scope=principal");
    api.call(M::DELETE, &path, None).await.ok(204);
    let path = format!("{LIMITS}?scope=org&target_id={member}");
    api.call(M::DELETE, &path, None).await.refused(403, "");
    let unscoped = api.call(M::DELETE, LIMITS, None).await;
    unscoped.refused(400, "scope");

    // Gateway tokens: made (shown once), listed without secrets, revoked; another's is a 404.
    let made = api
        .post(
            "/api/v1/tokens",
            &json!({ "name": "ci", "expires_in_days": 30 }),
        )
        .await
        .ok(201);
    let secret = made["token"].as_str().unwrap().to_owned();
    let mine = api.get("/api/v1/tokens").await.ok(200);
    assert!(!mine.to_string().contains(&secret), "no secret in the list");
    assert!(
        mine["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == made["id"])
    );
    api.post("/api/v1/tokens", &json!({ "name": "" }))
        .await
        .refused(400, "name");
    let long = json!({ "name": "x", "expires_in_days": 0 });
    api.post("/api/v1/tokens", &long)
        .await
        .refused(400, "expires_in_days");
    api.schema_refuses("NewGatewayToken", &long);
    let token_path = format!("/api/v1/tokens/{}", made["id"].as_str().unwrap());
    api.call(M::DELETE, &token_path, None).await.ok(204);
    api.call(M::DELETE, "/api/v1/tokens/tok_unknown", None)
        .await
        .refused(404, "");

    // The console's session: signed in, described, signed out.
    let sign_in = json!({ "token": token }).to_string();
    let started = api
        .send(M::POST, "/api/v1/session", &[], Some(&sign_in))
        .await;
    let cookies: Vec<String> = started
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let session = started.ok(200);
    let cookie = cookies.join("; ");
    let with_cookie = [("cookie", cookie.as_str())];
    let me = api
        .send(M::GET, "/api/v1/session", &with_cookie, None)
        .await
        .ok(200);
    assert_eq!(me["principal_id"], user.as_str());
    let nothing = json!({}).to_string();
    let refused = api
        .send(M::POST, "/api/v1/session", &[], Some(&nothing))
        .await;
    refused.refused(400, "token");
    api.send(
        M::POST,
        "/api/v1/session",
        &[],
        Some(&json!({ "token": "kr_x" }).to_string()),
    )
    .await
    .refused(401, "");
    api.call(M::DELETE, "/api/v1/session", None)
        .await
        .refused(400, "");
    let csrf = session["csrf"].as_str().unwrap();
    let sign_out = [("cookie", cookie.as_str()), ("x-csrf-token", csrf)];
    api.send(M::DELETE, "/api/v1/session", &sign_out, None)
        .await
        .ok(204);
    api.send(M::GET, "/api/v1/session", &with_cookie, None)
        .await
        .refused(401, "");

    // No other method answers on the file's paths.
    let gateway = &api.gateway;
    for (template, item) in api.spec["paths"].as_object().unwrap() {
        let path = template.replace("{id}", "x").replace("{org}", "x");
        for method in METHODS.iter().filter(|method| item.get(**method).is_none()) {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, ..) = gateway.send(method.clone(), &path, None, &[], None).await;
            assert_eq!(status, 405, "{method} {path} is routed");
        }
    }

    // With the vault down, a 503 in the same shape.
    api.gateway.vault.stop().await;
    api.get(BALANCE).await.refused(503, "");

    let called = api.called.into_inner();
    assert_eq!(called, listed(), "every operation in the file is called");
}
