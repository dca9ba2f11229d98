//! The client-request parsers (OpenAI, Anthropic, Codestral FIM) on arbitrary bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keyroute_wire::openai::parse_request(data);
    let _ = keyroute_wire::anthropic::parse_request(data);
    let _ = keyroute_wire::mistral::parse_fim_request(data);
});
