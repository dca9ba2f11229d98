//! SigV4 against the aws-c-auth signing suite (every header-signing case), and event-stream
//! framing against the aws-c-event-stream and aws-sdk-go vectors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use keyroute_wire::eventstream::{Frame, FrameDecoder, FrameError, Header, HeaderValue};
use keyroute_wire::sigv4::{Credentials, SigningParams, SigningRequest, SigningTime, sign};
use serde_json::Value;

fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path)
}

struct RawRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Parses the suite's `request.txt`: request line, headers (with folded continuation
/// lines), blank line, body.
fn parse_request(text: &str) -> RawRequest {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let target = rest.rsplit_once(" HTTP/").unwrap().0;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    RawRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn unix_seconds(rfc3339: &str) -> i64 {
    // "2015-08-30T12:36:00Z": every suite case uses this form.
    let (date, time) = rfc3339.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

#[test]
fn every_sigv4_header_signing_case_passes() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(testdata("aws-sigv4"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 38);
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let read = |file: &str| std::fs::read_to_string(case.join(file)).unwrap();
        let context: Value = serde_json::from_str(&read("context.json")).unwrap();
        let request = parse_request(&read("request.txt"));
        let credentials = Credentials {
            access_key_id: context["credentials"]["access_key_id"].as_str().unwrap(),
            secret_access_key: context["credentials"]["secret_access_key"]
                .as_str()
                .unwrap(),
            session_token: context["credentials"]["token"].as_str(),
        };
        let params = SigningParams {
            region: context["region"].as_str().unwrap(),
            service: context["service"].as_str().unwrap(),
            time: SigningTime::from_unix(unix_seconds(context["timestamp"].as_str().unwrap())),
            normalize_path: context["normalize"].as_bool().unwrap(),
            sign_body_hash: context["sign_body"].as_bool().unwrap(),
            sign_session_token: !context["omit_session_token"].as_bool().unwrap_or(false),
        };
        let signed = sign(
            &SigningRequest {
                method: &request.method,
                path: &request.path,
                query: &request.query,
                headers: &request.headers,
                body: &request.body,
            },
            &credentials,
            &params,
        );
        assert_eq!(
            signed.canonical_request,
            read("header-canonical-request.txt"),
            "{name}: canonical request"
        );
        assert_eq!(
            signed.string_to_sign,
            read("header-string-to-sign.txt"),
            "{name}: string to sign"
        );
        assert_eq!(
            signed.signature,
            read("header-signature.txt").trim(),
            "{name}: signature"
        );
        let authorization = read("header-signed-request.txt")
            .lines()
            .find_map(|line| line.strip_prefix("Authorization:").map(str::to_owned))
            .unwrap();
        let ours = signed
            .headers
            .iter()
            .find(|(name, _)| *name == "authorization")
            .unwrap();
        assert_eq!(ours.1, authorization, "{name}: authorization header");
    }
}

#[test]
fn event_stream_vectors_decode_and_reencode() {
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("aws-eventstream/vectors.json")).unwrap(),
    )
    .unwrap();
    for vector in vectors["vectors"].as_array().unwrap() {
        let bytes = hex::decode(vector["hex"].as_str().unwrap()).unwrap();
        assert_eq!(bytes.len() as u64, vector["total_length"].as_u64().unwrap());
        assert_eq!(
            u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as u64,
            vector["headers_length"].as_u64().unwrap()
        );
        assert_eq!(
            u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as u64,
            vector["prelude_crc"].as_u64().unwrap()
        );
        assert_eq!(
            u32::from_be_bytes(bytes[bytes.len() - 4..].try_into().unwrap()) as u64,
            vector["message_crc"].as_u64().unwrap()
        );
        let frames = FrameDecoder::new().feed(&bytes).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(
            frames[0].payload,
            vector["payload"].as_str().unwrap().as_bytes()
        );
        assert_eq!(frames[0].encode(), bytes, "{}", vector["name"]);
    }
}

#[test]
fn a_frame_with_every_header_type_matches_aws_sdk_go() {
    let decoded: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("aws-eventstream/all_headers.json")).unwrap(),
    )
    .unwrap();
    let headers = decoded["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let value = &h["value"];
            let b64 = || BASE64.decode(value.as_str().unwrap()).unwrap();
            let value = match h["type"].as_u64().unwrap() {
                0 | 1 => HeaderValue::Bool(value.as_bool().unwrap()),
                2 => HeaderValue::Byte(value.as_u64().unwrap() as u8 as i8),
                3 => HeaderValue::Int16(value.as_i64().unwrap() as i16),
                4 => HeaderValue::Int32(value.as_i64().unwrap() as i32),
                5 => HeaderValue::Int64(value.as_i64().unwrap()),
                6 => HeaderValue::Bytes(b64()),
                7 => HeaderValue::String(String::from_utf8(b64()).unwrap()),
                8 => HeaderValue::Timestamp(value.as_i64().unwrap()),
                9 => HeaderValue::Uuid(b64().try_into().unwrap()),
                other => panic!("type {other}"),
            };
            Header {
                name: h["name"].as_str().unwrap().to_owned(),
                value,
            }
        })
        .collect();
    let frame = Frame {
        headers,
        payload: BASE64.decode(decoded["payload"].as_str().unwrap()).unwrap(),
    };
    let bytes = frame.encode();
    assert_eq!(
        bytes.len() as u64,
        decoded["total_length"].as_u64().unwrap()
    );
    assert_eq!(
        u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as u64,
        decoded["headers_length"].as_u64().unwrap()
    );
    assert_eq!(
        u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as u64,
        decoded["prelude_crc"].as_u64().unwrap()
    );
    // The source vouches for the lengths and the prelude CRC only (see testdata/README.md):
    // its decoded form does not carry everything the original message CRC covered.
    // And it decodes back, whatever the split.
    for split in 0..=bytes.len() {
        let mut decoder = FrameDecoder::new();
        let mut frames = decoder.feed(&bytes[..split]).unwrap();
        frames.extend(decoder.feed(&bytes[split..]).unwrap());
        decoder.finish().unwrap();
        assert_eq!(frames, vec![frame.clone()], "split at {split}");
    }
}

#[test]
fn corrupted_frames_are_rejected() {
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("aws-eventstream/vectors.json")).unwrap(),
    )
    .unwrap();
    let good = hex::decode(vectors["vectors"][2]["hex"].as_str().unwrap()).unwrap();
    let mut bad_message_crc = good.clone();
    let last = bad_message_crc.len() - 1;
    bad_message_crc[last] ^= 1;
    assert!(matches!(
        FrameDecoder::new().feed(&bad_message_crc),
        Err(FrameError::MessageCrc { .. })
    ));
    let mut bad_payload = good.clone();
    bad_payload[40] ^= 0x20;
    assert!(matches!(
        FrameDecoder::new().feed(&bad_payload),
        Err(FrameError::MessageCrc { .. })
    ));
    let mut bad_prelude = good.clone();
    bad_prelude[3] ^= 1;
    assert!(matches!(
        FrameDecoder::new().feed(&bad_prelude),
        Err(FrameError::PreludeCrc { .. })
    ));
    let mut decoder = FrameDecoder::new();
    assert!(decoder.feed(&good[..good.len() - 3]).unwrap().is_empty());
    assert!(matches!(decoder.finish(), Err(FrameError::Truncated(_))));
}
