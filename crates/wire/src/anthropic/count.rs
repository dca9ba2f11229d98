//! Anthropic's token counting, `POST /v1/messages/count_tokens`: the Messages request without
//! what only generation needs, answered with `{"input_tokens": N}`.

use serde_json::Value;

use super::{Flavor, build_request, parse_error};
use crate::canonical::pb;
use crate::error::WireError;
use crate::http::HttpRequest;

/// The fields the counting endpoint takes; everything else of a Messages body is dropped.
const COUNTED: [&str; 6] = [
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
];

/// Builds the counting request for `model` (the provider's id), direct API only.
pub fn build_count_tokens_request(
    request: &pb::ChatRequest,
    model: &str,
) -> Result<HttpRequest, WireError> {
    let mut http = build_request(request, model, false, Flavor::Direct)?;
    let mut body: Value = serde_json::from_slice(&http.body).map_err(|error| {
        WireError::from_status(super::PROVIDER, 500, "api_error", error.to_string())
    })?;
    if let Some(object) = body.as_object_mut() {
        object.retain(|key, _| COUNTED.contains(&key.as_str()));
    }
    http.path = "/v1/messages/count_tokens".to_owned();
    http.body = body.to_string().into_bytes();
    Ok(http)
}

/// The count from the provider's answer, or its error.
pub fn parse_count_tokens(status: u16, body: &[u8]) -> Result<u32, WireError> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, body));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("input_tokens")?.as_u64())
        .and_then(|count| u32::try_from(count).ok())
        .ok_or_else(|| {
            WireError::from_status(
                super::PROVIDER,
                502,
                "malformed_response",
                "the token count answer has no input_tokens",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_requests_keep_only_what_is_counted() {
        let body = br#"{"model":"claude-sonnet-4-5","max_tokens":64,"temperature":0.5,"system":"be brief","messages":[{"role":"user","content":"hi"}]}"#;
        let request = crate::anthropic::parse_request(body).unwrap().request;
        let http = build_count_tokens_request(&request, "claude-sonnet-4-5-20250929").unwrap();
        assert_eq!(http.path, "/v1/messages/count_tokens");
        let sent: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(sent["model"], "claude-sonnet-4-5-20250929");
        assert!(sent.get("max_tokens").is_none() && sent.get("temperature").is_none());
        assert!(sent["system"].is_array() || sent["system"].is_string());
        assert_eq!(
            parse_count_tokens(200, br#"{"input_tokens":42}"#).unwrap(),
            42
        );
        assert!(parse_count_tokens(200, b"{}").is_err());
        let refused = parse_count_tokens(
            401,
            br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        )
        .unwrap_err();
        assert_eq!(refused.status, 401);
    }
}
