//! One-time tokens for links sent by e-mail (confirm address, reset password, invitations).
//!
//! A token is 256 random bits, sent as URL-safe Base64; only its SHA-256 is stored, so a
//! database leak reveals no usable link. Tokens expire and are consumed exactly once
//! (`UPDATE … WHERE used_at IS NULL … RETURNING` decides the race).

use super::UserId;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};

/// A freshly generated token: give `plain` to the person, store `hash`.
pub struct IssuedToken {
    pub plain: String,
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuedToken([redacted])")
    }
}

pub fn generate() -> IssuedToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let plain = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&plain);
    IssuedToken { plain, hash }
}

pub fn hash(plain: &str) -> Vec<u8> {
    Sha256::digest(plain.as_bytes()).to_vec()
}

/// What a one-time token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    ConfirmEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::ConfirmEmail => "confirm_email",
            Purpose::ResetPassword => "reset_password",
        }
    }

    /// How long a link of this kind stays valid.
    pub fn lifetime(self) -> Duration {
        match self {
            Purpose::ConfirmEmail => Duration::hours(48),
            Purpose::ResetPassword => Duration::hours(1),
        }
    }
}

/// Why a token was not accepted. Deliberately coarse: the person gets "invalid or expired".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("unknown or already used")]
    Unknown,
    #[error("expired")]
    Expired,
}

/// Stores a new token for `user` and returns the plain value for the link.
pub async fn issue(
    conn: &mut PgConnection,
    purpose: Purpose,
    user: UserId,
    now: OffsetDateTime,
) -> Result<String, sqlx::Error> {
    let token = generate();
    sqlx::query(
        "INSERT INTO app.one_time_tokens (token_hash, purpose, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&token.hash)
    .bind(purpose.as_str())
    .bind(user)
    .bind(now)
    .bind(now + purpose.lifetime())
    .execute(conn)
    .await?;
    Ok(token.plain)
}

/// Checks a token without using it (to show a form for it).
pub async fn peek(
    conn: &mut PgConnection,
    purpose: Purpose,
    plain: &str,
    now: OffsetDateTime,
) -> Result<Result<UserId, Rejected>, sqlx::Error> {
    let row: Option<(UserId, OffsetDateTime)> = sqlx::query_as(
        "SELECT user_id, expires_at FROM app.one_time_tokens \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(hash(plain))
    .bind(purpose.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        None => Err(Rejected::Unknown),
        Some((_, expires)) if expires <= now => Err(Rejected::Expired),
        Some((user, _)) => Ok(user),
    })
}

/// Uses a token: returns its user if it was valid, unused and unexpired, and marks it used.
pub async fn consume(
    conn: &mut PgConnection,
    purpose: Purpose,
    plain: &str,
    now: OffsetDateTime,
) -> Result<Result<UserId, Rejected>, sqlx::Error> {
    match peek(&mut *conn, purpose, plain, now).await? {
        Err(rejected) => Ok(Err(rejected)),
        Ok(_) => {
            let used: Option<(UserId,)> = sqlx::query_as(
                "UPDATE app.one_time_tokens SET used_at = $3 \
                 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
                 RETURNING user_id",
            )
            .bind(hash(plain))
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(conn)
            .await?;
            Ok(used.map(|(u,)| u).ok_or(Rejected::Unknown))
        }
    }
}

/// Uses up every unused token of `user` for `purpose` (a reset link mailed before a password
/// change stops working). Runs in the caller's transaction.
pub async fn revoke_all(
    conn: &mut PgConnection,
    purpose: Purpose,
    user: UserId,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE app.one_time_tokens SET used_at = created_at \
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(user)
    .bind(purpose.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_are_stored_only_as_hashes() {
        let a = generate();
        let b = generate();
        assert_ne!(a.plain, b.plain);
        assert_eq!(a.plain.len(), 43);
        assert_eq!(a.hash, hash(&a.plain));
        assert_eq!(a.hash.len(), 32);
    }
}
