//! keyroute's HTTP edge: the endpoints clients already speak (OpenAI's Chat Completions,
//! Anthropic's Messages, the model list) translated to the canonical chat API and sent to
//! the routers over mTLS gRPC, and the management REST API in front of the vault. The edge
//! holds no state and no secret: the caller's gateway token travels with each call, and the
//! router or vault verifies it.

pub mod management_api;
pub mod metrics;
pub mod model_api;
pub mod request_id;
pub mod routers;
pub mod state;
