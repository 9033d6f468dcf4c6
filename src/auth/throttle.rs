//! Login throttling, per account and per client address, shared by all instances (in the DB).
//!
//! Per account (the e-mail as typed, normalised, whether or not it exists): after
//! [`FREE_FAILURES`] consecutive failures each further attempt must wait an exponentially growing
//! delay (1 s, 2 s, 4 s … capped at 15 min), and at most [`HOURLY_LIMIT`] failures per hour are
//! accepted at all (ASVS 2.2.1). Per address: [`IP_BURST`] failures within a minute pause that
//! address for a minute, [`IP_HOURLY_LIMIT`] failures per hour stop it for the hour. A successful
//! login resets the consecutive count. Checks run *before* the password is hashed, so throttled
//! attempts cost no Argon2 time.

use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

pub const FREE_FAILURES: i64 = 5;
pub const HOURLY_LIMIT: i64 = 100;
pub const IP_BURST: i64 = 20;
pub const IP_HOURLY_LIMIT: i64 = 300;
const MAX_DELAY: Duration = Duration::minutes(15);

/// Whether a login attempt may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Too many recent failures: try again after this long.
    Wait(Duration),
}

pub async fn check(
    pool: &PgPool,
    email: &str,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<Verdict, sqlx::Error> {
    // Failures in the last hour, consecutive failures since the last success, last failure time.
    let (hourly, consecutive, last_failure): (i64, i64, Option<OffsetDateTime>) = sqlx::query_as(
        "WITH recent AS ( \
             SELECT succeeded, at FROM app.login_attempts \
             WHERE email = $1 AND at > $2 - interval '24 hours' \
         ), last_ok AS (SELECT max(at) AS at FROM recent WHERE succeeded) \
         SELECT \
           count(*) FILTER (WHERE NOT succeeded AND at > $2 - interval '1 hour'), \
           count(*) FILTER (WHERE NOT succeeded AND at > coalesce((SELECT at FROM last_ok), '-infinity')), \
           max(at) FILTER (WHERE NOT succeeded) \
         FROM recent",
    )
    .bind(email)
    .bind(now)
    .fetch_one(pool)
    .await?;
    if hourly >= HOURLY_LIMIT {
        let wait = last_failure.map_or(Duration::hours(1), |t| t + Duration::hours(1) - now);
        return Ok(Verdict::Wait(wait.max(Duration::seconds(1))));
    }
    if consecutive >= FREE_FAILURES {
        let exponent = u32::try_from((consecutive - FREE_FAILURES).min(20)).unwrap_or(20);
        let delay = Duration::seconds(1_i64 << exponent).min(MAX_DELAY);
        if let Some(last) = last_failure {
            let ready = last + delay;
            if ready > now {
                return Ok(Verdict::Wait(ready - now));
            }
        }
    }
    if let Some(ip) = ip {
        let (minute, hour): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE at > $2 - interval '1 minute'), count(*) \
             FROM app.login_attempts WHERE ip = $1 AND NOT succeeded AND at > $2 - interval '1 hour'",
        )
        .bind(ip)
        .bind(now)
        .fetch_one(pool)
        .await?;
        if hour >= IP_HOURLY_LIMIT {
            return Ok(Verdict::Wait(Duration::hours(1)));
        }
        if minute >= IP_BURST {
            return Ok(Verdict::Wait(Duration::minutes(1)));
        }
    }
    Ok(Verdict::Allowed)
}

pub async fn record(
    pool: &PgPool,
    email: &str,
    ip: Option<&str>,
    succeeded: bool,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app.login_attempts (email, ip, succeeded, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(email)
    .bind(ip)
    .bind(succeeded)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}
