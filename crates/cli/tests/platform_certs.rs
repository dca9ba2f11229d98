//! Platform certificates: `keyroute certs issue` gives an internal platform its client
//! certificate from a dev CA (`keyroute certs dev`'s, or `keyroute dev`'s state directory),
//! and a stock gRPC client (the CA chain and the host name checked, no SPIFFE check) calls
//! the router with it, as the Python and Go examples do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{BINARY, keyroute};
use keyroute_proto::router::v1::router_service_client::RouterServiceClient;
use keyroute_proto::router::v1::{
    ChatRequest, CompleteRequest, ContentPart, ListModelsRequest, Message, Role, content_part,
};
use keyroute_test_support::{TestPki, TestRouter, TestVault};
use keyroute_tls::{TlsPaths, identity_of_der, stock_channel};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::Request;
use tonic::transport::Channel;

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).unwrap();
    x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// The paths `certs issue --out OUT --identity platform/<name>` writes.
fn platform_paths(out: &Path, name: &str) -> TlsPaths {
    TlsPaths {
        cert: out.join(format!("platform-{name}.crt")),
        key: out.join(format!("platform-{name}.key")),
        ca: out.join("ca.crt"),
    }
}

async fn list_models(channel: Channel, token: &str) -> Result<Vec<String>, tonic::Status> {
    let listed = RouterServiceClient::new(channel)
        .list_models(with_token(ListModelsRequest {}, token))
        .await?;
    Ok(listed
        .into_inner()
        .models
        .into_iter()
        .map(|m| m.id)
        .collect())
}

#[tokio::test]
async fn issued_platform_certificates_chain_to_the_ca_and_reach_a_router() {
    let vault = TestVault::start().await;
    let router = TestRouter::start(&vault, HashMap::new()).await;
    let (_, token) = vault.user_with_token("acme-user").await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("acme");
    let ca_dir = vault.pki.dir();

    let issued = keyroute(
        &[
            "certs",
            "issue",
            "--ca-dir",
            s(ca_dir),
            "--identity",
            "platform/acme",
            "--out",
            s(&out),
        ],
        None,
    )
    .await;
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let paths = platform_paths(&out, "acme");
    assert!(
        issued
            .stdout
            .starts_with("spiffe://keyroute/platform/acme\n")
            && issued.stdout.contains(s(&paths.cert))
            && issued.stdout.contains(s(&paths.key)),
        "{}",
        issued.stdout
    );
    assert_eq!(
        identity_of_der(&der(&paths.cert)).unwrap().as_str(),
        "spiffe://keyroute/platform/acme"
    );
    assert_eq!(mode(&paths.key), 0o600);
    assert_eq!(
        std::fs::read(&paths.ca).unwrap(),
        std::fs::read(ca_dir.join("ca.crt")).unwrap(),
        "the CA certificate comes along into another directory"
    );

    // The router, which trusts only its CA, takes it from a stock client that checks the
    // router's certificate against ca.crt and the name `localhost`.
    let address = format!("localhost:{}", router.addr.port());
    let models = list_models(stock_channel(&address, &paths), &token)
        .await
        .unwrap();
    assert!(
        models.is_empty(),
        "a user without keys or credit: {models:?}"
    );

    // A certificate for the same identity from another CA is refused in the handshake.
    let stranger = TestPki::new();
    let foreign = stranger.issue("platform/acme");
    let refused = list_models(
        stock_channel(
            &address,
            &TlsPaths {
                ca: paths.ca,
                ..foreign
            },
        ),
        &token,
    )
    .await
    .unwrap_err();
    // Under TLS 1.3 the server judges the client's certificate after the client has sent
    // its Finished, so the client may already be writing its call: it reads the server's
    // alert, or its connection is closed or reset under it. Whichever, the call fails in the
    // transport, never with an answer from the router.
    assert!(
        std::error::Error::source(&refused).is_some_and(|e| e.is::<tonic::transport::Error>()),
        "{refused:?}"
    );

    // Without --out, it writes into the CA's directory; again only with --force.
    let args = [
        "certs",
        "issue",
        "--ca-dir",
        s(ca_dir),
        "--identity",
        "spiffe://keyroute/platform/acme",
    ];
    assert_eq!(keyroute(&args, None).await.code, 0);
    assert!(ca_dir.join("platform-acme.crt").exists());
    let again = keyroute(&args, None).await;
    assert_eq!(again.code, 64);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let before = std::fs::read(ca_dir.join("platform-acme.crt")).unwrap();
    let forced: Vec<&str> = args.iter().copied().chain(["--force"]).collect();
    assert_eq!(keyroute(&forced, None).await.code, 0);
    assert_ne!(
        std::fs::read(ca_dir.join("platform-acme.crt")).unwrap(),
        before
    );
}

/// What is in a directory, to show a refused command wrote nothing.
fn listing(dir: &Path) -> HashSet<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn issuing_refuses_bad_inputs_with_one_line_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    assert_eq!(
        keyroute(&["certs", "dev", "--out", s(&ca)], None)
            .await
            .code,
        0
    );
    assert_eq!(
        mode(&ca.join("ca.key")),
        0o600,
        "certs dev keeps the CA key"
    );
    let refused = keyroute(&["certs", "dev", "--out", s(&ca)], None).await;
    assert!(
        refused.stderr.contains("keyroute certs issue --ca-dir"),
        "{}",
        refused.stderr
    );

    let without_key = dir.path().join("without-key");
    std::fs::create_dir(&without_key).unwrap();
    std::fs::copy(ca.join("ca.crt"), without_key.join("ca.crt")).unwrap();
    let bad_key = dir.path().join("bad-key");
    std::fs::create_dir(&bad_key).unwrap();
    std::fs::copy(ca.join("ca.crt"), bad_key.join("ca.crt")).unwrap();
    std::fs::write(bad_key.join("ca.key"), "not a key\n").unwrap();
    let bad_cert = dir.path().join("bad-cert");
    std::fs::create_dir(&bad_cert).unwrap();
    std::fs::write(bad_cert.join("ca.crt"), [0xff, 0xfe, 0x00]).unwrap();
    std::fs::copy(ca.join("ca.key"), bad_cert.join("ca.key")).unwrap();
    let foreign_out = dir.path().join("foreign-out");
    std::fs::create_dir(&foreign_out).unwrap();
    std::fs::copy(bad_key.join("ca.key"), foreign_out.join("ca.crt")).unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();

    let missing = dir.path().join("missing");
    let cases: [(&Path, &str, &Path, &str); 8] = [
        (&missing, "platform/acme", &ca, "no such directory"),
        (&empty, "platform/acme", &empty, "no ca.crt"),
        (&without_key, "platform/acme", &without_key, "no ca.key"),
        (&bad_key, "platform/acme", &bad_key, "not a PEM private key"),
        (&bad_cert, "platform/acme", &bad_cert, "ca.crt is not a PEM"),
        (&ca, "Platform/ACME", &ca, "expected platform/<name>"),
        (&ca, "router", &ca, "only platform/<name>"),
        (
            &ca,
            "platform/acme",
            &foreign_out,
            "another CA's certificate",
        ),
    ];
    for (ca_dir, identity, out, expected) in cases {
        let before = listing(out);
        let output = keyroute(
            &[
                "certs",
                "issue",
                "--ca-dir",
                s(ca_dir),
                "--identity",
                identity,
                "--out",
                s(out),
            ],
            None,
        )
        .await;
        let case = format!("{} {identity}", ca_dir.display());
        assert_eq!(output.code, 64, "{case}: {}", output.stderr);
        assert_eq!(output.stderr.trim().lines().count(), 1, "{}", output.stderr);
        assert!(
            output.stderr.contains(expected),
            "{case}: {}",
            output.stderr
        );
        assert_eq!(listing(out), before, "{case}: nothing written");
    }
    // Admin is a client too, and handy in development.
    let admin = keyroute(
        &[
            "certs",
            "issue",
            "--ca-dir",
            s(&ca),
            "--identity",
            "admin",
            "--force",
        ],
        None,
    )
    .await;
    assert_eq!(admin.code, 0, "{}", admin.stderr);
}

/// `keyroute dev --mock` as a process, and its dev.env once it printed its banner.
async fn start_dev(state: &Path) -> (Child, HashMap<String, String>) {
    let log = std::fs::File::create(state.with_extension("log")).unwrap();
    let mut child = Command::new(BINARY)
        .args(["dev", "--mock", "--http-addr", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("keyroute dev exited");
        if line.starts_with("egress:") {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let text = std::fs::read_to_string(state.join("dev.env")).unwrap();
    let env = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.trim_matches('\'').to_owned()))
        .collect();
    assert!(
        text.contains("\n# a platform's gRPC certificate for KEYROUTE_ROUTER_ADDR: keyroute certs issue --ca-dir "),
        "{text}"
    );
    (child, env)
}

async fn stop(mut child: Child) {
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
    assert!(killed.unwrap().success());
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test]
async fn a_platform_certificate_from_keyroute_dev_calls_its_router() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (dev, env) = start_dev(&state).await;
    let certs = PathBuf::from(&env["KEYROUTE_CERTS_DIR"]);
    assert_eq!(
        PathBuf::from(&env["KEYROUTE_CA_CERT"]),
        certs.join("ca.crt")
    );
    assert_eq!(mode(&certs.join("ca.key")), 0o600);
    let router = &env["KEYROUTE_ROUTER_ADDR"];
    assert!(router.starts_with("localhost:"), "{router}");

    // What the examples run: a certificate into a folder of their own, then a stock client.
    let out = dir.path().join("examples");
    let issued = keyroute(
        &[
            "certs",
            "issue",
            "--ca-dir",
            &env["KEYROUTE_CERTS_DIR"],
            "--identity",
            "platform/examples",
            "--out",
            s(&out),
        ],
        None,
    )
    .await;
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let paths = TlsPaths {
        ca: PathBuf::from(&env["KEYROUTE_CA_CERT"]),
        ..platform_paths(&out, "examples")
    };
    let token = &env["KEYROUTE_TOKEN"];
    // The owner id a platform's key management calls name for the dev user.
    assert!(
        env["KEYROUTE_USER_ID"].starts_with("usr_"),
        "{:?}",
        env.get("KEYROUTE_USER_ID")
    );
    let models = list_models(stock_channel(router, &paths), token)
        .await
        .unwrap();
    assert!(
        models.iter().any(|id| id == "gpt-4o-mini"),
        "managed keys and credits serve it: {models:?}"
    );
    let chat = ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![Message {
            role: Role::User.into(),
            content: vec![ContentPart {
                part: Some(content_part::Part::Text("hi".into())),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let answer = RouterServiceClient::new(stock_channel(router, &paths))
        .complete(with_token(
            CompleteRequest {
                request: Some(chat),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    let text = format!("{answer:?}");
    assert!(text.contains("echo: hi"), "{text}");
    stop(dev).await;

    // A state directory from before keyroute kept the CA key still runs; only issuing needs
    // the key, and says so.
    std::fs::remove_file(certs.join("ca.key")).unwrap();
    let (dev, env) = start_dev(&state).await;
    let models = list_models(stock_channel(&env["KEYROUTE_ROUTER_ADDR"], &paths), token)
        .await
        .unwrap();
    assert!(!models.is_empty());
    let refused = keyroute(
        &[
            "certs",
            "issue",
            "--ca-dir",
            s(&certs),
            "--identity",
            "platform/late",
        ],
        None,
    )
    .await;
    assert_eq!(refused.code, 64);
    assert!(
        refused.stderr.contains("no ca.key") && refused.stderr.contains("still serves"),
        "{}",
        refused.stderr
    );
    stop(dev).await;
}
