//! Raw usage rows are kept for a while (for audits and to recognise a router's retried
//! batch) and then pruned; the running totals that budgets and reports read stay. Pruning
//! runs on its own task, in small transactions on the blocking pool, never on a request.

use std::time::Duration;

use crate::service::Vault;

/// How long raw usage rows are kept unless `--usage-retention` says otherwise.
pub const DEFAULT_USAGE_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
/// The shortest retention accepted: routers retry a usage batch for minutes, and a pruned
/// usage id is no longer recognised as a duplicate.
pub const MIN_USAGE_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How often old rows are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Checks a configured retention: at least a day.
pub fn check_retention(retention: Duration) -> Result<Duration, String> {
    if retention < MIN_USAGE_RETENTION {
        return Err(format!(
            "--usage-retention {}s is shorter than a day; routers may still retry a batch that old",
            retention.as_secs()
        ));
    }
    Ok(retention)
}

/// Prunes now and then every hour until the task is aborted.
pub fn spawn_pruner(vault: Vault, retention: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let millis = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            let before = crate::convert::now_ms().saturating_sub(millis);
            match vault.store().prune_usage(before).await {
                Ok(0) => {}
                Ok(pruned) => {
                    tracing::info!(pruned, before, "pruned raw usage rows past retention")
                }
                Err(error) => {
                    tracing::warn!(%error, "pruning raw usage rows failed; totals are unaffected")
                }
            }
        }
    })
}
