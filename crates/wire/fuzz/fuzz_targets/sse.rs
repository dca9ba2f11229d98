//! The SSE parser on arbitrary bytes, split at a byte the input chooses.
#![no_main]

use keyroute_wire::sse::SseDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize).min(data.len());
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    decoder.feed(&data[..split], &mut out);
    decoder.feed(&data[split..], &mut out);
    decoder.finish(&mut out);
});
