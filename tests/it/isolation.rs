//! Tenant isolation, proven: wrong-club access, scoped transactions, cancellation safety.

use crate::helpers::*;
use kasa::db::tenant::{Tenant, TenantTx};
use rand::Rng;
use sqlx::Row;
use std::time::Duration;

/// Two clubs, "Klub A" and "Klub B", signed up through the form.
async fn two_clubs(app: &TestApp) -> (Tenant, Tenant) {
    let a = app.sign_up(&app.client(), "Klub A", ICO_A, "a@a.cz").await;
    let b = app.sign_up(&app.client(), "Klub B", ICO_B, "b@b.cz").await;
    (app.tenant(&a).await, app.tenant(&b).await)
}

#[tokio::test]
async fn a_club_never_sees_another_clubs_data_through_any_club_route() {
    let app = TestApp::spawn().await;
    let alice = app.client();
    let club_a = app
        .sign_up(&alice, "Klub Alenky", ICO_A, "alice@a.cz")
        .await;
    let bob = app.client();
    let club_b = app
        .sign_up(&bob, "Bobův Tajný Oddíl", ICO_B, "bob@b.cz")
        .await;
    bob.post_form(
        &format!("{club_b}/team/invite"),
        &[("email", "tajny.clen@b.cz"), ("role", "viewer")],
    )
    .await;

    // Identical row ids in both schemas: audit entry 1 exists in each.
    for club in [&club_a, &club_b] {
        let tenant = app.tenant(club).await;
        let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
        let (min,): (i64,) = sqlx::query_as("SELECT min(id) FROM audit_log")
            .fetch_one(&mut *tx)
            .await
            .expect("ids");
        assert_eq!(min, 1);
        tx.commit().await.expect("commit");
    }
    let (bob_member,): (i64,) = sqlx::query_as(
        "SELECT m.id FROM app.memberships m JOIN app.users u ON u.id = m.user_id WHERE u.email = 'bob@b.cz'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("bob");
    let (bob_invitation,): (i64,) = sqlx::query_as("SELECT id FROM app.invitations")
        .fetch_one(&app.pool)
        .await
        .expect("inv");

    let secrets = ["Bobův Tajný Oddíl", "bob@b.cz", "tajny.clen@b.cz"];
    let mut bodies = Vec::new();
    for path in [
        club_b.clone(),
        format!("{club_b}/team"),
        format!("{club_b}/audit"),
    ] {
        let (status, body) = alice.get_text(&path).await;
        assert_eq!(status, 404, "GET {path}");
        bodies.push(body);
    }
    for path in [
        format!("{club_b}/team/invite"),
        format!("{club_b}/team/teammates/{bob_member}/role"),
        format!("{club_b}/team/teammates/{bob_member}/remove"),
        format!("{club_b}/team/invitations/{bob_invitation}/revoke"),
        // B's ids through A's own club: not found either.
        format!("{club_a}/team/teammates/{bob_member}/role"),
        format!("{club_a}/team/teammates/{bob_member}/remove"),
        format!("{club_a}/team/invitations/{bob_invitation}/revoke"),
    ] {
        let (status, body) = alice
            .post_text(&path, &[("email", "x@a.cz"), ("role", "viewer")])
            .await;
        assert_eq!(status, 404, "POST {path}");
        bodies.push(body);
    }
    for path in [
        club_a.clone(),
        format!("{club_a}/team"),
        format!("{club_a}/audit"),
        "/clubs".to_owned(),
    ] {
        bodies.push(alice.get_text(&path).await.1);
    }
    for body in &bodies {
        for secret in secrets {
            assert!(!body.contains(secret), "{secret} leaked");
        }
    }
    // Nothing of B changed.
    assert_eq!(app.count("SELECT count(*) FROM app.memberships").await, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM app.invitations WHERE revoked_at IS NULL")
            .await,
        1
    );
    let (role,): (String,) = sqlx::query_as("SELECT role FROM app.memberships WHERE id = $1")
        .bind(bob_member)
        .fetch_one(&app.pool)
        .await
        .expect("role");
    assert_eq!(role, "owner");
    // Malformed and unknown club keys look the same as foreign ones.
    for path in [
        "/t/not-a-key",
        "/t/aaaaaaaaaaaaaaaaaaaaaaaaaa",
        "/t/AAAAAAAAAAAAAAAAAAAAAAAAAA/team",
    ] {
        assert_eq!(alice.get(path).await.status(), 404, "{path}");
    }
    // Signed out, club pages send to the login page.
    let response = app.client().get(&club_b).await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn tenant_sql_outside_a_tenant_transaction_fails_loudly() {
    let app = TestApp::spawn().await;
    app.sign_up(&app.client(), "Klub", ICO_A, "a@a.cz").await;
    let error = sqlx::query("SELECT count(*) FROM audit_log")
        .fetch_one(&app.pool)
        .await
        .expect_err("must fail without a tenant scope");
    assert!(error.to_string().contains("does not exist"), "{error}");
    let row = sqlx::query("SHOW search_path")
        .fetch_one(&app.pool)
        .await
        .expect("show");
    assert_eq!(row.get::<String, _>(0), "kasa_empty");
}

#[tokio::test]
async fn a_tenant_transaction_sees_only_its_own_schema() {
    let app = TestApp::spawn().await;
    let (a, b) = two_clubs(&app).await;
    for (tenant, other) in [(&a, &b), (&b, &a)] {
        let mut tx = TenantTx::begin(&app.pool, tenant).await.expect("begin");
        let row = sqlx::query("SHOW search_path")
            .fetch_one(&mut *tx)
            .await
            .expect("show");
        let path: String = row.get(0);
        assert!(path.contains(tenant.schema().as_str()));
        assert!(!path.contains(other.schema().as_str()));
        let details: Vec<(serde_json::Value,)> = sqlx::query_as("SELECT details FROM audit_log")
            .fetch_all(&mut *tx)
            .await
            .expect("rows");
        let expected = if tenant == &a { "Klub A" } else { "Klub B" };
        assert!(details.iter().all(|(d,)| d["name"] == expected));
        tx.commit().await.expect("commit");
    }
}

#[tokio::test]
async fn a_storm_of_cancelled_tenant_transactions_leaves_no_connection_dirty() {
    let app = TestApp::spawn().await;
    let (a, b) = two_clubs(&app).await;
    // One connection: every iteration reuses the very connection the cancelled one left behind.
    let pool = kasa::db::connect_pool(app.db.clone(), 1)
        .await
        .expect("pool");
    let mut cancelled = 0;
    for i in 0..1000 {
        let tenant = if i % 2 == 0 { &a } else { &b };
        if i % 2 == 0 {
            // Cancel after a random number of polls: on the first one the BEGIN has just been
            // sent, so the drop lands between request and answer (the dangerous window).
            let polls = rand::thread_rng().gen_range(1..8);
            let begin = TenantTx::begin(&pool, tenant);
            tokio::pin!(begin);
            let mut finished = false;
            for poll in 0..polls {
                if poll > 0 {
                    tokio::task::yield_now().await;
                }
                match futures::poll!(begin.as_mut()) {
                    std::task::Poll::Ready(Ok(tx)) => {
                        drop(tx);
                        finished = true;
                        break;
                    }
                    std::task::Poll::Ready(Err(e)) => panic!("begin failed: {e}"),
                    std::task::Poll::Pending => {}
                }
            }
            if !finished {
                cancelled += 1;
            }
        } else {
            // Cancel on a timer, wherever the work happens to be.
            let budget = Duration::from_micros(rand::thread_rng().gen_range(0..1500));
            match tokio::time::timeout(budget, TenantTx::begin(&pool, tenant)).await {
                Err(_) => cancelled += 1,
                Ok(Ok(tx)) => drop(tx),
                Ok(Err(e)) => panic!("begin failed: {e}"),
            }
        }
        let mut conn = pool.acquire().await.expect("acquire");
        let row = sqlx::query("SHOW search_path")
            .fetch_one(&mut *conn)
            .await
            .expect("show");
        assert_eq!(
            row.get::<String, _>(0),
            "kasa_empty",
            "iteration {i}: tenant search_path leaked"
        );
        let savepoint = sqlx::query("SAVEPOINT probe").execute(&mut *conn).await;
        assert!(
            savepoint.is_err(),
            "iteration {i}: connection handed out inside a transaction"
        );
    }
    assert!(cancelled > 0, "the storm must actually cancel some begins");
    pool.close().await;
}

#[tokio::test]
async fn a_tenant_that_fails_to_migrate_does_not_stop_the_others_and_is_retried() {
    let app = TestApp::spawn().await;
    let (a, _) = two_clubs(&app).await;
    let report = kasa::db::migrate::migrate_tenants(&app.pool)
        .await
        .expect("migrate");
    assert_eq!(
        (report.migrated, report.up_to_date, report.failed.len()),
        (0, 2, 0)
    );
    assert_eq!(
        app.count("SELECT min(schema_version) FROM app.tenants")
            .await,
        kasa::db::migrate::latest_tenant_version()
    );
    // Pretend A is behind: re-applying its first migration fails (the table exists), B is fine.
    sqlx::query("UPDATE app.tenants SET schema_version = 0 WHERE id = $1")
        .bind(a.id())
        .execute(&app.pool)
        .await
        .expect("reset");
    let report = kasa::db::migrate::migrate_tenants(&app.pool)
        .await
        .expect("migrate");
    assert_eq!(report.up_to_date, 1);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, a.id());
    // The failure rolled back completely: A's schema still answers.
    let mut tx = TenantTx::begin(&app.pool, &a).await.expect("begin");
    sqlx::query("SELECT count(*) FROM audit_log")
        .fetch_one(&mut *tx)
        .await
        .expect("audit_log intact");
}
