//! Faults to inject, per request (`x-mock-fault` header) or per key: an error status in the
//! provider's own shape, latency before the first byte and between chunks, and a connection
//! reset in the middle of a stream.

use std::time::Duration;

/// What goes wrong with one response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fault {
    /// Answer with this status (401, 403, 429, 500, 529...) in the provider's error shape.
    pub status: Option<u16>,
    /// `retry-after` seconds on the error response.
    pub retry_after: Option<u64>,
    /// Wait before the first byte.
    pub first_byte_delay: Duration,
    /// Wait between stream chunks.
    pub chunk_delay: Duration,
    /// Reset the connection after this many stream chunks.
    pub reset_after_chunks: Option<usize>,
    /// For a key's fault: let this many requests through untouched first (a call that fails
    /// part-way, after some of its requests were answered).
    pub pass_first: u64,
}

impl Fault {
    /// Parses `status=429; retry-after=2; delay-ms=50; chunk-delay-ms=5; reset-after=3;
    /// pass-first=1`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut fault = Self::default();
        for item in text.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not key=value"))?;
            let number: u64 = value
                .trim()
                .parse()
                .map_err(|_| format!("{key}: {value:?} is not a number"))?;
            match key.trim() {
                "status" => {
                    fault.status =
                        Some(u16::try_from(number).map_err(|_| "status out of range".to_owned())?)
                }
                "retry-after" => fault.retry_after = Some(number),
                "delay-ms" => fault.first_byte_delay = Duration::from_millis(number),
                "chunk-delay-ms" => fault.chunk_delay = Duration::from_millis(number),
                "reset-after" => fault.reset_after_chunks = Some(number as usize),
                "pass-first" => fault.pass_first = number,
                other => return Err(format!("unknown fault {other:?}")),
            }
        }
        Ok(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse() {
        let fault = Fault::parse(
            "status=429; retry-after=2; delay-ms=50; chunk-delay-ms=5; reset-after=3; pass-first=1",
        )
        .unwrap();
        assert_eq!(fault.status, Some(429));
        assert_eq!(fault.retry_after, Some(2));
        assert_eq!(fault.first_byte_delay, Duration::from_millis(50));
        assert_eq!(fault.chunk_delay, Duration::from_millis(5));
        assert_eq!(fault.reset_after_chunks, Some(3));
        assert_eq!(fault.pass_first, 1);
        assert!(Fault::parse("status=abc").is_err());
        assert!(Fault::parse("explode=1").is_err());
        assert_eq!(Fault::parse("").unwrap(), Fault::default());
    }
}
