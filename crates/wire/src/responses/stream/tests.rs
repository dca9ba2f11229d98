#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::canonical::pb::{self, FinishReason, complete_stream_response::Event};
use crate::canonical::{
    Accumulator, StreamDecoder, StreamEvent, StreamRenderer, delta, error_event, event,
};
use crate::error::{ErrorKind, WireError};
use crate::responses::ResponseContext;
use crate::sse::SseDecoder;

fn start(id: &str) -> StreamEvent {
    event(Event::Start(pb::StreamStart {
        id: id.into(),
        model: "gpt-5".into(),
        created: 1_765_552_659,
    }))
}

fn text(piece: &str) -> StreamEvent {
    delta(pb::ChatDelta {
        text: piece.into(),
        ..Default::default()
    })
}

fn refusal(piece: &str) -> StreamEvent {
    delta(pb::ChatDelta {
        refusal: piece.into(),
        ..Default::default()
    })
}

fn thinking(id: &str, piece: &str, signature: &str) -> StreamEvent {
    delta(pb::ChatDelta {
        reasoning_id: id.into(),
        reasoning: piece.into(),
        reasoning_signature: signature.into(),
        ..Default::default()
    })
}

fn call(index: u32, id: &str, name: &str, fragment: &str) -> StreamEvent {
    delta(pb::ChatDelta {
        tool_call: Some(pb::ToolCallDelta {
            index,
            id: id.into(),
            name: name.into(),
            arguments_fragment: fragment.into(),
        }),
        ..Default::default()
    })
}

fn finish(reason: FinishReason) -> StreamEvent {
    delta(pb::ChatDelta {
        finish_reason: reason as i32,
        ..Default::default()
    })
}

fn usage() -> StreamEvent {
    event(Event::Usage(pb::Usage {
        input_tokens: 50,
        output_tokens: 20,
        cache_read_tokens: 10,
        cache_write_tokens: 0,
        reasoning_tokens: 5,
        total_tokens: 70,
        cache_write_1h_tokens: 0,
    }))
}

fn end() -> StreamEvent {
    event(Event::End(pb::StreamEnd::default()))
}

fn context() -> ResponseContext {
    ResponseContext {
        namespaces: vec!["multi_agent_v1".into()],
        encrypted_reasoning: true,
        ..Default::default()
    }
}

/// Reasoning, text, a refusal, two tool calls whose fragments interleave, usage.
fn conversation() -> Vec<StreamEvent> {
    vec![
        start("resp_abc"),
        delta(pb::ChatDelta {
            role: pb::Role::Assistant as i32,
            ..Default::default()
        }),
        thinking("rs_1", "", ""),
        thinking("", "Let me ", ""),
        thinking("", "think.", ""),
        thinking("", "", "enc-1"),
        text("Hé"),
        text("llo"),
        refusal("No."),
        call(0, "call_a", "multi_agent_v1__close_agent", "{\"id\""),
        call(1, "call_b", "exec_command", ""),
        call(0, "", "", ":1}"),
        call(1, "", "", "{}"),
        finish(FinishReason::ToolCalls),
        usage(),
        end(),
    ]
}

fn render(events: &[StreamEvent], context: ResponseContext) -> Vec<u8> {
    let mut renderer = ResponsesStreamRenderer::new(context);
    let mut out = Vec::new();
    for event in events {
        renderer.render(event, &mut out);
    }
    out
}

/// Parses rendered bytes and checks what the `openai` SDK's stream accumulator requires
/// (`lib/streaming/responses/_responses.py`) and what the event types declare: `event:` names
/// the data's `type`; sequence numbers increase from 0; `response.created` comes first and the
/// response id never changes; items are added once, at fresh output indexes, before their
/// deltas; every added item is done before the end; the final response lists the done items
/// in output order.
fn check(bytes: &[u8]) -> Vec<Value> {
    let mut sse = SseDecoder::new();
    let mut raw = Vec::new();
    sse.feed(bytes, &mut raw);
    sse.finish(&mut raw);
    let events: Vec<Value> = raw
        .iter()
        .map(|e| {
            let value: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(value["type"], e.event.as_str(), "{value}");
            value
        })
        .collect();
    assert_eq!(events[0]["type"], "response.created");
    let id = events[0]["response"]["id"].as_str().unwrap().to_owned();
    let mut added: BTreeMap<u64, Value> = BTreeMap::new();
    let mut done: BTreeMap<u64, Value> = BTreeMap::new();
    for (n, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], n as u64, "{event}");
        let kind = event["type"].as_str().unwrap();
        if let Some(response) = event.get("response") {
            assert_eq!(response["id"], id.as_str());
            assert_eq!(response["object"], "response");
            for key in ["created_at", "model", "output", "tools", "tool_choice"] {
                assert!(response.get(key).is_some(), "{key} in {event}");
            }
            assert!(response["parallel_tool_calls"].is_boolean());
        }
        let index = event["output_index"].as_u64();
        match kind {
            "response.output_item.added" => {
                let index = index.unwrap();
                assert!(added.insert(index, event["item"].clone()).is_none());
            }
            "response.output_item.done" => {
                let index = index.unwrap();
                let first = &added[&index];
                assert_eq!(first["id"], event["item"]["id"]);
                assert_eq!(first["type"], event["item"]["type"]);
                assert!(done.insert(index, event["item"].clone()).is_none());
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                if kind != "response.failed" {
                    assert_eq!(added.len(), done.len(), "every item is done");
                }
                let output: Vec<Value> = done.values().cloned().collect();
                assert_eq!(event["response"]["output"], json!(output));
                assert_eq!(n, events.len() - 1, "the terminal event is last");
            }
            _ if index.is_some() => {
                let index = index.unwrap();
                let item = &added[&index];
                assert!(!done.contains_key(&index), "{event} after its item's done");
                assert_eq!(event["item_id"], item["id"], "{event}");
            }
            _ => {}
        }
    }
    events
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn decode(bytes: &[u8], splits: &[usize]) -> Result<Vec<StreamEvent>, WireError> {
    let mut decoder = ResponsesStreamDecoder::new();
    let mut out = Vec::new();
    let mut last = 0;
    for &split in splits {
        decoder.feed(&bytes[last..split], &mut out)?;
        last = split;
    }
    decoder.feed(&bytes[last..], &mut out)?;
    decoder.finish(&mut out)?;
    Ok(out)
}

fn accumulate(events: &[StreamEvent]) -> pb::ChatResponse {
    let mut accumulator = Accumulator::new();
    for event in events {
        accumulator.push(event);
    }
    accumulator.finish()
}

#[test]
fn the_event_sequence_is_what_openai_sends() {
    let events = check(&render(&conversation(), context()));
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.content_part.added",
            "response.refusal.delta",
            "response.refusal.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[0]["response"]["status"], "in_progress");
    assert_eq!(events[0]["response"]["output"], json!([]));
    assert_eq!(
        events[8]["item"],
        json!({ "id": "rs_1", "type": "reasoning", "encrypted_content": "enc-1",
                "summary": [{ "type": "summary_text", "text": "Let me think." }] })
    );
    assert_eq!(
        events[11],
        json!({ "type": "response.output_text.delta", "sequence_number": 11,
                "item_id": "msg_abc_1", "output_index": 1, "content_index": 0,
                "delta": "Hé", "logprobs": [] })
    );
    assert_eq!(events[13]["text"], "Héllo");
    assert_eq!(events[17]["refusal"], "No.");
    assert_eq!(events[17]["content_index"], 1);
    assert_eq!(
        events[20]["item"],
        json!({ "id": "fc_abc_2", "type": "function_call", "status": "in_progress",
                "call_id": "call_a", "namespace": "multi_agent_v1", "name": "close_agent",
                "arguments": "" })
    );
    assert_eq!(events[25]["arguments"], "{\"id\":1}");
    let completed = &events[29]["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(
        completed["usage"]["input_tokens_details"]["cached_tokens"],
        10
    );
    assert_eq!(
        completed["usage"]["output_tokens_details"]["reasoning_tokens"],
        5
    );
    assert_eq!(completed["output"][3]["arguments"], "{}");
}

#[test]
fn rendering_then_decoding_gives_the_same_answer() {
    let original = conversation();
    let bytes = render(&original, context());
    let decoded = decode(&bytes, &[]).unwrap();
    let mut expected = accumulate(&original);
    // The canonical id of a function call's native stop: the status.
    expected.choices[0].native_finish_reason = "completed".into();
    assert_eq!(accumulate(&decoded), expected);
}

#[test]
fn decoding_is_the_same_split_at_every_byte() {
    let bytes = render(&conversation(), context());
    let whole = accumulate(&decode(&bytes, &[]).unwrap());
    for split in 0..=bytes.len() {
        let events = decode(&bytes, &[split]).unwrap();
        assert_eq!(accumulate(&events), whole, "split at {split}");
    }
    let every: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(accumulate(&decode(&bytes, &every).unwrap()), whole);
}

#[test]
fn a_thought_signature_goes_before_its_call_whatever_include_says() {
    let events = vec![
        start("gemini-1"),
        text("Checking."),
        delta(pb::ChatDelta {
            thought_signature: "c2ln".into(),
            tool_call: Some(pb::ToolCallDelta {
                index: 0,
                id: "call_0_0".into(),
                name: "get_weather".into(),
                arguments_fragment: "{}".into(),
            }),
            ..Default::default()
        }),
        finish(FinishReason::ToolCalls),
        end(),
    ];
    let rendered = check(&render(&events, ResponseContext::default()));
    let output = rendered.last().unwrap()["response"]["output"].clone();
    assert_eq!(output[0]["type"], "message");
    assert_eq!(
        output[1],
        json!({ "id": "rs_gemini-1_1", "type": "reasoning", "summary": [],
                "encrypted_content": "keyroute.thought_signature:c2ln" })
    );
    assert_eq!(output[2]["type"], "function_call");
    assert_eq!(output[2]["call_id"], "call_0_0");
}

#[test]
fn anthropic_thinking_and_redacted_thinking_become_reasoning_items() {
    let events = vec![
        start("msg_01"),
        thinking("", "Hmm.", ""),
        thinking("", "", "sig=="),
        delta(pb::ChatDelta {
            redacted_reasoning: "opaque".into(),
            ..Default::default()
        }),
        text("Hi"),
        end(),
    ];
    let without = check(&render(&events, ResponseContext::default()));
    let output = &without.last().unwrap()["response"]["output"];
    assert_eq!(output[0]["id"], "rs_msg_01_0");
    assert!(output[0].get("encrypted_content").is_none());
    assert_eq!(output[1]["summary"], json!([]));

    let with = check(&render(&events, context()));
    let output = &with.last().unwrap()["response"]["output"];
    assert_eq!(output[0]["encrypted_content"], "sig==");
    assert_eq!(output[1]["encrypted_content"], "keyroute.redacted:opaque");
    assert_eq!(output[2]["content"][0]["text"], "Hi");
}

#[test]
fn length_ends_incomplete_with_the_cut_item_incomplete() {
    let events = vec![
        start("r"),
        text("Once upon"),
        finish(FinishReason::Length),
        end(),
    ];
    let rendered = check(&render(&events, ResponseContext::default()));
    let last = rendered.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    let decoded = accumulate(&decode(&render(&events, ResponseContext::default()), &[]).unwrap());
    assert_eq!(
        decoded.choices[0].finish_reason,
        FinishReason::Length as i32
    );
}

#[test]
fn an_error_fails_the_response_and_decodes_back() {
    let error = WireError::from_status("anthropic", 429, "rate_limit_error", "Slow down");
    let events = vec![
        start("r"),
        text("Part"),
        error_event(error),
        end(),
        text("late"),
    ];
    let bytes = render(&events, ResponseContext::default());
    let rendered = check(&bytes);
    let kinds = types(&rendered);
    assert_eq!(kinds[kinds.len() - 2..], ["error", "response.failed"]);
    let error = &rendered[rendered.len() - 2];
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(error["message"], "Slow down");
    assert_eq!(error["error"]["type"], "rate_limit_error");
    let failed = &rendered[rendered.len() - 1]["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        json!({ "code": "rate_limit_exceeded", "message": "Slow down" })
    );

    let decoded = decode(&bytes, &[]).unwrap();
    let Some(Event::Error(error)) = &decoded.last().unwrap().event else {
        panic!("{decoded:?}");
    };
    assert_eq!((error.status, error.message.as_str()), (429, "Slow down"));
    assert!(error.retryable);
}

#[test]
fn an_error_before_anything_still_starts_the_response() {
    let error = WireError::from_status("openai", 500, "", "boom");
    let rendered = check(&render(&[error_event(error)], ResponseContext::default()));
    assert_eq!(
        types(&rendered),
        [
            "response.created",
            "response.in_progress",
            "error",
            "response.failed"
        ]
    );
    assert_eq!(rendered[3]["response"]["error"]["code"], "server_error");
}

#[test]
fn the_decoder_skips_hosted_items_and_counts_function_calls_from_zero() {
    let lines = [
        json!({"type":"response.created","sequence_number":0,"response":{"id":"resp_1","created_at":5,"model":"gpt-5.4","status":"in_progress","output":[]}}),
        json!({"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"ws_1","type":"web_search_call","status":"in_progress"}}),
        json!({"type":"response.output_item.done","sequence_number":2,"output_index":0,"item":{"id":"ws_1","type":"web_search_call","status":"completed"}}),
        json!({"type":"response.output_item.added","sequence_number":3,"output_index":1,"item":{"id":"rs_1","type":"reasoning","summary":[]}}),
        json!({"type":"response.output_item.done","sequence_number":4,"output_index":1,"item":{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"Only at the end."}],"encrypted_content":"enc"}}),
        json!({"type":"response.output_item.added","sequence_number":5,"output_index":2,"item":{"id":"fc_1","type":"function_call","status":"in_progress","arguments":"","call_id":"call_1","name":"spawn","namespace":"multi_agent_v1"}}),
        json!({"type":"response.output_item.done","sequence_number":6,"output_index":2,"item":{"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"n\":1}","call_id":"call_1","name":"spawn","namespace":"multi_agent_v1"}}),
        json!({"type":"response.output_item.added","sequence_number":7,"output_index":3,"item":{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}}),
        json!({"type":"response.output_item.done","sequence_number":8,"output_index":3,"item":{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Whole.","annotations":[]}]}}),
        json!({"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","status":"completed","output":[],"usage":{"input_tokens":9,"output_tokens":3,"total_tokens":12}}}),
    ];
    let body: String = lines
        .iter()
        .map(|line| {
            format!(
                "event: {}\ndata: {line}\n\n",
                line["type"].as_str().unwrap()
            )
        })
        .collect();
    let answer = accumulate(&decode(body.as_bytes(), &[]).unwrap());
    assert_eq!(answer.id, "resp_1");
    assert_eq!(answer.created, 5);
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    use pb::content_part::Part;
    let parts: Vec<_> = choice
        .message
        .as_ref()
        .unwrap()
        .content
        .iter()
        .map(|p| p.part.clone().unwrap())
        .collect();
    assert_eq!(
        parts,
        [
            Part::Reasoning(pb::Reasoning {
                id: "rs_1".into(),
                text: "Only at the end.".into(),
                signature: "enc".into(),
                redacted: String::new(),
            }),
            Part::ToolCall(pb::ToolCall {
                id: "call_1".into(),
                name: "multi_agent_v1__spawn".into(),
                arguments_json: "{\"n\":1}".into(),
            }),
            Part::Text("Whole.".into()),
        ]
    );
    assert_eq!(answer.usage.unwrap().total_tokens, 12);
}

#[test]
fn the_decoder_reports_errors_and_cut_streams() {
    // OpenAI's own `error` event nests the error; the documented one does not.
    for data in [
        r#"{"type":"error","sequence_number":2,"error":{"type":"insufficient_quota","code":"insufficient_quota","message":"You exceeded your current quota","param":null}}"#,
        r#"{"type":"error","sequence_number":2,"code":"insufficient_quota","message":"You exceeded your current quota","param":null}"#,
    ] {
        let body = format!("event: error\ndata: {data}\n\n");
        let events = decode(body.as_bytes(), &[]).unwrap();
        let Some(Event::Error(error)) = &events[0].event else {
            panic!("{events:?}");
        };
        assert_eq!(error.status, 429);
        assert_eq!(error.message, "You exceeded your current quota");
    }
    let failed = r#"{"type":"response.failed","sequence_number":3,"response":{"id":"resp_1","status":"failed","error":{"code":"context_length_exceeded","message":"Too long."},"output":[]}}"#;
    let body = format!("event: response.failed\ndata: {failed}\n\n");
    let events = decode(body.as_bytes(), &[]).unwrap();
    let Some(Event::Error(error)) = &events.last().unwrap().event else {
        panic!("{events:?}");
    };
    assert_eq!((error.status, error.retryable), (400, false));

    let cut = render(&conversation()[..8], context());
    let error = decode(&cut, &[]).unwrap_err();
    assert_eq!(error.error_type, "truncated_stream");
    assert_eq!(error.kind, ErrorKind::Malformed);
    assert!(decode(b"data: {not json\n\n", &[]).is_err());
}

/// Every `response.*` event is what a `Value` tree of the same event writes (keys sorted,
/// compact), and its response object repeats the request's echo as it was.
#[test]
fn response_events_repeat_the_echo_exactly_as_a_tree_writes_it() {
    let mut context = context();
    let tools = serde_json::json!([
        {"type": "function", "name": "exec",
         "parameters": {"type": "object", "properties": {"z": {}, "a": {"enum": [2, "x"]}}}},
    ]);
    context.echo.insert("tools".into(), tools.clone());
    context.echo.insert("store".into(), Value::Bool(false));
    let bytes = render(&conversation(), context);
    let text = String::from_utf8(bytes).unwrap();
    let mut objects = 0;
    for data in text.lines().filter_map(|line| line.strip_prefix("data: ")) {
        let event: Value = serde_json::from_str(data).unwrap();
        if let Some(response) = event.get("response") {
            assert_eq!(data, serde_json::to_string(&event).unwrap());
            assert_eq!(response["tools"], tools);
            assert_eq!(response["store"], false);
            objects += 1;
        }
    }
    assert_eq!(objects, 3, "created, in_progress, completed");
}
