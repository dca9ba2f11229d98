//! Mistral's deviations from OpenAI live in [`crate::openai::Quirks::MISTRAL`]; this module
//! adds the Codestral fill-in-the-middle endpoint, `POST /v1/fim/completions`, which clients
//! call directly (the edge passes the same body shape through) and whose answer is a chat
//! completion (streamed as OpenAI chunks).

use serde_json::{Map, Value, json};

use crate::error::WireError;
use crate::http::HttpRequest;
use crate::ingress::{IngressError, string_list};
use crate::json::str_of;

/// A fill-in-the-middle request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FimRequest {
    pub model: String,
    pub prompt: String,
    pub suffix: String,
    pub max_tokens: Option<u32>,
    pub min_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub stream: bool,
}

/// Parses a client's FIM body (Mistral's shape; `seed` accepted for `random_seed`).
pub fn parse_fim_request(body: &[u8]) -> Result<FimRequest, IngressError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| IngressError::not_json(&error))?;
    let object = value
        .as_object()
        .ok_or_else(|| IngressError::invalid("", "the body must be a JSON object"))?;
    let model = object
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| IngressError::invalid("model", "is required"))?;
    let prompt = object
        .get("prompt")
        .and_then(Value::as_str)
        .ok_or_else(|| IngressError::invalid("prompt", "is required and must be a string"))?;
    let number = |key: &str| {
        object
            .get(key)
            .filter(|v| !v.is_null())
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| IngressError::invalid(key, "must be a number"))
            })
            .transpose()
    };
    let count = |key: &str| {
        object
            .get(key)
            .filter(|v| !v.is_null())
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| IngressError::invalid(key, "must be a non-negative integer"))
            })
            .transpose()
    };
    let stop = string_list(object, "stop")?;
    let seed = object
        .get("random_seed")
        .or_else(|| object.get("seed"))
        .filter(|v| !v.is_null());
    Ok(FimRequest {
        model: model.to_owned(),
        prompt: prompt.to_owned(),
        suffix: str_of(&value, "suffix").to_owned(),
        max_tokens: count("max_tokens")?,
        min_tokens: count("min_tokens")?,
        temperature: number("temperature")?,
        top_p: number("top_p")?,
        stop,
        seed: seed
            .map(|s| {
                s.as_i64()
                    .ok_or_else(|| IngressError::invalid("random_seed", "must be an integer"))
            })
            .transpose()?,
        stream: object
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

impl FimRequest {
    /// The canonical request the router carries: the gap in `fim`, sampling as for chat.
    pub fn into_chat(self) -> crate::canonical::pb::ChatRequest {
        use crate::canonical::pb;
        pb::ChatRequest {
            model: self.model,
            sampling: Some(pb::Sampling {
                temperature: self.temperature,
                top_p: self.top_p,
                max_tokens: self.max_tokens,
                stop: self.stop,
                seed: self.seed,
                ..Default::default()
            }),
            fim: Some(pb::FillInTheMiddle {
                prompt: self.prompt,
                suffix: self.suffix,
                min_tokens: self.min_tokens,
            }),
            ..Default::default()
        }
    }

    /// Back from the canonical request; `None` when it is not a FIM request.
    pub fn from_chat(request: &crate::canonical::pb::ChatRequest, stream: bool) -> Option<Self> {
        let fim = request.fim.as_ref()?;
        let sampling = request.sampling.clone().unwrap_or_default();
        Some(Self {
            model: request.model.clone(),
            prompt: fim.prompt.clone(),
            suffix: fim.suffix.clone(),
            max_tokens: sampling.max_tokens,
            min_tokens: fim.min_tokens,
            temperature: sampling.temperature,
            top_p: sampling.top_p,
            stop: sampling.stop,
            seed: sampling.seed,
            stream,
        })
    }
}

/// Builds the upstream request for Codestral `model`.
pub fn build_fim_request(request: &FimRequest, model: &str) -> HttpRequest {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("prompt".into(), json!(request.prompt));
    if !request.suffix.is_empty() {
        body.insert("suffix".into(), json!(request.suffix));
    }
    let optional = [
        ("max_tokens", request.max_tokens.map(Value::from)),
        ("min_tokens", request.min_tokens.map(Value::from)),
        ("temperature", request.temperature.map(Value::from)),
        ("top_p", request.top_p.map(Value::from)),
        ("random_seed", request.seed.map(Value::from)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
    }
    HttpRequest::post_json("/fim/completions".to_owned(), &Value::Object(body))
}

/// The completion text of a FIM answer (a chat-completion body).
pub fn parse_fim_response(
    status: u16,
    body: &[u8],
) -> Result<crate::canonical::pb::ChatResponse, WireError> {
    crate::openai::parse_response(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fim_requests_survive_the_canonical_round_trip() {
        let body = br#"{"model":"codestral-latest","prompt":"def f(","suffix":"return x","max_tokens":64,"min_tokens":2,"temperature":0.2,"top_p":0.9,"stop":["\n\n"],"seed":7}"#;
        let parsed = parse_fim_request(body).unwrap();
        let chat = parsed.clone().into_chat();
        assert!(chat.messages.is_empty());
        let back = FimRequest::from_chat(&chat, false).unwrap();
        assert_eq!(back, parsed);
        let built = build_fim_request(&back, "codestral-2501");
        let sent: Value = serde_json::from_slice(&built.body).unwrap();
        assert_eq!(sent["model"], "codestral-2501");
        assert_eq!(sent["suffix"], "return x");
        assert_eq!(sent["random_seed"], 7);
        assert!(FimRequest::from_chat(&Default::default(), false).is_none());
    }
}
