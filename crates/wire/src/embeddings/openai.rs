//! OpenAI's `POST /embeddings` as OpenAI, Azure OpenAI (at a deployment, with
//! `api-version`), Mistral (`mistral-embed`, `codestral-embed`, whose shorter vectors are
//! `output_dimension`) and OpenAI-compatible hosts serve it.
//!
//! Sources: OpenAI's API reference and the openai-python SDK (`resources/embeddings.py`:
//! `input`, `model`, `dimensions`, `encoding_format`, `user`; answer `data[].embedding` with
//! `index`, `usage.prompt_tokens`); Azure's `/openai/deployments/{deployment}/embeddings`;
//! Mistral's `/v1/embeddings` (`output_dimension`, and no unknown fields).

use serde_json::{Map, Value, json};

use super::{EmbedBatch, Embedded, expect_count, json_body, merge, options, vector};
use crate::canonical::pb;
use crate::error::WireError;
use crate::http::HttpRequest;
use crate::openai::{AZURE_API_VERSION, Endpoint, Quirks, parse_error};

const PROVIDER: &str = "openai";

/// One call for every input (the request holds at most OpenAI's 2,048). Vectors come as
/// floats, whatever the client asked: the edge encodes them.
pub(crate) fn build(
    request: &pb::EmbedRequest,
    model: &str,
    endpoint: Endpoint<'_>,
    quirks: Quirks,
) -> Result<Vec<EmbedBatch>, WireError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("input".into(), json!(request.inputs));
    if let Some(dimensions) = request.dimensions {
        let field = if quirks.mistral {
            "output_dimension"
        } else {
            "dimensions"
        };
        body.insert(field.into(), json!(dimensions));
    }
    // Mistral refuses fields it does not know.
    if !request.end_user.is_empty() && !quirks.mistral {
        body.insert("user".into(), json!(request.end_user));
    }
    merge(&mut body, &options(request)?);
    let path = match endpoint {
        Endpoint::ChatCompletions => "/embeddings".to_owned(),
        Endpoint::Azure {
            deployment,
            api_version,
        } => {
            let version = if api_version.is_empty() {
                AZURE_API_VERSION
            } else {
                api_version
            };
            format!("/openai/deployments/{deployment}/embeddings?api-version={version}")
        }
    };
    Ok(vec![EmbedBatch {
        http: HttpRequest::post_json(path, &Value::Object(body)),
        inputs: request.inputs.len(),
    }])
}

/// `data[]` by `index` (hosts may send them out of order) and `usage.prompt_tokens`.
pub(crate) fn parse(status: u16, body: &[u8], expected: usize) -> Result<Embedded, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, body));
    }
    let value = json_body(PROVIDER, body)?;
    let Some(data) = value.get("data").and_then(Value::as_array) else {
        return Err(WireError::malformed(
            PROVIDER,
            "the answer has no data array",
        ));
    };
    if data.len() != expected {
        let vectors = vec![Vec::new(); data.len()];
        expect_count(PROVIDER, &vectors, expected)?;
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (position, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .map_or(position, |index| index as usize);
        let Some(slot) = slots.get_mut(index) else {
            return Err(WireError::malformed(
                PROVIDER,
                format!("embedding index {index} is out of range"),
            ));
        };
        if slot.is_some() {
            return Err(WireError::malformed(
                PROVIDER,
                format!("embedding index {index} came twice"),
            ));
        }
        let Some(embedding) = item.get("embedding") else {
            return Err(WireError::malformed(PROVIDER, "an item has no embedding"));
        };
        *slot = Some(vector(PROVIDER, embedding)?);
    }
    let vectors = slots.into_iter().map(Option::unwrap_or_default).collect();
    let input_tokens = value
        .get("usage")
        .and_then(|usage| usage.get("prompt_tokens"))
        .and_then(Value::as_u64);
    Ok(Embedded {
        vectors,
        input_tokens,
    })
}
