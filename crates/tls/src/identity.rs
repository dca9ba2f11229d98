//! SPIFFE-style identities: a certificate names its workload by exactly one
//! `spiffe://keyroute/<name>` URI SAN, and authorization is by that name.

use std::fmt;

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// Every keyroute identity lives in this trust domain.
pub const TRUST_DOMAIN_PREFIX: &str = "spiffe://keyroute/";

/// A workload identity such as `spiffe://keyroute/router` or
/// `spiffe://keyroute/platform/billing`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(String);

/// Why a certificate has no usable identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("certificate cannot be parsed")]
    Unparseable,
    #[error("certificate has no spiffe uri san")]
    Missing,
    #[error("certificate has {0} spiffe uri sans; exactly one is required")]
    Several(usize),
    #[error("{0:?} is not a spiffe://keyroute/<name> identity")]
    Invalid(String),
}

impl Identity {
    /// Parses a full URI (`spiffe://keyroute/edge`) or a bare name (`edge`).
    pub fn parse(value: &str) -> Result<Self, IdentityError> {
        let name = value.strip_prefix(TRUST_DOMAIN_PREFIX).unwrap_or(value);
        let valid_segment = |segment: &str| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        };
        if value.contains("://") && !value.starts_with(TRUST_DOMAIN_PREFIX)
            || !name.split('/').all(valid_segment)
        {
            return Err(IdentityError::Invalid(value.to_owned()));
        }
        Ok(Self(format!("{TRUST_DOMAIN_PREFIX}{name}")))
    }

    /// The full URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the trust domain: `router`, `platform/billing`.
    pub fn name(&self) -> &str {
        &self.0[TRUST_DOMAIN_PREFIX.len()..]
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.0)
    }
}

/// The identity of a DER certificate: its single `spiffe://` URI SAN, which must be in the
/// keyroute trust domain.
pub fn identity_of_der(der: &[u8]) -> Result<Identity, IdentityError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| IdentityError::Unparseable)?;
    let san = cert
        .subject_alternative_name()
        .map_err(|_| IdentityError::Unparseable)?;
    let spiffe: Vec<&str> = san
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri) if uri.starts_with("spiffe://") => Some(*uri),
            _ => None,
        })
        .collect();
    match spiffe.as_slice() {
        [] => Err(IdentityError::Missing),
        [uri] if uri.starts_with(TRUST_DOMAIN_PREFIX) => Identity::parse(uri),
        [uri] => Err(IdentityError::Invalid((*uri).to_owned())),
        several => Err(IdentityError::Several(several.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_uris() {
        let router = Identity::parse("router").unwrap();
        assert_eq!(router.as_str(), "spiffe://keyroute/router");
        assert_eq!(router, Identity::parse("spiffe://keyroute/router").unwrap());
        let platform = Identity::parse("spiffe://keyroute/platform/billing").unwrap();
        assert_eq!(platform.name(), "platform/billing");
    }

    #[test]
    fn rejects_foreign_and_malformed() {
        for bad in [
            "spiffe://other/router",
            "https://keyroute/router",
            "",
            "Router",
            "a//b",
            "spiffe://keyroute/",
            "x y",
        ] {
            assert!(Identity::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
