//! Balances and budgets on the hot path: each principal's credit balance and monthly budgets
//! (its own and its orgs'), fetched from the vault at most once per TTL (one fetch at a time
//! per principal) and adjusted locally by every call this router serves, so a cap stops
//! calls here at once rather than when the ledger catches up. The rate limits on the
//! principal and its orgs come with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyroute_proto::router::v1::KeySource;
use keyroute_proto::vault::v1::{Budget, GetBalanceRequest};
use keyroute_wire::catalog::dollars;

use crate::policy::rate_limits::LimitTable;
use crate::vault::VaultClient;

/// Who pays for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The caller's (or their org's) own key: the provider bills them.
    Byok,
    /// The platform's key: the caller's credit balance pays.
    Managed,
}

impl Source {
    /// The word in metrics labels and response headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Byok => "byok",
            Self::Managed => "managed",
        }
    }

    pub fn key_source(self) -> KeySource {
        match self {
            Self::Byok => KeySource::Byok,
            Self::Managed => KeySource::Managed,
        }
    }
}

/// What a principal may spend, as last fetched, plus this router's charges since: shared by
/// every request of the principal, adjusted with atomic adds, never copied per request.
#[derive(Debug, Default)]
pub struct Account {
    balance_micros: AtomicI64,
    month: String,
    /// (owner, monthly cap (0: none), spent this month): the principal's own first.
    budgets: Vec<(String, i64, AtomicI64)>,
    /// The rate limits on the principal and its orgs.
    limits: LimitTable,
}

impl Account {
    pub fn new(balance_micros: i64, month: String, budgets: Vec<(String, i64, i64)>) -> Self {
        Self {
            balance_micros: AtomicI64::new(balance_micros),
            month,
            budgets: budgets
                .into_iter()
                .map(|(owner, cap, spent)| (owner, cap, AtomicI64::new(spent)))
                .collect(),
            limits: LimitTable::default(),
        }
    }

    /// The account with the rate limits that came with it.
    #[must_use]
    pub fn with_limits(mut self, limits: LimitTable) -> Self {
        self.limits = limits;
        self
    }

    /// The rate limits on the principal and its orgs.
    pub fn limits(&self) -> &LimitTable {
        &self.limits
    }

    pub fn balance_micros(&self) -> i64 {
        self.balance_micros.load(Ordering::Relaxed)
    }

    /// The budget of `owner` that is used up, as words for the caller.
    pub fn budget_reached(&self, owner: &str) -> Option<String> {
        let (_, cap, spent) = self.budgets.iter().find(|(id, _, _)| id == owner)?;
        let spent = spent.load(Ordering::Relaxed);
        (*cap > 0 && spent >= *cap).then(|| {
            format!(
                "the monthly budget of {owner} ({}) is used up: {} spent in {}",
                dollars(*cap),
                dollars(spent),
                self.month
            )
        })
    }

    /// Counts a call served through `key_owner`'s key for `principal`.
    pub fn charge(&self, principal: &str, key_owner: &str, source: Source, cost: i64) {
        if source == Source::Managed {
            self.balance_micros.fetch_sub(cost, Ordering::Relaxed);
        }
        for (owner, _, spent) in &self.budgets {
            if owner == principal || owner == key_owner {
                spent.fetch_add(cost, Ordering::Relaxed);
            }
        }
    }

    /// How much `owner` has spent this month, as far as this router knows.
    #[cfg(test)]
    fn spent(&self, owner: &str) -> Option<i64> {
        self.budgets
            .iter()
            .find(|(id, _, _)| id == owner)
            .map(|(_, _, spent)| spent.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Default)]
struct Slot {
    fetch: tokio::sync::Mutex<()>,
    known: Mutex<Option<(Instant, Arc<Account>)>>,
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

    /// The principal's slot; allocates only the first time a principal is seen.
    fn slot(&self, principal: &str) -> Arc<Slot> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(slot) = slots.get(principal) {
            return slot.clone();
        }
        slots.entry(principal.to_owned()).or_default().clone()
    }

    fn fresh(&self, slot: &Slot) -> Option<Arc<Account>> {
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
    pub async fn get(&self, principal: &str) -> Option<Arc<Account>> {
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
                let limits = LimitTable::new(reply.rate_limits);
                let account = Arc::new(
                    Account::new(reply.balance_micros, reply.month, budgets).with_limits(limits),
                );
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
        let account = Account::new(
            1_000,
            "2026-11".into(),
            vec![("usr_a".into(), 0, 0), ("org_b".into(), 500, 450)],
        );
        assert_eq!(account.budget_reached("org_b"), None);
        account.charge("usr_a", "org_b", Source::Byok, 50);
        assert_eq!(
            account.balance_micros(),
            1_000,
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
        assert_eq!(account.balance_micros(), -200);
        assert_eq!(account.spent("usr_a"), Some(1_250));
        assert_eq!(dollars(-200), "-$0.000200");
        assert_eq!(dollars(12_345_678), "$12.345678");
    }
}
