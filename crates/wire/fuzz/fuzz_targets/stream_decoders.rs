//! Every provider stream decoder on arbitrary bytes: the first byte picks the decoder and
//! the second the split point.
#![no_main]

use keyroute_wire::anthropic::AnthropicStreamDecoder;
use keyroute_wire::bedrock::BedrockStreamDecoder;
use keyroute_wire::canonical::StreamDecoder;
use keyroute_wire::gemini::GeminiStreamDecoder;
use keyroute_wire::openai::OpenAiStreamDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [which, split, rest @ ..] = data else { return };
    let mut decoder: Box<dyn StreamDecoder> = match which % 4 {
        0 => Box::new(AnthropicStreamDecoder::new()),
        1 => Box::new(OpenAiStreamDecoder::new()),
        2 => Box::new(GeminiStreamDecoder::new()),
        _ => Box::new(BedrockStreamDecoder::new()),
    };
    let split = (*split as usize).min(rest.len());
    let mut out = Vec::new();
    let _ = decoder.feed(&rest[..split], &mut out).and_then(|()| decoder.feed(&rest[split..], &mut out)).and_then(|()| decoder.finish(&mut out));
});
