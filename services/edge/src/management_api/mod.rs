//! The management REST API under `/api/v1`: the caller's keys and their orgs' keys, provider
//! settings, audit, usage and balance, budgets, rate limits, the caller's gateway tokens, and
//! the console's session. The edge holds no state: each call goes to the vault
//! with the caller's gateway token, and the vault checks roles. Errors have one shape:
//! `{"error":{"code","message","field"}}` (`field` names the input at fault, or is null).
//!
//! The handlers (`keys`, `account`, `providers`, `settings`) share the modules beside them:
//! `error` (the error shape), `caller` (who is calling), `input` (bodies and queries) and
//! `output` (answers and their metrics).

pub mod account;
pub mod billing;
pub mod caller;
pub mod error;
pub mod input;
pub mod keys;
pub mod models;
pub mod output;
pub mod providers;
pub mod rate_limits;
pub mod session;
pub mod settings;
pub mod tokens;
