use std::path::PathBuf;

/// Why TLS material could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no usable {what}")]
    Pem { path: PathBuf, what: &'static str },
    #[error("invalid certificate identity: {0}")]
    Identity(#[from] crate::identity::IdentityError),
    #[error("invalid tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("invalid ca certificates: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("invalid endpoint {endpoint}: {reason}")]
    Endpoint { endpoint: String, reason: String },
}
