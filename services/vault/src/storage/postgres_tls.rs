//! TLS from the vault to PostgreSQL, on rustls with ring like the rest of keyroute. One mode
//! only: `sslmode=verify-full`, the server's certificate checked against the CA in
//! `--db-ca-file` and against the host name in the URL. libpq's weaker modes are refused: each
//! lets something in the path pose as the database, which then asks for the password in
//! clear text and gets it. `sslmode=disable` (or none) stays plaintext, for private networks.

use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use ::postgres::{Client, Config, NoTls, Socket};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsConnector;

use super::StoreError;

/// Why the database's TLS settings were refused. Names files and modes, never a password.
#[derive(Debug, thiserror::Error)]
pub enum DbTlsError {
    #[error("cannot read {origin}: {source}")]
    Read { origin: String, source: io::Error },
    #[error("{origin} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NotPem { origin: String },
    #[error("{origin}: a certificate cannot be used as a CA: {reason}")]
    BadCa { origin: String, reason: String },
    #[error("sslmode={mode} is refused: {why}; use sslmode=verify-full with --db-ca-file")]
    Refused { mode: String, why: &'static str },
    #[error("sslmode={0} is not a PostgreSQL sslmode; use disable or verify-full")]
    Unknown(String),
    #[error("the PostgreSQL URL gives sslmode more than once")]
    TwoModes,
    #[error(
        "{0} in the PostgreSQL URL: give the CA in --db-ca-file (KEYROUTE_VAULT_DB_CA_FILE); \
         client certificates are not supported"
    )]
    FileInUrl(String),
    #[error(
        "sslmode=verify-full needs the CA that signed the database's certificate: give \
         --db-ca-file (or KEYROUTE_VAULT_DB_CA_FILE)"
    )]
    NoCa,
    #[error(
        "a database CA (--db-ca-file) is only used with sslmode=verify-full in the PostgreSQL \
         URL"
    )]
    CaWithoutVerifyFull,
    #[error("sslmode=verify-full needs a TCP host name or address in the URL, not a socket")]
    NotTcp,
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// The CA certificates `sslmode=verify-full` trusts, read once at start (a mounted Secret or
/// ConfigMap; a rotated CA takes a restart, like the password).
#[derive(Clone)]
pub struct DbCa {
    roots: Arc<RootCertStore>,
    origin: String,
}

impl std::fmt::Debug for DbCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbCa")
            .field("from", &self.origin)
            .field("certificates", &self.roots.len())
            .finish()
    }
}

impl DbCa {
    /// Reads PEM certificates from `path`; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self, DbTlsError> {
        let origin = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| DbTlsError::Read {
            origin: origin.clone(),
            source,
        })?;
        Self::from_pem(&pem, &origin)
    }

    /// PEM certificates from memory; `origin` names them in errors.
    pub fn from_pem(pem: &[u8], origin: &str) -> Result<Self, DbTlsError> {
        let not_pem = || DbTlsError::NotPem {
            origin: origin.to_owned(),
        };
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| not_pem())?;
        if certs.is_empty() {
            return Err(not_pem());
        }
        let mut roots = RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|error| DbTlsError::BadCa {
                origin: origin.to_owned(),
                reason: error.to_string(),
            })?;
        }
        Ok(Self {
            roots: Arc::new(roots),
            origin: origin.to_owned(),
        })
    }
}

/// What the URL's `sslmode` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Disable,
    VerifyFull,
}

/// Takes `sslmode` out of the URL (the client library knows no verify-full: the vault does
/// the verifying) and says which mode it asked for. Refuses every mode but disable and
/// verify-full, and TLS files in the URL.
pub(super) fn split_sslmode(url: &str) -> Result<(String, Mode), DbTlsError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Mode::Disable));
    };
    let mut kept = Vec::new();
    let mut mode = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match &*decode(key) {
            "sslmode" => {
                if mode.replace(decode(value).into_owned()).is_some() {
                    return Err(DbTlsError::TwoModes);
                }
            }
            file @ ("sslrootcert" | "sslcert" | "sslkey" | "sslpassword" | "sslcrl") => {
                return Err(DbTlsError::FileInUrl(file.to_owned()));
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let why = match mode.as_deref() {
        None | Some("disable") => return Ok((url, Mode::Disable)),
        Some("verify-full") => return Ok((url, Mode::VerifyFull)),
        Some("require") => {
            "it encrypts but does not check who answers, so anyone in the path could pose as \
             the database and be handed its password"
        }
        Some("prefer") => {
            "it falls back to plaintext and does not check who answers, so anyone in the path \
             could pose as the database and be handed its password"
        }
        Some("allow") => {
            "it tries plaintext first and does not check who answers, so anyone in the path \
             could pose as the database and be handed its password"
        }
        Some("verify-ca") => {
            "it checks the CA but not the host name, so any server with a certificate from that \
             CA could pose as the database and be handed its password"
        }
        Some(other) => return Err(DbTlsError::Unknown(other.to_owned())),
    };
    Err(DbTlsError::Refused {
        mode: mode.unwrap_or_default(),
        why,
    })
}

/// `%XX` escapes undone, as the client library reads URL parameters.
fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// verify-full's TLS: a client config that trusts `ca` alone. Refuses a socket host, where
/// there is no name to verify.
pub(super) fn verify_full(config: &Config, ca: &DbCa) -> Result<MakeRustls, DbTlsError> {
    if config
        .get_hosts()
        .iter()
        .any(|host| !matches!(host, ::postgres::config::Host::Tcp(_)))
    {
        return Err(DbTlsError::NotTcp);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| DbTlsError::Setup(error.to_string()))?
        .with_root_certificates(ca.roots.clone())
        .with_no_client_auth();
    // What libpq sends since PostgreSQL 17, whose servers check it when a client offers one
    // (and need it for sslnegotiation=direct); older servers ignore it.
    tls.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(MakeRustls {
        config: Arc::new(tls),
    })
}

/// Connects, over TLS when `tls` is set. Blocking. A failure says its cause (refused,
/// timed out, the certificate that did not verify), which the client library's own message
/// leaves out; nothing at this stage carries a row's values or the password.
pub(super) fn connect(config: &Config, tls: Option<&MakeRustls>) -> Result<Client, StoreError> {
    let connected = match tls {
        Some(tls) => config.connect(tls.clone()),
        None => config.connect(NoTls),
    };
    connected.map_err(|error| {
        match std::error::Error::source(&error).filter(|_| error.as_db_error().is_none()) {
            Some(cause) => StoreError::Backend(format!("{error}: {cause}")),
            None => StoreError::from(error),
        }
    })
}

/// Makes a TLS connector for each connection, for the host name it goes to.
#[derive(Clone)]
pub(super) struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host:?} is not a host name a certificate can be checked against"),
            )
        })?;
        Ok(RustlsConnect {
            name,
            connector: TlsConnector::from(self.config.clone()),
        })
    }
}

/// One connection's handshake.
pub(super) struct RustlsConnect {
    name: ServerName<'static>,
    connector: TlsConnector,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            self.connector
                .connect(self.name, stream)
                .await
                .map(|stream| RustlsStream(Box::new(stream)))
                .map_err(explain)
        })
    }
}

/// Says so when the server's certificate did not verify, the mistake operators make (a wrong
/// CA file, a host name the certificate does not carry).
fn explain(error: io::Error) -> io::Error {
    let rejected = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::InvalidCertificate(why) => Some(why.to_string()),
            _ => None,
        });
    match rejected {
        Some(why) => io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the PostgreSQL server's certificate did not verify against the CA in \
                 --db-ca-file and the URL's host name: {why}"
            ),
        ),
        None => error,
    }
}

/// A TLS connection to the database.
pub(super) struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl TlsStream for RustlsStream {
    /// `tls-server-end-point` (RFC 5929): SCRAM then binds the login to this TLS session, so
    /// even a proxy holding a trusted certificate cannot relay it. None for signature
    /// algorithms without a hash of their own (Ed25519); SCRAM goes on without binding then.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        let Some(leaf) = session.peer_certificates().and_then(|certs| certs.first()) else {
            return ChannelBinding::none();
        };
        match end_point_digest(leaf) {
            Some(algorithm) => ChannelBinding::tls_server_end_point(
                ring::digest::digest(algorithm, leaf.as_ref())
                    .as_ref()
                    .to_vec(),
            ),
            None => ChannelBinding::none(),
        }
    }
}

/// The hash of the certificate's signature algorithm, SHA-256 for MD5 and SHA-1 (RFC 5929
/// section 4.1), as PostgreSQL computes it on its side.
fn end_point_digest(cert: &CertificateDer<'_>) -> Option<&'static ring::digest::Algorithm> {
    use x509_parser::oid_registry as oid;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let algorithm = &parsed.signature_algorithm.algorithm;
    let sha256 = [
        oid::OID_PKCS1_MD5WITHRSAENC,
        oid::OID_PKCS1_SHA1WITHRSA,
        oid::OID_PKCS1_SHA256WITHRSA,
        oid::OID_SIG_ECDSA_WITH_SHA256,
    ];
    let sha384 = [oid::OID_PKCS1_SHA384WITHRSA, oid::OID_SIG_ECDSA_WITH_SHA384];
    let sha512 = [oid::OID_PKCS1_SHA512WITHRSA, oid::OID_SIG_ECDSA_WITH_SHA512];
    if sha256.contains(algorithm) {
        Some(&ring::digest::SHA256)
    } else if sha384.contains(algorithm) {
        Some(&ring::digest::SHA384)
    } else if sha512.contains(algorithm) {
        Some(&ring::digest::SHA512)
    } else {
        None
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{DbCa, DbTlsError, Mode, split_sslmode};

    #[test]
    fn sslmode_is_taken_out_of_the_url_and_only_disable_and_verify_full_pass() {
        let split = |url: &str| split_sslmode(url).unwrap();
        let plain = "postgres://vault@db:5432/keyroute";
        assert_eq!(split(plain), (plain.to_owned(), Mode::Disable));
        assert_eq!(
            split("postgres://vault@db/k?sslmode=disable"),
            ("postgres://vault@db/k".to_owned(), Mode::Disable)
        );
        assert_eq!(
            split("postgres://vault@db/k?connect_timeout=3&sslmode=verify-full&options=-c%20x"),
            (
                "postgres://vault@db/k?connect_timeout=3&options=-c%20x".to_owned(),
                Mode::VerifyFull
            )
        );
        assert_eq!(
            split("postgres://vault@db/k?ssl%6Dode=verify%2Dfull").1,
            Mode::VerifyFull
        );
        for (mode, says) in [
            ("require", "does not check who answers"),
            ("prefer", "falls back to plaintext"),
            ("allow", "tries plaintext first"),
            ("verify-ca", "not the host name"),
        ] {
            let error = split_sslmode(&format!("postgres://vault@db/k?sslmode={mode}"))
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(&format!("sslmode={mode} is refused: ")),
                "{error}"
            );
            assert!(error.contains(says), "{error}");
            assert!(error.contains("password"), "{error}");
            assert!(
                error.contains("use sslmode=verify-full with --db-ca-file"),
                "{error}"
            );
        }
        assert!(matches!(
            split_sslmode("postgres://vault@db/k?sslmode=verify-full&sslmode=disable"),
            Err(DbTlsError::TwoModes)
        ));
        assert!(matches!(
            split_sslmode("postgres://vault@db/k?sslmode=strict"),
            Err(DbTlsError::Unknown(_))
        ));
        let in_url = split_sslmode("postgres://vault@db/k?sslmode=verify-full&sslrootcert=/ca")
            .unwrap_err()
            .to_string();
        assert!(in_url.contains("--db-ca-file"), "{in_url}");
    }

    #[test]
    fn verify_full_needs_a_ca_and_a_ca_needs_verify_full() {
        let no_ca =
            super::super::PostgresSettings::new("postgres://vault@db/k?sslmode=verify-full", None)
                .unwrap_err();
        assert!(no_ca.contains("--db-ca-file"), "{no_ca}");
        let pem = keyroute_test_servers::postgres::unrelated_ca_pem();
        let ca = DbCa::from_pem(pem.as_bytes(), "ca.pem").unwrap();
        for url in [
            "postgres://vault@db/k",
            "postgres://vault@db/k?sslmode=disable",
        ] {
            let unused = super::super::PostgresSettings::with_ca(url, None, Some(&ca)).unwrap_err();
            assert!(
                unused.contains("only used with sslmode=verify-full"),
                "{unused}"
            );
        }
        let socket = "postgres://vault@%2Frun%2Fpostgresql/k?sslmode=verify-full";
        let error = super::super::PostgresSettings::with_ca(socket, None, Some(&ca)).unwrap_err();
        assert!(error.contains("TCP host"), "{error}");
        let settings = super::super::PostgresSettings::with_ca(
            "postgres://vault@db.internal:5432/k?sslmode=verify-full",
            None,
            Some(&ca),
        )
        .unwrap();
        assert_eq!(
            settings.url,
            "postgres://vault@db.internal:5432/k?sslmode=verify-full"
        );
        assert!(format!("{settings:?}").contains("verify-full"));
        let config = settings.config().unwrap();
        assert_eq!(config.get_ssl_mode(), ::postgres::config::SslMode::Require);
        let plain = super::super::PostgresSettings::new("postgres://vault@db/k", None).unwrap();
        let config = plain.config().unwrap();
        assert_eq!(config.get_ssl_mode(), ::postgres::config::SslMode::Disable);
    }

    #[test]
    fn a_ca_file_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = DbCa::from_file(&path).unwrap_err().to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains("no PEM certificate"), "{error}");

        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let error = DbCa::from_file(&path).unwrap_err().to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");

        let missing = dir.path().join("absent.pem");
        let error = DbCa::from_file(&missing).unwrap_err().to_string();
        assert!(error.contains("cannot read"), "{error}");
        assert!(error.contains(&missing.display().to_string()), "{error}");
    }
}
