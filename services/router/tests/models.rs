//! Every key's models, end to end (vault, router, mock upstream): the list names plain and
//! provider-pinned ids for each key the caller can use, and each one routes where it says;
//! live discovery adds what a key's provider lists that the catalog lacks (BYOK only), the
//! key test shows it, and lists are kept per key, not asked for per listing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;

use keyroute_mock_providers::{Fault, Mock, MockServer, UNCATALOGED};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_test_support::{TestRouter, TestVault, credential_request, with_token};
use support::{ask, grant};
use tonic::transport::Channel;

const ANTHROPIC: &str = "sk-ant-user-0123456789";
const BEDROCK: &str = "ABSKQmVkcm9ja0FQSUtleS1tb2Nr";
const OPENAI: &str = "sk-user-openai-0123456789";
const CUSTOM: &str = "sk-custom-endpoint-0123456";
const PLATFORM_GOOGLE: &str = "AIza-platform-google-0123456";

struct Setup {
    vault: TestVault,
    server: MockServer,
    router: TestRouter,
    token: String,
    /// Credential ids by provider.
    keys: HashMap<&'static str, String>,
}

impl Setup {
    fn mock(&self) -> &Mock {
        &self.server.mock
    }

    fn client(&self) -> RouterServiceClient<Channel> {
        let tls = keyroute_tls::ClientTls::from_files(self.vault.pki.paths("edge")).unwrap();
        RouterServiceClient::new(
            keyroute_tls::channel(
                &self.router.addr.to_string(),
                tls,
                keyroute_tls::Identity::parse("router").unwrap(),
            )
            .unwrap(),
        )
    }

    async fn list(&self) -> Vec<ModelInfo> {
        self.client()
            .list_models(with_token(ListModelsRequest {}, &self.token))
            .await
            .unwrap()
            .into_inner()
            .models
    }

    async fn test_key(&self, provider: &str) -> TestCredentialResponse {
        self.test_key_with(provider, "").await
    }

    async fn test_key_with(&self, provider: &str, model: &str) -> TestCredentialResponse {
        self.client()
            .test_credential(with_token(
                TestCredentialRequest {
                    credential_id: self.keys[provider].clone(),
                    model: model.to_owned(),
                },
                &self.token,
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn call(&self, model: &str) -> Result<ServedBy, tonic::Status> {
        let response = self
            .client()
            .complete(with_token(
                CompleteRequest {
                    request: Some(ask(model, "which way?")),
                },
                &self.token,
            ))
            .await?;
        Ok(response.into_inner().response.unwrap().served_by.unwrap())
    }

    /// GET model-list requests the mock received for `provider`.
    fn list_calls(&self, provider: &str) -> usize {
        self.mock()
            .requests_for(provider)
            .iter()
            .filter(|r| r.method == "GET")
            .count()
    }
}

/// A user with Anthropic, Bedrock (API key), OpenAI and custom-endpoint keys; the platform
/// holds a managed Google key; everything upstream is the mock.
async fn setup() -> Setup {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("lister").await;
    let mock = Mock::new();
    mock.add_key("anthropic", ANTHROPIC);
    mock.add_key("bedrock", BEDROCK);
    mock.add_key("openai", OPENAI);
    mock.add_key("custom", CUSTOM);
    mock.add_key("google", PLATFORM_GOOGLE);
    let server = MockServer::start(mock).await.unwrap();
    let custom_base = server.base_url("custom");
    let mut keys = HashMap::new();
    for (provider, label, secret, config) in [
        ("anthropic", "", ANTHROPIC, vec![]),
        ("bedrock", "", BEDROCK, vec![("region", "us-east-1")]),
        ("openai", "", OPENAI, vec![]),
        (
            "custom",
            "mine",
            CUSTOM,
            vec![("base_url", custom_base.as_str())],
        ),
    ] {
        let created = vault
            .client("edge")
            .create_credential(with_token(
                credential_request(&user, provider, label, secret, &config),
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .credential
            .unwrap();
        keys.insert(provider, created.id);
    }
    vault
        .client("admin")
        .create_credential(credential_request(
            "platform",
            "google",
            "",
            PLATFORM_GOOGLE,
            &[],
        ))
        .await
        .unwrap();
    grant(&vault, &user, 10_000_000).await;
    let base_urls = ["anthropic", "bedrock", "openai", "google", "mistral"]
        .iter()
        .map(|p| ((*p).to_owned(), server.base_url(p)))
        .collect();
    let router = TestRouter::start(&vault, base_urls).await;
    Setup {
        vault,
        server,
        router,
        token,
        keys,
    }
}

#[tokio::test]
async fn with_anthropic_and_bedrock_keys_both_ids_are_listed_and_each_routes_where_it_says() {
    let setup = setup().await;
    let models = setup.list().await;
    let find = |id: &str| models.iter().find(|m| m.id == id);
    // A Claude model both keys serve: the plain id, and each pinned form.
    let catalog = keyroute_wire::catalog::Catalog::builtin().unwrap();
    let claude = catalog
        .models()
        .iter()
        .find(|m| {
            ["anthropic", "bedrock"]
                .iter()
                .all(|p| m.offers.iter().any(|o| o.provider.id == *p))
                && find(&m.id).is_some()
        })
        .expect("a Claude model offered by Anthropic and Bedrock, listed");
    let plain = find(&claude.id).unwrap();
    let bedrock = find(&format!("bedrock/{}", claude.id)).expect("bedrock/ id listed");
    let direct = find(&format!("anthropic/{}", claude.id)).expect("anthropic/ id listed");
    assert_eq!(
        (
            plain.key_source(),
            bedrock.provider.as_str(),
            direct.provider.as_str()
        ),
        (KeySource::Byok, "bedrock", "anthropic")
    );
    assert!(bedrock.upstream.contains("anthropic."), "{bedrock:?}");

    // Every listed id routes where it says: the provider listed, with the key source listed.
    let mut called = 0;
    for model in &models {
        let served = setup
            .call(&model.id)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", model.id));
        assert_eq!(
            (served.provider.as_str(), served.key_source()),
            (model.provider.as_str(), model.key_source()),
            "{}",
            model.id
        );
        if let Some((prefix, _)) = model.id.split_once('/') {
            assert_eq!(prefix, served.provider, "{}", model.id);
        }
        called += 1;
    }
    assert!(called >= 6, "{models:?}");

    // Discovered models the catalog lacks: pinned to the key that lists them, BYOK only.
    for id in [
        format!("openai/{UNCATALOGED}"),
        format!("anthropic/{UNCATALOGED}"),
        format!("custom/mine/{UNCATALOGED}"),
    ] {
        let listed = find(&id).unwrap_or_else(|| panic!("{id} listed: {models:?}"));
        assert!(listed.discovered, "{listed:?}");
        assert_eq!(listed.key_source(), KeySource::Byok);
        assert_eq!(listed.upstream, UNCATALOGED);
    }
    // The platform's Google key serves the catalog's Gemini models, priced; never the
    // uncatalogued one its provider would list.
    assert!(
        models
            .iter()
            .any(|m| m.provider == "google" && m.key_source() == KeySource::Managed)
    );
    assert!(find(&format!("google/{UNCATALOGED}")).is_none());
    let refused = setup
        .call(&format!("google/{UNCATALOGED}"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused}");
    assert_eq!(setup.list_calls("google"), 0, "managed keys are not listed");
    assert_eq!(
        setup.list_calls("bedrock"),
        0,
        "Bedrock lists nothing for a key"
    );
}

#[tokio::test]
async fn lists_are_kept_per_key_and_the_key_test_asks_again() {
    let setup = setup().await;
    // Listings at once share one ask per key.
    let (a, b, c) = tokio::join!(setup.list(), setup.list(), setup.list());
    assert_eq!((a.len(), b.len()), (c.len(), c.len()));
    assert_eq!(setup.list_calls("openai"), 1);
    assert_eq!(setup.list_calls("anthropic"), 1);

    // A new list upstream is not asked for again within the TTL...
    setup
        .mock()
        .set_models(OPENAI, &["gpt-4o-mini", "brand-new-model"]);
    let models = setup.list().await;
    assert!(models.iter().all(|m| m.id != "openai/brand-new-model"));
    assert_eq!(setup.list_calls("openai"), 1);

    // ...but the key test asks at once, shows it, and the listing has it from then on.
    let tested = setup.test_key("openai").await;
    assert_eq!(tested.outcome(), TestOutcome::Ok);
    assert_eq!(tested.models, ["gpt-4o-mini", "brand-new-model"]);
    assert!(tested.models_message.is_empty());
    let models = setup.list().await;
    let new = models
        .iter()
        .find(|m| m.id == "openai/brand-new-model")
        .expect("discovered");
    assert!(new.discovered);
    let served = setup.call("openai/brand-new-model").await.unwrap();
    assert_eq!(served.provider, "openai");
    assert!(
        models
            .iter()
            .all(|m| m.id != format!("openai/{UNCATALOGED}")),
        "no longer listed by the provider"
    );
}

#[tokio::test]
async fn key_tests_say_why_a_key_lists_no_models() {
    let setup = setup().await;
    // Paged: every page of a long Anthropic list.
    let many: Vec<String> = (0..1500).map(|i| format!("claude-x-{i:04}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    setup.mock().set_models(ANTHROPIC, &many);
    let tested = setup.test_key("anthropic").await;
    assert_eq!(tested.models.len(), 1500);
    assert_eq!(setup.list_calls("anthropic"), 2);

    // Bounded: a list longer than the router keeps is cut, and the test says so.
    let huge: Vec<String> = (0..2500).map(|i| format!("m-{i:04}")).collect();
    let huge: Vec<&str> = huge.iter().map(String::as_str).collect();
    setup.mock().set_models(OPENAI, &huge);
    let tested = setup.test_key("openai").await;
    assert_eq!(tested.models.len(), 2000);
    assert!(tested.models_message.contains("first 2000"), "{tested:?}");

    // Bedrock keeps no list a key can read.
    let tested = setup.test_key("bedrock").await;
    assert!(tested.models.is_empty());
    assert!(
        tested.models_message.contains("lists no models"),
        "{tested:?}"
    );

    // A list endpoint that is not there (404).
    setup.mock().set_fault(
        CUSTOM,
        Fault {
            status: Some(404),
            ..Fault::default()
        },
    );
    setup.mock().set_models(CUSTOM, &["local-model"]);
    let tested = setup.test_key_with("custom", "local-model").await;
    assert!(
        tested.models_message.contains("lists no models"),
        "{tested:?}"
    );
    // With no model named, nothing to probe: the refusal says why.
    let refused = setup
        .client()
        .test_credential(with_token(
            TestCredentialRequest {
                credential_id: setup.keys["custom"].clone(),
                model: String::new(),
            },
            &setup.token,
        ))
        .await
        .unwrap_err();
    assert!(refused.message().contains("lists no models"), "{refused}");

    // A key the provider refuses: the test says so, for the list as for the probe.
    setup.mock().set_fault(
        ANTHROPIC,
        Fault {
            status: Some(401),
            ..Fault::default()
        },
    );
    let tested = setup.test_key("anthropic").await;
    assert_eq!(tested.outcome(), TestOutcome::KeyInvalid);
    assert!(tested.models.is_empty());
    assert!(
        tested.models_message.contains("refused") && tested.models_message.contains("401"),
        "{tested:?}"
    );
}

#[tokio::test]
async fn gemini_and_mistral_keys_list_their_models_too() {
    let mut setup = setup().await;
    let (user, token) = setup.vault.user_with_token("second").await;
    setup
        .mock()
        .add_key("google", "AIza-user-google-0123456789");
    setup
        .mock()
        .add_key("mistral", "sk-user-mistral-0123456789");
    for (provider, secret) in [
        ("google", "AIza-user-google-0123456789"),
        ("mistral", "sk-user-mistral-0123456789"),
    ] {
        let created = setup
            .vault
            .client("edge")
            .create_credential(with_token(
                credential_request(&user, provider, "", secret, &[]),
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .credential
            .unwrap();
        setup.keys.insert(provider, created.id);
    }
    // Gemini lists in pages of up to 1000.
    let many: Vec<String> = (0..1200).map(|i| format!("gemini-x-{i:04}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    setup
        .mock()
        .set_models("AIza-user-google-0123456789", &many);
    setup.token = token;
    let tested = setup.test_key("google").await;
    assert_eq!(
        (tested.outcome(), tested.models.len()),
        (TestOutcome::Ok, 1200)
    );
    assert_eq!(setup.list_calls("google"), 2);
    let tested = setup.test_key("mistral").await;
    assert!(tested.models.iter().any(|m| m == UNCATALOGED), "{tested:?}");

    let models = setup.list().await;
    for id in [
        "google/gemini-x-1199".to_owned(),
        format!("mistral/{UNCATALOGED}"),
    ] {
        let listed = models
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("{id}"));
        assert_eq!(listed.key_source(), KeySource::Byok);
        let served = setup.call(&id).await.unwrap();
        assert_eq!(served.provider, listed.provider, "{id}");
    }
}
