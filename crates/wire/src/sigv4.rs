//! AWS Signature Version 4, header signing, for Bedrock (service name `bedrock`, though the
//! host is `bedrock-runtime`). Checked against the aws-c-auth signing test suite.
//!
//! The path given is the one sent on the wire, already percent-encoded; its segments are
//! encoded again for the canonical request, as every AWS service but S3 expects (so a model
//! id's `%3A` becomes `%253A`).

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Long-term or temporary AWS credentials. `Debug` prints only the access key id.
#[derive(Clone)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The signing time, as `YYYYMMDD` and `YYYYMMDDTHHMMSSZ` (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningTime {
    pub date: String,
    pub date_time: String,
}

impl SigningTime {
    pub fn from_unix(seconds: i64) -> Self {
        let t = keyroute_proto::utc::UtcTime::from_unix(seconds);
        let date = format!("{:04}{:02}{:02}", t.year, t.month, t.day);
        let date_time = format!("{date}T{:02}{:02}{:02}Z", t.hour, t.minute, t.second);
        Self { date, date_time }
    }
}

/// What is signed.
#[derive(Debug, Clone)]
pub struct SigningRequest<'a> {
    pub method: &'a str,
    /// The path as sent, percent-encoded where needed.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Every header to sign, `host` included.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// How to sign.
#[derive(Debug, Clone)]
pub struct SigningParams<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub time: SigningTime,
    /// Remove dot segments and empty segments from the path (every service but S3).
    pub normalize_path: bool,
    /// Add and sign `x-amz-content-sha256` (S3 needs it; Bedrock does not).
    pub sign_body_hash: bool,
    /// Sign `x-amz-security-token`; when false it is added after signing.
    pub sign_session_token: bool,
}

/// The result: headers to add to the request, and the intermediate values for tests.
#[derive(Debug, Clone)]
pub struct Signature {
    pub headers: Vec<(&'static str, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

const UNRESERVED: &[u8] = b"-_.~";

/// Percent-encodes everything but `A-Z a-z 0-9 - _ . ~`.
pub fn uri_encode(input: &[u8], out: &mut String) {
    for &byte in input {
        if byte.is_ascii_alphanumeric() || UNRESERVED.contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// Decodes `%XX` escapes (a path segment as sent) back to text.
pub fn uri_decode(input: &str) -> String {
    String::from_utf8_lossy(&percent_decode(input)).into_owned()
}

fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]))
        {
            out.push(high << 4 | low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|v| v as u8)
}

fn canonical_path(path: &str, normalize: bool) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let segments: Vec<&str> = if normalize {
        let mut stack: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    stack.pop();
                }
                other => stack.push(other),
            }
        }
        stack
    } else {
        path.split('/').skip(1).collect()
    };
    let mut out = String::with_capacity(path.len() + 8);
    for segment in &segments {
        out.push('/');
        uri_encode(segment.as_bytes(), &mut out);
    }
    let trailing = path.len() > 1 && path.ends_with('/') && !segments.is_empty();
    if normalize && trailing || out.is_empty() {
        out.push('/');
    }
    out
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let mut k = String::new();
            let mut v = String::new();
            uri_encode(&percent_decode(key), &mut k);
            uri_encode(&percent_decode(value), &mut v);
            (k, v)
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> HmacSha256 {
    panic!("hmac accepts keys of any length")
}

/// The derived signing key for a date, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Signs a request with SigV4 in the `Authorization` header.
pub fn sign(
    request: &SigningRequest<'_>,
    credentials: &Credentials<'_>,
    params: &SigningParams<'_>,
) -> Signature {
    let payload_hash = hex::encode(Sha256::digest(request.body));
    let mut headers: Vec<(String, String)> = Vec::with_capacity(request.headers.len() + 3);
    for (name, value) in request.headers {
        let name = name.to_ascii_lowercase();
        let value = canonical_value(value);
        match headers.iter_mut().find(|(existing, _)| *existing == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => headers.push((name, value)),
        }
    }
    let mut added: Vec<(&'static str, String)> =
        vec![("x-amz-date", params.time.date_time.clone())];
    if params.sign_body_hash {
        added.push(("x-amz-content-sha256", payload_hash.clone()));
    }
    if let Some(token) = credentials.session_token
        && params.sign_session_token
    {
        added.push(("x-amz-security-token", token.to_owned()));
    }
    headers.extend(
        added
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone())),
    );
    headers.sort();

    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut canonical_request = String::with_capacity(256);
    let _ = write!(
        canonical_request,
        "{}\n{}\n{}\n",
        request.method,
        canonical_path(request.path, params.normalize_path),
        canonical_query(request.query)
    );
    for (name, value) in &headers {
        let _ = writeln!(canonical_request, "{name}:{value}");
    }
    let _ = write!(canonical_request, "\n{signed_headers}\n{payload_hash}");

    let scope = format!(
        "{}/{}/{}/aws4_request",
        params.time.date, params.region, params.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        params.time.date_time,
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(
        credentials.secret_access_key,
        &params.time.date,
        params.region,
        params.service,
    );
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    if let Some(token) = credentials.session_token
        && !params.sign_session_token
    {
        added.push(("x-amz-security-token", token.to_owned()));
    }
    added.push(("authorization", authorization));
    Signature {
        headers: added,
        canonical_request,
        string_to_sign,
        signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_time_and_key_derivation_match_aws_examples() {
        let time = SigningTime::from_unix(1_440_938_160);
        assert_eq!(
            time,
            SigningTime {
                date: "20150830".into(),
                date_time: "20150830T123600Z".into()
            }
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn bedrock_model_ids_are_encoded_twice() {
        assert_eq!(
            canonical_path(
                "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
                true
            ),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse"
        );
    }
}
