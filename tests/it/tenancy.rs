//! Tenant schemas are self-contained (issue 13 item 4; what Citus's schema-based sharding needs
//! to move a club's schema to another node, docs/scaling.md):
//!
//! - no foreign key, column type, view or trigger function of a tenant schema refers to anything
//!   outside that schema, and no control-plane foreign key points into one (catalog check);
//! - only `db::tenant` and `db::migrate` point SQL at a club's schema (source check);
//! - a club's sync, payment matching and main pages run while every relation of another club's
//!   schema is locked against all access by another session: none of them touches that schema
//!   (a statement that did would wait for the lock, and the test's time limit would end it).

use crate::consent::confirmed_club;
use crate::fee_sync::{Club, incoming};
use crate::fees::{add_member, month_start, monthly_schedule, tenant_of};
use crate::helpers::*;
use kasa::db::tenant::Tenant;
use sqlx::{Connection, Executor};
use std::path::Path;
use std::time::Duration;

/// Every reference from an object of a tenant schema to an object of another schema (not the
/// system's), and every control-plane foreign key into a tenant schema: `(what, from, to)`.
const LEAVING: &str = "
    SELECT 'foreign key ' || c.conname, src.nspname::text, dst.nspname::text
      FROM pg_constraint c
      JOIN pg_class sc ON sc.oid = c.conrelid JOIN pg_namespace src ON src.oid = sc.relnamespace
      JOIN pg_class dc ON dc.oid = c.confrelid JOIN pg_namespace dst ON dst.oid = dc.relnamespace
     WHERE c.contype = 'f' AND src.nspname <> dst.nspname
       AND (src.nspname LIKE 't\\_%' OR dst.nspname LIKE 't\\_%')
    UNION ALL
    SELECT 'column type ' || r.relname || '.' || a.attname, n.nspname::text, tn.nspname::text
      FROM pg_attribute a
      JOIN pg_class r ON r.oid = a.attrelid JOIN pg_namespace n ON n.oid = r.relnamespace
      JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace
     WHERE n.nspname LIKE 't\\_%' AND a.attnum > 0 AND NOT a.attisdropped
       AND tn.nspname NOT IN (n.nspname, 'pg_catalog')
    UNION ALL
    SELECT 'view ' || v.relname || ' reads ' || d.relname, n.nspname::text, dn.nspname::text
      FROM pg_rewrite w
      JOIN pg_class v ON v.oid = w.ev_class JOIN pg_namespace n ON n.oid = v.relnamespace
      JOIN pg_depend p ON p.classid = 'pg_rewrite'::regclass AND p.objid = w.oid
                      AND p.refclassid = 'pg_class'::regclass
      JOIN pg_class d ON d.oid = p.refobjid JOIN pg_namespace dn ON dn.oid = d.relnamespace
     WHERE n.nspname LIKE 't\\_%' AND dn.nspname NOT IN (n.nspname, 'pg_catalog')
    UNION ALL
    SELECT 'trigger ' || g.tgname || ' calls ' || f.proname, n.nspname::text, fn.nspname::text
      FROM pg_trigger g
      JOIN pg_class r ON r.oid = g.tgrelid JOIN pg_namespace n ON n.oid = r.relnamespace
      JOIN pg_proc f ON f.oid = g.tgfoid JOIN pg_namespace fn ON fn.oid = f.pronamespace
     WHERE n.nspname LIKE 't\\_%' AND NOT g.tgisinternal
       AND fn.nspname NOT IN (n.nspname, 'pg_catalog')";

#[tokio::test]
async fn nothing_in_a_tenant_schema_refers_outside_it_and_nothing_outside_refers_into_one() {
    let app = TestApp::spawn().await;
    app.sign_up(&app.client(), "Klub A", ICO_A, "a@a.cz").await;
    app.sign_up(&app.client(), "Klub B", ICO_B, "b@b.cz").await;
    let report = kasa::db::migrate::migrate_tenants(&app.pool)
        .await
        .expect("migrate");
    assert_eq!((report.up_to_date, report.failed.len()), (2, 0));

    let leaving: Vec<(String, String, String)> = sqlx::query_as(LEAVING)
        .fetch_all(&app.pool)
        .await
        .expect("catalog");
    assert!(leaving.is_empty(), "{leaving:#?}");

    // The check sees the schemas' own references: each schema has its foreign keys and
    // triggers, all within itself.
    let inside: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT n.nspname::text, \
                (SELECT count(*) FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid \
                  WHERE r.relnamespace = n.oid AND c.contype = 'f'), \
                (SELECT count(*) FROM pg_trigger g JOIN pg_class r ON r.oid = g.tgrelid \
                  WHERE r.relnamespace = n.oid AND NOT g.tgisinternal) \
           FROM pg_namespace n WHERE n.nspname LIKE 't\\_%' ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .expect("inside");
    assert_eq!(inside.len(), 2, "two club schemas");
    for (schema, keys, triggers) in inside {
        assert!(
            keys > 5 && triggers > 5,
            "{schema}: {keys} keys, {triggers} triggers"
        );
    }
}

/// The Rust sources under `src/`, as (path relative to the repository, text).
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                let name = path
                    .strip_prefix(root)
                    .expect("inside")
                    .display()
                    .to_string();
                found.push((name, text));
            }
        }
    }
    found
}

/// The code of `text` without `//` comments (doc comments included).
fn code(text: &str) -> String {
    // A file's unit tests (its `#[cfg(test)]` module, at the end by convention) build no SQL.
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    text.lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn only_the_tenant_module_points_sql_at_a_club_schema() {
    let mut offending = Vec::new();
    let mut one_statement_reads = 0;
    for (path, text) in sources() {
        let in_db = path.starts_with("src/db/");
        let code = code(&text);
        // A schema on the search path or spliced into SQL text: `db::tenant` (`TenantTx`,
        // provisioning) and `db::migrate` only.
        for needle in ["search_path", ".quoted()", "SchemaName::", "\"t_"] {
            if !in_db && code.contains(needle) {
                offending.push(format!("{path}: {needle}"));
            }
        }
        // `Tenant::table` qualifies one table of one club for a one-statement read; every
        // statement built with it names a single club.
        for statement in code.split(';').filter(|s| s.contains(".table(\"")) {
            one_statement_reads += 1;
            let receivers: std::collections::BTreeSet<&str> = statement
                .match_indices(".table(\"")
                .map(|(at, _)| {
                    let before = &statement[..at];
                    let start = before
                        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                        .map_or(0, |i| i + 1);
                    &before[start..]
                })
                .collect();
            if receivers.len() != 1 {
                offending.push(format!("{path}: one statement, clubs {receivers:?}"));
            }
        }
    }
    assert!(offending.is_empty(), "{offending:#?}");
    assert!(
        one_statement_reads > 0,
        "the check sees Tenant::table's callers"
    );
}

/// Opens a transaction on its own connection that locks every table and view of `tenant`'s
/// schema ACCESS EXCLUSIVE: from then on, any statement of another session that reads or
/// writes one of them (or plans against it) waits until the connection is dropped.
async fn lock_out(app: &TestApp, tenant: &Tenant) -> sqlx::PgConnection {
    let mut conn = sqlx::PgConnection::connect_with(&app.db)
        .await
        .expect("connect");
    let relations: Vec<(String,)> = sqlx::query_as(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm')",
    )
    .bind(tenant.schema().as_str())
    .fetch_all(&mut conn)
    .await
    .expect("relations");
    assert!(relations.len() > 10, "{relations:?}");
    let names: Vec<String> = relations.into_iter().map(|r| r.0).collect();
    conn.execute(
        format!(
            "BEGIN; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            names.join(", ")
        )
        .as_str(),
    )
    .await
    .expect("lock");
    conn
}

/// `what` finishes within 30 s (a statement waiting for the locked club would not).
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what} waited: it touched the locked club's schema"))
}

#[tokio::test]
async fn a_clubs_sync_matching_and_pages_never_touch_another_clubs_schema() {
    // Club A: connected, a member and a monthly fee; club B: the same data, not connected.
    let a = Club::new().await;
    let app = &a.app;
    let member = a.member("Jana Nováková", "2026001").await;
    let last_month = month_start(app, 1);
    monthly_schedule(&a.client, &a.dashboard, &last_month).await;
    let (b_client, b_dashboard) = confirmed_club(app, "b@oddil.cz", ICO_B).await;
    let b = tenant_of(app, &b_dashboard).await;
    add_member(app, &b, "Jana Nováková", "2026001", "2010-01-01").await;
    monthly_schedule(&b_client, &b_dashboard, &last_month).await;
    a.book(incoming(
        "fee-1",
        500,
        &a.today().to_string(),
        Some("2026001"),
    ))
    .await;

    // The method catches a touch: with B locked, a read of B's members waits (and here gives
    // up after 200 ms).
    let locked = lock_out(app, &b).await;
    let mut probe = sqlx::PgConnection::connect_with(&app.db)
        .await
        .expect("connect");
    let touched = probe
        .execute(
            format!(
                "SET lock_timeout = '200ms'; SELECT count(*) FROM {}.members",
                b.schema().quoted()
            )
            .as_str(),
        )
        .await;
    assert!(touched.is_err(), "a read of the locked schema waits");

    // A's sync (its KB download, ledger write, matching and balance watch), then A's pages.
    within("club A's sync", a.sync()).await;
    assert_eq!(a.paid(member, &last_month).await, 50_000, "matched");
    for page in [
        String::new(),
        format!("/accounts/{}", a.account),
        "/fees".into(),
        format!("/fees/members/{member}"),
        "/members".into(),
        "/payments".into(),
        "/team".into(),
        "/audit".into(),
    ] {
        let path = format!("{}{page}", a.dashboard);
        let response = within(&path, a.client.get(&path)).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    drop(locked);

    // B's own data is untouched and readable again.
    let (members,): (i64,) = tenant_row(app, &b, "SELECT count(*) FROM members").await;
    assert_eq!(members, 1);
}
