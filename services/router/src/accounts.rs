//! Balances and budgets on the hot path: each principal's credit balance and monthly budgets
//! (its own and its orgs'), fetched from the vault at most once per TTL (one fetch at a time
//! per principal) and adjusted locally by every call this router serves, so a cap stops
//! calls here at once rather than when the ledger catches up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyroute_proto::vault::v1::{Budget, GetBalanceRequest};

use crate::candidates::Source;
use crate::vault::VaultClient;

/// What a principal may spend, as last known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub balance_micros: i64,
    pub month: String,
    /// (owner, monthly cap (0: none), spent this month): the principal's own first.
    pub budgets: Vec<(String, i64, i64)>,
}

impl Account {
    /// The budget of `owner` that is used up, as words for the caller.
    pub fn budget_reached(&self, owner: &str) -> Option<String> {
        let (_, cap, spent) = self.budgets.iter().find(|(id, _, _)| id == owner)?;
        (*cap > 0 && spent >= cap).then(|| {
            format!(
                "the monthly budget of {owner} ({}) is used up: {} spent in {}",
                dollars(*cap),
                dollars(*spent),
                self.month
            )
        })
    }

    fn charge(&mut self, principal: &str, key_owner: &str, source: Source, cost: i64) {
        if source == Source::Managed {
            self.balance_micros -= cost;
        }
        for (owner, _, spent) in &mut self.budgets {
            if owner == principal || owner == key_owner {
                *spent += cost;
            }
        }
    }
}

/// Micro-dollars as `$1.234567`.
pub fn dollars(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}${}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

#[derive(Debug, Default)]
struct Slot {
    fetch: tokio::sync::Mutex<()>,
    known: Mutex<Option<(Instant, Account)>>,
}

/// The cache; see the module docs.
#[derive(Debug)]
pub struct Accounts {
    vault: VaultClient,
    ttl: Duration,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    vault_calls: AtomicU64,
}

fn budget(budget: Budget) -> (String, i64, i64) {
    (
        budget.owner_id,
        budget.monthly_cap_micros,
        budget.month_spend_micros,
    )
}

impl Accounts {
    pub fn new(vault: VaultClient, ttl: Duration) -> Self {
        Self {
            vault,
            ttl,
            slots: Mutex::default(),
            vault_calls: AtomicU64::new(0),
        }
    }

    fn slot(&self, principal: &str) -> Arc<Slot> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        slots.entry(principal.to_owned()).or_default().clone()
    }

    fn fresh(&self, slot: &Slot) -> Option<Account> {
        let known = slot
            .known
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        known
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, account)| account.clone())
    }

    /// The principal's account. With the vault unreachable, the last known one, however old;
    /// `None` if there is none (the caller then refuses managed calls).
    pub async fn get(&self, principal: &str) -> Option<Account> {
        let slot = self.slot(principal);
        if let Some(account) = self.fresh(&slot) {
            return Some(account);
        }
        let _one_fetch = slot.fetch.lock().await;
        if let Some(account) = self.fresh(&slot) {
            return Some(account);
        }
        let request = GetBalanceRequest {
            principal_id: principal.to_owned(),
        };
        self.vault_calls.fetch_add(1, Ordering::Relaxed);
        match self.vault.clone().get_balance(request).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                let mut budgets: Vec<_> = reply.budget.into_iter().map(budget).collect();
                budgets.extend(reply.org_budgets.into_iter().map(budget));
                let account = Account {
                    balance_micros: reply.balance_micros,
                    month: reply.month,
                    budgets,
                };
                *slot
                    .known
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner()) =
                    Some((Instant::now(), account.clone()));
                Some(account)
            }
            Err(status) => {
                tracing::warn!(principal, code = ?status.code(), message = status.message(), "balance unavailable; using the last known one");
                let known = slot
                    .known
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                known.as_ref().map(|(_, account)| account.clone())
            }
        }
    }

    /// How many times the vault was asked for a balance: a few per principal per TTL.
    pub fn vault_calls(&self) -> u64 {
        self.vault_calls.load(Ordering::Relaxed)
    }

    /// Counts a served call against the cached balance and budgets until the next fetch.
    pub fn charge(&self, principal: &str, key_owner: &str, source: Source, cost: i64) {
        let slot = self.slot(principal);
        let mut known = slot
            .known
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some((_, account)) = known.as_mut() {
            account.charge(principal, key_owner, source, cost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_count_against_balance_and_budgets() {
        let mut account = Account {
            balance_micros: 1_000,
            month: "2026-11".into(),
            budgets: vec![("usr_a".into(), 0, 0), ("org_b".into(), 500, 450)],
        };
        assert_eq!(account.budget_reached("org_b"), None);
        account.charge("usr_a", "org_b", Source::Byok, 50);
        assert_eq!(
            account.balance_micros, 1_000,
            "byok never touches the balance"
        );
        assert!(
            account
                .budget_reached("org_b")
                .unwrap()
                .contains("$0.000500")
        );
        assert_eq!(
            account.budget_reached("usr_a"),
            None,
            "no cap, never reached"
        );
        account.charge("usr_a", "platform", Source::Managed, 1_200);
        assert_eq!(account.balance_micros, -200);
        assert_eq!(account.budgets[0].2, 1_250);
        assert_eq!(dollars(-200), "-$0.000200");
        assert_eq!(dollars(12_345_678), "$12.345678");
    }
}
