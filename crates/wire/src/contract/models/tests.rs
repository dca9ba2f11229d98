#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use super::*;
use crate::registry;

fn contract<'a>(provider: &str, config: &'a HashMap<String, String>) -> Contract<'a> {
    Contract::new(registry::provider(provider).unwrap(), None, "", config)
}

#[test]
fn each_listing_format_builds_its_own_request() {
    let none = HashMap::new();
    let openai = contract("openai", &none).list_models_request(None).unwrap();
    assert_eq!((openai.method, openai.path.as_str()), ("GET", "/models"));
    let mistral = contract("mistral", &none)
        .list_models_request(None)
        .unwrap();
    assert_eq!(mistral.path, "/models");
    let anthropic = contract("anthropic", &none)
        .list_models_request(Some("claude x/1"))
        .unwrap();
    assert_eq!(
        anthropic.path,
        "/v1/models?limit=1000&after_id=claude%20x%2F1"
    );
    assert_eq!(anthropic.header("anthropic-version"), Some("2023-06-01"));
    let gemini = contract("google", &none)
        .list_models_request(Some("tok=="))
        .unwrap();
    assert_eq!(
        gemini.path,
        "/v1beta/models?pageSize=1000&pageToken=tok%3D%3D"
    );
    assert!(gemini.body.is_empty() && anthropic.body.is_empty());
}

#[test]
fn deployments_regions_and_vertex_list_nothing() {
    let azure: HashMap<String, String> = [("deployment".to_owned(), "d".to_owned())].into();
    let none = HashMap::new();
    for (provider, config) in [("azure", &azure), ("bedrock", &none), ("vertex", &none)] {
        let contract = contract(provider, config);
        assert!(!contract.supports(Operation::ListModels), "{provider}");
        assert_eq!(contract.list_models_request(None).unwrap_err().status, 404);
    }
    assert!(contract("custom", &none).supports(Operation::ListModels));
}

#[test]
fn pages_are_read_in_each_shape() {
    let none = HashMap::new();
    let page = contract("mistral", &none)
        .parse_model_list(
            200,
            br#"{"object":"list","data":[
                {"id":"mistral-small-latest","object":"model","capabilities":{"completion_chat":true}},
                {"id":"mistral-embed","object":"model","capabilities":{"completion_chat":false}},
                {"id":"gpt-4o","object":"model","owned_by":"system"}]}"#,
        )
        .unwrap();
    let ids: Vec<&str> = page.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["mistral-small-latest", "gpt-4o"]);
    assert_eq!(page.next, None);

    let page = contract("anthropic", &none)
        .parse_model_list(
            200,
            br#"{"data":[{"type":"model","id":"claude-a","display_name":"Claude A","created_at":"2025-01-01T00:00:00Z"}],
                "has_more":true,"first_id":"claude-a","last_id":"claude-a"}"#,
        )
        .unwrap();
    assert_eq!(page.models[0].display_name, "Claude A");
    assert_eq!(page.next.as_deref(), Some("claude-a"));

    let page = contract("google", &none)
        .parse_model_list(
            200,
            br#"{"models":[
                {"name":"models/gemini-x","displayName":"Gemini X","supportedGenerationMethods":["generateContent","countTokens"]},
                {"name":"models/embedding-001","supportedGenerationMethods":["embedContent"]}],
                "nextPageToken":"p2"}"#,
        )
        .unwrap();
    assert_eq!(page.models.len(), 1);
    assert_eq!(page.models[0].id, "gemini-x");
    assert_eq!(page.next.as_deref(), Some("p2"));
    assert!(
        contract("google", &none)
            .parse_model_list(200, b"{}")
            .unwrap()
            .models
            .is_empty()
    );
}

#[test]
fn refusals_and_garbage_are_errors() {
    let none = HashMap::new();
    let refused = contract("openai", &none).parse_model_list(
        401,
        br#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error"}}"#,
    );
    assert_eq!(refused.unwrap_err().status, 401);
    let garbage = contract("anthropic", &none).parse_model_list(200, b"<html>");
    assert_eq!(garbage.unwrap_err().status, 502);
    let shapeless = contract("openai", &none).parse_model_list(200, br#"{"data":7}"#);
    assert!(shapeless.is_err());
    let long = format!(r#"{{"data":[{{"id":"{}"}},{{"id":""}}]}}"#, "x".repeat(300));
    let page = contract("openai", &none)
        .parse_model_list(200, long.as_bytes())
        .unwrap();
    assert!(
        page.models.is_empty(),
        "over-long and empty ids are dropped"
    );
}
