//! KB's notifications (Event API 1.0, implemented by Kasa): KB calls
//! `POST {eventApiUrl}/subscriptions/{id}/events` with the `x-api-key` Kasa chose when it
//! subscribed and a body `{"eventCount": n}`. The key is checked in constant time against its
//! stored SHA-256; a valid notification only makes the account's sync due.

use super::store;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

pub fn key_hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// What a notification turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    /// Authentic: the account's sync is due now.
    Accepted { account_id: Uuid },
    /// No such subscription (KB then stops it).
    UnknownSubscription,
    /// Missing or wrong `x-api-key`.
    BadKey,
}

/// Checks a notification and makes the account's sync due.
/// The shape of a KB event subscription id: 1 to 100 visible ASCII characters.
pub fn is_subscription_id(text: &str) -> bool {
    (1..=100).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())
}

#[tracing::instrument(name = "kb_notification", skip_all, fields(account_id = tracing::field::Empty))]
pub async fn receive(
    pool: &PgPool,
    subscription_id: &str,
    api_key: Option<&str>,
    now: OffsetDateTime,
) -> Result<Notification, sqlx::Error> {
    // Parsed before it reaches SQL: ids KB issues are short and printable; anything else
    // (NUL, kilobytes of text) is simply unknown.
    if !is_subscription_id(subscription_id) {
        return Ok(Notification::UnknownSubscription);
    }
    let Some((account_id, stored)) = store::subscription(pool, subscription_id).await? else {
        return Ok(Notification::UnknownSubscription);
    };
    let given = key_hash(api_key.unwrap_or(""));
    if api_key.is_none() || !bool::from(given.as_slice().ct_eq(stored.as_slice())) {
        return Ok(Notification::BadKey);
    }
    tracing::Span::current().record("account_id", tracing::field::display(account_id));
    crate::sync::jobs::make_due(pool, account_id, now).await?;
    Ok(Notification::Accepted { account_id })
}
