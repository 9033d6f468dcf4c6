//! Housekeeping: prunes the control plane's tables that would otherwise grow forever (issue 12,
//! docs/operations.md). Runs at start and then every [`Retention::every`] in `kasa serve` and
//! `kasa worker` (several instances may run it at once: every statement is an idempotent
//! `DELETE`). Each table is owned by its module; this module only deletes rows those modules
//! no longer read (older than any window they count, used or expired tokens, finished
//! invitations, sent mail, expired sessions).

use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

/// How long rows are kept (settings `KASA_RETENTION_*_DAYS`, `KASA_HOUSEKEEPING_INTERVAL_SECS`).
#[derive(Debug, Clone)]
pub struct Retention {
    /// Login attempts (throttling counts at most the last 24 hours). Default 30 days.
    pub login_attempts: Duration,
    /// One-time tokens, counted from their expiry. Default 7 days.
    pub tokens: Duration,
    /// Accepted, revoked or expired invitations, counted from the later of expiry and the
    /// decision. Default 30 days.
    pub invitations: Duration,
    /// Sent e-mails, counted from sending. Default 30 days.
    pub sent_mail: Duration,
    /// Abuse-limit entries (`app.action_log`); never less than the longest window counted.
    /// Default 7 days.
    pub action_log: Duration,
    /// How often the task runs. Default one hour.
    pub every: std::time::Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            login_attempts: Duration::days(30),
            tokens: Duration::days(7),
            invitations: Duration::days(30),
            sent_mail: Duration::days(30),
            action_log: Duration::days(7),
            every: std::time::Duration::from_secs(3600),
        }
    }
}

/// Rows deleted by one run, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub login_attempts: u64,
    pub tokens: u64,
    pub invitations: u64,
    pub sent_mail: u64,
    pub action_log: u64,
    pub sessions: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.login_attempts
            + self.tokens
            + self.invitations
            + self.sent_mail
            + self.action_log
            + self.sessions
    }
}

/// Deletes what `retention` no longer keeps, as of `now`.
#[tracing::instrument(name = "housekeeping", skip_all)]
pub async fn prune(
    pool: &PgPool,
    retention: &Retention,
    now: OffsetDateTime,
) -> Result<Pruned, sqlx::Error> {
    let delete = |sql: &'static str, before: OffsetDateTime| async move {
        sqlx::query(sql)
            .bind(before)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    };
    let action_log = retention.action_log.max(crate::limits::LONGEST_WINDOW);
    let login_attempts = retention.login_attempts.max(Duration::days(1));
    Ok(Pruned {
        login_attempts: delete(
            "DELETE FROM app.login_attempts WHERE at < $1",
            now - login_attempts,
        )
        .await?,
        tokens: delete(
            "DELETE FROM app.one_time_tokens WHERE expires_at < $1",
            now - retention.tokens,
        )
        .await?,
        invitations: delete(
            "DELETE FROM app.invitations \
             WHERE greatest(expires_at, accepted_at, revoked_at) < $1",
            now - retention.invitations,
        )
        .await?,
        sent_mail: delete(
            "DELETE FROM app.outbox WHERE sent_at IS NOT NULL AND sent_at < $1",
            now - retention.sent_mail,
        )
        .await?,
        action_log: delete("DELETE FROM app.action_log WHERE at < $1", now - action_log).await?,
        sessions: delete("DELETE FROM app.sessions WHERE expiry_date < $1", now).await?,
    })
}
