//! Logging in and out, throttling, forgotten and changed passwords, session rules.

use crate::helpers::*;

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("kasa_session="))
        .map(str::to_owned)
}

/// The club "Spolek" signed up by `p@spolek.cz` (with [`PASSWORD`]); its dashboard path.
async fn spolek(app: &TestApp) -> String {
    app.sign_up(&app.client(), "Spolek", ICO_A, "p@spolek.cz")
        .await
}

/// While `p@spolek.cz` is throttled even the right password is refused (without being
/// checked); once `wait` has passed it logs in.
async fn refused_until_it_waited(app: &TestApp, wait: time::Duration) {
    let (status, page) = app.client().log_in_text("p@spolek.cz", PASSWORD).await;
    assert_eq!(status, 422);
    assert!(page.contains("Příliš mnoho neúspěšných pokusů"));
    app.clock.advance(wait);
    assert_eq!(
        app.client().log_in("p@spolek.cz", PASSWORD).await.status(),
        303
    );
}

#[tokio::test]
async fn logging_in_issues_a_new_http_only_lax_session_and_logging_out_ends_it() {
    let app = TestApp::spawn().await;
    let dashboard = spolek(&app).await;

    let client = app.client();
    let before = session_cookie(&client.get("/lang/cs?next=/").await).expect("anonymous session");
    let response = client.log_in("P@Spolek.cz", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let after = session_cookie(&response).expect("session cookie on login");
    assert_ne!(
        before.split(';').next(),
        after.split(';').next(),
        "new session id on login"
    );
    assert!(after.contains("HttpOnly"));
    assert!(after.contains("SameSite=Lax"));
    assert!(after.contains("Path=/"));

    // With one club, home goes straight to it.
    assert_eq!(location(&client.get("/").await), dashboard);
    assert_eq!(client.get(&dashboard).await.status(), 200);

    assert_eq!(client.post_form("/logout", &[]).await.status(), 303);
    let response = client.get(&dashboard).await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login?next="));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    spolek(&app).await;
    let (status_wrong, wrong) = app
        .client()
        .log_in_text("p@spolek.cz", "spatne heslo!")
        .await;
    let (status_unknown, unknown) = app
        .client()
        .log_in_text("nikdo@spolek.cz", "spatne heslo!")
        .await;
    assert_eq!((status_wrong, status_unknown), (422, 422));
    assert!(wrong.contains("E-mail nebo heslo nesouhlasí"));
    assert!(unknown.contains("E-mail nebo heslo nesouhlasí"));
}

#[tokio::test]
async fn after_five_failures_an_account_must_wait_longer_and_longer() {
    let app = TestApp::spawn().await;
    spolek(&app).await;
    let attacker = app.client();
    for _ in 0..5 {
        let (status, _) = attacker.log_in_text("p@spolek.cz", "hádám hádám").await;
        assert_eq!(status, 422);
    }
    // Even the right password is refused while the delay runs, without being checked.
    refused_until_it_waited(&app, time::Duration::seconds(2)).await;
}

#[tokio::test]
async fn an_account_accepts_at_most_a_hundred_failures_an_hour() {
    let app = TestApp::spawn().await;
    spolek(&app).await;
    // Record 100 failures spread over the last 10 minutes, directly (hashing 100 times is slow).
    for i in 0..100 {
        sqlx::query(
            "INSERT INTO app.login_attempts (email, ip, succeeded, at) VALUES ($1, $2, false, $3)",
        )
        .bind("p@spolek.cz")
        .bind(format!("10.0.0.{}", i % 250))
        .bind(app.now() - time::Duration::seconds(600 - i * 6))
        .execute(&app.pool)
        .await
        .expect("record");
    }
    // Past the longest exponential delay (15 min), still within the hour of the failures.
    app.clock.advance(time::Duration::minutes(16));
    refused_until_it_waited(&app, time::Duration::hours(1)).await;
}

#[tokio::test]
async fn one_address_hammering_many_accounts_is_paused() {
    let app = TestApp::spawn().await;
    let client = app.client();
    for i in 0..kasa::auth::throttle::IP_BURST {
        let email = format!("nobody{i}@spolek.cz");
        let (status, page) = client.log_in_text(&email, "whatever123").await;
        assert_eq!(status, 422);
        assert!(
            !page.contains("Příliš mnoho"),
            "attempt {i} throttled too early"
        );
    }
    let (_, page) = client.log_in_text("another@spolek.cz", "whatever123").await;
    assert!(page.contains("Příliš mnoho neúspěšných pokusů"));
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_link_and_every_session_ends() {
    let (app, old_session, dashboard) = TestApp::spawn_with_club("Spolek", "p@spolek.cz").await;

    let (status_known, known) = app
        .client()
        .post_text("/forgot-password", &[("email", "p@spolek.cz")])
        .await;
    let (status_unknown, unknown) = app
        .client()
        .post_text("/forgot-password", &[("email", "x@nikde.cz")])
        .await;
    assert_eq!((status_known, status_unknown), (200, 200));
    assert_eq!(
        known, unknown,
        "the same answer whether or not the address exists"
    );
    // The confirmation mail from the sign-up, then the reset link (queued after the answer).
    app.wait_for_mails("p@spolek.cz", 2).await;
    assert!(app.mails_to("x@nikde.cz").await.is_empty());

    let link = app.last_link_to("p@spolek.cz").await;
    assert!(link.starts_with("/reset-password?token="));
    let token = link.trim_start_matches("/reset-password?token=").to_owned();
    let someone = app.client();
    assert_eq!(someone.get(&link).await.status(), 200);
    let (status, page) = someone
        .post_text(
            "/reset-password",
            &[("token", &token), ("password", "kratke")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("alespoň 10 znaků"));
    let response = someone
        .post_form(
            "/reset-password",
            &[("token", &token), ("password", "Nové heslo pro spolek")],
        )
        .await;
    assert_eq!(response.status(), 303);

    assert_eq!(
        old_session.get(&dashboard).await.status(),
        303,
        "the old session ended"
    );
    assert_eq!(
        app.client().log_in("p@spolek.cz", PASSWORD).await.status(),
        422
    );
    assert_eq!(
        app.client()
            .log_in("p@spolek.cz", "Nové heslo pro spolek")
            .await
            .status(),
        303
    );
    // The link was single-use.
    let (status, _) = someone
        .post_text(
            "/reset-password",
            &[("token", &token), ("password", "Ještě jiné heslo 1")],
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn an_expired_reset_link_re_renders_the_form_with_an_error() {
    let app = TestApp::spawn().await;
    spolek(&app).await;
    app.client()
        .post_form("/forgot-password", &[("email", "p@spolek.cz")])
        .await;
    app.wait_for_mails("p@spolek.cz", 2).await;
    let link = app.last_link_to("p@spolek.cz").await;
    let token = link.trim_start_matches("/reset-password?token=").to_owned();
    app.clock.advance(time::Duration::minutes(61));
    let (status, page) = app.client().get_text(&link).await;
    assert_eq!(status, 422);
    assert!(page.contains("neplatný nebo vypršel"));
    let (status, page) = app
        .client()
        .post_text(
            "/reset-password",
            &[("token", &token), ("password", "Nové heslo pro spolek")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("neplatný nebo vypršel"));
    assert_eq!(
        app.client().log_in("p@spolek.cz", PASSWORD).await.status(),
        303,
        "password unchanged"
    );
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_but_not_this_one() {
    let (app, laptop, dashboard) = TestApp::spawn_with_club("Spolek", "p@spolek.cz").await;
    let phone = app.client();
    assert_eq!(phone.log_in("p@spolek.cz", PASSWORD).await.status(), 303);

    let (status, page) = laptop
        .post_text(
            "/account/password",
            &[("current", "špatně"), ("password", "Nové heslo pro spolek")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("Současné heslo nesouhlasí"));

    let response = laptop
        .post_form(
            "/account/password",
            &[("current", PASSWORD), ("password", "Nové heslo pro spolek")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        laptop.get(&dashboard).await.status(),
        200,
        "this session continues"
    );
    assert_eq!(
        phone.get(&dashboard).await.status(),
        303,
        "the other session ended"
    );
    assert!(
        app.mails_to("p@spolek.cz")
            .await
            .iter()
            .any(|(s, _)| s.contains("heslo do Kasy bylo změněno"))
    );
}

#[tokio::test]
async fn a_session_ends_after_twelve_hours_however_active() {
    let (app, client, dashboard) = TestApp::spawn_with_club("Spolek", "p@spolek.cz").await;
    app.clock.advance(time::Duration::hours(11));
    assert_eq!(client.get(&dashboard).await.status(), 200);
    app.clock
        .advance(time::Duration::hours(1) + time::Duration::seconds(1));
    assert_eq!(client.get(&dashboard).await.status(), 303);
}

#[tokio::test]
async fn a_signed_in_person_can_add_a_second_club_and_switch_between_them() {
    let app = TestApp::spawn().await;
    let client = app.client();
    // Another club needs a confirmed address (tests/it/security.rs).
    let first = app
        .sign_up_confirmed(&client, "Fotbalový klub", ICO_A, "p@spolek.cz")
        .await;
    let (status, page) = client
        .post_text(
            "/clubs/new",
            &[("club_name", "Šachový kroužek"), ("ico", "123")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("IČO musí mít"));
    let response = client
        .post_form(
            "/clubs/new",
            &[("club_name", "Šachový kroužek"), ("ico", ICO_B)],
        )
        .await;
    assert_eq!(response.status(), 303);
    let second = location(&response);
    assert_ne!(first, second);
    assert_eq!(location(&client.get("/").await), "/clubs");
    let (_, clubs) = client.get_text("/clubs").await;
    assert!(clubs.contains("Fotbalový klub") && clubs.contains("Šachový kroužek"));
    let (_, page) = client.get_text(&second).await;
    assert!(
        page.contains(&format!("href=\"{first}\"")),
        "the switcher links the other club"
    );
}

#[tokio::test]
async fn healthz_answers_when_the_database_does() {
    let app = TestApp::spawn().await;
    let response = app.client().get("/healthz").await;
    assert_eq!(response.status(), 200);
    app.pool.close().await;
    let response = app.client().get("/healthz").await;
    assert_eq!(response.status(), 503);
}
