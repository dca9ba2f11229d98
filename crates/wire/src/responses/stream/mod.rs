//! Responses API streams in both directions: rendering canonical events for a client
//! ([`ResponsesStreamRenderer`]) and decoding an upstream's events ([`ResponsesStreamDecoder`]).

mod decode;
mod render;

pub use decode::{ResponsesEvents, ResponsesStreamDecoder};
pub use render::ResponsesStreamRenderer;

#[cfg(test)]
mod tests;
