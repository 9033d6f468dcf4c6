//! Spare club schemas: tenant rows whose schema is created and fully migrated before anyone
//! signs up (status `spare`, no name or IČO, app migration 0015), so that a sign-up claims one
//! with a single `UPDATE` instead of ≈ 150 DDL statements (docs/scaling.md, "Provisioning").
//!
//! - The claim (`tenant::provision`, inside the sign-up transaction; the row is the tenant
//!   module's) turns the oldest spare into the new club; `FOR UPDATE SKIP LOCKED`, so concurrent sign-ups never take the
//!   same one. The claim notifies `kasa_spares` (a trigger), which wakes the replenishers.
//! - [`replenish`] tops the pool up to its target, one spare per transaction: the row, its
//!   schema and all its migrations commit together, so a crash leaves no half-migrated spare
//!   (nothing at all). A transaction-scoped advisory lock lets one process replenish at a time;
//!   the others skip, so several instances neither overshoot nor wait on each other.
//! - [`run`] is the workers' task: it replenishes at start, on every claim heard and every
//!   [`POLL`].
//!
//! Spares are nobody's club: [`super::tenant::Tenant::load`] and every listing of clubs read
//! status `active`, and no membership, connection or job points at a spare. `kasa migrate`
//! migrates them like any tenant.

use super::tenant::{self, Tenant};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use tokio::sync::watch;

/// The channel a claim notifies (trigger `tenants_spare_claimed`, app migration 0015).
pub const CHANNEL: &str = "kasa_spares";

/// How often the replenisher looks even when it heard nothing (a lost notification, spares
/// dropped by hand).
pub const POLL: Duration = Duration::from_secs(60);

/// Advisory lock of the replenisher (first argument of `pg_try_advisory_xact_lock(int, int)`;
/// the namespaces of `auth::throttle` and `limits` are `0x4b_41_01`–`03`).
const LOCK_SPARES: i32 = 0x4b_41_04;

/// Creates one spare (row, schema, every tenant migration) in the caller's transaction: it is
/// visible, and claimable, only once that transaction commits.
pub async fn create(conn: &mut PgConnection) -> Result<Tenant, sqlx::Error> {
    tenant::create(conn, None).await
}

/// How many spares are ready (committed).
pub async fn ready(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM app.tenants WHERE status = 'spare'")
        .fetch_one(pool)
        .await
}

/// Creates spares until `target` are ready, one transaction each; returns how many it
/// created. Returns at once (0) while another process replenishes: that one counts again before
/// each spare, so it covers every claim made meanwhile.
pub async fn replenish(pool: &PgPool, target: usize) -> Result<usize, sqlx::Error> {
    let target = i64::try_from(target).unwrap_or(i64::MAX);
    let mut created = 0;
    loop {
        let mut tx = pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, 0)")
            .bind(LOCK_SPARES)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(created);
        }
        let ready: i64 =
            sqlx::query_scalar("SELECT count(*) FROM app.tenants WHERE status = 'spare'")
                .fetch_one(&mut *tx)
                .await?;
        if ready >= target {
            return Ok(created);
        }
        let started = std::time::Instant::now();
        let spare = create(&mut tx).await?;
        tx.commit().await?;
        // The scale benchmark's baseline (`examples/bench_scale.rs`): what an inline sign-up
        // would have spent on the schema, with its commit.
        tracing::debug!(
            spare = %spare.key(),
            provision_us = started.elapsed().as_micros() as u64,
            "spare provisioned"
        );
        created += 1;
    }
}

/// The replenisher: keeps `target` spares ready until `stop` turns true. Listens on
/// [`CHANNEL`] through `listen_pool` (one connection of its own) and replenishes at start, on
/// every claim heard and every [`POLL`]; a failure is logged and retried at the next of these.
pub async fn run(
    pool: PgPool,
    listen_pool: PgPool,
    target: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut listener: Option<PgListener> = None;
    loop {
        // A shutdown does not wait for the spare being made: its transaction rolls back.
        let replenished = tokio::select! {
            _ = stop.changed() => return,
            replenished = replenish(&pool, target) => replenished,
        };
        match replenished {
            Ok(0) => {}
            Ok(created) => tracing::info!(created, "spare club schemas provisioned"),
            Err(error) => tracing::warn!(%error, "spare club schemas: replenishing failed"),
        }
        if listener.is_none() {
            listener = listen(&listen_pool).await;
        }
        let heard = async {
            match listener.as_mut() {
                Some(l) => l.try_recv().await.ok().flatten().is_some(),
                None => std::future::pending().await,
            }
        };
        let lost = tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(POLL) => false,
            heard = heard => !heard,
        };
        if lost {
            // Listen again on the next round (what was said meanwhile is covered by counting).
            listener = None;
        }
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let attempt = async {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match attempt.await {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, "spare club schemas: cannot listen for claims; polling");
            None
        }
    }
}
