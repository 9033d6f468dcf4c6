//! Login throttling, per account and per client address, shared by all instances (in the DB).
//!
//! Per key (the e-mail as typed, normalised, whether or not it exists; or a person's password
//! re-entry, [`Key::Reauth`]): after [`FREE_FAILURES`] consecutive failures each further attempt
//! must wait an exponentially growing delay (1 s, 2 s, 4 s … capped at 15 min), and at most
//! [`HOURLY_LIMIT`] failures per hour are accepted at all (ASVS 2.2.1). Per address: [`IP_BURST`]
//! failures within a minute pause that address for a minute, [`IP_HOURLY_LIMIT`] failures per hour
//! stop it for the hour. A successful attempt resets the consecutive count.
//!
//! Atomic: [`reserve`] takes transaction-scoped advisory locks on the key and the address, decides,
//! and records the attempt as a failure *before* the caller verifies the password; a verified
//! attempt is then turned into a success ([`succeeded`]). Forty parallel guesses are therefore
//! decided one after the other, and only the first few are ever verified (tested in
//! `tests/it/security.rs`). Throttled attempts cost no Argon2 time and are not recorded.

use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

pub const FREE_FAILURES: i64 = 5;
pub const HOURLY_LIMIT: i64 = 100;
pub const IP_BURST: i64 = 20;
pub const IP_HOURLY_LIMIT: i64 = 300;
const MAX_DELAY: Duration = Duration::minutes(15);

/// Advisory lock namespaces (first argument of `pg_advisory_xact_lock(int, int)`).
const LOCK_KEY: i32 = 0x4b_41_01;
const LOCK_IP: i32 = 0x4b_41_02;

/// What an attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A login with this input: the normalised address, or `invalid` for input that is no
    /// address (bounded, never longer than an e-mail address, no control characters).
    Login(String),
    /// A signed-in person re-entering their password (bank connect/renew/disconnect, password
    /// change).
    Reauth(super::UserId),
}

impl Key {
    /// The key of a login form's e-mail field.
    pub fn login(input: &str) -> Key {
        match super::Email::parse(input) {
            Some(email) => Key::Login(email.as_str().to_owned()),
            None => Key::Login("invalid".to_owned()),
        }
    }

    fn stored(&self) -> String {
        match self {
            Key::Login(email) => email.clone(),
            Key::Reauth(id) => format!("reauth:{id}"),
        }
    }
}

/// Whether an attempt may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead: the attempt is recorded (as a failure until [`succeeded`] says otherwise).
    Allowed(Reservation),
    /// Too many recent failures: try again after this long.
    Wait(Duration),
}

/// A recorded attempt, counted as a failure until it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation(i64);

/// Decides and records an attempt atomically (see the module docs). `ip` is the client address.
pub async fn reserve(
    pool: &PgPool,
    key: &Key,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<Verdict, sqlx::Error> {
    let key = key.stored();
    let mut tx = pool.begin().await?;
    // Key before address, always: no two attempts can wait for each other's locks in a cycle.
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(LOCK_KEY)
        .bind(&key)
        .execute(&mut *tx)
        .await?;
    if let Some(ip) = ip {
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_IP)
            .bind(ip)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(wait) = wait_for(&mut tx, &key, ip, now).await? {
        tx.rollback().await?;
        return Ok(Verdict::Wait(wait));
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO app.login_attempts (email, ip, succeeded, at) VALUES ($1, $2, false, $3) \
         RETURNING id",
    )
    .bind(&key)
    .bind(ip)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Verdict::Allowed(Reservation(id)))
}

/// Marks a reserved attempt as successful (resets the consecutive failures).
pub async fn succeeded(pool: &PgPool, reservation: Reservation) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE app.login_attempts SET succeeded = true WHERE id = $1")
        .bind(reservation.0)
        .execute(pool)
        .await?;
    Ok(())
}

async fn wait_for(
    conn: &mut sqlx::PgConnection,
    key: &str,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Duration>, sqlx::Error> {
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
    .bind(key)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    if hourly >= HOURLY_LIMIT {
        let wait = last_failure.map_or(Duration::hours(1), |t| t + Duration::hours(1) - now);
        return Ok(Some(wait.max(Duration::seconds(1))));
    }
    if consecutive >= FREE_FAILURES {
        let exponent = u32::try_from((consecutive - FREE_FAILURES).min(20)).unwrap_or(20);
        let delay = Duration::seconds(1_i64 << exponent).min(MAX_DELAY);
        if let Some(last) = last_failure {
            let ready = last + delay;
            if ready > now {
                return Ok(Some(ready - now));
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
        .fetch_one(&mut *conn)
        .await?;
        if hour >= IP_HOURLY_LIMIT {
            return Ok(Some(Duration::hours(1)));
        }
        if minute >= IP_BURST {
            return Ok(Some(Duration::minutes(1)));
        }
    }
    Ok(None)
}
