//! Google's embeddings: AI Studio's `models/{model}:batchEmbedContents` and Vertex AI's
//! `publishers/google/models/{model}:predict`.
//!
//! Sources: the google-genai Python SDK (`models.py`, `embed_content`:
//! `_EmbedContentParametersPrivate_to_mldev` sends `requests[{model, content, taskType,
//! title, outputDimensionality}]` to `batchEmbedContents`; `_to_vertex` with the `PREDICT`
//! API sends `instances[{content, task_type, title}]` and `parameters{outputDimensionality,
//! autoTruncate}` to `:predict`, answered by `predictions[].embeddings{values,
//! statistics{token_count}}`), and Vertex's text-embeddings page: `gemini-embedding-001`
//! takes one instance per request, other models up to 250. AI Studio's batch answer has no
//! token count (`embeddings[].values` only): it is estimated. Newer Gemini embedding models
//! on Vertex use `:embedContent` instead, not built here.

use serde_json::{Map, Value, json};

use super::{EmbedBatch, Embedded, batches, expect_count, json_body, merge, options, vector};
use crate::canonical::pb;
use crate::error::WireError;
use crate::gemini::parse_error;
use crate::http::HttpRequest;

const AI_STUDIO: &str = "google";
const VERTEX: &str = "vertex";

/// AI Studio's most requests in one `batchEmbedContents` call.
const AI_STUDIO_BATCH: usize = 100;
/// Vertex's most instances in one `:predict` call for the `text-embedding-*` models.
const VERTEX_BATCH: usize = 250;

/// `batchEmbedContents` calls of up to 100 texts; provider options join each request item
/// (`taskType`, `title`).
pub(crate) fn build_ai_studio(
    request: &pb::EmbedRequest,
    model: &str,
) -> Result<Vec<EmbedBatch>, WireError> {
    let options = options(request)?;
    let path = format!("/v1beta/models/{model}:batchEmbedContents");
    batches(&request.inputs, AI_STUDIO_BATCH, |texts| {
        let items: Vec<Value> = texts
            .iter()
            .map(|text| {
                let mut item = Map::new();
                item.insert("model".into(), json!(format!("models/{model}")));
                item.insert("content".into(), json!({ "parts": [{ "text": text }] }));
                if let Some(dimensions) = request.dimensions {
                    item.insert("outputDimensionality".into(), json!(dimensions));
                }
                merge(&mut item, &options);
                Value::Object(item)
            })
            .collect();
        Ok(HttpRequest::post_json(
            path.clone(),
            &json!({ "requests": items }),
        ))
    })
}

/// `:predict` calls: one text each for Gemini models, up to 250 for the others; provider
/// options join each instance (`task_type`, `title`).
pub(crate) fn build_vertex(
    request: &pb::EmbedRequest,
    model: &str,
    project: &str,
    location: &str,
) -> Result<Vec<EmbedBatch>, WireError> {
    let options = options(request)?;
    let path = format!(
        "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:predict"
    );
    let size = if model.starts_with("gemini") {
        1
    } else {
        VERTEX_BATCH
    };
    batches(&request.inputs, size, |texts| {
        let instances: Vec<Value> = texts
            .iter()
            .map(|text| {
                let mut instance = Map::new();
                instance.insert("content".into(), json!(text));
                merge(&mut instance, &options);
                Value::Object(instance)
            })
            .collect();
        let mut body = Map::new();
        body.insert("instances".into(), Value::Array(instances));
        if let Some(dimensions) = request.dimensions {
            body.insert(
                "parameters".into(),
                json!({ "outputDimensionality": dimensions }),
            );
        }
        Ok(HttpRequest::post_json(path.clone(), &Value::Object(body)))
    })
}

/// `embeddings[].values`, in request order; no token count.
pub(crate) fn parse_ai_studio(
    status: u16,
    body: &[u8],
    expected: usize,
) -> Result<Embedded, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, body));
    }
    let value = json_body(AI_STUDIO, body)?;
    let Some(items) = value.get("embeddings").and_then(Value::as_array) else {
        return Err(WireError::malformed(
            AI_STUDIO,
            "the answer has no embeddings array",
        ));
    };
    let vectors = items
        .iter()
        .map(|item| vector(AI_STUDIO, item.get("values").unwrap_or(&Value::Null)))
        .collect::<Result<Vec<_>, _>>()?;
    expect_count(AI_STUDIO, &vectors, expected)?;
    Ok(Embedded {
        vectors,
        input_tokens: None,
    })
}

/// `predictions[].embeddings.values`, and the sum of their `statistics.token_count` (absent
/// when no prediction carries one).
pub(crate) fn parse_vertex(
    status: u16,
    body: &[u8],
    expected: usize,
) -> Result<Embedded, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, body));
    }
    let value = json_body(VERTEX, body)?;
    let Some(predictions) = value.get("predictions").and_then(Value::as_array) else {
        return Err(WireError::malformed(
            VERTEX,
            "the answer has no predictions array",
        ));
    };
    let mut vectors = Vec::with_capacity(predictions.len());
    let mut input_tokens: Option<u64> = None;
    for prediction in predictions {
        let embeddings = prediction.get("embeddings").unwrap_or(&Value::Null);
        vectors.push(vector(
            VERTEX,
            embeddings.get("values").unwrap_or(&Value::Null),
        )?);
        // Vertex sends the count as a number, sometimes as a float (`3.0`).
        if let Some(count) = embeddings
            .get("statistics")
            .and_then(|statistics| statistics.get("token_count"))
            .and_then(Value::as_f64)
        {
            *input_tokens.get_or_insert(0) += count.max(0.0) as u64;
        }
    }
    expect_count(VERTEX, &vectors, expected)?;
    Ok(Embedded {
        vectors,
        input_tokens,
    })
}
