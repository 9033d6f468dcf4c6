//! Two Kasa processes on one database: each keeps sessions and people in memory
//! (`live::Kept`), and what one process changes, the other learns through PostgreSQL's
//! notifications at once.

use crate::helpers::*;
use std::time::Duration;

/// Signs `email` in with a browser of its own and returns its session cookie (`name=value`), to
/// be sent by hand to either process.
async fn session_cookie(app: &TestApp, email: &str) -> String {
    let response = app.client().log_in(email, PASSWORD).await;
    assert_eq!(response.status(), 303, "signed in");
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("kasa_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// `GET path` on `app` with exactly this cookie; the status.
async fn status_with(app: &TestApp, cookie: &str, path: &str) -> u16 {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("GET")
        .status()
        .as_u16()
}

/// Asks until `path` answers `status` (for at most two seconds); whether it did.
async fn answers_soon(app: &TestApp, cookie: &str, path: &str, status: u16) -> bool {
    for _ in 0..40 {
        if status_with(app, cookie, path).await == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The processes' listening connections, ended by the database (a restart, a network fault).
pub(crate) async fn cut_listeners(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
          WHERE query LIKE 'LISTEN%kasa_live%' AND datname = current_database() \
            AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&app.pool)
    .await
    .expect("terminate");
    n
}

/// Runs `sql` with `trigger` on `table` switched off: a change no process hears of.
async fn unheard(app: &TestApp, table: &str, trigger: &str, sql: &str, bind: Option<i64>) {
    let mut tx = app.pool.begin().await.expect("begin");
    sqlx::query(&format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
        .execute(&mut *tx)
        .await
        .expect("hold back");
    let mut query = sqlx::query(sql);
    if let Some(value) = bind {
        query = query.bind(value);
    }
    query.execute(&mut *tx).await.expect(sql);
    sqlx::query(&format!("ALTER TABLE {table} ENABLE TRIGGER {trigger}"))
        .execute(&mut *tx)
        .await
        .expect("release");
    tx.commit().await.expect("commit");
}

/// Two processes on one database, and a signed-up owner's club (dashboard path) and session
/// cookie.
async fn two_processes_and_an_owner() -> (TestApp, TestApp, String, String) {
    let a = TestApp::spawn().await;
    let b = a.spawn_sibling().await;
    let dashboard = a
        .sign_up_confirmed(&a.client(), "Spolek", ICO_A, "owner@spolek.cz")
        .await;
    let cookie = session_cookie(&a, "owner@spolek.cz").await;
    (a, b, dashboard, cookie)
}

async fn membership_of(app: &TestApp, email: &str) -> i64 {
    let (id,): (i64,) = sqlx::query_as(
        "SELECT m.id FROM app.memberships m JOIN app.users u ON u.id = m.user_id \
          WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(&app.pool)
    .await
    .expect("membership");
    id
}

#[tokio::test]
async fn a_signed_in_page_is_served_from_what_the_process_keeps_until_it_hears_of_a_change() {
    let app = TestApp::spawn().await;
    let dashboard = app
        .sign_up_confirmed(&app.client(), "Spolek", ICO_A, "owner@spolek.cz")
        .await;
    let cookie = session_cookie(&app, "owner@spolek.cz").await;
    assert_eq!(status_with(&app, &cookie, &dashboard).await, 200);

    // The session ends in the database without a word: the process still knows the person.
    unheard(
        &app,
        "app.sessions",
        "sessions_live_notify",
        "DELETE FROM app.sessions",
        None,
    )
    .await;
    assert_eq!(status_with(&app, &cookie, &dashboard).await, 200);

    sqlx::query("SELECT pg_notify('kasa_live', 'all')")
        .execute(&app.pool)
        .await
        .expect("notify");
    assert!(
        answers_soon(&app, &cookie, &dashboard, 303).await,
        "the process did not forget on hearing"
    );
}

#[tokio::test]
async fn signing_out_in_one_process_ends_the_session_in_the_other_at_once() {
    let (a, b, dashboard, cookie) = two_processes_and_an_owner().await;
    // Both processes serve the page twice: both keep the session and the person.
    for app in [&a, &b, &a, &b] {
        assert_eq!(status_with(app, &cookie, &dashboard).await, 200);
    }

    let signed_out = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(a.url("/logout"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .expect("POST");
    assert_eq!(signed_out.status(), 303);

    assert!(
        answers_soon(&b, &cookie, &dashboard, 303).await,
        "the other process still serves the ended session"
    );
    assert_eq!(status_with(&a, &cookie, &dashboard).await, 303);
}

#[tokio::test]
async fn a_removed_teammate_loses_the_club_in_every_process_and_a_promotion_counts_at_once() {
    let a = TestApp::spawn().await;
    let b = a.spawn_sibling().await;
    let owner = a.client();
    let dashboard = a
        .sign_up_confirmed(&owner, "Spolek", ICO_A, "owner@spolek.cz")
        .await;
    let (_, token) = a
        .invite(&owner, &dashboard, "jana@spolek.cz", "viewer")
        .await;
    let joined = a
        .client()
        .post_form("/invitation", &[("token", &token), ("password", PASSWORD)])
        .await;
    assert_eq!(joined.status(), 303);
    let jana = session_cookie(&a, "jana@spolek.cz").await;
    let membership = membership_of(&a, "jana@spolek.cz").await;
    let treasurers_page = format!("{dashboard}/members/new");
    assert_eq!(status_with(&b, &jana, &dashboard).await, 200);
    assert_eq!(status_with(&b, &jana, &treasurers_page).await, 403);

    // Promoted while process B cannot have heard of it yet (the notification is held back):
    // B asks the database before it refuses, so a grant is never late.
    unheard(
        &a,
        "app.memberships",
        "memberships_live_notify",
        "UPDATE app.memberships SET role = 'treasurer' WHERE id = $1",
        Some(membership),
    )
    .await;
    assert_eq!(status_with(&b, &jana, &treasurers_page).await, 200);

    // Removed through process A: process B refuses her within moments.
    let removed = owner
        .post_form(
            &format!("{dashboard}/team/teammates/{membership}/remove"),
            &[],
        )
        .await;
    assert_eq!(removed.status(), 303);
    assert!(
        answers_soon(&b, &jana, &dashboard, 404).await,
        "process B still lets a removed teammate in"
    );
}

#[tokio::test]
async fn after_losing_its_connection_a_process_listens_again_and_hears_later_changes() {
    let (a, b, dashboard, cookie) = two_processes_and_an_owner().await;
    assert_eq!(status_with(&b, &cookie, &dashboard).await, 200);

    assert_eq!(cut_listeners(&a).await, 2, "both processes were listening");
    // While B is away it serves nothing it kept; once back, it hears the sign-out.
    assert_eq!(status_with(&b, &cookie, &dashboard).await, 200);
    let mut back = false;
    for _ in 0..60 {
        let (listening,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity \
              WHERE query LIKE 'LISTEN%kasa_live%' AND datname = current_database()",
        )
        .fetch_one(&a.pool)
        .await
        .expect("count");
        if listening == 2 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "both processes listen again");
    assert_eq!(status_with(&b, &cookie, &dashboard).await, 200);

    sqlx::query("DELETE FROM app.sessions")
        .execute(&a.pool)
        .await
        .expect("end every session");
    assert!(
        answers_soon(&b, &cookie, &dashboard, 303).await,
        "process B did not hear the change after reconnecting"
    );
}
