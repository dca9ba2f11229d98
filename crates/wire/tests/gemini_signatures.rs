//! Gemini thought signatures through the Anthropic dialect, and Google's placeholder for
//! calls whose signature is lost: a signed call reaches Anthropic clients preceded by an
//! empty thinking block carrying the signature (streamed at any split, or whole), comes back
//! onto the call when the client sends its history, and never reaches Anthropic; a history
//! without signatures gets `skip_thought_signature_validator` where Google checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{accumulate, decode, gemini as gemini_decoder, render};
use keyroute_wire::anthropic::{self, AnthropicStreamRenderer, Flavor};
use keyroute_wire::canonical::pb::{self, content_part::Part};
use keyroute_wire::gemini::{self, SKIP_THOUGHT_SIGNATURE};
use keyroute_wire::responses::THOUGHT_SIGNATURE_PREFIX;
use keyroute_wire::sse::SseDecoder;
use serde_json::{Value, json};

const SIGNATURE: &str = "CiQBjz1rX8sig+/==";

/// A Gemini 2.5 stream: a thought, text (its last part signed, as Gemini signs text), then two
/// parallel calls of which only the first is signed, as Google documents.
fn gemini_stream() -> Vec<u8> {
    let chunks = [
        json!([{ "text": "Let me look.", "thought": true }]),
        json!([{ "text": "Checking", "thoughtSignature": "dGV4dC1zaWc=" }]),
        json!([{ "functionCall": { "name": "Bash", "args": { "command": "ls" } }, "thoughtSignature": SIGNATURE }]),
        json!([{ "functionCall": { "name": "Read", "args": { "path": "a.txt" } } }]),
    ];
    let mut out = String::new();
    for (at, parts) in chunks.iter().enumerate() {
        let mut candidate = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
        if at == chunks.len() - 1 {
            candidate["finishReason"] = json!("STOP");
        }
        let chunk = json!({ "candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r1" });
        out.push_str(&format!("data: {chunk}\r\n\r\n"));
    }
    out.into_bytes()
}

fn carrier() -> Value {
    json!({ "type": "thinking", "thinking": "", "signature": format!("{THOUGHT_SIGNATURE_PREFIX}{SIGNATURE}") })
}

/// The content blocks an Anthropic client assembles.
fn expected_blocks() -> Value {
    json!([
        { "type": "thinking", "thinking": "Let me look.", "signature": "" },
        { "type": "text", "text": "Checking" },
        carrier(),
        { "type": "tool_use", "id": "call_0_0", "name": "Bash", "input": { "command": "ls" } },
        { "type": "tool_use", "id": "call_0_1", "name": "Read", "input": { "path": "a.txt" } },
    ])
}

/// Reads an Anthropic stream as a client does, fed in two pieces cut at `split`, checking the
/// block bookkeeping: indexes start at 0 and grow by one, deltas and stops name an open
/// block, and every block is stopped once.
fn client_blocks(bytes: &[u8], split: usize) -> Value {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    decoder.feed(&bytes[..split], &mut events);
    decoder.feed(&bytes[split..], &mut events);
    decoder.finish(&mut events);
    let mut blocks: Vec<(Value, String, bool)> = Vec::new();
    for event in events {
        let data: Value = serde_json::from_str(&event.data).unwrap();
        let index = data["index"].as_u64().map(|i| i as usize);
        match data["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(index, Some(blocks.len()), "indexes grow by one");
                blocks.push((data["content_block"].clone(), String::new(), true));
            }
            "content_block_delta" => {
                let (block, json, open) = &mut blocks[index.unwrap()];
                assert!(*open, "a delta for an open block");
                let delta = &data["delta"];
                match delta["type"].as_str().unwrap() {
                    "input_json_delta" => json.push_str(delta["partial_json"].as_str().unwrap()),
                    kind => {
                        let key = kind.trim_end_matches("_delta");
                        let joined = format!(
                            "{}{}",
                            block[key].as_str().unwrap(),
                            delta[key].as_str().unwrap()
                        );
                        block[key] = json!(joined);
                    }
                }
            }
            "content_block_stop" => {
                let (_, _, open) = &mut blocks[index.unwrap()];
                assert!(*open, "stopped once");
                *open = false;
            }
            _ => {}
        }
    }
    let blocks = blocks
        .into_iter()
        .map(|(mut block, json, open)| {
            assert!(!open, "every block is stopped: {block}");
            if block["type"] == "tool_use" {
                block["input"] = serde_json::from_str(&json).unwrap();
            }
            block
        })
        .collect();
    Value::Array(blocks)
}

/// The client's next request: its history with the blocks it was given, and the results.
fn next_turn(blocks: &Value) -> pb::ChatRequest {
    let next = json!({
        "model": "gemini-2.5-flash",
        "max_tokens": 100,
        "messages": [
            { "role": "user", "content": "list files" },
            { "role": "assistant", "content": blocks },
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "call_0_0", "content": "a.txt" },
                { "type": "tool_result", "tool_use_id": "call_0_1", "content": "hello" }
            ] }
        ]
    });
    anthropic::parse_request(next.to_string().as_bytes())
        .unwrap()
        .request
}

fn body(request: &keyroute_wire::http::HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// What the carrier turns back into, and where it may and may not go.
fn assert_carried_back(request: &pb::ChatRequest, context: &str) {
    let assistant = &request.messages[1];
    let signatures: Vec<&str> = assistant
        .content
        .iter()
        .map(|p| p.thought_signature.as_str())
        .collect();
    assert_eq!(signatures, ["", "", SIGNATURE, ""], "{context}");
    assert!(
        !assistant.content.iter().any(|p| matches!(&p.part, Some(Part::Reasoning(r)) if r.signature.starts_with(THOUGHT_SIGNATURE_PREFIX))),
        "the carrier is no reasoning: {context}"
    );
    let sent = body(
        &gemini::build_request(request, "gemini-2.5-flash", true, gemini::Flavor::AiStudio)
            .unwrap(),
    );
    let parts = &sent["contents"][1]["parts"];
    assert_eq!(parts[1]["thoughtSignature"], SIGNATURE, "{context}: {sent}");
    assert!(
        parts[2].get("thoughtSignature").is_none(),
        "{context}: {sent}"
    );
    let sent = body(
        &anthropic::build_request(request, "claude-sonnet-4-6", false, Flavor::Direct).unwrap(),
    );
    assert!(
        !sent.to_string().contains(THOUGHT_SIGNATURE_PREFIX),
        "no carrier reaches Anthropic: {context}: {sent}"
    );
}

#[test]
fn a_signed_call_streams_to_anthropic_clients_and_comes_back_at_every_split() {
    let bytes = gemini_stream();
    let events = decode(gemini_decoder, &bytes, &[]).unwrap();
    let whole = accumulate(&events);
    let rendered = render(&mut AnthropicStreamRenderer::new(), &events);
    for split in 0..=rendered.len() {
        let blocks = client_blocks(&rendered, split);
        assert_eq!(blocks, expected_blocks(), "split at {split}");
        if split % 97 == 0 {
            assert_carried_back(&next_turn(&blocks), &format!("split at {split}"));
        }
    }
    // Gemini bytes split anywhere render the same.
    for split in 0..=bytes.len() {
        let events = decode(gemini_decoder, &bytes, &[split]).unwrap();
        assert_eq!(accumulate(&events), whole, "gemini split at {split}");
        let again = render(&mut AnthropicStreamRenderer::new(), &events);
        assert_eq!(
            client_blocks(&again, 0),
            expected_blocks(),
            "gemini split at {split}"
        );
    }
    assert_carried_back(&next_turn(&expected_blocks()), "whole");
}

#[test]
fn a_signed_call_renders_whole_with_its_carrier() {
    let events = decode(gemini_decoder, &gemini_stream(), &[]).unwrap();
    let response = accumulate(&events);
    let rendered: Value = serde_json::from_slice(&anthropic::render_response(&response)).unwrap();
    assert_eq!(rendered["content"], expected_blocks());
    assert_eq!(rendered["stop_reason"], "tool_use");

    // Gemini's whole answer, signature-only empty text part included.
    let whole = json!({
        "candidates": [{ "index": 0, "finishReason": "STOP", "content": { "role": "model", "parts": [
            { "functionCall": { "name": "Bash", "args": { "command": "ls" } }, "thoughtSignature": SIGNATURE },
            { "text": "", "thoughtSignature": "dGV4dA==" }
        ] } }]
    });
    let response = gemini::parse_response(200, whole.to_string().as_bytes()).unwrap();
    let rendered: Value = serde_json::from_slice(&anthropic::render_response(&response)).unwrap();
    assert_eq!(
        rendered["content"],
        json!([carrier(), { "type": "tool_use", "id": "call_0_0", "name": "Bash", "input": { "command": "ls" } }])
    );
}

#[test]
fn a_carrier_signs_only_the_next_call_of_its_message() {
    let request = next_turn(&json!([
        carrier(),
        { "type": "text", "text": "first" },
        { "type": "tool_use", "id": "a", "name": "Bash", "input": {} },
        { "type": "tool_use", "id": "b", "name": "Bash", "input": {} },
        carrier(),
    ]));
    let assistant = &request.messages[1];
    let signatures: Vec<&str> = assistant
        .content
        .iter()
        .map(|p| p.thought_signature.as_str())
        .collect();
    assert_eq!(
        signatures,
        ["", SIGNATURE, ""],
        "a trailing carrier with no call after it is dropped"
    );

    // A carrier that reached canonical as reasoning some other way is not sent to Anthropic.
    let mut request = request;
    request.messages[1].content.insert(
        0,
        pb::ContentPart {
            part: Some(Part::Reasoning(pb::Reasoning {
                signature: format!("{THOUGHT_SIGNATURE_PREFIX}{SIGNATURE}"),
                ..Default::default()
            })),
            ..Default::default()
        },
    );
    let sent = body(
        &anthropic::build_request(&request, "claude-sonnet-4-6", false, Flavor::Direct).unwrap(),
    );
    assert!(
        !sent.to_string().contains(THOUGHT_SIGNATURE_PREFIX),
        "{sent}"
    );
}

fn text(role: pb::Role, text: &str) -> pb::Message {
    pb::Message {
        role: role as i32,
        content: vec![pb::ContentPart {
            part: Some(Part::Text(text.into())),
            ..Default::default()
        }],
        name: String::new(),
    }
}

fn calls(ids: &[&str], signature: &str) -> pb::Message {
    pb::Message {
        role: pb::Role::Assistant as i32,
        content: ids
            .iter()
            .enumerate()
            .map(|(at, id)| pb::ContentPart {
                part: Some(Part::ToolCall(pb::ToolCall {
                    id: (*id).into(),
                    name: "Bash".into(),
                    arguments_json: "{}".into(),
                })),
                thought_signature: if at == 0 {
                    signature.into()
                } else {
                    String::new()
                },
                ..Default::default()
            })
            .collect(),
        name: String::new(),
    }
}

fn results(ids: &[&str]) -> pb::Message {
    pb::Message {
        role: pb::Role::Tool as i32,
        content: ids
            .iter()
            .map(|id| pb::ContentPart {
                part: Some(Part::ToolResult(pb::ToolResult {
                    tool_call_id: (*id).into(),
                    content: vec![pb::ContentPart {
                        part: Some(Part::Text("ok".into())),
                        ..Default::default()
                    }],
                    ..Default::default()
                })),
                ..Default::default()
            })
            .collect(),
        name: String::new(),
    }
}

/// Each model content's call signatures, in order (`-` for none), for contents with calls.
fn signatures(sent: &Value) -> Vec<Vec<String>> {
    sent["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "model")
        .map(|c| {
            c["parts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p.get("functionCall").is_some())
                .map(|p| p["thoughtSignature"].as_str().unwrap_or("-").to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|step| !step.is_empty())
        .collect()
}

#[test]
fn calls_without_signatures_get_the_placeholder_where_google_checks() {
    use pb::Role::{Assistant, User};
    // An earlier turn (not checked), then the current one: parallel calls, then one more
    // step, then one already signed.
    let request = pb::ChatRequest {
        messages: vec![
            text(User, "first"),
            calls(&["old"], ""),
            results(&["old"]),
            text(Assistant, "done"),
            text(User, "second"),
            calls(&["a", "b"], ""),
            results(&["a", "b"]),
            calls(&["c"], ""),
            results(&["c"]),
            calls(&["d"], "real"),
            results(&["d"]),
        ],
        ..Default::default()
    };
    let skip = SKIP_THOUGHT_SIGNATURE;
    assert_eq!(skip, "skip_thought_signature_validator");
    for model in [
        "gemini-2.5-flash",
        "gemini-3-pro-preview",
        "gemini-flash-latest",
    ] {
        let sent =
            body(&gemini::build_request(&request, model, false, gemini::Flavor::AiStudio).unwrap());
        assert_eq!(
            signatures(&sent),
            [vec!["-"], vec![skip, "-"], vec![skip], vec!["real"]],
            "{model}: {sent}"
        );
    }
    for model in ["gemini-2.0-flash", "gemini-1.5-pro"] {
        let sent =
            body(&gemini::build_request(&request, model, false, gemini::Flavor::AiStudio).unwrap());
        assert!(!sent.to_string().contains(skip), "{model} signs nothing");
    }

    // Text beside the results (a reminder a client adds) may or may not start Google's turn:
    // the steps before it are given the placeholder either way.
    let mut mixed = request.clone();
    mixed.messages.insert(9, text(User, "a reminder"));
    let sent = body(
        &gemini::build_request(&mixed, "gemini-2.5-flash", false, gemini::Flavor::AiStudio)
            .unwrap(),
    );
    assert_eq!(
        signatures(&sent),
        [vec!["-"], vec![skip, "-"], vec![skip], vec!["real"]],
        "{sent}"
    );
}
