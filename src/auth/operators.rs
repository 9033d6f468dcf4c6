//! Operators: the people who run Kasa and may open `/operator` (every club's name, consent and
//! sync errors). Owns `app.operators`.
//!
//! Operator rights are granted only on the server, by `kasa operator add <email>` ([`add`]);
//! never by sign-up or by configuration, so nobody can squat the operator's address by signing
//! up with it first. The page additionally needs a confirmed address and a fresh password check
//! (`web::pages::operator`).

use super::tokens::{self, Purpose};
use super::{Email, User, users};
use sqlx::PgPool;
use time::OffsetDateTime;

/// A password hash no password matches (the account can only be entered through a reset link).
const LOCKED: &str = "!locked";

/// What [`add`] did.
#[derive(Debug)]
pub enum Added {
    /// The address had a confirmed account; it is now an operator (its password is unchanged).
    ExistingAccount,
    /// A new account was created for the address, or an unconfirmed one (possibly a squatter's)
    /// was taken over: its password no longer works, its sessions ended. The operator sets a
    /// password through this reset link (valid one hour), printed on the server's console.
    SetPassword { reset_token: String },
}

/// Makes `email` an operator (see the module docs). Idempotent.
pub async fn add(pool: &PgPool, email: &Email, now: OffsetDateTime) -> Result<Added, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let existing: Option<(super::UserId, Option<OffsetDateTime>)> = sqlx::query_as(
        "SELECT id, email_confirmed_at FROM app.users WHERE lower(email) = $1 FOR UPDATE",
    )
    .bind(email.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let (user_id, added) = match existing {
        Some((id, Some(_))) => (id, None),
        Some((id, None)) => {
            // Whoever signed up with the address never proved it: their password and sessions
            // end, and the address counts as confirmed from now on (the operator vouches).
            users::set_password(&mut tx, id, LOCKED).await?;
            tokens::revoke_all(&mut tx, Purpose::ConfirmEmail, id).await?;
            users::mark_email_confirmed(&mut tx, id, now).await?;
            (id, Some(()))
        }
        None => {
            let user = users::create(
                &mut tx,
                email,
                LOCKED,
                crate::i18n::Lang::default(),
                Some(now),
                now,
            )
            .await
            .map_err(|e| match e {
                super::Error::Db(e) => e,
                super::Error::Hash(e) => sqlx::Error::Protocol(e.to_string()),
                super::Error::EmailTaken => {
                    sqlx::Error::Protocol("the address was registered meanwhile; run again".into())
                }
            })?;
            (user.id, Some(()))
        }
    };
    sqlx::query(
        "INSERT INTO app.operators (user_id, granted_at) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let result = match added {
        None => Added::ExistingAccount,
        Some(()) => Added::SetPassword {
            reset_token: tokens::issue(&mut tx, Purpose::ResetPassword, user_id, now).await?,
        },
    };
    tx.commit().await?;
    Ok(result)
}

/// Whether `user` is an operator with a confirmed address.
pub async fn is_operator(pool: &PgPool, user: &User) -> Result<bool, sqlx::Error> {
    if !user.email_confirmed {
        return Ok(false);
    }
    let row: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM app.operators o JOIN app.users u ON u.id = o.user_id \
         WHERE o.user_id = $1 AND u.email_confirmed_at IS NOT NULL",
    )
    .bind(user.id)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// The operators' addresses (recipients of the expiry warnings).
pub async fn emails(pool: &PgPool) -> Result<Vec<Email>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT u.email FROM app.operators o JOIN app.users u ON u.id = o.user_id \
         WHERE u.email_confirmed_at IS NOT NULL ORDER BY u.email",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(e,)| Email::from_stored(e)).collect())
}

/// Removes operator rights (`kasa operator remove`). Returns whether they were granted.
pub async fn remove(pool: &PgPool, email: &Email) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM app.operators WHERE user_id = \
         (SELECT id FROM app.users WHERE lower(email) = $1)",
    )
    .bind(email.as_str())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
