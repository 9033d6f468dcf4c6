//! Connecting a club's KB account through the sandbox's pages, over HTTP, and every way the
//! journey can be misused.

use crate::helpers::*;
use crate::kb_client::{consent_in_browser, register_in_browser};
use kasa::sync::AccessTokens;

/// Signs up a confirmed club and returns (client, dashboard path).
pub async fn confirmed_club(app: &TestApp, email: &str, ico: &str) -> (Client, String) {
    let client = app.client();
    let dashboard = app
        .sign_up_confirmed(&client, "TJ Sokol Kasa", ico, email)
        .await;
    (client, dashboard)
}

fn path_of(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.base).unwrap_or(url).to_owned()
}

/// Starts the connect journey (the password again) and registers Kasa in KB's browser pages:
/// the path of KB's return to Kasa (`/kb/registered?…`).
async fn start_and_register(app: &TestApp, client: &Client, dashboard: &str) -> String {
    let sandbox = app.sandbox.clone().expect("sandbox");
    let to_kb = with_password(client, dashboard, "connect").await;
    assert!(to_kb.starts_with(&sandbox.browser_base_url), "{to_kb}");
    path_of(app, &register_in_browser(&to_kb).await)
}

/// Posts the Kasa password to the bank action `action` (`connect`, `renew`, `disconnect`):
/// Kasa answers with a redirect; where to.
async fn with_password(client: &Client, dashboard: &str, action: &str) -> String {
    let response = client
        .post_form(
            &format!("{dashboard}/bank/{action}"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 303, "{action}");
    location(&response)
}

/// How many accounts sync (enabled jobs) and how many KB event subscriptions there are.
async fn syncing(app: &TestApp) -> (i64, i64) {
    (
        app.count("SELECT count(*) FROM app.sync_jobs WHERE enabled")
            .await,
        app.count("SELECT count(*) FROM app.event_subscriptions")
            .await,
    )
}

/// Follows a return from KB (`path`): Kasa answers with a redirect; where to.
async fn follow_return(client: &Client, path: &str) -> String {
    let response = client.get(path).await;
    assert_eq!(
        response.status(),
        303,
        "{}",
        response.text().await.unwrap_or_default()
    );
    location(&response)
}

/// Runs the whole connect journey; returns the Kasa callback URLs it used.
pub async fn connect(app: &TestApp, client: &Client, dashboard: &str) -> (String, String) {
    let registered = start_and_register(app, client, dashboard).await;
    assert!(registered.starts_with("/kb/registered?"), "{registered}");
    let to_consent = follow_return(client, &registered).await;
    let back = consent_in_browser(&to_consent).await;
    let authorized = path_of(app, &back);
    assert!(authorized.starts_with("/kb/authorized?"), "{back}");
    assert_eq!(follow_return(client, &authorized).await, dashboard);
    (registered, authorized)
}

/// A confirmed club of `email` with the sandbox's account connected: the owner's client, the
/// dashboard path, the account's id in Kasa and at KB.
pub async fn connected_club(app: &TestApp, email: &str) -> (Client, String, uuid::Uuid, String) {
    let (client, dashboard) = confirmed_club(app, email, ICO_A).await;
    connect(app, &client, &dashboard).await;
    let (account, kb_account): (uuid::Uuid, String) =
        sqlx::query_as("SELECT id, kb_account_id FROM app.bank_accounts")
            .fetch_one(&app.pool)
            .await
            .expect("account");
    (client, dashboard, account, kb_account)
}

#[tokio::test]
async fn a_treasurer_connects_the_kb_account_and_secrets_are_stored_encrypted() {
    let app = TestApp::spawn_with_sandbox(|_| {}).await;
    let (client, dashboard) = confirmed_club(&app, "p@sokol.cz", ICO_A).await;

    // A wrong password: the dashboard again with a field error, nothing started.
    let (status, page) = client
        .post_text(
            &format!("{dashboard}/bank/connect"),
            &[("password", "špatné heslo")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Heslo k vašemu účtu v Kase nesouhlasí"),
        "{page}"
    );
    assert_eq!(app.count("SELECT count(*) FROM app.consent_flows").await, 0);

    connect(&app, &client, &dashboard).await;
    let (_, page) = client.get_text(&dashboard).await;
    assert!(page.contains("Účet je připojený"), "flash");
    assert!(
        page.contains("připojen<"),
        "state badge agrees with \"účet\": {page}"
    );
    assert!(page.contains("Souhlas s přístupem k účtu platí do"));

    // Secrets only as vault ciphertexts; accounts, jobs and a subscription recorded.
    let (secret, refresh, access): (String, String, String) = sqlx::query_as(
        "SELECT client_secret_enc, refresh_token_enc, access_token_enc FROM app.bank_connections",
    )
    .fetch_one(&app.pool)
    .await
    .expect("connection");
    for sealed in [&secret, &refresh, &access] {
        assert!(sealed.starts_with("v1:"), "{sealed}");
    }
    assert_eq!(app.count("SELECT count(*) FROM app.bank_accounts").await, 1);
    assert_eq!(syncing(&app).await, (1, 1), "jobs and subscriptions");
    assert_eq!(
        app.count("SELECT count(*) FROM app.consent_flows").await,
        0,
        "states are used up"
    );
    let (_, audit) = client.get_text(&format!("{dashboard}/audit")).await;
    assert!(audit.contains("Účet u KB připojen"));

    // The token provider refreshes from the stored (encrypted) refresh token.
    let (connection,): (uuid::Uuid,) = sqlx::query_as("SELECT id FROM app.bank_connections")
        .fetch_one(&app.pool)
        .await
        .expect("id");
    sqlx::query(
        "UPDATE app.bank_connections SET access_token_expires_at = now() - interval '1 minute'",
    )
    .execute(&app.pool)
    .await
    .expect("expire");
    let consent = kasa_consent(&app).await;
    let token = consent
        .access_token(connection)
        .await
        .expect("refreshed token");
    assert!(!token.expose().is_empty());
}

/// The app's consent service (same database, same vault is not needed for the refresh test,
/// because the TestApp's ephemeral vault is reached through its state).
async fn kasa_consent(app: &TestApp) -> kasa::consent::Consent {
    app.state.clone().expect("state").consent
}

#[tokio::test]
async fn a_replayed_expired_or_foreign_return_from_kb_connects_nothing() {
    let app = TestApp::spawn_with_sandbox(|_| {}).await;
    let (client, dashboard) = confirmed_club(&app, "p@sokol.cz", ICO_A).await;

    // Foreign: another signed-in treasurer (another club) brings back our registration.
    let registered = start_and_register(&app, &client, &dashboard).await;
    let (mallory, _) = confirmed_club(&app, "m@zlo.cz", ICO_B).await;
    let (status, page) = mallory.get_text(&registered).await;
    assert_eq!(status, 400);
    assert!(page.contains("Návrat z banky nelze dokončit"));
    // …and the rightful session can no longer use it either? It can: the state was not taken.
    let response = client.get(&registered).await;
    assert_eq!(
        response.status(),
        303,
        "the rightful session still completes the step"
    );

    // Replayed: the same registration return a second time.
    let (status, _) = client.get_text(&registered).await;
    assert_eq!(status, 400);

    // Expired: the authorization step comes back after 10 minutes.
    let registered = start_and_register(&app, &client, &dashboard).await;
    let back = consent_in_browser(&follow_return(&client, &registered).await).await;
    app.clock.advance(time::Duration::minutes(11));
    // (log in again: the session's clock moved too, but 11 minutes is within its lifetime)
    let (status, page) = client.get_text(&path_of(&app, &back)).await;
    assert_eq!(status, 400, "{page}");
    assert_eq!(
        app.count("SELECT count(*) FROM app.bank_connections").await,
        0,
        "nothing half-connected"
    );

    // Tampered state on the authorization return.
    let registered = start_and_register(&app, &client, &dashboard).await;
    let back = consent_in_browser(&follow_return(&client, &registered).await).await;
    let tampered = path_of(&app, &back).replace("state=", "state=x");
    let (status, _) = client.get_text(&tampered).await;
    assert_eq!(status, 400);
    assert_eq!(
        app.count("SELECT count(*) FROM app.bank_connections").await,
        0
    );

    // Cancelled at KB: a clear page, nothing stored.
    let registered = start_and_register(&app, &client, &dashboard).await;
    let to_consent = follow_return(&client, &registered).await;
    let state = url::Url::parse(&to_consent)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let (status, page) = client
        .get_text(&format!("/kb/authorized?error=access_denied&state={state}"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Připojení zrušeno"));
    assert_eq!(
        app.count("SELECT count(*) FROM app.bank_connections").await,
        0
    );
}

#[tokio::test]
async fn a_ciphertext_copied_to_another_club_does_not_open() {
    let app = TestApp::spawn_with_sandbox(|_| {}).await;
    let (a, dash_a) = confirmed_club(&app, "a@a.cz", ICO_A).await;
    connect(&app, &a, &dash_a).await;
    let (b, dash_b) = confirmed_club(&app, "b@b.cz", ICO_B).await;
    connect(&app, &b, &dash_b).await;
    let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT id, refresh_token_enc FROM app.bank_connections ORDER BY created_at",
    )
    .fetch_all(&app.pool)
    .await
    .expect("rows");
    // Club B's row gets club A's (valid) refresh token ciphertext.
    sqlx::query("UPDATE app.bank_connections SET refresh_token_enc = $1, access_token_expires_at = now() - interval '1 hour' WHERE id = $2")
        .bind(&rows[0].1)
        .bind(rows[1].0)
        .execute(&app.pool)
        .await
        .expect("copy");
    let consent = kasa_consent(&app).await;
    let error = consent
        .access_token(rows[1].0)
        .await
        .expect_err("must not open");
    assert!(format!("{error:?}").contains("does not open"), "{error:?}");
    assert!(
        consent.access_token(rows[0].0).await.is_ok(),
        "A's own row still works"
    );
}

#[tokio::test]
async fn kbs_notifications_need_the_right_key_and_only_make_the_sync_due() {
    let app = TestApp::spawn_with_sandbox(|_| {}).await;
    let (client, dashboard) = confirmed_club(&app, "p@sokol.cz", ICO_A).await;
    connect(&app, &client, &dashboard).await;
    let (subscription,): (String,) =
        sqlx::query_as("SELECT subscription_id FROM app.event_subscriptions")
            .fetch_one(&app.pool)
            .await
            .expect("sub");
    sqlx::query("UPDATE app.sync_jobs SET due_at = now() + interval '1 hour'")
        .execute(&app.pool)
        .await
        .expect("later");
    let http = reqwest::Client::new();
    let url = app.url(&format!("/kb/events/subscriptions/{subscription}/events"));
    let post = |key: Option<&str>, body: &str| {
        let mut r = http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-correlation-id", uuid::Uuid::new_v4().to_string())
            .body(body.to_owned());
        if let Some(key) = key {
            r = r.header("x-api-key", key);
        }
        r.send()
    };
    assert_eq!(
        post(None, r#"{"eventCount":1}"#)
            .await
            .expect("send")
            .status(),
        401
    );
    assert_eq!(
        post(Some("wrong"), r#"{"eventCount":1}"#)
            .await
            .expect("send")
            .status(),
        401
    );
    assert_eq!(
        post(Some("wrong"), "not json")
            .await
            .expect("send")
            .status(),
        400
    );
    let unknown = http
        .post(app.url("/kb/events/subscriptions/00000000-0000-0000-0000-000000000000/events"))
        .header("content-type", "application/json")
        .header("x-correlation-id", uuid::Uuid::new_v4().to_string())
        .body(r#"{"eventCount":1}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        app.count("SELECT count(*) FROM app.sync_jobs WHERE due_at <= now()")
            .await,
        0,
        "nothing due yet"
    );

    // The sandbox sends a real notification (with the key Kasa gave it) after a payment.
    let sandbox = app.sandbox.clone().expect("sandbox");
    let (kb_account,): (String,) = sqlx::query_as("SELECT kb_account_id FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("acc");
    reqwest::Client::new()
        .post(format!("{}/control/payments", sandbox.browser_base_url))
        .json(&serde_json::json!({"account": kb_account, "amount_minor": 50000, "vs": "123"}))
        .send()
        .await
        .expect("payment");
    let mut due = 0;
    for _ in 0..100 {
        due = app
            .count("SELECT count(*) FROM app.sync_jobs WHERE due_at <= now()")
            .await;
        if due == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(due, 1, "the notification made the account's sync due");
    let version: serde_json::Value = http
        .get(app.url("/kb/events/version"))
        .send()
        .await
        .expect("v")
        .json()
        .await
        .expect("json");
    assert_eq!(version["version"], "1.0");
}

#[tokio::test]
async fn renewing_keeps_the_connection_and_disconnecting_forgets_the_secrets() {
    let app = TestApp::spawn_with_sandbox(|_| {}).await;
    let sandbox = app.sandbox.clone().expect("sandbox");
    let (client, dashboard) = confirmed_club(&app, "p@sokol.cz", ICO_A).await;
    connect(&app, &client, &dashboard).await;
    let (id, expires): (uuid::Uuid, time::OffsetDateTime) =
        sqlx::query_as("SELECT id, consent_expires_at FROM app.bank_connections")
            .fetch_one(&app.pool)
            .await
            .expect("row");

    // Renew a month later: only the authorization step, same connection, new expiry.
    app.clock.advance(time::Duration::days(30));
    client.log_in("p@sokol.cz", PASSWORD).await;
    let to_consent = with_password(&client, &dashboard, "renew").await;
    assert!(
        to_consent.contains("/autfe/ssologin"),
        "straight to the authorization: {to_consent}"
    );
    let back = consent_in_browser(&to_consent).await;
    follow_return(&client, &path_of(&app, &back)).await;
    let (_, page) = client.get_text(&dashboard).await;
    assert!(page.contains("Souhlas je obnovený"));
    let (id2, expires2): (uuid::Uuid, time::OffsetDateTime) =
        sqlx::query_as("SELECT id, consent_expires_at FROM app.bank_connections")
            .fetch_one(&app.pool)
            .await
            .expect("row");
    assert_eq!(id, id2, "same connection, same accounts and history");
    assert!(expires2 > expires + time::Duration::days(29));
    assert_eq!(app.count("SELECT count(*) FROM app.bank_accounts").await, 1);

    // Disconnect (keeping history): secrets gone, sync stopped, KB subscription deleted.
    with_password(&client, &dashboard, "disconnect").await;
    let (status, secret): (String, Option<String>) =
        sqlx::query_as("SELECT status, refresh_token_enc FROM app.bank_connections")
            .fetch_one(&app.pool)
            .await
            .expect("row");
    assert_eq!((status.as_str(), secret), ("disconnected", None));
    assert_eq!(syncing(&app).await, (0, 0), "jobs and subscriptions");
    let state: serde_json::Value =
        reqwest::get(format!("{}/control/state", sandbox.browser_base_url))
            .await
            .expect("state")
            .json()
            .await
            .expect("json");
    let active = state["subscriptions"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| s["status"] == "ACTIVE").count());
    assert_eq!(active, 0, "deleted at KB too: {state}");
    let (_, audit) = client.get_text(&format!("{dashboard}/audit")).await;
    assert!(audit.contains("Souhlas s přístupem obnoven") && audit.contains("Účet u KB odpojen"));
    // A viewer may not disconnect or connect.
}

/// Polls `path` until its body contains `needle` (bounded; no fixed sleeps in the assertion).
async fn wait_for_page(client: &Client, path: &str, needle: &str, seconds: u64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let (_, page) = client.get_text(path).await;
        if page.contains(needle) || std::time::Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_payment_sent_in_the_sandbox_reaches_the_account_page_through_a_notification() {
    let app = TestApp::spawn_with_sandbox_and(|_| {}, |c| c.run_sync_worker = true).await;
    let sandbox = app.sandbox.clone().expect("sandbox");
    let (client, dashboard, account, kb_account) = connected_club(&app, "p@sokol.cz").await;
    let page_path = format!("{dashboard}/accounts/{account}");

    // The first sync (two years) runs by itself and shows the balance and freshness.
    let page = wait_for_page(&client, &page_path, "Aktuální k", 60).await;
    assert!(page.contains("Aktuální k"), "first sync finished: {page}");
    assert!(page.contains("Disponibilní zůstatek"));
    let (_, dash) = client.get_text(&dashboard).await;
    assert!(
        dash.contains("Disponibilní zůstatek"),
        "balance on the dashboard"
    );

    // The open page polls a change stamp; it stays while nothing happens.
    let stamp_path = format!("{page_path}/stamp");
    let (status, before) = client.get_text(&stamp_path).await;
    assert_eq!(status, 200);
    assert_eq!(client.get_text(&stamp_path).await.1, before);
    // Polling is not activity: it never moves the session's idle expiry; opening a page does,
    // written back at most once a minute (so a page view is not a database write).
    let expiry = || app.newest_session_expiry();
    client.get_text(&page_path).await;
    let opened = expiry().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    client.get_text(&stamp_path).await;
    assert_eq!(expiry().await, opened, "a poll does not extend the session");
    client.get_text(&page_path).await;
    assert_eq!(
        expiry().await,
        opened,
        "a page view within a minute of the last write does not write the session again"
    );
    app.clock.advance(time::Duration::seconds(61));
    client.get_text(&page_path).await;
    assert!(expiry().await > opened, "a page view a minute later does");

    // A payment in the sandbox: KB notifies Kasa, which syncs at once.
    reqwest::Client::new()
        .post(format!("{}/control/payments", sandbox.browser_base_url))
        .json(&serde_json::json!({
            "account": kb_account, "amount_minor": 120_000, "vs": "8800123",
            "message": "Příspěvek Jiřina", "payer_name": "Jiřina Malá"
        }))
        .send()
        .await
        .expect("payment");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while client.get_text(&stamp_path).await.1 == before && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, page) = client.get_text(&page_path).await;
    assert!(
        page.contains("8800123") && page.contains("Jiřina Malá"),
        "the stamp moved and the page shows the payment that arrived by itself"
    );
    let (notified,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM sync_runs WHERE trigger <> 'first'")
            .fetch_one(&mut *tenant_tx(&app).await)
            .await
            .expect("runs");
    assert!(notified >= 1);

    // Another club's treasurer finds neither the page nor its stamp.
    let (other, _) = confirmed_club(&app, "cizi@jiny.cz", ICO_B).await;
    assert_eq!(other.get_text(&stamp_path).await.0, 404);
    let (status, body) = other.get_text(&page_path).await;
    assert_eq!(status, 404);
    assert!(!body.contains("8800123"));
}

pub async fn tenant_tx(app: &TestApp) -> kasa::db::tenant::TenantTx {
    let (id,): (uuid::Uuid,) = sqlx::query_as("SELECT id FROM app.tenants")
        .fetch_one(&app.pool)
        .await
        .expect("tenant");
    let tenant = kasa::db::tenant::Tenant::load(&app.pool, id)
        .await
        .expect("load")
        .expect("tenant");
    kasa::db::tenant::TenantTx::begin(&app.pool, &tenant)
        .await
        .expect("begin")
}

#[tokio::test]
async fn duplicate_and_late_notifications_cause_no_duplicates() {
    let app = TestApp::spawn_with_sandbox(|_| {}).await;
    let sandbox = app.sandbox.clone().expect("sandbox");
    let (client, dashboard) = confirmed_club(&app, "p@sokol.cz", ICO_A).await;
    connect(&app, &client, &dashboard).await;
    let state = app.state.clone().expect("state");
    let worker = kasa::app::sync_worker(&state, kasa::sync::worker::SyncSettings::default());
    sync_due(&app, &worker).await;
    let (subscription,): (String,) =
        sqlx::query_as("SELECT subscription_id FROM app.event_subscriptions")
            .fetch_one(&app.pool)
            .await
            .expect("sub");
    let (kb_account,): (String,) = sqlx::query_as("SELECT kb_account_id FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("acc");
    // Two payments: the sandbox notifies Kasa (merging them within its interval).
    let http = reqwest::Client::new();
    for vs in ["5500001", "5500002"] {
        http.post(format!("{}/control/payments", sandbox.browser_base_url))
            .json(&serde_json::json!({"account": kb_account, "amount_minor": 10_000, "vs": vs}))
            .send()
            .await
            .expect("payment");
    }
    // Wait for the (possibly merged) notification to make the job due, then notify again and
    // again: duplicates only make the same job due.
    for _ in 0..100 {
        if app
            .count("SELECT count(*) FROM app.sync_jobs WHERE notified_at IS NOT NULL")
            .await
            == 1
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Duplicates of an authentic notification: each only makes the same job due (what the
    // Event API route does once the key matched). A notification without the key changes nothing.
    let (account,): (uuid::Uuid,) = sqlx::query_as("SELECT id FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("id");
    let refused = kasa::consent::events::receive(&app.pool, &subscription, None, app.now())
        .await
        .expect("receive");
    assert_eq!(refused, kasa::consent::events::Notification::BadKey);
    for _ in 0..3 {
        kasa::sync::jobs::make_due(&app.pool, account, app.now())
            .await
            .expect("due");
    }
    sync_due(&app, &worker).await;
    // A late notification after everything was synced: one more (empty) sync, no change.
    sync_all_now(&app, &worker).await;

    let expected = sandbox_ledger(&sandbox, Some(&kb_account)).await.len() as i64;
    let mut tx = tenant_tx(&app).await;
    let (rows, distinct, found): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT bank_key), count(*) FILTER (WHERE variable_symbol IN ('5500001', '5500002')) FROM transactions",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("counts");
    assert_eq!((rows, distinct, found), (expected, expected, 2));
}
