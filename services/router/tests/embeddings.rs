//! Embeddings through the router: every provider with an embeddings endpoint over real HTTP
//! to the mock (OpenAI, Azure, Mistral, a custom endpoint, AI Studio, Vertex, Bedrock Titan
//! and Cohere by SigV4 and API key), the `Embed` RPC over real gRPC with a caller's key and a
//! managed key charged exactly (input tokens at the catalog input price), and the clear
//! refusals: a chat model, and keys whose provider has no embeddings endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use keyroute_mock_providers::{
    Fault, Mock, MockServer, default_dimensions, embedding, embedding_tokens,
};
use keyroute_proto::router::v1::{EmbedRequest, KeySource};
use keyroute_proto::vault::v1::{CreateCredentialRequest, GetBalanceRequest, GetUsageRequest};
use keyroute_router::cache::leases::LeasedKey;
use keyroute_router::policy::candidates::candidates;
use keyroute_router::policy::cooldowns::Cooldowns;
use keyroute_router::upstream::{Timeouts, Upstreams};
use keyroute_test_support::{TestVault, with_token};
use keyroute_wire::catalog::Catalog;
use keyroute_wire::contract::Operation;
use support::leased::{key, lease};
use support::{TEST_RSA_KEY, stack, test_rsa_public_key};
use tonic::Code;

fn embed(model: &str, inputs: &[&str], dimensions: Option<u32>) -> EmbedRequest {
    EmbedRequest {
        model: model.into(),
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        dimensions,
        ..Default::default()
    }
}

#[tokio::test]
async fn every_provider_with_embeddings_serves_them_in_its_own_shape() {
    let mock = Mock::new();
    for (provider, secret) in [
        ("openai", "sk-a"),
        ("mistral", "sk-mis"),
        ("google", "AIza-g"),
        ("azure", "az-key"),
        ("bedrock", "ABSK-key"),
        ("deepseek", "sk-custom"),
    ] {
        mock.add_key(provider, secret);
    }
    mock.add_aws_credentials(
        "AKIAROUTERTEST000001",
        "router/secret/0123456789abcdefghijklmno",
    );
    mock.add_service_account("gw@p1.iam.gserviceaccount.com", &test_rsa_public_key());
    let server = MockServer::start(mock).await.unwrap();
    let overrides = ["openai", "mistral", "google", "bedrock", "vertex"]
        .iter()
        .map(|p| ((*p).to_owned(), server.base_url(p)))
        .collect();
    let loopback = keyroute_egress::EgressPolicy::allowing_loopback();
    let upstreams = Upstreams::with_egress(overrides, Timeouts::default(), loopback).unwrap();
    let catalog = Catalog::builtin().unwrap();
    let account = serde_json::json!({
        "type": "service_account", "project_id": "p1", "private_key_id": "kid", "private_key": TEST_RSA_KEY,
        "client_email": "gw@p1.iam.gserviceaccount.com", "token_uri": server.vertex_token_uri(),
    })
    .to_string();
    let aws = r#"{"accessKeyId":"AKIAROUTERTEST000001","secretAccessKey":"router/secret/0123456789abcdefghijklmno"}"#;
    let azure_base = format!("http://{}/azure", server.addr);
    let custom_base = server.base_url("deepseek");
    let vertex = [("project_id", "p1"), ("location", "us-central1")];
    // (model, key, mock provider, path the mock saw, vectors' length, calls made)
    let cases: Vec<(&str, LeasedKey, &str, &str, usize, usize)> = vec![
        (
            "text-embedding-3-small",
            key("oa", "openai", "", "sk-a", &[]),
            "openai",
            "/v1/embeddings",
            64,
            1,
        ),
        (
            "azure/emb",
            key(
                "az",
                "azure",
                "emb",
                "az-key",
                &[("endpoint", &azure_base), ("deployment", "emb-small")],
            ),
            "azure",
            "/openai/deployments/emb-small/embeddings?api-version=2024-10-21",
            64,
            1,
        ),
        (
            "codestral-embed",
            key("mis", "mistral", "", "sk-mis", &[]),
            "mistral",
            "/v1/embeddings",
            64,
            1,
        ),
        (
            "custom/mine/nomic-embed",
            key(
                "cu",
                "custom",
                "mine",
                r#"{"apiKey":"sk-custom"}"#,
                &[("base_url", &custom_base)],
            ),
            "deepseek",
            "/v1/embeddings",
            64,
            1,
        ),
        (
            "gemini-embedding-001",
            key("goog", "google", "", "AIza-g", &[]),
            "google",
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
            64,
            1,
        ),
        (
            "vertex/gemini-embedding-001",
            key("vx", "vertex", "", &account, &vertex),
            "vertex",
            "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-embedding-001:predict",
            64,
            3,
        ),
        (
            "amazon.titan-embed-text-v2:0",
            key(
                "br-sig",
                "bedrock",
                "",
                aws,
                &[("auth", "sigv4"), ("region", "us-east-1")],
            ),
            "bedrock",
            "/model/amazon.titan-embed-text-v2%3A0/invoke",
            256,
            3,
        ),
        (
            "cohere.embed-multilingual-v3",
            key(
                "br-key",
                "bedrock",
                "",
                "ABSK-key",
                &[("auth", "api_key"), ("region", "us-west-2")],
            ),
            "bedrock",
            "/model/cohere.embed-multilingual-v3/invoke",
            1024,
            1,
        ),
    ];
    let texts = ["the first text", "a second one", "third"];
    for (model, credential, provider, path, length, calls) in cases {
        let label = format!("{model} via {}", credential.id);
        let lease = lease(vec![credential]);
        let resolution = catalog.resolve(model).unwrap();
        let found = candidates(&resolution, &lease, None, &Cooldowns::new())
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(found[0].contract.supports(Operation::Embed), "{label}");
        let before = server.mock.requests_for(provider).len();
        // Cohere v3 and the mock's Titan take their own lengths; the rest shorten to 64.
        let asked = match length {
            64 => Some(64),
            256 => Some(256),
            _ => None,
        };
        let answer = upstreams
            .embed(found[0].target(), &embed(model, &texts, asked))
            .await
            .unwrap_or_else(|e| panic!("{label}: {}", e.error));
        let expected: Vec<Vec<f32>> = texts.iter().map(|t| embedding(t, length)).collect();
        assert_eq!(answer.vectors, expected, "{label}");
        let sent: Vec<_> = server.mock.requests_for(provider)[before..]
            .iter()
            .filter(|r| r.path != "/token")
            .cloned()
            .collect();
        assert_eq!(sent.len(), calls, "{label}: {sent:?}");
        assert_eq!(sent[0].path, path, "{label}");
        let counted: u64 = texts.iter().map(|t| embedding_tokens(t)).sum();
        match provider {
            // AI Studio and Cohere on Bedrock count nothing: keyroute estimates.
            "google" => assert!(answer.estimated, "{label}"),
            "bedrock" if model.starts_with("cohere") => assert!(answer.estimated, "{label}"),
            _ => {
                assert!(!answer.estimated, "{label}");
                assert_eq!(answer.input_tokens, counted, "{label}");
            }
        }
    }
    assert_eq!(default_dimensions("cohere.embed-english-v3"), 1024);
}

async fn balance(vault: &TestVault, principal: &str) -> i64 {
    vault
        .client("admin")
        .get_balance(GetBalanceRequest {
            principal_id: principal.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balance_micros
}

async fn ledger_cost(vault: &TestVault, owner: &str) -> (u64, i64) {
    let usage = vault
        .client("admin")
        .get_usage(GetUsageRequest {
            owner_id: owner.into(),
            month: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let calls = usage.lines.iter().map(|line| line.requests).sum();
    let cost = usage.lines.iter().map(|line| line.cost_micros).sum();
    (calls, cost)
}

#[tokio::test]
async fn the_embed_rpc_serves_own_and_managed_keys_and_charges_managed_input_exactly() {
    let stack = stack().await;
    let mut edge = stack.client("edge");

    // The caller's own OpenAI key: BYOK, nothing charged.
    let own = edge
        .embed(with_token(
            embed("text-embedding-3-small", &["hello world", "again"], Some(8)),
            &stack.token,
        ))
        .await
        .unwrap();
    let provider = own
        .metadata()
        .get(keyroute_proto::contract::header::PROVIDER)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(provider, "openai");
    let own = own.into_inner();
    assert_eq!(own.embeddings.len(), 2);
    assert_eq!(own.embeddings[1].index, 1);
    assert_eq!(own.embeddings[1].values, embedding("again", 8));
    assert_eq!(own.usage.unwrap().input_tokens, 3);
    let served = own.served_by.unwrap();
    assert_eq!(served.key_source, KeySource::Byok as i32);
    assert!(!served.request_id.is_empty());

    // A managed Mistral key: 3,000 words are 3,000 tokens at $0.10 a million: 300 micros.
    stack.mock.add_key("mistral", "sk-platform-mistral-0123");
    stack
        .vault
        .client("admin")
        .create_credential(CreateCredentialRequest {
            owner_id: "platform".into(),
            provider: "mistral".into(),
            secret: "sk-platform-mistral-0123".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    stack.leases.clear();
    let before = balance(&stack.vault, &stack.user).await;
    let long = "word ".repeat(1000);
    let managed = edge
        .embed(with_token(
            embed("mistral-embed", &[&long, &long, &long], None),
            &stack.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        managed.served_by.unwrap().key_source,
        KeySource::Managed as i32
    );
    assert_eq!(managed.usage.unwrap().input_tokens, 3000);
    assert_eq!(managed.embeddings[0].values.len(), 1024);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (calls, cost) = ledger_cost(&stack.vault, &stack.user).await;
        if calls >= 2 {
            // The own key's call is priced too (3 tokens at $0.02 a million, rounded up to
            // one micro-dollar) though not charged; the managed one is 300.
            assert_eq!(cost, 1 + 300, "each call's input at the catalog price");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "usage never recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(balance(&stack.vault, &stack.user).await, before - 300);

    // A chat model is not embedded with.
    let refused = edge
        .embed(with_token(
            embed("gpt-4o-mini", &["hi"], None),
            &stack.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("not an embedding model"),
        "{refused:?}"
    );

    // Keys whose provider has no embeddings endpoint are skipped; none left is a 400.
    stack.mock.add_key("anthropic", "sk-user-anthropic-0123456");
    stack
        .vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: stack.user.clone(),
                provider: "anthropic".into(),
                secret: "sk-user-anthropic-0123456".into(),
                ..Default::default()
            },
            &stack.token,
        ))
        .await
        .unwrap();
    stack.leases.clear();
    let refused = edge
        .embed(with_token(
            embed("anthropic/voyage-3", &["hi"], None),
            &stack.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("no embeddings endpoint"),
        "{refused:?}"
    );

    // Empty inputs are the caller's error.
    let refused = edge
        .embed(with_token(
            embed("text-embedding-3-small", &["a", ""], None),
            &stack.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("inputs[1]"), "{refused:?}");
}

#[tokio::test]
async fn a_call_that_fails_part_way_is_charged_for_the_batches_answered() {
    let stack = stack().await;
    let mut edge = stack.client("edge");
    // A managed Google key whose second request fails: AI Studio takes 100 texts a batch,
    // so 101 texts are two requests, and the provider billed the first.
    stack.mock.add_key("google", "AIza-platform-0123");
    stack.mock.set_fault(
        "AIza-platform-0123",
        Fault {
            status: Some(500),
            pass_first: 1,
            ..Fault::default()
        },
    );
    stack
        .vault
        .client("admin")
        .create_credential(CreateCredentialRequest {
            owner_id: "platform".into(),
            provider: "google".into(),
            secret: "AIza-platform-0123".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    stack.leases.clear();
    let before = balance(&stack.vault, &stack.user).await;
    let texts = vec!["word"; 101];
    let failed = edge
        .embed(with_token(
            embed("gemini-embedding-001", &texts, None),
            &stack.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::Unavailable, "{failed:?}");
    // AI Studio reports no usage: the first batch's 100 texts are estimated at one token
    // each, at the catalog input price, rounded up.
    let catalog = Catalog::builtin().unwrap();
    let price = catalog.model("gemini-embedding-001").unwrap().offers[0].price();
    let expected = i64::try_from(price.cost(100, 0)).unwrap();
    assert!(expected > 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while balance(&stack.vault, &stack.user).await != before - expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the answered batch was never charged: balance {} (before {before}, expected -{expected})",
            balance(&stack.vault, &stack.user).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
