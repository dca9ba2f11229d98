//! A development CA and SPIFFE certificates, for `keyroute certs dev`, `keyroute dev` and
//! tests. Production certificates come from cert-manager; these never leave a developer's
//! machine.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use time::{Duration, OffsetDateTime};

/// The identities `keyroute certs dev` issues.
pub const DEV_IDENTITIES: [&str; 4] = ["vault", "router", "edge", "admin"];

/// The namespace the Kubernetes manifests (deploy/k8s) put keyroute in; dev server
/// certificates name its Services in it, so a client that checks hostnames reaches them by
/// Service name as it would in the cluster (the deploy smoke test does).
pub const K8S_NAMESPACE: &str = "keyroute";

/// The Kubernetes Services (deploy/k8s/base) in front of each serving identity.
const SERVICES: [(&str, &[&str]); 3] = [
    ("vault", &["keyroute-vault"]),
    ("router", &["keyroute-router", "keyroute-router-headless"]),
    ("edge", &["keyroute-edge"]),
];

/// The DNS names a dev server certificate for `identity` carries besides `localhost`: each of
/// its Services' names as cluster DNS answers them (`keyroute-router`,
/// `keyroute-router.keyroute`, `.svc`, `.svc.cluster.local`). Standard gRPC clients check
/// these; keyroute's own clients check the SPIFFE id instead.
pub fn service_dns_names(identity: &str) -> Vec<String> {
    let services = SERVICES
        .iter()
        .find(|(name, _)| *name == identity)
        .map_or(&[][..], |(_, services)| *services);
    services
        .iter()
        .flat_map(|service| {
            [
                (*service).to_owned(),
                format!("{service}.{K8S_NAMESPACE}"),
                format!("{service}.{K8S_NAMESPACE}.svc"),
                format!("{service}.{K8S_NAMESPACE}.svc.cluster.local"),
            ]
        })
        .collect()
}

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
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PEM {what}")]
    Pem {
        path: std::path::PathBuf,
        what: &'static str,
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

/// A self-signed development CA. Its key is kept beside its certificate (`ca.key`, mode
/// 0600) so that more client certificates (platforms) can be issued from it later.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
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
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA that `write_dir` left in `dir` (`ca.crt` and `ca.key`), to issue more
    /// certificates from. Fails naming the file that is missing or not PEM.
    pub fn load(dir: &Path) -> Result<Self, DevPkiError> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|source| DevPkiError::Read { path, source })
        };
        let pem_error = |file: &str, what| DevPkiError::Pem {
            path: dir.join(file),
            what,
        };
        let cert_pem = read("ca.crt")?;
        let key_pem = read("ca.key")?;
        let key = KeyPair::from_pem(&key_pem).map_err(|_| pem_error("ca.key", "private key"))?;
        let der = pem_der(&cert_pem).ok_or_else(|| pem_error("ca.crt", "CA certificate"))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| pem_error("ca.crt", "CA certificate"))?;
        if !cert.is_ca() {
            return Err(pem_error("ca.crt", "CA certificate"));
        }
        // A key that does not belong to the certificate would sign leaves nobody trusts.
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(pem_error("ca.key", "private key of ca.crt"));
        }
        let issuer = Issuer::from_ca_cert_der(&der, key)
            .map_err(|_| pem_error("ca.crt", "CA certificate"))?;
        Ok(Self {
            issuer,
            cert_pem,
            key_pem,
        })
    }

    /// The CA certificate, PEM encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A leaf for `spiffe://keyroute/<name>`, usable as server and client certificate: it
    /// names `localhost`, 127.0.0.1 and, for vault, router and edge, their Kubernetes
    /// Services (`service_dns_names`).
    pub fn issue(&self, name: &str) -> Result<IssuedCert, DevPkiError> {
        let mut dns = vec!["localhost".to_owned()];
        dns.extend(service_dns_names(name));
        self.leaf(
            name,
            &[format!("spiffe://keyroute/{name}")],
            dns,
            &[
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )
    }

    /// A client-only leaf for `spiffe://keyroute/<name>`: the SPIFFE id is its only name,
    /// as a platform's certificate needs nothing else (it never serves).
    pub fn issue_client(&self, name: &str) -> Result<IssuedCert, DevPkiError> {
        self.leaf(
            name,
            &[format!("spiffe://keyroute/{name}")],
            Vec::new(),
            &[ExtendedKeyUsagePurpose::ClientAuth],
        )
    }

    /// A leaf with exactly these URI SANs (none, several, foreign: tests use these too).
    pub fn issue_with_uris(
        &self,
        common_name: &str,
        uris: &[String],
    ) -> Result<IssuedCert, DevPkiError> {
        self.leaf(
            common_name,
            uris,
            vec!["localhost".to_owned()],
            &[
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )
    }

    /// A leaf with these URI SANs and DNS names (and 127.0.0.1 when it serves).
    fn leaf(
        &self,
        common_name: &str,
        uris: &[String],
        dns: Vec<String>,
        usages: &[ExtendedKeyUsagePurpose],
    ) -> Result<IssuedCert, DevPkiError> {
        let mut params = CertificateParams::new(dns)?;
        params.distinguished_name = name(common_name);
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI(uri.as_str().try_into()?));
        }
        if usages.contains(&ExtendedKeyUsagePurpose::ServerAuth) {
            params
                .subject_alt_names
                .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = usages.to_vec();
        validity(&mut params, Duration::days(365));
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes `ca.crt`, `ca.key` (mode 0600) and, for each name, `<name>.crt` and
    /// `<name>.key` (mode 0600).
    pub fn write_dir(&self, dir: &Path, names: &[&str]) -> Result<(), DevPkiError> {
        create_dir(dir)?;
        write(&dir.join("ca.key"), self.key_pem.as_bytes(), 0o600)?;
        write(&dir.join("ca.crt"), self.cert_pem.as_bytes(), 0o644)?;
        for name in names {
            let issued = self.issue(name)?;
            write_pair(dir, &file_stem(name), &issued)?;
        }
        Ok(())
    }
}

/// The file name (without extension) for an identity: `platform/acme` -> `platform-acme`.
pub fn file_stem(identity_name: &str) -> String {
    identity_name.replace('/', "-")
}

/// Writes `<stem>.crt` and `<stem>.key` (mode 0600) into `dir` (created if missing), both or
/// neither: each goes to a temporary file first, and only then are both renamed into place.
pub fn write_pair(dir: &Path, stem: &str, issued: &IssuedCert) -> Result<(), DevPkiError> {
    create_dir(dir)?;
    let cert = dir.join(format!("{stem}.crt"));
    let key = dir.join(format!("{stem}.key"));
    let cert_tmp = dir.join(format!(".{stem}.crt.tmp"));
    let key_tmp = dir.join(format!(".{stem}.key.tmp"));
    let staged = write_new(&key_tmp, issued.key_pem.as_bytes(), 0o600)
        .and_then(|()| write_new(&cert_tmp, issued.cert_pem.as_bytes(), 0o644));
    let renamed = staged.and_then(|()| {
        std::fs::rename(&key_tmp, &key).map_err(|source| DevPkiError::Write {
            path: key.clone(),
            source,
        })?;
        std::fs::rename(&cert_tmp, &cert).map_err(|source| {
            let _ = std::fs::remove_file(&key);
            DevPkiError::Write {
                path: cert.clone(),
                source,
            }
        })
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&key_tmp);
        let _ = std::fs::remove_file(&cert_tmp);
    }
    renamed
}

/// The DER of the first certificate in `pem`.
fn pem_der(pem: &str) -> Option<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).ok()
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
    let tmp = path.with_extension("tmp");
    write_new(&tmp, contents, mode)?;
    std::fs::rename(&tmp, path).map_err(|source| DevPkiError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Writes `contents` to `path` with `mode` and syncs it.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), DevPkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| DevPkiError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(error)?;
    file.write_all(contents).map_err(error)?;
    file.sync_all().map_err(error)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sans(pem: &str) -> Vec<String> {
        let der = pem_der(pem).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        san.value
            .general_names
            .iter()
            .map(|name| name.to_string())
            .collect()
    }

    #[test]
    fn servers_are_named_by_their_kubernetes_services() {
        let ca = DevCa::new("test").unwrap();
        let router = sans(&ca.issue("router").unwrap().cert_pem);
        for name in [
            "DNSName(localhost)",
            "DNSName(keyroute-router)",
            "DNSName(keyroute-router.keyroute)",
            "DNSName(keyroute-router.keyroute.svc)",
            "DNSName(keyroute-router.keyroute.svc.cluster.local)",
            "DNSName(keyroute-router-headless.keyroute.svc)",
            "URI(spiffe://keyroute/router)",
            "IPAddress(7f:00:00:01)",
        ] {
            assert!(router.contains(&name.to_owned()), "{name} in {router:?}");
        }
        assert_eq!(service_dns_names("admin"), Vec::<String>::new());
        let platform = sans(&ca.issue_client("platform/acme").unwrap().cert_pem);
        assert_eq!(platform, ["URI(spiffe://keyroute/platform/acme)"]);
    }

    #[test]
    fn a_written_ca_loads_back_and_issues_leaves_it_signed() {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::new("test").unwrap();
        ca.write_dir(dir.path(), &[]).unwrap();
        let loaded = DevCa::load(dir.path()).unwrap();
        assert_eq!(loaded.cert_pem(), ca.cert_pem());
        let leaf = loaded.issue_client("platform/acme").unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pem_der(ca.cert_pem()).unwrap()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            crate::crypto::provider(),
        )
        .build()
        .unwrap();
        verifier
            .verify_client_cert(
                &pem_der(&leaf.cert_pem).unwrap(),
                &[],
                rustls_pki_types::UnixTime::now(),
            )
            .unwrap();
    }

    #[test]
    fn a_key_of_another_ca_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        DevCa::new("one")
            .unwrap()
            .write_dir(dir.path(), &[])
            .unwrap();
        let other = tempfile::tempdir().unwrap();
        DevCa::new("two")
            .unwrap()
            .write_dir(other.path(), &[])
            .unwrap();
        std::fs::copy(other.path().join("ca.key"), dir.path().join("ca.key")).unwrap();
        let error = DevCa::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("private key of ca.crt"), "{error}");
        std::fs::remove_file(dir.path().join("ca.key")).unwrap();
        assert!(matches!(
            DevCa::load(dir.path()),
            Err(DevPkiError::Read { .. })
        ));
    }
}
