//! Start-up helpers every keyroute binary shares: flags read the same way, configuration
//! errors on one line with exit code 64, durations written the way operators write them, and
//! the signal that stops a service.

use std::process::ExitCode;
use std::time::Duration;

/// `EX_USAGE` from sysexits.h: the configuration is wrong.
pub const EXIT_CONFIG: u8 = 64;

/// One binary's start-up, by name: its flags, its configuration errors, its runtime.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    name: &'static str,
}

impl Startup {
    pub const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// Says what is wrong with the configuration, on one line, and gives exit code 64.
    pub fn config_error(self, message: &str) -> ExitCode {
        eprintln!("{}: invalid configuration: {message}", self.name);
        ExitCode::from(EXIT_CONFIG)
    }

    /// A failure that is not the configuration's: one line, exit code 1.
    pub fn failure(self, message: &str) -> ExitCode {
        eprintln!("{}: {message}", self.name);
        ExitCode::FAILURE
    }

    /// The flags; `--help` and `--version` print and end the process with success.
    pub fn args<T: clap::Parser>(self) -> Result<T, ExitCode> {
        T::try_parse().map_err(|error| {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                let _ = error.print();
                ExitCode::SUCCESS
            } else {
                self.config_error(&one_line(&error))
            }
        })
    }

    /// The multi-threaded runtime every service runs on.
    pub fn runtime(self) -> Result<tokio::runtime::Runtime, ExitCode> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|error| self.failure(&format!("cannot start the runtime: {error}")))
    }
}

/// Clap's multi-line usage error as one line: the message without the usage hint.
pub fn one_line(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .collect();
    parts.join(" ").trim_start_matches("error: ").to_owned()
}

/// An optional listen address flag: `host:port`, or `off` (or empty) for none.
pub fn optional_addr(flag: &str, value: &str) -> Result<Option<std::net::SocketAddr>, String> {
    match value.trim() {
        "off" | "" => Ok(None),
        addr => addr
            .parse()
            .map(Some)
            .map_err(|_| format!("--{flag} {addr:?} is not host:port or off")),
    }
}

/// A password from a file (`--<flag>`, a mounted Secret) or the environment variable `env`,
/// never a flag value, which the process list would show. Both given is refused; an empty
/// variable counts as unset; the file's trailing newline is dropped. `what` names it in
/// errors (`database`, `Redis`).
pub fn password_from_file_or_env(
    what: &str,
    flag: &str,
    file: Option<&std::path::Path>,
    env: &str,
) -> Result<Option<String>, String> {
    let from_env = std::env::var(env)
        .ok()
        .filter(|password| !password.is_empty());
    match (file, from_env) {
        (Some(_), Some(_)) => Err(format!(
            "give the {what} password in --{flag} or {env}, not both"
        )),
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("--{flag} {}: {error}", path.display()))?;
            Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
        }
        (None, from_env) => Ok(from_env),
    }
}

/// Parses `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s or 5m"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "" | "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        _ => return Err(format!("{text:?} has an unknown unit; use ms, s, m or h")),
    };
    Ok(duration)
}

/// Resolves on SIGTERM or SIGINT: what Kubernetes and a terminal send to stop a service.
pub async fn termination() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for sigterm; only ctrl-c stops this service");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("termination signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("42").unwrap(), Duration::from_secs(42));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
