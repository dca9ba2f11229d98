//! Helpers shared by keyroute's integration tests: a throwaway PKI on disk, a real vault
//! served over mTLS on a loopback port, a real router in front of it, and a capture of every
//! log line so that tests can assert that a canary secret never appears.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod logs;
mod router;
mod scrape;
mod threads;
mod vault;

pub use keyroute_tls::TestPki;
pub use logs::{CapturedLogs, capture_logs};
pub use router::TestRouter;
pub use scrape::{metric_value, tracing_on};
pub use threads::threads_named;
pub use vault::{TestVault, VaultClient, credential_request, test_database, with_token};
