//! keyroute's credential vault: the only holder of the key-encryption key. It stores provider
//! credentials sealed with envelope encryption, owns identities, gateway tokens and the audit
//! log, and hands the router short-lived decrypted leases over mTLS gRPC.

pub mod authz;
pub mod config;
pub mod convert;
pub mod crypto;
pub mod error;
pub mod providers;
pub mod retention;
pub mod revocations;
pub mod server;
pub mod service;
pub mod storage;
pub mod validate;
