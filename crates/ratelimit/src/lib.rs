//! Rate limits in requests and tokens per minute, enforced across every router through one
//! Redis, with a local fallback when Redis is unreachable, and the OpenAI and Anthropic
//! rate-limit headers their decisions produce.
//!
//! # Use
//!
//! Per call, the router builds one [`Check`] per configured limit (principal, organization,
//! provider key, managed model), asks [`Limiter::admit`] with an estimate of the call's
//! tokens, answers a [`Refusal`] with a 429 and [`headers`], and after the call hands the
//! [`Admission`] back to [`Limiter::settle`] with the real token count.
//!
//! ```no_run
//! # async fn call(limiter: &keyroute_ratelimit::Limiter) {
//! use keyroute_ratelimit::{Check, headers};
//! let checks = [
//!     Check::new("principal:usr_1").requests_per_minute(600),
//!     Check::new("model:gpt-4o").tokens_per_minute(150_000),
//! ];
//! match limiter.admit(&checks, 1_200).await {
//!     Ok(admission) => {
//!         let _sent = headers::openai(&admission.quotas, None);
//!         // ... the call, which used 900 tokens ...
//!         limiter.settle(admission, 900).await;
//!     }
//!     Err(refusal) => {
//!         let _sent = headers::openai(&refusal.quotas, refusal.retry_after); // with a 429
//!     }
//! }
//! # }
//! ```
//!
//! # Algorithm
//!
//! A sliding-window counter per scope ([`window`](crate::Settings::window) long, a minute by
//! default): the current and the previous window's counts, the previous weighted by how much
//! of it still falls inside the last window-length, so that under steady load any
//! window-long span admits the limit, not twice it (see `window.rs` for the arithmetic and
//! its known slack after a burst). Requests and tokens are counted separately. A call's
//! checks are read and charged together by one Lua script (one round trip, EVALSHA), on
//! Redis's clock so that routers with skewed clocks agree; a call refused by one limit takes
//! nothing from the others. Token limits are charged the estimate at admission; settling adds
//! the difference to the window the call was admitted in.
//!
//! # Fallback policy
//!
//! When Redis fails or does not answer within [`Settings::call_timeout`], the call is decided
//! by the same algorithm in this process, and so are the following ones without touching
//! Redis: a background probe reconnects with growing backoff and calls return to Redis once
//! it succeeds. Transitions are logged, counted in [`Stats`] and published on
//! [`Limiter::store_changes`].
//!
//! In fallback, each router enforces [`Settings::fallback_share`] of every limit, by default
//! all of it. With N routers a scope can then get up to N times its limit while Redis is
//! down; that is the chosen failure mode because the alternative errs the other way for
//! every caller: a router cannot know how traffic is spread across its peers, so any
//! smaller share refuses legitimate calls whenever traffic is uneven, for a failure callers
//! cannot see or fix, while providers still enforce their own limits upstream. Operators
//! who need the total held near the limit and run a known number of routers set the share
//! to `1 / routers`. The fallback also starts from empty counters: what Redis had counted in
//! the current window is not known locally.

mod check;
mod circuit;
mod decide;
mod decision;
mod error;
pub mod headers;
mod limiter;
mod local;
mod redis_store;
mod settings;
mod stats;
mod window;

pub use check::{Check, Dimension};
pub use decision::{Admission, Quota, Quotas, Refusal, RefusalKind, Store};
pub use error::Error;
pub use limiter::Limiter;
pub use settings::Settings;
pub use stats::Stats;
