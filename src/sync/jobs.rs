//! `app.sync_jobs`: one row per bank account, the only coordination between Kasa instances.
//!
//! A job is claimed with `FOR UPDATE SKIP LOCKED` for a lease (`lease_owner`, `lease_until`);
//! every claim increments `fence`. The holder extends the lease with [`heartbeat`]; the final
//! write re-checks the fence ([`lock_fence`], called by `ledger::apply` inside the tenant
//! transaction), so a worker whose lease was taken over cannot commit. [`finish`] reschedules the
//! job by the outcome of the sync. Time is always passed in; nothing here reads the clock.

use rand::Rng;
use sqlx::{PgConnection, PgPool};

use super::outcome::{Failure, Problem};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A job this worker holds a lease on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub account_id: Uuid,
    pub tenant_id: Uuid,
    /// The bank connection whose token reads this account.
    pub connection_id: Uuid,
    /// KB's `accountId`.
    pub kb_account_id: String,
    pub owner: String,
    /// The fencing token of this claim.
    pub fence: i64,
    pub lease: Duration,
    pub lease_until: OffsetDateTime,
    /// Consecutive failed attempts before this one.
    pub attempts: i32,
    /// A KB notification made the job due (since the previous run started).
    pub notified: bool,
    /// When the latest such notification arrived (UTC).
    pub notified_at: Option<OffsetDateTime>,
    pub stale_since: Option<OffsetDateTime>,
}

/// How the next run is scheduled.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// After a successful sync (KB: unchanged data may be read once per 61 minutes).
    pub poll_interval: Duration,
    /// After KB's 429 "unchanged data" (or any rate limit without a longer `Retry-After`).
    pub unchanged_interval: Duration,
    /// First retry after an outage; doubles with every failed attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            poll_interval: Duration::minutes(61),
            unchanged_interval: Duration::minutes(61),
            backoff_base: Duration::minutes(1),
            backoff_max: Duration::minutes(60),
        }
    }
}

impl Schedule {
    /// The delay before retry number `attempts` (1 = first retry): base · 2^(attempts−1), capped,
    /// with jitter taking up to a fifth off (`jitter` in 0..=1) so that accounts failing together
    /// do not retry together.
    pub fn backoff(&self, attempts: i32, jitter: f64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let full = self
            .backoff_base
            .checked_mul(2_i32.saturating_pow(exponent))
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max);
        full - full * (jitter.clamp(0.0, 1.0) * 0.2)
    }
}

/// What a sync run ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New data was written (or nothing changed in what KB returned).
    Synced,
    /// KB's unchanged-data answer after an applied download: nothing new, not an error.
    Unchanged { retry_after: Option<Duration> },
    /// A rate limit (429 on the token, balances or statements, or the unchanged-data answer
    /// after a download that was never applied): the account stays stale with `failure`, the
    /// next attempt waits for the backoff and at least `retry_after`.
    RateLimited {
        retry_after: Option<Duration>,
        failure: Failure,
    },
    /// KB or the network failed (5xx, timeouts, paging kept shifting, database trouble): retry
    /// with backoff.
    Failed(Failure),
    /// The consent is gone or the account is no longer exposed: stop until the club reconnects.
    Disabled(Failure),
}

impl Outcome {
    /// The outcome's name in metrics (`telemetry::SYNC_RUNS`).
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Synced => "synced",
            Outcome::Unchanged { .. } => "unchanged",
            Outcome::RateLimited { .. } => "rate_limited",
            Outcome::Failed(_) => "failed",
            Outcome::Disabled(_) => "disabled",
        }
    }
}

/// Creates the job of an account, due at `due_at`; an existing job is kept as it is.
pub async fn enqueue(
    conn: &mut PgConnection,
    account_id: Uuid,
    tenant_id: Uuid,
    due_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app.sync_jobs (account_id, tenant_id, due_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(account_id)
    .bind(tenant_id)
    .bind(due_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Turns a disabled job back on (after the club reconnected), due at `now`.
pub async fn enable(
    pool: &PgPool,
    account_id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE app.sync_jobs SET enabled = true, due_at = $2, attempts = 0, last_error = NULL, \
         problem = NULL WHERE account_id = $1",
    )
    .bind(account_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stops the jobs of every account of a bank connection (disconnect): disabled and unleased,
/// so a worker still holding one cannot commit (its fence check finds the lease gone).
pub async fn disable_connection(
    conn: &mut PgConnection,
    connection_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE app.sync_jobs SET enabled = false, lease_owner = NULL, lease_until = NULL, fence = fence + 1 \
         WHERE account_id IN (SELECT id FROM app.bank_accounts WHERE connection_id = $1)",
    )
    .bind(connection_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A KB notification: the job is due now. If a sync is running, the job becomes due again as
/// soon as that sync finishes. Returns whether an enabled job exists.
pub async fn make_due(
    pool: &PgPool,
    account_id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE app.sync_jobs SET due_at = LEAST(due_at, $2), notified_at = $2 \
         WHERE account_id = $1 AND enabled",
    )
    .bind(account_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A claimed job's row (the job joined with its account).
#[derive(sqlx::FromRow)]
struct ClaimRow {
    account_id: Uuid,
    tenant_id: Uuid,
    fence: i64,
    lease_until: OffsetDateTime,
    attempts: i32,
    notified: bool,
    notified_at: Option<OffsetDateTime>,
    stale_since: Option<OffsetDateTime>,
    connection_id: Uuid,
    kb_account_id: String,
}

/// Claims up to `limit` due jobs whose lease is free or expired, for `lease`; each claim
/// increments the job's fence. Jobs locked by another claimer are skipped, not waited for.
pub async fn claim(
    pool: &PgPool,
    owner: &str,
    lease: Duration,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    let rows: Vec<ClaimRow> = sqlx::query_as(
        "WITH claimed AS ( \
             UPDATE app.sync_jobs j \
                SET lease_owner = $1, lease_until = $2, fence = j.fence + 1, claimed_at = $3 \
              WHERE j.account_id IN ( \
                    SELECT account_id FROM app.sync_jobs \
                     WHERE enabled AND due_at <= $3 \
                       AND (lease_until IS NULL OR lease_until < $3) \
                     ORDER BY due_at \
                     FOR UPDATE SKIP LOCKED \
                     LIMIT $4) \
             RETURNING j.account_id, j.tenant_id, j.fence, j.lease_until, j.attempts, \
                       j.notified_at IS NOT NULL AS notified, j.notified_at, j.stale_since) \
         SELECT c.*, a.connection_id, a.kb_account_id \
           FROM claimed c JOIN app.bank_accounts a ON a.id = c.account_id",
    )
    .bind(owner)
    .bind(now + lease)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ClaimedJob {
            account_id: row.account_id,
            tenant_id: row.tenant_id,
            connection_id: row.connection_id,
            kb_account_id: row.kb_account_id,
            owner: owner.to_owned(),
            fence: row.fence,
            lease,
            lease_until: row.lease_until,
            attempts: row.attempts,
            notified: row.notified,
            notified_at: row.notified_at,
            stale_since: row.stale_since,
        })
        .collect())
}

/// Extends the lease to `now + lease` if this claim (owner and fence) still holds it.
pub async fn heartbeat(
    pool: &PgPool,
    job: &mut ClaimedJob,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let until = now + job.lease;
    let done = sqlx::query(
        "UPDATE app.sync_jobs SET lease_until = $4 \
         WHERE account_id = $1 AND lease_owner = $2 AND fence = $3",
    )
    .bind(job.account_id)
    .bind(&job.owner)
    .bind(job.fence)
    .bind(until)
    .execute(pool)
    .await?;
    let holds = done.rows_affected() == 1;
    if holds {
        job.lease_until = until;
    }
    Ok(holds)
}

/// The lease was lost: another worker claimed the job after this one's lease ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sync job's lease was taken over (fence {held} is no longer current)")]
pub struct LostLease {
    pub held: i64,
}

/// Locks the job row (until the caller's transaction ends) and checks that `fence` is still the
/// current one. Called by the final write of a sync, inside its tenant transaction.
pub async fn lock_fence(
    conn: &mut PgConnection,
    account_id: Uuid,
    fence: i64,
) -> Result<Result<(), LostLease>, sqlx::Error> {
    let current: Option<(i64,)> =
        sqlx::query_as("SELECT fence FROM app.sync_jobs WHERE account_id = $1 FOR UPDATE")
            .bind(account_id)
            .fetch_optional(conn)
            .await?;
    Ok(match current {
        Some((current,)) if current == fence => Ok(()),
        _ => Err(LostLease { held: fence }),
    })
}

/// Releases the lease and schedules the next run by `outcome`. Does nothing (returns `false`)
/// if the lease was taken over meanwhile. A notification received while the job ran makes it
/// due again at once.
pub async fn finish(
    pool: &PgPool,
    job: &ClaimedJob,
    outcome: &Outcome,
    schedule: &Schedule,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    // A notification that arrived after this claim makes the job due again at once.
    let notified_during_run = "(notified_at IS NOT NULL AND notified_at > claimed_at)";
    let released = format!(
        "UPDATE app.sync_jobs SET attempts = 0, last_error = $6, problem = $7, stale_since = NULL, \
         due_at = CASE WHEN {notified_during_run} THEN $4 ELSE $5 END, \
         notified_at = CASE WHEN {notified_during_run} THEN notified_at END, \
         lease_owner = NULL, lease_until = NULL \
         WHERE account_id = $1 AND lease_owner = $2 AND fence = $3"
    );
    let (sql, due_at, failure): (String, OffsetDateTime, Option<&Failure>) = match outcome {
        Outcome::Synced => (released, now + schedule.poll_interval, None),
        Outcome::Unchanged { retry_after } => (
            released,
            now + retry_after
                .unwrap_or(schedule.unchanged_interval)
                .max(schedule.unchanged_interval),
            None,
        ),
        Outcome::Failed(failure) => retry_later(job, schedule, now, failure, None),
        Outcome::RateLimited {
            failure,
            retry_after,
        } => retry_later(job, schedule, now, failure, *retry_after),
        Outcome::Disabled(failure) => (
            "UPDATE app.sync_jobs SET enabled = false, last_error = $6, problem = $7, \
             stale_since = COALESCE(stale_since, $4), due_at = $5, \
             lease_owner = NULL, lease_until = NULL \
             WHERE account_id = $1 AND lease_owner = $2 AND fence = $3"
                .to_owned(),
            now,
            Some(failure),
        ),
    };
    let done = sqlx::query(&sql)
        .bind(job.account_id)
        .bind(&job.owner)
        .bind(job.fence)
        .bind(now)
        .bind(due_at)
        .bind(failure.map(|f| f.detail.as_str()))
        .bind(failure.map(|f| f.problem))
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The update of a run to retry: one more attempt, stale, due after the backoff (with jitter)
/// and at least `retry_after`; a notification during the run brings it within a minute.
fn retry_later<'a>(
    job: &ClaimedJob,
    schedule: &Schedule,
    now: OffsetDateTime,
    failure: &'a Failure,
    retry_after: Option<Duration>,
) -> (String, OffsetDateTime, Option<&'a Failure>) {
    let jitter = rand::thread_rng().gen_range(0.0..=1.0);
    let delay = schedule
        .backoff(job.attempts.saturating_add(1), jitter)
        .max(retry_after.unwrap_or(Duration::ZERO));
    let notified_soon = if retry_after.is_some() {
        // KB asked for the wait: a notification does not shorten it.
        "$5"
    } else {
        "CASE WHEN notified_at > claimed_at THEN LEAST($5, $4 + interval '1 minute') ELSE $5 END"
    };
    (
        format!(
            "UPDATE app.sync_jobs SET attempts = attempts + 1, last_error = $6, problem = $7, \
             stale_since = COALESCE(stale_since, $4), due_at = {notified_soon}, \
             lease_owner = NULL, lease_until = NULL \
             WHERE account_id = $1 AND lease_owner = $2 AND fence = $3"
        ),
        now + delay,
        Some(failure),
    )
}

/// A job's scheduling state (for pages, operators and tests).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobState {
    pub account_id: Uuid,
    pub enabled: bool,
    pub due_at: OffsetDateTime,
    pub lease_owner: Option<String>,
    pub lease_until: Option<OffsetDateTime>,
    pub fence: i64,
    pub attempts: i32,
    /// The technical text of the last problem.
    pub last_error: Option<String>,
    /// Its kind (set exactly when `last_error` is).
    pub problem: Option<Problem>,
    pub stale_since: Option<OffsetDateTime>,
}

/// Reads a job's state.
pub async fn state(pool: &PgPool, account_id: Uuid) -> Result<Option<JobState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT account_id, enabled, due_at, lease_owner, lease_until, fence, attempts, \
                last_error, problem, stale_since \
           FROM app.sync_jobs WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_minute_up_to_an_hour_with_jitter_below() {
        let s = Schedule::default();
        let minutes: Vec<i64> = (1..=9).map(|a| s.backoff(a, 0.0).whole_minutes()).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(s.backoff(1_000_000, 0.0), Duration::minutes(60));
        let jittered = s.backoff(3, 1.0);
        assert!(jittered >= Duration::minutes(4) * 0.8 && jittered < Duration::minutes(4));
        assert_eq!(s.backoff(0, 0.5), s.backoff(1, 0.5));
    }
}
