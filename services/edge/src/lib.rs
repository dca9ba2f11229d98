//! keyroute's HTTP edge: the endpoints clients already speak (OpenAI's Chat Completions,
//! Anthropic's Messages, the model list) translated to the canonical chat API and sent to
//! the routers over mTLS gRPC, and the management REST API in front of the vault. The edge
//! holds no state and no secret: the caller's gateway token travels with each call, and the
//! router or vault verifies it.
//!
//! The modules, each importing only those listed before it (none imports one that imports
//! it back):
//!
//! - [`metrics`], [`routers`], [`request_id`], [`access`], [`auth`], [`cookies`],
//!   [`console`]: the Prometheus metrics, the router pool, the request-id middleware, each
//!   request's trace span and access-log line, finding the gateway token, the console's
//!   session cookies, and the console's files.
//! - [`limits`], [`auth_failures`]: the HTTP server's limits, and the memory of failed token
//!   checks (negative cache, per-address limit).
//! - [`state`]: [`state::Edge`], what every handler shares, and its readiness check.
//! - [`model_api`]: the OpenAI and Anthropic endpoints and the pipeline they share.
//! - [`management_api`]: the REST API under `/api/v1`.
//! - [`csrf`]: the session cookie on `/api/v1` and its CSRF defence.
//! - [`fallback`]: the answers for unknown paths and wrong methods.
//! - [`guard`]: the middleware that refuses known-bad tokens and over-limit addresses.
//! - [`front`]: the request id, access line, session cookie and guard as one layer.
//! - [`app`]: the one route table.
//! - [`serve`]: [`state::Edge::serve`], serving the route table until a graceful stop.

pub mod access;
pub mod app;
pub mod auth;
pub mod auth_failures;
pub mod console;
pub mod cookies;
pub mod csrf;
pub mod fallback;
pub mod front;
pub mod guard;
pub mod limits;
pub mod management_api;
pub mod metrics;
pub mod model_api;
pub mod request_id;
pub mod routers;
pub mod serve;
pub mod state;
