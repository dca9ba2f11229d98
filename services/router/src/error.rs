//! The router's one error type: where a failure came from and whether a retry may help,
//! mapped once to `tonic::Status` at the gRPC boundary (with the origin, retryability,
//! provider, upstream status and `retry-after` in its metadata).

use std::time::{Duration, Instant};

use keyroute_proto::contract::header;
use keyroute_ratelimit::Quotas;
use keyroute_wire::error::{ErrorKind, WireError};
use tonic::metadata::{MetadataMap, MetadataValue};

use crate::policy::rate_limits;

/// Where a failure sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The caller's request, credentials or settings.
    Client,
    /// The provider.
    Upstream,
    /// The vault or the router itself.
    Internal,
}

impl Origin {
    /// The word in the [`header::ERROR_ORIGIN`] metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => header::ORIGIN_CLIENT,
            Self::Upstream => header::ORIGIN_UPSTREAM,
            Self::Internal => header::ORIGIN_KEYROUTE,
        }
    }
}

/// Every candidate failed, or one failed in a way another key cannot fix.
#[derive(Debug, Clone)]
pub struct RouteFailure {
    /// The last failure.
    pub error: WireError,
    pub attempts: u32,
}

/// A call a rate limit refused: retryable after `retry_after`, never when it is `None` (the
/// call alone is larger than the limit). `quotas` and `refused_by` (`org/tokens`) become the
/// caller's rate-limit headers.
#[derive(Debug, Clone)]
pub struct RateLimited {
    pub message: String,
    pub retry_after: Option<Duration>,
    pub quotas: Quotas,
    pub refused_by: String,
}

/// Everything a router call can fail with. Messages hold no secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RouterError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    /// No key may serve the request: none usable, or the caller's settings or balance stand
    /// in the way. `retry_at` when keys cooling down after failures are what stands there.
    #[error("{message}")]
    NoRoute {
        message: String,
        retry_at: Option<Instant>,
    },
    /// A spending limit (a monthly budget) is used up.
    #[error("{0}")]
    LimitReached(String),
    /// A rate limit refused the call (boxed: it carries the figures for the headers).
    #[error("{}", .0.message)]
    RateLimited(Box<RateLimited>),
    /// Every candidate failed at its provider, or one failed in a way no key can fix.
    #[error("{}", .0.error.message)]
    Upstream(RouteFailure),
    /// The vault is unreachable and nothing cached can serve.
    #[error("vault unavailable: {0}")]
    VaultUnavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl RouterError {
    pub fn origin(&self) -> Origin {
        match self {
            Self::Unauthenticated(_)
            | Self::PermissionDenied(_)
            | Self::InvalidArgument(_)
            | Self::NotFound(_)
            | Self::NoRoute { .. }
            | Self::LimitReached(_)
            | Self::RateLimited(_) => Origin::Client,
            Self::Upstream(_) => Origin::Upstream,
            Self::VaultUnavailable(_) | Self::Internal(_) => Origin::Internal,
        }
    }

    /// Whether the same request may succeed if tried again later.
    pub fn retryable(&self) -> bool {
        match self {
            Self::VaultUnavailable(_) => true,
            Self::NoRoute { retry_at, .. } => retry_at.is_some(),
            Self::RateLimited(limited) => limited.retry_after.is_some(),
            Self::Upstream(failure) => failure.error.retryable,
            _ => false,
        }
    }

    /// The outcome label in the router's request metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Upstream(failure) => match failure.error.kind {
                ErrorKind::InvalidRequest => "invalid_request",
                ErrorKind::Authentication => "key_refused",
                ErrorKind::Billing => "out_of_credit",
                ErrorKind::RateLimited => "rate_limited",
                ErrorKind::Unavailable => "unavailable",
                ErrorKind::Malformed => "malformed_response",
            },
            Self::NoRoute { .. } | Self::LimitReached(_) => "no_route",
            Self::RateLimited(_) => "rate_limit_refused",
            Self::NotFound(_) => "not_found",
            Self::VaultUnavailable(_) => "vault_unavailable",
            _ => "error",
        }
    }
}

/// An upstream failure as a status: what the provider said, and after how many attempts.
fn upstream_status(failure: &RouteFailure) -> tonic::Status {
    let error = &failure.error;
    let message = format!(
        "{} ({} after {} attempt{})",
        error.message,
        error.provider,
        failure.attempts,
        if failure.attempts == 1 { "" } else { "s" }
    );
    match (error.kind, error.status) {
        (ErrorKind::InvalidRequest, 404) => tonic::Status::not_found(message),
        (ErrorKind::InvalidRequest, _) => tonic::Status::invalid_argument(message),
        (ErrorKind::Authentication, _) => {
            tonic::Status::failed_precondition(format!("the provider refused the key: {message}"))
        }
        (ErrorKind::Billing, _) => tonic::Status::failed_precondition(format!(
            "the provider account is out of credit: {message}"
        )),
        (ErrorKind::RateLimited, _) => tonic::Status::resource_exhausted(message),
        (_, 504) => tonic::Status::deadline_exceeded(message),
        _ => tonic::Status::unavailable(message),
    }
}

fn insert(metadata: &mut MetadataMap, name: &'static str, value: &str) {
    if let Ok(value) = value.parse() {
        metadata.insert(name, value);
    }
}

impl From<RouterError> for tonic::Status {
    fn from(error: RouterError) -> Self {
        let origin = error.origin();
        let retryable = error.retryable();
        let message = error.to_string();
        let mut retry_after = None;
        let mut status = match &error {
            RouterError::Unauthenticated(_) => Self::unauthenticated(message),
            RouterError::PermissionDenied(_) => Self::permission_denied(message),
            RouterError::InvalidArgument(_) => Self::invalid_argument(message),
            RouterError::NotFound(_) => Self::not_found(message),
            RouterError::NoRoute {
                retry_at: Some(at), ..
            } => {
                retry_after = Some(at.saturating_duration_since(Instant::now()).as_secs());
                Self::resource_exhausted(message)
            }
            RouterError::NoRoute { .. } => Self::failed_precondition(message),
            RouterError::LimitReached(_) => Self::resource_exhausted(message),
            RouterError::RateLimited(_) => Self::resource_exhausted(message),
            RouterError::Upstream(failure) => {
                retry_after = failure.error.retry_after.map(|d| d.as_secs());
                upstream_status(failure)
            }
            RouterError::VaultUnavailable(_) => Self::unavailable(message),
            RouterError::Internal(_) => Self::internal(message),
        };
        let metadata = status.metadata_mut();
        metadata.insert(
            header::ERROR_ORIGIN,
            MetadataValue::from_static(origin.as_str()),
        );
        metadata.insert(
            header::RETRYABLE,
            MetadataValue::from_static(if retryable { "true" } else { "false" }),
        );
        if let RouterError::Upstream(failure) = &error {
            insert(
                metadata,
                header::UPSTREAM_STATUS,
                &failure.error.status.to_string(),
            );
            insert(metadata, header::PROVIDER, failure.error.provider);
            insert(metadata, header::ATTEMPTS, &failure.attempts.to_string());
        }
        if let Some(seconds) = retry_after {
            insert(metadata, header::RETRY_AFTER, &seconds.max(1).to_string());
        }
        if let RouterError::RateLimited(limited) = &error {
            rate_limits::quota_metadata(metadata, &limited.quotas);
            if let Some(wait) = limited.retry_after {
                rate_limits::retry_metadata(metadata, wait);
            }
            insert(metadata, header::RATELIMIT_REFUSED_BY, &limited.refused_by);
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keyroute_proto::contract::{header, http_mapping};

    use super::*;

    fn metadata<'s>(status: &'s tonic::Status, name: &str) -> Option<&'s str> {
        status.metadata().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn every_error_says_where_it_came_from_and_whether_to_retry() {
        let mut throttled = WireError::from_status("openai", 429, "rate_limit", "slow down");
        throttled.retry_after = Some(Duration::from_secs(7));
        let upstream: tonic::Status = RouterError::Upstream(RouteFailure {
            error: throttled,
            attempts: 2,
        })
        .into();
        assert_eq!(upstream.code(), tonic::Code::ResourceExhausted);
        assert_eq!(upstream.message(), "slow down (openai after 2 attempts)");
        assert_eq!(metadata(&upstream, header::ERROR_ORIGIN), Some("upstream"));
        assert_eq!(metadata(&upstream, header::RETRYABLE), Some("true"));
        assert_eq!(metadata(&upstream, header::PROVIDER), Some("openai"));
        assert_eq!(metadata(&upstream, header::UPSTREAM_STATUS), Some("429"));
        assert_eq!(metadata(&upstream, header::ATTEMPTS), Some("2"));
        assert_eq!(metadata(&upstream, header::RETRY_AFTER), Some("7"));

        let cooling: tonic::Status = RouterError::NoRoute {
            message: "cannot route m: cooling".into(),
            retry_at: Some(Instant::now() + Duration::from_secs(30)),
        }
        .into();
        assert_eq!(cooling.code(), tonic::Code::ResourceExhausted);
        assert_eq!(metadata(&cooling, header::ERROR_ORIGIN), Some("client"));
        assert_eq!(metadata(&cooling, header::RETRYABLE), Some("true"));
        assert!(metadata(&cooling, header::RETRY_AFTER).is_some());

        let no_key: tonic::Status = RouterError::NoRoute {
            message: "cannot route m: no key".into(),
            retry_at: None,
        }
        .into();
        assert_eq!(http_mapping(&no_key).status, 400);
        assert_eq!(metadata(&no_key, header::RETRYABLE), Some("false"));

        let vault: tonic::Status = RouterError::VaultUnavailable("down".into()).into();
        assert_eq!(vault.message(), "vault unavailable: down");
        assert_eq!(http_mapping(&vault).status, 503);
        assert_eq!(metadata(&vault, header::ERROR_ORIGIN), Some("keyroute"));
        assert_eq!(metadata(&vault, header::RETRYABLE), Some("true"));
    }
}
