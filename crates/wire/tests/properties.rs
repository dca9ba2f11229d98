//! Random bytes and random splits into every decoder: errors are fine, panics are not, and
//! splitting never changes what a stream decodes to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyroute_wire::anthropic::AnthropicStreamDecoder;
use keyroute_wire::bedrock::BedrockStreamDecoder;
use keyroute_wire::canonical::StreamDecoder;
use keyroute_wire::eventstream::FrameDecoder;
use keyroute_wire::gemini::GeminiStreamDecoder;
use keyroute_wire::openai::OpenAiStreamDecoder;
use keyroute_wire::sse::SseDecoder;
use proptest::prelude::*;

fn decoders() -> Vec<Box<dyn StreamDecoder>> {
    vec![
        Box::new(keyroute_wire::anthropic::BedrockInvokeStreamDecoder::new()),
        Box::new(AnthropicStreamDecoder::new()),
        Box::new(OpenAiStreamDecoder::new()),
        Box::new(GeminiStreamDecoder::new()),
        Box::new(BedrockStreamDecoder::new()),
    ]
}

/// JSON objects with the fields the parsers look at, holding values of the wrong types.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just("null".to_owned()),
        Just("1e999".to_owned()),
        Just("-1".to_owned()),
        Just("\"x\"".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[{\"role\":\"tool\"},{\"type\":\"image\",\"source\":{}}]".to_owned()),
        Just("[{\"content\":[{\"type\":\"tool_result\"}]}]".to_owned()),
    ];
    let key = prop_oneof![
        Just("model"),
        Just("messages"),
        Just("max_tokens"),
        Just("tools"),
        Just("tool_choice"),
        Just("stop"),
        Just("choices"),
        Just("content"),
        Just("candidates"),
        Just("output"),
        Just("usage"),
        Just("error"),
        Just("system"),
    ];
    proptest::collection::vec((key, value), 0..8).prop_map(|pairs| {
        let fields: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", fields.join(",")).into_bytes()
    })
}

/// Bytes that look like SSE often enough to reach the JSON handling.
fn sse_like() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just(b"data: {\"type\":\"message_start\",\"message\":{}}".to_vec()),
        Just(b"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}".to_vec()),
        Just(b"data: {\"choices\":[{\"index\":4294967296,\"delta\":{\"tool_calls\":[{\"index\":-1}]}}]}".to_vec()),
        Just(b"data: {\"candidates\":[{\"index\":1,\"content\":{\"parts\":[{\"functionCall\":{}}]},\"finishReason\":\"STOP\"}]}".to_vec()),
        Just(b"data: [DONE]".to_vec()),
        Just(b"event: error".to_vec()),
        Just(b"".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(line, 0..20).prop_map(|lines| lines.join(&b"\n"[..]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), split in 0usize..2048) {
        let split = split.min(bytes.len());
        for mut decoder in decoders() {
            let mut out = Vec::new();
            let _ = decoder.feed(&bytes[..split], &mut out).and_then(|()| decoder.feed(&bytes[split..], &mut out)).and_then(|()| decoder.finish(&mut out));
        }
        let mut frames = FrameDecoder::new();
        let _ = frames.feed(&bytes);
        let _ = frames.finish();
    }

    #[test]
    fn request_and_response_parsers_never_panic(body in prop_oneof![proptest::collection::vec(any::<u8>(), 0..512), json_like()], status in 100u16..600) {
        let _ = keyroute_wire::openai::parse_request(&body);
        let _ = keyroute_wire::anthropic::parse_request(&body);
        let _ = keyroute_wire::mistral::parse_fim_request(&body);
        let _ = keyroute_wire::openai::parse_response(status, &body);
        let _ = keyroute_wire::anthropic::parse_response(status, &body);
        let _ = keyroute_wire::gemini::parse_response(status, &body);
        let _ = keyroute_wire::bedrock::parse_response(status, Some("ThrottlingException:x"), &body);
    }

    #[test]
    fn sse_shaped_input_never_panics(bytes in sse_like(), split in 0usize..4096) {
        let split = split.min(bytes.len());
        for mut decoder in decoders() {
            let mut out = Vec::new();
            let _ = decoder.feed(&bytes[..split], &mut out).and_then(|()| decoder.feed(&bytes[split..], &mut out)).and_then(|()| decoder.finish(&mut out));
        }
    }

    #[test]
    fn sse_events_do_not_depend_on_splits(bytes in sse_like(), splits in proptest::collection::vec(any::<usize>(), 0..8)) {
        let mut whole = Vec::new();
        let mut decoder = SseDecoder::new();
        decoder.feed(&bytes, &mut whole);
        decoder.finish(&mut whole);
        let mut cuts: Vec<usize> = splits.into_iter().map(|s| s % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut decoder = SseDecoder::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain(std::iter::once(bytes.len())) {
            decoder.feed(&bytes[start..cut], &mut pieces);
            start = cut;
        }
        decoder.finish(&mut pieces);
        prop_assert_eq!(pieces, whole);
    }
}
