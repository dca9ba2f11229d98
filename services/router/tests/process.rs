//! The `keyroute-router` binary as a child process: configuration errors exit 64 with one
//! line; it serves over mTLS against a real vault; SIGTERM stops it cleanly after flushing
//! the usage it still held.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use keyroute_mock_providers::{Mock, MockServer};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::*;
use keyroute_proto::vault::v1::{CreateCredentialRequest, GetUsageRequest};
use keyroute_test_support::{TestVault, with_token};
use keyroute_tls::{ClientTls, Identity};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BINARY: &str = env!("CARGO_BIN_EXE_keyroute-router");

fn command(vault: &TestVault, extra: &[&str]) -> Command {
    let tls = vault.pki.paths("router");
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("RUST_LOG", "info")
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off"])
        .args(["--log-format", "json", "--shutdown-grace", "5s"])
        .args(["--vault", &vault.addr.to_string()])
        .env("KEYROUTE_TLS_CERT", &tls.cert)
        .env("KEYROUTE_TLS_KEY", &tls.key)
        .env("KEYROUTE_TLS_CA", &tls.ca)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn config_error(mut command: Command, expected: &str) {
    let output = command.output().await.unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    assert!(
        stderr.starts_with("keyroute-router: invalid configuration: ") && stderr.contains(expected),
        "wanted {expected:?} in {stderr}"
    );
}

/// Starts the binary and waits for the line saying where it listens; keeps draining stderr.
async fn spawn(mut command: Command) -> (Child, SocketAddr) {
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("router exited before serving");
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["message"] == "router serving" {
            break event["listen"].as_str().unwrap().parse().unwrap();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

#[tokio::test]
async fn invalid_configuration_exits_64_with_one_line() {
    let vault = TestVault::start().await;
    config_error(
        command(&vault, &["--base-url", "nosuch=http://x"]),
        "nosuch",
    )
    .await;
    config_error(command(&vault, &["--base-url", "openai"]), "openai").await;
    config_error(
        command(&vault, &["--total-timeout", "soon"]),
        "total-timeout",
    )
    .await;
    let mut missing_cert = command(&vault, &[]);
    missing_cert.env("KEYROUTE_TLS_CERT", "/nonexistent/router.crt");
    config_error(missing_cert, "tls").await;
    config_error(command(&vault, &["--frobnicate"]), "--frobnicate").await;
}

#[tokio::test]
async fn the_binary_serves_and_flushes_usage_on_sigterm() {
    let vault = TestVault::start().await;
    let (user, token) = vault.user_with_token("proc").await;
    let keys = Mock::new();
    keys.add_key("openai", "sk-process-openai-0123456789");
    let mock = MockServer::start(keys).await.unwrap();
    vault
        .client("edge")
        .create_credential(with_token(
            CreateCredentialRequest {
                owner_id: user.clone(),
                provider: "openai".into(),
                secret: "sk-process-openai-0123456789".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap();
    let base_url = format!("openai={}", mock.base_url("openai"));
    let (mut child, addr) = spawn(command(&vault, &["--base-url", &base_url])).await;

    let tls = ClientTls::from_files(vault.pki.paths("edge")).unwrap();
    let channel =
        keyroute_tls::channel(&addr.to_string(), tls, Identity::parse("router").unwrap()).unwrap();
    let reply = RouterServiceClient::new(channel)
        .complete(with_token(
            CompleteRequest {
                request: Some(ChatRequest {
                    model: "gpt-4o-mini".into(),
                    messages: vec![Message {
                        role: Role::User as i32,
                        content: vec![ContentPart {
                            part: Some(content_part::Part::Text("from a process".into())),
                            ..Default::default()
                        }],
                        name: String::new(),
                    }],
                    ..Default::default()
                }),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(reply.served_by.unwrap().key_source(), KeySource::Byok);

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    // The process is gone; the call it served is in the vault's ledger.
    let usage = vault
        .client("admin")
        .get_usage(GetUsageRequest {
            owner_id: user,
            month: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(usage.lines.iter().map(|l| l.requests).sum::<u64>(), 1);
}
