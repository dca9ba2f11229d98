//! Real PostgreSQL and Redis servers for keyroute's integration tests, started by the tests
//! themselves on loopback and private to the test process: the vault's shared backend and the
//! shared rate limits are tested against the real servers, with no service to run first.
//! `scripts/ensure-servers` installs Debian's packages when they are missing.
//!
//! Nothing outlives the test process, even one that panics or is killed: each server runs
//! under a small shell watchdog whose standard input is a pipe from this process, and when the
//! pipe closes the watchdog stops the server and removes its files.

// A helper that cannot give a test its server fails that test.
#![allow(clippy::panic)]

pub mod postgres;
pub mod redis;
mod watchdog;
