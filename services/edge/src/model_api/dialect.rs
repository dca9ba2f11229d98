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
    /// this dialect's rate-limit headers. One pass over the metadata: a name is parsed and
    /// hashed once, by the HPACK decoder, not again per header looked up.
    pub fn served_headers(self, metadata: &tonic::metadata::MetadataMap, headers: &mut HeaderMap) {
        let mut figures = Figures::default();
        for (name, value) in first_values(metadata) {
            if contract::header::SERVED_BY.contains(&name.as_str()) {
                headers.insert(name.clone(), value.clone());
            } else {
                figures.note(name, value);
            }
        }
        self.render_rate_limits(&figures, headers);
    }

    /// The router's rate-limit figures as the headers this dialect's provider sends
    /// (`x-ratelimit-*` for OpenAI, `anthropic-ratelimit-*` for Anthropic), with
    /// `retry-after` and `retry-after-ms` on a refusal. Nothing when no limit applied.
    fn rate_limit_headers(self, metadata: &tonic::metadata::MetadataMap, headers: &mut HeaderMap) {
        let mut figures = Figures::default();
        for (name, value) in first_values(metadata) {
            figures.note(name, value);
        }
        self.render_rate_limits(&figures, headers);
    }

    /// [`Self::rate_limit_headers`] from figures already read.
    fn render_rate_limits(self, figures: &Figures, headers: &mut HeaderMap) {
        let Some(quotas) = figures.quotas() else {
            return;
        };
        let wait = figures.retry_after_ms.map(Duration::from_millis);
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

/// Each name's first value, as `MetadataMap::get` reads it: a name's values come in a row.
fn first_values(
    metadata: &tonic::metadata::MetadataMap,
) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    let mut previous: Option<&HeaderName> = None;
    metadata.as_ref().iter().filter(move |(name, _)| {
        let first = previous != Some(*name);
        previous = Some(*name);
        first
    })
}

/// The router's rate-limit figures; a malformed one counts as absent.
#[derive(Debug, Default)]
struct Figures {
    requests: [Option<u64>; 3],
    tokens: [Option<u64>; 3],
    retry_after_ms: Option<u64>,
}

impl Figures {
    /// Keeps `value` when `name` is one of the figures; ignores any other name.
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) {
        use contract::header as h;
        let slot = match name.as_str() {
            h::RATELIMIT_LIMIT_REQUESTS => &mut self.requests[0],
            h::RATELIMIT_REMAINING_REQUESTS => &mut self.requests[1],
            h::RATELIMIT_RESET_REQUESTS_MS => &mut self.requests[2],
            h::RATELIMIT_LIMIT_TOKENS => &mut self.tokens[0],
            h::RATELIMIT_REMAINING_TOKENS => &mut self.tokens[1],
            h::RATELIMIT_RESET_TOKENS_MS => &mut self.tokens[2],
            h::RETRY_AFTER_MS => &mut self.retry_after_ms,
            _ => return,
        };
        *slot = value.to_str().ok().and_then(|v| v.parse().ok());
    }

    /// The limits that applied; `None` when the router sent none (no limit applied).
    fn quotas(&self) -> Option<Quotas> {
        let quota = |[limit, remaining, reset]: [Option<u64>; 3]| {
            Some(Quota {
                limit: limit?,
                remaining: remaining?,
                reset: Duration::from_millis(reset?),
            })
        };
        let quotas = Quotas {
            requests: quota(self.requests),
            tokens: quota(self.tokens),
        };
        (quotas.requests.is_some() || quotas.tokens.is_some()).then_some(quotas)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::{MetadataMap, MetadataValue};

    fn metadata(pairs: &[(&'static str, &'static str)]) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        for (name, value) in pairs {
            metadata.append(*name, MetadataValue::from_static(value));
        }
        metadata
    }

    #[test]
    fn served_by_names_pass_on_with_their_first_value_and_nothing_else() {
        use contract::header as h;
        let answered = metadata(&[
            (h::PROVIDER, "openai"),
            (h::PROVIDER, "anthropic"),
            (h::CREDENTIAL, "openai:...1234"),
            (h::PRINCIPAL, "user/7"),
            ("grpc-status", "0"),
        ]);
        let mut headers = HeaderMap::new();
        Dialect::OpenAi.served_headers(&answered, &mut headers);
        assert_eq!(headers.len(), 2, "{headers:?}");
        assert_eq!(headers[h::PROVIDER], "openai");
        assert_eq!(headers[h::CREDENTIAL], "openai:...1234");
    }

    #[test]
    fn rate_limits_need_all_three_figures_of_a_kind() {
        use contract::header as h;
        let answered = metadata(&[
            (h::RATELIMIT_LIMIT_REQUESTS, "60"),
            (h::RATELIMIT_REMAINING_REQUESTS, "59"),
            (h::RATELIMIT_RESET_REQUESTS_MS, "1000"),
            // A token limit missing its reset, and one malformed: neither is rendered.
            (h::RATELIMIT_LIMIT_TOKENS, "1000"),
            (h::RATELIMIT_REMAINING_TOKENS, "many"),
        ]);
        let mut headers = HeaderMap::new();
        Dialect::OpenAi.served_headers(&answered, &mut headers);
        assert_eq!(headers["x-ratelimit-limit-requests"], "60");
        assert_eq!(headers["x-ratelimit-remaining-requests"], "59");
        assert!(headers.contains_key("x-ratelimit-reset-requests"));
        assert!(
            !headers.contains_key("x-ratelimit-limit-tokens"),
            "{headers:?}"
        );

        let mut headers = HeaderMap::new();
        let unlimited = metadata(&[(h::RATELIMIT_LIMIT_REQUESTS, "60")]);
        Dialect::Anthropic.served_headers(&unlimited, &mut headers);
        assert!(headers.is_empty(), "{headers:?}");
    }

    #[test]
    fn a_refusal_carries_its_wait() {
        use contract::header as h;
        let mut status = tonic::Status::resource_exhausted("slow down");
        for (name, value) in [
            (h::RATELIMIT_LIMIT_REQUESTS, "2"),
            (h::RATELIMIT_REMAINING_REQUESTS, "0"),
            (h::RATELIMIT_RESET_REQUESTS_MS, "1500"),
            (h::RETRY_AFTER_MS, "1500"),
        ] {
            status
                .metadata_mut()
                .insert(name, MetadataValue::from_static(value));
        }
        let response = Dialect::OpenAi.status_error(&status);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let headers = response.headers();
        assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
        assert_eq!(headers["retry-after-ms"], "1500", "{headers:?}");
    }
}
