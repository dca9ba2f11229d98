//! keyroute's HTTP edge: the endpoints clients already speak (for now OpenAI's Chat
//! Completions and the model list), translated to the canonical chat API and sent to the
//! router over mTLS gRPC. The edge holds no state and no secret: the caller's gateway token
//! travels to the router, which verifies it with the vault.

pub mod dialect;
pub mod models;
pub mod openai;
pub mod server;
