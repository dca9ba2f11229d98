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
use support::{BODY_LIMIT, Gateway, gateway};

const SPEC: &str = include_str!("../openapi.json");
/// The edge's routes as text: every `/api/...` path literal in it must be in the file.
const ROUTES: &str = include_str!("../src/server.rs");
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every management operation: what this test calls, and what the file must describe.
const OPERATIONS: [(&str, &str); 13] = [
    ("GET", "/api/v1/keys"),
    ("POST", "/api/v1/keys"),
    ("PATCH", "/api/v1/keys/{id}"),
    ("DELETE", "/api/v1/keys/{id}"),
    ("POST", "/api/v1/keys/{id}/test"),
    ("GET", "/api/v1/orgs/{org}/keys"),
    ("POST", "/api/v1/orgs/{org}/keys"),
    ("GET", "/api/v1/orgs/{org}/audit"),
    ("GET", "/api/v1/providers"),
    ("GET", "/api/v1/provider-settings"),
    ("PUT", "/api/v1/provider-settings"),
    ("GET", "/api/v1/usage"),
    ("GET", "/api/v1/balance"),
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

// === A small JSON Schema check: the keywords the file uses, and no others ===

/// Keywords that only describe. Any keyword the check does not know fails it, so the file
/// cannot state a rule that this test would silently skip.
const ANNOTATIONS: [&str; 4] = ["description", "title", "examples", "default"];

/// What a local `$ref` (`#/components/...`) names, or `node` itself.
fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        None => node,
        Some(reference) => {
            let target = reference.strip_prefix('#').and_then(|at| spec.pointer(at));
            resolve(
                spec,
                target.unwrap_or_else(|| panic!("{reference} does not resolve")),
            )
        }
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type {other:?}"),
    }
}

/// Checks `value` against `schema`; the error says where (`at`) and why.
fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(spec, schema);
    let rules = schema
        .as_object()
        .unwrap_or_else(|| panic!("{at}: {schema} is no schema"));
    for (keyword, rule) in rules {
        match keyword.as_str() {
            "type" => {
                let names: Vec<&str> = match rule {
                    Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                    name => vec![name.as_str().unwrap()],
                };
                if !names.iter().any(|name| has_type(value, name)) {
                    return Err(format!("{at}: {value} is not of type {rule}"));
                }
            }
            "enum" => {
                if !rule.as_array().unwrap().contains(value) {
                    return Err(format!("{at}: {value} is not one of {rule}"));
                }
            }
            "minimum" | "maximum" => {
                let (Some(number), Some(bound)) = (value.as_f64(), rule.as_f64()) else {
                    continue;
                };
                if (keyword == "minimum" && number < bound)
                    || (keyword == "maximum" && number > bound)
                {
                    return Err(format!("{at}: {value} is beyond the {keyword} {rule}"));
                }
            }
            "required" => {
                for name in rule.as_array().unwrap().iter().filter_map(Value::as_str) {
                    if value.is_object() && value.get(name).is_none() {
                        return Err(format!("{at}: {name} is required"));
                    }
                }
            }
            "properties" => {
                for (name, property) in rule.as_object().unwrap() {
                    if let Some(item) = value.as_object().and_then(|object| object.get(name)) {
                        validate(spec, property, item, &format!("{at}.{name}"))?;
                    }
                }
            }
            "additionalProperties" => {
                let known = schema.get("properties").and_then(Value::as_object);
                for (name, item) in value.as_object().into_iter().flatten() {
                    if known.is_some_and(|known| known.contains_key(name)) {
                        continue;
                    }
                    if *rule == Value::Bool(false) {
                        return Err(format!("{at}: {name} is not allowed"));
                    }
                    validate(spec, rule, item, &format!("{at}.{name}"))?;
                }
            }
            "items" => {
                for (index, item) in value.as_array().into_iter().flatten().enumerate() {
                    validate(spec, rule, item, &format!("{at}[{index}]"))?;
                }
            }
            "anyOf" | "oneOf" => {
                let options = rule.as_array().unwrap();
                let matching = options
                    .iter()
                    .filter(|option| validate(spec, option, value, at).is_ok())
                    .count();
                if matching == 0 || (keyword == "oneOf" && matching > 1) {
                    return Err(format!(
                        "{at}: {value} matches {matching} of {keyword} {rule}"
                    ));
                }
            }
            annotation if ANNOTATIONS.contains(&annotation) => {}
            unknown => panic!("{at}: the file uses {unknown:?}, which this check does not know"),
        }
    }
    Ok(())
}

/// Resolves every `$ref` under `node`, so that a dangling one fails even if no answer uses it.
fn check_references(spec: &Value, node: &Value) {
    match node {
        Value::Object(object) => {
            resolve(spec, node);
            object
                .values()
                .for_each(|child| check_references(spec, child));
        }
        Value::Array(items) => items.iter().for_each(|child| check_references(spec, child)),
        _ => {}
    }
}

#[test]
fn the_file_describes_exactly_the_routed_operations() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    assert_eq!(spec["info"]["title"], "keyroute management API");
    assert_eq!(spec["info"]["version"], "1");
    assert_eq!(
        described(&spec),
        listed(),
        "openapi.json and OPERATIONS differ"
    );
    let routed: BTreeSet<&str> = ROUTES
        .split('"')
        .filter(|piece| piece.starts_with("/api/"))
        .collect();
    let paths: BTreeSet<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        routed, paths,
        "src/server.rs routes other /api paths than openapi.json has"
    );
    check_references(&spec, &spec);
    for (method, path) in listed() {
        let operation = &spec["paths"][&path][method.to_lowercase()];
        if let Some(body) = operation.get("requestBody") {
            let schema = resolve(
                &spec,
                &resolve(&spec, body)["content"]["application/json"]["schema"],
            );
            assert_eq!(
                schema["additionalProperties"], false,
                "{method} {path}: unknown fields are refused"
            );
        }
    }
}

// === Calling the edge, and checking each answer against the file ===

const KEYS: &str = "/api/v1/keys";
const SETTINGS: &str = "/api/v1/provider-settings";

/// The error code that goes with each status the test expects.
const ERROR_CODES: [(u16, &str); 7] = [
    (400, "invalid_request"),
    (401, "unauthenticated"),
    (403, "permission_denied"),
    (404, "not_found"),
    (409, "already_exists"),
    (413, "payload_too_large"),
    (503, "unavailable"),
];

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
        let body = self.ok(status);
        let code = ERROR_CODES
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, c)| *c);
        assert_eq!(body["error"]["code"].as_str(), code, "{body}");
        let field = Some(field).filter(|field| !field.is_empty());
        assert_eq!(body["error"]["field"].as_str(), field, "{body}");
    }
}

/// How a request proves who sends it.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Nobody,
    Bearer(&'a str),
    ApiKey(&'a str),
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
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || p.starts_with('{'));
            let operation = &item[method.as_str().to_lowercase()];
            if fits && operation.is_object() {
                return ((method.to_string(), template.clone()), item, operation);
            }
        }
        panic!("openapi.json has no operation {method} {path}");
    }

    /// Sends `method path` and checks the query, the status, the body and the headers against
    /// the file (and, when the edge accepted the request, its body too).
    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<String>,
    ) -> Answer {
        let (template, query) = path.split_once('?').unwrap_or((path, ""));
        let (called, item, operation) = self.operation(&method, template);
        self.called.borrow_mut().insert(called);
        let declared: Vec<&Value> = [&operation["parameters"], &item["parameters"]]
            .into_iter()
            .flat_map(|list| list.as_array().into_iter().flatten())
            .map(|parameter| resolve(&self.spec, parameter))
            .filter(|parameter| parameter["in"] == "query")
            .map(|parameter| &parameter["name"])
            .collect();
        for name in query.split('&').filter_map(|pair| pair.split('=').next()) {
            assert!(
                declared.contains(&&json!(name)),
                "{method} {path}: {name} is undeclared"
            );
        }
        let (token, headers) = match auth {
            Auth::Nobody => (None, vec![]),
            Auth::Bearer(token) => (Some(token), vec![]),
            Auth::ApiKey(token) => (None, vec![("x-api-key", token)]),
        };
        let sent = body.clone();
        let (status, headers, answer) = self
            .gateway
            .send(method.clone(), path, token, &headers, sent)
            .await;
        let context = format!("{method} {path} → {status}");
        let response = resolve(&self.spec, &operation["responses"][status.to_string()]);
        assert!(
            response.is_object(),
            "{context} is not in the file: {answer}"
        );
        if let Some(content) = response.get("content") {
            let media = headers[CONTENT_TYPE].to_str().unwrap();
            assert!(media.starts_with("application/json"), "{context}: {media}");
            let schema = &content["application/json"]["schema"];
            let verdict = validate(&self.spec, schema, &answer, "body");
            assert!(
                verdict.is_ok(),
                "{context}: {}\n{answer}",
                verdict.unwrap_err()
            );
        } else {
            assert!(answer.is_null(), "{context} has a body: {answer}");
        }
        for (name, _) in response["headers"].as_object().into_iter().flatten() {
            let name = name.to_ascii_lowercase();
            assert!(headers.contains_key(&name), "{context} lacks {name}");
        }
        if let (200..300, Some(body)) = (status, &body) {
            let request = resolve(&self.spec, &operation["requestBody"]);
            let schema = &request["content"]["application/json"]["schema"];
            let verdict = validate(&self.spec, schema, &serde_json::from_str(body).unwrap(), "");
            assert!(
                verdict.is_ok(),
                "{context}, yet the file refuses {body}: {verdict:?}"
            );
        }
        Answer {
            status,
            headers,
            body: answer,
        }
    }

    /// `method path` as the test user, with a JSON body.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let token = self.gateway.token.clone();
        let body = body.map(Value::to_string);
        self.send(method, path, Auth::Bearer(&token), body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// Asserts that the file's schema `name` refuses `body`, as the edge did.
    fn schema_refuses(&self, name: &str, body: &Value) {
        let schema = &self.spec["components"]["schemas"][name];
        let verdict = validate(&self.spec, schema, body, name);
        assert!(
            verdict.is_err(),
            "the file's {name} accepts {body}; the edge does not"
        );
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
    for auth in [
        Auth::Nobody,
        Auth::Bearer("kr_not-a-real-token-0123456789abcdef"),
    ] {
        api.send(M::GET, KEYS, auth, None).await.refused(401, "");
    }
    let new_key = json!({ "provider": "anthropic", "secret": "sk-ant-test-0123456789" });
    let created = api.post(KEYS, &new_key).await;
    let location = created.headers["location"].to_str().unwrap().to_owned();
    let key = created.ok(201);
    let key_path = format!("{KEYS}/{}", key["id"].as_str().unwrap());
    assert_eq!(location, key_path);
    assert_eq!(key["owner_id"], user.as_str());
    assert_eq!(key["enabled"], true);
    assert_eq!(key["fingerprint"], "anthropic:…6789");
    api.post(KEYS, &new_key).await.refused(409, "provider");
    let bad_json = Some("{\"provider\": ".to_owned());
    let answer = api
        .send(M::POST, KEYS, Auth::Bearer(&token), bad_json)
        .await;
    answer.refused(400, "");
    let typo = json!({ "provider": "anthropic", "secret": "sk-ant-test-0123456789", "lable": "x" });
    api.post(KEYS, &typo).await.refused(400, "lable");
    api.schema_refuses("NewKey", &typo);
    let huge = json!({ "provider": "anthropic", "secret": "x".repeat(BODY_LIMIT) });
    api.post(KEYS, &huge).await.refused(413, "");
    let answer = api
        .send(M::POST, KEYS, Auth::Nobody, Some(new_key.to_string()))
        .await;
    answer.refused(401, "");

    // A test call: the mock provider does not know this key, and the outcome says so.
    let test = api
        .call(M::POST, &format!("{key_path}/test"), None)
        .await
        .ok(200);
    assert_eq!(test["outcome"], "key_invalid", "{test}");
    assert_eq!(test["ok"], false);
    let unknown = "/api/v1/keys/cred_unknown";
    let answer = api.call(M::POST, &format!("{unknown}/test"), None).await;
    answer.refused(404, "");

    let disable = json!({ "enabled": false });
    assert_eq!(
        api.patch(&key_path, &disable).await.ok(200)["enabled"],
        false
    );
    let secret = json!({ "secret": "sk-ant-test-9876543210" });
    let rotated = api.patch(&key_path, &secret).await.ok(200);
    assert_eq!(rotated["fingerprint"], "anthropic:…3210");
    assert_eq!(
        rotated["enabled"], false,
        "a new secret leaves the key disabled"
    );
    api.patch(&key_path, &json!({})).await.refused(400, "");
    api.schema_refuses("KeyUpdate", &json!({}));
    api.patch(unknown, &disable).await.refused(404, "");
    api.call(M::DELETE, &key_path, None).await.ok(204);
    api.call(M::DELETE, &key_path, None).await.refused(404, "");
    assert_eq!(
        api.get(KEYS).await.ok(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Providers, with the token in `x-api-key`; the file lists the same provider ids.
    let auth = Auth::ApiKey(&token);
    let providers = api
        .send(M::GET, "/api/v1/providers", auth, None)
        .await
        .ok(200);
    let ids: Vec<&Value> = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["id"])
        .collect();
    for schema in ["NewKey", "ProviderSettingUpdate"] {
        let listed = &api.spec["components"]["schemas"][schema]["properties"]["provider"]["enum"];
        assert_eq!(
            listed.as_array().unwrap().iter().collect::<Vec<_>>(),
            ids,
            "{schema}"
        );
    }
    let answer = api
        .send(M::GET, "/api/v1/providers", Auth::Nobody, None)
        .await;
    answer.refused(401, "");

    // Provider settings.
    assert_eq!(api.get(SETTINGS).await.ok(200)["data"], json!([]));
    let setting = json!({ "provider": "google", "mode": "managed", "fallback_policy": "never" });
    let saved = api.put(SETTINGS, &setting).await.ok(200);
    assert_eq!(saved["owner_id"], user.as_str());
    assert_eq!(saved["mode"], "managed");
    let bad_mode = json!({ "provider": "google", "mode": "sometimes" });
    api.put(SETTINGS, &bad_mode).await.refused(400, "mode");
    api.schema_refuses("ProviderSettingUpdate", &bad_mode);
    let settings = api.get(SETTINGS).await.ok(200);
    assert_eq!(
        settings["data"][0]["fallback_policy"], "never",
        "{settings}"
    );

    // Money.
    let balance = api.get("/api/v1/balance").await.ok(200);
    assert_eq!(balance["principal_id"], user.as_str());
    api.get("/api/v1/usage").await.ok(200);
    let usage = api.get("/api/v1/usage?month=2026-01").await.ok(200);
    assert_eq!(usage["month"], "2026-01");
    api.get("/api/v1/usage?month=2026-13")
        .await
        .refused(400, "month");

    // Orgs: one the user owns, one they are a plain member of, one they are not in.
    let vault = &api.gateway.vault;
    let (other, _) = vault.user_with_token("other-user").await;
    let owned = vault.org("owned", &user, &[]).await;
    let member = vault
        .org("member", &other, &[(user.as_str(), Role::Member)])
        .await;
    let foreign = vault.org("foreign", &other, &[]).await;
    let org_keys = format!("/api/v1/orgs/{owned}/keys");
    assert_eq!(api.get(&org_keys).await.ok(200)["data"], json!([]));
    let org_key = json!({ "provider": "openai", "secret": "sk-org-openai-0123456789" });
    let created = api.post(&org_keys, &org_key).await.ok(201);
    assert_eq!(created["owner_id"], owned.as_str());
    assert_eq!(api.get(&org_keys).await.ok(200)["data"][0], created);
    let audit = format!("/api/v1/orgs/{owned}/audit");
    let page = api.get(&format!("{audit}?page_size=1")).await.ok(200);
    assert_eq!(page["data"][0]["action"], "credential.create", "{page}");
    let next = page["next_page_token"]
        .as_str()
        .expect("the org's creation is older");
    let page = api
        .get(&format!("{audit}?page_size=1&page_token={next}"))
        .await
        .ok(200);
    assert_eq!(page["data"][0]["action"], "org.create", "{page}");
    api.get(&format!("{audit}?page_size=0"))
        .await
        .refused(400, "page_size");
    api.get(&format!("{SETTINGS}?org={owned}")).await.ok(200);
    api.get(&format!("/api/v1/usage?org={owned}")).await.ok(200);
    let balance = api.get("/api/v1/balance").await.ok(200);
    assert_eq!(
        balance["org_budgets"].as_array().unwrap().len(),
        2,
        "{balance}"
    );

    // A plain member reads the org's keys, but may not add one, read the audit or set it up.
    api.get(&format!("/api/v1/orgs/{member}/keys"))
        .await
        .ok(200);
    let answer = api
        .post(&format!("/api/v1/orgs/{member}/keys"), &org_key)
        .await;
    answer.refused(403, "");
    api.get(&format!("/api/v1/orgs/{member}/audit"))
        .await
        .refused(403, "");
    let answer = api.put(&format!("{SETTINGS}?org={member}"), &setting).await;
    answer.refused(403, "");

    // An org the user is not in does not exist for them, whatever the call.
    let reads = [
        "orgs/{}/keys",
        "orgs/{}/audit",
        "provider-settings?org={}",
        "usage?org={}",
    ];
    for read in reads {
        let path = format!("/api/v1/{}", read.replace("{}", &foreign));
        api.get(&path).await.refused(404, "");
    }
    let answer = api
        .post(&format!("/api/v1/orgs/{foreign}/keys"), &org_key)
        .await;
    answer.refused(404, "");
    let answer = api
        .put(&format!("{SETTINGS}?org={foreign}"), &setting)
        .await;
    answer.refused(404, "");

    // No other method answers on the file's paths.
    for (template, item) in api.spec["paths"].as_object().unwrap() {
        let path = template.replace("{id}", "x").replace("{org}", "x");
        for method in METHODS.iter().filter(|method| item.get(**method).is_none()) {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, _, _) = api
                .gateway
                .send(method.clone(), &path, None, &[], None)
                .await;
            assert_eq!(
                status, 405,
                "{method} {path} is routed but not in openapi.json"
            );
        }
    }

    // With the vault down, a 503 in the same shape.
    api.gateway.vault.stop().await;
    api.get("/api/v1/balance").await.refused(503, "");

    let called = api.called.into_inner();
    assert_eq!(called, listed(), "every operation in the file is called");
}
