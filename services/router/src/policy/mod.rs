//! Routing policy, pure where it can be: which keys may serve a request and in what order,
//! which keys sit out after a failure, what the caller can pay for and what a call costs,
//! which rate limits a call is counted against, and falling back from one key to the next.

pub mod candidates;
pub mod charging;
pub mod cooldowns;
pub mod fallback;
pub mod rate_limits;
