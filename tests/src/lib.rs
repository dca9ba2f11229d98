//! End-to-end tests across keyroute's binaries live in `tests/`; this library only finds the
//! binaries that `cargo test --workspace` builds.

use std::path::PathBuf;

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
