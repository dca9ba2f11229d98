//! Vertex AI: the OAuth token endpoint that checks a service account's RS256 assertion, and
//! model calls authorized by the access tokens it issued, routed by publisher.

use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value, json};

use crate::{Call, anthropic, gemini, respond};

fn grant_error(description: &str) -> Response {
    respond::json(
        400,
        json!({ "error": "invalid_grant", "error_description": description })
            .to_string()
            .into_bytes(),
    )
}

fn decode_form_value(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Verifies the assertion and issues an access token.
fn token(call: &Call) -> Response {
    let form = String::from_utf8_lossy(&call.body).into_owned();
    let field = |name: &str| {
        form.split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(decode_form_value)
    };
    if field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return respond::json(400, json!({ "error": "unsupported_grant_type", "error_description": "Invalid grant_type." }).to_string().into_bytes());
    }
    let Some(assertion) = field("assertion") else {
        return grant_error("Missing assertion.");
    };
    let segments: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = segments.as_slice() else {
        return grant_error("Invalid JWT.");
    };
    let decode = |segment: &str| URL_SAFE_NO_PAD.decode(segment).ok();
    let (Some(header_json), Some(claims_json), Some(signature)) =
        (decode(header), decode(claims), decode(signature))
    else {
        return grant_error("Invalid JWT encoding.");
    };
    let header_json: Value = serde_json::from_slice(&header_json).unwrap_or(Value::Null);
    let claims_json: Value = serde_json::from_slice(&claims_json).unwrap_or(Value::Null);
    if header_json["alg"] != "RS256" {
        return grant_error("Invalid JWT algorithm.");
    }
    let issuer = claims_json["iss"].as_str().unwrap_or_default();
    let Some(public_key) = call.mock.service_account(issuer) else {
        return grant_error("Invalid JWT: unknown service account.");
    };
    let signed = format!("{header}.{claims}");
    if UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(signed.as_bytes(), &signature)
        .is_err()
    {
        return grant_error("Invalid JWT Signature.");
    }
    let scope_ok = claims_json["scope"].as_str().is_some_and(|s| {
        s.split(' ')
            .any(|s| s == "https://www.googleapis.com/auth/cloud-platform")
    });
    let times_ok = matches!((claims_json["iat"].as_i64(), claims_json["exp"].as_i64()), (Some(iat), Some(exp)) if exp > iat && exp - iat <= 3600);
    if !scope_ok
        || !times_ok
        || !claims_json["aud"]
            .as_str()
            .is_some_and(|aud| aud.ends_with("/token"))
    {
        return grant_error("Invalid JWT claims.");
    }
    let token = call.mock.issue_vertex_token();
    respond::json(
        200,
        json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" })
            .to_string()
            .into_bytes(),
    )
}

pub async fn route(call: Call) -> Response {
    if call.path == "/token" {
        return token(&call);
    }
    if !call
        .bearer()
        .is_some_and(|token| call.mock.has_vertex_token(token))
    {
        return gemini::error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            json!([]),
        );
    }
    if call.path.contains("/publishers/google/models/") {
        return gemini::generate(call, true).await;
    }
    if call.path.contains("/publishers/anthropic/models/") {
        let last = call.path.rsplit('/').next().unwrap_or_default();
        let (model, method) = last.split_once(':').unwrap_or((last, ""));
        if !matches!(method, "rawPredict" | "streamRawPredict") {
            return gemini::error(404, "method not found", json!([]));
        }
        let model = model.to_owned();
        return anthropic::messages(call, Some(model)).await;
    }
    gemini::error(404, "publisher not found", json!([]))
}
