//! State the router keeps in memory from the vault, so that a request seldom waits for it:
//! authenticated tokens, leased keys, balances and budgets, credit held for managed calls in
//! flight, the revocation watch that invalidates them, and usage records batched on their way
//! back.

pub mod accounts;
pub mod leases;
pub mod reservations;
pub mod revocations;
pub mod tokens;
pub mod usage;
