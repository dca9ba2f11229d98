//! The background task that polls certificate files and reloads them on change, shared by
//! the server and client sides.

use std::path::PathBuf;
use std::sync::Weak;
use std::time::Duration;

use crate::error::TlsError;

/// Calls `reload` every `interval` while the material is alive, logging what happened.
pub(crate) fn spawn<T, F>(
    material: Weak<T>,
    interval: Duration,
    side: &'static str,
    reload: F,
) -> tokio::task::JoinHandle<()>
where
    T: Send + Sync + 'static,
    F: Fn(&T) -> (Result<bool, TlsError>, PathBuf) + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(material) = material.upgrade() else {
                return;
            };
            match reload(&material) {
                (Ok(true), cert) => {
                    tracing::info!(side, cert = %cert.display(), "reloaded tls certificate")
                }
                (Ok(false), _) => {}
                (Err(error), _) => {
                    tracing::warn!(side, %error, "tls certificate reload failed; keeping the previous one")
                }
            }
        }
    })
}
