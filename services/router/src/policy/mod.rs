//! Routing policy, pure where it can be: which keys may serve a request and in what order,
//! which keys sit out after a failure, what the caller can pay for and what a call costs,
//! and falling back from one key to the next.

pub mod candidates;
pub mod charging;
pub mod cooldowns;
pub mod fallback;
