//! Mails a person asks for about their own account: a password-reset link and the e-mail
//! confirmation link again. Both are limited ([`crate::limits`]) so nobody can flood an inbox.

use super::tokens::{self, Purpose};
use super::{Email, User, users};
use crate::limits::{self, Action};
use crate::mail;
use sqlx::PgPool;
use time::OffsetDateTime;

/// Queues a reset link if `email_input` is the address of an account, unless the address got
/// [`Action::ResetMailToAddress`]'s worth of links recently or the client asked too often.
/// Returns whether a mail was queued. Meant to run after the page has answered (the answer and
/// its timing must not tell whether the account exists).
pub async fn request_reset(
    pool: &PgPool,
    email_input: &str,
    client: Option<&str>,
    links: &mail::Links,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let Some(email) = Email::parse(email_input) else {
        return Ok(false);
    };
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
    let message = mail::templates::reset_password(user.lang, &links.reset_password(&token));
    mail::outbox::enqueue(&mut tx, &message, &user.email, None, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Queues a fresh confirmation link for a person whose address is unconfirmed, at most
/// [`Action::ConfirmationResend`]'s limit per hour. Returns whether a mail was queued.
pub async fn resend_confirmation(
    pool: &PgPool,
    user: &User,
    links: &mail::Links,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    if user.email_confirmed {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    let subject = user.id.to_string();
    if limits::reserve(&mut tx, Action::ConfirmationResend, &subject, now)
        .await?
        .is_err()
    {
        return Ok(false);
    }
    let token = tokens::issue(&mut tx, Purpose::ConfirmEmail, user.id, now).await?;
    let message = mail::templates::confirm_email(user.lang, &links.confirm_email(&token));
    mail::outbox::enqueue(&mut tx, &message, &user.email, None, now).await?;
    tx.commit().await?;
    Ok(true)
}
