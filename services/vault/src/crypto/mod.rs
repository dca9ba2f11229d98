//! Envelope encryption: every credential secret is sealed under its own random data key,
//! and the data key is wrapped by the key-encryption key (KEK) from the keyring file.

mod envelope;
mod keyring;

pub use envelope::{
    AAD_VERSION, AAD_VERSION_LEGACY, CryptoError, SealContext, Sealed, open, refresh, rewrap, seal,
};
pub use keyring::{KEYRING_FORMAT, Kek, Keyring, KeyringError};

/// Fills `buf` from the operating system's CSPRNG: every key, nonce and token comes from here.
pub fn fill_random(buf: &mut [u8]) {
    use aes_gcm::aead::rand_core::RngCore;
    aes_gcm::aead::OsRng.fill_bytes(buf);
}
