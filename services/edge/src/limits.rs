//! What the edge's HTTP server allows a client: how long its headers and body may take, how
//! large its header block may be, how many streams one HTTP/2 connection may run, and how
//! long a connection may sit without a new request.

use std::time::Duration;

/// hyper refuses a read buffer smaller than this (it is also the HTTP/1 header block limit).
pub const MIN_HEADER_BYTES: usize = 8192;

/// The edge's connection and request limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A connection's first request head must arrive within this long of the connect; on
    /// HTTP/1, each later head within this long of the previous answer (so it is also the
    /// keep-alive idle limit there). A client too slow is disconnected.
    pub header_timeout: Duration,
    /// A request body must arrive whole within this long of its head, or the edge answers
    /// 408 and closes the connection.
    pub body_timeout: Duration,
    /// A connection with no request started or in flight for this long is closed
    /// gracefully (HTTP/2: GOAWAY), and dropped if still open one such period later.
    pub idle_timeout: Duration,
    /// The largest request head (HTTP/1 request line and headers; HTTP/2 header list), in
    /// bytes: 431 above it.
    pub max_header_bytes: usize,
    /// The most header fields in one HTTP/1 request.
    pub max_headers: usize,
    /// The most concurrent streams on one HTTP/2 connection.
    pub http2_max_streams: u32,
    /// HTTP/2 pings this often; a connection that does not answer one within
    /// `http2_keep_alive_timeout` is closed.
    pub http2_keep_alive_interval: Duration,
    pub http2_keep_alive_timeout: Duration,
    /// How many threads serve connections, each with its own router channels; `None`: one
    /// per core the process may use.
    pub connection_threads: Option<std::num::NonZeroUsize>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            http2_max_streams: 256,
            http2_keep_alive_interval: Duration::from_secs(30),
            http2_keep_alive_timeout: Duration::from_secs(20),
            connection_threads: None,
        }
    }
}

impl HttpLimits {
    /// Why these limits cannot be served, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let timeouts = [
            ("--header-timeout", self.header_timeout),
            ("--body-timeout", self.body_timeout),
            ("--idle-timeout", self.idle_timeout),
        ];
        if let Some((flag, _)) = timeouts.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("{flag} must be longer than zero"));
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(format!(
                "--max-header-bytes must be at least {MIN_HEADER_BYTES}"
            ));
        }
        if u32::try_from(self.max_header_bytes).is_err() {
            return Err("--max-header-bytes is too large".into());
        }
        if self.max_headers == 0 || self.http2_max_streams == 0 {
            return Err("header and stream limits must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_serve_and_nonsense_is_named() {
        assert_eq!(HttpLimits::default().check(), Ok(()));
        let tiny = HttpLimits {
            max_header_bytes: 1024,
            ..HttpLimits::default()
        };
        assert!(tiny.check().unwrap_err().contains("--max-header-bytes"));
        let zero = HttpLimits {
            body_timeout: Duration::ZERO,
            ..HttpLimits::default()
        };
        assert!(zero.check().unwrap_err().contains("--body-timeout"));
    }
}
