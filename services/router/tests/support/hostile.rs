//! A hostile upstream for the router's tests: a raw TCP server that answers each path prefix
//! with one misbehaviour (redirects, endless lines, dripping bodies, huge bodies, garbage,
//! streams cut short or never ending), and a router stack whose user has a custom key for
//! each of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_router::upstream::Timeouts;
use keyroute_test_support::{TestRouter, TestVault, credential_request, with_token};
use keyroute_tls::{ClientTls, Identity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Channel;

use super::ask;

const CHUNK: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
const STREAM_HEAD: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";

/// Reads one request's head and body; returns its path.
async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&byte[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut have = buffer.len() - head_end;
    while have < length {
        let n = socket.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        have += n;
    }
    head.split_whitespace().nth(1).map(str::to_owned)
}

/// Serves one hostile behaviour per path prefix until the peer goes away.
async fn hostile(mut socket: TcpStream, port: u16, requests: Arc<AtomicUsize>) {
    let Some(path) = read_request(&mut socket).await else {
        return;
    };
    requests.fetch_add(1, Ordering::SeqCst);
    let behaviour = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let zeros = vec![b'0'; 64 * 1024];
    match behaviour {
        "redirect" => {
            // This server closes every connection after one answer: it must say so, or a
            // client may reuse the pooled connection as it closes (a reset, not a redirect).
            let answer = format!(
                "HTTP/1.1 303 See Other\r\nlocation: http://127.0.0.1:{port}/secret\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
        "endless-line" => {
            let _ = socket.write_all(STREAM_HEAD.as_bytes()).await;
            let _ = socket.write_all(b"data: ").await;
            let line = vec![b'x'; 64 * 1024];
            while socket.write_all(&line).await.is_ok() {}
        }
        "drip-error" => {
            let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"error\":{\"message\":\"";
            let _ = socket.write_all(head.as_bytes()).await;
            while socket.write_all(b"z").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        "gigabyte" => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1073741824\r\n\r\n";
            let _ = socket.write_all(head.as_bytes()).await;
            while socket.write_all(&zeros).await.is_ok() {}
        }
        "gigabyte-unannounced" => {
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
            let _ = socket.write_all(head.as_bytes()).await;
            for _ in 0..(1 << 14) {
                if socket.write_all(&zeros).await.is_err() {
                    break;
                }
            }
        }
        "garbage" => {
            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\nnot json!";
            let _ = socket.write_all(answer.as_bytes()).await;
        }
        "cut-stream" => {
            let _ = socket.write_all(STREAM_HEAD.as_bytes()).await;
            let _ = socket.write_all(&CHUNK.as_bytes()[..20]).await;
        }
        "never-ends" => {
            let _ = socket.write_all(STREAM_HEAD.as_bytes()).await;
            while socket.write_all(CHUNK.as_bytes()).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        "drip-stream" => {
            let _ = socket.write_all(STREAM_HEAD.as_bytes()).await;
            let _ = socket.write_all(CHUNK.as_bytes()).await;
            while socket.write_all(b": still here\n").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        _ => {
            let _ = socket
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    }
}

pub struct Hostile {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
}

pub async fn start_hostile() -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(hostile(socket, port, counted.clone()));
        }
    });
    Hostile { port, requests }
}

pub const BEHAVIOURS: [&str; 9] = [
    "garbage",
    "cut-stream",
    "redirect",
    "endless-line",
    "drip-error",
    "gigabyte",
    "gigabyte-unannounced",
    "never-ends",
    "drip-stream",
];

pub struct Setup {
    pub vault: TestVault,
    pub user: String,
    _router: TestRouter,
    client: RouterServiceClient<Channel>,
    token: String,
    pub hostile: Hostile,
}

pub const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    first_byte: Duration::from_secs(1),
    between_chunks: Duration::from_secs(1),
    total: Duration::from_secs(3),
};

pub async fn setup() -> Setup {
    let hostile = start_hostile().await;
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("victim").await;
    for behaviour in BEHAVIOURS {
        let base_url = format!("http://127.0.0.1:{}/{behaviour}/v1", hostile.port);
        let request =
            credential_request(&user, "custom", behaviour, "", &[("base_url", &base_url)]);
        vault
            .client("edge")
            .create_credential(with_token(request, &token))
            .await
            .unwrap();
    }
    let loopback = keyroute_egress::EgressPolicy::allowing_loopback();
    let router = TestRouter::start_with(&vault, HashMap::new(), loopback, TIMEOUTS).await;
    let tls = ClientTls::from_files(vault.pki.paths("edge")).unwrap();
    let channel = keyroute_tls::channel(
        &router.addr.to_string(),
        tls,
        Identity::parse("router").unwrap(),
    )
    .unwrap();
    Setup {
        vault,
        user,
        _router: router,
        client: RouterServiceClient::new(channel),
        token,
        hostile,
    }
}

impl Setup {
    pub async fn complete(&mut self, behaviour: &str) -> Result<ChatResponse, tonic::Status> {
        let request = ask(&format!("custom/{behaviour}/m"), "hello");
        self.client
            .complete(with_token(
                CompleteRequest {
                    request: Some(request),
                },
                &self.token,
            ))
            .await
            .map(|r| r.into_inner().response.unwrap())
    }

    /// The stream's failure: its opening status, or the error event that ended it.
    pub async fn stream_failure(&mut self, behaviour: &str) -> String {
        let request = ask(&format!("custom/{behaviour}/m"), "hello");
        let opened = self
            .client
            .complete_stream(with_token(
                CompleteStreamRequest {
                    request: Some(request),
                },
                &self.token,
            ))
            .await;
        let mut events = match opened {
            Ok(events) => events.into_inner(),
            Err(status) => return status.message().to_owned(),
        };
        loop {
            match events.message().await {
                Ok(Some(CompleteStreamResponse {
                    event: Some(complete_stream_response::Event::Error(error)),
                })) => return error.message,
                Ok(Some(_)) => {}
                Ok(None) => panic!("{behaviour}: the stream ended without an error"),
                Err(status) => return status.message().to_owned(),
            }
        }
    }
}
