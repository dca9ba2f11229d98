//! The router stack the end-to-end tests share: a real vault, the router on a loopback
//! port with its metrics, and the mock providers upstream.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod hostile;
pub mod leased;
pub mod platform;

use std::collections::HashMap;

use keyroute_mock_providers::{Mock, MockServer};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::CreateCredentialRequest;
use keyroute_test_support::{TestRouter, TestVault, with_token};
use keyroute_tls::{ClientTls, Identity};
use tonic::transport::Channel;

pub struct Stack {
    pub vault: TestVault,
    pub _mock: MockServer,
    pub router: TestRouter,
    pub metrics: std::net::SocketAddr,
    /// The plaintext health-probe port.
    pub health: std::net::SocketAddr,
    pub leases: std::sync::Arc<keyroute_router::cache::leases::LeaseCache>,
    pub mock: Mock,
    pub token: String,
    pub user: String,
    pub credential: String,
}

pub async fn stack() -> Stack {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("svc").await;
    let keys = Mock::new();
    keys.add_key("openai", "sk-user-openai-0123456789");
    keys.add_key("anthropic", "sk-platform-anthropic-0123");
    let mock = MockServer::start(keys.clone()).await.unwrap();
    let credential = vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: user.clone(),
                provider: "openai".into(),
                secret: "sk-user-openai-0123456789".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap()
        .id;
    let managed = CreateCredentialRequest {
        owner_id: "platform".into(),
        provider: "anthropic".into(),
        secret: "sk-platform-anthropic-0123".into(),
        ..Default::default()
    };
    vault
        .client("admin")
        .create_credential(managed)
        .await
        .unwrap();
    let base_urls: HashMap<String, String> =
        ["openai", "anthropic", "google", "mistral", "bedrock"]
            .iter()
            .map(|p| ((*p).to_owned(), mock.base_url(p)))
            .collect();
    let router = TestRouter::start(&vault, base_urls).await;
    let (metrics, health, leases) = (router.metrics, router.health, router.leases.clone());
    grant(&vault, &user, 10_000_000).await;
    Stack {
        vault,
        _mock: mock,
        router,
        metrics,
        health,
        leases,
        mock: keys,
        token,
        user,
        credential,
    }
}

pub async fn grant(vault: &TestVault, principal: &str, micros: i64) {
    vault
        .client("admin")
        .grant_credits(keyroute_proto::vault::v1::GrantCreditsRequest {
            principal_id: principal.into(),
            micros,
            reason: "test".into(),
        })
        .await
        .unwrap();
}

impl Stack {
    pub fn client(&self, identity: &str) -> RouterServiceClient<Channel> {
        RouterServiceClient::new(self.channel(identity))
    }

    /// A channel to the router's port with `identity`'s certificate.
    pub fn channel(&self, identity: &str) -> Channel {
        let paths = if identity == "edge" || identity == "router" {
            self.vault.pki.paths(identity)
        } else {
            self.vault.pki.issue(identity)
        };
        let tls = ClientTls::from_files(paths).unwrap();
        keyroute_tls::channel(
            &self.router.addr.to_string(),
            tls,
            Identity::parse("router").unwrap(),
        )
        .unwrap()
    }

    /// One `Complete` call as the edge makes it, with the dev user's token.
    pub async fn complete(
        &self,
        request: ChatRequest,
    ) -> Result<tonic::Response<CompleteResponse>, tonic::Status> {
        self.client("edge")
            .complete(with_token(
                CompleteRequest {
                    request: Some(request),
                },
                &self.token,
            ))
            .await
    }
}

pub fn ask(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![ContentPart {
                part: Some(content_part::Part::Text(text.into())),
                ..Default::default()
            }],
            name: String::new(),
        }],
        ..Default::default()
    }
}

pub fn text(response: &ChatResponse) -> String {
    response.choices[0]
        .message
        .as_ref()
        .unwrap()
        .content
        .iter()
        .filter_map(|p| match &p.part {
            Some(content_part::Part::Text(t)) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The Vertex test service account's private key (PKCS#8 PEM), from the wire crate's test data.
pub const TEST_RSA_KEY: &str = include_str!("../../../../crates/wire/testdata/vertex-test-key.pem");

/// The public half of [`TEST_RSA_KEY`], as the mock's token endpoint checks assertions.
pub fn test_rsa_public_key() -> Vec<u8> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_slice(TEST_RSA_KEY.as_bytes()).unwrap()
    else {
        panic!("pkcs8")
    };
    ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .unwrap()
        .public()
        .as_ref()
        .to_vec()
}
