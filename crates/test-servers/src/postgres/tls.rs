//! The files a TLS-only server needs: a test CA, a server certificate it signed for
//! `localhost` and 127.0.0.1, and a pg_hba.conf that takes TCP clients only over TLS, so that
//! a client that does not encrypt is refused by the server itself, as a production database
//! that requires TLS would.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::watchdog::Owner;

/// The CA's common name; [`unrelated_ca_pem`] reuses it, so only the key tells them apart.
const CA_NAME: &str = "keyroute test postgres ca";

/// `hostssl` for loopback TCP, nothing else: no `host` or `hostnossl` line matches a plaintext
/// client, which the server then refuses with "no encryption".
const HBA: &str = "\
hostssl all all 127.0.0.1/32 scram-sha-256
hostssl all all ::1/128 scram-sha-256
";

/// Where the server's TLS files are, in its directory.
pub(super) struct TlsFiles {
    /// The CA that signed the server's certificate, for clients.
    pub(super) ca: PathBuf,
    /// `-c` settings that turn TLS on and put the hba file in force.
    pub(super) settings: Vec<String>,
}

/// Writes the CA, the server's certificate and key, and the hba file into `dir`, readable by
/// the server's account (which PostgreSQL checks for the key: 0600, its own).
pub(super) fn write(dir: &Path, owner: Option<Owner>) -> Result<TlsFiles, String> {
    let (ca_key, ca_params) = ca_params()?;
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|error| format!("cannot make the test CA: {error}"))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(|error| format!("cannot make the server certificate: {error}"))?;
    params.distinguished_name = name("localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(|error| format!("cannot make a key: {error}"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|error| format!("cannot sign the server certificate: {error}"))?;

    let files = [
        ("ca.crt", ca_cert.pem(), 0o644),
        ("server.crt", cert.pem(), 0o644),
        ("server.key", key.serialize_pem(), 0o600),
        ("pg_hba.conf", HBA.to_owned(), 0o600),
    ];
    for (file, text, mode) in &files {
        let path = dir.join(file);
        fs::write(&path, text)
            .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(*mode)))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        if let Some(owner) = owner {
            chown(&path, Some(owner.uid), Some(owner.gid))
                .map_err(|error| format!("cannot give {} to postgres: {error}", path.display()))?;
        }
    }
    let setting = |name: &str, file: &str| format!("{name}={}", dir.join(file).display());
    Ok(TlsFiles {
        ca: dir.join("ca.crt"),
        settings: vec![
            "ssl=on".to_owned(),
            setting("ssl_cert_file", "server.crt"),
            setting("ssl_key_file", "server.key"),
            setting("hba_file", "pg_hba.conf"),
        ],
    })
}

/// A CA with the test CA's name and a key of its own: it signed nothing the server has, so a
/// client trusting it must refuse the server. Panics when rcgen fails.
pub fn unrelated_ca_pem() -> String {
    match ca_params().and_then(|(key, params)| {
        params
            .self_signed(&key)
            .map(|cert| cert.pem())
            .map_err(|error| error.to_string())
    }) {
        Ok(pem) => pem,
        Err(error) => panic!("cannot make a CA: {error}"),
    }
}

fn ca_params() -> Result<(KeyPair, CertificateParams), String> {
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|error| format!("cannot make the test CA: {error}"))?;
    params.distinguished_name = name(CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().map_err(|error| format!("cannot make a key: {error}"))?;
    Ok((key, params))
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}
