//! The caller's credential: the gateway token a request carries. The edge only finds it; the
//! router or the vault verifies it.

use http::{HeaderMap, header};

/// The gateway token from `Authorization: Bearer kr_...` or `x-api-key: kr_...` (what the
/// Anthropic SDK sends).
pub fn gateway_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(keyroute_proto::bearer_token)
    {
        return Some(token);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}
