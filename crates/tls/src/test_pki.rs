//! A throwaway PKI on disk for tests: a dev CA and certificates for named identities in a
//! temporary directory. Here rather than in the shared test-support crate so that the TLS
//! crate's own tests need nothing above it.

// Test scaffolding: a failure to write a temporary file should stop the test at once.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::dev_pki::{DEV_IDENTITIES, DevCa, write};
use crate::material::TlsPaths;

/// A temporary directory holding a dev CA and certificates for named identities.
#[derive(Debug)]
pub struct TestPki {
    dir: tempfile::TempDir,
    ca: DevCa,
}

impl TestPki {
    /// A CA with certificates for `vault`, `router`, `edge` and `admin`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::new("keyroute test ca").unwrap();
        ca.write_dir(dir.path(), &DEV_IDENTITIES).unwrap();
        Self { dir, ca }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The paths for a certificate issued to `file_name`.
    pub fn paths(&self, file_name: &str) -> TlsPaths {
        TlsPaths::in_dir(self.dir.path(), file_name)
    }

    /// Issues `spiffe://keyroute/<name>` and returns its paths.
    pub fn issue(&self, name: &str) -> TlsPaths {
        self.issue_with_uris(
            &name.replace('/', "-"),
            &[format!("spiffe://keyroute/{name}")],
        )
    }

    /// Issues a certificate with exactly these URI SANs under `file_name`.
    pub fn issue_with_uris(&self, file_name: &str, uris: &[String]) -> TlsPaths {
        let issued = self.ca.issue_with_uris(file_name, uris).unwrap();
        let cert = self.dir.path().join(format!("{file_name}.crt"));
        let key = self.dir.path().join(format!("{file_name}.key"));
        write(&cert, issued.cert_pem.as_bytes(), 0o644).unwrap();
        write(&key, issued.key_pem.as_bytes(), 0o600).unwrap();
        self.paths(file_name)
    }

    /// Every file in the directory, for canary scans.
    pub fn files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}
