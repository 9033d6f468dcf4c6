//! Abuse limits on actions that send e-mail or create schemas (issue 12, docs/security.md).
//!
//! Owns `app.action_log`. [`reserve`] counts an action against a subject (a person's id, an
//! e-mail address or a client address) inside the caller's transaction: it takes a
//! transaction-scoped advisory lock on the (action, subject) pair, counts the recent entries and
//! records the new one only when under the limit. Parallel requests are therefore decided one
//! after another, and a rolled-back action un-counts itself. Old entries are pruned by
//! [`crate::housekeeping`].

use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};

/// Advisory lock namespace (first argument of `pg_advisory_xact_lock(int, int)`).
const LOCK_ACTION: i32 = 0x4b_41_03;

/// A limited action and whom it counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An invitation sent, per inviting person: 20 per hour.
    InvitationByPerson,
    /// An invitation sent, per invited address (all clubs together): 3 per day.
    InvitationToAddress,
    /// A password-reset e-mail, per address: 3 per hour.
    ResetMailToAddress,
    /// A password-reset request, per client address: 20 per hour.
    ResetRequestFromClient,
    /// A confirmation e-mail sent again, per person: 3 per hour.
    ConfirmationResend,
    /// A sign-up (a new person and club), per client address: 10 per hour.
    SignUpFromClient,
    /// An additional club created, per person: 5 per day (besides [`MAX_OWNED_CLUBS`]).
    ClubCreated,
    /// A member's own page opened (any token, right or wrong), per client address: 120 per
    /// hour.
    PayPageFromClient,
}

/// The most clubs one person may own; creating another needs a confirmed address too.
pub const MAX_OWNED_CLUBS: i64 = 20;

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::InvitationByPerson => "invitation_by_person",
            Action::InvitationToAddress => "invitation_to_address",
            Action::ResetMailToAddress => "reset_mail_to_address",
            Action::ResetRequestFromClient => "reset_request_from_client",
            Action::ConfirmationResend => "confirmation_resend",
            Action::SignUpFromClient => "signup_from_client",
            Action::ClubCreated => "club_created",
            Action::PayPageFromClient => "pay_page_from_client",
        }
    }

    /// How many within which window.
    pub fn rule(self) -> (i64, Duration) {
        match self {
            Action::InvitationByPerson => (20, Duration::hours(1)),
            Action::InvitationToAddress => (3, Duration::days(1)),
            Action::ResetMailToAddress => (3, Duration::hours(1)),
            Action::ResetRequestFromClient => (20, Duration::hours(1)),
            Action::ConfirmationResend => (3, Duration::hours(1)),
            Action::SignUpFromClient => (10, Duration::hours(1)),
            Action::ClubCreated => (5, Duration::days(1)),
            Action::PayPageFromClient => (120, Duration::hours(1)),
        }
    }
}

/// The longest window of any rule: entries older than this are never counted again.
pub const LONGEST_WINDOW: Duration = Duration::days(1);

/// The limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many {action:?} recently")]
pub struct Limited {
    pub action: Action,
}

/// Counts `action` against `subject` at `now` if the limit allows it (see the module docs).
/// Runs in the caller's transaction; the outer `Result` is the database's.
pub async fn reserve(
    conn: &mut PgConnection,
    action: Action,
    subject: &str,
    now: OffsetDateTime,
) -> Result<Result<(), Limited>, sqlx::Error> {
    let (limit, window) = action.rule();
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2 || ':' || $3))")
        .bind(LOCK_ACTION)
        .bind(action.name())
        .bind(subject)
        .execute(&mut *conn)
        .await?;
    let (recent,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM app.action_log WHERE action = $1 AND subject = $2 AND at > $3",
    )
    .bind(action.name())
    .bind(subject)
    .bind(now - window)
    .fetch_one(&mut *conn)
    .await?;
    if recent >= limit {
        return Ok(Err(Limited { action }));
    }
    sqlx::query("INSERT INTO app.action_log (action, subject, at) VALUES ($1, $2, $3)")
        .bind(action.name())
        .bind(subject)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(Ok(()))
}
