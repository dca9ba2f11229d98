//! The vault's one error type, mapped once to `tonic::Status` at the gRPC boundary.

use crate::crypto::{CryptoError, KeyringError};
use crate::storage::StoreError;
use crate::validate::InvalidCredential;

/// Everything a vault RPC can fail with. Messages are safe to return: none holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    DataLoss(String),
    /// Worth retrying: the database is busy with other replicas' transactions.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<InvalidCredential> for VaultError {
    fn from(error: InvalidCredential) -> Self {
        Self::InvalidArgument(error.0)
    }
}

impl From<StoreError> for VaultError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            StoreError::AlreadyExists { existing_id } => {
                Self::AlreadyExists(format!("already exists: {existing_id}"))
            }
            StoreError::Conflict(message) => Self::FailedPrecondition(message),
            StoreError::Corrupt(message) => {
                Self::DataLoss(format!("stored data is corrupt: {message}"))
            }
            StoreError::Contention(message) => {
                Self::Unavailable(format!("storage busy, try again: {message}"))
            }
            StoreError::Backend(message) | StoreError::Task(message) => {
                Self::Internal(format!("storage failure: {message}"))
            }
        }
    }
}

impl From<CryptoError> for VaultError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::Keyring(KeyringError::MissingVersion(version)) => {
                Self::FailedPrecondition(format!("kek version {version} is not in the keyring"))
            }
            CryptoError::Integrity | CryptoError::Malformed(_) => Self::DataLoss(error.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<KeyringError> for VaultError {
    fn from(error: KeyringError) -> Self {
        Self::FailedPrecondition(error.to_string())
    }
}

impl From<VaultError> for tonic::Status {
    fn from(error: VaultError) -> Self {
        use tonic::Code;
        let code = match &error {
            VaultError::InvalidArgument(_) => Code::InvalidArgument,
            VaultError::Unauthenticated(_) => Code::Unauthenticated,
            VaultError::PermissionDenied(_) => Code::PermissionDenied,
            VaultError::NotFound(_) => Code::NotFound,
            VaultError::AlreadyExists(_) => Code::AlreadyExists,
            VaultError::FailedPrecondition(_) => Code::FailedPrecondition,
            VaultError::DataLoss(_) => Code::DataLoss,
            VaultError::Unavailable(_) => Code::Unavailable,
            VaultError::Internal(_) => Code::Internal,
        };
        if code == Code::Internal || code == Code::DataLoss {
            tracing::error!(error = %error, "vault request failed");
        }
        tonic::Status::new(code, error.to_string())
    }
}
