//! Gemini (AI Studio, Vertex) and Bedrock Converse: recorded responses parse to what they
//! contain, requests put every canonical field where the provider expects it, thought
//! signatures survive a turn, and errors are classified.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use keyroute_wire::bedrock::{self, Auth};
use keyroute_wire::canonical::pb::{self, content_part::Part};
use keyroute_wire::error::ErrorKind;
use keyroute_wire::gemini::{self, Flavor};
use keyroute_wire::openai;
use keyroute_wire::sigv4::Credentials;
use serde_json::{Value, json};

fn read(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(path),
    )
    .unwrap()
}

fn body(request: &keyroute_wire::http::HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// A canonical conversation from an OpenAI client: system, developer, text and image, a tool
/// call and its result.
fn conversation() -> pb::ChatRequest {
    let request = json!({
        "model": "any",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "developer", "content": "Answer in French." },
            { "role": "user", "content": [
                { "type": "text", "text": "Weather in Paris? And this image?" },
                { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } }
            ] },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } }
            ] },
            { "role": "tool", "tool_call_id": "call_1", "content": "18C and sunny" }
        ],
        "tools": [{ "type": "function", "function": { "name": "get_weather", "description": "Weather by city", "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } } }],
        "tool_choice": "required",
        "response_format": { "type": "json_schema", "json_schema": { "name": "answer", "schema": { "type": "object" } } },
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 300,
        "stop": ["END"],
        "seed": 7
    });
    openai::parse_request(request.to_string().as_bytes())
        .unwrap()
        .request
}

#[test]
fn gemini_requests_follow_the_generate_content_shape() {
    let request =
        gemini::build_request(&conversation(), "gemini-2.5-flash", true, Flavor::AiStudio).unwrap();
    assert_eq!(
        request.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let sent = body(&request);
    assert_eq!(
        sent["systemInstruction"],
        json!({ "parts": [{ "text": "Be brief." }, { "text": "Answer in French." }] })
    );
    let contents = sent["contents"].as_array().unwrap();
    assert_eq!(
        contents
            .iter()
            .map(|c| c["role"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["user", "model", "user"]
    );
    assert_eq!(
        contents[0]["parts"][1],
        json!({ "inlineData": { "mimeType": "image/png", "data": "iVBORw0KGgo=" } })
    );
    assert_eq!(
        contents[1]["parts"][0],
        json!({ "functionCall": { "name": "get_weather", "args": { "city": "Paris" } }, "thoughtSignature": "skip_thought_signature_validator" }),
        "a call the client sent back without its signature gets Google's placeholder"
    );
    assert_eq!(
        contents[2]["parts"][0],
        json!({ "functionResponse": { "name": "get_weather", "response": { "output": "18C and sunny" } } }),
        "the name is found from the call"
    );
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(
        sent["toolConfig"],
        json!({ "functionCallingConfig": { "mode": "ANY" } })
    );
    let generation = &sent["generationConfig"];
    assert_eq!(
        (
            generation["temperature"].as_f64(),
            generation["topP"].as_f64()
        ),
        (Some(0.2), Some(0.9))
    );
    assert_eq!(
        (
            generation["maxOutputTokens"].as_u64(),
            generation["seed"].as_i64()
        ),
        (Some(300), Some(7))
    );
    assert_eq!(generation["stopSequences"], json!(["END"]));
    assert_eq!(generation["responseMimeType"], "application/json");
    assert_eq!(
        generation["responseJsonSchema"],
        json!({ "type": "object" })
    );

    let vertex = gemini::build_request(
        &conversation(),
        "gemini-2.5-pro",
        false,
        Flavor::Vertex {
            project: "p1",
            location: "europe-west4",
        },
    )
    .unwrap();
    assert_eq!(
        vertex.path,
        "/v1/projects/p1/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent"
    );
}

#[test]
fn gemini_responses_parse_and_thought_signatures_come_back() {
    let response =
        gemini::parse_response(200, &read("vercel-ai/google/google-tool-call.json")).unwrap();
    let choice = &response.choices[0];
    assert_eq!(
        choice.finish_reason(),
        pb::FinishReason::ToolCalls,
        "STOP with a call is a tool call"
    );
    assert_eq!(choice.native_finish_reason, "STOP");
    let part = &choice.message.as_ref().unwrap().content[0];
    let Some(Part::ToolCall(call)) = &part.part else {
        panic!("a tool call")
    };
    assert_eq!(
        (call.name.as_str(), call.id.as_str()),
        ("weather", "call_0_0")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments_json).unwrap(),
        json!({ "location": "San Francisco" })
    );
    assert!(part.thought_signature.starts_with("EskgCsYg"));
    let usage = response.usage.unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.reasoning_tokens,
            usage.total_tokens
        ),
        (29, 15 + 893, 893, 937)
    );
    assert_eq!(
        (response.id.as_str(), response.model.as_str()),
        ("m36LaZGyCLz1xs0PtNSB-QU", "gemini-3-pro-preview")
    );

    // The next turn sends the call back with its signature on the same part.
    let mut next = conversation();
    next.messages.truncate(3);
    next.messages.push(choice.message.clone().unwrap());
    next.messages.push(pb::Message {
        role: pb::Role::Tool as i32,
        content: vec![pb::ContentPart {
            part: Some(Part::ToolResult(pb::ToolResult {
                tool_call_id: call.id.clone(),
                content: vec![pb::ContentPart {
                    part: Some(Part::Text("{\"temp\":18}".into())),
                    ..Default::default()
                }],
                ..Default::default()
            })),
            ..Default::default()
        }],
        name: String::new(),
    });
    let sent = body(
        &gemini::build_request(&next, "gemini-3-pro-preview", false, Flavor::AiStudio).unwrap(),
    );
    assert_eq!(
        sent["contents"][1]["parts"][0]["thoughtSignature"],
        json!(part.thought_signature)
    );
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"],
        json!({ "name": "weather", "response": { "temp": 18 } })
    );

    let text = gemini::parse_response(200, &read("vercel-ai/google/google-text.json")).unwrap();
    let part = &text.choices[0].message.as_ref().unwrap().content[0];
    assert!(matches!(&part.part, Some(Part::Text(t)) if t.starts_with("There are **3** r's")));
    assert!(part.thought_signature.starts_with("EtoFCtcF"));
}

#[test]
fn gemini_errors_are_classified() {
    let bad_key = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
    let error = gemini::parse_error(400, bad_key);
    assert_eq!(
        (error.kind, error.status),
        (ErrorKind::Authentication, 400),
        "a bad key is an auth failure despite the 400"
    );
    let quota = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34.4s"}]}}"#;
    let error = gemini::parse_error(429, quota);
    assert_eq!(
        (error.kind, error.retry_after),
        (ErrorKind::RateLimited, Some(Duration::from_millis(34_400)))
    );
    let invalid = gemini::parse_error(
        400,
        br#"{"error":{"code":400,"message":"bad schema","status":"INVALID_ARGUMENT"}}"#,
    );
    assert_eq!(
        (invalid.kind, invalid.retryable),
        (ErrorKind::InvalidRequest, false)
    );
    assert!(gemini::parse_response(503, b"").is_err());
}

#[test]
fn bedrock_requests_follow_the_converse_shape() {
    let mut request = conversation();
    request.messages[2].content[0].cache = Some(pb::CacheHint::default());
    let http = bedrock::build_request(&request, "anthropic.claude-3-5-sonnet-20240620-v1:0", false)
        .unwrap();
    assert_eq!(
        http.path,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    let sent = body(&http);
    assert_eq!(
        sent["system"],
        json!([{ "text": "Be brief." }, { "text": "Answer in French." }])
    );
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(
        messages[0]["content"][0],
        json!({ "text": "Weather in Paris? And this image?" })
    );
    assert_eq!(
        messages[0]["content"][1],
        json!({ "cachePoint": { "type": "default" } })
    );
    assert_eq!(
        messages[0]["content"][2],
        json!({ "image": { "format": "png", "source": { "bytes": "iVBORw0KGgo=" } } })
    );
    assert_eq!(
        messages[1]["content"][0],
        json!({ "toolUse": { "toolUseId": "call_1", "name": "get_weather", "input": { "city": "Paris" } } })
    );
    assert_eq!(
        messages[2]["content"][0],
        json!({ "toolResult": { "toolUseId": "call_1", "content": [{ "text": "18C and sunny" }], "status": "success" } })
    );
    assert_eq!(
        sent["inferenceConfig"],
        json!({ "maxTokens": 300, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"] })
    );
    assert_eq!(sent["toolConfig"]["toolChoice"], json!({ "any": {} }));
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
        "object"
    );

    let stream = bedrock::build_request(&request, "us.anthropic.claude-sonnet-4", true).unwrap();
    assert!(stream.path.ends_with("/converse-stream"));
    let mut remote = request.clone();
    remote.messages[2].content[1] = pb::ContentPart {
        part: Some(Part::Image(pb::Image {
            source: Some(pb::image::Source::Url("https://example.com/a.png".into())),
            ..Default::default()
        })),
        ..Default::default()
    };
    let error = bedrock::build_request(&remote, "m", false).unwrap_err();
    assert_eq!(error.status, 400);
    assert!(error.message.contains("inline"));
}

#[test]
fn bedrock_requests_are_signed_for_service_bedrock_or_carry_the_api_key() {
    let mut http = bedrock::build_request(
        &conversation(),
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        false,
    )
    .unwrap();
    let credentials = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token: Some("session-token"),
    };
    bedrock::authorize(
        &mut http,
        "bedrock-runtime.us-east-1.amazonaws.com",
        "us-east-1",
        Auth::SigV4(credentials),
        1_440_938_160,
    );
    let authorization = http.header("authorization").unwrap();
    assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="), "{authorization}");
    assert_eq!(http.header("x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(http.header("x-amz-security-token"), Some("session-token"));
    assert!(!format!("{:?}", Auth::ApiKey("ABSK-secret-key")).contains("secret"));

    let mut keyed = bedrock::build_request(&conversation(), "m", false).unwrap();
    bedrock::authorize(
        &mut keyed,
        "bedrock-runtime.us-east-1.amazonaws.com",
        "us-east-1",
        Auth::ApiKey("ABSKkey"),
        0,
    );
    assert_eq!(keyed.header("authorization"), Some("Bearer ABSKkey"));
}

#[test]
fn bedrock_responses_and_errors_parse() {
    let text = bedrock::parse_response(
        200,
        None,
        &read("vercel-ai/amazon-bedrock/amazon-bedrock-text.json"),
    )
    .unwrap();
    let usage = text.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (22, 57, 79)
    );
    assert_eq!(text.choices[0].finish_reason(), pb::FinishReason::Stop);
    assert!(
        matches!(&text.choices[0].message.as_ref().unwrap().content[0].part, Some(Part::Text(t)) if t.starts_with("Let me count"))
    );

    let tool = bedrock::parse_response(
        200,
        None,
        &read("vercel-ai/amazon-bedrock/amazon-bedrock-tool-call.1.json"),
    )
    .unwrap();
    assert_eq!(tool.choices[0].finish_reason(), pb::FinishReason::ToolCalls);
    let Some(Part::ToolCall(call)) = &tool.choices[0].message.as_ref().unwrap().content[0].part
    else {
        panic!("tool call")
    };
    assert_eq!(
        (call.id.as_str(), call.name.as_str()),
        ("tool-use-id", "bash")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments_json).unwrap(),
        json!({ "command": "ls -l" })
    );

    let throttled = bedrock::parse_error(
        429,
        Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        br#"{"message":"Too many requests"}"#,
    );
    assert_eq!(
        (
            throttled.kind,
            throttled.error_type.as_str(),
            throttled.message.as_str()
        ),
        (
            ErrorKind::RateLimited,
            "ThrottlingException",
            "Too many requests"
        )
    );
    let bad_key = bedrock::parse_error(
        403,
        Some("UnrecognizedClientException"),
        br#"{"Message":"The security token included in the request is invalid."}"#,
    );
    assert_eq!(
        (bad_key.kind, bad_key.message.as_str()),
        (
            ErrorKind::Authentication,
            "The security token included in the request is invalid."
        )
    );
    let signature = bedrock::parse_error(
        400,
        None,
        br#"{"__type":"com.amazon.coral.service#IncompleteSignature","message":"x"}"#,
    );
    assert_eq!(
        (signature.kind, signature.error_type.as_str()),
        (ErrorKind::Authentication, "IncompleteSignature")
    );
    let validation = bedrock::parse_error(
        400,
        Some("ValidationException"),
        br#"{"message":"The content field in the Message object at messages.1 is empty."}"#,
    );
    assert_eq!(
        (validation.kind, validation.retryable),
        (ErrorKind::InvalidRequest, false)
    );
}
