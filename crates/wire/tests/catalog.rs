//! The model catalog and registry: the built-in file is valid, ids resolve plain and pinned,
//! unknown ids get close-match hints, prices are exact integers, overrides replace entries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_wire::catalog::{Catalog, CatalogError, Resolution};
use keyroute_wire::registry::{self, PROVIDERS, WireFormat};

#[test]
fn the_builtin_catalog_is_valid_and_covers_every_routable_provider() {
    let catalog = Catalog::builtin().unwrap();
    assert!(catalog.models().len() >= 15);
    for provider in [
        "openai",
        "anthropic",
        "google",
        "vertex",
        "bedrock",
        "mistral",
        "deepseek",
        "xai",
        "moonshot",
        "perplexity",
        "zai",
        "openrouter",
    ] {
        assert!(
            catalog
                .models()
                .iter()
                .any(|m| m.offers.iter().any(|o| o.provider.id == provider)),
            "{provider} has no model"
        );
    }
    let ids: Vec<&str> = PROVIDERS.iter().map(|p| p.id).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "provider ids are unique");
    assert_eq!(
        registry::provider("mistral").unwrap().format,
        WireFormat::OpenAiChat(keyroute_wire::openai::Quirks::MISTRAL)
    );
}

#[test]
fn ids_resolve_plain_and_pinned() {
    let catalog = Catalog::builtin().unwrap();
    let Resolution::Catalog { model, offers } = catalog.resolve("claude-sonnet-4-5").unwrap()
    else {
        panic!("catalog")
    };
    assert_eq!(model.display_name, "Claude Sonnet 4.5");
    assert_eq!(
        offers.iter().map(|o| o.provider.id).collect::<Vec<_>>(),
        ["anthropic", "bedrock", "vertex", "openrouter"]
    );
    let Resolution::Catalog { offers, .. } = catalog.resolve("bedrock/claude-sonnet-4-5").unwrap()
    else {
        panic!("pinned")
    };
    assert_eq!(
        (offers.len(), offers[0].upstream.as_str()),
        (1, "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    );
    let Resolution::Catalog { offers, .. } = catalog
        .resolve("vertex/claude-sonnet-4-5@20250929")
        .unwrap()
    else {
        panic!("by upstream")
    };
    assert_eq!(offers[0].format, "anthropic");
    assert_eq!(
        catalog.resolve("openai/gpt-5-preview").unwrap(),
        Resolution::Uncataloged {
            provider: registry::provider("openai").unwrap(),
            upstream: "gpt-5-preview".into()
        }
    );
    assert_eq!(
        catalog.resolve("azure/prod-4o").unwrap(),
        Resolution::AzureDeployment {
            label: "prod-4o".into()
        }
    );
    assert_eq!(
        catalog.resolve("custom/ollama/llama3.1:8b").unwrap(),
        Resolution::CustomEndpoint {
            name: "ollama".into(),
            upstream: "llama3.1:8b".into()
        }
    );
    assert!(catalog.resolve("custom/ollama").is_err());
}

#[test]
fn unknown_models_get_close_matches() {
    let catalog = Catalog::builtin().unwrap();
    let error = catalog.resolve("gpt-4o-mni").unwrap_err();
    assert_eq!(
        error.suggestions.first().map(String::as_str),
        Some("gpt-4o-mini")
    );
    assert!(
        error.to_string().contains("did you mean gpt-4o-mini"),
        "{error}"
    );
    let error = catalog.resolve("claude-sonet-4-5").unwrap_err();
    assert!(error.suggestions.contains(&"claude-sonnet-4-5".to_owned()));
    let error = catalog.resolve("claude-son").unwrap_err();
    let mut partial = error.suggestions.clone();
    partial.sort();
    assert_eq!(
        partial,
        ["claude-sonnet-4-5", "claude-sonnet-4-6", "claude-sonnet-5"],
        "a partial id: the first three, in order"
    );
    let error = catalog.resolve("totally-unrelated-thing").unwrap_err();
    assert!(error.suggestions.is_empty());
    assert_eq!(
        error.to_string(),
        "model \"totally-unrelated-thing\" is not known"
    );
}

#[test]
fn prices_are_integer_micro_dollars() {
    let catalog = Catalog::builtin().unwrap();
    let offer = &catalog.model("gpt-4o-mini").unwrap().offers[0];
    assert_eq!(
        (offer.input_per_million, offer.output_per_million),
        (150_000, 600_000)
    );
    assert_eq!(offer.cost(1_000_000, 1_000_000), 750_000);
    assert_eq!(offer.cost(1_000, 500), 150 + 300);
    assert_eq!(offer.cost(1, 0), 1, "rounded up, never free");
    assert_eq!(offer.cost(0, 0), 0);
    // 128-bit arithmetic: the largest token counts cannot wrap.
    let exact = (u128::from(u64::MAX) * 750_000).div_ceil(1_000_000);
    assert_eq!(u128::from(offer.cost(u64::MAX, u64::MAX)), exact);
}

#[test]
fn overrides_replace_and_add_and_bad_files_are_refused() {
    let overrides = Catalog::from_json(r#"{"models":[
        {"id":"gpt-4o-mini","offers":[{"provider":"openai","upstream":"gpt-4o-mini","input_per_million":0.1,"output_per_million":0.4}]},
        {"id":"my-local-llama","offers":[{"provider":"custom","upstream":"llama3","input_per_million":0,"output_per_million":0}]}
    ]}"#)
    .unwrap();
    let catalog = Catalog::builtin().unwrap().merged(overrides);
    assert_eq!(catalog.model("gpt-4o-mini").unwrap().offers.len(), 1);
    assert_eq!(
        catalog.model("gpt-4o-mini").unwrap().offers[0].input_per_million,
        100_000
    );
    assert!(catalog.model("my-local-llama").is_some());
    assert!(catalog.model("gpt-4o").is_some(), "others stay");

    let bad = [
        (
            r#"{"models":[{"id":"x","offers":[{"provider":"nope","upstream":"x","input_per_million":1,"output_per_million":1}]}]}"#,
            "unknown provider",
        ),
        (
            r#"{"models":[{"id":"x","offers":[{"provider":"openai","upstream":"x","input_per_million":-1,"output_per_million":1}]}]}"#,
            "non-negative",
        ),
        (
            r#"{"models":[{"id":"x","offers":[]}]}"#,
            "at least one offer",
        ),
        (
            r#"{"models":[{"id":"x","offers":[{"provider":"openai","upstream":"x","input_per_million":1,"output_per_million":1}]},{"id":"x","offers":[{"provider":"openai","upstream":"x","input_per_million":1,"output_per_million":1}]}]}"#,
            "twice",
        ),
    ];
    for (text, expected) in bad {
        let error = Catalog::from_json(text).unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
    }
    assert!(matches!(
        Catalog::from_json("{"),
        Err(CatalogError::Parse(_))
    ));
}
