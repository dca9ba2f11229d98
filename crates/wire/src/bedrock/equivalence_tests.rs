//! The typed readers against the `Value`-tree ones they replaced (`legacy.rs`): generated
//! Converse responses and ConverseStream frame sequences (payload fields of every type,
//! missing, repeated, nested, numbers out of range; exceptions) must parse to the same
//! canonical answer or events, or fail with the same error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;

use super::super::parse_response;
use super::BedrockStreamDecoder;
use super::legacy::{LegacyDecoder, legacy_parse_response};
use crate::canonical::{StreamDecoder, StreamEvent};
use crate::error::WireError;
use crate::eventstream::{Frame, Header, HeaderValue};
use crate::generated::{array, count, either, leading, leaf, object, text};

fn usage() -> BoxedStrategy<String> {
    let detail = either(object(vec![
        ("ttl", either(Just("\"1h\"".to_owned()).boxed())),
        ("inputTokens", count()),
    ]));
    either(object(vec![
        ("inputTokens", count()),
        ("outputTokens", count()),
        ("cacheReadInputTokens", count()),
        ("cacheWriteInputTokens", count()),
        ("cacheDetails", either(array(detail))),
        ("totalTokens", count()),
    ]))
}

fn tool() -> BoxedStrategy<String> {
    either(object(vec![
        ("toolUseId", text()),
        ("name", text()),
        ("input", leaf()),
    ]))
}

fn answer() -> BoxedStrategy<String> {
    let reasoning = either(object(vec![
        (
            "reasoningText",
            either(object(vec![("text", text()), ("signature", text())])),
        ),
        ("redactedContent", text()),
    ]));
    let block = either(object(vec![
        ("text", text()),
        ("toolUse", tool()),
        ("reasoningContent", reasoning),
    ]));
    let message = either(leading(
        "content",
        either(array(block)),
        object(vec![("role", text())]),
    ));
    let output = either(leading("message", message, object(vec![])));
    either(leading(
        "output",
        output,
        object(vec![("stopReason", text()), ("usage", usage())]),
    ))
}

fn payload() -> BoxedStrategy<String> {
    let delta = either(object(vec![
        ("text", text()),
        ("toolUse", either(object(vec![("input", text())]))),
        (
            "reasoningContent",
            either(object(vec![
                ("text", text()),
                ("signature", text()),
                ("redactedContent", text()),
            ])),
        ),
    ]));
    object(vec![
        ("message", text()),
        ("Message", text()),
        ("start", either(object(vec![("toolUse", tool())]))),
        ("contentBlockIndex", count()),
        ("delta", delta),
        ("stopReason", text()),
        ("usage", usage()),
    ])
}

const EVENTS: &[&str] = &[
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
];

/// Frames: mostly events, now and then an exception or an unknown message type.
fn frames() -> impl Strategy<Value = Vec<u8>> {
    let frame = (0..EVENTS.len(), 0..20u8, payload()).prop_map(|(event, kind, payload)| {
        let message_type = match kind {
            0 => "exception",
            1 => "mystery",
            _ => "event",
        };
        let string = |name: &str, value: &str| Header {
            name: name.into(),
            value: HeaderValue::String(value.into()),
        };
        let type_header = match message_type {
            "exception" => string(":exception-type", "throttlingException"),
            _ => string(":event-type", EVENTS[event]),
        };
        Frame {
            headers: vec![type_header, string(":message-type", message_type)],
            payload: payload.into_bytes(),
        }
        .encode()
    });
    vec(frame, 1..8).prop_map(|frames| frames.concat())
}

fn decode(
    mut decoder: impl StreamDecoder,
    bytes: &[u8],
) -> (Result<(), WireError>, Vec<StreamEvent>) {
    let mut out = Vec::new();
    let result = decoder
        .feed(bytes, &mut out)
        .and_then(|()| decoder.finish(&mut out));
    (result, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn responses_read_as_the_value_tree_read_them(answer in answer()) {
        prop_assert_eq!(
            parse_response(200, None, answer.as_bytes()),
            legacy_parse_response(200, None, answer.as_bytes()),
            "{}", answer
        );
    }

    #[test]
    fn frames_read_as_the_value_tree_read_them(bytes in frames()) {
        prop_assert_eq!(
            decode(BedrockStreamDecoder::new(), &bytes),
            decode(LegacyDecoder::default(), &bytes)
        );
    }
}

#[test]
fn malformed_documents_fail_as_before() {
    for document in [
        "",
        "{\"output\":",
        "{\"output\":{\"message\":{\"content\":[]}},\"x\":1e999}",
        "{\"output\":{\"message\":{\"content\":[]}}} trailing",
        "{\"output\":{\"message\":{\"content\":[]}},\"usage\":{\"inputTokens\":18446744073709551615,\"outputTokens\":2}}",
        "{\"output\":{\"message\":{\"content\":[]}},\"usage\":{\"cacheWriteInputTokens\":3,\"cacheDetails\":[{\"ttl\":\"1h\",\"inputTokens\":18446744073709551615},{\"ttl\":\"1h\",\"inputTokens\":1}]}}",
    ] {
        assert_eq!(
            parse_response(200, None, document.as_bytes()),
            legacy_parse_response(200, None, document.as_bytes()),
            "{document}"
        );
    }
    let body = b"{\"output\":{\"message\":{\"content\":[]}},\"x\":\"\xff\"}";
    assert_eq!(
        parse_response(200, None, body),
        legacy_parse_response(200, None, body)
    );
    assert!(parse_response(200, None, body).is_err());
}
