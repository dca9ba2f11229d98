//! The caller's deadline, as gRPC over HTTP/2 carries it (`grpc-timeout`), read the way
//! tonic's server reads it, for the servers that do without tonic's (the router's port, and
//! its in-process twin).

use std::time::Duration;

/// Where gRPC carries the caller's deadline (and `tonic::Request::set_timeout` puts it).
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The caller's deadline from `grpc-timeout` (at most eight digits and a unit); `None` when
/// absent or malformed, and then no deadline, as tonic's server reads it.
pub fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// What tonic's server answers when the caller's deadline passes before the answer begins.
pub fn timed_out() -> tonic::Status {
    tonic::Status::cancelled("Timeout expired")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(value: &str) -> Option<Duration> {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", http::HeaderValue::from_str(value).ok()?);
        grpc_timeout(&headers)
    }

    #[test]
    fn deadlines_are_read_as_grpc_writes_them() {
        assert_eq!(timeout("600000m"), Some(Duration::from_secs(600)));
        assert_eq!(timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(timeout("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for malformed in ["", "S", "123456789S", "10", "10x", "+1S", "-1S", "1.5S"] {
            assert_eq!(timeout(malformed), None, "{malformed:?}");
        }
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }
}
