//! Generated gRPC code for keyroute's protobuf APIs, with redacting `Debug` for every message
//! that carries a secret.

#![allow(clippy::doc_markdown, missing_debug_implementations)]

mod redact;

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
    let days = ts.seconds.div_euclid(86_400);
    let secs = ts.seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
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
