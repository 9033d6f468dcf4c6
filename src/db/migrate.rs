//! Migrations: the control plane (`migrations/app/`, schema `app`) and the tenant schemas
//! (`migrations/tenant/`, applied to each `t_…` schema, one tenant per transaction).
//!
//! The control plane uses sqlx's migrator. Tenant migrations are applied by our own small runner
//! because sqlx's migrator takes one advisory lock per *database* and keeps its history in the
//! first schema of the search path: here each tenant records its version in
//! `app.tenants.schema_version`, a failed tenant leaves the others untouched, and a rerun resumes.

use super::schema::SchemaName;
use sqlx::migrate::Migration;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

static APP_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/app");
static TENANT_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/tenant");

/// Applies the control-plane migrations (creates schema `app` if needed).
pub async fn migrate_app(options: &PgConnectOptions) -> Result<(), sqlx::Error> {
    let mut conn =
        PgConnection::connect_with(&options.clone().options([("search_path", "app")])).await?;
    conn.execute("CREATE SCHEMA IF NOT EXISTS app").await?;
    APP_MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// The newest tenant schema version this build knows.
pub fn latest_tenant_version() -> i64 {
    latest_version(tenant_migrations())
}

/// The tenant migrations this build knows (`migrations/tenant/`), by ascending version: what
/// provisioning and [`migrate_tenants`] apply. A caller of [`migrate_tenants_with`] (the scale
/// benchmark) may append its own.
pub fn tenant_migrations() -> &'static [Migration] {
    &TENANT_MIGRATOR.migrations
}

fn latest_version(migrations: &[Migration]) -> i64 {
    migrations.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Applies the tenant migrations newer than `from_version` inside an open transaction whose
/// search path is the tenant's schema, and records the new version.
pub(crate) async fn apply_tenant_migrations(
    conn: &mut PgConnection,
    migrations: &[Migration],
    tenant_id: Uuid,
    from_version: i64,
) -> Result<i64, sqlx::Error> {
    let mut version = from_version;
    for migration in migrations {
        if migration.version <= version || migration.migration_type.is_down_migration() {
            continue;
        }
        conn.execute(sqlx::raw_sql(&migration.sql)).await?;
        version = migration.version;
    }
    sqlx::query("UPDATE app.tenants SET schema_version = $2 WHERE id = $1")
        .bind(tenant_id)
        .bind(version)
        .execute(&mut *conn)
        .await?;
    Ok(version)
}

/// Outcome of migrating all tenants.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TenantMigrationReport {
    pub migrated: usize,
    pub up_to_date: usize,
    pub failed: Vec<(Uuid, String)>,
}

/// Brings every tenant schema to the latest version, one tenant per transaction. Resumable: a
/// failure is reported and the remaining tenants still run; the next call picks the failed ones up.
pub async fn migrate_tenants(pool: &PgPool) -> Result<TenantMigrationReport, sqlx::Error> {
    migrate_tenants_with(pool, tenant_migrations()).await
}

/// [`migrate_tenants`] with the given migrations (ascending versions; the ones a tenant's
/// `schema_version` already covers are skipped).
pub async fn migrate_tenants_with(
    pool: &PgPool,
    migrations: &[Migration],
) -> Result<TenantMigrationReport, sqlx::Error> {
    let latest = latest_version(migrations);
    let tenants: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT id, schema_name, schema_version FROM app.tenants ORDER BY created_at",
    )
    .fetch_all(pool)
    .await?;
    let mut report = TenantMigrationReport::default();
    for (id, schema, version) in tenants {
        if version >= latest {
            report.up_to_date += 1;
            continue;
        }
        let result = migrate_one(pool, migrations, id, &schema).await;
        match result {
            Ok(()) => report.migrated += 1,
            Err(error) => {
                tracing::warn!(tenant = %id, %error, "tenant migration failed; will retry on next run");
                report.failed.push((id, error.to_string()));
            }
        }
    }
    Ok(report)
}

async fn migrate_one(
    pool: &PgPool,
    migrations: &[Migration],
    id: Uuid,
    schema: &str,
) -> Result<(), sqlx::Error> {
    let schema = SchemaName::parse(schema)
        .ok_or_else(|| sqlx::Error::Protocol(format!("invalid tenant schema name {schema:?}")))?;
    let mut tx = pool
        .begin_with(format!(
            "BEGIN; SET LOCAL search_path TO {}; SET LOCAL lock_timeout = '5s'",
            schema.quoted()
        ))
        .await?;
    // Re-read the version under a row lock: two migrators never apply the same step twice.
    let (version,): (i64,) =
        sqlx::query_as("SELECT schema_version FROM app.tenants WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    apply_tenant_migrations(&mut tx, migrations, id, version).await?;
    tx.commit().await
}
