//! Sealing and opening one credential secret.
//!
//! The secret is encrypted with a fresh 256-bit data key (AES-256-GCM, random 96-bit nonce)
//! whose AAD binds it to its row: seal format, credential id, owner and provider. The data key
//! is encrypted with the KEK under an AAD that adds the KEK version. A ciphertext moved to
//! another row, a flipped bit, or a KEK version relabelled in the database fails to open.
//! Rotation rewraps only the data key: the sealed secret itself is never touched.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use zeroize::Zeroizing;

use super::fill_random;
use super::keyring::{Kek, Keyring, KeyringError};

const SECRET_AAD_LABEL: &[u8] = b"keyroute/secret/v1";
const DATA_KEY_AAD_LABEL: &[u8] = b"keyroute/data-key/v1";

/// The row a secret belongs to; every field goes into the AAD.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub credential_id: &'a str,
    pub owner_id: &'a str,
    pub provider: &'a str,
}

impl SealContext<'_> {
    fn aad(&self, label: &[u8], kek_version: Option<u32>) -> Vec<u8> {
        let mut aad = Vec::with_capacity(96);
        for part in [
            label,
            self.credential_id.as_bytes(),
            self.owner_id.as_bytes(),
            self.provider.as_bytes(),
        ] {
            // Length-prefixed, so that ("ab","c") and ("a","bc") differ.
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part);
        }
        if let Some(version) = kek_version {
            aad.extend_from_slice(&version.to_be_bytes());
        }
        aad
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
}

/// Why a secret could not be sealed or opened. Never carries key or plaintext material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("integrity check failed: the ciphertext was altered or belongs to another row")]
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
    let aad = context.aad(DATA_KEY_AAD_LABEL, Some(kek.version()));
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
    let aad = context.aad(DATA_KEY_AAD_LABEL, Some(sealed.kek_version));
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

/// Seals `secret` for the row `context` under the keyring's active KEK.
pub fn seal(
    secret: &[u8],
    keyring: &Keyring,
    context: &SealContext<'_>,
) -> Result<Sealed, CryptoError> {
    let mut data_key = Zeroizing::new([0u8; 32]);
    fill_random(data_key.as_mut());
    let nonce = random_nonce();
    let aad = context.aad(SECRET_AAD_LABEL, None);
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
    })
}

/// Opens a sealed secret; the plaintext is zeroized when dropped.
pub fn open(
    sealed: &Sealed,
    keyring: &Keyring,
    context: &SealContext<'_>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let data_key = unwrap_key(sealed, keyring, context)?;
    let aad = context.aad(SECRET_AAD_LABEL, None);
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

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: SealContext<'static> = SealContext {
        credential_id: "cred_1",
        owner_id: "usr_1",
        provider: "openai",
    };

    #[test]
    fn seal_open_round_trip_hides_plaintext() {
        let keyring = Keyring::generate();
        let sealed = seal(b"sk-canary-secret", &keyring, &ROW).unwrap();
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"canary"));
        assert_eq!(
            open(&sealed, &keyring, &ROW).unwrap().as_slice(),
            b"sk-canary-secret"
        );
    }

    #[test]
    fn another_row_or_a_flipped_bit_fails_to_open() {
        let keyring = Keyring::generate();
        let sealed = seal(b"secret", &keyring, &ROW).unwrap();
        for other in [
            SealContext {
                credential_id: "cred_2",
                ..ROW
            },
            SealContext {
                owner_id: "usr_2",
                ..ROW
            },
            SealContext {
                provider: "anthropic",
                ..ROW
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
                matches!(open(&bad, &keyring, &ROW), Err(CryptoError::Integrity)),
                "field {field}"
            );
        }
        let relabelled = Sealed {
            kek_version: 2,
            ..sealed.clone()
        };
        assert!(open(&relabelled, &keyring, &ROW).is_err());
        let truncated = Sealed {
            nonce: vec![0; 4],
            ..sealed
        };
        assert!(matches!(
            open(&truncated, &keyring, &ROW),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn rewrap_moves_to_the_active_version_and_survives_retirement() {
        let mut keyring = Keyring::generate();
        let sealed = seal(b"secret", &keyring, &ROW).unwrap();
        keyring.add_version();
        let rewrapped = rewrap(&sealed, &keyring, &ROW).unwrap();
        assert_eq!(rewrapped.kek_version, 2);
        assert_eq!(rewrapped.ciphertext, sealed.ciphertext);
        keyring.retire(1).unwrap();
        assert_eq!(
            open(&rewrapped, &keyring, &ROW).unwrap().as_slice(),
            b"secret"
        );
        assert!(matches!(
            open(&sealed, &keyring, &ROW),
            Err(CryptoError::Keyring(_))
        ));
    }
}
