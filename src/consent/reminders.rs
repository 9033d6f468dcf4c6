//! Reminders about the consent: 30, 14, 7 and 1 days before it expires, when it has expired,
//! and when it broke. Each is sent once: the outbox's `dedup_key` names the connection, the
//! expiry date (a renewal starts a new series) and the reminder, so reruns, restarts and several
//! instances never send it twice.

use super::{ConnectionStatus, REMINDER_DAYS};
use crate::auth::Email;
use crate::i18n::{self, Lang};
use crate::mail::{self, Links};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// Which reminder a connection is due for now, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    /// Expires in at most this many days (one of [`REMINDER_DAYS`]).
    Expiring(i64),
    Expired,
    Broken,
}

impl Reminder {
    /// The most urgent reminder for a connection (older thresholds are skipped, not sent late).
    pub fn due(
        status: ConnectionStatus,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Option<Reminder> {
        match status {
            ConnectionStatus::Broken => return Some(Reminder::Broken),
            ConnectionStatus::Disconnected => return None,
            ConnectionStatus::Active => {}
        }
        let left = expires_at - now;
        if left <= time::Duration::ZERO {
            return Some(Reminder::Expired);
        }
        // Days left, rounded up: 29 days and 1 hour is "30 days".
        let days = (left.whole_seconds() + 86_399) / 86_400;
        REMINDER_DAYS
            .iter()
            .rev()
            .find(|d| days <= **d)
            .map(|d| Reminder::Expiring(*d))
    }

    fn key(self) -> String {
        match self {
            Reminder::Expiring(d) => format!("{d}d"),
            Reminder::Expired => "expired".into(),
            Reminder::Broken => "broken".into(),
        }
    }
}

/// A connection that may be due for a reminder.
#[derive(Debug, sqlx::FromRow)]
struct Candidate {
    connection: Uuid,
    tenant: Uuid,
    status: ConnectionStatus,
    club: String,
    expires_at: OffsetDateTime,
    granted_at: Option<OffsetDateTime>,
    updated_at: OffsetDateTime,
}

/// Queues every reminder that is due now; returns how many e-mails were queued.
#[tracing::instrument(name = "consent_reminders", skip_all)]
pub async fn queue_due(
    pool: &PgPool,
    links: &Links,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let candidates: Vec<Candidate> = sqlx::query_as(
        "SELECT c.id AS connection, c.tenant_id AS tenant, c.status, t.name AS club, \
                c.consent_expires_at AS expires_at, c.consent_granted_at AS granted_at, c.updated_at \
         FROM app.bank_connections c JOIN app.tenants t ON t.id = c.tenant_id \
         WHERE c.status IN ('active', 'broken') AND c.consent_expires_at IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    let mut queued = 0;
    for Candidate {
        connection,
        tenant,
        status,
        club,
        expires_at,
        granted_at,
        updated_at,
    } in candidates
    {
        let Some(reminder) = Reminder::due(status, expires_at, now) else {
            continue;
        };
        let series = match reminder {
            Reminder::Broken => updated_at.unix_timestamp().to_string(),
            _ => i18n::prague_date(expires_at).to_string(),
        };
        let recipients: Vec<(String, String)> = sqlx::query_as(
            "SELECT u.email, u.locale FROM app.memberships m JOIN app.users u ON u.id = m.user_id \
             WHERE m.tenant_id = $1 AND m.role IN ('owner', 'treasurer') ORDER BY u.email",
        )
        .bind(tenant)
        .fetch_all(pool)
        .await?;
        let mut tx = pool.begin().await?;
        for (email, locale) in recipients {
            let lang = Lang::from_code(&locale).unwrap_or_default();
            let date = i18n::format_date(expires_at, lang);
            let (subject_key, body_key) = match reminder {
                Reminder::Expiring(_) => (
                    "mail.consent_expiring.subject",
                    "mail.consent_expiring.body",
                ),
                Reminder::Expired => ("mail.consent_expired.subject", "mail.consent_expired.body"),
                Reminder::Broken => ("mail.consent_broken.subject", "mail.consent_broken.body"),
            };
            let days = match reminder {
                Reminder::Expiring(d) => d.to_string(),
                _ => String::new(),
            };
            let home = links.home();
            let club = mail::templates::inert(&club);
            let args = [
                ("club", club.as_str()),
                ("date", date.as_str()),
                ("days", days.as_str()),
                ("link", home.as_str()),
            ];
            let message = mail::Message {
                subject: lang.t_with(subject_key, &args),
                body: lang.t_with(body_key, &args),
            };
            // The first reminder carries the expiry for the calendar.
            let attachments = match reminder {
                Reminder::Expiring(days) if days == REMINDER_DAYS[0] => {
                    let expiry = super::calendar::Expiry {
                        connection,
                        club: &club,
                        granted_at,
                        expires_at,
                        link: &home,
                    };
                    vec![mail::outbox::Attachment::new(
                        super::calendar::FILE_NAME,
                        super::calendar::CONTENT_TYPE,
                        super::calendar::ics(&expiry, lang, now).as_bytes(),
                    )]
                }
                _ => Vec::new(),
            };
            let dedup = format!("consent:{connection}:{series}:{}:{email}", reminder.key());
            let before = sqlx::query("SELECT 1 FROM app.outbox WHERE dedup_key = $1")
                .bind(&dedup)
                .fetch_optional(&mut *tx)
                .await?;
            if before.is_none() {
                mail::outbox::enqueue_with(
                    &mut tx,
                    &message,
                    &attachments,
                    &Email::from_stored(email),
                    Some(&dedup),
                    now,
                )
                .await?;
                queued += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionStatus::{Active, Broken, Disconnected};
    use time::Duration;
    use time::macros::datetime;

    #[test]
    fn the_most_urgent_reminder_is_due() {
        let now = datetime!(2026-11-27 12:00 UTC);
        let at = |days: i64| now + Duration::days(days);
        assert_eq!(Reminder::due(Active, at(60), now), None);
        assert_eq!(
            Reminder::due(Active, at(30), now),
            Some(Reminder::Expiring(30))
        );
        assert_eq!(
            Reminder::due(Active, at(20), now),
            Some(Reminder::Expiring(30))
        );
        assert_eq!(
            Reminder::due(Active, at(14), now),
            Some(Reminder::Expiring(14))
        );
        assert_eq!(
            Reminder::due(Active, at(5), now),
            Some(Reminder::Expiring(7))
        );
        assert_eq!(
            Reminder::due(Active, now + Duration::hours(3), now),
            Some(Reminder::Expiring(1))
        );
        assert_eq!(Reminder::due(Active, at(0), now), Some(Reminder::Expired));
        assert_eq!(Reminder::due(Broken, at(100), now), Some(Reminder::Broken));
        assert_eq!(Reminder::due(Disconnected, at(1), now), None);
    }
}
