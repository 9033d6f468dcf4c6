//! Spare club schemas (`db::spares`, issue 13 item 4): a sign-up claims a ready, migrated schema
//! instead of creating one, the workers refill the pool, and a spare is nobody's club.

use crate::helpers::*;
use kasa::db::spares;
use kasa::db::tenant::{Tenant, TenantKey};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// A Kasa whose workers keep `n` spares ready.
async fn spawn_with_spares(n: usize) -> TestApp {
    TestApp::spawn_with(|c| c.spare_schemas = n).await
}

/// The ready spares, oldest first.
async fn spare_ids(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT id FROM app.tenants WHERE status = 'spare' ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("spares")
}

/// Waits (up to 120 s: each spare is ≈ 150 DDL statements) until `n` spares are ready.
async fn ready_spares(app: &TestApp, n: usize) -> Vec<Uuid> {
    for _ in 0..1200 {
        let ids = spare_ids(&app.pool).await;
        if ids.len() >= n {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} spares after 120 s");
}

fn key_of(id: Uuid) -> TenantKey {
    TenantKey::from_id(id.into())
}

/// What a club's schema holds, with its name left out: tables with their columns (type,
/// nullability, default), indexes, constraints, triggers, functions and each table's row count.
async fn shape(pool: &PgPool, tenant: &Tenant) -> Vec<String> {
    let schema = tenant.schema().as_str();
    let mut shape: Vec<String> = sqlx::query_scalar(
        "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' \
                || is_nullable || ' ' || coalesce(column_default, '') \
           FROM information_schema.columns WHERE table_schema = $1 \
         UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = $1 \
         UNION ALL SELECT 'constraint ' || c.conname || ' ' || pg_get_constraintdef(c.oid) \
           FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1 \
         UNION ALL SELECT 'trigger ' || t.tgname || ' ' || pg_get_triggerdef(t.oid) \
           FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid \
           JOIN pg_namespace n ON n.oid = r.relnamespace \
          WHERE n.nspname = $1 AND NOT t.tgisinternal \
         UNION ALL SELECT 'function ' || p.proname || ' ' || md5(p.prosrc) \
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .expect("catalog");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .expect("tables");
    for table in tables {
        let rows: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {}.\"{table}\"",
            tenant.schema().quoted()
        ))
        .fetch_one(pool)
        .await
        .expect("rows");
        shape.push(format!("rows {table} {rows}"));
    }
    let mut shape: Vec<String> = shape
        .iter()
        .map(|s| s.replace(schema, "<schema>"))
        .collect();
    shape.sort();
    shape
}

/// The club's row in `app.tenants` as sign-up leaves it, without its id: status, name, IČO,
/// shard, schema version, and whether `created_at` is the sign-up's.
async fn club_row(pool: &PgPool, tenant: &Tenant, signed_up_after: time::OffsetDateTime) -> String {
    let (status, name, ico, shard, version, fresh): (String, String, String, String, i64, bool) =
        sqlx::query_as(
            "SELECT status, name, ico, db_shard, schema_version, created_at >= $2 \
               FROM app.tenants WHERE id = $1",
        )
        .bind(tenant.id())
        .bind(signed_up_after)
        .fetch_one(pool)
        .await
        .expect("club row");
    format!("{status} {name} {ico} {shard} {version} created at sign-up: {fresh}")
}

async fn database_now(pool: &PgPool) -> time::OffsetDateTime {
    sqlx::query_scalar("SELECT now()")
        .fetch_one(pool)
        .await
        .expect("now")
}

#[tokio::test]
async fn a_sign_up_claims_the_oldest_ready_spare_and_the_workers_refill_the_pool() {
    let app = spawn_with_spares(2).await;
    let spares = ready_spares(&app, 2).await;
    let before = database_now(&app.pool).await;

    let owner = app.client();
    let dashboard = app.sign_up(&owner, "TJ Sokol", ICO_A, "p@sokol.cz").await;
    let club = app.tenant(&dashboard).await;
    assert_eq!(club.id(), spares[0], "the oldest spare became the club");
    assert_eq!(
        club_row(&app.pool, &club, before).await,
        format!(
            "active TJ Sokol {ICO_A} main {} created at sign-up: true",
            kasa::db::migrate::latest_tenant_version()
        )
    );
    let (status, page) = owner.get_text(&dashboard).await;
    assert_eq!(status, 200);
    assert!(page.contains("TJ Sokol"));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM app.memberships WHERE tenant_id = '{}' AND role = 'owner'",
            club.id()
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM {}.audit_log WHERE action = 'club.created'",
            club.schema().quoted()
        ))
        .await,
        1
    );

    // The claim woke the replenisher: two spares again, the untouched one and a new one.
    let mut refilled = Vec::new();
    for _ in 0..1200 {
        refilled = spare_ids(&app.pool).await;
        if refilled.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refilled.len(), 2, "refilled");
    assert_eq!(refilled[0], spares[1]);
    assert!(!refilled.contains(&club.id()));
}

#[tokio::test]
async fn a_club_on_a_claimed_spare_is_the_same_as_one_provisioned_inline() {
    let with_spares = spawn_with_spares(1).await;
    ready_spares(&with_spares, 1).await;
    let inline = TestApp::spawn().await;

    let mut clubs = Vec::new();
    for app in [&with_spares, &inline] {
        let before = database_now(&app.pool).await;
        let dashboard = app
            .sign_up(&app.client(), "TJ Sokol", ICO_A, "p@sokol.cz")
            .await;
        let club = app.tenant(&dashboard).await;
        clubs.push((
            club_row(&app.pool, &club, before).await,
            shape(&app.pool, &club).await,
        ));
    }
    assert_eq!(
        spare_ids(&inline.pool).await.len(),
        0,
        "no spares: provisioned inline"
    );
    assert!(clubs[0].1.iter().any(|s| s == "rows audit_log 1"));
    assert!(clubs[0].1.iter().any(|s| s == "rows payment_stamp 1"));
    assert_eq!(clubs[0], clubs[1]);
}

#[tokio::test]
async fn a_sign_up_with_no_spare_ready_provisions_the_club_inline() {
    let app = TestApp::spawn().await;
    let owner = app.client();
    let dashboard = app.sign_up(&owner, "TJ Sokol", ICO_A, "p@sokol.cz").await;
    let (status, page) = owner.get_text(&dashboard).await;
    assert_eq!(status, 200);
    assert!(page.contains("TJ Sokol"));
    assert_eq!(
        app.count("SELECT count(*) FROM app.tenants WHERE status = 'active'")
            .await,
        1
    );
    assert!(spare_ids(&app.pool).await.is_empty());
}

#[tokio::test]
async fn a_spare_is_nobodys_club_not_for_operators_workers_or_urls() {
    let app = spawn_with_spares(1).await;
    let owner = app.client();
    let dashboard = app.sign_up(&owner, "TJ Sokol", ICO_A, "p@sokol.cz").await;
    let club = app.tenant(&dashboard).await;
    let spare = ready_spares(&app, 1).await[0];
    assert_ne!(spare, club.id());

    // Workers and operators load clubs by id; a spare is none.
    assert!(
        Tenant::load(&app.pool, spare)
            .await
            .expect("load")
            .is_none()
    );
    let overview = kasa::consent::operator::overview(&app.pool, None)
        .await
        .expect("operator overview");
    let listed: Vec<Uuid> = overview.clubs.iter().map(|c| c.tenant_id).collect();
    assert_eq!(listed, vec![club.id()], "the operator sees only the club");

    // Nothing a worker schedules or sends points at it.
    for table in [
        "memberships",
        "invitations",
        "bank_connections",
        "sync_jobs",
        "pay_links",
        "payment_notice_subscriptions",
    ] {
        let sql = format!("SELECT count(*) FROM app.{table} WHERE tenant_id = '{spare}'");
        assert_eq!(app.count(&sql).await, 0, "{table}");
    }

    // Its key answers 404 like any club one is not a member of.
    let key = key_of(spare);
    for path in [
        format!("/t/{key}"),
        format!("/t/{key}/members"),
        format!("/t/{key}/fees"),
    ] {
        assert_eq!(owner.get(&path).await.status(), 404, "{path}");
    }
    let (_, page) = owner.get_text(&dashboard).await;
    assert!(!page.contains(key.as_str()), "not in the club switcher");
}

#[tokio::test]
async fn migrating_tenants_brings_the_spares_up_to_date() {
    let app = spawn_with_spares(1).await;
    app.sign_up(&app.client(), "TJ Sokol", ICO_A, "p@sokol.cz")
        .await;
    let spare = ready_spares(&app, 1).await[0];

    let mut migrations = kasa::db::migrate::tenant_migrations().to_vec();
    let next = kasa::db::migrate::latest_tenant_version() + 1;
    migrations.push(sqlx::migrate::Migration::new(
        next,
        "test column".into(),
        sqlx::migrate::MigrationType::Simple,
        "ALTER TABLE members ADD COLUMN test_flag boolean NOT NULL DEFAULT false".into(),
        false,
    ));
    let report = kasa::db::migrate::migrate_tenants_with(&app.pool, &migrations)
        .await
        .expect("migrate");
    assert_eq!(
        (report.migrated, report.failed.len()),
        (2, 0),
        "the club and the spare"
    );
    let version: i64 = sqlx::query_scalar("SELECT schema_version FROM app.tenants WHERE id = $1")
        .bind(spare)
        .fetch_one(&app.pool)
        .await
        .expect("version");
    assert_eq!(version, next);
    let schema = kasa::db::tenant::SchemaName::for_key(key_of(spare));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM information_schema.columns \
              WHERE table_schema = '{}' AND table_name = 'members' AND column_name = 'test_flag'",
            schema.as_str()
        ))
        .await,
        1
    );

    // `kasa migrate` of this build finds everything current, spares included.
    let report = kasa::db::migrate::migrate_tenants(&app.pool)
        .await
        .expect("migrate");
    assert_eq!((report.migrated, report.up_to_date), (0, 2));
}

#[tokio::test]
async fn concurrent_sign_ups_never_claim_the_same_spare() {
    let app = spawn_with_spares(3).await;
    let spares = ready_spares(&app, 3).await;
    let now = app.now();
    let sign_ups = (0..6).map(|i| {
        let pool = app.pool.clone();
        async move {
            signed_up_club(
                &pool,
                &format!("Klub {i}"),
                ICO_A,
                &format!("k{i}@klub.cz"),
                now,
            )
            .await
            .tenant
            .id()
        }
    });
    let mut clubs = futures::future::join_all(sign_ups).await;
    clubs.sort();
    clubs.dedup();
    assert_eq!(clubs.len(), 6, "six different clubs");
    let claimed = clubs.iter().filter(|id| spares.contains(id)).count();
    assert_eq!(claimed, 3, "each ready spare was claimed once");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM app.tenants t WHERE t.status = 'active' AND t.name LIKE 'Klub %' \
                AND (SELECT count(*) FROM app.memberships m WHERE m.tenant_id = t.id) = 1"
        )
        .await,
        6,
        "each club has its name and exactly its owner"
    );
}

#[tokio::test]
async fn a_spare_is_claimable_only_once_its_provisioning_committed_and_replenishers_share() {
    let app = TestApp::spawn().await;

    // Half-way (the transaction open): nobody sees it, and a sign-up provisions inline.
    let mut tx = app.pool.begin().await.expect("begin");
    let half = spares::create(&mut tx).await.expect("spare");
    assert!(spare_ids(&app.pool).await.is_empty());
    let club = signed_up_club(&app.pool, "TJ Sokol", ICO_A, "p@sokol.cz", app.now()).await;
    assert_ne!(club.tenant.id(), half.id());
    // A crash is a rollback: no row, no schema.
    drop(tx);
    assert!(spare_ids(&app.pool).await.is_empty());
    let schema = format!(
        "SELECT count(*) FROM pg_namespace WHERE nspname = '{}'",
        half.schema().as_str()
    );
    assert_eq!(app.count(&schema).await, 0);

    // Two replenishers at once fill the pool exactly, neither waiting for the other's DDL.
    let (a, b) = tokio::join!(
        spares::replenish(&app.pool, 3),
        spares::replenish(&app.pool, 3)
    );
    let created = a.expect("replenish") + b.expect("replenish");
    let ready = spares::ready(&app.pool).await.expect("ready");
    assert!(created <= 3 && ready == i64::try_from(created).expect("count"));
    assert_eq!(
        spares::replenish(&app.pool, 3).await.expect("replenish") + created,
        3
    );
    assert_eq!(spares::ready(&app.pool).await.expect("ready"), 3);
}

#[tokio::test]
async fn a_spare_an_older_build_made_is_brought_up_to_date_when_claimed() {
    let app = spawn_with_spares(1).await;
    let spare = ready_spares(&app, 1).await[0];
    // As an older build left it: every migration but the newest.
    let schema = kasa::db::tenant::SchemaName::for_key(key_of(spare));
    let reset = format!(
        "DROP SCHEMA {q} CASCADE; CREATE SCHEMA {q}; \
         UPDATE app.tenants SET schema_version = 0 WHERE id = '{spare}'",
        q = schema.quoted()
    );
    sqlx::raw_sql(&reset)
        .execute(&app.pool)
        .await
        .expect("reset");
    let migrations = kasa::db::migrate::tenant_migrations();
    let older = &migrations[..migrations.len() - 1];
    kasa::db::migrate::migrate_tenants_with(&app.pool, older)
        .await
        .expect("older migrations");

    let before = database_now(&app.pool).await;
    let dashboard = app
        .sign_up(&app.client(), "TJ Sokol", ICO_A, "p@sokol.cz")
        .await;
    let club = app.tenant(&dashboard).await;
    assert_eq!(club.id(), spare);
    let reference = app
        .sign_up(&app.client(), "TJ Sokol", ICO_A, "q@sokol.cz")
        .await;
    let reference = app.tenant(&reference).await;
    assert_eq!(
        club_row(&app.pool, &club, before).await,
        club_row(&app.pool, &reference, before).await
    );
    assert_eq!(
        shape(&app.pool, &club).await,
        shape(&app.pool, &reference).await
    );
}
