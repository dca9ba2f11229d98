//! Bedrock `InvokeModel` for embedding models, in each publisher's native body: Amazon Titan
//! Text Embeddings V2 (`{inputText, dimensions, normalize}`, one text a call, answered with
//! `embedding` and `inputTextTokenCount`) and Cohere Embed (`{texts, input_type}`, up to 96
//! texts a call, answered with `embeddings` as arrays, or by type when `embedding_types` was
//! asked). Signed like Converse (SigV4 for `bedrock`, or a Bedrock API key).
//!
//! Sources: Bedrock's model-parameters pages for Titan Embeddings
//! (`model-parameters-titan-embed-text`) and Cohere Embed v3
//! (`model-parameters-embed-v3`: 96 texts a call, `input_type` required). Bedrock's Cohere
//! answer carries no token count in its body; where a `meta.billed_units.input_tokens` (the
//! Cohere API's own field) is present it is used, otherwise the count is estimated.

use serde_json::{Map, Value, json};

use super::{EmbedBatch, Embedded, batches, expect_count, json_body, merge, options, vector};
use crate::bedrock::{PROVIDER, encode_model_id, parse_error};
use crate::canonical::pb;
use crate::error::WireError;
use crate::http::HttpRequest;

/// Cohere Embed's most texts in one call on Bedrock.
const COHERE_BATCH: usize = 96;

/// Which native body a Bedrock embedding model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Titan,
    Cohere,
}

fn family(model: &str) -> Result<Family, WireError> {
    // Inference profiles prefix a region (`us.cohere.embed-v4:0`).
    if model.contains("amazon.titan-embed") {
        Ok(Family::Titan)
    } else if model.contains("cohere.embed") {
        Ok(Family::Cohere)
    } else {
        Err(WireError::from_status(
            PROVIDER,
            400,
            "invalid_request_error",
            format!(
                "{model} is not a Bedrock embedding model keyroute can call (Amazon Titan Text Embeddings and Cohere Embed are)"
            ),
        ))
    }
}

fn invoke(model: &str, body: Map<String, Value>) -> HttpRequest {
    let mut http = HttpRequest::post_json(
        format!("/model/{}/invoke", encode_model_id(model)),
        &Value::Object(body),
    );
    http.headers.push(("accept", "application/json".to_owned()));
    http
}

/// Titan: one call a text, normalized vectors; Cohere: batches of 96 as `search_document`
/// unless the options name another `input_type`.
pub(crate) fn build(request: &pb::EmbedRequest, model: &str) -> Result<Vec<EmbedBatch>, WireError> {
    let options = options(request)?;
    match family(model)? {
        Family::Titan => batches(&request.inputs, 1, |texts| {
            let mut body = Map::new();
            body.insert("inputText".into(), json!(texts.first()));
            if let Some(dimensions) = request.dimensions {
                body.insert("dimensions".into(), json!(dimensions));
            }
            merge(&mut body, &options);
            body.entry("normalize").or_insert(json!(true));
            Ok(invoke(model, body))
        }),
        Family::Cohere => batches(&request.inputs, COHERE_BATCH, |texts| {
            let mut body = Map::new();
            body.insert("texts".into(), json!(texts));
            // Embed v4's shorter vectors; v3 has 1,024 dimensions only and says so.
            if let Some(dimensions) = request.dimensions {
                body.insert("output_dimension".into(), json!(dimensions));
            }
            merge(&mut body, &options);
            body.entry("input_type").or_insert(json!("search_document"));
            Ok(invoke(model, body))
        }),
    }
}

/// Titan's `embedding` and `inputTextTokenCount`; Cohere's `embeddings` (an array of
/// vectors, or `{"float": [...]}` by type) and, where present, `meta.billed_units`.
pub(crate) fn parse(status: u16, body: &[u8], expected: usize) -> Result<Embedded, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, None, body));
    }
    let value = json_body(PROVIDER, body)?;
    if let Some(embedding) = value.get("embedding") {
        let vectors = vec![vector(PROVIDER, embedding)?];
        expect_count(PROVIDER, &vectors, expected)?;
        return Ok(Embedded {
            vectors,
            input_tokens: value.get("inputTextTokenCount").and_then(Value::as_u64),
        });
    }
    let embeddings = match value.get("embeddings") {
        Some(Value::Object(by_type)) => by_type.get("float").unwrap_or(&Value::Null),
        Some(other) => other,
        None => &Value::Null,
    };
    let Some(items) = embeddings.as_array() else {
        return Err(WireError::malformed(
            PROVIDER,
            "the answer has no embedding or float embeddings",
        ));
    };
    let vectors = items
        .iter()
        .map(|item| vector(PROVIDER, item))
        .collect::<Result<Vec<_>, _>>()?;
    expect_count(PROVIDER, &vectors, expected)?;
    let input_tokens = value
        .pointer("/meta/billed_units/input_tokens")
        .and_then(Value::as_f64)
        .map(|count| count.max(0.0) as u64);
    Ok(Embedded {
        vectors,
        input_tokens,
    })
}
