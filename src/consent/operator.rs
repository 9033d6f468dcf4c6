//! What the operator (who runs Kasa for many clubs) watches: the software statement and the
//! qualified certificate with their expiry (warned 30 days ahead), and every club's consent and
//! sync health.

use super::{ConnectionState, ConnectionStatus};
use crate::auth::Email;
use crate::bank::{ClientIdentity, certificate_not_after};
use crate::mail::{self, Message};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Warn this long before the statement or the certificate expires.
pub const WARN_AHEAD: Duration = Duration::days(30);

/// A club's health line.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClubHealth {
    pub tenant_id: Uuid,
    pub name: String,
    pub connection_status: Option<ConnectionStatus>,
    pub consent_expires_at: Option<OffsetDateTime>,
    pub accounts: i64,
    pub stale_since: Option<OffsetDateTime>,
    /// The technical text of one of the club's sync problems (operators read it as it is).
    pub last_error: Option<String>,
}

impl ClubHealth {
    /// The state of the club's live connection at `now`, if it has one.
    pub fn connection_state(&self, now: OffsetDateTime) -> Option<ConnectionState> {
        self.connection_status
            .map(|status| ConnectionState::derive(status, self.consent_expires_at, now))
    }
}

/// The operator page's data.
#[derive(Debug, Clone)]
pub struct Overview {
    pub statement_issued: Option<OffsetDateTime>,
    pub statement_expires: Option<OffsetDateTime>,
    pub certificate_expires: Option<OffsetDateTime>,
    pub certificate_problem: Option<String>,
    pub clubs: Vec<ClubHealth>,
}

impl Overview {
    pub fn warn(at: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        at.is_some_and(|at| at - now <= WARN_AHEAD)
    }
}

pub async fn overview(
    pool: &PgPool,
    identity: Option<&ClientIdentity>,
) -> Result<Overview, sqlx::Error> {
    let statement: Option<(OffsetDateTime, OffsetDateTime)> = sqlx::query_as(
        "SELECT issued_at, expires_at FROM app.software_statements ORDER BY issued_at DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let (certificate_expires, certificate_problem) = match identity.map(certificate_not_after) {
        None => (None, None),
        Some(Ok(at)) => (Some(at), None),
        Some(Err(e)) => (None, Some(e.to_string())),
    };
    let clubs = sqlx::query_as(
        "SELECT t.id AS tenant_id, t.name, c.status AS connection_status, c.consent_expires_at, \
            (SELECT count(*) FROM app.bank_accounts a WHERE a.connection_id = c.id) AS accounts, \
            (SELECT min(j.stale_since) FROM app.sync_jobs j WHERE j.tenant_id = t.id AND j.enabled) AS stale_since, \
            (SELECT max(j.last_error) FROM app.sync_jobs j WHERE j.tenant_id = t.id AND j.enabled) AS last_error \
         FROM app.tenants t \
         LEFT JOIN app.bank_connections c ON c.tenant_id = t.id AND c.status <> 'disconnected' \
         WHERE t.status = 'active' ORDER BY t.name, t.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(Overview {
        statement_issued: statement.map(|s| s.0),
        statement_expires: statement.map(|s| s.1),
        certificate_expires,
        certificate_problem,
        clubs,
    })
}

/// E-mails the operators (once per expiry date) when the statement or the certificate is
/// within [`WARN_AHEAD`] of expiring.
#[tracing::instrument(name = "operator_warnings", skip_all)]
pub async fn queue_warnings(
    pool: &PgPool,
    identity: Option<&ClientIdentity>,
    operators: &[Email],
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let overview = overview(pool, identity).await?;
    let mut queued = 0;
    for (what, at) in [
        ("software statement", overview.statement_expires),
        ("qualified certificate", overview.certificate_expires),
    ] {
        let Some(at) = at.filter(|at| *at - now <= WARN_AHEAD) else {
            continue;
        };
        let day = crate::i18n::prague_date(at);
        let message = Message {
            subject: format!("Kasa: the KB {what} expires on {day}"),
            body: format!(
                "The KB {what} that Kasa uses expires on {day}. Renew it in time: without it no club can connect or sync.\n"
            ),
        };
        let mut tx = pool.begin().await?;
        for operator in operators {
            let dedup = format!("operator:{what}:{day}:{operator}");
            let exists = sqlx::query("SELECT 1 FROM app.outbox WHERE dedup_key = $1")
                .bind(&dedup)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                mail::outbox::enqueue(&mut tx, &message, operator, Some(&dedup), now).await?;
                queued += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(queued)
}
