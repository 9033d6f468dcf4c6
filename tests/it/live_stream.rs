//! Open pages hear of changes through their club's stream (`GET /t/{club}/live`, Server-Sent
//! Events) instead of polling: what a sync committed in one process reaches a page served by
//! another, the stream is a club route like any other, it ends with the session, it never
//! extends the session, and it does not hold up a shutdown.

use crate::browser::{Outcome, browser, expect_text_within, journey, log_in};
use crate::consent::{confirmed_club, connect, connected_club};
use crate::helpers::*;
use std::time::Duration;

/// An open stream, read event by event.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// Opens `{club}/live` with `client`; it must answer with a stream.
    async fn open(client: &Client, club: &str) -> Events {
        let response = client.get(&format!("{club}/live")).await;
        assert_eq!(response.status(), 200, "the stream opens");
        assert_eq!(
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's name (keep-alive comments skipped) within `wait`: `Ok(None)` when the
    /// stream ended, `Err(())` when nothing came. As in a browser, an event without data is
    /// no event.
    async fn next_within(&mut self, wait: Duration) -> Result<Option<String>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |field: &str| {
                    block
                        .lines()
                        .find_map(|line| line.strip_prefix(field))
                        .map(|value| value.trim().to_owned())
                };
                if let (Some(name), Some(data)) = (field("event:"), field("data:"))
                    && !data.is_empty()
                {
                    return Ok(Some(name));
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Err(()),
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None) | Err(_)) => return Ok(None),
            }
        }
    }

    /// The next event, which must come within `wait`.
    async fn next(&mut self, wait: Duration) -> String {
        match self.next_within(wait).await {
            Ok(Some(name)) => name,
            Ok(None) => panic!("the stream ended"),
            Err(()) => panic!("no event within {wait:?}"),
        }
    }
}

const SOON: Duration = Duration::from_secs(10);

/// A fresh app, its signed-up owner, the club's path and the owner's open stream (past `ready`).
async fn owner_listening() -> (TestApp, Client, String, Events) {
    let app = TestApp::spawn().await;
    let client = app.client();
    let club = app
        .sign_up_confirmed(&client, "Spolek", ICO_A, "owner@spolek.cz")
        .await;
    let mut stream = Events::open(&client, &club).await;
    assert_eq!(stream.next(SOON).await, "ready");
    (app, client, club, stream)
}

async fn notify(app: &TestApp, payload: &str) {
    sqlx::query("SELECT pg_notify('kasa_live', $1)")
        .bind(payload)
        .execute(&app.pool)
        .await
        .expect("notify");
}

/// The channel payload of the club at `dashboard` (`club:<schema>`).
async fn club_payload(app: &TestApp, dashboard: &str) -> String {
    format!("club:{}", app.tenant(dashboard).await.schema().as_str())
}

#[tokio::test]
async fn a_sync_committed_by_one_instance_reaches_a_stream_served_by_another() {
    let a = TestApp::spawn_with_sandbox(|c| c.seed.transactions_per_account = 3).await;
    let b = a.spawn_sibling().await;
    let (client_a, dashboard) = confirmed_club(&a, "p@sokol.cz", ICO_A).await;
    connect(&a, &client_a, &dashboard).await;
    let state = a.state.clone().expect("state");
    let worker = kasa::app::sync_worker(&state, kasa::sync::worker::SyncSettings::default());
    sync_due(&a, &worker).await;

    let on_b = b.client();
    assert_eq!(on_b.log_in("p@sokol.cz", PASSWORD).await.status(), 303);
    let mut stream = Events::open(&on_b, &dashboard).await;
    assert_eq!(stream.next(SOON).await, "ready");

    // Another club's change is not this club's business.
    notify(&a, "club:t_00000000000000000000000000").await;
    assert_eq!(
        stream.next_within(Duration::from_millis(500)).await,
        Err(()),
        "quiet"
    );

    // A payment synced by process A's worker: process B's stream says so.
    crate::fees::pay(
        &a,
        &worker,
        serde_json::json!({"amount_minor": 50_000, "vs": "2026001", "payer_name": "Jana Nová"}),
    )
    .await;
    assert_eq!(stream.next(SOON).await, "changed");
}

#[tokio::test]
async fn the_stream_is_a_club_route_for_teammates_only() {
    let app = TestApp::spawn().await;
    let owner = app.client();
    let club = app
        .sign_up_confirmed(&owner, "Spolek", ICO_A, "owner@spolek.cz")
        .await;
    let viewer = app
        .teammate(&owner, &club, "divak@spolek.cz", "viewer")
        .await;
    let stranger = app.client();
    app.sign_up(&stranger, "Jiný spolek", ICO_B, "jiny@jiny.cz")
        .await;

    let mut stream = Events::open(&viewer, &club).await;
    assert_eq!(stream.next(SOON).await, "ready");
    assert_eq!(stranger.get(&format!("{club}/live")).await.status(), 404);
    let signed_out = app.client().get(&format!("{club}/live")).await;
    assert_eq!(signed_out.status(), 303);
    assert!(location(&signed_out).starts_with("/login?next="));
}

#[tokio::test]
async fn the_stream_says_changed_for_its_club_and_ends_with_the_session() {
    let (app, client, club, mut stream) = owner_listening().await;

    notify(&app, &club_payload(&app, &club).await).await;
    assert_eq!(stream.next(SOON).await, "changed");
    // Lost notifications (the listener reconnected): the page looks once more.
    notify(&app, "all").await;
    assert_eq!(stream.next(SOON).await, "changed");

    // Signed out in another request: the stream says `end` and closes.
    assert_eq!(client.post_form("/logout", &[]).await.status(), 303);
    assert_eq!(stream.next(SOON).await, "end");
    assert_eq!(stream.next_within(SOON).await, Ok(None), "closed");
}

#[tokio::test]
async fn when_the_listener_loses_its_connection_streams_say_changed_and_hear_again_once_it_is_back()
{
    let (app, _client, club, mut stream) = owner_listening().await;
    assert_eq!(crate::live::cut_listeners(&app).await, 1);
    // Lost and regained: each is heard as "anything may have changed".
    assert_eq!(stream.next(SOON).await, "changed");
    assert_eq!(stream.next(SOON).await, "changed");
    notify(&app, &club_payload(&app, &club).await).await;
    assert_eq!(stream.next(SOON).await, "changed");
}

#[tokio::test]
async fn a_session_deleted_in_the_database_ends_the_stream() {
    let (app, _client, _club, mut stream) = owner_listening().await;
    sqlx::query("DELETE FROM app.sessions")
        .execute(&app.pool)
        .await
        .expect("end every session");
    assert_eq!(stream.next(SOON).await, "end");
    assert_eq!(stream.next_within(SOON).await, Ok(None), "closed");
}

#[tokio::test]
async fn an_open_stream_never_extends_the_session_but_a_page_view_does() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let club = app
        .sign_up_confirmed(&client, "Spolek", ICO_A, "owner@spolek.cz")
        .await;
    let expiry = || app.newest_session_expiry();
    client.get_text(&club).await;
    let opened = expiry().await;

    // Longer than the activity mark's interval: a page view now would write the session.
    app.clock.advance(time::Duration::seconds(61));
    let mut stream = Events::open(&client, &club).await;
    assert_eq!(stream.next(SOON).await, "ready");
    notify(&app, &club_payload(&app, &club).await).await;
    assert_eq!(stream.next(SOON).await, "changed");
    // The stream's own session notification makes it read the session again.
    let hash: (String,) = sqlx::query_as(
        "SELECT encode(sha256(convert_to(id, 'UTF8')), 'hex') FROM app.sessions \
          ORDER BY expiry_date DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .expect("hash");
    notify(&app, &format!("session:{}", hash.0)).await;
    notify(&app, "all").await;
    assert_eq!(stream.next(SOON).await, "changed");
    drop(stream);
    assert_eq!(
        expiry().await,
        opened,
        "the stream did not extend the session"
    );

    // An open page's background refresh is not activity either; opening the page is.
    let refreshed = client
        .http
        .get(client.url(&club))
        .header("x-kasa-refresh", "1")
        .send()
        .await
        .expect("refresh");
    assert_eq!(refreshed.status(), 200);
    assert_eq!(
        expiry().await,
        opened,
        "a background refresh is not activity"
    );
    client.get_text(&club).await;
    assert!(expiry().await > opened, "a page view is");
}

#[tokio::test]
async fn shutting_down_ends_open_streams_at_once() {
    let (app, _client, _club, mut stream) = owner_listening().await;
    drop(app);
    // Well within the server's grace period of ten seconds.
    assert_eq!(
        stream.next_within(Duration::from_secs(3)).await,
        Ok(None),
        "the stream ended"
    );
}

/// How many requests for a change stamp the page in the browser made so far (Resource Timing:
/// every finished fetch).
async fn stamp_requests(c: &fantoccini::Client) -> Result<u64, fantoccini::error::CmdError> {
    let n = c
        .execute(
            "return performance.getEntriesByType('resource')\
               .filter((e) => e.name.includes('/stamp')).length;",
            vec![],
        )
        .await?;
    Ok(n.as_u64().unwrap_or(u64::MAX))
}

async fn live_mode(c: &fantoccini::Client) -> Result<String, fantoccini::error::CmdError> {
    let mode = c
        .execute(
            "return document.getElementById('live').dataset.mode || '';",
            vec![],
        )
        .await?;
    Ok(mode.as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_payment_shows_on_the_open_account_page_without_any_polling_request() {
    let app = TestApp::spawn_with_sandbox_and(
        |c| c.seed.transactions_per_account = 3,
        |c| c.run_sync_worker = true,
    )
    .await;
    let sandbox = app.sandbox.clone().expect("sandbox");
    let email = "p@sokol.cz";
    let (_client, dashboard, account, kb_account) = connected_club(&app, email).await;
    let page = format!("{dashboard}/accounts/{account}");

    let b = browser().await;
    let c = &b.client;
    journey("live-stream", &b, async {
        c.goto(&app.url(&format!("/login?next={page}"))).await?;
        log_in(c, email).await?;
        // The first sync runs by itself.
        expect_text_within(c, "Aktuální k", 60).await?;
        let mut mode = String::new();
        for _ in 0..100 {
            mode = live_mode(c).await?;
            if mode == "stream" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if mode != "stream" {
            return Err(format!("the page never opened its stream: {mode:?}").into());
        }
        // The stamp is compared once when the stream opens; from now on, no polling.
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.execute("window.kasaNotReloaded = true;", vec![]).await?;
        let polled_before = stamp_requests(c).await?;

        reqwest::Client::new()
            .post(format!("{}/control/payments", sandbox.browser_base_url))
            .json(&serde_json::json!({
                "account": kb_account, "amount_minor": 120_000, "vs": "8800123",
                "message": "Příspěvek Jiřina", "payer_name": "Jiřina Živá"
            }))
            .send()
            .await?;
        expect_text_within(c, "Jiřina Živá", 60).await?;

        let same_page = c
            .execute("return window.kasaNotReloaded === true;", vec![])
            .await?;
        if same_page != serde_json::Value::Bool(true) {
            return Err("the page was reloaded".into());
        }
        let polled = stamp_requests(c).await?;
        if polled != polled_before {
            return Err(format!("the page polled its stamp ({polled_before} → {polled})").into());
        }
        if live_mode(c).await? != "stream" {
            return Err("the page fell back to polling".into());
        }
        Ok(()) as Outcome
    })
    .await;
    let _ = b.client.clone().close().await;
}
