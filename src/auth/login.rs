//! Checking a password under the throttle: logging in, and a signed-in person's password
//! re-entry before sensitive actions (bank connect/renew/disconnect, password change, the
//! operator page).
//!
//! Both reserve the attempt atomically ([`super::throttle::reserve`]) before the Argon2 verify,
//! so parallel guesses cannot slip past the limits.

use super::throttle::{self, Key, Verdict};
use super::{Email, User, UserId, password, users};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

/// The outcome of a password check.
#[derive(Debug)]
pub enum Checked<T> {
    /// The password is right.
    Ok(T),
    /// Wrong address or password (deliberately one answer).
    Wrong,
    /// Too many recent failures: try again after this long (no password was checked).
    Throttled(Duration),
}

/// Logs in with the e-mail field as typed (any text; input that is no address never reaches
/// the account lookup) and a password, from client address `ip`. Unknown addresses verify
/// against a dummy hash, so the time taken does not tell whether an account exists.
pub async fn log_in(
    pool: &PgPool,
    email_input: &str,
    given_password: &str,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<Checked<User>, sqlx::Error> {
    let reservation = match throttle::reserve(pool, &Key::login(email_input), ip, now).await? {
        Verdict::Wait(wait) => return Ok(Checked::Throttled(wait)),
        Verdict::Allowed(reservation) => reservation,
    };
    let found = match Email::parse(email_input) {
        Some(email) => users::find_for_login(pool, &email).await?,
        None => None,
    };
    let ok = password::verify(given_password, found.as_ref().map(|(_, h)| h.as_str())).await;
    match found {
        Some((user, _)) if ok => {
            throttle::succeeded(pool, reservation).await?;
            Ok(Checked::Ok(user))
        }
        _ => Ok(Checked::Wrong),
    }
}

/// A signed-in person re-enters their password, throttled per person and client address like a
/// login.
pub async fn reauthenticate(
    pool: &PgPool,
    user: UserId,
    given_password: &str,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<Checked<()>, sqlx::Error> {
    let reservation = match throttle::reserve(pool, &Key::Reauth(user), ip, now).await? {
        Verdict::Wait(wait) => return Ok(Checked::Throttled(wait)),
        Verdict::Allowed(reservation) => reservation,
    };
    let stored = users::password_hash(pool, user).await?;
    if password::verify(given_password, stored.as_deref()).await {
        throttle::succeeded(pool, reservation).await?;
        Ok(Checked::Ok(()))
    } else {
        Ok(Checked::Wrong)
    }
}
