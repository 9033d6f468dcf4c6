//! Passwords: the policy for new ones and Argon2id hashing off the async runtime.
//!
//! Hashing takes ~50 ms of one core and 19 MiB of memory (argon2 crate defaults, the OWASP
//! minimum). It runs on tokio's blocking pool behind a semaphore sized to the number of cores, so
//! a burst of logins cannot starve request handling or exhaust memory. The 19 MiB are mapped
//! for each hash and unmapped after it ([`Hasher`]): otherwise the allocator keeps them in every
//! blocking thread's arena, and a server that had a few dozen logins held over 500 MB it no
//! longer used (measured by `examples/bench_scale.rs`, docs/scaling.md).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, Salt,
    SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Argon2 (the crate's algorithm, version and parameters by default, or those of a stored hash)
/// computing in [`working_memory`]. Its hashes are the `argon2` crate's, byte for byte.
struct Hasher;

/// Argon2's working memory for `params` (`m_cost` blocks of 1 KiB). Reserved larger than glibc's
/// highest dynamic mmap threshold (32 MiB on 64-bit, mallopt(3)), so the allocator always maps
/// it fresh and unmaps it when dropped, instead of raising the threshold to 19 MiB and keeping the
/// memory in the thread's arena for the next allocation. Only the pages used become resident.
fn working_memory(params: &Params) -> Vec<Block> {
    const MAPPED: usize = 33 * 1024 * 1024 / std::mem::size_of::<Block>();
    let blocks = params.block_count();
    let mut memory = Vec::with_capacity(blocks.max(MAPPED));
    memory.resize(blocks, Block::new());
    memory
}

impl PasswordHasher for Hasher {
    type Params = Params;

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> argon2::password_hash::Result<PasswordHash<'a>> {
        let algorithm = algorithm
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or_default();
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let salt = salt.into();
        let mut salt_buffer = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let hash = Output::init_with(length, |out| {
            let mut memory = working_memory(&params);
            Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut memory)?)
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(hash),
        })
    }
}

fn hash_blocking(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Hasher
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
            .map(|parsed| Hasher.verify_password(password.as_bytes(), &parsed).is_ok())
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
    fn hashes_are_the_argon2_crates_both_ways() {
        let ours = hash_blocking("správné heslo klubu").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(
            Argon2::default()
                .verify_password("správné heslo klubu".as_bytes(), &parsed)
                .is_ok()
        );
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"jine heslo klubu", &salt)
            .expect("hash");
        let again = Hasher
            .hash_password(b"jine heslo klubu", &salt)
            .expect("hash");
        assert_eq!(again.to_string(), theirs.to_string());
        assert!(Hasher.verify_password(b"jine heslo klubu", &theirs).is_ok());
        assert!(Hasher.verify_password(b"spatne heslo", &theirs).is_err());
    }

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
