//! Provider wire formats. Each module reads and writes one format in both directions; the
//! canonical side is `keyroute.router.v1` (the router's gRPC API). Everything here is pure:
//! no I/O, no runtime, so every decoder can be fuzzed and benchmarked in isolation.
//!
//! Streams are decoded incrementally: bytes may arrive split anywhere, inside a UTF-8
//! character, an SSE line or an AWS event-stream frame.

pub mod anthropic;
pub mod bedrock;
pub mod canonical;
pub mod catalog;
pub mod contract;
#[cfg(test)]
mod egress_check;
pub mod embeddings;
pub mod error;
pub mod estimate;
pub mod eventstream;
pub mod gemini;
#[cfg(test)]
mod generated;
pub mod http;
pub mod ingress;
#[cfg(test)]
mod ingress_check;
mod json;
mod json_check;
mod json_escape;
mod json_out;
mod lenient;
pub mod mistral;
pub mod openai;
pub mod registry;
pub mod responses;
pub mod sigv4;
pub mod sse;
pub mod vertex;
