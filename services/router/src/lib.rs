//! keyroute's router: the hot path of every request. It authenticates the caller's gateway
//! token, picks the caller's key for the requested model, speaks the provider's wire format,
//! and answers in the canonical form. Credentials come from the vault as leases cached in
//! memory only, kept fresh in the background and dropped the moment the vault says so.

pub mod accounts;
pub mod candidates;
pub mod charging;
pub mod config;
pub mod cooldowns;
mod count;
pub mod error;
pub mod leases;
pub mod metrics;
pub mod revocations;
pub mod route;
pub mod server;
pub mod service;
pub mod tokens;
pub mod upstream;
pub mod usage;
pub mod vault;
