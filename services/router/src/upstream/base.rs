//! Base URLs parsed once: a call to a provider only appends its path to a base parsed before
//! (scheme, authority, base path, and whether the egress policy refuses its host as written),
//! never parses a URL string itself. The operator's base URLs are parsed when the router
//! starts; the ones contracts derive (the registry's, a region's, a key's own) are kept by
//! their text, so a key whose base URL changes finds its new text parsed anew, never the old
//! entry. The cache is bounded: past its capacity an entry is dropped for each one added.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, RwLock};

use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use keyroute_egress::{EgressPolicy, Refused};

/// The most base URLs kept parsed: the registry's and the operator's are few, but every
/// custom key may bring its own.
pub const CAPACITY: usize = 4096;

/// Why a base URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseError {
    #[error("not a URL")]
    NotAUrl,
    #[error("its scheme {0:?} is neither http nor https")]
    Scheme(String),
}

/// A parsed base URL: what addressing a request on it needs.
#[derive(Debug, Clone)]
pub struct Base {
    scheme: Scheme,
    /// The host (lowercase) and the port unless it is the scheme's default: the `Host` sent,
    /// and what SigV4 signs.
    authority: Authority,
    /// The base path without its trailing `/` (empty for a bare host).
    path: String,
    /// The egress policy's verdict on the host as written (an address literal, `localhost`),
    /// for destinations users supplied.
    literal: Result<(), Refused>,
}

impl Base {
    /// Parses `raw` (surrounding whitespace and trailing `/` ignored); the host is checked
    /// against `policy` as written, names being checked again on what they resolve to.
    pub fn parse(raw: &str, policy: &EgressPolicy) -> Result<Self, BaseError> {
        let uri: Uri = raw.trim().parse().map_err(|_| BaseError::NotAUrl)?;
        let scheme = uri.scheme().ok_or(BaseError::NotAUrl)?.clone();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            other => return Err(BaseError::Scheme(other.to_owned())),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or(BaseError::NotAUrl)?;
        let host = host.to_ascii_lowercase();
        // Userinfo is dropped, as it always was: credentials travel in headers.
        let authority = match uri.port_u16() {
            Some(port) if port != default_port => format!("{host}:{port}"),
            _ => host.clone(),
        };
        let authority = Authority::try_from(authority).map_err(|_| BaseError::NotAUrl)?;
        Ok(Self {
            scheme,
            authority,
            path: uri.path().trim_end_matches('/').to_owned(),
            literal: policy.check_host(&host),
        })
    }

    /// `host[:port]` as sent.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// The full path of a request: the base path, then `path` (the contract's path and
    /// query), with what may not appear in a request target percent-encoded.
    pub fn path_for(&self, path: &str) -> String {
        let mut full = String::with_capacity(self.path.len() + path.len());
        full.push_str(&self.path);
        escape_into(path, &mut full);
        full
    }

    /// The absolute URI of a full path from `path_for`.
    pub fn uri(&self, path: String) -> Result<Uri, http::Error> {
        let path = PathAndQuery::try_from(path)?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
    }

    /// Whether the egress policy lets a user-supplied destination use this host as written.
    pub fn literal(&self) -> Result<(), &Refused> {
        self.literal.as_ref().map(|_| ())
    }
}

/// Appends `path`, percent-encoding the bytes a URL parser would (controls, space, non-ASCII
/// and a few delimiters), so a model name with a space still makes a valid request line.
/// A path that needs none (every path the registry builds) is copied as is.
fn escape_into(path: &str, out: &mut String) {
    let query_at = path.find('?').unwrap_or(path.len());
    let needs = |b: u8, in_query: bool| {
        b <= b' '
            || b >= 0x7f
            || matches!(b, b'"' | b'<' | b'>')
            || (!in_query && matches!(b, b'`' | b'{' | b'}'))
            || (in_query && b == b'\'')
    };
    let clean = path
        .bytes()
        .enumerate()
        .all(|(i, b)| !needs(b, i > query_at));
    if clean {
        out.push_str(path);
        return;
    }
    for (i, b) in path.bytes().enumerate() {
        if needs(b, i > query_at) {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
}

/// Base URLs parsed by their text, at most [`CAPACITY`] of them.
#[derive(Debug)]
pub struct Bases {
    policy: Arc<EgressPolicy>,
    parsed: RwLock<HashMap<String, Arc<Base>>>,
    capacity: usize,
}

impl Bases {
    /// An empty cache of [`CAPACITY`] entries, checking hosts against `policy`.
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self::with_capacity(policy, CAPACITY)
    }

    /// An empty cache of `capacity` entries (at least one).
    pub fn with_capacity(policy: Arc<EgressPolicy>, capacity: usize) -> Self {
        Self {
            policy,
            parsed: RwLock::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// `raw` parsed: from the cache, or parsed now and kept. A URL that does not parse is not
    /// kept (the key is benched, so it is not asked for often).
    pub fn get(&self, raw: &str) -> Result<Arc<Base>, BaseError> {
        if let Some(base) = self
            .parsed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(raw)
        {
            return Ok(base.clone());
        }
        let base = Arc::new(Base::parse(raw, &self.policy)?);
        let mut parsed = self.parsed.write().unwrap_or_else(|p| p.into_inner());
        if parsed.len() >= self.capacity && !parsed.contains_key(raw) {
            // Any entry will do: a dropped one is parsed again when next used.
            let dropped = parsed.keys().next().cloned();
            if let Some(dropped) = dropped {
                parsed.remove(&dropped);
            }
        }
        parsed.insert(raw.to_owned(), base.clone());
        Ok(base)
    }

    /// How many base URLs are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.parsed.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> EgressPolicy {
        EgressPolicy::strict()
    }

    #[test]
    fn a_base_keeps_what_a_request_needs() {
        let base = Base::parse(" HTTPS://API.Example.com:443/v1/ ", &strict()).unwrap();
        assert_eq!(base.authority(), "api.example.com");
        let path = base.path_for("/chat/completions?x=1");
        assert_eq!(path, "/v1/chat/completions?x=1");
        assert_eq!(
            base.uri(path).unwrap().to_string(),
            "https://api.example.com/v1/chat/completions?x=1"
        );
        let base = Base::parse("http://127.0.0.1:8080", &strict()).unwrap();
        assert_eq!(base.authority(), "127.0.0.1:8080");
        assert_eq!(base.path_for("/m"), "/m");
        assert!(base.literal().unwrap_err().to_string().contains("loopback"));
        let base = Base::parse("http://user:pw@[::1]:80/x", &strict()).unwrap();
        assert_eq!(base.authority(), "[::1]");
        assert!(base.literal().is_err());
        assert!(
            Base::parse("https://api.example.com", &strict())
                .unwrap()
                .literal()
                .is_ok()
        );
    }

    #[test]
    fn unusable_base_urls_say_why() {
        assert_eq!(
            Base::parse("not a url", &strict()).unwrap_err(),
            BaseError::NotAUrl
        );
        assert_eq!(
            Base::parse("/v1", &strict()).unwrap_err(),
            BaseError::NotAUrl
        );
        assert_eq!(
            Base::parse("ftp://example.com/v1", &strict()).unwrap_err(),
            BaseError::Scheme("ftp".into())
        );
    }

    #[test]
    fn paths_are_escaped_only_where_needed() {
        let base = Base::parse("https://h/v1beta", &strict()).unwrap();
        let path = "/models/gemini-2.5-flash:generateContent?alt=sse";
        assert_eq!(base.path_for(path), format!("/v1beta{path}"));
        assert_eq!(
            base.path_for("/models/my model é`:x?q=a b'"),
            "/v1beta/models/my%20model%20%C3%A9%60:x?q=a%20b%27"
        );
        // Already encoded stays as is (SigV4 signs what is sent).
        assert_eq!(
            base.path_for("/model/a%3Ab/converse"),
            "/v1beta/model/a%3Ab/converse"
        );
        assert!(base.uri(base.path_for("/models/my model é")).is_ok());
    }

    #[test]
    fn the_cache_is_keyed_by_text_and_bounded() {
        let bases = Bases::with_capacity(Arc::new(strict()), 8);
        let first = bases.get("https://one.example.com/v1").unwrap();
        assert!(Arc::ptr_eq(
            &first,
            &bases.get("https://one.example.com/v1").unwrap()
        ));
        // Another text (a key's changed base URL) is its own entry, never the old one.
        let changed = bases.get("https://two.example.com/v2").unwrap();
        assert_eq!(changed.authority(), "two.example.com");
        assert_eq!(changed.path_for("/x"), "/v2/x");
        for i in 0..100 {
            bases.get(&format!("https://h{i}.example.com/")).unwrap();
            assert!(bases.len() <= 8);
        }
        assert_eq!(bases.len(), 8);
        assert!(bases.get("nope").is_err());
        assert_eq!(bases.len(), 8);
    }
}
