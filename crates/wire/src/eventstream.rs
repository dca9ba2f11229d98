//! The AWS event-stream binary framing (Bedrock `ConverseStream` and
//! `InvokeModelWithResponseStream` bodies):
//!
//! ```text
//! total_len u32 | headers_len u32 | prelude_crc u32 | headers | payload | message_crc u32
//! ```
//!
//! Both CRCs are CRC-32 (IEEE, as zlib's): the prelude CRC covers the first 8 bytes, the
//! message CRC everything before it. Frames are decoded incrementally and checked whole
//! before anything in them is used.

use thiserror::Error;

/// The smallest frame: prelude, prelude CRC and message CRC.
const MIN_FRAME: usize = 16;
/// botocore's limits: 128 KiB of headers, 24 MiB of payload.
const MAX_HEADERS: usize = 128 * 1024;
const MAX_PAYLOAD: usize = 24 * 1024 * 1024;

/// A header value, one variant per wire type (0 to 9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: HeaderValue,
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    pub headers: Vec<Header>,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A string header's value, such as `:event-type`.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .and_then(|h| match &h.value {
                HeaderValue::String(value) => Some(value.as_str()),
                _ => None,
            })
    }

    /// Encodes the frame with both CRCs.
    pub fn encode(&self) -> Vec<u8> {
        let mut headers = Vec::new();
        for header in &self.headers {
            headers.push(header.name.len() as u8);
            headers.extend_from_slice(header.name.as_bytes());
            match &header.value {
                HeaderValue::Bool(true) => headers.push(0),
                HeaderValue::Bool(false) => headers.push(1),
                HeaderValue::Byte(v) => {
                    headers.push(2);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Int16(v) => {
                    headers.push(3);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Int32(v) => {
                    headers.push(4);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Int64(v) => {
                    headers.push(5);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Bytes(v) => {
                    headers.push(6);
                    headers.extend_from_slice(&(v.len() as u16).to_be_bytes());
                    headers.extend_from_slice(v);
                }
                HeaderValue::String(v) => {
                    headers.push(7);
                    headers.extend_from_slice(&(v.len() as u16).to_be_bytes());
                    headers.extend_from_slice(v.as_bytes());
                }
                HeaderValue::Timestamp(v) => {
                    headers.push(8);
                    headers.extend_from_slice(&v.to_be_bytes());
                }
                HeaderValue::Uuid(v) => {
                    headers.push(9);
                    headers.extend_from_slice(v);
                }
            }
        }
        let total = MIN_FRAME + headers.len() + self.payload.len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_be_bytes());
        out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        let prelude_crc = crc32fast::hash(&out);
        out.extend_from_slice(&prelude_crc.to_be_bytes());
        out.extend_from_slice(&headers);
        out.extend_from_slice(&self.payload);
        let message_crc = crc32fast::hash(&out);
        out.extend_from_slice(&message_crc.to_be_bytes());
        out
    }
}

/// Why bytes are not a valid event-stream.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("event-stream prelude crc mismatch (expected {expected:08x}, got {actual:08x})")]
    PreludeCrc { expected: u32, actual: u32 },
    #[error("event-stream message crc mismatch (expected {expected:08x}, got {actual:08x})")]
    MessageCrc { expected: u32, actual: u32 },
    #[error("event-stream frame lengths are invalid: {0}")]
    Length(String),
    #[error("event-stream header is malformed: {0}")]
    Header(String),
    #[error("event-stream ended inside a frame ({0} bytes left over)")]
    Truncated(usize),
}

/// An incremental frame decoder.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    /// Set after a framing error: the stream cannot be resynchronized.
    failed: bool,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes and returns every frame they complete. After an error the decoder stays
    /// failed: a length field cannot be trusted, so nothing later can be framed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        if self.failed {
            return Err(FrameError::Length("stream already failed".into()));
        }
        self.buffer.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut consumed = 0;
        loop {
            match decode_one(&self.buffer[consumed..]) {
                Ok(Some((frame, used))) => {
                    frames.push(frame);
                    consumed += used;
                }
                Ok(None) => break,
                Err(error) => {
                    self.failed = true;
                    return Err(error);
                }
            }
        }
        self.buffer.drain(..consumed);
        Ok(frames)
    }

    /// The body ended: leftover bytes mean a truncated frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buffer.is_empty() || self.failed {
            Ok(())
        } else {
            Err(FrameError::Truncated(self.buffer.len()))
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Decodes the first frame of `bytes`, or `None` if it is not complete yet.
fn decode_one(bytes: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    if bytes.len() < 12 {
        return Ok(None);
    }
    let total = u32_at(bytes, 0) as usize;
    let headers_len = u32_at(bytes, 4) as usize;
    let expected = u32_at(bytes, 8);
    let actual = crc32fast::hash(&bytes[..8]);
    if expected != actual {
        return Err(FrameError::PreludeCrc { expected, actual });
    }
    if total < MIN_FRAME || headers_len > total - MIN_FRAME {
        return Err(FrameError::Length(format!(
            "total {total}, headers {headers_len}"
        )));
    }
    if headers_len > MAX_HEADERS || total - MIN_FRAME - headers_len > MAX_PAYLOAD {
        return Err(FrameError::Length(format!(
            "frame of {total} bytes is over the limits"
        )));
    }
    if bytes.len() < total {
        return Ok(None);
    }
    let expected = u32_at(bytes, total - 4);
    let actual = crc32fast::hash(&bytes[..total - 4]);
    if expected != actual {
        return Err(FrameError::MessageCrc { expected, actual });
    }
    let headers = decode_headers(&bytes[12..12 + headers_len])?;
    let payload = bytes[12 + headers_len..total - 4].to_vec();
    Ok(Some((Frame { headers, payload }, total)))
}

fn decode_headers(mut bytes: &[u8]) -> Result<Vec<Header>, FrameError> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], FrameError> {
        if bytes.len() < n {
            return Err(FrameError::Header("header runs past its section".into()));
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Ok(head)
    }
    let mut headers = Vec::new();
    while !bytes.is_empty() {
        let name_len = take(&mut bytes, 1)?[0] as usize;
        let name = std::str::from_utf8(take(&mut bytes, name_len)?)
            .map_err(|_| FrameError::Header("header name is not utf-8".into()))?
            .to_owned();
        let kind = take(&mut bytes, 1)?[0];
        let array = |bytes: &mut &[u8], n: usize| take(bytes, n).map(<[u8]>::to_vec);
        let value = match kind {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(take(&mut bytes, 1)?[0] as i8),
            3 => HeaderValue::Int16(i16::from_be_bytes(
                array(&mut bytes, 2)?
                    .try_into()
                    .map_err(|_| FrameError::Header("int16".into()))?,
            )),
            4 => HeaderValue::Int32(i32::from_be_bytes(
                array(&mut bytes, 4)?
                    .try_into()
                    .map_err(|_| FrameError::Header("int32".into()))?,
            )),
            5 | 8 => {
                let v = i64::from_be_bytes(
                    array(&mut bytes, 8)?
                        .try_into()
                        .map_err(|_| FrameError::Header("int64".into()))?,
                );
                if kind == 5 {
                    HeaderValue::Int64(v)
                } else {
                    HeaderValue::Timestamp(v)
                }
            }
            6 | 7 => {
                let len =
                    u16::from_be_bytes([take(&mut bytes, 1)?[0], take(&mut bytes, 1)?[0]]) as usize;
                let raw = array(&mut bytes, len)?;
                if kind == 6 {
                    HeaderValue::Bytes(raw)
                } else {
                    HeaderValue::String(
                        String::from_utf8(raw)
                            .map_err(|_| FrameError::Header(format!("{name} is not utf-8")))?,
                    )
                }
            }
            9 => HeaderValue::Uuid(
                array(&mut bytes, 16)?
                    .try_into()
                    .map_err(|_| FrameError::Header("uuid".into()))?,
            ),
            other => {
                return Err(FrameError::Header(format!(
                    "unknown header type {other} for {name}"
                )));
            }
        };
        headers.push(Header { name, value });
    }
    Ok(headers)
}
