//! Passwords: the policy for new ones and Argon2id hashing off the async runtime.
//!
//! Hashing takes ~50 ms of one core and 19 MiB of memory (argon2 crate defaults, the OWASP
//! minimum). It runs on tokio's blocking pool behind a semaphore sized to the number of cores, so
//! a burst of logins cannot starve request handling or exhaust memory.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::collections::HashSet;
use std::sync::LazyLock;
use tokio::sync::Semaphore;

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 128;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
});

static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// A hash of a password nobody has, verified against when the account does not exist, so that
/// "unknown e-mail" and "wrong password" take the same time.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("kasa-dummy-password-for-timing").unwrap_or_default());

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("too short")]
    TooShort,
    #[error("too long")]
    TooLong,
    #[error("too common")]
    TooCommon,
    #[error("same as the e-mail address")]
    SameAsEmail,
}

impl Problem {
    /// The translation key of the message shown next to the field.
    pub fn message_key(self) -> &'static str {
        match self {
            Problem::TooShort => "errors.password_too_short",
            Problem::TooLong => "errors.password_too_long",
            Problem::TooCommon => "errors.password_too_common",
            Problem::SameAsEmail => "errors.password_same_as_email",
        }
    }
}

/// A password that passed the policy. Never printed.
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

impl NewPassword {
    /// Checks length (in characters), the common-password list and the e-mail address.
    pub fn parse(input: &str, email: Option<&str>) -> Result<NewPassword, Problem> {
        let chars = input.chars().count();
        if chars < MIN_LENGTH {
            return Err(Problem::TooShort);
        }
        if chars > MAX_LENGTH {
            return Err(Problem::TooLong);
        }
        let lowered = input.to_lowercase();
        let first = lowered.chars().next();
        if COMMON.contains(lowered.as_str()) || lowered.chars().all(|c| Some(c) == first) {
            return Err(Problem::TooCommon);
        }
        if let Some(email) = email {
            let local = email.split('@').next().unwrap_or(email);
            if lowered == email.to_lowercase() || lowered == local.to_lowercase() {
                return Err(Problem::SameAsEmail);
            }
        }
        Ok(NewPassword(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Hashing failed: only on misconfiguration or a dead blocking pool.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn hash_blocking(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Hashes a new password with Argon2id (PHC string, parameters included).
pub async fn hash(password: &NewPassword) -> Result<String, HashError> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| HashError(e.to_string()))?;
    let password = password.0.clone();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

/// Verifies a password against a stored hash; with `None` it burns the same time and fails.
pub async fn verify(password: &str, stored: Option<&str>) -> bool {
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    let password = password.to_owned();
    let stored = stored.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH.as_str(), false),
        };
        let ok = PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && real
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_long_common_and_email_passwords() {
        assert_eq!(
            NewPassword::parse("kratke", None).err(),
            Some(Problem::TooShort)
        );
        assert_eq!(
            NewPassword::parse(&"x".repeat(129), None).err(),
            Some(Problem::TooLong)
        );
        assert_eq!(
            NewPassword::parse("1234567890", None).err(),
            Some(Problem::TooCommon)
        );
        assert_eq!(
            NewPassword::parse("Heslo12345", None).err(),
            Some(Problem::TooCommon)
        );
        assert_eq!(
            NewPassword::parse("aaaaaaaaaaaa", None).err(),
            Some(Problem::TooCommon)
        );
        assert_eq!(
            NewPassword::parse("pokladnik@sokol.cz", Some("pokladnik@sokol.cz")).err(),
            Some(Problem::SameAsEmail)
        );
        assert!(NewPassword::parse("Vltava teče přes Prahu", None).is_ok());
        // Length counts characters, not bytes.
        assert!(NewPassword::parse("žluťoučký1", None).is_ok());
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let Ok(password) = NewPassword::parse("správné heslo 42", None) else {
            panic!("policy refused a good password");
        };
        let hashed = hash(&password).await.expect("hash");
        assert!(hashed.starts_with("$argon2id$"));
        assert!(verify("správné heslo 42", Some(&hashed)).await);
        assert!(!verify("špatné heslo 42", Some(&hashed)).await);
        assert!(!verify("správné heslo 42", None).await);
    }
}
