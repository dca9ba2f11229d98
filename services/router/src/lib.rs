//! keyroute's router: the hot path of every request. It authenticates the caller's gateway
//! token, picks the caller's key for the requested model, speaks the provider's wire format,
//! and answers in the canonical form. Credentials come from the vault as leases cached in
//! memory only, kept fresh in the background and dropped the moment the vault says so.
//!
//! - `service`: the gRPC `RouterService`, one module per call kind.
//! - `policy`: who may be served by which key, in what order, and who pays.
//! - `cache`: what the router keeps from the vault: tokens, leases, accounts, revocations,
//!   and the usage it reports back.
//! - `catalog`: the model catalog in use, reloaded when the operator's file changes.
//! - `upstream`: calling a provider (I/O only; the wire crate's contract says what to send).
//! - `spans`: the OpenTelemetry GenAI span of each upstream attempt.
//! - `platform`: key management for internal platforms, passed through to the vault.
//! - `port`: which service answers which path on the mTLS port.
//! - `in_process`: the router's services for an edge in the same process (`keyroute dev`).

pub mod cache;
pub mod catalog;
pub mod config;
pub mod connection_threads;
pub mod error;
pub mod in_process;
pub mod metrics;
pub mod platform;
pub mod policy;
pub mod port;
pub mod server;
pub mod service;
pub mod spans;
pub mod upstream;
pub mod vault;
