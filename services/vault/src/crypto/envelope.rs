//! Sealing and opening one credential secret.
//!
//! The secret is encrypted with a fresh 256-bit data key (AES-256-GCM, random 96-bit nonce)
//! whose AAD binds it to its row: seal format, credential id, owner, provider and (from AAD
//! version 2) the credential's routing config. The data key is encrypted with the KEK under an
//! AAD that adds the KEK version. A ciphertext moved to another row, a flipped bit, a KEK
//! version relabelled in the database, or a routing config edited in the database (a key
//! pointed at another endpoint, base URL, deployment, region...) fails to open.
//! Rotation rewraps only the data key: the sealed secret itself is never touched.
//!
//! Why the config is in the AAD rather than under a separate MAC: the AAD is what AES-GCM
//! already authenticates together with the secret, so one check covers both and there is no
//! second key to derive, store or forget to verify; the secret cannot be decrypted at all
//! without the config it was sealed with. The cost is that a config change re-seals the
//! secret, which is what an update does anyway (a new secret comes with every config change).
//!
//! AAD versions (the `aad_version` column of each row):
//! - 1: label `keyroute/secret/v1`, credential id, owner, provider. Rows written before the
//!   config was bound. They still open, and the vault re-seals them as version 2 at start
//!   (and KEK rotation re-seals any it finds), see [`refresh`].
//! - 2: label `keyroute/secret/v2`, the same fields, then the config in a canonical,
//!   order-independent encoding: the number of entries, then each key and value in byte order
//!   of the keys, every string length-prefixed. The map that is authenticated is the one the
//!   vault parsed from the row and hands out in leases.
//!
//! A version-2 ciphertext relabelled as version 1 in the database fails to open (the labels
//! differ). A version-1 row restored from a backup taken before the upgrade opens as version
//! 1 until it is re-sealed; rotating the KEK and retiring the old version makes such copies
//! unopenable.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use zeroize::Zeroizing;

use super::fill_random;
use super::keyring::{Kek, Keyring, KeyringError};

const SECRET_AAD_LABEL_V1: &[u8] = b"keyroute/secret/v1";
const SECRET_AAD_LABEL_V2: &[u8] = b"keyroute/secret/v2";
const DATA_KEY_AAD_LABEL: &[u8] = b"keyroute/data-key/v1";

/// The AAD version of rows sealed before the routing config was authenticated.
pub const AAD_VERSION_LEGACY: u32 = 1;
/// The AAD version every new seal uses: the routing config is authenticated too.
pub const AAD_VERSION: u32 = 2;

/// The row a secret belongs to; every field goes into the AAD.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub credential_id: &'a str,
    pub owner_id: &'a str,
    pub provider: &'a str,
    /// The routing config (endpoint, base URL, deployment, region, ...), from AAD version 2.
    pub config: &'a BTreeMap<String, String>,
}

/// Appends `part` length-prefixed, so that ("ab","c") and ("a","bc") differ.
fn push_part(aad: &mut Vec<u8>, part: &[u8]) {
    aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
    aad.extend_from_slice(part);
}

impl SealContext<'_> {
    fn row(&self, label: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(128);
        for part in [
            label,
            self.credential_id.as_bytes(),
            self.owner_id.as_bytes(),
            self.provider.as_bytes(),
        ] {
            push_part(&mut aad, part);
        }
        aad
    }

    /// The AAD of the data key: the row and the KEK version (the same in every AAD version).
    fn data_key_aad(&self, kek_version: u32) -> Vec<u8> {
        let mut aad = self.row(DATA_KEY_AAD_LABEL);
        aad.extend_from_slice(&kek_version.to_be_bytes());
        aad
    }

    /// The AAD of the secret in `aad_version`'s format.
    fn secret_aad(&self, aad_version: u32) -> Result<Vec<u8>, CryptoError> {
        match aad_version {
            AAD_VERSION_LEGACY => Ok(self.row(SECRET_AAD_LABEL_V1)),
            AAD_VERSION => {
                let mut aad = self.row(SECRET_AAD_LABEL_V2);
                // A BTreeMap iterates in byte order of its keys: the encoding does not depend
                // on the order the config was written or stored in.
                aad.extend_from_slice(&(self.config.len() as u32).to_be_bytes());
                for (key, value) in self.config {
                    push_part(&mut aad, key.as_bytes());
                    push_part(&mut aad, value.as_bytes());
                }
                Ok(aad)
            }
            _ => Err(CryptoError::Malformed("unknown aad version")),
        }
    }
}

/// What the database stores for a secret: nothing here is sensitive on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
    pub wrapped_key: Vec<u8>,
    pub key_nonce: Vec<u8>,
    pub kek_version: u32,
    /// Which AAD the secret was sealed with ([`AAD_VERSION_LEGACY`] or [`AAD_VERSION`]).
    pub aad_version: u32,
}

/// Why a secret could not be sealed or opened. Never carries key or plaintext material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("integrity check failed: the sealed secret, its routing config or its row was altered")]
    Integrity,
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("encryption failed")]
    Encrypt,
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

fn random_nonce() -> [u8; 12] {
    let mut nonce = [0u8; 12];
    fill_random(&mut nonce);
    nonce
}

fn nonce_of(bytes: &[u8]) -> Result<&Nonce<aes_gcm::aead::consts::U12>, CryptoError> {
    if bytes.len() != 12 {
        return Err(CryptoError::Malformed("nonce is not 96 bits"));
    }
    Ok(Nonce::from_slice(bytes))
}

fn wrap_key(
    data_key: &[u8; 32],
    kek: &Kek,
    context: &SealContext<'_>,
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let nonce = random_nonce();
    let aad = context.data_key_aad(kek.version());
    let wrapped = cipher(kek.key())
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: data_key,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    Ok((wrapped, nonce.to_vec()))
}

fn unwrap_key(
    sealed: &Sealed,
    keyring: &Keyring,
    context: &SealContext<'_>,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let kek = keyring.get(sealed.kek_version)?;
    let aad = context.data_key_aad(sealed.kek_version);
    let plain = Zeroizing::new(
        cipher(kek.key())
            .decrypt(
                nonce_of(&sealed.key_nonce)?,
                Payload {
                    msg: &sealed.wrapped_key,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Integrity)?,
    );
    let key: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Malformed("data key is not 256 bits"))?;
    Ok(Zeroizing::new(key))
}

/// Seals `secret` for the row `context` (its config included) under the keyring's active
/// KEK, in the current AAD version.
pub fn seal(
    secret: &[u8],
    keyring: &Keyring,
    context: &SealContext<'_>,
) -> Result<Sealed, CryptoError> {
    let mut data_key = Zeroizing::new([0u8; 32]);
    fill_random(data_key.as_mut());
    let nonce = random_nonce();
    let aad = context.secret_aad(AAD_VERSION)?;
    let ciphertext = cipher(&data_key)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let kek = keyring.active();
    let (wrapped_key, key_nonce) = wrap_key(&data_key, kek, context)?;
    Ok(Sealed {
        ciphertext,
        nonce: nonce.to_vec(),
        wrapped_key,
        key_nonce,
        kek_version: kek.version(),
        aad_version: AAD_VERSION,
    })
}

/// Opens a sealed secret with the AAD of its version; the plaintext is zeroized when dropped.
pub fn open(
    sealed: &Sealed,
    keyring: &Keyring,
    context: &SealContext<'_>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let aad = context.secret_aad(sealed.aad_version)?;
    let data_key = unwrap_key(sealed, keyring, context)?;
    cipher(&data_key)
        .decrypt(
            nonce_of(&sealed.nonce)?,
            Payload {
                msg: &sealed.ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Integrity)
}

/// Rewraps the data key under the active KEK; the secret's ciphertext is unchanged.
pub fn rewrap(
    sealed: &Sealed,
    keyring: &Keyring,
    context: &SealContext<'_>,
) -> Result<Sealed, CryptoError> {
    let data_key = unwrap_key(sealed, keyring, context)?;
    let kek = keyring.active();
    let (wrapped_key, key_nonce) = wrap_key(&data_key, kek, context)?;
    Ok(Sealed {
        wrapped_key,
        key_nonce,
        kek_version: kek.version(),
        ..sealed.clone()
    })
}

/// Brings a sealed secret to the active KEK and the current AAD version, after proving that
/// it opens (data key and secret both, so a row whose secret or config was altered is
/// refused here, not carried along): a row in the current AAD version is rewrapped (its
/// ciphertext unchanged), an older one is re-sealed under a fresh data key.
pub fn refresh(
    sealed: &Sealed,
    keyring: &Keyring,
    context: &SealContext<'_>,
) -> Result<Sealed, CryptoError> {
    let secret = open(sealed, keyring, context)?;
    if sealed.aad_version == AAD_VERSION {
        rewrap(sealed, keyring, context)
    } else {
        seal(&secret, keyring, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn row(config: &BTreeMap<String, String>) -> SealContext<'_> {
        SealContext {
            credential_id: "cred_1",
            owner_id: "usr_1",
            provider: "openai",
            config,
        }
    }

    /// Seals the way vaults did before the config was authenticated (AAD version 1).
    fn seal_legacy(secret: &[u8], keyring: &Keyring, context: &SealContext<'_>) -> Sealed {
        let data_key = [7u8; 32];
        let nonce = random_nonce();
        let aad = context.secret_aad(AAD_VERSION_LEGACY).unwrap();
        let ciphertext = cipher(&data_key)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .unwrap();
        let (wrapped_key, key_nonce) = wrap_key(&data_key, keyring.active(), context).unwrap();
        Sealed {
            ciphertext,
            nonce: nonce.to_vec(),
            wrapped_key,
            key_nonce,
            kek_version: keyring.active().version(),
            aad_version: AAD_VERSION_LEGACY,
        }
    }

    #[test]
    fn seal_open_round_trip_hides_plaintext() {
        let keyring = Keyring::generate();
        let empty = BTreeMap::new();
        let sealed = seal(b"sk-canary-secret", &keyring, &row(&empty)).unwrap();
        assert_eq!(sealed.aad_version, AAD_VERSION);
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"canary"));
        assert_eq!(
            open(&sealed, &keyring, &row(&empty)).unwrap().as_slice(),
            b"sk-canary-secret"
        );
    }

    #[test]
    fn another_row_or_a_flipped_bit_fails_to_open() {
        let keyring = Keyring::generate();
        let empty = BTreeMap::new();
        let row = row(&empty);
        let sealed = seal(b"secret", &keyring, &row).unwrap();
        for other in [
            SealContext {
                credential_id: "cred_2",
                ..row
            },
            SealContext {
                owner_id: "usr_2",
                ..row
            },
            SealContext {
                provider: "anthropic",
                ..row
            },
        ] {
            assert!(matches!(
                open(&sealed, &keyring, &other),
                Err(CryptoError::Integrity)
            ));
        }
        for field in 0..4 {
            let mut bad = sealed.clone();
            let fields = [
                &mut bad.ciphertext,
                &mut bad.nonce,
                &mut bad.wrapped_key,
                &mut bad.key_nonce,
            ];
            fields[field][0] ^= 1;
            assert!(
                matches!(open(&bad, &keyring, &row), Err(CryptoError::Integrity)),
                "field {field}"
            );
        }
        let relabelled = Sealed {
            kek_version: 2,
            ..sealed.clone()
        };
        assert!(open(&relabelled, &keyring, &row).is_err());
        let downgraded = Sealed {
            aad_version: AAD_VERSION_LEGACY,
            ..sealed.clone()
        };
        assert!(matches!(
            open(&downgraded, &keyring, &row),
            Err(CryptoError::Integrity)
        ));
        let unknown = Sealed {
            aad_version: 9,
            ..sealed.clone()
        };
        assert!(matches!(
            open(&unknown, &keyring, &row),
            Err(CryptoError::Malformed(_))
        ));
        let truncated = Sealed {
            nonce: vec![0; 4],
            ..sealed
        };
        assert!(matches!(
            open(&truncated, &keyring, &row),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn the_config_is_authenticated_in_any_order_and_any_change_fails() {
        let keyring = Keyring::generate();
        let sealed_with = config(&[
            ("endpoint", "https://res.openai.azure.com"),
            ("deployment", "gpt-4o"),
        ]);
        let sealed = seal(b"secret", &keyring, &row(&sealed_with)).unwrap();
        let reordered = config(&[
            ("deployment", "gpt-4o"),
            ("endpoint", "https://res.openai.azure.com"),
        ]);
        assert_eq!(
            open(&sealed, &keyring, &row(&reordered))
                .unwrap()
                .as_slice(),
            b"secret"
        );
        for edited in [
            config(&[
                ("endpoint", "https://evil.example"),
                ("deployment", "gpt-4o"),
            ]),
            config(&[("endpoint", "https://res.openai.azure.com")]),
            config(&[
                ("endpoint", "https://res.openai.azure.com"),
                ("deployment", "gpt-4o"),
                ("api_version", "2024-10-21"),
            ]),
            // The same bytes split differently between key and value.
            config(&[
                ("endpoint", "https://res.openai.azure.com"),
                ("deploymentg", "pt-4o"),
            ]),
            BTreeMap::new(),
        ] {
            assert!(
                matches!(
                    open(&sealed, &keyring, &row(&edited)),
                    Err(CryptoError::Integrity)
                ),
                "{edited:?}"
            );
        }
    }

    #[test]
    fn legacy_rows_open_and_refresh_binds_their_config() {
        let keyring = Keyring::generate();
        let stored = config(&[("base_url", "https://api.example/v1")]);
        let legacy = seal_legacy(b"secret", &keyring, &row(&stored));
        // Version 1 did not authenticate the config: any config opens it.
        let edited = config(&[("base_url", "https://evil.example/v1")]);
        assert!(open(&legacy, &keyring, &row(&edited)).is_ok());
        assert_eq!(
            open(&legacy, &keyring, &row(&stored)).unwrap().as_slice(),
            b"secret"
        );
        let refreshed = refresh(&legacy, &keyring, &row(&stored)).unwrap();
        assert_eq!(refreshed.aad_version, AAD_VERSION);
        assert_ne!(refreshed.ciphertext, legacy.ciphertext);
        assert_eq!(
            open(&refreshed, &keyring, &row(&stored))
                .unwrap()
                .as_slice(),
            b"secret"
        );
        assert!(matches!(
            open(&refreshed, &keyring, &row(&edited)),
            Err(CryptoError::Integrity)
        ));
    }

    #[test]
    fn refresh_refuses_what_does_not_open() {
        let mut keyring = Keyring::generate();
        let empty = BTreeMap::new();
        let sealed = seal(b"secret", &keyring, &row(&empty)).unwrap();
        keyring.add_version();
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        // Rewrapping alone would not notice: only the data key is touched.
        assert!(rewrap(&flipped, &keyring, &row(&empty)).is_ok());
        assert!(matches!(
            refresh(&flipped, &keyring, &row(&empty)),
            Err(CryptoError::Integrity)
        ));
        let refreshed = refresh(&sealed, &keyring, &row(&empty)).unwrap();
        assert_eq!(refreshed.kek_version, 2);
        assert_eq!(refreshed.ciphertext, sealed.ciphertext);
    }

    #[test]
    fn rewrap_moves_to_the_active_version_and_survives_retirement() {
        let mut keyring = Keyring::generate();
        let empty = BTreeMap::new();
        let row = row(&empty);
        let sealed = seal(b"secret", &keyring, &row).unwrap();
        keyring.add_version();
        let rewrapped = rewrap(&sealed, &keyring, &row).unwrap();
        assert_eq!(rewrapped.kek_version, 2);
        assert_eq!(rewrapped.ciphertext, sealed.ciphertext);
        keyring.retire(1).unwrap();
        assert_eq!(
            open(&rewrapped, &keyring, &row).unwrap().as_slice(),
            b"secret"
        );
        assert!(matches!(
            open(&sealed, &keyring, &row),
            Err(CryptoError::Keyring(_))
        ));
    }
}
