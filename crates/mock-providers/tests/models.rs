//! Model lists over real HTTP, read with the wire contract's own parser: each provider's
//! shape and paging, keys checked like the chat endpoints, per-key lists and faults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use keyroute_mock_providers::{Fault, Mock, MockServer, UNCATALOGED};
use keyroute_wire::contract::{Contract, ModelPage};
use keyroute_wire::error::WireError;
use keyroute_wire::registry;

struct Lister {
    server: MockServer,
    http: reqwest::Client,
}

impl Lister {
    async fn start() -> Self {
        let mock = Mock::new();
        for (provider, key) in [
            ("openai", "sk-o"),
            ("mistral", "sk-m"),
            ("anthropic", "sk-a"),
            ("google", "AIza-g"),
        ] {
            mock.add_key(provider, key);
        }
        Self {
            server: MockServer::start(mock).await.unwrap(),
            http: common::http_client(),
        }
    }

    /// One page, as the router asks for it: the contract's request, the key in its header.
    async fn page(
        &self,
        provider: &str,
        key: &str,
        cursor: Option<&str>,
    ) -> Result<ModelPage, WireError> {
        let config = HashMap::new();
        let contract = Contract::new(registry::provider(provider).unwrap(), None, "", &config);
        let http = contract.list_models_request(cursor).unwrap();
        let url = format!("{}{}", self.server.base_url(provider), http.path);
        let mut request = self.http.get(url);
        for (name, value) in &http.headers {
            request = request.header(*name, value);
        }
        request = match provider {
            "anthropic" => request.header("x-api-key", key),
            "google" => request.header("x-goog-api-key", key),
            _ => request.bearer_auth(key),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        contract.parse_model_list(status, &body)
    }

    /// Every page, following the cursor.
    async fn all(&self, provider: &str, key: &str) -> (Vec<String>, usize) {
        let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None);
        loop {
            let page = self.page(provider, key, cursor.as_deref()).await.unwrap();
            pages += 1;
            ids.extend(page.models.into_iter().map(|m| m.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => return (ids, pages),
            }
        }
    }
}

#[tokio::test]
async fn each_provider_lists_the_catalogs_models_and_one_it_lacks() {
    let lister = Lister::start().await;
    let catalog = keyroute_wire::catalog::Catalog::builtin().unwrap();
    for (provider, key) in [
        ("openai", "sk-o"),
        ("mistral", "sk-m"),
        ("anthropic", "sk-a"),
        ("google", "AIza-g"),
    ] {
        let known = catalog
            .models()
            .iter()
            .flat_map(|m| &m.offers)
            .find(|o| o.provider.id == provider)
            .map(|o| o.upstream.clone())
            .unwrap();
        let (ids, _) = lister.all(provider, key).await;
        assert!(ids.contains(&known), "{provider}: {ids:?}");
        assert_eq!(
            ids.last().map(String::as_str),
            Some(UNCATALOGED),
            "{provider}"
        );
    }
}

#[tokio::test]
async fn long_lists_come_in_pages_and_lists_are_per_key() {
    let lister = Lister::start().await;
    let many: Vec<String> = (0..2500).map(|i| format!("model-{i:04}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    for (provider, key) in [("anthropic", "sk-a"), ("google", "AIza-g")] {
        lister.server.mock.set_models(key, &many);
        let (ids, pages) = lister.all(provider, key).await;
        assert_eq!((ids.len(), pages), (2500, 3), "{provider}");
        assert_eq!(ids[1000], "model-1000");
    }
    lister.server.mock.set_models("sk-o", &["only-this"]);
    let (ids, pages) = lister.all("openai", "sk-o").await;
    assert_eq!((ids, pages), (vec!["only-this".to_owned()], 1));
}

#[tokio::test]
async fn wrong_keys_and_faults_are_refused_in_each_shape() {
    let lister = Lister::start().await;
    for (provider, status) in [("openai", 401), ("anthropic", 401), ("google", 400)] {
        let refused = lister.page(provider, "wrong-key", None).await.unwrap_err();
        assert_eq!(refused.status, status, "{provider}: {refused}");
    }
    lister.server.mock.set_fault(
        "sk-a",
        Fault {
            status: Some(404),
            ..Fault::default()
        },
    );
    let missing = lister.page("anthropic", "sk-a", None).await.unwrap_err();
    assert_eq!(missing.status, 404);
}
