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

/// An answer from the edge.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// The body, once the status is `status`.
    fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }

    /// The error object, once the status is `status` and the code `code`.
    fn refused(self, status: u16, code: &str) -> Value {
        let error = self.expect(status)["error"].clone();
        assert_eq!(error["code"], code, "{error}");
        error
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

    /// Sends `method path`, and checks the query, the status, the body and the headers
    /// against the file (and, when the edge accepted it, the request body too).
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
        let parameters = [&operation["parameters"], &item["parameters"]];
        let declared: Vec<&str> = parameters
            .iter()
            .flat_map(|list| list.as_array().into_iter().flatten())
            .map(|parameter| resolve(&self.spec, parameter))
            .filter(|parameter| parameter["in"] == "query")
            .filter_map(|parameter| parameter["name"].as_str())
            .collect();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            assert!(
                declared.contains(&name),
                "{method} {path}: `{name}` is not in the file"
            );
        }
        let (token, api_key) = match auth {
            Auth::Nobody => (None, None),
            Auth::Bearer(token) => (Some(token), None),
            Auth::ApiKey(token) => (None, Some(("x-api-key", token))),
        };
        let extra: Vec<(&str, &str)> = api_key.into_iter().collect();
        let (status, headers, answer) = self
            .gateway
            .send(method.clone(), path, token, &extra, body.clone())
            .await;
        let response = resolve(&self.spec, &operation["responses"][status.to_string()]);
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, undeclared: {answer}"
        );
        match response.get("content") {
            Some(content) => {
                let media = headers[CONTENT_TYPE].to_str().unwrap();
                assert!(
                    media.starts_with("application/json"),
                    "{method} {path}: {media}"
                );
                let schema = &content["application/json"]["schema"];
                if let Err(error) = validate(&self.spec, schema, &answer, "body") {
                    panic!("{method} {path} → {status}: {error}\n{answer}");
                }
            }
            None => assert!(
                answer.is_null(),
                "{method} {path} → {status} has a body: {answer}"
            ),
        }
        for name in response["headers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(n, _)| n)
        {
            let name = name.to_ascii_lowercase();
            assert!(
                headers.contains_key(&name),
                "{method} {path} → {status} lacks {name}"
            );
        }
        if (200..300).contains(&status)
            && let Some(body) = &body
        {
            let request = resolve(&self.spec, &operation["requestBody"]);
            let schema = &request["content"]["application/json"]["schema"];
            let sent: Value = serde_json::from_str(body).unwrap();
            if let Err(error) = validate(&self.spec, schema, &sent, "request") {
                panic!("{method} {path} accepted a body the file refuses: {error}");
            }
        }
        Answer {
            status,
            headers,
            body: answer,
        }
    }

    /// `method path` as the test user, with a JSON body.
    async fn user(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let token = self.gateway.token.clone();
        self.send(
            method,
            path,
            Auth::Bearer(&token),
            body.map(|b| b.to_string()),
        )
        .await
    }

    /// Asserts that the file's schema `name` refuses `body`, as the edge did.
    fn schema_refuses(&self, name: &str, body: &Value) {
        let schema = &self.spec["components"]["schemas"][name];
        let verdict = validate(&self.spec, schema, body, name);
        assert!(
            verdict.is_err(),
            "the file's {name} accepts {body}, which the edge refuses"
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
    let keys = api.user(M::GET, "/api/v1/keys", None).await.expect(200);
    assert_eq!(keys["data"][0]["provider"], "openai", "{keys}");
    api.send(M::GET, "/api/v1/keys", Auth::Nobody, None)
        .await
        .refused(401, "unauthenticated");
    let stranger = Auth::Bearer("kr_not-a-real-token-0123456789abcdef");
    api.send(M::GET, "/api/v1/keys", stranger, None)
        .await
        .refused(401, "unauthenticated");

    let new_key = json!({ "provider": "anthropic", "secret": "sk-ant-test-0123456789" });
    let created = api
        .user(M::POST, "/api/v1/keys", Some(new_key.clone()))
        .await;
    let location = created.headers["location"].to_str().unwrap().to_owned();
    let key = created.expect(201);
    let id = key["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/keys/{id}"));
    assert_eq!(
        (key["owner_id"].as_str(), key["enabled"].as_bool()),
        (Some(user.as_str()), Some(true))
    );
    assert!(
        key["fingerprint"].as_str().unwrap().ends_with("6789"),
        "{key}"
    );
    let error = api
        .user(M::POST, "/api/v1/keys", Some(new_key.clone()))
        .await
        .refused(409, "already_exists");
    assert_eq!(error["field"], "provider");
    let bad_json = Some("{\"provider\": ".to_owned());
    let error = api
        .send(M::POST, "/api/v1/keys", Auth::Bearer(&token), bad_json)
        .await
        .refused(400, "invalid_request");
    assert!(error["field"].is_null(), "{error}");
    let typo = json!({ "provider": "anthropic", "secret": "sk-ant-test-0123456789", "lable": "x" });
    let error = api
        .user(M::POST, "/api/v1/keys", Some(typo.clone()))
        .await
        .refused(400, "invalid_request");
    assert_eq!(error["field"], "lable");
    api.schema_refuses("NewKey", &typo);
    let huge = json!({ "provider": "anthropic", "secret": "x".repeat(BODY_LIMIT) });
    api.user(M::POST, "/api/v1/keys", Some(huge))
        .await
        .refused(413, "payload_too_large");
    let anonymous = api
        .send(
            M::POST,
            "/api/v1/keys",
            Auth::Nobody,
            Some(new_key.to_string()),
        )
        .await;
    anonymous.refused(401, "unauthenticated");

    // A test call: the mock provider does not know this key, and the outcome says so.
    let test = api
        .user(M::POST, &format!("/api/v1/keys/{id}/test"), None)
        .await
        .expect(200);
    assert_eq!(
        (test["outcome"].as_str(), test["ok"].as_bool()),
        (Some("key_invalid"), Some(false)),
        "{test}"
    );
    api.user(M::POST, "/api/v1/keys/cred_unknown/test", None)
        .await
        .refused(404, "not_found");

    let key_path = format!("/api/v1/keys/{id}");
    let disabled = api
        .user(M::PATCH, &key_path, Some(json!({ "enabled": false })))
        .await
        .expect(200);
    assert_eq!(disabled["enabled"], false);
    let secret = json!({ "secret": "sk-ant-test-9876543210" });
    let rotated = api
        .user(M::PATCH, &key_path, Some(secret))
        .await
        .expect(200);
    assert!(
        rotated["fingerprint"].as_str().unwrap().ends_with("3210"),
        "{rotated}"
    );
    assert_eq!(
        rotated["enabled"], false,
        "a new secret leaves the key disabled"
    );
    api.user(M::PATCH, &key_path, Some(json!({})))
        .await
        .refused(400, "invalid_request");
    api.schema_refuses("KeyUpdate", &json!({}));
    let enable = Some(json!({ "enabled": true }));
    api.user(M::PATCH, "/api/v1/keys/cred_unknown", enable)
        .await
        .refused(404, "not_found");
    api.user(M::DELETE, &key_path, None).await.expect(204);
    api.user(M::DELETE, &key_path, None)
        .await
        .refused(404, "not_found");
    let keys = api.user(M::GET, "/api/v1/keys", None).await.expect(200);
    assert_eq!(keys["data"].as_array().unwrap().len(), 1, "{keys}");

    // Providers, with the token in `x-api-key`; the file lists the same provider ids.
    let providers = api
        .send(M::GET, "/api/v1/providers", Auth::ApiKey(&token), None)
        .await
        .expect(200);
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
    api.send(M::GET, "/api/v1/providers", Auth::Nobody, None)
        .await
        .refused(401, "unauthenticated");

    // Provider settings.
    let settings = api
        .user(M::GET, "/api/v1/provider-settings", None)
        .await
        .expect(200);
    assert_eq!(settings["data"], json!([]));
    let setting = json!({ "provider": "google", "mode": "managed", "fallback_policy": "never" });
    let saved = api
        .user(M::PUT, "/api/v1/provider-settings", Some(setting.clone()))
        .await
        .expect(200);
    assert_eq!(
        (saved["owner_id"].as_str(), saved["mode"].as_str()),
        (Some(user.as_str()), Some("managed"))
    );
    let bad_mode = json!({ "provider": "google", "mode": "sometimes" });
    let error = api
        .user(M::PUT, "/api/v1/provider-settings", Some(bad_mode.clone()))
        .await
        .refused(400, "invalid_request");
    assert_eq!(error["field"], "mode");
    api.schema_refuses("ProviderSettingUpdate", &bad_mode);
    let settings = api
        .user(M::GET, "/api/v1/provider-settings", None)
        .await
        .expect(200);
    assert_eq!(
        settings["data"][0]["fallback_policy"], "never",
        "{settings}"
    );

    // Money.
    let balance = api.user(M::GET, "/api/v1/balance", None).await.expect(200);
    assert_eq!(balance["principal_id"], user.as_str());
    api.user(M::GET, "/api/v1/usage", None).await.expect(200);
    let usage = api
        .user(M::GET, "/api/v1/usage?month=2026-01", None)
        .await
        .expect(200);
    assert_eq!(usage["month"], "2026-01");
    let error = api
        .user(M::GET, "/api/v1/usage?month=2026-13", None)
        .await
        .refused(400, "invalid_request");
    assert_eq!(error["field"], "month");

    // Orgs: one the user owns, one they are a plain member of, one they are not in.
    let (other, _) = api.gateway.vault.user_with_token("other-user").await;
    let owned = api.gateway.vault.org("owned", &user, &[]).await;
    let member = api
        .gateway
        .vault
        .org("member", &other, &[(user.as_str(), Role::Member)])
        .await;
    let foreign = api.gateway.vault.org("foreign", &other, &[]).await;
    let org_keys = format!("/api/v1/orgs/{owned}/keys");
    assert_eq!(
        api.user(M::GET, &org_keys, None).await.expect(200)["data"],
        json!([])
    );
    let org_key =
        json!({ "provider": "openai", "secret": "sk-org-openai-0123456789", "label": "team" });
    let created = api
        .user(M::POST, &org_keys, Some(org_key.clone()))
        .await
        .expect(201);
    assert_eq!(created["owner_id"], owned.as_str());
    let keys = api.user(M::GET, &org_keys, None).await.expect(200);
    assert_eq!(keys["data"].as_array().unwrap().len(), 1, "{keys}");
    let audit = format!("/api/v1/orgs/{owned}/audit");
    let page = api
        .user(M::GET, &format!("{audit}?page_size=1"), None)
        .await
        .expect(200);
    assert_eq!(page["data"][0]["action"], "credential.create", "{page}");
    let next = page["next_page_token"]
        .as_str()
        .expect("the org's creation is on the next page");
    let path = format!("{audit}?page_size=1&page_token={next}");
    let page = api.user(M::GET, &path, None).await.expect(200);
    assert_eq!(page["data"][0]["action"], "org.create", "{page}");
    let error = api
        .user(M::GET, &format!("{audit}?page_size=0"), None)
        .await
        .refused(400, "invalid_request");
    assert_eq!(error["field"], "page_size");
    api.user(
        M::GET,
        &format!("/api/v1/provider-settings?org={owned}"),
        None,
    )
    .await
    .expect(200);
    api.user(M::GET, &format!("/api/v1/usage?org={owned}"), None)
        .await
        .expect(200);
    let balance = api.user(M::GET, "/api/v1/balance", None).await.expect(200);
    assert_eq!(
        balance["org_budgets"].as_array().unwrap().len(),
        2,
        "{balance}"
    );

    // A plain member reads the org's keys, but may not add one, read its audit or set it up.
    api.user(M::GET, &format!("/api/v1/orgs/{member}/keys"), None)
        .await
        .expect(200);
    let add = Some(org_key.clone());
    api.user(M::POST, &format!("/api/v1/orgs/{member}/keys"), add)
        .await
        .refused(403, "permission_denied");
    api.user(M::GET, &format!("/api/v1/orgs/{member}/audit"), None)
        .await
        .refused(403, "permission_denied");
    let path = format!("/api/v1/provider-settings?org={member}");
    api.user(M::PUT, &path, Some(setting.clone()))
        .await
        .refused(403, "permission_denied");

    // An org the user is not in does not exist for them, whatever the call.
    let calls = [
        (M::GET, format!("/api/v1/orgs/{foreign}/keys"), None),
        (
            M::POST,
            format!("/api/v1/orgs/{foreign}/keys"),
            Some(org_key),
        ),
        (M::GET, format!("/api/v1/orgs/{foreign}/audit"), None),
        (
            M::GET,
            format!("/api/v1/provider-settings?org={foreign}"),
            None,
        ),
        (
            M::PUT,
            format!("/api/v1/provider-settings?org={foreign}"),
            Some(setting),
        ),
        (M::GET, format!("/api/v1/usage?org={foreign}"), None),
    ];
    for (method, path, body) in calls {
        api.user(method, &path, body)
            .await
            .refused(404, "not_found");
    }

    // No other method answers on the file's paths.
    for (template, item) in api.spec["paths"].as_object().unwrap() {
        let path: Vec<&str> = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect();
        let path = path.join("/");
        for method in METHODS.iter().filter(|method| item.get(**method).is_none()) {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, _, _) = api
                .gateway
                .send(method.clone(), &path, Some(&token), &[], None)
                .await;
            assert_eq!(
                status, 405,
                "{method} {path} is routed but not in openapi.json"
            );
        }
    }

    // The vault down: a 503 in the same error shape.
    api.gateway.vault.stop().await;
    api.user(M::GET, "/api/v1/balance", None)
        .await
        .refused(503, "unavailable");

    assert_eq!(
        api.called.into_inner(),
        listed(),
        "every operation in the file is called"
    );
}
