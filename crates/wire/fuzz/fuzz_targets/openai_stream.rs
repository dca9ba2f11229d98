//! `OpenAiStreamDecoder` on arbitrary bytes, split at a point the input chooses: errors are
//! fine, panics are not.
#![no_main]

use keyroute_wire::canonical::StreamDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((split, rest)) = data.split_first() else { return };
    let split = (*split as usize).min(rest.len());
    let mut decoder = keyroute_wire::openai::OpenAiStreamDecoder::new();
    let mut out = Vec::new();
    let _ = decoder.feed(&rest[..split], &mut out).and_then(|()| decoder.feed(&rest[split..], &mut out)).and_then(|()| decoder.finish(&mut out));
});
