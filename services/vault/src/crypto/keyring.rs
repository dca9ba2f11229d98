//! The KEK keyring: versioned 256-bit keys in a file (a Kubernetes Secret mount), one of them
//! active. New data keys are wrapped with the active version; older versions stay readable
//! until rotation has rewrapped every data key and the operator retires them.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// The `format` field of every keyring file.
pub const KEYRING_FORMAT: &str = "keyroute-keyring/v1";

/// One key-encryption key. Zeroized on drop; never printed.
pub struct Kek {
    version: u32,
    key: Zeroizing<[u8; 32]>,
}

impl Kek {
    pub fn version(&self) -> u32 {
        self.version
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek(v{}, [redacted])", self.version)
    }
}

/// Why a keyring cannot be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("cannot read kek file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write kek file {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("kek file {path} is malformed: {reason}")]
    Malformed { path: String, reason: String },
    #[error("kek version {0} is not in the keyring")]
    MissingVersion(u32),
    #[error("kek version {0} is active and cannot be retired")]
    RetireActive(u32),
}

/// Versioned KEKs, one active.
#[derive(Debug)]
pub struct Keyring {
    keys: BTreeMap<u32, Kek>,
    active: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    format: String,
    active: u32,
    keys: Vec<KeyFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    key: String,
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl Keyring {
    /// A keyring with one fresh random key, version 1.
    pub fn generate() -> Self {
        let mut keyring = Self {
            keys: BTreeMap::new(),
            active: 0,
        };
        keyring.add_version();
        keyring
    }

    /// Adds a fresh random key as the next version and makes it active; returns its version.
    pub fn add_version(&mut self) -> u32 {
        let version = self.keys.keys().next_back().map_or(1, |last| last + 1);
        let mut key = Zeroizing::new([0u8; 32]);
        super::fill_random(key.as_mut());
        self.keys.insert(version, Kek { version, key });
        self.active = version;
        version
    }

    /// Removes an inactive version.
    pub fn retire(&mut self, version: u32) -> Result<(), KeyringError> {
        if version == self.active {
            return Err(KeyringError::RetireActive(version));
        }
        self.keys
            .remove(&version)
            .map(drop)
            .ok_or(KeyringError::MissingVersion(version))
    }

    pub fn active(&self) -> &Kek {
        // `active` always names a present key: every constructor and mutator keeps it so.
        &self.keys[&self.active]
    }

    pub fn get(&self, version: u32) -> Result<&Kek, KeyringError> {
        self.keys
            .get(&version)
            .ok_or(KeyringError::MissingVersion(version))
    }

    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Reads and validates a keyring file: known format, unique versions, 32-byte keys, the
    /// active version present.
    pub fn load(path: &Path) -> Result<Self, KeyringError> {
        let shown = path.display().to_string();
        let malformed = |reason: &str| KeyringError::Malformed {
            path: shown.clone(),
            reason: reason.to_owned(),
        };
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|error| KeyringError::Read {
                    path: shown.clone(),
                    reason: error.to_string(),
                })?,
            );
        // serde_json's messages quote no input values, but keep them out anyway.
        let file: KeyringFile =
            serde_json::from_str(&text).map_err(|_| malformed("not a keyroute keyring json"))?;
        if file.format != KEYRING_FORMAT {
            return Err(malformed(&format!("format must be {KEYRING_FORMAT:?}")));
        }
        let mut keys = BTreeMap::new();
        for entry in &file.keys {
            if entry.version == 0 {
                return Err(malformed("key versions start at 1"));
            }
            let bytes =
                Zeroizing::new(BASE64.decode(entry.key.trim()).map_err(|_| {
                    malformed(&format!("key version {} is not base64", entry.version))
                })?);
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                malformed(&format!("key version {} is not 32 bytes", entry.version))
            })?;
            let kek = Kek {
                version: entry.version,
                key: Zeroizing::new(key),
            };
            if keys.insert(entry.version, kek).is_some() {
                return Err(malformed(&format!(
                    "key version {} appears twice",
                    entry.version
                )));
            }
        }
        if !keys.contains_key(&file.active) {
            return Err(malformed(&format!(
                "active version {} has no key",
                file.active
            )));
        }
        Ok(Self {
            keys,
            active: file.active,
        })
    }

    /// Writes the keyring atomically with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), KeyringError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let shown = path.display().to_string();
        let write_error = |error: std::io::Error| KeyringError::Write {
            path: shown.clone(),
            reason: error.to_string(),
        };
        let file = KeyringFile {
            format: KEYRING_FORMAT.to_owned(),
            active: self.active,
            keys: self
                .keys
                .values()
                .map(|kek| KeyFile {
                    version: kek.version,
                    key: BASE64.encode(kek.key.as_ref()),
                })
                .collect(),
        };
        let text = Zeroizing::new(serde_json::to_vec_pretty(&file).map_err(|error| {
            KeyringError::Write {
                path: shown.clone(),
                reason: error.to_string(),
            }
        })?);
        let tmp = path.with_extension("tmp");
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(write_error)?;
        out.write_all(&text).map_err(write_error)?;
        out.write_all(b"\n").map_err(write_error)?;
        out.sync_all().map_err(write_error)?;
        std::fs::rename(&tmp, path).map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_add_retire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        let mut keyring = Keyring::generate();
        keyring.save(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let loaded = Keyring::load(&path).unwrap();
        assert_eq!(loaded.versions(), vec![1]);
        assert_eq!(loaded.active().key(), keyring.active().key());

        assert_eq!(keyring.add_version(), 2);
        assert!(matches!(
            keyring.retire(2),
            Err(KeyringError::RetireActive(2))
        ));
        keyring.retire(1).unwrap();
        keyring.save(&path).unwrap();
        let loaded = Keyring::load(&path).unwrap();
        assert_eq!(loaded.versions(), vec![2]);
        assert_eq!(loaded.active().version(), 2);
        assert!(!format!("{loaded:?}").contains(&BASE64.encode(loaded.active().key())));
    }

    #[test]
    fn malformed_files_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        let key = BASE64.encode([7u8; 32]);
        let short = BASE64.encode([7u8; 16]);
        for (text, expect) in [
            ("".to_owned(), "not a keyroute keyring"),
            ("{}".to_owned(), "not a keyroute keyring"),
            (
                format!(
                    r#"{{"format":"other","active":1,"keys":[{{"version":1,"key":"{key}"}}]}}"#
                ),
                "format",
            ),
            (
                format!(
                    r#"{{"format":"{KEYRING_FORMAT}","active":2,"keys":[{{"version":1,"key":"{key}"}}]}}"#
                ),
                "active version 2",
            ),
            (
                format!(
                    r#"{{"format":"{KEYRING_FORMAT}","active":1,"keys":[{{"version":1,"key":"{short}"}}]}}"#
                ),
                "32 bytes",
            ),
            (
                format!(
                    r#"{{"format":"{KEYRING_FORMAT}","active":1,"keys":[{{"version":1,"key":"!!"}}]}}"#
                ),
                "base64",
            ),
            (
                format!(
                    r#"{{"format":"{KEYRING_FORMAT}","active":1,"keys":[{{"version":1,"key":"{key}"}},{{"version":1,"key":"{key}"}}]}}"#
                ),
                "twice",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = Keyring::load(&path).unwrap_err().to_string();
            assert!(error.contains(expect), "{error}");
            assert!(!error.contains(&key));
        }
        let missing = Keyring::load(&dir.path().join("absent")).unwrap_err();
        assert!(matches!(missing, KeyringError::Read { .. }));
    }
}
