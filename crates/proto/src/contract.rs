//! What the edge and the router agree on beyond the protobuf messages: the metadata (and
//! HTTP header) names that say who served a call and where a failure came from, and how a
//! router or vault status becomes an HTTP status. Both sides read these names from here, so
//! they cannot drift apart.

/// Metadata names: mostly on router answers, copied by the edge into HTTP response headers;
/// [`header::PLATFORM`] on the router's requests to the vault.
pub mod header {
    /// The provider that served the call (or failed it).
    pub const PROVIDER: &str = "x-keyroute-provider";
    /// `byok` or `managed`: who pays for the call.
    pub const KEY_SOURCE: &str = "x-keyroute-key-source";
    /// The serving credential's fingerprint (ASCII: `openai:...1234`).
    pub const CREDENTIAL: &str = "x-keyroute-credential";
    /// Where a router failure came from: [`ORIGIN_CLIENT`], [`ORIGIN_UPSTREAM`] or
    /// [`ORIGIN_KEYROUTE`]. Absent on failures the router never answered (transport).
    pub const ERROR_ORIGIN: &str = "x-keyroute-error-origin";
    /// The caller's request, token or settings.
    pub const ORIGIN_CLIENT: &str = "client";
    /// The provider.
    pub const ORIGIN_UPSTREAM: &str = "upstream";
    /// keyroute itself: a router or the vault.
    pub const ORIGIN_KEYROUTE: &str = "keyroute";
    /// `true` when the same request may succeed if sent again later, `false` otherwise.
    pub const RETRYABLE: &str = "x-keyroute-retryable";
    /// The HTTP status the provider answered with.
    pub const UPSTREAM_STATUS: &str = "x-keyroute-upstream-status";
    /// `exact` or `estimate`: how a token count was made.
    pub const TOKEN_COUNT: &str = "x-keyroute-token-count";
    /// The principal a router call was made for, on answers and on failures after the
    /// caller's token was checked: for the edge's access log, never passed on to clients.
    pub const PRINCIPAL: &str = "x-keyroute-principal";
    /// On a failure from the providers: how many keys were tried.
    pub const ATTEMPTS: &str = "x-keyroute-attempts";
    /// The request id, echoed on every answer and carried edge -> router.
    pub const REQUEST_ID: &str = "x-request-id";
    /// Anthropic's own name for the request id, set beside [`REQUEST_ID`].
    pub const ANTHROPIC_REQUEST_ID: &str = "request-id";
    /// Seconds until a retry may succeed.
    pub const RETRY_AFTER: &str = "retry-after";
    /// On answers for a model its provider deprecated: the day it was deprecated, and when
    /// announced, the day it retires (`2026-10-01; retires 2027-01-15`).
    pub const MODEL_DEPRECATED: &str = "x-keyroute-model-deprecated";
    /// The catalog id to move to from a deprecated model.
    pub const MODEL_SUCCESSOR: &str = "x-keyroute-model-successor";
    /// On router -> vault requests only: the internal platform (`platform/<name>`, from its
    /// verified certificate) whose management call the router passes through. The router
    /// drops any value a client sent; the vault believes it from the router alone.
    pub const PLATFORM: &str = "x-keyroute-platform";
    /// Milliseconds until a retry may succeed, beside [`RETRY_AFTER`]'s whole seconds, on a
    /// call refused by a rate limit.
    pub const RETRY_AFTER_MS: &str = "x-keyroute-retry-after-ms";
    /// On answers and rate-limit refusals of calls that rate limits apply to: the tightest
    /// request limit, what is left of it, and milliseconds until it is whole again. The edge
    /// renders these in the caller's dialect (`x-ratelimit-*`, `anthropic-ratelimit-*`).
    pub const RATELIMIT_LIMIT_REQUESTS: &str = "x-keyroute-ratelimit-limit-requests";
    pub const RATELIMIT_REMAINING_REQUESTS: &str = "x-keyroute-ratelimit-remaining-requests";
    pub const RATELIMIT_RESET_REQUESTS_MS: &str = "x-keyroute-ratelimit-reset-requests-ms";
    /// The same for the tightest token limit.
    pub const RATELIMIT_LIMIT_TOKENS: &str = "x-keyroute-ratelimit-limit-tokens";
    pub const RATELIMIT_REMAINING_TOKENS: &str = "x-keyroute-ratelimit-remaining-tokens";
    pub const RATELIMIT_RESET_TOKENS_MS: &str = "x-keyroute-ratelimit-reset-tokens-ms";
    /// On a rate-limit refusal: which kind of limit refused (`principal`, `org`,
    /// `credential`, `managed_model`) and in what (`requests`, `tokens`): `org/tokens`.
    pub const RATELIMIT_REFUSED_BY: &str = "x-keyroute-ratelimit-refused-by";
    /// What the router says about who served a call, all passed on as response headers.
    pub const SERVED_BY: [&str; 6] = [
        PROVIDER,
        KEY_SOURCE,
        CREDENTIAL,
        REQUEST_ID,
        MODEL_DEPRECATED,
        MODEL_SUCCESSOR,
    ];
}

/// [`header`]'s names that are read or written on every call, parsed once: a header map
/// looked up or filled by `&str` parses and checks the name each time.
pub mod header_name {
    use super::header;
    use tonic::codegen::http::HeaderName;

    pub static PROVIDER: HeaderName = HeaderName::from_static(header::PROVIDER);
    pub static KEY_SOURCE: HeaderName = HeaderName::from_static(header::KEY_SOURCE);
    pub static CREDENTIAL: HeaderName = HeaderName::from_static(header::CREDENTIAL);
    pub static PRINCIPAL: HeaderName = HeaderName::from_static(header::PRINCIPAL);
    pub static REQUEST_ID: HeaderName = HeaderName::from_static(header::REQUEST_ID);
    pub static ANTHROPIC_REQUEST_ID: HeaderName =
        HeaderName::from_static(header::ANTHROPIC_REQUEST_ID);
}

/// How large a request may be on its way from the edge to a router. A request body becomes a
/// canonical message about its own size (JSON field names and quoting give way to protobuf
/// tags), so the gRPC link carries the body limit and a margin, in both directions: the
/// edge's router clients encode and decode up to [`grpc_message_limit`] of its
/// `--body-limit`, and routers decode up to that of [`MAX_BODY_LIMIT`].
pub mod size {
    /// The edge's default `--body-limit`: 32 MiB.
    pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;
    /// The largest `--body-limit` an edge accepts (64 MiB): what routers decode is sized
    /// for it.
    pub const MAX_BODY_LIMIT: usize = 64 * 1024 * 1024;
    /// Room for what a message adds to the body it was made from.
    const MARGIN: usize = 1024 * 1024;

    /// The largest gRPC message that carries a body of at most `body_limit` bytes.
    pub const fn grpc_message_limit(body_limit: usize) -> usize {
        body_limit.saturating_add(MARGIN)
    }

    /// What a router decodes: a message from an edge at [`MAX_BODY_LIMIT`].
    pub const ROUTER_MESSAGE_LIMIT: usize = grpc_message_limit(MAX_BODY_LIMIT);
}

/// How a gRPC status from the router or the vault is answered over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpMapping {
    /// The HTTP status code.
    pub status: u16,
    /// A stable machine-readable word for the kind of failure.
    pub code: &'static str,
}

/// Whether a status came from a provider (the router marks those with [`header::ERROR_ORIGIN`]).
pub fn from_upstream(status: &tonic::Status) -> bool {
    status
        .metadata()
        .get(header::ERROR_ORIGIN)
        .is_some_and(|origin| origin == header::ORIGIN_UPSTREAM)
}

/// The one table from gRPC status to HTTP: upstream trouble is 502/504, keyroute's own (the
/// vault, a router) 503, a caller's mistake 4xx.
pub fn http_mapping(status: &tonic::Status) -> HttpMapping {
    use tonic::Code;
    let upstream = from_upstream(status);
    let (status, code) = match status.code() {
        Code::InvalidArgument | Code::OutOfRange => (400, "invalid_request"),
        Code::Unauthenticated => (401, "unauthenticated"),
        Code::PermissionDenied => (403, "permission_denied"),
        Code::NotFound => (404, "not_found"),
        Code::AlreadyExists => (409, "already_exists"),
        Code::ResourceExhausted => (429, "rate_limited"),
        Code::FailedPrecondition if upstream => (502, "upstream_error"),
        Code::FailedPrecondition => (400, "failed_precondition"),
        Code::DeadlineExceeded => (504, "timeout"),
        Code::Unavailable if upstream => (502, "upstream_error"),
        Code::Unavailable | Code::Cancelled => (503, "unavailable"),
        _ => (500, "internal"),
    };
    HttpMapping { status, code }
}

#[cfg(test)]
mod tests {
    use super::{header, http_mapping};

    fn upstream(mut status: tonic::Status) -> tonic::Status {
        status.metadata_mut().insert(
            header::ERROR_ORIGIN,
            tonic::metadata::MetadataValue::from_static(header::ORIGIN_UPSTREAM),
        );
        status
    }

    #[test]
    fn provider_failures_are_bad_gateways_and_keyroute_failures_unavailable() {
        let unavailable = tonic::Status::unavailable("down");
        assert_eq!(http_mapping(&unavailable).status, 503);
        assert_eq!(http_mapping(&upstream(unavailable)).status, 502);
        let refused = tonic::Status::failed_precondition("no key");
        assert_eq!(http_mapping(&refused).status, 400);
        assert_eq!(http_mapping(&upstream(refused)).code, "upstream_error");
        assert_eq!(
            http_mapping(&tonic::Status::deadline_exceeded("slow")).status,
            504
        );
        assert_eq!(http_mapping(&tonic::Status::cancelled("gone")).status, 503);
        assert_eq!(http_mapping(&tonic::Status::data_loss("x")).status, 500);
    }
}
