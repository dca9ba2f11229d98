//! The shared store: the sliding-window counters in Redis, read and charged by one Lua script
//! per call (one round trip, atomic, on Redis's clock so that routers with skewed clocks agree).
//!
//! Keys are `<prefix>:<scope>:<window index>` hashes with a request field `r` and a token field
//! `t`, expiring two windows after their last charge, so Redis holds at most two or three
//! small hashes per active scope. The scripts are loaded when a connection is made and called
//! by hash (EVALSHA); a Redis that lost them (restart, SCRIPT FLUSH) gets them again on
//! NOSCRIPT. The script builds its window keys from the base keys it is passed, so a call's
//! keys must live on one Redis (no cluster).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisWrite, Script, ServerErrorKind};
use redis::{Cmd, ToRedisArgs};

use crate::check::Check;
use crate::decide::{CheckCounts, Observation};
use crate::error::{Error, StoreError};
use crate::window::{Counts, Position};

const ADMIT: &str = include_str!("admit.lua");
const SETTLE: &str = include_str!("settle.lua");

/// Redis and the scripts the limiter runs there.
#[derive(Debug)]
pub(crate) struct RedisStore {
    client: Client,
    admit: Script,
    settle: Script,
    prefix: String,
    window_ms: u64,
    connect_timeout: Duration,
}

/// A base key, `<prefix>:<scope>`, written straight into the command's buffer.
struct Key<'a> {
    prefix: &'a str,
    scope: &'a str,
}

impl ToRedisArgs for Key<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // Writing into the command's own Vec cannot fail.
        let _ = arg.write_all(self.prefix.as_bytes());
        let _ = arg.write_all(b":");
        let _ = arg.write_all(self.scope.as_bytes());
    }
}

fn limit_arg(limit: Option<u64>) -> i64 {
    limit.map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX))
}

fn is_noscript(err: &redis::RedisError) -> bool {
    err.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

impl RedisStore {
    /// The store for `url`; connects nothing yet.
    pub fn new(
        url: &str,
        prefix: &str,
        window_ms: u64,
        connect_timeout: Duration,
    ) -> Result<Self, Error> {
        Ok(Self {
            client: Client::open(url).map_err(Error::RedisUrl)?,
            admit: Script::new(ADMIT),
            settle: Script::new(SETTLE),
            prefix: prefix.to_owned(),
            window_ms,
            connect_timeout,
        })
    }

    /// A new multiplexed connection with both scripts loaded: what a probe does to tell that
    /// Redis is back. Timeouts are the caller's (each call is bounded by `call_timeout`).
    pub async fn connect(&self) -> Result<MultiplexedConnection, StoreError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(None);
        let connect = async {
            let mut conn = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            self.load_scripts(&mut conn).await?;
            Ok::<_, StoreError>(conn)
        };
        tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| StoreError::Timeout(self.connect_timeout))?
    }

    async fn load_scripts(&self, conn: &mut MultiplexedConnection) -> Result<(), StoreError> {
        for code in [ADMIT, SETTLE] {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(code)
                .query_async::<String>(conn)
                .await?;
        }
        Ok(())
    }

    /// Runs `cmd`, loading the scripts and trying once more if Redis no longer has them.
    async fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        match cmd.query_async::<T>(conn).await {
            Err(err) if is_noscript(&err) => {
                tracing::info!("rate limit scripts missing from redis, loading them again");
                self.load_scripts(conn).await?;
                Ok(cmd.query_async::<T>(conn).await?)
            }
            other => Ok(other?),
        }
    }

    /// Reads the counters of every limited check and charges them all if the call fits under
    /// each, none otherwise; one round trip.
    pub async fn admit(
        &self,
        conn: &mut MultiplexedConnection,
        checks: &[Check],
        cost: u64,
    ) -> Result<(Observation, Vec<CheckCounts>), StoreError> {
        let limited = || checks.iter().filter(|c| c.is_limited());
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.admit.get_hash()).arg(limited().count());
        for check in limited() {
            cmd.arg(Key {
                prefix: &self.prefix,
                scope: &check.scope,
            });
        }
        // Two windows after the last charge, the hash no longer weighs.
        let ttl_ms = self.window_ms.saturating_mul(2);
        cmd.arg(self.window_ms).arg(ttl_ms).arg(cost);
        for check in limited() {
            cmd.arg(limit_arg(check.requests_per_minute))
                .arg(limit_arg(check.tokens_per_minute));
        }
        let reply: Vec<i64> = self.run(conn, &cmd).await?;
        self.read_reply(&reply, limited().count())
    }

    fn read_reply(
        &self,
        reply: &[i64],
        checks: usize,
    ) -> Result<(Observation, Vec<CheckCounts>), StoreError> {
        let [admitted, now, window, rest @ ..] = reply else {
            return Err(StoreError::Reply);
        };
        if rest.len() != checks * 4 {
            return Err(StoreError::Reply);
        }
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let (now, window) = (count(*now), count(*window));
        let start = window.saturating_mul(self.window_ms);
        let seen = Observation {
            admitted: *admitted == 1,
            position: Position {
                window_ms: self.window_ms,
                elapsed_ms: now.saturating_sub(start).min(self.window_ms - 1),
            },
            window,
        };
        let counts = rest
            .chunks_exact(4)
            .map(|c| CheckCounts {
                requests: Counts {
                    current: count(c[0]),
                    previous: count(c[1]),
                },
                tokens: Counts {
                    current: count(c[2]),
                    previous: count(c[3]),
                },
            })
            .collect();
        Ok((seen, counts))
    }

    /// Adds `delta` tokens (never going below zero) to the counters of `scopes` in the window
    /// `window`, if that window's hash still exists.
    pub async fn settle(
        &self,
        conn: &mut MultiplexedConnection,
        window: u64,
        scopes: &[Arc<str>],
        delta: i64,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.settle.get_hash()).arg(scopes.len());
        for scope in scopes {
            cmd.arg(Key {
                prefix: &self.prefix,
                scope,
            });
        }
        cmd.arg(window).arg(delta);
        self.run::<i64>(conn, &cmd).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> RedisStore {
        RedisStore::new("redis://127.0.0.1:1", "p", 1000, Duration::from_millis(10))
            .expect("a valid url")
    }

    #[test]
    fn a_reply_is_read_into_counts_per_check() {
        let (seen, counts) = store()
            .read_reply(&[1, 5_250, 5, 1, 2, 3, 4, 5, 6, 7, 8], 2)
            .expect("a well-formed reply");
        assert!(seen.admitted);
        assert_eq!(seen.window, 5);
        assert_eq!(seen.position.elapsed_ms, 250);
        assert_eq!(
            counts[1].tokens,
            Counts {
                current: 7,
                previous: 8
            }
        );
    }

    #[test]
    fn a_malformed_reply_is_an_error() {
        assert!(store().read_reply(&[1, 5_250], 0).is_err());
        assert!(store().read_reply(&[1, 5_250, 5, 1, 2], 1).is_err());
    }

    #[test]
    fn keys_are_written_as_one_argument() {
        let mut cmd = redis::cmd("X");
        cmd.arg(Key {
            prefix: "kr",
            scope: "principal:usr_1",
        });
        let args: Vec<_> = cmd.args_iter().collect();
        assert_eq!(args.len(), 2);
        assert_eq!(args[1], redis::Arg::Simple(&b"kr:principal:usr_1"[..]));
    }

    #[test]
    fn a_tls_url_is_refused() {
        assert!(
            RedisStore::new("rediss://127.0.0.1:1", "p", 1000, Duration::from_millis(10)).is_err()
        );
    }
}
