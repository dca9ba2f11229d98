//! Embeddings in every provider's shape: OpenAI-format `/embeddings` (OpenAI, Azure at a
//! deployment, Mistral with `output_dimension` and no unknown fields, compatible hosts),
//! AI Studio `:batchEmbedContents` (no usage, as Google sends none), Vertex `:predict`
//! (one instance for Gemini models), Bedrock `InvokeModel` for Titan (one text) and Cohere
//! (up to 96 texts, `input_type` required). Vectors are deterministic ([`embedding`]): a
//! unit vector from a hash of the text, as long as `dimensions` asks or the model's default,
//! the same for the same text whatever the provider; token counts are [`tokens`].

use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::{Call, bedrock, gemini, openai, respond};

/// The mock's vector for `text`: `dimensions` values from an FNV-1a hash of the text and
/// the position, scaled to unit length. Tests compute the same to check what came back.
pub fn embedding(text: &str, dimensions: usize) -> Vec<f32> {
    let raw: Vec<f64> = (0..dimensions as u64)
        .map(|position| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ position.wrapping_mul(0x9e37_79b9);
            for byte in text.bytes().chain(position.to_le_bytes()) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            (hash >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw
        .iter()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    raw.iter().map(|v| (v / norm) as f32).collect()
}

/// The mock's token count for one text: its words, at least one.
pub fn tokens(text: &str) -> u64 {
    crate::answer::words(text).max(1)
}

/// A model's vector length when the request names none.
pub fn default_dimensions(model: &str) -> usize {
    if model.contains("3-large") || model.contains("gemini-embedding") {
        3072
    } else if model.contains("mistral-embed")
        || model.contains("titan-embed-text-v2")
        || model.contains("cohere.embed")
    {
        1024
    } else if model.contains("codestral-embed") {
        1536
    } else if model.contains("text-embedding-0") {
        768
    } else {
        1536
    }
}

fn body_of(call: &Call) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&call.body) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

fn dimensions_of(value: Option<&Value>, model: &str) -> Result<usize, String> {
    match value {
        None | Some(Value::Null) => Ok(default_dimensions(model)),
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=4096).contains(n))
            .map(|n| n as usize)
            .ok_or_else(|| "dimensions must be an integer from 1 to 4096".to_owned()),
    }
}

/// OpenAI-format `POST .../embeddings`.
pub async fn openai(call: Call) -> Response {
    let key = match openai::authenticate(&call) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    match call.fault(&key) {
        Ok(fault) => {
            tokio::time::sleep(fault.first_byte_delay).await;
            if let Some(status) = fault.status {
                return openai::fault_error(status, fault.retry_after);
            }
        }
        Err(message) => return openai::error(400, "invalid_request_error", None, &message),
    }
    let invalid = |message: &str| openai::error(400, "invalid_request_error", None, message);
    let Some(body) = body_of(&call) else {
        return invalid("We could not parse the JSON body of your request.");
    };
    let mistral = call.provider.id == "mistral";
    if mistral
        && let Some(extra) = body.keys().find(|k| {
            !matches!(
                k.as_str(),
                "model" | "input" | "output_dimension" | "output_dtype" | "encoding_format"
            )
        })
    {
        return openai::error(
            422,
            "invalid_request_error",
            Some("extra_forbidden"),
            &format!("Extra inputs are not permitted: body.{extra}"),
        );
    }
    // Azure names the model by its deployment.
    let model = match call.path.strip_prefix("/openai/deployments/") {
        Some(rest) => rest.split('/').next().unwrap_or_default().to_owned(),
        None => body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    if model.is_empty() {
        return invalid("you must provide a model parameter");
    }
    let texts: Vec<&str> = match body.get("input") {
        Some(Value::String(text)) => vec![text.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => {
            match items.iter().map(Value::as_str).collect::<Option<Vec<_>>>() {
                Some(texts) => texts,
                None => return invalid("the mock embeds strings only"),
            }
        }
        _ => return invalid("'$.input' is invalid."),
    };
    if texts.iter().any(|text| text.is_empty()) || texts.len() > 2048 {
        return invalid("'$.input' is invalid.");
    }
    let field = if mistral {
        "output_dimension"
    } else {
        "dimensions"
    };
    let dimensions = match dimensions_of(body.get(field), &model) {
        Ok(dimensions) => dimensions,
        Err(message) => return invalid(&message),
    };
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| json!({ "object": "embedding", "index": index, "embedding": embedding(text, dimensions) }))
        .collect();
    let used: u64 = texts.iter().map(|text| tokens(text)).sum();
    let answer = json!({
        "id": format!("embd-{}", call.mock.next_id()), "object": "list", "data": data, "model": model,
        "usage": { "prompt_tokens": used, "total_tokens": used },
    });
    respond::json(200, answer.to_string().into_bytes())
}

/// AI Studio `POST /v1beta/models/{model}:batchEmbedContents`.
pub async fn ai_studio(call: Call) -> Response {
    let query_key = call
        .query
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .map(str::to_owned);
    let key = call
        .header("x-goog-api-key")
        .map(str::to_owned)
        .or(query_key)
        .unwrap_or_default();
    if !call.mock.has_key("google", &key) {
        let detail = json!([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com" }]);
        return gemini::error(
            400,
            "API key not valid. Please pass a valid API key.",
            detail,
        );
    }
    if let Some(response) = google_fault(&call, &key).await {
        return response;
    }
    let last = call.path.rsplit('/').next().unwrap_or_default();
    let model = last.split_once(':').map_or(last, |(model, _)| model);
    let invalid = |message: &str| gemini::error(400, message, json!([]));
    let Some(body) = body_of(&call) else {
        return invalid("Invalid JSON payload received.");
    };
    let Some(requests) = body.get("requests").and_then(Value::as_array) else {
        return invalid("* BatchEmbedContentsRequest.requests: requests is required");
    };
    if requests.is_empty() || requests.len() > 100 {
        return invalid(
            "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch",
        );
    }
    let mut embeddings = Vec::with_capacity(requests.len());
    for (at, request) in requests.iter().enumerate() {
        if request.get("model").and_then(Value::as_str) != Some(&format!("models/{model}")) {
            return invalid(&format!(
                "* BatchEmbedContentsRequest.requests[{at}].model: the model must be models/{model}, as in the URL"
            ));
        }
        let text: String = request
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p.get("text")?.as_str())
                    .collect()
            })
            .unwrap_or_default();
        if text.is_empty() {
            return invalid(&format!(
                "* BatchEmbedContentsRequest.requests[{at}].content: contents must not be empty"
            ));
        }
        let dimensions = match dimensions_of(request.get("outputDimensionality"), model) {
            Ok(dimensions) => dimensions,
            Err(message) => return invalid(&message),
        };
        embeddings.push(json!({ "values": embedding(&text, dimensions) }));
    }
    respond::json(
        200,
        json!({ "embeddings": embeddings }).to_string().into_bytes(),
    )
}

async fn google_fault(call: &Call, key: &str) -> Option<Response> {
    match call.fault(key) {
        Ok(fault) => {
            tokio::time::sleep(fault.first_byte_delay).await;
            fault
                .status
                .map(|status| gemini::error(status, "injected fault", json!([])))
        }
        Err(message) => Some(gemini::error(400, &message, json!([]))),
    }
}

/// Vertex `POST .../publishers/google/models/{model}:predict`, already authorized.
pub async fn vertex(call: Call) -> Response {
    let key = call.bearer().unwrap_or_default().to_owned();
    if let Some(response) = google_fault(&call, &key).await {
        return response;
    }
    let last = call.path.rsplit('/').next().unwrap_or_default();
    let model = last.split_once(':').map_or(last, |(model, _)| model);
    let invalid = |message: &str| gemini::error(400, message, json!([]));
    let Some(body) = body_of(&call) else {
        return invalid("Invalid JSON payload received.");
    };
    let Some(instances) = body.get("instances").and_then(Value::as_array) else {
        return invalid("instances is required");
    };
    let most = if model.starts_with("gemini") { 1 } else { 250 };
    if instances.is_empty() || instances.len() > most {
        return invalid(&format!(
            "Unable to submit request because {model} supports up to {most} instances per request, and {} were sent.",
            instances.len()
        ));
    }
    let dimensions = match dimensions_of(
        body.get("parameters")
            .and_then(|p| p.get("outputDimensionality")),
        model,
    ) {
        Ok(dimensions) => dimensions,
        Err(message) => return invalid(&message),
    };
    let mut predictions = Vec::with_capacity(instances.len());
    let mut characters = 0;
    for instance in instances {
        let Some(text) = instance
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return invalid("each instance needs a non-empty content");
        };
        characters += text.chars().count();
        predictions.push(json!({ "embeddings": {
            "values": embedding(text, dimensions),
            "statistics": { "token_count": tokens(text), "truncated": false },
        } }));
    }
    let answer =
        json!({ "predictions": predictions, "metadata": { "billableCharacterCount": characters } });
    respond::json(200, answer.to_string().into_bytes())
}

/// Bedrock `POST /model/{id}/invoke` for Titan and Cohere embedding models.
pub async fn bedrock(call: Call) -> Response {
    let key = match bedrock::authenticate(&call) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    let invalid = |message: &str| bedrock::error(400, "ValidationException", message);
    match call.fault(&key) {
        Ok(fault) => {
            tokio::time::sleep(fault.first_byte_delay).await;
            if let Some(status) = fault.status {
                let kind = if status == 429 {
                    "ThrottlingException"
                } else {
                    "InternalServerException"
                };
                return bedrock::error(status, kind, "injected fault");
            }
        }
        Err(message) => return invalid(&message),
    }
    let segments: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    let ["model", model, "invoke"] = segments.as_slice() else {
        return bedrock::error(404, "UnknownOperationException", "unknown operation");
    };
    let model = keyroute_wire::sigv4::uri_decode(model);
    let Some(body) = body_of(&call) else {
        return invalid("Malformed input request, please reformat your input and try again.");
    };
    if model.contains("amazon.titan-embed") {
        let Some(text) = body
            .get("inputText")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return invalid("Malformed input request: #/inputText: expected minLength: 1");
        };
        let dimensions = match body.get("dimensions").map(Value::as_u64) {
            None => 1024,
            Some(Some(n @ (256 | 512 | 1024))) => n as usize,
            Some(_) => {
                return invalid("Malformed input request: #/dimensions: 256, 512 or 1024");
            }
        };
        let vector = embedding(text, dimensions);
        let answer = json!({ "embedding": vector, "inputTextTokenCount": tokens(text), "embeddingsByType": { "float": vector } });
        return respond::json(200, answer.to_string().into_bytes());
    }
    if model.contains("cohere.embed") {
        let Some(texts) = body
            .get("texts")
            .and_then(Value::as_array)
            .and_then(|items| items.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
            .filter(|texts| !texts.is_empty() && texts.len() <= 96)
        else {
            return invalid("Malformed input request: #/texts: 1 to 96 strings");
        };
        let input_type = body.get("input_type").and_then(Value::as_str);
        if !matches!(
            input_type,
            Some("search_document" | "search_query" | "classification" | "clustering")
        ) {
            return invalid("Malformed input request: #/input_type: required");
        }
        let embeddings: Vec<Vec<f32>> = texts.iter().map(|t| embedding(t, 1024)).collect();
        let answer = json!({ "id": format!("emb-{}", call.mock.next_id()), "embeddings": embeddings, "response_type": "embeddings_floats", "texts": texts });
        return respond::json(200, answer.to_string().into_bytes());
    }
    invalid(&format!(
        "{model} does not support InvokeModel for embeddings in the mock"
    ))
}
