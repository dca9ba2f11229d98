//! The gateway the edge tests share: a real vault, one or more routers, the edge on loopback
//! ports over mTLS, and the mock providers upstream. The user has an OpenAI key; the platform
//! has a managed Anthropic key; credits are granted only where a test asks.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod openapi;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use keyroute_edge::state::{Edge, EdgeSettings};
use keyroute_mock_providers::{Mock, MockServer};
use keyroute_proto::vault::v1::{CreateCredentialRequest, GrantCreditsRequest};
use keyroute_router::in_process::InProcessRouter;
use keyroute_test_support::{TestRouter, TestVault, with_token};
use keyroute_tls::ClientTls;
use serde_json::Value;

pub const BODY_LIMIT: usize = 64 * 1024;
pub const USER_OPENAI_KEY: &str = "sk-edge-openai-0123456789";
pub const PLATFORM_ANTHROPIC_KEY: &str = "sk-ant-platform-0123456789";

pub struct Gateway {
    pub vault: TestVault,
    pub mock: Mock,
    pub _mock_server: MockServer,
    pub routers: Vec<TestRouter>,
    pub url: String,
    pub user: String,
    pub token: String,
    pub http: reqwest::Client,
}

/// A router whose providers are the mock's.
pub async fn start_router(vault: &TestVault, mock: &MockServer) -> TestRouter {
    let base_urls: HashMap<String, String> = ["openai", "anthropic", "mistral", "google"]
        .iter()
        .map(|p| ((*p).to_owned(), mock.base_url(p)))
        .collect();
    TestRouter::start(vault, base_urls).await
}

/// A gateway with one router.
pub async fn gateway() -> Gateway {
    gateway_with_routers(1).await
}

/// A gateway whose edge balances over `routers` routers.
pub async fn gateway_with_routers(routers: usize) -> Gateway {
    gateway_with(routers, Duration::from_secs(60)).await
}

/// A gateway whose edge balances over `routers` routers and gives calls `request_timeout`.
pub async fn gateway_with(routers: usize, request_timeout: Duration) -> Gateway {
    gateway_configured(routers, |settings| {
        settings.request_timeout = request_timeout
    })
    .await
}

/// A gateway whose edge balances over `routers` routers, with its settings changed by
/// `configure` (the body limit is [`BODY_LIMIT`] unless it changes it).
pub async fn gateway_configured(
    routers: usize,
    configure: impl FnOnce(&mut EdgeSettings),
) -> Gateway {
    gateway_built(routers, None, configure).await
}

/// Makes the edge of a gateway whose router runs in its process, from the edge's settings
/// and certificate and the router's in-process services.
pub type ConnectInProcess = Box<dyn FnOnce(&EdgeSettings, Arc<ClientTls>, InProcessRouter) -> Edge>;

/// A gateway whose edge calls its one router in-process, as `keyroute dev`'s does (the
/// router's port still listens), with its settings changed by `configure`.
pub async fn gateway_in_process(configure: impl FnOnce(&mut EdgeSettings)) -> Gateway {
    let connect: ConnectInProcess =
        Box::new(|settings, tls, router| Edge::connect_in_process(settings, tls, router).unwrap());
    gateway_built(1, Some(connect), configure).await
}

/// A gateway whose edge is made by `connect` around its one router's in-process services
/// (to watch how the edge calls them), with its settings changed by `configure`.
pub async fn gateway_in_process_via(
    connect: ConnectInProcess,
    configure: impl FnOnce(&mut EdgeSettings),
) -> Gateway {
    gateway_built(1, Some(connect), configure).await
}

async fn gateway_built(
    routers: usize,
    in_process: Option<ConnectInProcess>,
    configure: impl FnOnce(&mut EdgeSettings),
) -> Gateway {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("edge-user").await;
    let keys = Mock::new();
    keys.add_key("openai", USER_OPENAI_KEY);
    keys.add_key("anthropic", PLATFORM_ANTHROPIC_KEY);
    let mock_server = MockServer::start(keys.clone()).await.unwrap();
    vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: user.clone(),
                provider: "openai".into(),
                secret: USER_OPENAI_KEY.into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap();
    vault
        .client("admin")
        .create_credential(CreateCredentialRequest {
            owner_id: "platform".into(),
            provider: "anthropic".into(),
            secret: PLATFORM_ANTHROPIC_KEY.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut running = Vec::new();
    for _ in 0..routers {
        running.push(start_router(&vault, &mock_server).await);
    }
    let mut settings = EdgeSettings {
        routers: running.iter().map(|r| r.addr.to_string()).collect(),
        router_refresh: Duration::from_secs(3600),
        vault: vault.addr.to_string(),
        body_limit: BODY_LIMIT,
        request_timeout: Duration::from_secs(60),
        ..EdgeSettings::default()
    };
    configure(&mut settings);
    let tls = ClientTls::from_files(vault.pki.paths("edge")).unwrap();
    let edge = if let Some(connect) = in_process {
        connect(&settings, tls, running[0].in_process.clone())
    } else {
        Edge::connect(&settings, tls).await.unwrap()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { edge.serve(listener, std::future::pending()).await.unwrap() });
    // One rustls provider for the test process, whichever TLS client a test builds first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Gateway {
        vault,
        mock: keys,
        _mock_server: mock_server,
        routers: running,
        url,
        user,
        token,
        http: reqwest::Client::new(),
    }
}

impl Gateway {
    /// Grants the user `micros` of credit (for managed routing).
    pub async fn grant(&self, micros: i64) {
        self.vault
            .client("admin")
            .grant_credits(GrantCreditsRequest {
                principal_id: self.user.clone(),
                micros,
                reason: "test".into(),
            })
            .await
            .unwrap();
    }

    /// Sends `method path` with `body` (JSON) and `token`; returns status, headers and JSON.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, json)
    }
}

/// An edge serving on a loopback port of its own until told to stop: what tests of its
/// shutdown start.
pub struct Stoppable {
    /// Its Chat Completions URL.
    pub url: String,
    /// Send to stop it.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// The server, which ends once stopped and drained.
    pub server: tokio::task::JoinHandle<Result<(), keyroute_edge::state::EdgeError>>,
}

pub async fn serve_until_stopped(edge: Edge) -> Stoppable {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(edge.serve(listener, async {
        let _ = stopped.await;
    }));
    Stoppable { url, stop, server }
}

/// The `data:` payloads of an SSE body, with their `event:` names (empty when none).
pub fn sse_events(text: &str) -> Vec<(String, String)> {
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut name = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("event: ") {
                name = value.to_owned();
            } else if let Some(value) = line.strip_prefix("data: ") {
                data.push_str(value);
            }
        }
        if !data.is_empty() {
            events.push((name, data));
        }
    }
    events
}
