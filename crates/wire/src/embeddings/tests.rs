//! Each format's embedding request field by field, its answers read, and bad answers refused.

use serde_json::{Value, json};

use super::*;
use crate::openai::{Endpoint, Quirks};

fn request(inputs: &[&str], dimensions: Option<u32>) -> pb::EmbedRequest {
    pb::EmbedRequest {
        model: "m".into(),
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        dimensions,
        end_user: "user-1".into(),
        provider_options_json: String::new(),
    }
}

fn body(batch: &EmbedBatch) -> Value {
    serde_json::from_slice(&batch.http.body).unwrap()
}

#[test]
fn openai_requests_carry_input_model_dimensions_and_user() {
    let batches = build_openai(
        &request(&["a", "b"], Some(256)),
        "text-embedding-3-small",
        Endpoint::ChatCompletions,
        Quirks::OPENAI,
    )
    .unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].inputs, 2);
    assert_eq!(batches[0].http.path, "/embeddings");
    assert_eq!(
        body(&batches[0]),
        json!({ "model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 256, "user": "user-1" })
    );
}

#[test]
fn azure_goes_to_its_deployment_with_an_api_version() {
    let endpoint = Endpoint::Azure {
        deployment: "emb",
        api_version: "",
    };
    let batches = build_openai(&request(&["a"], None), "emb", endpoint, Quirks::OPENAI).unwrap();
    assert_eq!(
        batches[0].http.path,
        "/openai/deployments/emb/embeddings?api-version=2024-10-21"
    );
}

#[test]
fn mistral_takes_output_dimension_and_no_user() {
    let mut asked = request(&["a"], Some(512));
    asked.provider_options_json = r#"{"output_dtype":"float","model":"ignored"}"#.into();
    let batches = build_openai(
        &asked,
        "codestral-embed",
        Endpoint::ChatCompletions,
        Quirks::MISTRAL,
    )
    .unwrap();
    assert_eq!(
        body(&batches[0]),
        json!({ "model": "codestral-embed", "input": ["a"], "output_dimension": 512, "output_dtype": "float" })
    );
}

#[test]
fn openai_answers_are_read_by_index_with_usage() {
    let answer = json!({
        "object": "list", "model": "text-embedding-3-small",
        "data": [
            { "object": "embedding", "index": 1, "embedding": [0.5, -1.0] },
            { "object": "embedding", "index": 0, "embedding": [0.25, 2.0] }
        ],
        "usage": { "prompt_tokens": 7, "total_tokens": 7 }
    });
    let parsed = parse_openai(200, answer.to_string().as_bytes(), 2).unwrap();
    assert_eq!(parsed.vectors, vec![vec![0.25, 2.0], vec![0.5, -1.0]]);
    assert_eq!(parsed.input_tokens, Some(7));
}

#[test]
fn bad_openai_answers_are_malformed() {
    let cases = [
        json!({ "data": [] }),
        json!({ "data": [{ "index": 0, "embedding": "AAAA" }] }),
        json!({ "data": [{ "index": 3, "embedding": [1.0] }] }),
        json!({ "data": [{ "index": 0, "embedding": [1.0] }, { "index": 0, "embedding": [1.0] }] }),
        json!({ "nothing": true }),
        json!({ "data": [{ "index": 0, "embedding": ["x"] }] }),
    ];
    for (at, case) in cases.iter().enumerate() {
        let expected = if at == 3 { 2 } else { 1 };
        let error = parse_openai(200, case.to_string().as_bytes(), expected).unwrap_err();
        assert_eq!(error.status, 502, "case {at}: {case}");
    }
    let too_long = json!({ "data": [{ "index": 0, "embedding": vec![0.0; MAX_DIMENSIONS + 1] }] });
    assert!(parse_openai(200, too_long.to_string().as_bytes(), 1).is_err());
    assert!(parse_openai(200, b"not json", 1).is_err());
    let refused = parse_openai(
        401,
        br#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        1,
    )
    .unwrap_err();
    assert_eq!(refused.status, 401);
}

#[test]
fn ai_studio_batches_requests_of_a_hundred_with_the_model_in_each() {
    let texts: Vec<String> = (0..150).map(|i| format!("t{i}")).collect();
    let mut asked = request(&[], Some(768));
    asked.inputs = texts;
    asked.provider_options_json = r#"{"taskType":"RETRIEVAL_QUERY"}"#.into();
    let batches = build_ai_studio(&asked, "gemini-embedding-001").unwrap();
    assert_eq!(
        batches.iter().map(|b| b.inputs).collect::<Vec<_>>(),
        [100, 50]
    );
    assert_eq!(
        batches[0].http.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    let first = body(&batches[0]);
    assert_eq!(
        first["requests"][0],
        json!({ "model": "models/gemini-embedding-001", "content": { "parts": [{ "text": "t0" }] }, "outputDimensionality": 768, "taskType": "RETRIEVAL_QUERY" })
    );
    assert_eq!(
        body(&batches[1])["requests"][0]["content"]["parts"][0]["text"],
        "t100"
    );
}

#[test]
fn ai_studio_answers_have_values_and_no_usage() {
    let answer = json!({ "embeddings": [{ "values": [1.0, 2.0] }, { "values": [3.0, 4.0] }] });
    let parsed = parse_ai_studio(200, answer.to_string().as_bytes(), 2).unwrap();
    assert_eq!(parsed.vectors, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
    assert_eq!(parsed.input_tokens, None);
    assert!(parse_ai_studio(200, answer.to_string().as_bytes(), 3).is_err());
    assert!(parse_ai_studio(200, br#"{"embeddings":[{}]}"#, 1).is_err());
    let refused = parse_ai_studio(
        400,
        br#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}"#,
        1,
    )
    .unwrap_err();
    assert_eq!(refused.status, 400);
}

#[test]
fn vertex_predicts_one_instance_a_call_for_gemini_and_batches_others() {
    let asked = request(&["a", "b", "c"], Some(256));
    let gemini = build_vertex(&asked, "gemini-embedding-001", "proj", "us-central1").unwrap();
    assert_eq!(gemini.len(), 3);
    assert_eq!(
        gemini[0].http.path,
        "/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-embedding-001:predict"
    );
    assert_eq!(
        body(&gemini[1]),
        json!({ "instances": [{ "content": "b" }], "parameters": { "outputDimensionality": 256 } })
    );
    let text = build_vertex(&asked, "text-embedding-005", "proj", "us-central1").unwrap();
    assert_eq!(text.len(), 1);
    assert_eq!(text[0].inputs, 3);
}

#[test]
fn vertex_answers_sum_their_token_counts() {
    let answer = json!({ "predictions": [
        { "embeddings": { "values": [0.5], "statistics": { "token_count": 3, "truncated": false } } },
        { "embeddings": { "values": [0.25], "statistics": { "token_count": 4.0, "truncated": false } } }
    ] });
    let parsed = parse_vertex(200, answer.to_string().as_bytes(), 2).unwrap();
    assert_eq!(parsed.vectors, vec![vec![0.5], vec![0.25]]);
    assert_eq!(parsed.input_tokens, Some(7));
    assert!(parse_vertex(200, br#"{"predictions":[{"embeddings":{}}]}"#, 1).is_err());
    assert!(parse_vertex(200, br#"{}"#, 1).is_err());
}

#[test]
fn titan_embeds_one_text_a_call_normalized() {
    let batches = build_bedrock(
        &request(&["a", "b"], Some(512)),
        "amazon.titan-embed-text-v2:0",
    )
    .unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(
        batches[0].http.path,
        "/model/amazon.titan-embed-text-v2%3A0/invoke"
    );
    assert_eq!(batches[0].http.header("accept"), Some("application/json"));
    assert_eq!(
        body(&batches[1]),
        json!({ "inputText": "b", "dimensions": 512, "normalize": true })
    );
    let answer = json!({ "embedding": [0.1, 0.2], "inputTextTokenCount": 5, "embeddingsByType": { "float": [0.1, 0.2] } });
    let parsed = parse_bedrock(200, answer.to_string().as_bytes(), 1).unwrap();
    assert_eq!(parsed.vectors, vec![vec![0.1, 0.2]]);
    assert_eq!(parsed.input_tokens, Some(5));
}

#[test]
fn cohere_on_bedrock_batches_ninety_six_texts_as_documents() {
    let texts: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    let mut asked = request(&[], None);
    asked.inputs = texts;
    let batches = build_bedrock(&asked, "cohere.embed-english-v3").unwrap();
    assert_eq!(
        batches.iter().map(|b| b.inputs).collect::<Vec<_>>(),
        [96, 4]
    );
    let first = body(&batches[0]);
    assert_eq!(first["input_type"], "search_document");
    assert_eq!(first["texts"].as_array().unwrap().len(), 96);
    let mut query = request(&["q"], None);
    query.provider_options_json = r#"{"input_type":"search_query"}"#.into();
    let batches = build_bedrock(&query, "cohere.embed-multilingual-v3").unwrap();
    assert_eq!(
        body(&batches[0]),
        json!({ "texts": ["q"], "input_type": "search_query" })
    );
    assert!(build_bedrock(&query, "anthropic.claude-3-haiku").is_err());
}

#[test]
fn cohere_answers_by_array_or_by_type_with_billed_units_when_sent() {
    let floats = json!({ "id": "x", "response_type": "embeddings_floats", "texts": ["a", "b"], "embeddings": [[1.0], [2.0]] });
    let parsed = parse_bedrock(200, floats.to_string().as_bytes(), 2).unwrap();
    assert_eq!(parsed.vectors, vec![vec![1.0], vec![2.0]]);
    assert_eq!(parsed.input_tokens, None);
    let by_type = json!({ "response_type": "embeddings_by_type", "embeddings": { "float": [[3.0]] }, "meta": { "billed_units": { "input_tokens": 9 } } });
    let parsed = parse_bedrock(200, by_type.to_string().as_bytes(), 1).unwrap();
    assert_eq!(parsed.vectors, vec![vec![3.0]]);
    assert_eq!(parsed.input_tokens, Some(9));
    assert!(parse_bedrock(200, floats.to_string().as_bytes(), 3).is_err());
    assert!(parse_bedrock(200, br#"{"embeddings":{"int8":[[1]]}}"#, 1).is_err());
    let refused = parse_bedrock(400, br#"{"message":"Malformed input request"}"#, 1).unwrap_err();
    assert_eq!(refused.status, 400);
}

#[test]
fn clients_send_strings_and_get_400s_naming_the_field() {
    let parsed = parse_request(
        br#"{"model":"text-embedding-3-small","input":["a","b"],"dimensions":8,"encoding_format":"base64","user":"u","extra":1}"#,
    )
    .unwrap();
    assert_eq!(parsed.encoding, Encoding::Base64);
    assert_eq!(parsed.request.inputs, ["a", "b"]);
    assert_eq!(parsed.request.dimensions, Some(8));
    assert_eq!(parsed.request.end_user, "u");
    assert_eq!(parsed.request.provider_options_json, r#"{"extra":1}"#);
    let one = parse_request(br#"{"model":"m","input":"hello"}"#).unwrap();
    assert_eq!(one.request.inputs, ["hello"]);
    assert_eq!(one.encoding, Encoding::Float);
    let refused = |body: &str| parse_request(body.as_bytes()).unwrap_err().param;
    assert_eq!(refused(r#"{"model":"m","input":""}"#), "input");
    assert_eq!(refused(r#"{"model":"m","input":[]}"#), "input");
    assert_eq!(refused(r#"{"model":"m","input":["a",""]}"#), "input[1]");
    assert_eq!(refused(r#"{"model":"m","input":["a",{}]}"#), "input[1]");
    assert_eq!(refused(r#"{"model":"m","input":[1,2]}"#), "input");
    assert_eq!(refused(r#"{"model":"m","input":[[1,2]]}"#), "input");
    assert_eq!(refused(r#"{"model":"m","input":5}"#), "input");
    assert_eq!(refused(r#"{"model":"m"}"#), "input");
    assert_eq!(refused(r#"{"input":"a"}"#), "model");
    assert_eq!(
        refused(r#"{"model":"m","input":"a","dimensions":0}"#),
        "dimensions"
    );
    assert_eq!(
        refused(r#"{"model":"m","input":"a","dimensions":"8"}"#),
        "dimensions"
    );
    assert_eq!(
        refused(r#"{"model":"m","input":"a","encoding_format":"int8"}"#),
        "encoding_format"
    );
    assert_eq!(refused(r#"{"model":"m","input":"a","user":1}"#), "user");
    let many = json!({ "model": "m", "input": vec!["a"; MAX_INPUTS + 1] });
    assert_eq!(refused(&many.to_string()), "input");
}

#[test]
fn answers_render_as_floats_or_little_endian_base64() {
    let response = pb::EmbedResponse {
        model: "text-embedding-3-small".into(),
        embeddings: vec![pb::Embedding {
            index: 0,
            values: vec![1.0, -0.5],
        }],
        usage: Some(pb::Usage {
            input_tokens: 3,
            total_tokens: 3,
            ..Default::default()
        }),
        served_by: None,
        usage_estimated: false,
    };
    let floats: Value =
        serde_json::from_slice(&render_response(&response, Encoding::Float)).unwrap();
    assert_eq!(
        floats,
        json!({ "object": "list", "model": "text-embedding-3-small",
            "data": [{ "object": "embedding", "index": 0, "embedding": [1.0, -0.5] }],
            "usage": { "prompt_tokens": 3, "total_tokens": 3 } })
    );
    let encoded: Value =
        serde_json::from_slice(&render_response(&response, Encoding::Base64)).unwrap();
    // 1.0f32 is 00 00 80 3f, -0.5f32 is 00 00 00 bf (little-endian).
    assert_eq!(encoded["data"][0]["embedding"], "AACAPwAAAL8=");
}

#[test]
fn estimates_count_four_characters_a_token_and_one_at_least() {
    assert_eq!(estimate_tokens(&["abcdefgh", "a"]), 3);
}
