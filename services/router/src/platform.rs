//! Key management for internal platforms. A platform that embeds keyroute for its users
//! manages their keys as the edge does, acting for the principal whose gateway token it
//! forwards, but it never reaches the vault itself (only routers and edges may). So the
//! router passes a fixed set of `keyroute.vault.v1.VaultService` calls through on its own
//! port: the request's bytes go to the vault undecoded over the router's mTLS channel, with
//! the platform named from its verified certificate in `x-keyroute-platform`, and the
//! vault's answer comes back as it is. The vault authorizes the principal exactly as it does
//! for the edge; the router only decides which calls a platform may make at all.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use keyroute_proto::contract::header;
use keyroute_proto::vault::v1::vault_service_server::SERVICE_NAME;
use keyroute_tls::{Identity, PeerInfo};
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::server::NamedService;
use tonic::transport::Channel;

use crate::error::RouterError;

/// The vault calls a platform may make through the router: what the edge's management API
/// offers a principal (keys, provider settings, an org's audit, balance, budget, usage, rate
/// limits). Not tokens or sessions (a platform signs its users in itself), not identities
/// (admin), not the router's own calls (leases, usage, holds); key tests are `TestCredential`.
pub const OFFERED: [&str; 16] = [
    "CreateCredential",
    "UpdateCredentialSecret",
    "SetCredentialEnabled",
    "DeleteCredential",
    "RenameCredential",
    "GetCredential",
    "ListCredentials",
    "ListProviderSettings",
    "SetProviderSetting",
    "ListAuditEvents",
    "GetBalance",
    "SetBudget",
    "GetUsage",
    "GetDailyUsage",
    "SetRateLimit",
    "ListRateLimits",
];

/// The largest request a platform may pass through, as the edge bounds its management
/// bodies: keys, settings and budgets are small (a secret is at most 16 KiB).
pub const REQUEST_LIMIT: usize = 1024 * 1024;
/// How long a request may take to arrive, so a slow client holds nothing for long.
const REQUEST_WAIT: Duration = Duration::from_secs(30);
/// How long the vault may take to start answering.
const VAULT_WAIT: Duration = Duration::from_secs(30);

/// The metadata passed on to the vault: the gRPC framing entries, the principal's token,
/// the request id and the trace context. Anything else a client sent (a forged
/// `x-keyroute-platform` above all) stays here.
const FORWARDED: [&str; 9] = [
    "content-type",
    "te",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "authorization",
    header::REQUEST_ID,
    "traceparent",
    "tracestate",
];

/// The internal platform on the other end (`spiffe://keyroute/platform/<name>`), if the peer
/// is one.
pub fn platform_of(peer: &PeerInfo) -> Option<&Identity> {
    peer.identity
        .name()
        .starts_with("platform/")
        .then_some(&peer.identity)
}

/// A vault request the router makes itself for a platform's principal (the records of a
/// key test): carried as a passed-through call is, with the principal's token, the request
/// id and the platform's name, so the vault authorizes and audits it the same way.
pub fn on_behalf<T>(
    message: T,
    platform: &Identity,
    token: &str,
    request_id: &str,
) -> Result<tonic::Request<T>, RouterError> {
    let value = |text: &str, what: &str| {
        MetadataValue::try_from(text)
            .map_err(|_| RouterError::InvalidArgument(format!("{what} is not valid metadata")))
    };
    let mut request = tonic::Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert(
        "authorization",
        value(&format!("Bearer {token}"), "the token")?,
    );
    metadata.insert(header::REQUEST_ID, value(request_id, "x-request-id")?);
    metadata.insert(header::PLATFORM, value(platform.name(), "the platform")?);
    keyroute_telemetry::inject_trace_context(metadata);
    Ok(request)
}

/// Why a call was not passed through. Mapped to a status once, in [`Refusal::status`].
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("no verified client certificate")]
    NoPeer,
    #[error(
        "{0} may not call the vault through the router: that is for internal platforms (spiffe://keyroute/platform/<name>)"
    )]
    NotPlatform(Identity),
    #[error("{0} is not offered to platforms through the router")]
    NotOffered(String),
    #[error("the request is larger than {REQUEST_LIMIT} bytes")]
    TooLarge,
    #[error("the request did not arrive within {}s", REQUEST_WAIT.as_secs())]
    SlowRequest,
    #[error("the request broke off: {0}")]
    Broken(String),
    #[error("vault unavailable: {0}")]
    VaultUnavailable(String),
}

impl Refusal {
    fn status(&self) -> tonic::Status {
        let message = self.to_string();
        match self {
            Self::NoPeer => tonic::Status::unauthenticated(message),
            Self::NotPlatform(_) | Self::NotOffered(_) => tonic::Status::permission_denied(message),
            // What tonic answers a message over its decoding limit.
            Self::TooLarge => tonic::Status::out_of_range(message),
            Self::SlowRequest => tonic::Status::deadline_exceeded(message),
            Self::Broken(_) => tonic::Status::cancelled(message),
            Self::VaultUnavailable(_) => tonic::Status::unavailable(message),
        }
    }
}

/// The pass-through, served on the router's port as `keyroute.vault.v1.VaultService`.
#[derive(Debug, Clone)]
pub struct VaultPassThrough {
    vault: Channel,
}

impl VaultPassThrough {
    /// Passes calls on over `vault`, the router's own mTLS channel to the vault.
    pub fn new(vault: Channel) -> Self {
        Self { vault }
    }
}

impl NamedService for VaultPassThrough {
    const NAME: &'static str = SERVICE_NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

impl Service<http::Request<Body>> for VaultPassThrough {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let vault = self.vault.clone();
        Box::pin(async move {
            Ok(forward(vault, request).await.unwrap_or_else(|refusal| {
                tracing::info!(reason = %refusal, "platform call not passed to the vault");
                refusal.status().into_http()
            }))
        })
    }
}

/// Checks the caller and the method, reads the bounded request, and sends it to the vault
/// with the metadata it may carry.
async fn forward(
    mut vault: Channel,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, Refusal> {
    let peer = request
        .extensions()
        .get::<PeerInfo>()
        .ok_or(Refusal::NoPeer)?;
    let platform = platform_of(peer)
        .ok_or_else(|| Refusal::NotPlatform(peer.identity.clone()))?
        .clone();
    let path = request.uri().path();
    let method = path
        .strip_prefix('/')
        .and_then(|rest| rest.strip_prefix(SERVICE_NAME))
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path);
    if !OFFERED.contains(&method) {
        return Err(Refusal::NotOffered(method.chars().take(100).collect()));
    }
    let method = method.to_owned();
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > REQUEST_LIMIT) {
        return Err(Refusal::TooLarge);
    }
    let message = tokio::time::timeout(REQUEST_WAIT, read_bounded(body))
        .await
        .map_err(|_| Refusal::SlowRequest)??;

    let mut headers = http::HeaderMap::new();
    for name in FORWARDED {
        for value in parts.headers.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    let named = http::HeaderValue::from_str(platform.name())
        .map_err(|_| Refusal::NotPlatform(platform.clone()))?;
    headers.insert(header::PLATFORM, named);
    // The router's span joins the trace (when tracing exports); otherwise the caller's
    // context passes on as it came.
    let mut metadata = MetadataMap::from_headers(headers);
    keyroute_telemetry::inject_trace_context(&mut metadata);

    let mut forwarded = http::Request::new(Body::new(axum::body::Body::from(message)));
    *forwarded.method_mut() = http::Method::POST;
    *forwarded.version_mut() = http::Version::HTTP_2;
    // The channel puts the vault's scheme and authority in; the path stays.
    *forwarded.uri_mut() = parts.uri;
    *forwarded.headers_mut() = metadata.into_headers();

    let unavailable = |error: tonic::transport::Error| Refusal::VaultUnavailable(error.to_string());
    let answer = async {
        std::future::poll_fn(|cx| vault.poll_ready(cx))
            .await
            .map_err(unavailable)?;
        vault.call(forwarded).await.map_err(unavailable)
    };
    let response = tokio::time::timeout(VAULT_WAIT, answer)
        .await
        .map_err(|_| {
            Refusal::VaultUnavailable(format!("no answer within {}s", VAULT_WAIT.as_secs()))
        })??;
    tracing::debug!(platform = %platform, method = %method, "platform call passed to the vault");
    Ok(response)
}

/// The request's bytes, up to [`REQUEST_LIMIT`].
async fn read_bounded(body: Body) -> Result<bytes::Bytes, Refusal> {
    let mut chunks = axum::body::Body::new(body).into_data_stream();
    let mut message = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|error| Refusal::Broken(error.to_string()))?;
        if message.len().saturating_add(chunk.len()) > REQUEST_LIMIT {
            return Err(Refusal::TooLarge);
        }
        message.extend_from_slice(&chunk);
    }
    Ok(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_platform_identities_are_platforms() {
        let peer = |name: &str| PeerInfo {
            identity: Identity::parse(name).unwrap(),
            remote_addr: None,
        };
        assert!(platform_of(&peer("platform/acme")).is_some());
        assert!(platform_of(&peer("edge")).is_none());
        assert!(platform_of(&peer("router")).is_none());
        assert!(platform_of(&peer("platformer")).is_none());
    }

    #[test]
    fn nothing_beyond_the_edges_management_calls_is_offered() {
        for name in [
            "IssueToken",
            "RevokeToken",
            "ListTokens",
            "StartSession",
            "Authenticate",
            "RecordCredentialTestResult",
            "RecordCredentialTest",
            "LeaseCredentials",
            "RecordUsage",
            "HoldCredits",
            "GrantCredits",
            "CreateUser",
            "RotateKek",
        ] {
            assert!(!OFFERED.contains(&name), "{name}");
        }
    }
}
