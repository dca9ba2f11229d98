//! Load benchmarks live in `benches/` and `src/bin/load.rs` (`keyroute-load`); this library
//! holds what they share: quantiles, the load generator's target and its schedule, and the
//! long coding-agent turn sent by both.

pub mod long_turn;
pub mod pace;

use std::time::Duration;

/// The `q` quantile (0..=1) of sorted samples.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The `q` quantile (0..=1) of sorted samples in nanoseconds, 0 when there are none.
pub fn quantile_ns(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Where `keyroute-load` sends its requests: a plain-HTTP URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, to connect to and for the `Host` header.
    pub authority: String,
    /// Path and query, `/` at least.
    pub path: String,
    /// `Bearer <token>`, when there is a token.
    pub authorization: Option<String>,
}

impl Target {
    /// `http://host[:port]/path` (port 80 by default) and a bearer token (none if empty).
    pub fn parse(url: &str, token: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only plain http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let has_port = match authority.rfind(':') {
            Some(at) => !authority.ends_with(']') && !authority[at + 1..].is_empty(),
            None => false,
        };
        let authority = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Target {
            authority,
            path: path.to_owned(),
            authorization: (!token.is_empty()).then(|| format!("Bearer {token}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&samples, 0.5), Duration::from_millis(51));
        assert_eq!(quantile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
        let ns: Vec<u64> = (1..=1000).collect();
        assert_eq!(quantile_ns(&ns, 0.999), 999);
        assert_eq!(quantile_ns(&ns, 1.0), 1000);
        assert_eq!(quantile_ns(&[], 0.5), 0);
    }

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:8080/v1/chat/completions", "kr_x").unwrap();
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path, "/v1/chat/completions");
        assert_eq!(t.authorization.as_deref(), Some("Bearer kr_x"));
        let t = Target::parse("http://localhost", "").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("localhost:80", "/")
        );
        assert_eq!(t.authorization, None);
        assert_eq!(
            Target::parse("http://[::1]:9/x", "").unwrap().authority,
            "[::1]:9"
        );
        assert!(Target::parse("https://example.com/", "").is_err());
        assert!(Target::parse("http:///x", "").is_err());
    }
}
