//! Consent expiry reminders, driven by the test's clock.

use crate::helpers::*;
use kasa::consent::reminders;

/// The id of the person with this address.
async fn person(app: &TestApp, email: &str) -> kasa::auth::UserId {
    let email = kasa::auth::Email::parse(email).expect("e-mail");
    kasa::auth::users::find_by_email(&app.pool, &email)
        .await
        .expect("find")
        .expect("person")
        .id
}

async fn reminders_to(app: &TestApp, email: &str) -> Vec<String> {
    app.mails_to(email)
        .await
        .into_iter()
        .map(|(subject, _)| subject)
        .filter(|s| s.contains("souhlas") || s.contains("banka"))
        .collect()
}

#[tokio::test]
async fn owners_and_treasurers_are_reminded_once_per_step_until_renewal() {
    let app = TestApp::spawn().await;
    let owner = app.client();
    let dashboard = app
        .sign_up(&owner, "Oddíl Vodníci", ICO_A, "owner@vodnici.cz")
        .await;
    let (treasurer, viewer) = ("pokladni@vodnici.cz", "divak@vodnici.cz");
    app.teammate(&owner, &dashboard, treasurer, "treasurer")
        .await;
    app.teammate(&owner, &dashboard, viewer, "viewer").await;

    let tenant = app.tenant(&dashboard).await;
    let owner_id = person(&app, "owner@vodnici.cz").await;
    let connection = uuid::Uuid::now_v7();
    bank_connection(&app.pool, &tenant, connection, owner_id, app.now()).await;
    let expires = app.now() + kasa::consent::CONSENT_LIFETIME;
    let links = app.state.clone().expect("state").mailer.links().clone();
    let run = |at: time::OffsetDateTime| {
        let pool = app.pool.clone();
        let links = links.clone();
        async move {
            reminders::queue_due(&pool, &links, at)
                .await
                .expect("reminders")
        }
    };

    assert_eq!(run(app.now()).await, 0, "nothing due a year ahead");
    let day = |d: i64| expires - time::Duration::days(d);
    assert_eq!(run(day(30)).await, 2, "owner and treasurer, not the viewer");
    assert_eq!(run(day(30) + time::Duration::hours(5)).await, 0, "once");
    assert_eq!(run(day(20)).await, 0, "still the 30-day step");
    assert_eq!(run(day(14)).await, 2);
    // Kasa was down between 14 and 5 days: only the 7-day reminder, not a late 14-day one.
    assert_eq!(run(day(5)).await, 2);
    assert_eq!(run(day(1)).await, 2);
    assert_eq!(run(expires + time::Duration::hours(1)).await, 2, "expired");
    assert_eq!(run(expires + time::Duration::days(3)).await, 0);
    let subjects = reminders_to(&app, treasurer).await;
    assert_eq!(subjects.len(), 5, "{subjects:?}");
    assert!(subjects[0].contains("vyprší za 30 dní"), "{subjects:?}");
    assert!(subjects[4].contains("vypršel"));
    assert!(reminders_to(&app, viewer).await.is_empty());

    // Renewal starts a new series; a broken connection gets its own e-mail, once.
    bank_connection(&app.pool, &tenant, connection, owner_id, expires).await;
    let renewed = expires + kasa::consent::CONSENT_LIFETIME;
    assert_eq!(run(renewed - time::Duration::days(30)).await, 2);
    let mut conn = app.pool.acquire().await.expect("connection");
    let broken = renewed - time::Duration::days(29) - time::Duration::hours(1);
    assert!(
        kasa::consent::store::mark_broken(&mut conn, connection, "invalid_grant", broken)
            .await
            .expect("break")
    );
    assert_eq!(run(renewed - time::Duration::days(29)).await, 2);
    assert_eq!(run(renewed - time::Duration::days(28)).await, 0);
    assert!(
        reminders_to(&app, "owner@vodnici.cz")
            .await
            .iter()
            .any(|s| s.contains("banka odmítla"))
    );
}

#[tokio::test]
async fn the_operator_sees_expiring_credentials_and_every_club_and_others_see_nothing() {
    let operator = kasa::auth::Email::parse("provoz@kasa.example").expect("email");
    let app = TestApp::spawn().await;
    let op = app.client();
    app.sign_up_confirmed(&op, "Provozní spolek", ICO_A, "provoz@kasa.example")
        .await;
    kasa::auth::operators::add(&app.pool, &operator, app.now())
        .await
        .expect("kasa operator add");
    let club = app.client();
    app.sign_up(&club, "Klub Modrá", ICO_B, "modra@klub.cz")
        .await;

    assert_eq!(club.get("/operator").await.status(), 404, "not an operator");
    assert_eq!(
        op.post_form("/operator", &[("password", PASSWORD)])
            .await
            .status(),
        303
    );
    let (status, page) = op.get_text("/operator").await;
    assert_eq!(status, 200);
    assert!(page.contains("Klub Modrá") && page.contains("Provozní spolek"));
    assert!(page.contains("zatím žádný"));

    kasa::consent::store::save_statement(
        &app.pool,
        "a.b.c",
        "x",
        "y",
        app.now() - time::Duration::days(345),
        app.now() + time::Duration::days(20),
    )
    .await
    .expect("statement");
    let (_, page) = op.get_text("/operator").await;
    assert!(page.contains("brzy vyprší"), "warned 30 days ahead");
    let warn = |at| {
        kasa::consent::operator::queue_warnings(
            &app.pool,
            None,
            std::slice::from_ref(&operator),
            at,
        )
    };
    assert_eq!(warn(app.now()).await.expect("warn"), 1);
    assert_eq!(
        warn(app.now() + time::Duration::days(1))
            .await
            .expect("warn"),
        0,
        "once"
    );
    assert!(
        app.mails_to("provoz@kasa.example")
            .await
            .iter()
            .any(|(s, _)| s.contains("software statement expires"))
    );
}
