//! The console's cookies: the session (`kr_session`, HttpOnly) and its CSRF value
//! (`kr_csrf`, readable by the page's script), whether a request came over TLS, and whether
//! its `Origin` is the edge's own.
//!
//! The CSRF value is derived from the session token (a keyed hash), so a cookie planted by a
//! sibling site cannot be paired with a session it does not know.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const SESSION: &str = "kr_session";
/// The CSRF cookie's name; its value goes back in [`CSRF_HEADER`] on unsafe calls.
pub const CSRF: &str = "kr_csrf";
/// The header the page copies the CSRF cookie into.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name`, if the request carries it.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The CSRF value that belongs to `session`: 128 bits of its keyed hash, as hex.
pub fn csrf_for(session: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"keyroute console csrf\0");
    hash.update(session.as_bytes());
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether two strings are equal, in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether the request came over TLS, as the proxy in front of the edge reports it (the
/// edge itself speaks plain HTTP).
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| {
            first.split(';').any(|part| {
                part.trim().split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("proto")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                })
            })
        });
    forwarded_proto || forwarded
}

/// Whether the request's `Origin`, when it sends one, is this edge's own: its host and port
/// are the request's `Host` (or the proxy's `X-Forwarded-Host`). The scheme is not compared:
/// TLS may end at a proxy that does not say so.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(authority) = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
    }) else {
        // `null` (a sandboxed frame, a redirect) or another scheme.
        return false;
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    host.is_some_and(|host| host.eq_ignore_ascii_case(authority))
}

/// `Set-Cookie` values for a new session of `max_age`: the session token (HttpOnly) and its
/// CSRF value (readable by script), both `SameSite=Strict`, `Secure` when `secure`.
pub fn set(session: &str, csrf: &str, max_age: Duration, secure: bool) -> [Option<HeaderValue>; 2] {
    let tail = format!(
        "; SameSite=Strict; Path=/; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    [
        HeaderValue::from_str(&format!("{SESSION}={session}; HttpOnly{tail}")).ok(),
        HeaderValue::from_str(&format!("{CSRF}={csrf}{tail}")).ok(),
    ]
}

/// `Set-Cookie` values that remove both cookies.
pub fn clear(secure: bool) -> [HeaderValue; 2] {
    let tail = if secure { "; Secure" } else { "" };
    [
        HeaderValue::from_str(&format!(
            "{SESSION}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{tail}"
        ))
        .unwrap_or(HeaderValue::from_static("kr_session=; Path=/; Max-Age=0")),
        HeaderValue::from_str(&format!(
            "{CSRF}=; SameSite=Strict; Path=/; Max-Age=0{tail}"
        ))
        .unwrap_or(HeaderValue::from_static("kr_csrf=; Path=/; Max-Age=0")),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn cookies_are_found_by_name() {
        let h = headers(&[
            ("cookie", "a=1; kr_csrf=abc"),
            ("cookie", "kr_session=kr_x"),
        ]);
        assert_eq!(get(&h, CSRF), Some("abc"));
        assert_eq!(get(&h, SESSION), Some("kr_x"));
        assert_eq!(get(&h, "b"), None);
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        assert!(same_origin(&headers(&[("host", "h:1")])));
        assert!(same_origin(&headers(&[
            ("host", "h:1"),
            ("origin", "http://h:1")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "h:1"),
            ("origin", "http://e:1")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "h:1"),
            ("origin", "null")
        ])));
        assert!(over_tls(&headers(&[("x-forwarded-proto", "https")])));
        assert!(over_tls(&headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=https"
        )])));
        assert!(!over_tls(&headers(&[("x-forwarded-proto", "http")])));
    }
}
