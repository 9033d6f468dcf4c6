//! The member's own page: a link the treasurer issues and revokes, opened without a login,
//! showing what is still owed after partial payments with a QR code for exactly that; the
//! consent's expiry on the calendar.

use crate::consent::{confirmed_club, connect};
use crate::fees::{add_member, month_start, monthly_schedule, pay, tenant_of};
use crate::helpers::*;
use crate::qr_payment::decode_svg;
use kasa::db::tenant::TenantTx;
use uuid::Uuid;

/// Issues the member's link from the member's page; returns the link's path (`/pay/…`).
pub(crate) async fn issue_link(
    app: &TestApp,
    client: &Client,
    dashboard: &str,
    member: Uuid,
) -> String {
    let (status, page) = client
        .post_text(&format!("{dashboard}/members/{member}/pay-link"), &[])
        .await;
    assert_eq!(status, 200, "{page}");
    let url = page
        .split("id=\"pay-link-url\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the new link on the page");
    let path = url
        .strip_prefix(&app.base)
        .expect("an absolute link to Kasa");
    assert!(path.starts_with("/pay/"), "{path}");
    assert!(
        !path.contains(dashboard.trim_start_matches("/t/")),
        "the link does not name the club"
    );
    path.to_owned()
}

/// Connects the club's KB account in the sandbox and runs the first sync; returns the worker
/// that syncs the next payments.
pub(crate) async fn connected(
    app: &TestApp,
    treasurer: &Client,
    dashboard: &str,
) -> kasa::sync::Worker<kasa::consent::Consent> {
    connect(app, treasurer, dashboard).await;
    let state = app.state.clone().expect("state");
    let worker = kasa::app::sync_worker(&state, kasa::sync::worker::SyncSettings::default());
    sync_due(app, &worker).await;
    worker
}

/// The response's `X-Robots-Tag`.
fn robots(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("x-robots-tag")
        .and_then(|v| v.to_str().ok())
}

/// What the member's page carries in its QR code, read from the SVG, and its SPAYD attribute.
fn qr_of(page: &str) -> (String, String) {
    let qr = page.split("id=\"pay-qr\"").nth(1).expect("a QR code");
    let spayd = qr
        .split("data-spayd=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("data-spayd")
        .to_owned();
    let start = qr.find("<svg").expect("svg");
    let end = qr.find("</svg>").expect("svg end") + "</svg>".len();
    (decode_svg(&qr[start..end]), spayd)
}

#[tokio::test]
async fn a_members_page_shows_what_is_still_owed_with_a_qr_code_for_exactly_that() {
    let app = TestApp::spawn_with_sandbox(|c| c.seed.transactions_per_account = 0).await;
    let (treasurer, dashboard) = confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    let jana = add_member(&app, &tenant, "Jana Nováková", "0024", "2010-01-01").await;
    // Two months of 500 Kč: 1 000 Kč due.
    monthly_schedule(&treasurer, &dashboard, &month_start(&app, 1)).await;
    let worker = connected(&app, &treasurer, &dashboard).await;
    // A partial payment, with the VS as the bank shortens it.
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 30_000, "vs": "24", "payer_name": "Nováková Jana"}),
    )
    .await;
    let (iban,): (String,) = sqlx::query_as("SELECT iban FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("iban");

    let link = issue_link(&app, &treasurer, &dashboard, jana).await;
    let member = app.client();
    let response = member.get(&link).await;
    assert_eq!(response.status(), 200);
    assert_eq!(robots(&response), Some("noindex"));
    let page = response.text().await.expect("page");
    assert!(page.contains("<meta name=\"robots\" content=\"noindex\">"));
    assert!(page.contains("700,00\u{a0}Kč"), "{page}");
    assert!(page.contains("Platby přijaté do"), "says how fresh: {page}");
    let expected = format!("SPD*1.0*ACC:{iban}*AM:700.00*CC:CZK*X-VS:0024*MSG:JANA NOVAKOVA");
    let (decoded, attribute) = qr_of(&page);
    assert_eq!(decoded, expected);
    assert_eq!(attribute, expected);
    assert!(
        page.contains("300,00\u{a0}Kč"),
        "the payment received: {page}"
    );
    // A member's chrome: the club and the language switch, no sign-in, no developer footer;
    // the member is addressed, and every table value carries its column's name for phones.
    assert!(
        page.contains("id=\"member-brand\">TJ Sokol Kasa<"),
        "{page}"
    );
    for absent in [
        "/signup",
        "/login",
        "pro pokladníky spolků",
        "/dev/mailbox",
        "Dluží",
    ] {
        assert!(!page.contains(absent), "{absent} on a member's page");
    }
    assert!(
        page.contains("href=\"/privacy\""),
        "the privacy notice stays linked: {page}"
    );
    assert!(page.contains("K zaplacení:"), "{page}");
    assert!(page.contains("data-label=\"Zaplaceno\""), "{page}");
    assert!(page.contains("<th>Datum</th>"), "{page}");

    // In English too.
    member.get("/lang/en?next=/").await;
    let (_, page) = member.get_text(&link).await;
    assert!(page.contains("Payments received up to"), "{page}");

    // The treasurer's page says a link exists (never the link itself again).
    let (_, detail) = treasurer
        .get_text(&format!("{dashboard}/members/{jana}"))
        .await;
    assert!(detail.contains("id=\"pay-link-state\""), "{detail}");
    assert!(!detail.contains(&link));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM app.pay_links")
        .fetch_one(&app.pool)
        .await
        .expect("hash");
    let token = link.trim_start_matches("/pay/");
    assert_eq!(stored.len(), 32);
    assert_ne!(stored, token.as_bytes(), "only the hash is stored");

    // A new link replaces the old one; a revoked link opens nothing; both are audited.
    let second = issue_link(&app, &treasurer, &dashboard, jana).await;
    assert_ne!(second, link);
    let stranger = app.client();
    for wrong in [
        link.clone(),
        "/pay/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "/pay/short".to_owned(),
        format!("{second}x"),
    ] {
        let response = stranger.get(&wrong).await;
        assert_eq!(response.status(), 404, "{wrong}");
        assert_eq!(robots(&response), Some("noindex"), "{wrong}");
        let body = response.text().await.expect("page");
        assert!(
            body.contains("Tento odkaz už neplatí. Požádejte pokladníka spolku o nový."),
            "{body}"
        );
        assert!(!body.contains("/signup"), "a member's chrome: {body}");
        for secret in ["Jana", "Nováková", "TJ Sokol", iban.as_str()] {
            assert!(!body.contains(secret), "{secret} revealed by {wrong}");
        }
    }
    assert_eq!(stranger.get(&second).await.status(), 200);
    let response = treasurer
        .post_form(&format!("{dashboard}/members/{jana}/pay-link/revoke"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(stranger.get(&second).await.status(), 404);
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'member.pay_link%' ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(
        actions,
        [
            "member.pay_link_issued",
            "member.pay_link_issued",
            "member.pay_link_revoked"
        ]
    );
}

#[tokio::test]
async fn a_guardian_sees_the_household_on_one_page_with_one_qr_code_for_the_total() {
    let app = TestApp::spawn_with_sandbox(|c| c.seed.transactions_per_account = 0).await;
    let (treasurer, dashboard) = confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    let anna = add_member(&app, &tenant, "Anna Dvořáková", "2026001", "2010-01-01").await;
    let ben = add_member(&app, &tenant, "Ben Dvořák", "2026002", "2010-01-01").await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let household = kasa::member::create_household(
        &mut tx,
        &kasa::audit::Actor::SYSTEM,
        &kasa::member::NewHousehold {
            name: "Dvořákovi".into(),
            variable_symbol: kasa::member::VariableSymbol::parse("0777").expect("vs"),
            ..Default::default()
        },
        app.now(),
    )
    .await
    .expect("household");
    sqlx::query("UPDATE members SET household_id = $1 WHERE id = ANY($2)")
        .bind(household)
        .bind(vec![anna, ben])
        .execute(&mut *tx)
        .await
        .expect("siblings");
    tx.commit().await.expect("commit");
    // One month of 500 Kč each: 1 000 Kč for the household.
    monthly_schedule(&treasurer, &dashboard, &month_start(&app, 0)).await;
    let worker = connected(&app, &treasurer, &dashboard).await;
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 40_000, "vs": "777", "payer_name": "Dvořák Petr"}),
    )
    .await;

    let link = issue_link(&app, &treasurer, &dashboard, anna).await;
    let (status, page) = app.client().get_text(&link).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Anna Dvořáková") && page.contains("Ben Dvořák"),
        "{page}"
    );
    assert_eq!(page.matches("id=\"pay-qr\"").count(), 1, "one QR code");
    let (decoded, _) = qr_of(&page);
    assert!(
        decoded.contains("*AM:600.00*") && decoded.contains("*X-VS:0777*"),
        "{decoded}"
    );
}

#[tokio::test]
async fn pay_link_routes_are_closed_to_other_clubs_and_to_viewers() {
    let app = TestApp::spawn().await;
    let owner = app.client();
    let club = app.sign_up(&owner, "Klub A", ICO_A, "owner@a.cz").await;
    let tenant = tenant_of(&app, &club).await;
    let member = add_member(&app, &tenant, "Jana Nová", "2026001", "2010-01-01").await;
    let stranger = app.client();
    let club_b = app.sign_up(&stranger, "Klub B", ICO_B, "bob@b.cz").await;
    let viewer = app.teammate(&owner, &club, "viewer@a.cz", "viewer").await;
    for path in [
        format!("{club}/members/{member}/pay-link"),
        format!("{club}/members/{member}/pay-link/revoke"),
        format!("{club}/members/{member}/pay-link/send"),
    ] {
        assert_eq!(stranger.post_form(&path, &[]).await.status(), 404, "{path}");
        assert_eq!(viewer.post_form(&path, &[]).await.status(), 403, "{path}");
    }
    // Club A's member through the stranger's own club: not found either.
    for path in [
        format!("{club_b}/members/{member}/pay-link"),
        format!("{club_b}/members/{member}/pay-link/revoke"),
        format!("{club_b}/members/{member}/pay-link/send"),
    ] {
        assert_eq!(stranger.post_form(&path, &[]).await.status(), 404, "{path}");
    }
    assert_eq!(
        stranger
            .get(&format!("{club}/bank/consent.ics"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.count("SELECT count(*) FROM app.pay_links").await,
        0,
        "no link was issued"
    );
    // The viewer reads the member's page but gets no link buttons.
    let (status, page) = viewer.get_text(&format!("{club}/members/{member}")).await;
    assert_eq!(status, 200);
    assert!(!page.contains("pay-link-issue"));
}

#[tokio::test]
async fn the_consent_expiry_is_a_calendar_file_that_follows_a_renewal_and_rides_the_30_day_reminder()
 {
    let app = TestApp::spawn().await;
    let owner = app.client();
    let dashboard = app
        .sign_up(&owner, "Oddíl Vodníci", ICO_A, "owner@vodnici.cz")
        .await;
    let tenant = tenant_of(&app, &dashboard).await;
    let ics_path = format!("{dashboard}/bank/consent.ics");
    assert_eq!(
        owner.get(&ics_path).await.status(),
        404,
        "no connection yet"
    );
    let owner_id: kasa::auth::UserId =
        sqlx::query_scalar("SELECT id FROM app.users WHERE email = 'owner@vodnici.cz'")
            .fetch_one(&app.pool)
            .await
            .expect("owner");
    let connection = Uuid::now_v7();
    let granted = app.now();
    bank_connection(&app.pool, &tenant, connection, owner_id, granted).await;
    let day = |at: time::OffsetDateTime| {
        let d = kasa::i18n::prague_date(at + kasa::consent::CONSENT_LIFETIME);
        format!(
            "DTSTART;VALUE=DATE:{:04}{:02}{:02}\r\n",
            d.year(),
            u8::from(d.month()),
            d.day()
        )
    };
    let (_, page) = owner.get_text(&dashboard).await;
    assert!(
        page.contains(&format!("href=\"{ics_path}\"")),
        "linked from the overview"
    );
    let response = owner.get(&ics_path).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/calendar"))
    );
    let first = response.text().await.expect("ics");
    assert!(first.contains(&day(granted)), "{first}");
    assert!(first.contains(&format!("UID:consent-{connection}@kasa\r\n")));

    // Renewed 40 days later: the same event, a later day.
    let renewed = granted + time::Duration::days(40);
    bank_connection(&app.pool, &tenant, connection, owner_id, renewed).await;
    let (_, second) = owner.get_text(&ics_path).await;
    assert!(second.contains(&day(renewed)), "{second}");
    assert!(second.contains(&format!("UID:consent-{connection}@kasa\r\n")));

    // The 30-day reminder carries the file; the 14-day one does not.
    let links = app.state.clone().expect("state").mailer.links().clone();
    let expires = renewed + kasa::consent::CONSENT_LIFETIME;
    for days in [30, 14] {
        kasa::consent::reminders::queue_due(
            &app.pool,
            &links,
            expires - time::Duration::days(days),
        )
        .await
        .expect("reminders");
    }
    let attachments: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT subject, attachments FROM app.outbox WHERE recipient = 'owner@vodnici.cz' \
           AND subject LIKE '%souhlas%' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("outbox");
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    let file: kasa::mail::outbox::Attachment =
        serde_json::from_value(attachments[0].1[0].clone()).expect("an attachment");
    assert!(file.content_type.starts_with("text/calendar"));
    let content = String::from_utf8(file.content().expect("base64")).expect("utf-8");
    assert!(content.contains(&day(renewed)), "{content}");
    assert_eq!(attachments[1].1, serde_json::json!([]));
    let (_, mailbox) = owner.get_text("/dev/mailbox").await;
    assert!(
        mailbox.contains(kasa::consent::calendar::FILE_NAME),
        "the local mailbox names the attachment"
    );
}

#[tokio::test]
async fn one_address_opening_too_many_member_pages_waits_for_the_hour() {
    let app = TestApp::spawn().await;
    let guesser = app.client();
    let guess = |i: usize| format!("/pay/{:A>43}", i);
    for i in 0..120 {
        assert_eq!(guesser.get(&guess(i)).await.status(), 404, "guess {i}");
    }
    let response = guesser.get(&guess(120)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(robots(&response), Some("noindex"));
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("Příliš mnoho požadavků")
    );
    app.clock.advance(time::Duration::minutes(61));
    assert_eq!(
        guesser.get(&guess(121)).await.status(),
        404,
        "an hour later"
    );
}

#[tokio::test]
async fn a_new_link_can_be_copied_and_sent_to_the_members_e_mail_once_it_is_current() {
    let app = TestApp::spawn().await;
    let treasurer = app.client();
    let club = app.sign_up(&treasurer, "Klub A", ICO_A, "owner@a.cz").await;
    let tenant = tenant_of(&app, &club).await;
    let jana = add_member(&app, &tenant, "Jana Nová", "2026001", "2010-01-01").await;
    let petr = add_member(&app, &tenant, "Petr Bez Mailu", "2026002", "2010-01-01").await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    sqlx::query("UPDATE members SET emails = ARRAY['jana@example.cz'] WHERE id = $1")
        .bind(jana)
        .execute(&mut *tx)
        .await
        .expect("e-mail");
    tx.commit().await.expect("commit");

    let (_, page) = treasurer
        .post_text(&format!("{club}/members/{jana}/pay-link"), &[])
        .await;
    assert!(page.contains("data-copy=\"pay-link-url\""), "{page}");
    assert!(
        page.contains("<script src=\"/static/copy.js\" defer>"),
        "{page}"
    );
    assert!(page.contains("id=\"pay-link-send\""), "{page}");
    let (status, script) = treasurer.get_text("/static/copy.js").await;
    assert_eq!(status, 200);
    assert!(script.contains("data-copy"));
    let old = issue_link(&app, &treasurer, &club, jana).await;
    let current = issue_link(&app, &treasurer, &club, jana).await;

    // The link that is no longer current is not sent.
    let response = treasurer
        .post_form(
            &format!("{club}/members/{jana}/pay-link/send"),
            &[("link", &format!("{}{old}", app.base))],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert!(app.mails_to("jana@example.cz").await.is_empty());
    let (_, page) = treasurer.get_text(&format!("{club}/members/{jana}")).await;
    assert!(page.contains("Tento odkaz už neplatí"), "{page}");

    let response = treasurer
        .post_form(
            &format!("{club}/members/{jana}/pay-link/send"),
            &[("link", &format!("{}{current}", app.base))],
        )
        .await;
    assert_eq!(response.status(), 303);
    let mails = app.mails_to("jana@example.cz").await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].1.contains(&current), "{}", mails[0].1);
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let sent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'member.pay_link_sent'")
            .fetch_one(&mut *tx)
            .await
            .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(sent, 1);

    // The same link sent again, three times at once: nothing more is queued.
    let link = format!("{}{current}", app.base);
    let path = format!("{club}/members/{jana}/pay-link/send");
    let form = [("link", link.as_str())];
    let again = (0..3).map(|_| treasurer.post_form(&path, &form));
    for response in futures::future::join_all(again).await {
        assert_eq!(response.status(), 303);
    }
    assert_eq!(app.mails_to("jana@example.cz").await.len(), 1, "one e-mail");
    let (_, page) = treasurer.get_text(&format!("{club}/members/{jana}")).await;
    assert!(page.contains("už byl členovi poslán"), "{page}");

    // A member without an e-mail is offered no sending.
    let (_, page) = treasurer
        .post_text(&format!("{club}/members/{petr}/pay-link"), &[])
        .await;
    assert!(!page.contains("id=\"pay-link-send\""), "{page}");
    // The form is not nested in a paragraph any more.
    assert!(
        !page.contains("<p class=\"member-actions\">\n    <form"),
        "{page}"
    );
}
