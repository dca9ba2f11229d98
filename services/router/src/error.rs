//! The router's one error type: where a failure came from and whether a retry may help,
//! mapped once to `tonic::Status` at the gRPC boundary.

/// Where a failure sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The caller's request or credentials.
    Client,
    /// The provider.
    Upstream,
    /// The vault or the router itself.
    Internal,
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
            | Self::NotFound(_) => Origin::Client,
            Self::VaultUnavailable(_) | Self::Internal(_) => Origin::Internal,
        }
    }

    /// Whether the same request may succeed if tried again later.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::VaultUnavailable(_))
    }
}

impl From<RouterError> for tonic::Status {
    fn from(error: RouterError) -> Self {
        let message = error.to_string();
        match error {
            RouterError::Unauthenticated(_) => Self::unauthenticated(message),
            RouterError::PermissionDenied(_) => Self::permission_denied(message),
            RouterError::InvalidArgument(_) => Self::invalid_argument(message),
            RouterError::NotFound(_) => Self::not_found(message),
            RouterError::VaultUnavailable(_) => Self::unavailable(message),
            RouterError::Internal(_) => Self::internal(message),
        }
    }
}
