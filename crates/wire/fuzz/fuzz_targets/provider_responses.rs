//! The provider-response and error parsers on arbitrary bodies and statuses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first() else { return };
    let status = 200 + u16::from(*status) % 400;
    let _ = keyroute_wire::openai::parse_response(status, body);
    let _ = keyroute_wire::anthropic::parse_response(status, body);
    let _ = keyroute_wire::gemini::parse_response(status, body);
    let _ = keyroute_wire::bedrock::parse_response(status, None, body);
});
