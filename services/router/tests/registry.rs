//! A provider added by registry data alone: an OpenAI-compatible host registered at run time
//! (no code of its own anywhere) takes keys in the vault and serves chats through the
//! router, end to end over real gRPC and HTTP, with its own base URL and bearer key. Its own
//! test binary, so the registration stays out of every other test's process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;

use futures::StreamExt;
use keyroute_mock_providers::{Mock, MockServer};
use keyroute_proto::contract::header;
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::CreateCredentialRequest;
use keyroute_test_support::{TestRouter, TestVault, with_token};
use keyroute_tls::{ClientTls, Identity};
use keyroute_wire::openai::Quirks;
use keyroute_wire::registry::{
    self, AuthScheme, BaseUrl, CredentialShape, Provider, RegistryError, WireFormat,
};
use support::ask;

#[tokio::test]
async fn a_compatible_host_registered_as_data_serves_chats_end_to_end() {
    const SECRET: &str = "sk-acme-canary-7c1e0b";
    let mock = Mock::new();
    mock.add_key("acme", SECRET);
    let server = MockServer::start(mock.clone()).await.unwrap();
    // The entry's base URL is where Acme's API is: here, the mock's Acme root.
    let base_url: &'static str = format!("http://{}/acme/v1", server.addr).leak();
    let entry = Provider {
        id: "acme",
        name: "Acme AI",
        format: WireFormat::OpenAiChat(Quirks::COMPATIBLE),
        base_url: BaseUrl::Fixed(base_url),
        auth: AuthScheme::Bearer,
        shape: CredentialShape::ApiKey,
    };
    registry::register(entry).unwrap();
    assert_eq!(
        registry::register(entry),
        Err(RegistryError::Duplicate("acme".into()))
    );
    assert!(matches!(
        registry::register(Provider {
            id: "Not An Id",
            ..entry
        }),
        Err(RegistryError::InvalidId(_))
    ));
    assert!(registry::provider_ids().ends_with(", acme"));

    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("acme-user").await;
    // The vault knows the provider's credential shape from the registry.
    vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: user.clone(),
                provider: "acme".into(),
                secret: SECRET.into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap();
    // No base-URL override: the router uses the registry entry's own.
    let router = TestRouter::start(&vault, HashMap::new()).await;
    let tls = ClientTls::from_files(vault.pki.paths("edge")).unwrap();
    let channel = keyroute_tls::channel(
        &router.addr.to_string(),
        tls,
        Identity::parse("router").unwrap(),
    )
    .unwrap();
    let mut client = RouterServiceClient::new(channel);

    let answer = client
        .complete(with_token(
            CompleteRequest {
                request: Some(ask("acme/acme-large-1", "hello acme")),
            },
            &token,
        ))
        .await
        .unwrap();
    assert_eq!(answer.metadata().get(header::PROVIDER).unwrap(), "acme");
    assert_eq!(answer.metadata().get(header::KEY_SOURCE).unwrap(), "byok");
    let served = answer.into_inner().response.unwrap().served_by.unwrap();
    assert_eq!(served.provider, "acme");

    let mut events = client
        .complete_stream(with_token(
            CompleteStreamRequest {
                request: Some(ask("acme/acme-large-1", "stream please")),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut ended = false;
    while let Some(event) = events.next().await {
        if let Some(complete_stream_response::Event::End(end)) = event.unwrap().event {
            assert_eq!(end.served_by.unwrap().provider, "acme");
            ended = true;
        }
    }
    assert!(ended, "the stream ends with who served it");

    // What reached Acme: its chat path under the entry's base URL, the model as asked, the
    // key as a bearer token.
    let sent = mock.requests_for("acme");
    assert_eq!(sent.len(), 2);
    for request in &sent {
        assert_eq!(request.path, "/v1/chat/completions");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["model"], "acme-large-1");
        let bearer = format!("Bearer {SECRET}");
        assert_eq!(request.header("authorization"), Some(bearer.as_str()));
    }
}
