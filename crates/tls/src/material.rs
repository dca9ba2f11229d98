//! PEM files on disk and what is parsed from them. The raw bytes are kept so that a reload
//! can tell whether anything changed (cert-manager and Kubernetes Secret mounts swap files
//! atomically, and modification times are too coarse to trust).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::TlsError;
use crate::identity::{Identity, identity_of_der};

/// Where a service finds its certificate chain, its private key and the CA it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl TlsPaths {
    /// The layout `keyroute certs dev` writes: `DIR/ca.crt`, `DIR/<name>.crt`, `DIR/<name>.key`.
    pub fn in_dir(dir: &Path, name: &str) -> Self {
        Self {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
            ca: dir.join("ca.crt"),
        }
    }
}

/// The file contents, compared on reload.
#[derive(PartialEq, Eq)]
pub(crate) struct RawFiles {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Vec<u8>,
}

impl RawFiles {
    pub(crate) fn read(paths: &TlsPaths) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        Ok(Self {
            cert: read(&paths.cert)?,
            key: read(&paths.key)?,
            ca: read(&paths.ca)?,
        })
    }
}

/// Parsed material: our chain, our key, the trusted roots, and our own identity.
pub(crate) struct Material {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) identity: Identity,
}

impl Material {
    pub(crate) fn parse(paths: &TlsPaths, raw: &RawFiles) -> Result<Self, TlsError> {
        let pem_error = |path: &Path, what| TlsError::Pem {
            path: path.to_owned(),
            what,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&raw.cert)
            .collect::<Result<_, _>>()
            .map_err(|_| pem_error(&paths.cert, "certificate"))?;
        let leaf = chain
            .first()
            .ok_or_else(|| pem_error(&paths.cert, "certificate"))?;
        let identity = identity_of_der(leaf)?;
        let key = PrivateKeyDer::from_pem_slice(&raw.key)
            .map_err(|_| pem_error(&paths.key, "private key"))?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&raw.ca) {
            let ca = ca.map_err(|_| pem_error(&paths.ca, "ca certificate"))?;
            roots
                .add(ca)
                .map_err(|_| pem_error(&paths.ca, "ca certificate"))?;
        }
        if roots.is_empty() {
            return Err(pem_error(&paths.ca, "ca certificate"));
        }
        Ok(Self {
            chain,
            key,
            roots: Arc::new(roots),
            identity,
        })
    }
}
