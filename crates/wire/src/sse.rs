//! One server-sent-events parser for every SSE format (OpenAI, Anthropic, Gemini `alt=sse`,
//! Mistral and the OpenAI-compatible hosts), following the WHATWG event-stream rules: lines
//! end with CRLF, LF or CR; `:` starts a comment; one space after the colon is dropped;
//! several `data:` lines join with `\n`; a blank line dispatches the event.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; empty means the default type, `message`.
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

/// The longest line kept, in bytes: a provider's single event (an image in one chunk) fits;
/// an endless line from a hostile upstream stops here instead of filling memory.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;
/// The most data one event may gather over its `data:` lines, in bytes.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// An incremental parser: feed it bytes as they arrive, collect events as they complete.
/// Lines and events are bounded ([`MAX_LINE_BYTES`], [`MAX_EVENT_BYTES`]): past a bound the
/// parser keeps nothing more and reports [`SseDecoder::oversized`].
///
/// The event being gathered lives in the parser and is lent to a callback when it completes
/// ([`SseDecoder::feed_with`]), so its buffers serve every event of the stream instead of
/// being allocated anew for each chunk.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    /// A line or event went past its bound: the stream is unusable.
    oversized: bool,
    /// The previous chunk ended with CR, so a leading LF belongs to that line ending.
    after_cr: bool,
    /// The event so far; its `id` is the last one seen, which carries over (WHATWG).
    current: SseEvent,
    has_data: bool,
}

/// Buffers kept between events up to this capacity; a larger one (a rare huge event) is
/// given back rather than held for the rest of the stream.
const KEPT_CAPACITY: usize = 64 * 1024;

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a line or an event went past its bound; nothing is parsed after that.
    pub fn oversized(&self) -> bool {
        self.oversized
    }

    /// Keeps `bytes` of the current line unless that takes it past its bound.
    fn extend_line(&mut self, bytes: &[u8]) {
        if self.line.len() + bytes.len() > MAX_LINE_BYTES {
            self.oversized = true;
            self.line = Vec::new();
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    /// Parses `bytes` and appends every event they complete to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        self.feed_with(bytes, &mut |event| out.push(event.clone()));
    }

    /// Parses `bytes` and lends every event they complete to `sink`, in order.
    pub fn feed_with(&mut self, bytes: &[u8], sink: &mut impl FnMut(&SseEvent)) {
        if self.oversized {
            return;
        }
        let mut rest = bytes;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line = &rest[..end];
            // A line begun in an earlier chunk is gathered in the buffer; one that is whole
            // in this chunk (most) is read where it is, without a copy.
            let buffered = !self.line.is_empty();
            if buffered {
                self.extend_line(line);
            } else if line.len() > MAX_LINE_BYTES {
                self.oversized = true;
                self.line = Vec::new();
            }
            if self.oversized {
                return;
            }
            let crlf = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if crlf {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            if buffered {
                let gathered = std::mem::take(&mut self.line);
                self.process_line(&gathered, sink);
                self.line = gathered;
                self.line.clear();
            } else {
                self.process_line(line, sink);
            }
            if self.oversized {
                return;
            }
        }
        self.extend_line(rest);
    }

    /// The body ended: a last line without its line ending, and a last event without its
    /// blank line, are still delivered, so that a truncated stream surfaces as a parse error
    /// downstream rather than vanishing.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        self.finish_with(&mut |event| out.push(event.clone()));
    }

    /// [`SseDecoder::finish`], lending the last event to `sink`.
    pub fn finish_with(&mut self, sink: &mut impl FnMut(&SseEvent)) {
        if self.oversized {
            return;
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, sink);
        }
        self.dispatch(sink);
    }

    fn process_line(&mut self, line: &[u8], sink: &mut impl FnMut(&SseEvent)) {
        if line.is_empty() {
            self.dispatch(sink);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        // Checked the fast way first: nearly every line is valid UTF-8.
        let value = match std::str::from_utf8(value) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value),
        };
        let current = &mut self.current;
        match field {
            b"event" => {
                current.event.clear();
                current.event.push_str(&value);
            }
            b"data" => {
                if current.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    self.oversized = true;
                    current.data = String::new();
                    return;
                }
                if self.has_data {
                    current.data.push('\n');
                }
                current.data.push_str(&value);
                self.has_data = true;
            }
            b"id" if !value.contains('\0') => current.id = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, sink: &mut impl FnMut(&SseEvent)) {
        // WHATWG: an event without data is not dispatched; either way its type resets.
        if self.has_data {
            self.has_data = false;
            sink(&self.current);
        }
        let current = &mut self.current;
        current.event.clear();
        current.data.clear();
        if current.data.capacity() > KEPT_CAPACITY {
            current.data = String::new();
        }
    }
}

/// What a provider's SSE stream decoder adds to the shared SSE layer: reading one event.
pub trait SseEvents {
    /// The provider named in errors.
    const PROVIDER: &'static str;
    fn on_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<crate::canonical::StreamEvent>,
    ) -> Result<(), crate::error::WireError>;
    /// Whether the stream is over (end marker or error seen): later events are ignored.
    fn closed(&self) -> bool;
    /// The body ended: check the stream was complete and flush what is pending.
    fn on_end(
        &mut self,
        out: &mut Vec<crate::canonical::StreamEvent>,
    ) -> Result<(), crate::error::WireError>;
}

/// A provider stream decoder: the shared SSE parser feeding a provider's event handler.
#[derive(Debug, Default)]
pub struct SseStream<H> {
    sse: SseDecoder,
    handler: H,
}

impl<H: Default> SseStream<H> {
    pub fn new() -> Self {
        Self {
            sse: SseDecoder::new(),
            handler: H::default(),
        }
    }
}

impl<H: SseEvents> SseStream<H> {
    /// An error once a line or event went past its bound.
    fn bounded(&self) -> Result<(), crate::error::WireError> {
        if self.sse.oversized() {
            return Err(crate::error::WireError::malformed(
                H::PROVIDER,
                format!(
                    "a stream line or event exceeded {} MiB",
                    MAX_LINE_BYTES / (1024 * 1024)
                ),
            ));
        }
        Ok(())
    }
}

/// Hands each event to the handler until it fails or closes; later events are dropped.
fn handle<'a, H: SseEvents>(
    handler: &'a mut H,
    out: &'a mut Vec<crate::canonical::StreamEvent>,
    result: &'a mut Result<(), crate::error::WireError>,
) -> impl FnMut(&SseEvent) + 'a {
    move |event| {
        if result.is_ok() && !handler.closed() {
            *result = handler.on_event(event, out);
        }
    }
}

impl<H: SseEvents> crate::canonical::StreamDecoder for SseStream<H> {
    fn feed(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<crate::canonical::StreamEvent>,
    ) -> Result<(), crate::error::WireError> {
        let mut result = Ok(());
        self.sse
            .feed_with(bytes, &mut handle(&mut self.handler, out, &mut result));
        result?;
        self.bounded()
    }

    fn finish(
        &mut self,
        out: &mut Vec<crate::canonical::StreamEvent>,
    ) -> Result<(), crate::error::WireError> {
        let mut result = Ok(());
        self.sse
            .finish_with(&mut handle(&mut self.handler, out, &mut result));
        result?;
        self.bounded()?;
        self.handler.on_end(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_line_or_event_stops_at_its_bound_and_keeps_nothing() {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        let chunk = vec![b'x'; 1024 * 1024];
        decoder.feed(b"data: ", &mut out);
        for _ in 0..=MAX_LINE_BYTES / chunk.len() {
            decoder.feed(&chunk, &mut out);
        }
        assert!(decoder.oversized());
        assert!(decoder.line.capacity() < chunk.len(), "nothing kept");
        decoder.feed(b"\n\ndata: late\n\n", &mut out);
        decoder.finish(&mut out);
        assert!(out.is_empty());

        // Many short data lines that add up past the event bound.
        let mut decoder = SseDecoder::new();
        let line = format!("data: {}\n", "y".repeat(1024 * 1024 - 7));
        for _ in 0..=MAX_EVENT_BYTES / line.len() {
            decoder.feed(line.as_bytes(), &mut out);
        }
        assert!(decoder.oversized());
        assert!(out.is_empty());
    }

    fn parse(input: &[u8]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        decoder.feed(input, &mut out);
        decoder.finish(&mut out);
        out
    }

    fn event(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: None,
        }
    }

    #[test]
    fn line_endings_comments_and_multiline_data() {
        let expected = vec![event("", "a"), event("ping", "b\nc")];
        for input in [
            &b"data: a\n\nevent: ping\ndata: b\ndata:c\n\n"[..],
            b"data: a\r\n\r\nevent: ping\r\ndata: b\r\ndata:c\r\n\r\n",
            b"data: a\r\revent: ping\rdata: b\rdata:c\r\r",
            b": keep-alive\ndata: a\n\n: OPENROUTER PROCESSING\nevent: ping\ndata: b\ndata:c\n\n",
        ] {
            assert_eq!(
                parse(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn fields_follow_the_spec() {
        // Only one leading space is dropped; no colon means an empty value; unknown fields
        // are ignored; an event with no data is not dispatched.
        assert_eq!(parse(b"data:  two\n\n")[0].data, " two");
        assert_eq!(parse(b"data\n\n")[0].data, "");
        assert_eq!(parse(b"event: x\n\ndata: y\n\n"), vec![event("", "y")]);
        assert_eq!(
            parse(b"retry: 10\nfoo: bar\nid: 7\ndata: z\n\n")[0]
                .id
                .as_deref(),
            Some("7")
        );
    }

    #[test]
    fn every_split_gives_the_same_events_even_inside_utf8() {
        let input = "data: héllo 世界\r\n\r\nevent: e\ndata: {\"x\":1}\r\rdata: last".as_bytes();
        let whole = parse(input);
        assert_eq!(whole.len(), 3);
        for split in 0..=input.len() {
            let mut decoder = SseDecoder::new();
            let mut out = Vec::new();
            decoder.feed(&input[..split], &mut out);
            decoder.feed(&input[split..], &mut out);
            decoder.finish(&mut out);
            assert_eq!(out, whole, "split at {split}");
        }
        // Byte by byte.
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        for byte in input {
            decoder.feed(std::slice::from_ref(byte), &mut out);
        }
        decoder.finish(&mut out);
        assert_eq!(out, whole);
    }
}
