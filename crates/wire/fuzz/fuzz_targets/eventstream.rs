//! The AWS event-stream frame decoder on arbitrary bytes; a decoded frame must re-encode to
//! the bytes it came from.
#![no_main]

use keyroute_wire::eventstream::FrameDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = FrameDecoder::new();
    if let Ok(frames) = decoder.feed(data) {
        let mut encoded = Vec::new();
        for frame in &frames {
            encoded.extend(frame.encode());
        }
        assert!(data.starts_with(&encoded), "re-encoding changed a frame");
    }
    let _ = decoder.finish();
});
