//! Sign-up, e-mail confirmation and the forms' bad inputs.

use crate::helpers::*;

#[tokio::test]
async fn a_club_signs_up_and_confirms_its_email_from_the_mailbox_page() {
    let app = TestApp::spawn().await;
    let treasurer = app.client();
    let (status, page) = treasurer.get_text("/signup").await;
    assert_eq!(status, 200);
    assert!(page.contains("Registrace spolku"), "Czech by default");

    let dashboard = app
        .sign_up(
            &treasurer,
            "TJ Sokol Brněnské Ivanovice",
            ICO_A,
            "pokladnik@sokol.cz",
        )
        .await;
    assert!(dashboard.starts_with("/t/"));
    let (status, page) = treasurer.get_text(&dashboard).await;
    assert_eq!(status, 200);
    assert!(page.contains("TJ Sokol Brněnské Ivanovice"));
    assert!(
        page.contains("Potvrďte svůj e-mail"),
        "the next step is to confirm the e-mail"
    );

    // The local mailbox shows the confirmation mail with its link.
    let (status, mailbox) = treasurer.get_text("/dev/mailbox").await;
    assert_eq!(status, 200);
    assert!(mailbox.contains("pokladnik@sokol.cz"));
    let link = app.last_link_to("pokladnik@sokol.cz").await;
    assert!(link.starts_with("/confirm-email?token="));
    assert!(mailbox.contains(&link.replace('&', "&amp;")));

    let (status, page) = treasurer.get_text(&link).await;
    assert_eq!(status, 200);
    assert!(page.contains("E-mail je potvrzený"));
    let (_, page) = treasurer.get_text(&dashboard).await;
    assert!(
        !page.contains("id=\"step-confirm\""),
        "confirmed: the next step is connecting KB"
    );
    assert!(page.contains("Připojte účet u Komerční banky"));

    // The link works once.
    let (status, _) = treasurer.get_text(&link).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn the_confirmation_token_is_stored_only_as_a_hash() {
    let app = TestApp::spawn().await;
    app.sign_up(&app.client(), "Spolek", ICO_A, "a@spolek.cz")
        .await;
    let link = app.last_link_to("a@spolek.cz").await;
    let token = link.trim_start_matches("/confirm-email?token=");
    assert!(token.len() >= 43, "at least 256 bits");
    let (hits,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM app.one_time_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'",
    )
    .bind(token)
    .fetch_one(&app.pool)
    .await
    .expect("query");
    assert_eq!(hits, 0);
}

async fn assert_nothing_created(app: &TestApp) {
    assert_eq!(app.count("SELECT count(*) FROM app.users").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM app.tenants").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM app.outbox").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_%'")
            .await,
        0
    );
}

#[tokio::test]
async fn an_invalid_ico_re_renders_the_form_with_a_field_error_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let (status, page) = app
        .client()
        .post_text(
            "/signup",
            &[
                ("club_name", "Spolek"),
                ("ico", "45317055"),
                ("email", "a@b.cz"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("IČO musí mít 8 číslic a platnou kontrolní číslici"));
    assert!(
        page.contains("value=\"Spolek\""),
        "the other fields keep their values"
    );
    assert!(
        page.contains(&format!("value=\"{PASSWORD}\"")),
        "a password that passed its checks is kept: an error elsewhere does not wipe it"
    );
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn a_weak_password_re_renders_the_form_with_a_field_error_and_creates_nothing() {
    let app = TestApp::spawn().await;
    for (password, message) in [
        ("kratke", "alespoň 10 znaků"),
        ("1234567890", "příliš běžné"),
        ("qwertyuiop", "příliš běžné"),
    ] {
        let (status, page) = app
            .client()
            .post_text(
                "/signup",
                &[
                    ("club_name", "Spolek"),
                    ("ico", ICO_A),
                    ("email", "a@b.cz"),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(status, 422, "{password}");
        assert!(page.contains(message), "{password}: {message}");
        assert!(
            !page.contains(&format!("value=\"{password}\"")),
            "a refused password is not offered again"
        );
    }
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn a_duplicate_email_re_renders_the_form_and_leaves_no_half_created_club() {
    let app = TestApp::spawn().await;
    app.sign_up(&app.client(), "První spolek", ICO_A, "dup@spolek.cz")
        .await;
    let tenants_before = app.count("SELECT count(*) FROM app.tenants").await;
    let schemas_before = app
        .count("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_%'")
        .await;

    let (status, page) = app
        .client()
        .post_text(
            "/signup",
            &[
                ("club_name", "Druhý spolek"),
                ("ico", ICO_B),
                ("email", "DUP@spolek.cz"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("Tento e-mail už je registrovaný"));
    assert_eq!(
        app.count("SELECT count(*) FROM app.tenants").await,
        tenants_before
    );
    assert_eq!(
        app.count("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_%'")
            .await,
        schemas_before
    );
    assert_eq!(app.count("SELECT count(*) FROM app.users").await, 1);
}

#[tokio::test]
async fn missing_form_fields_are_field_errors_not_crashes() {
    let app = TestApp::spawn().await;
    let (status, page) = app.client().post_text("/signup", &[]).await;
    assert_eq!(status, 422);
    assert!(page.contains("Vyplňte název spolku"));
    assert!(page.contains("Zadejte platnou e-mailovou adresu"));
}

#[tokio::test]
async fn an_expired_confirmation_link_is_refused_and_a_new_one_can_be_sent() {
    let app = TestApp::spawn().await;
    let client = app.client();
    app.sign_up(&client, "Spolek", ICO_A, "late@spolek.cz")
        .await;
    let link = app.last_link_to("late@spolek.cz").await;
    app.clock.advance(time::Duration::hours(49));
    let (status, page) = client.get_text(&link).await;
    assert_eq!(status, 422);
    assert!(page.contains("Odkaz vypršel"));
    assert_eq!(
        app.count("SELECT count(*) FROM app.users WHERE email_confirmed_at IS NOT NULL")
            .await,
        0
    );
    // Still signed in (the session's absolute lifetime is 12 h; log in again after the jump).
    client.log_in("late@spolek.cz", PASSWORD).await;
    let response = client.post_form("/account/resend-confirmation", &[]).await;
    assert_eq!(response.status(), 200);
    let fresh = app.last_link_to("late@spolek.cz").await;
    assert_ne!(fresh, link);
    assert_eq!(client.get(&fresh).await.status(), 200);
}

#[tokio::test]
async fn the_pages_speak_english_on_request_and_remember_it() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let response = client.get("/lang/en?next=/signup").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/signup");
    let (_, page) = client.get_text("/signup").await;
    assert!(page.contains("Sign up your club"));
    assert!(page.contains("<html lang=\"en\">"));
    // The language chosen before signing up is the language of the e-mails.
    app.sign_up(&client, "English Club", ICO_A, "en@club.cz")
        .await;
    let mails = app.mails_to("en@club.cz").await;
    assert_eq!(mails[0].0, "Confirm your e-mail for Kasa");
    // An open redirect through the language switch is refused.
    let response = client.get("/lang/cs?next=//evil.example").await;
    assert_eq!(location(&response), "/");
}

#[tokio::test]
async fn a_browser_asking_for_english_gets_english() {
    let app = TestApp::spawn().await;
    let page = app.get_in_english("/login").await;
    assert!(page.contains("Forgot your password?"));
}

#[tokio::test]
async fn a_second_club_with_the_same_ico_is_created_with_a_hint_to_ask_for_an_invitation() {
    let app = TestApp::spawn().await;
    let first = app.client();
    let dashboard = app.sign_up(&first, "TJ Sokol", ICO_A, "a@sokol.cz").await;
    let (_, page) = first.get_text(&dashboard).await;
    assert!(!page.contains("stejným IČO"), "{page}");

    let second = app.client();
    let dashboard = app
        .sign_up(&second, "TJ Sokol oddíl", ICO_A, "b@sokol.cz")
        .await;
    let (status, page) = second.get_text(&dashboard).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("spolek se stejným IČO už v Kase je")
            && page.contains("požádejte jeho správce o pozvánku"),
        "{page}"
    );
    assert_eq!(app.count("SELECT count(*) FROM app.tenants").await, 2);
}
