//! The egress policy for destinations users supply, end to end: a custom key pointing at
//! link-local cloud metadata or a private range is refused when it is added; one pointing at
//! loopback or `localhost` (which the test vault, like `keyroute dev`, accepts) is refused by
//! a strict router before any connection is made, with the rule named; the same key works once the operator allows its
//! network; destinations the operator configures (`--base-url`) are trusted; a Vertex key's
//! token URI passes the policy too, and a changed key file never reuses the old token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keyroute_egress::EgressPolicy;
use keyroute_mock_providers::{Mock, MockServer};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::{CreateCredentialRequest, PrincipalKind};
use keyroute_router::cache::leases::{Lease, LeasedKey};
use keyroute_router::policy::candidates::candidates;
use keyroute_router::policy::cooldowns::Cooldowns;
use keyroute_router::upstream::{Timeouts, Upstreams};
use keyroute_test_support::{TestRouter, TestVault, credential_request, with_token};
use keyroute_tls::{ClientTls, Identity};
use keyroute_wire::catalog::Catalog;
use secrecy::SecretString;
use support::{TEST_RSA_KEY, ask, test_rsa_public_key};
use tokio::net::TcpListener;

/// A listener that counts the connections it accepts and answers none.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, accepted)
}

async fn try_add_custom(
    vault: &TestVault,
    user: &str,
    token: &str,
    label: &str,
    base_url: &str,
) -> Result<(), tonic::Status> {
    vault
        .client("edge")
        .create_credential(with_token(
            credential_request(user, "custom", label, "", &[("base_url", base_url)]),
            token,
        ))
        .await
        .map(|_| ())
}

fn client(
    vault: &TestVault,
    router: &TestRouter,
) -> RouterServiceClient<tonic::transport::Channel> {
    let tls = ClientTls::from_files(vault.pki.paths("edge")).unwrap();
    RouterServiceClient::new(
        keyroute_tls::channel(
            &router.addr.to_string(),
            tls,
            Identity::parse("router").unwrap(),
        )
        .unwrap(),
    )
}

async fn call(
    client: &mut RouterServiceClient<tonic::transport::Channel>,
    token: &str,
    model: &str,
) -> Result<ChatResponse, tonic::Status> {
    client
        .complete(with_token(
            CompleteRequest {
                request: Some(ask(model, "hello")),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().response.unwrap())
}

#[tokio::test]
async fn user_supplied_destinations_pass_the_egress_policy() {
    let (port, accepted) = counting_listener().await;
    let mock = Mock::new();
    mock.add_key("openai", "sk-operator-trusted-0001");
    let server = MockServer::start(mock).await.unwrap();
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("ssrf").await;
    // Cloud metadata and private ranges are refused when the key is added (the test vault,
    // like `keyroute dev`, allows loopback only).
    for (label, url, rule) in [
        ("metadata", "http://169.254.169.254/latest/v1", "link-local"),
        ("private", "http://10.0.0.7:8080/v1", "private"),
    ] {
        let refused = try_add_custom(&vault, &user, &token, label, url)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains(rule), "{}", refused.message());
    }
    // Loopback keys, accepted by that vault, meet a strict router.
    for (label, url) in [
        ("loopback", format!("http://127.0.0.1:{port}/v1")),
        ("named", format!("http://localhost:{port}/v1")),
        ("v6", format!("http://[::1]:{port}/v1")),
    ] {
        try_add_custom(&vault, &user, &token, label, &url)
            .await
            .unwrap();
    }
    vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: user.clone(),
                provider: "openai".into(),
                secret: "sk-operator-trusted-0001".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap();
    // The operator points OpenAI at a loopback proxy (the mock): trusted, as configured.
    let operator = HashMap::from([("openai".to_owned(), server.base_url("openai"))]);
    let strict = TestRouter::start_with(
        &vault,
        operator,
        EgressPolicy::strict(),
        Timeouts::default(),
    )
    .await;
    let mut strict_client = client(&vault, &strict);

    for (label, rule) in [
        ("loopback", "loopback"),
        ("named", "loopback"),
        ("v6", "loopback"),
    ] {
        let error = call(&mut strict_client, &token, &format!("custom/{label}/m"))
            .await
            .unwrap_err();
        assert_eq!(
            error.code(),
            tonic::Code::InvalidArgument,
            "{label}: {error:?}"
        );
        assert!(
            error.message().contains(&format!("a {rule} address"))
                && error.message().contains("egress policy"),
            "{label}: {}",
            error.message()
        );
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "nothing was connected to"
    );
    call(&mut strict_client, &token, "gpt-4o-mini")
        .await
        .expect("the operator's own base URL is trusted");

    // Allowed by the operator: the call now reaches the listener (which hangs up on it).
    let mut allowing = EgressPolicy::strict();
    allowing.allow("127.0.0.1/32").unwrap();
    let open = TestRouter::start_with(&vault, HashMap::new(), allowing, Timeouts::default()).await;
    let error = call(&mut client(&vault, &open), &token, "custom/loopback/m")
        .await
        .unwrap_err();
    assert!(!error.message().contains("egress policy"), "{error:?}");
    assert!(accepted.load(Ordering::SeqCst) >= 1);
}

fn vertex_key(secret: &str) -> LeasedKey {
    LeasedKey {
        id: "vx".into(),
        owner_id: "usr_1".into(),
        owner_kind: PrincipalKind::User,
        provider: "vertex".into(),
        label: String::new(),
        config: HashMap::from([
            ("project_id".to_owned(), "p1".to_owned()),
            ("location".to_owned(), "us-central1".to_owned()),
        ]),
        fingerprint: "vertex:…vx".into(),
        secret: SecretString::from(secret.to_owned()),
    }
}

fn service_account(email: &str, token_uri: &str) -> String {
    serde_json::json!({
        "type": "service_account", "project_id": "p1", "private_key_id": "kid",
        "private_key": TEST_RSA_KEY, "client_email": email, "token_uri": token_uri,
    })
    .to_string()
}

#[tokio::test]
async fn a_vertex_token_uri_passes_the_policy_and_a_new_key_file_gets_a_new_token() {
    let mock = Mock::new();
    mock.add_service_account("one@p1.iam.gserviceaccount.com", &test_rsa_public_key());
    mock.add_service_account("two@p1.iam.gserviceaccount.com", &test_rsa_public_key());
    let server = MockServer::start(mock.clone()).await.unwrap();
    let overrides = HashMap::from([("vertex".to_owned(), server.base_url("vertex"))]);
    let catalog = Catalog::builtin().unwrap();
    let resolution = catalog.resolve("gemini-2.5-flash").unwrap();
    let cooldowns = Cooldowns::new();
    let lease = |secret: &str| {
        Lease::new(
            "usr_1",
            HashSet::from(["usr_1".to_owned()]),
            vec![vertex_key(secret)],
            Vec::new(),
            Duration::from_secs(60),
        )
    };
    let first = service_account("one@p1.iam.gserviceaccount.com", &server.vertex_token_uri());

    // Strict: the key file's token URI is on loopback, refused before any exchange.
    let strict = Upstreams::new(overrides.clone(), Timeouts::default()).unwrap();
    let leased = lease(&first);
    let found = candidates(&resolution, &leased, None, &cooldowns).unwrap();
    let failure = keyroute_router::policy::fallback::complete(
        &strict,
        &found,
        &ask("gemini-2.5-flash", "hi"),
        &cooldowns,
        &keyroute_router::metrics::Metrics::default(),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        failure.error.message.contains("loopback"),
        "{}",
        failure.error
    );
    assert!(mock.requests_for("vertex").is_empty());

    // Allowed: one exchange per key file; a changed file (a new version) exchanges again.
    let upstreams = Upstreams::with_egress(
        overrides,
        Timeouts::default(),
        EgressPolicy::allowing_loopback(),
    )
    .unwrap();
    let second = service_account("two@p1.iam.gserviceaccount.com", &server.vertex_token_uri());
    for secret in [&first, &first, &second, &second] {
        let leased = lease(secret);
        let found = candidates(&resolution, &leased, None, &cooldowns).unwrap();
        keyroute_router::policy::fallback::complete(
            &upstreams,
            &found,
            &ask("gemini-2.5-flash", "hi"),
            &cooldowns,
            &keyroute_router::metrics::Metrics::default(),
            &|_| {},
        )
        .await
        .unwrap_or_else(|f| panic!("{}", f.error));
    }
    let exchanges = mock
        .requests_for("vertex")
        .into_iter()
        .filter(|r| r.path == "/token")
        .count();
    assert_eq!(exchanges, 2, "one token per version of the key file");
}
