//! The outbox table (`app.outbox`): queue, list, claim and mark e-mails.

use super::Message;
use crate::auth::Email;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};

/// Queues a message inside the caller's transaction. With a `dedup_key`, queuing the same key
/// twice keeps one message (reminders stay "once" across restarts and instances).
pub async fn enqueue(
    conn: &mut PgConnection,
    message: &Message,
    to: &Email,
    dedup_key: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    enqueue_with(conn, message, &[], to, dedup_key, now).await
}

/// A file sent with an e-mail (the message becomes `multipart/mixed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    /// E.g. `text/calendar; charset=utf-8`.
    pub content_type: String,
    /// The file's bytes, base64 (standard alphabet) as stored in `app.outbox.attachments`.
    pub content_base64: String,
    /// Set for an image shown in the message itself (`Content-ID`, `Content-Disposition:
    /// inline`): the e-mail then also gets an HTML version that shows it (`delivery::compose`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

impl Attachment {
    pub fn new(filename: &str, content_type: &str, content: &[u8]) -> Attachment {
        Attachment {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            content_base64: base64::engine::general_purpose::STANDARD.encode(content),
            content_id: None,
        }
    }

    /// An image shown in the message (after the text), named `content_id` (letters, digits,
    /// `.`, `-`, `@`); mail clients that show no HTML list it as an attached file.
    pub fn inline(filename: &str, content_type: &str, content: &[u8], content_id: &str) -> Self {
        Attachment {
            content_id: Some(content_id.to_owned()),
            ..Attachment::new(filename, content_type, content)
        }
    }

    /// The file's bytes (`None` if the stored base64 is damaged).
    pub fn content(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.content_base64)
            .ok()
    }
}

/// [`enqueue`] with files attached.
pub async fn enqueue_with(
    conn: &mut PgConnection,
    message: &Message,
    attachments: &[Attachment],
    to: &Email,
    dedup_key: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    insert(conn, message, attachments, to, dedup_key, now, now)
        .await
        .map(|_| ())
}

/// Queues a message, keyed by `dedup_key`, that is not sent before `send_after` (`now` or
/// later): a mail a person's action caused waits out the action's undo window, in which
/// [`withdraw`] takes it back. Returns whether it was queued (false: the key was queued
/// before, and is kept as it is).
pub async fn enqueue_held(
    conn: &mut PgConnection,
    message: &Message,
    to: &Email,
    dedup_key: &str,
    now: OffsetDateTime,
    send_after: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    insert(
        conn,
        message,
        &[],
        to,
        Some(dedup_key),
        now,
        send_after.max(now),
    )
    .await
}

async fn insert(
    conn: &mut PgConnection,
    message: &Message,
    attachments: &[Attachment],
    to: &Email,
    dedup_key: Option<&str>,
    now: OffsetDateTime,
    send_after: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let queued = sqlx::query(
        "INSERT INTO app.outbox (recipient, subject, body_text, attachments, dedup_key, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(to.as_str())
    .bind(&message.subject)
    .bind(&message.body)
    .bind(Json(attachments))
    .bind(dedup_key)
    .bind(now)
    .bind(send_after)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(queued == 1)
}

/// Deletes the messages not sent yet whose dedup key starts with a `(prefix, keep)` pair's
/// prefix, except those whose key starts with its `keep`; returns how many. A message being
/// delivered at this very moment may still go out (the delivery worker claims it outside this
/// transaction).
pub async fn withdraw(
    conn: &mut PgConnection,
    keys: &[(String, Option<String>)],
) -> Result<u64, sqlx::Error> {
    if keys.is_empty() {
        return Ok(0);
    }
    Ok(sqlx::query(
        "DELETE FROM app.outbox o USING UNNEST($1::text[], $2::text[]) AS w(prefix, keep) \
          WHERE o.sent_at IS NULL AND starts_with(o.dedup_key, w.prefix) \
            AND (w.keep IS NULL OR NOT starts_with(o.dedup_key, w.keep))",
    )
    .bind(keys.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|(_, k)| k.as_deref()).collect::<Vec<_>>())
    .execute(conn)
    .await?
    .rows_affected())
}

/// A queued or sent e-mail.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Queued {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    #[sqlx(rename = "body_text")]
    pub body: String,
    pub created_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub attachments: Json<Vec<Attachment>>,
}

/// The newest messages, for the local mailbox page.
pub async fn latest(pool: &PgPool, limit: i64) -> Result<Vec<Queued>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, recipient, subject, body_text, created_at, sent_at, attempts, last_error, \
                attachments FROM app.outbox ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Claims up to `limit` due messages for delivery: pushes their next attempt into the future
/// (a crash mid-send retries them later) and returns them. `SKIP LOCKED` keeps instances apart.
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    now: OffsetDateTime,
) -> Result<Vec<Queued>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE app.outbox SET next_attempt_at = $2 + interval '5 minutes', attempts = attempts + 1 \
         WHERE id IN ( \
           SELECT id FROM app.outbox WHERE sent_at IS NULL AND next_attempt_at <= $2 \
           ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, recipient, subject, body_text, created_at, sent_at, attempts, last_error, attachments",
    )
    .bind(limit)
    .bind(now)
    .fetch_all(pool)
    .await
}

pub async fn mark_sent(pool: &PgPool, id: i64, now: OffsetDateTime) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE app.outbox SET sent_at = $2, last_error = NULL WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records a failed attempt; the next one waits exponentially longer (1 min … 6 h).
pub async fn mark_failed(
    pool: &PgPool,
    id: i64,
    attempts: i32,
    error: &str,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let backoff = Duration::minutes(1_i64 << attempts.clamp(0, 9)).min(Duration::hours(6));
    sqlx::query("UPDATE app.outbox SET last_error = $2, next_attempt_at = $3 WHERE id = $1")
        .bind(id)
        .bind(error)
        .bind(now + backoff)
        .execute(pool)
        .await?;
    Ok(())
}
