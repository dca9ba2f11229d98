//! The provider contract: chosen from registry data, it says which operations a provider
//! serves, where its API is for a key, how the key authenticates (and never shows it), and
//! which format the request, answer and stream are in, Vertex's two publishers included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use keyroute_wire::canonical::pb;
use keyroute_wire::contract::{Authorization, Contract, Operation};
use keyroute_wire::http::HttpRequest;
use keyroute_wire::registry::{self, PROVIDERS};

const CANARY: &str = "sk-canary-3f9a1c77d2";

fn config(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn contract<'a>(id: &str, model: &str, config: &'a HashMap<String, String>) -> Contract<'a> {
    Contract::new(registry::provider(id).unwrap(), None, model, config)
}

fn hello() -> pb::ChatRequest {
    pb::ChatRequest {
        model: "m".into(),
        messages: vec![pb::Message {
            role: pb::Role::User as i32,
            content: vec![pb::ContentPart {
                part: Some(pb::content_part::Part::Text("hi".into())),
                ..Default::default()
            }],
            name: String::new(),
        }],
        ..Default::default()
    }
}

#[test]
fn every_provider_chats_and_only_anthropic_counts_and_only_mistral_fills_in() {
    let empty = HashMap::new();
    for provider in PROVIDERS {
        let contract = Contract::new(provider, None, "some-model", &empty);
        assert!(contract.supports(Operation::Chat), "{}", provider.id);
        assert_eq!(
            contract.supports(Operation::CountTokens),
            provider.id == "anthropic",
            "{}",
            provider.id
        );
        assert_eq!(
            contract.supports(Operation::FillInTheMiddle),
            provider.id == "mistral",
            "{}",
            provider.id
        );
    }
    // A refused operation is a 400 that names the provider, not a call.
    let error = contract("openai", "gpt-4o", &empty)
        .count_tokens_request(&hello(), "gpt-4o")
        .unwrap_err();
    assert_eq!(error.status, 400);
    let mut fim = hello();
    fim.fim = Some(pb::FillInTheMiddle {
        prompt: "def f(".into(),
        ..Default::default()
    });
    let error = contract("openai", "gpt-4o", &empty)
        .chat_request(&fim, "gpt-4o", false)
        .unwrap_err();
    assert!(error.message.contains("no FIM endpoint"), "{error}");
    let built = contract("mistral", "codestral-latest", &empty)
        .chat_request(&fim, "codestral-latest", false)
        .unwrap();
    assert_eq!(built.path, "/fim/completions");
}

#[test]
fn base_urls_come_from_the_registry_and_the_keys_config() {
    let empty = HashMap::new();
    assert_eq!(
        contract("openai", "gpt-4o", &empty).base_url("fp").unwrap(),
        "https://api.openai.com/v1"
    );
    let bedrock = config(&[("region", "eu-west-3")]);
    assert_eq!(
        contract("bedrock", "m", &bedrock).base_url("fp").unwrap(),
        "https://bedrock-runtime.eu-west-3.amazonaws.com"
    );
    for (location, host) in [
        (
            "europe-west4",
            "https://europe-west4-aiplatform.googleapis.com",
        ),
        ("global", "https://aiplatform.googleapis.com"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com"),
    ] {
        let vertex = config(&[("location", location)]);
        assert_eq!(
            contract("vertex", "m", &vertex).base_url("fp").unwrap(),
            host
        );
    }
    let azure = config(&[
        ("endpoint", "https://res.openai.azure.com"),
        ("deployment", "prod"),
    ]);
    assert_eq!(
        contract("azure", "", &azure).base_url("fp").unwrap(),
        "https://res.openai.azure.com"
    );
    // Missing config: this key cannot work, another may; the message names the key.
    let error = contract("bedrock", "m", &empty)
        .base_url("bedrock:…ABCD")
        .unwrap_err();
    assert_eq!(error.status, 401);
    assert!(error.retryable);
    assert!(
        error.message.contains("bedrock:…ABCD has no region"),
        "{error}"
    );
    assert!(contract("custom", "m", &empty).base_url("fp").is_err());
}

#[test]
fn an_azure_deployment_names_the_model_and_sits_in_the_path() {
    let azure = config(&[("endpoint", "https://res"), ("deployment", "prod-4o")]);
    let contract = contract("azure", "", &azure);
    assert_eq!(contract.upstream_model("gpt-4o"), "prod-4o");
    let built = contract.chat_request(&hello(), "prod-4o", false).unwrap();
    assert!(
        built.path.starts_with("/openai/deployments/prod-4o/"),
        "{}",
        built.path
    );
    let empty = HashMap::new();
    assert_eq!(
        self::contract("openai", "", &empty).upstream_model("gpt-4o"),
        "gpt-4o"
    );
}

#[test]
fn vertex_speaks_anthropic_for_claude_and_gemini_otherwise() {
    let vertex = config(&[("project_id", "p1"), ("location", "us-east5")]);
    let provider = registry::provider("vertex").unwrap();
    let claude = Contract::new(provider, Some("anthropic"), "claude-sonnet-4-6", &vertex);
    let built = claude
        .chat_request(&hello(), "claude-sonnet-4-6", true)
        .unwrap();
    assert!(
        built.path.contains("/publishers/anthropic/models/"),
        "{}",
        built.path
    );
    // By name when the catalog does not say.
    let by_name = Contract::new(provider, None, "claude-opus-4", &vertex);
    let built = by_name
        .chat_request(&hello(), "claude-opus-4", false)
        .unwrap();
    assert!(built.path.contains(":rawPredict"), "{}", built.path);
    let gemini = Contract::new(provider, Some("gemini"), "gemini-2.5-flash", &vertex);
    let built = gemini
        .chat_request(&hello(), "gemini-2.5-flash", false)
        .unwrap();
    assert!(
        built.path.contains("/publishers/google/models/"),
        "{}",
        built.path
    );
    // Vertex refuses in Google's envelope, the model in Anthropic's.
    let google = br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#;
    assert_eq!(claude.parse_error(429, None, google).message, "quota");
    let anthropic = br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#;
    let error = claude.parse_error(529, None, anthropic);
    assert_eq!(
        (error.error_type.as_str(), error.message.as_str()),
        ("overloaded_error", "busy")
    );
}

fn authorized(id: &str, secret: &str, pairs: &[(&str, &str)]) -> HttpRequest {
    let config = config(pairs);
    let contract = contract(id, "m", &config);
    let mut request = HttpRequest::post_json("/model/m/converse".into(), &serde_json::json!({}));
    let authorization = contract.authorization(secret).unwrap();
    let shown = format!("{authorization:?}");
    assert!(secret.is_empty() || !shown.contains(secret), "{shown}");
    authorization.apply(
        &mut request,
        "bedrock-runtime.us-east-1.amazonaws.com",
        1_700_000_000,
    );
    request
}

#[test]
fn keys_authenticate_as_each_provider_expects_and_never_show_in_debug() {
    let bearer = format!("Bearer {CANARY}");
    assert_eq!(
        authorized("openai", CANARY, &[]).header("authorization"),
        Some(bearer.as_str())
    );
    assert_eq!(
        authorized("anthropic", CANARY, &[]).header("x-api-key"),
        Some(CANARY)
    );
    assert_eq!(
        authorized("google", CANARY, &[]).header("x-goog-api-key"),
        Some(CANARY)
    );
    assert_eq!(
        authorized("azure", CANARY, &[]).header("api-key"),
        Some(CANARY)
    );
    // Custom endpoints: a JSON token, or nothing at all.
    let custom = format!(r#"{{"apiKey":"{CANARY}"}}"#);
    assert_eq!(
        authorized("custom", &custom, &[]).header("authorization"),
        Some(bearer.as_str())
    );
    assert_eq!(authorized("custom", "", &[]).header("authorization"), None);
    // Bedrock: an API key as a bearer, or a key pair signed with SigV4 for the key's region.
    let api_key = authorized("bedrock", CANARY, &[("auth", "api_key")]);
    assert_eq!(api_key.header("authorization"), Some(bearer.as_str()));
    let pair = format!(r#"{{"accessKeyId":"AKIDEXAMPLE","secretAccessKey":"{CANARY}"}}"#);
    let signed = authorized("bedrock", &pair, &[("region", "eu-west-3")]);
    let signature = signed.header("authorization").unwrap();
    assert!(
        signature.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-3/bedrock/aws4_request"
        ),
        "{signature}"
    );
    assert!(!signature.contains(CANARY));
    // An escaped character in the JSON still reads.
    let escaped = format!(r#"{{"accessKeyId":"AKIDEXAMPLE","secretAccessKey":"a\/{CANARY}"}}"#);
    assert!(
        authorized("bedrock", &escaped, &[])
            .header("authorization")
            .is_some()
    );
    // A secret that is not a key pair: this key is unusable, another may serve.
    let empty = HashMap::new();
    let bedrock = contract("bedrock", "m", &empty);
    for bad in [CANARY, r#"{"accessKeyId":"AKID"}"#] {
        let error = bedrock.authorization(bad).unwrap_err();
        assert_eq!(error.status, 401);
        assert!(error.retryable);
        assert!(!error.to_string().contains(CANARY));
    }
    let vertex = contract("vertex", "gemini-2.5-flash", &empty);
    let Authorization::ServiceAccount(account) = vertex.authorization(CANARY).unwrap() else {
        panic!("vertex keys are service accounts");
    };
    assert!(!format!("{account:?}").contains(CANARY));
    assert!(account.parse().is_err(), "not a key file");
}
