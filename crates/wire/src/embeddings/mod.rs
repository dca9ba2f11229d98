//! Embeddings: the canonical `EmbedRequest` as each provider's embedding call, and its answer
//! back as vectors and a token count. One file per wire format; the contract
//! (`contract::embed`) picks the one a key speaks. Pure like the rest of the crate.
//!
//! Some providers embed one text per call (Titan, Gemini on Vertex's `:predict`), others a
//! bounded batch (Cohere 96, AI Studio 100): a request becomes one or more [`EmbedBatch`]es,
//! sent in order, their vectors concatenated. Where a provider reports no token count
//! (AI Studio's `batchEmbedContents`, Cohere on Bedrock), the count is keyroute's estimate
//! ([`estimate_tokens`]) and the answer says so.

mod bedrock;
mod dialect;
mod gemini;
mod openai;

pub(crate) use bedrock::{build as build_bedrock, parse as parse_bedrock};
pub use dialect::{ClientEmbedRequest, Encoding, parse_request, render_response};
pub(crate) use gemini::{build_ai_studio, build_vertex, parse_ai_studio, parse_vertex};
pub(crate) use openai::{build as build_openai, parse as parse_openai};

use serde_json::{Map, Value};

use crate::canonical::pb;
use crate::error::WireError;
use crate::http::HttpRequest;

/// The most texts one request may embed: OpenAI's limit per call, which every other
/// provider's batches are cut to fit.
pub const MAX_INPUTS: usize = 2048;
/// The longest vector accepted from a provider (the largest models give 3,072 or 4,096).
pub const MAX_DIMENSIONS: usize = 16_384;

/// One upstream call of an embedding request: the wire request (relative to the base URL,
/// without credentials) and how many of the request's inputs it carries, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedBatch {
    pub http: HttpRequest,
    pub inputs: usize,
}

/// What one upstream call answered: a vector per input it carried, in order, and the input
/// tokens the provider counted (`None` when it reports none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: Option<u64>,
}

/// keyroute's estimate of the input tokens of `inputs`, for providers that report none:
/// the chat estimate's four characters a token, at least one token a text.
pub fn estimate_tokens<S: AsRef<str>>(inputs: &[S]) -> u64 {
    inputs
        .iter()
        .map(|text| crate::estimate::text_tokens(text.as_ref().chars().count()).max(1))
        .sum()
}

/// The request's provider options as an object (empty when none).
pub(crate) fn options(request: &pb::EmbedRequest) -> Result<Map<String, Value>, WireError> {
    if request.provider_options_json.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&request.provider_options_json) {
        Ok(Value::Object(options)) => Ok(options),
        _ => Err(WireError::from_status(
            "keyroute",
            400,
            "invalid_request_error",
            "provider options must be a JSON object",
        )),
    }
}

/// Adds every provider option the body does not set itself.
pub(crate) fn merge(body: &mut Map<String, Value>, options: &Map<String, Value>) {
    for (key, value) in options {
        body.entry(key.clone()).or_insert_with(|| value.clone());
    }
}

/// A JSON array of numbers as one vector, bounded by [`MAX_DIMENSIONS`].
pub(crate) fn vector(provider: &'static str, value: &Value) -> Result<Vec<f32>, WireError> {
    let Some(items) = value.as_array() else {
        return Err(WireError::malformed(
            provider,
            "an embedding is not an array",
        ));
    };
    if items.len() > MAX_DIMENSIONS {
        return Err(WireError::malformed(
            provider,
            format!("an embedding has more than {MAX_DIMENSIONS} values"),
        ));
    }
    items
        .iter()
        .map(|item| {
            item.as_f64()
                .map(|number| number as f32)
                .ok_or_else(|| WireError::malformed(provider, "an embedding value is not a number"))
        })
        .collect()
}

/// Checks that an answer carries exactly the vectors asked for.
pub(crate) fn expect_count(
    provider: &'static str,
    vectors: &[Vec<f32>],
    expected: usize,
) -> Result<(), WireError> {
    if vectors.len() == expected {
        return Ok(());
    }
    Err(WireError::malformed(
        provider,
        format!(
            "the answer has {} embeddings for {expected} inputs",
            vectors.len()
        ),
    ))
}

/// The body of a 2xx answer as JSON.
pub(crate) fn json_body(provider: &'static str, body: &[u8]) -> Result<Value, WireError> {
    serde_json::from_slice(body)
        .map_err(|_| WireError::malformed(provider, "the embeddings answer is not JSON"))
}

/// Splits `inputs` into batches of at most `size` texts, each built by `build` from its
/// texts.
pub(crate) fn batches(
    inputs: &[String],
    size: usize,
    mut build: impl FnMut(&[String]) -> Result<HttpRequest, WireError>,
) -> Result<Vec<EmbedBatch>, WireError> {
    inputs
        .chunks(size.max(1))
        .map(|chunk| {
            Ok(EmbedBatch {
                http: build(chunk)?,
                inputs: chunk.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
