//! The client side of `POST /v1/embeddings` in OpenAI's dialect: its body read into an
//! `EmbedRequest` (400s naming the field), and the answer rendered with vectors as float
//! arrays or as base64 of little-endian `f32` bytes, which is what the openai SDKs ask for by
//! default and decode (`np.frombuffer(base64.b64decode(data), dtype="float32")` in
//! openai-python's `resources/embeddings.py`).
//!
//! Token-id arrays (`[[1, 2, 3]]`), which OpenAI accepts, are refused: they are ids in one
//! tokenizer, and a model here may be served by providers whose tokenizers differ.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::MAX_INPUTS;
use crate::canonical::pb;
use crate::ingress::IngressError;
use crate::openai::provider_options_of;

/// The fields this dialect reads; any other is passed to the provider.
const KNOWN: &[&str] = &["model", "input", "dimensions", "encoding_format", "user"];

/// How the client wants its vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// JSON arrays of numbers (OpenAI's default).
    #[default]
    Float,
    /// Base64 of the vector's little-endian `f32` bytes.
    Base64,
}

/// A client's embeddings request: the canonical request and the encoding it wants back.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEmbedRequest {
    pub request: pb::EmbedRequest,
    pub encoding: Encoding,
}

fn invalid(param: &str, message: &str) -> IngressError {
    IngressError::invalid(param, message)
}

fn inputs(value: Option<&Value>) -> Result<Vec<String>, IngressError> {
    let tokens = || {
        invalid(
            "input",
            "token-id arrays are not supported: keyroute may serve a model through providers whose tokenizers differ; send the text",
        )
    };
    match value {
        None | Some(Value::Null) => Err(invalid("input", "input is required")),
        Some(Value::String(text)) if text.is_empty() => {
            Err(invalid("input", "input must not be an empty string"))
        }
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(invalid("input", "input must not be an empty array"))
        }
        Some(Value::Array(items)) if items.len() > MAX_INPUTS => Err(invalid(
            "input",
            &format!("input may hold at most {MAX_INPUTS} texts"),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(at, item)| match item {
                Value::String(text) if text.is_empty() => Err(invalid(
                    &format!("input[{at}]"),
                    "input texts must not be empty",
                )),
                Value::String(text) => Ok(text.clone()),
                Value::Number(_) | Value::Array(_) => Err(tokens()),
                _ => Err(invalid(&format!("input[{at}]"), "must be a string")),
            })
            .collect(),
        Some(_) => Err(invalid(
            "input",
            "input must be a string or an array of strings",
        )),
    }
}

/// Reads an OpenAI embeddings body.
pub fn parse_request(body: &[u8]) -> Result<ClientEmbedRequest, IngressError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| IngressError::not_json(&e))?;
    let Value::Object(object) = value else {
        return Err(invalid("", "the body must be a JSON object"));
    };
    let model = match object.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => model.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(invalid("model", "model is required"));
        }
        Some(_) => return Err(invalid("model", "model must be a string")),
    };
    let inputs = inputs(object.get("input"))?;
    let dimensions = match object.get("dimensions") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|&n| n > 0)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("dimensions", "dimensions must be a positive integer"))?,
        ),
    };
    let encoding = match object.get("encoding_format") {
        None | Some(Value::Null) => Encoding::Float,
        Some(Value::String(name)) if name == "float" => Encoding::Float,
        Some(Value::String(name)) if name == "base64" => Encoding::Base64,
        Some(_) => {
            return Err(invalid(
                "encoding_format",
                "encoding_format must be \"float\" or \"base64\"",
            ));
        }
    };
    let end_user = match object.get("user") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(user)) => user.clone(),
        Some(_) => return Err(invalid("user", "user must be a string")),
    };
    Ok(ClientEmbedRequest {
        request: pb::EmbedRequest {
            model,
            inputs,
            dimensions,
            end_user,
            provider_options_json: provider_options_of(&object, KNOWN),
        },
        encoding,
    })
}

/// A vector as base64 of its little-endian `f32` bytes.
fn base64_of(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

/// The answer as OpenAI sends it: `{"object":"list","data":[...],"model","usage"}`.
pub fn render_response(response: &pb::EmbedResponse, encoding: Encoding) -> Vec<u8> {
    let data: Vec<Value> = response
        .embeddings
        .iter()
        .map(|embedding| {
            let vector = match encoding {
                Encoding::Float => json!(embedding.values),
                Encoding::Base64 => json!(base64_of(&embedding.values)),
            };
            json!({ "object": "embedding", "index": embedding.index, "embedding": vector })
        })
        .collect();
    let input = response.usage.as_ref().map_or(0, |u| u.input_tokens);
    let mut body = Map::new();
    body.insert("object".into(), json!("list"));
    body.insert("data".into(), Value::Array(data));
    body.insert("model".into(), json!(response.model));
    body.insert(
        "usage".into(),
        json!({ "prompt_tokens": input, "total_tokens": input }),
    );
    Value::Object(body).to_string().into_bytes()
}
