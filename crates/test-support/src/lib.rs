//! Helpers shared by keyroute's integration tests: a throwaway PKI on disk and a capture of
//! every log line, so that tests can assert that a canary secret never appears.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod logs;
mod pki;

pub use logs::{CapturedLogs, capture_logs};
pub use pki::TestPki;
