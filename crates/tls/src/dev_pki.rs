//! A development CA and SPIFFE certificates, for `keyroute certs dev`, `keyroute dev` and
//! tests. Production certificates come from cert-manager; these never leave a developer's
//! machine.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// The identities `keyroute certs dev` issues.
pub const DEV_IDENTITIES: [&str; 4] = ["vault", "router", "edge", "admin"];

/// Why a dev certificate could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum DevPkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// A certificate and its private key, PEM encoded.
#[derive(Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert").finish_non_exhaustive()
    }
}

/// A self-signed development CA.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

impl DevCa {
    /// A new CA, valid for ten years.
    pub fn new(common_name: &str) -> Result<Self, DevPkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, Duration::days(3650));
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A leaf for `spiffe://keyroute/<name>`, usable as server and client certificate.
    pub fn issue(&self, name: &str) -> Result<IssuedCert, DevPkiError> {
        self.issue_with_uris(name, &[format!("spiffe://keyroute/{name}")])
    }

    /// A leaf with exactly these URI SANs (none, several, foreign: tests use these too).
    pub fn issue_with_uris(
        &self,
        common_name: &str,
        uris: &[String],
    ) -> Result<IssuedCert, DevPkiError> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        params.distinguished_name = name(common_name);
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI(uri.as_str().try_into()?));
        }
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut params, Duration::days(365));
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes `ca.crt` and, for each name, `<name>.crt` and `<name>.key` (mode 0600).
    pub fn write_dir(&self, dir: &Path, names: &[&str]) -> Result<(), DevPkiError> {
        create_dir(dir)?;
        write(&dir.join("ca.crt"), self.cert_pem.as_bytes(), 0o644)?;
        for name in names {
            let issued = self.issue(name)?;
            let file = name.replace('/', "-");
            write(
                &dir.join(format!("{file}.crt")),
                issued.cert_pem.as_bytes(),
                0o644,
            )?;
            write(
                &dir.join(format!("{file}.key")),
                issued.key_pem.as_bytes(),
                0o600,
            )?;
        }
        Ok(())
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "keyroute dev");
    name.push(DnType::CommonName, common_name);
    name
}

fn validity(params: &mut CertificateParams, lifetime: Duration) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + lifetime;
}

fn create_dir(dir: &Path) -> Result<(), DevPkiError> {
    std::fs::create_dir_all(dir).map_err(|source| DevPkiError::Write {
        path: dir.to_owned(),
        source,
    })
}

/// Writes atomically (temporary file, then rename) with the given mode.
pub fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), DevPkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| DevPkiError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(error)?;
    file.write_all(contents).map_err(error)?;
    file.sync_all().map_err(error)?;
    std::fs::rename(&tmp, path).map_err(error)
}
