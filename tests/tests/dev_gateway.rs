//! `keyroute dev --mock`, the README's run command, as a real process: it prints and writes
//! dev.env, answers both dialects and the management API, keeps every secret out of its
//! logs, stops cleanly on SIGTERM, and reuses its state directory on the next run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Stdio;

use keyroute_e2e::workspace_binary;
use keyroute_proto::contract::header;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// A key the mock accepts; a canary that must never appear in logs or answers.
const USER_KEY: &str = "sk-mock-canary-user-key-7f3a9c";

struct Dev {
    child: Child,
    url: String,
    token: String,
    /// The console's one-time sign-in link from the banner.
    console: String,
}

/// The `--connection-threads` `keyroute dev` runs with: one more than the cores, which the
/// default would be.
fn connection_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
}

async fn start(state: &Path) -> Dev {
    let binary = workspace_binary("keyroute");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test --workspace`",
        binary.display()
    );
    let mut child = Command::new(binary)
        // One connection thread more than the cores, so that the flag shows on any
        // machine: the count is checked below.
        .args(["dev", "--mock", "--connection-threads"])
        .arg(connection_threads().to_string())
        .args(["--http-addr", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (String::new(), String::new());
    while token.is_empty() {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("keyroute dev exited early");
        if let Some(value) = line.strip_prefix("KEYROUTE_URL=") {
            url = value.to_owned();
        } else if let Some(value) = line.strip_prefix("KEYROUTE_TOKEN=") {
            token = value.to_owned();
        }
    }
    // The banner prints the console's sign-in link, and says that keys may point at
    // loopback (a local model server) here.
    let mut console = String::new();
    let egress = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("keyroute dev exited before its banner ended");
        if let Some(link) = line.strip_prefix("console: ") {
            console = link.split_whitespace().next().unwrap().to_owned();
        }
        if line.starts_with("egress:") {
            break line;
        }
    };
    assert!(egress.contains("loopback"), "{egress}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Dev {
        child,
        url,
        token,
        console,
    }
}

impl Dev {
    /// Sends SIGTERM and returns the exit status and everything logged.
    async fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().unwrap().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(killed.success());
        let mut logs = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .await
            .unwrap();
        (self.child.wait().await.unwrap(), logs)
    }
}

#[tokio::test]
async fn dev_mock_serves_both_dialects_and_reuses_its_state() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = tempfile::tempdir().unwrap();
    let dev = start(state.path()).await;
    let env = std::fs::read_to_string(state.path().join("dev.env")).unwrap();
    assert!(
        env.contains(&format!("KEYROUTE_URL={}\n", dev.url)),
        "{env}"
    );
    assert!(
        env.contains(&format!("OPENAI_BASE_URL={}/v1\n", dev.url)),
        "{env}"
    );
    assert!(
        env.contains(&format!("ANTHROPIC_BASE_URL={}\n", dev.url)),
        "{env}"
    );
    let http = reqwest::Client::new();
    // The console link signs in once: its code (in the fragment) is exchanged for a session.
    let code = dev
        .console
        .strip_prefix(&format!("{}/#code=", dev.url))
        .unwrap_or_else(|| panic!("console link {:?}", dev.console));
    assert!(
        env.contains(&format!("KEYROUTE_CONSOLE_URL='{}'\n", dev.console)),
        "{env}"
    );
    let page = http.get(&dev.url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    for expected in [200, 401] {
        let exchanged = http
            .post(format!("{}/api/v1/session", dev.url))
            .json(&serde_json::json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_eq!(exchanged.status(), expected, "the code signs in once");
    }

    let chat = json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] });
    let response = http
        .post(format!("{}/v1/chat/completions", dev.url))
        .bearer_auth(&dev.token)
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::KEY_SOURCE], "managed");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hi");

    let message = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
        "messages": [{ "role": "user", "content": "hi" }],
    });
    let response = http
        .post(format!("{}/v1/messages", dev.url))
        .header("x-api-key", &dev.token)
        .header("anthropic-version", "2023-06-01")
        .json(&message)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.contains("event: message_stop"), "{text}");

    let key = json!({ "provider": "openai", "secret": USER_KEY });
    let response = http
        .post(format!("{}/api/v1/keys", dev.url))
        .bearer_auth(&dev.token)
        .json(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created = response.text().await.unwrap();
    assert!(
        !created.contains(USER_KEY),
        "the secret is never returned: {created}"
    );
    let response = http
        .post(format!("{}/v1/chat/completions", dev.url))
        .bearer_auth(&dev.token)
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[header::KEY_SOURCE],
        "byok",
        "the user's key now serves"
    );

    admin_works_as_printed(state.path(), &dev, &http).await;

    // `--connection-threads`: that many threads serve the HTTP port, as many the router's.
    let pid = dev.child.id().unwrap();
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .collect();
    for prefix in ["edge-conn-", "router-conn-"] {
        let count = threads
            .iter()
            .filter(|name| name.starts_with(prefix))
            .count();
        assert_eq!(count, connection_threads(), "{prefix}: {threads:?}");
    }

    let (status, logs) = dev.stop().await;
    assert!(
        status.success(),
        "SIGTERM stops it cleanly: {status:?}\n{logs}"
    );
    assert!(!logs.contains(USER_KEY), "no secret in the logs");
    assert!(
        !logs.contains("sk-mock-platform"),
        "no managed secret in the logs"
    );
    assert!(
        !logs.contains(&dev_token(state.path())),
        "no token in the logs"
    );

    let again = start(state.path()).await;
    assert_eq!(
        again.token,
        dev_token(state.path()),
        "the second run reuses the token"
    );
    let response = http
        .get(format!("{}/api/v1/keys", again.url))
        .bearer_auth(&again.token)
        .send()
        .await
        .unwrap();
    let keys: Value = response.json().await.unwrap();
    assert_eq!(
        keys["data"].as_array().unwrap().len(),
        1,
        "and the database: {keys}"
    );
    let balance: Value = http
        .get(format!("{}/api/v1/balance", again.url))
        .bearer_auth(&again.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        balance["balance_micros"].as_i64().unwrap() < 10_000_000,
        "credits are seeded once, and the managed call was charged: {balance}"
    );
    let (status, _) = again.stop().await;
    assert!(status.success());
}

/// `keyroute admin` with only what dev.env sets (its vault address and certificate folder),
/// as a shell that sourced it would run it.
async fn admin_from_dev_env(state: &Path, args: &[&str]) -> (bool, String, String) {
    let env = std::fs::read_to_string(state.join("dev.env")).unwrap();
    let vars: Vec<(&str, &str)> = env
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| name.starts_with("KEYROUTE_"))
        .collect();
    assert!(
        vars.iter().any(|(name, _)| *name == "KEYROUTE_VAULT_ADDR"),
        "{env}"
    );
    assert!(
        vars.iter().any(|(name, _)| *name == "KEYROUTE_CERTS_DIR"),
        "{env}"
    );
    let output = Command::new(workspace_binary("keyroute"))
        .arg("admin")
        .args(args)
        .env_clear()
        .envs(vars)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The admin commands README prints work against the running dev stack: list the dev user,
/// disable them (the gateway refuses their token at once), enable them again.
async fn admin_works_as_printed(state: &Path, dev: &Dev, http: &reqwest::Client) {
    let (ok, stdout, stderr) = admin_from_dev_env(state, &["users", "list", "-o", "json"]).await;
    assert!(ok, "{stderr}");
    let users: Value = serde_json::from_str(&stdout).unwrap();
    let dev_user = if users.is_array() {
        users[0].clone()
    } else {
        users
    };
    assert_eq!(dev_user["name"], "dev", "{stdout}");
    let user_id = dev_user["id"].as_str().unwrap().to_owned();
    let (ok, stdout, stderr) =
        admin_from_dev_env(state, &["tokens", "list", "--principal", &user_id]).await;
    assert!(
        ok && stdout.contains(&dev.token[dev.token.len() - 4..]),
        "{stdout}{stderr}"
    );

    let (ok, _, stderr) = admin_from_dev_env(state, &["users", "disable", &user_id]).await;
    assert!(ok, "{stderr}");
    let keys = |token: &str| {
        http.get(format!("{}/api/v1/keys", dev.url))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(keys(&dev.token).await.unwrap().status(), 401);
    let (ok, _, stderr) = admin_from_dev_env(state, &["users", "enable", &user_id]).await;
    assert!(ok, "{stderr}");
}

fn dev_token(state: &Path) -> String {
    let env = std::fs::read_to_string(state.join("dev.env")).unwrap();
    env.lines()
        .find_map(|line| line.strip_prefix("KEYROUTE_TOKEN="))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn dev_refuses_a_bad_upstream_with_a_usage_error() {
    let state = tempfile::tempdir().unwrap();
    let output = Command::new(workspace_binary("keyroute"))
        .args([
            "dev",
            "--upstream",
            "nope=http://127.0.0.1:1",
            "--state-dir",
        ])
        .arg(state.path())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown provider \"nope\""), "{stderr}");
}
