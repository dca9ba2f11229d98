//! The model endpoints: OpenAI's (Chat Completions, Responses) and Anthropic's dialects and the pipeline they share.

pub mod anthropic;
pub mod dialect;
pub mod embeddings;
pub mod models;
pub mod openai;
pub mod pipeline;
pub mod responses;
