//! Generated gRPC code for keyroute's protobuf APIs, with redacting `Debug` for every message
//! that carries a secret.

#![allow(clippy::doc_markdown, missing_debug_implementations)]

pub mod codec;
pub mod contract;
mod rate_limits;
mod redact;
pub mod utc;

/// `keyroute.vault.v1`: the credential vault.
#[allow(clippy::all)]
pub mod vault {
    /// Version 1 of the vault API.
    pub mod v1 {
        tonic::include_proto!("keyroute.vault.v1");
    }
}

/// `keyroute.router.v1`: the canonical chat API.
#[allow(clippy::all)]
pub mod router {
    /// Version 1 of the router API.
    pub mod v1 {
        tonic::include_proto!("keyroute.router.v1");
    }
}

/// The encoded `FileDescriptorSet` of every keyroute proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("keyroute_descriptor");

/// The gateway token from an `authorization` value (`Bearer kr_...`, scheme in any case).
/// One parser for the edge, the router and the vault, so they never disagree on what a
/// token is.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A timestamp as RFC 3339 in UTC (`2026-11-24T04:07:15Z`), or empty; how every API and
/// the CLI show times.
pub fn rfc3339(timestamp: Option<&prost_types::Timestamp>) -> String {
    let Some(ts) = timestamp else {
        return String::new();
    };
    let t = utc::UtcTime::from_unix(ts.seconds);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, rfc3339};

    #[test]
    fn bearer_tokens_are_read_in_any_scheme_case_and_never_empty() {
        assert_eq!(bearer_token("Bearer kr_abc"), Some("kr_abc"));
        assert_eq!(bearer_token("bearer  kr_abc "), Some("kr_abc"));
        assert_eq!(bearer_token("BEARER kr_abc"), Some("kr_abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Basic kr_abc"), None);
        assert_eq!(bearer_token("kr_abc"), None);
    }

    #[test]
    fn timestamps_render_as_rfc3339_utc() {
        let at = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
        assert_eq!(rfc3339(Some(&at(0))), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(&at(1_795_925_235))), "2026-11-29T04:07:15Z");
        assert_eq!(rfc3339(Some(&at(951_782_400))), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(None), "");
    }
}
