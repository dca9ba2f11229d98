//! Failed gateway token checks, remembered briefly: a token the router or vault refused is
//! refused again at the edge for a few seconds without asking them (a negative cache), and a
//! source address that fails too often within a minute is answered 429 until its window
//! ends, except for tokens this edge has seen verified lately (so one noisy client behind a
//! shared address does not lock out its neighbours). Tokens are kept only as SHA-256 hashes.
//!
//! Every table is bounded: past [`MAX_ENTRIES`], expired entries are dropped and, if that
//! is not enough, the table starts over (the limiter then forgets; it never refuses a
//! client because memory ran short).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The most entries each table keeps.
pub const MAX_ENTRIES: usize = 100_000;

/// How failed token checks are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthLimit {
    /// Failed checks one source address may make per `window`; 0 turns the limit off.
    pub failures: u32,
    pub window: Duration,
    /// How long a refused token is refused at the edge without asking again.
    pub refused_ttl: Duration,
    /// How long a verified token is exempt from its address's limit.
    pub verified_ttl: Duration,
}

impl Default for AuthLimit {
    fn default() -> Self {
        Self {
            failures: 20,
            window: Duration::from_secs(60),
            refused_ttl: Duration::from_secs(10),
            verified_ttl: Duration::from_secs(300),
        }
    }
}

/// A token, as the edge remembers it.
pub type TokenHash = [u8; 32];

pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// What to do with a request that carries a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Ask the router or vault as usual.
    Check,
    /// Refused a moment ago: refuse again (401) without asking.
    Refused,
    /// The address failed too often: 429, retry after this long.
    Limited { retry_after: Duration },
}

/// The key an address is counted under: IPv4 addresses alone, IPv6 by their /64 (one
/// client usually holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    V6(u64),
}

fn source(addr: IpAddr) -> Source {
    match addr {
        IpAddr::V4(v4) => Source::V4(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Source::V4(u32::from(v4)),
            None => Source::V6((u128::from(v6) >> 64) as u64),
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

#[derive(Debug, Default)]
struct Tables {
    refused: HashMap<TokenHash, Instant>,
    verified: HashMap<TokenHash, Instant>,
    sources: HashMap<Source, Window>,
}

/// Keeps `table` under [`MAX_ENTRIES`] before an insert.
fn make_room<K, V>(table: &mut HashMap<K, V>, live: impl Fn(&V) -> bool) {
    if table.len() < MAX_ENTRIES {
        return;
    }
    table.retain(|_, value| live(value));
    if table.len() >= MAX_ENTRIES {
        table.clear();
    }
}

/// The edge's memory of failed token checks; shared by every request.
#[derive(Debug)]
pub struct AuthFailures {
    limit: AuthLimit,
    tables: Mutex<Tables>,
}

impl AuthFailures {
    pub fn new(limit: AuthLimit) -> Self {
        Self {
            limit,
            tables: Mutex::new(Tables::default()),
        }
    }

    pub fn limit(&self) -> AuthLimit {
        self.limit
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// What to do with a request carrying `token` from `addr`, at `now`. A token refused
    /// from the cache counts as another failure of its address.
    pub fn check(&self, token: &TokenHash, addr: Option<IpAddr>, now: Instant) -> Verdict {
        let mut tables = self.tables();
        if tables.verified.get(token).is_some_and(|until| *until > now) {
            return Verdict::Check;
        }
        if self.limit.failures > 0
            && let Some(window) = addr.and_then(|a| tables.sources.get(&source(a)))
        {
            let ends = window.started + self.limit.window;
            if ends > now && window.failures >= self.limit.failures {
                return Verdict::Limited {
                    retry_after: ends - now,
                };
            }
        }
        if tables.refused.get(token).is_some_and(|until| *until > now) {
            self.count(&mut tables, addr, now);
            return Verdict::Refused;
        }
        Verdict::Check
    }

    /// The router or vault refused `token` (or the edge did, from the cache).
    pub fn failed(&self, token: &TokenHash, addr: Option<IpAddr>, now: Instant) {
        let mut tables = self.tables();
        tables.verified.remove(token);
        make_room(&mut tables.refused, |until| *until > now);
        tables.refused.insert(*token, now + self.limit.refused_ttl);
        self.count(&mut tables, addr, now);
    }

    /// The router or vault accepted `token`.
    pub fn verified(&self, token: &TokenHash, now: Instant) {
        let mut tables = self.tables();
        tables.refused.remove(token);
        if tables
            .verified
            .get(token)
            .is_some_and(|until| *until > now + self.limit.verified_ttl / 2)
        {
            return;
        }
        make_room(&mut tables.verified, |until| *until > now);
        tables
            .verified
            .insert(*token, now + self.limit.verified_ttl);
    }

    fn count(&self, tables: &mut Tables, addr: Option<IpAddr>, now: Instant) {
        let Some(addr) = addr else { return };
        if self.limit.failures == 0 {
            return;
        }
        let window = self.limit.window;
        make_room(&mut tables.sources, |w| w.started + window > now);
        let entry = tables.sources.entry(source(addr)).or_insert(Window {
            started: now,
            failures: 0,
        });
        if entry.started + window <= now {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit() -> AuthLimit {
        AuthLimit {
            failures: 3,
            window: Duration::from_secs(60),
            refused_ttl: Duration::from_secs(10),
            verified_ttl: Duration::from_secs(300),
        }
    }

    #[test]
    fn a_refused_token_is_refused_from_memory_until_it_expires() {
        let failures = AuthFailures::new(limit());
        let (bad, now) = (token_hash("kr_bad"), Instant::now());
        assert_eq!(failures.check(&bad, None, now), Verdict::Check);
        failures.failed(&bad, None, now);
        assert_eq!(failures.check(&bad, None, now), Verdict::Refused);
        let later = now + Duration::from_secs(11);
        assert_eq!(failures.check(&bad, None, later), Verdict::Check);
    }

    #[test]
    fn an_address_that_fails_too_often_waits_but_verified_tokens_pass() {
        let failures = AuthFailures::new(limit());
        let addr: IpAddr = "2001:db8::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8::2".parse().unwrap();
        let (good, now) = (token_hash("kr_good"), Instant::now());
        failures.verified(&good, now);
        for i in 0..3 {
            failures.failed(&token_hash(&format!("kr_guess{i}")), Some(addr), now);
        }
        let fresh = token_hash("kr_fresh");
        let at = now + Duration::from_secs(15);
        assert_eq!(
            failures.check(&fresh, Some(neighbour), at),
            Verdict::Limited {
                retry_after: Duration::from_secs(45)
            },
            "the /64 is counted as one source"
        );
        assert_eq!(failures.check(&good, Some(addr), at), Verdict::Check);
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(failures.check(&fresh, Some(other), at), Verdict::Check);
        let next_window = now + Duration::from_secs(61);
        assert_eq!(
            failures.check(&fresh, Some(addr), next_window),
            Verdict::Check
        );
    }

    #[test]
    fn a_verified_token_that_fails_later_loses_its_exemption() {
        let failures = AuthFailures::new(limit());
        let (token, now) = (token_hash("kr_revoked"), Instant::now());
        failures.verified(&token, now);
        failures.failed(&token, None, now);
        assert_eq!(failures.check(&token, None, now), Verdict::Refused);
    }
}
