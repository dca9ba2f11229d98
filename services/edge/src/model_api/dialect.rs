//! Router answers as HTTP: a gRPC status becomes the HTTP status a client of that dialect
//! expects, in that dialect's error shape, and who served a request (the router's response
//! metadata) becomes headers.

use std::time::{Duration, SystemTime};

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use keyroute_proto::contract;
use keyroute_ratelimit::{Quota, Quotas};

/// The API shape a route speaks: it decides how errors look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `{"error":{"message","type","param","code"}}`
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`
    Anthropic,
}

impl Dialect {
    /// An error response in this dialect. `param` names the field at fault and `code` is
    /// OpenAI's machine-readable code; Anthropic's shape has neither.
    pub fn error(
        self,
        status: StatusCode,
        message: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Response {
        let body = match self {
            Self::OpenAi => {
                keyroute_wire::openai::render_error(status.as_u16(), message, param, code)
            }
            // Anthropic's shape has no `param`: callers name the field in the message.
            Self::Anthropic => keyroute_wire::anthropic::render_error(status.as_u16(), message),
        };
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }

    /// A router status as this dialect's error, with `retry-after` passed through.
    pub fn status_error(self, status: &tonic::Status) -> Response {
        let code = match status.code() {
            tonic::Code::Unauthenticated => Some("invalid_api_key"),
            tonic::Code::NotFound => Some("model_not_found"),
            tonic::Code::ResourceExhausted => Some("rate_limit_exceeded"),
            _ => None,
        };
        let mut response = self.error(http_status(status), status.message(), None, code);
        retry_after(status, response.headers_mut());
        self.rate_limit_headers(status.metadata(), response.headers_mut());
        response
    }

    /// Who served the request, from the router's response metadata (for a stream, sent
    /// before its first event), as response headers; with the rate limits that applied, as
    /// this dialect's rate-limit headers.
    pub fn served_headers(self, metadata: &tonic::metadata::MetadataMap, headers: &mut HeaderMap) {
        for name in contract::header::SERVED_BY {
            if let Some(value) = metadata
                .get(name)
                .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
            {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        self.rate_limit_headers(metadata, headers);
    }

    /// The router's rate-limit figures as the headers this dialect's provider sends
    /// (`x-ratelimit-*` for OpenAI, `anthropic-ratelimit-*` for Anthropic), with
    /// `retry-after` and `retry-after-ms` on a refusal. Nothing when no limit applied.
    fn rate_limit_headers(self, metadata: &tonic::metadata::MetadataMap, headers: &mut HeaderMap) {
        let Some(quotas) = quotas(metadata) else {
            return;
        };
        let wait = read(metadata, contract::header::RETRY_AFTER_MS).map(Duration::from_millis);
        let rendered = match self {
            Self::OpenAi => keyroute_ratelimit::headers::openai(&quotas, wait),
            Self::Anthropic => {
                keyroute_ratelimit::headers::anthropic(&quotas, wait, SystemTime::now())
            }
        };
        for (name, value) in rendered {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

fn read(metadata: &tonic::metadata::MetadataMap, name: &str) -> Option<u64> {
    metadata.get(name)?.to_str().ok()?.parse().ok()
}

/// The router's rate-limit figures; `None` when it sent none (no limit applied).
fn quotas(metadata: &tonic::metadata::MetadataMap) -> Option<Quotas> {
    use contract::header as h;
    let quota = |[limit, remaining, reset]: [&str; 3]| {
        Some(Quota {
            limit: read(metadata, limit)?,
            remaining: read(metadata, remaining)?,
            reset: Duration::from_millis(read(metadata, reset)?),
        })
    };
    let quotas = Quotas {
        requests: quota([
            h::RATELIMIT_LIMIT_REQUESTS,
            h::RATELIMIT_REMAINING_REQUESTS,
            h::RATELIMIT_RESET_REQUESTS_MS,
        ]),
        tokens: quota([
            h::RATELIMIT_LIMIT_TOKENS,
            h::RATELIMIT_REMAINING_TOKENS,
            h::RATELIMIT_RESET_TOKENS_MS,
        ]),
    };
    (quotas.requests.is_some() || quotas.tokens.is_some()).then_some(quotas)
}

/// The HTTP status for a router status, from the one table both APIs share
/// ([`contract::http_mapping`]): upstream trouble is 502/504, keyroute's own (the vault, a
/// router) 503, as the router's [`contract::header::ERROR_ORIGIN`] metadata says.
pub fn http_status(status: &tonic::Status) -> StatusCode {
    StatusCode::from_u16(contract::http_mapping(status).status)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Copies `retry-after` from a router status, for 429 and 503 answers.
pub fn retry_after(status: &tonic::Status, headers: &mut HeaderMap) {
    if let Some(value) = status
        .metadata()
        .get(contract::header::RETRY_AFTER)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
    {
        headers.insert(http::header::RETRY_AFTER, value);
    }
}
