//! End-to-end tests across keyroute's binaries live in `tests/`; this library finds the
//! binaries that `cargo test --workspace` builds and runs them as child processes. Test
//! support only: a failure to start is a panic, as in a test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The path of a workspace binary built into the same target directory as the running test.
/// `cargo test --workspace` builds every binary before any test runs.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    dir.join(name)
}

/// A binary running as a child process, killed when dropped.
#[derive(Debug)]
pub struct Process {
    pub child: Child,
    pub addr: String,
}

impl Process {
    /// Starts `binary` with `env` and waits for its JSON log line `serving` (which carries
    /// the address it bound); its log is drained from then on so that it never blocks.
    pub async fn start(binary: &str, env: &[(&str, String)], serving: &str) -> Self {
        let path = workspace_binary(binary);
        assert!(
            path.exists(),
            "{} is missing: run `cargo test --workspace`",
            path.display()
        );
        let mut command = Command::new(path);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYROUTE_LOG_FORMAT", "json")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{binary} exited before serving"));
            let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if event["message"] == serving {
                break event["listen"].as_str().unwrap().to_owned();
            }
        };
        // KEYROUTE_E2E_LOGS=1 shows every process's log on the test's stderr.
        let echo = std::env::var_os("KEYROUTE_E2E_LOGS").is_some();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("{line}");
                }
            }
        });
        Self { child, addr }
    }

    /// `kill -9`: no shutdown, no flush.
    pub async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}
