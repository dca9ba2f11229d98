//! What the `keyroute` binary's tests share: running it, and running `keyroute admin`
//! against a test vault.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;

use keyroute_test_support::TestVault;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub const BINARY: &str = env!("CARGO_BIN_EXE_keyroute");

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub async fn keyroute(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

pub async fn admin(vault: &TestVault, args: &[&str], stdin: Option<&str>) -> Output {
    let addr = vault.addr.to_string();
    let certs = vault.pki.dir().to_str().unwrap().to_owned();
    let mut all = vec!["admin", "--vault", &addr, "--certs-dir", &certs];
    all.extend_from_slice(args);
    keyroute(&all, stdin).await
}

pub async fn admin_json(vault: &TestVault, args: &[&str], stdin: Option<&str>) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["-o", "json"]);
    let output = admin(vault, &all, stdin).await;
    assert_eq!(output.code, 0, "{args:?}: {}", output.stderr);
    serde_json::from_str(&output.stdout).unwrap()
}
