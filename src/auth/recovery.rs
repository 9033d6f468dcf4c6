//! Links a person gets by e-mail about their own account, and what they do: a password-reset
//! link (asked for on the forgotten-password page) sets a new password; the e-mail confirmation
//! link (mailed at sign-up, or again on request) confirms the address. Asking for a mail is
//! limited ([`crate::limits`]) so nobody can flood an inbox.

use super::password::{self, NewPassword};
use super::tokens::{self, Purpose};
use super::{Email, Error, User, UserId, users};
use crate::limits::{self, Action};
use crate::mail::{self, Mailer};
use sqlx::PgPool;
use time::OffsetDateTime;

/// Queues a reset link if `email_input` is the address of an account, unless the address got
/// [`Action::ResetMailToAddress`]'s worth of links recently or the client asked too often.
/// Returns whether a mail was queued (and the delivery worker woken). Meant to run after the
/// page has answered (the answer and its timing must not tell whether the account exists).
pub async fn request_reset(
    mailer: &Mailer,
    email_input: &str,
    client: Option<&str>,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let Some(email) = Email::parse(email_input) else {
        return Ok(false);
    };
    let pool = mailer.pool();
    // Looked up before the transaction: a connection waiting for a limit's lock must never
    // need a second one from the pool.
    let user = users::find_by_email(pool, &email).await?;
    let mut tx = pool.begin().await?;
    if let Some(client) = client
        && limits::reserve(&mut tx, Action::ResetRequestFromClient, client, now)
            .await?
            .is_err()
    {
        return Ok(false);
    }
    let Some(user) = user else {
        tx.commit().await?;
        return Ok(false);
    };
    if limits::reserve(&mut tx, Action::ResetMailToAddress, email.as_str(), now)
        .await?
        .is_err()
    {
        tx.commit().await?;
        return Ok(false);
    }
    let token = tokens::issue(&mut tx, Purpose::ResetPassword, user.id, now).await?;
    let message =
        mail::templates::reset_password(user.lang, &mailer.links().reset_password(&token));
    mail::outbox::enqueue(&mut tx, &message, &user.email, None, now).await?;
    tx.commit().await?;
    mailer.wake();
    Ok(true)
}

/// Checks a reset link without using it (to show the form for it): its account, or why the
/// link is refused.
pub async fn check_reset_link(
    pool: &PgPool,
    token: &str,
    now: OffsetDateTime,
) -> Result<Result<UserId, tokens::Rejected>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    tokens::peek(&mut conn, Purpose::ResetPassword, token, now).await
}

/// How a password reset from a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    /// The new password is set, the address confirmed (receiving the link proves it), every
    /// session of the account ended, every other reset link used up, and a notice mailed.
    Done,
    /// Nothing changed. `link`: why the link was refused (unknown, used or expired);
    /// `password`: why the new password was (checked against the link's account's address).
    /// Both `None` only when the link's account no longer exists.
    Refused {
        link: Option<tokens::Rejected>,
        password: Option<password::Problem>,
    },
}

/// Sets a new password from a reset link (`token` as in the link, `new_password` as typed).
/// The link is checked first and consumed only in the transaction that sets the password, so a
/// refused password leaves the link usable and two submissions cannot both succeed.
pub async fn reset_password(
    mailer: &Mailer,
    token: &str,
    new_password: &str,
    now: OffsetDateTime,
) -> Result<Reset, Error> {
    let pool = mailer.pool();
    let peeked = check_reset_link(pool, token, now).await?;
    let user = match peeked {
        Ok(id) => users::find(pool, id).await?,
        Err(_) => None,
    };
    let parsed = NewPassword::parse(new_password, user.as_ref().map(|u| u.email.as_str()));
    let (user, password) = match (user, parsed, peeked.err()) {
        (Some(user), Ok(password), None) => (user, password),
        (_, parsed, link) => {
            return Ok(Reset::Refused {
                link,
                password: parsed.err(),
            });
        }
    };
    let hash = password::hash(&password).await?;
    let mut tx = pool.begin().await?;
    if let Err(rejected) = tokens::consume(&mut tx, Purpose::ResetPassword, token, now).await? {
        tx.rollback().await?;
        return Ok(Reset::Refused {
            link: Some(rejected),
            password: None,
        });
    }
    users::set_password(&mut tx, user.id, &hash).await?;
    users::mark_email_confirmed(&mut tx, user.id, now).await?;
    let message = mail::templates::password_changed(user.lang, &mailer.links().home());
    mail::outbox::enqueue(&mut tx, &message, &user.email, None, now).await?;
    tx.commit().await?;
    mailer.wake();
    Ok(Reset::Done)
}

/// Confirms the address of the account a confirmation link (`token`) was mailed to, using the
/// link up. Returns that account, or why the link was refused.
pub async fn confirm_email(
    pool: &PgPool,
    token: &str,
    now: OffsetDateTime,
) -> Result<Result<UserId, tokens::Rejected>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let outcome = tokens::consume(&mut tx, Purpose::ConfirmEmail, token, now).await?;
    if let Ok(user_id) = outcome {
        users::mark_email_confirmed(&mut tx, user_id, now).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Queues a fresh confirmation link for a person whose address is unconfirmed, at most
/// [`Action::ConfirmationResend`]'s limit per hour. Returns whether a mail was queued (and the
/// delivery worker woken).
pub async fn resend_confirmation(
    mailer: &Mailer,
    user: &User,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    if user.email_confirmed {
        return Ok(false);
    }
    let mut tx = mailer.pool().begin().await?;
    let subject = user.id.to_string();
    if limits::reserve(&mut tx, Action::ConfirmationResend, &subject, now)
        .await?
        .is_err()
    {
        return Ok(false);
    }
    let token = tokens::issue(&mut tx, Purpose::ConfirmEmail, user.id, now).await?;
    let message = mail::templates::confirm_email(user.lang, &mailer.links().confirm_email(&token));
    mail::outbox::enqueue(&mut tx, &message, &user.email, None, now).await?;
    tx.commit().await?;
    mailer.wake();
    Ok(true)
}
