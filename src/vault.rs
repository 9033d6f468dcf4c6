//! Secrets at rest: the KB client secret, refresh token and cached access token are stored only
//! encrypted, with AES-256-GCM (RustCrypto `aes-gcm`, the same AEAD the KB callback uses).
//!
//! * Every ciphertext names the key that sealed it: `v1:<key id>:<nonce b64>:<ciphertext+tag b64>`,
//!   so keys can be rotated (new writes use the current key; old ciphertexts still open while
//!   their key is configured).
//! * The associated data binds each ciphertext to its tenant, its record and its field: a
//!   ciphertext copied to another row, another club or another column fails to open.
//! * Keys come from configuration (a key file, generated with mode 0600 in the local default),
//!   never from the database. Nonces are 96 random bits; at Kasa's volume (a few writes per
//!   connection per hour) that is far below the 2^32 messages-per-key bound.

use crate::clock::Clock as _;
use crate::secret::Secret;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use rand::RngCore;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use uuid::Uuid;

const FORMAT: &str = "v1";

/// What a ciphertext is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    pub tenant: Uuid,
    pub record: Uuid,
    pub field: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(32 + self.field.len() + 8);
        aad.extend_from_slice(b"kasa-v1|");
        aad.extend_from_slice(self.tenant.as_bytes());
        aad.extend_from_slice(self.record.as_bytes());
        aad.extend_from_slice(self.field.as_bytes());
        aad
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The stored text is not a Kasa ciphertext.
    #[error("malformed ciphertext")]
    Malformed,
    /// Sealed with a key that is not configured (rotated out?).
    #[error("unknown key id {0}")]
    UnknownKey(String),
    /// Wrong key, tampered data, or bound to another tenant/record/field.
    #[error("ciphertext does not open (tampered, or bound to another record)")]
    DoesNotOpen,
    #[error("invalid vault key configuration: {0}")]
    Config(String),
}

/// The keys; `Debug` never shows them.
#[derive(Clone)]
pub struct Vault {
    keys: HashMap<String, Aes256Gcm>,
    current: String,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Vault {{ current: {:?}, keys: {} }}",
            self.current,
            self.keys.len()
        )
    }
}

impl Vault {
    /// Parses `id:base64key[,id:base64key…]`; the first key is used for new ciphertexts.
    pub fn from_spec(spec: &Secret<String>) -> Result<Vault, Error> {
        let mut keys = HashMap::new();
        let mut current = None;
        for entry in spec
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (id, key) = entry
                .split_once(':')
                .ok_or_else(|| Error::Config("expected id:base64key".into()))?;
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(Error::Config("key ids are letters, digits and '-'".into()));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key.trim())
                .map_err(|_| Error::Config(format!("key {id} is not base64")))?;
            if bytes.len() != 32 {
                return Err(Error::Config(format!("key {id} must be 32 bytes")));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| Error::Config(format!("key {id} is unusable")))?;
            current.get_or_insert_with(|| id.to_owned());
            keys.insert(id.to_owned(), cipher);
        }
        let current = current.ok_or_else(|| Error::Config("no key given".into()))?;
        Ok(Vault { keys, current })
    }

    /// Loads the key file, creating it with one fresh key (mode 0600) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Vault, Error> {
        let io = |e: std::io::Error| Error::Config(format!("{}: {e}", path.display()));
        if !path.exists() {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            let id = format!("k{}", crate::clock::SystemClock.now().unix_timestamp());
            let line = format!(
                "{id}:{}\n",
                base64::engine::general_purpose::STANDARD.encode(key)
            );
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            file.write_all(line.as_bytes()).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let spec = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join(",");
        Vault::from_spec(&Secret::new(spec))
    }

    /// A fresh vault with one random key (tests, benchmarks).
    pub fn ephemeral() -> Vault {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let spec = format!(
            "ephemeral:{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
        match Vault::from_spec(&Secret::new(spec)) {
            Ok(vault) => vault,
            Err(_) => unreachable!("a generated key is always valid"),
        }
    }

    pub fn seal(&self, plaintext: &[u8], binding: Binding<'_>) -> Result<String, Error> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = self
            .keys
            .get(&self.current)
            .ok_or_else(|| Error::UnknownKey(self.current.clone()))?;
        let aad = binding.aad();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Config("encryption failed".into()))?;
        Ok(format!(
            "{FORMAT}:{}:{}:{}",
            self.current,
            B64.encode(nonce),
            B64.encode(sealed)
        ))
    }

    pub fn open(&self, stored: &str, binding: Binding<'_>) -> Result<Secret<Vec<u8>>, Error> {
        let mut parts = stored.split(':');
        let (Some(FORMAT), Some(id), Some(nonce), Some(data), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Error::Malformed);
        };
        let cipher = self
            .keys
            .get(id)
            .ok_or_else(|| Error::UnknownKey(id.to_owned()))?;
        let nonce = B64.decode(nonce).map_err(|_| Error::Malformed)?;
        let data = B64.decode(data).map_err(|_| Error::Malformed)?;
        if nonce.len() != 12 {
            return Err(Error::Malformed);
        }
        let aad = binding.aad();
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &data,
                    aad: &aad,
                },
            )
            .map(Secret::new)
            .map_err(|_| Error::DoesNotOpen)
    }

    /// Seals a UTF-8 secret.
    pub fn seal_str(
        &self,
        plaintext: &Secret<String>,
        binding: Binding<'_>,
    ) -> Result<String, Error> {
        self.seal(plaintext.expose().as_bytes(), binding)
    }

    /// Opens a UTF-8 secret.
    pub fn open_str(&self, stored: &str, binding: Binding<'_>) -> Result<Secret<String>, Error> {
        let bytes = self.open(stored, binding)?;
        String::from_utf8(bytes.expose().clone())
            .map(Secret::new)
            .map_err(|_| Error::DoesNotOpen)
    }

    /// Whether the ciphertext was sealed with an older key (re-seal it on the next write).
    pub fn needs_rotation(&self, stored: &str) -> bool {
        stored.split(':').nth(1) != Some(self.current.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(field: &str) -> Binding<'_> {
        Binding {
            tenant: Uuid::from_u128(1),
            record: Uuid::from_u128(2),
            field,
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_where_it_was_sealed() {
        let vault = Vault::ephemeral();
        let sealed = vault
            .seal_str(
                &Secret::new("refresh-token-123".into()),
                binding("refresh_token"),
            )
            .expect("seal");
        assert!(!sealed.contains("refresh-token-123"));
        assert_eq!(
            vault
                .open_str(&sealed, binding("refresh_token"))
                .map(|s| s.expose().clone()),
            Ok("refresh-token-123".to_owned())
        );
        // Another field, another record, another tenant: it does not open.
        assert_eq!(
            vault.open(&sealed, binding("client_secret")).err(),
            Some(Error::DoesNotOpen)
        );
        let other_record = Binding {
            record: Uuid::from_u128(3),
            ..binding("refresh_token")
        };
        assert_eq!(
            vault.open(&sealed, other_record).err(),
            Some(Error::DoesNotOpen)
        );
        let other_tenant = Binding {
            tenant: Uuid::from_u128(9),
            ..binding("refresh_token")
        };
        assert_eq!(
            vault.open(&sealed, other_tenant).err(),
            Some(Error::DoesNotOpen)
        );
        // Tampering is detected.
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(vault.open(&tampered, binding("refresh_token")).is_err());
        assert_eq!(
            vault.open("garbage", binding("x")).err(),
            Some(Error::Malformed)
        );
    }

    #[test]
    fn keys_rotate_without_losing_old_ciphertexts() {
        let old = Vault::from_spec(&Secret::new(
            "old:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        ))
        .expect("old");
        let sealed = old.seal(b"secret", binding("f")).expect("seal");
        let rotated = Vault::from_spec(&Secret::new(
            "new:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,old:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
                .into(),
        ))
        .expect("rotated");
        assert!(rotated.needs_rotation(&sealed));
        assert_eq!(
            rotated
                .open(&sealed, binding("f"))
                .map(|s| s.expose().clone()),
            Ok(b"secret".to_vec())
        );
        let resealed = rotated.seal(b"secret", binding("f")).expect("seal");
        assert!(!rotated.needs_rotation(&resealed));
        assert_eq!(
            old.open(&resealed, binding("f")).err(),
            Some(Error::UnknownKey("new".into()))
        );
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("kasa-vault-{}", Uuid::new_v4()));
        let path = dir.join("vault.key");
        let first = Vault::load_or_create(&path).expect("create");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = first.seal(b"x", binding("f")).expect("seal");
        let second = Vault::load_or_create(&path).expect("reuse");
        assert!(second.open(&sealed, binding("f")).is_ok());
        let _ = std::fs::remove_dir_all(dir);
        assert!(
            !format!("{first:?}").contains('='),
            "Debug shows no key material"
        );
    }
}
