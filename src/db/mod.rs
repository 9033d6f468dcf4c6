//! Database access plumbing: connection pools, migrations, the private cluster, tenant scoping.
//!
//! Every runtime connection starts with `search_path` set to the empty schema `kasa_empty`, so
//! tenant SQL run outside a [`tenant::TenantTx`] fails loudly ("relation does not exist")
//! instead of reading another club's rows. Control-plane SQL always names schema `app`.
//! The pool's `after_release` hook rolls back and resets `search_path`, closing the window where a
//! cancelled `BEGIN` would hand the next borrower a connection still inside a tenant's
//! transaction (reliability doc §1.3).

pub mod embedded;
pub mod migrate;
pub mod schema;
pub mod spares;
pub mod tenant;

use futures::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgConnection, PgPool};
use std::time::Duration;

/// The schema every runtime connection starts in. It holds nothing and nobody can create in it.
pub const EMPTY_SCHEMA: &str = "kasa_empty";

/// Connect options with Kasa's fail-closed default `search_path`.
pub fn runtime_options(options: PgConnectOptions) -> PgConnectOptions {
    options
        .options([("search_path", EMPTY_SCHEMA)])
        .application_name("kasa")
}

/// A pool whose connections are reset on release.
pub async fn connect_pool(
    options: PgConnectOptions,
    max_connections: u32,
) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        // No ping before each acquire: one round trip less per page and statement outside a
        // transaction. A connection the server dropped fails its next statement instead (an
        // error page or a retried job); `max_lifetime` and the release hygiene still apply.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .max_lifetime(Duration::from_secs(10 * 60))
        .after_release(release_hygiene)
        .connect_with(runtime_options(options))
        .await
}

/// Runs on every connection returned to the pool: leave no transaction open and no tenant on
/// the search path. (`DISCARD ALL` would also drop sqlx's prepared statements: never use it.)
fn release_hygiene(
    conn: &mut PgConnection,
    _meta: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        // One message. On a clean connection (almost always) `BEGIN; ROLLBACK` warns nothing,
        // where a bare ROLLBACK would write "there is no transaction in progress" to the
        // server's log on every release. Inside a transaction left open, BEGIN warns (the
        // server log then shows the case this hook exists for) and ROLLBACK ends it. In an
        // aborted transaction BEGIN fails and the message stops: that connection is closed.
        match conn
            .execute(sqlx::raw_sql("BEGIN; ROLLBACK; RESET search_path"))
            .await
        {
            Ok(_) => Ok(true),
            Err(error) => {
                tracing::warn!(%error, "closing a pooled connection that could not be reset");
                Ok(false)
            }
        }
    })
}

/// Whether the database answers (for `/healthz`).
pub async fn is_reachable(pool: &PgPool) -> bool {
    tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(pool),
    )
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false)
}
