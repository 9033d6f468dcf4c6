//! Cross-site request forgery protection and security headers.

use crate::helpers::*;

/// Posts a valid sign-up form with these headers (what the browser says of the request's
/// origin); the answer's status.
async fn sign_up_with(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let mut request = app.client().http.post(app.url("/signup"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let form = [
        ("club_name", "Spolek"),
        ("ico", ICO_A),
        ("email", "a@b.cz"),
        ("password", PASSWORD),
    ];
    let response = request.form(&form).send().await.expect("post");
    response.status().as_u16()
}

#[tokio::test]
async fn a_cross_site_post_is_rejected_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let cross_site = [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ];
    assert_eq!(sign_up_with(&app, &cross_site).await, 403);
    assert_eq!(app.count("SELECT count(*) FROM app.users").await, 0);

    // An old browser that sends only Origin, from elsewhere: rejected too.
    let response = app
        .client()
        .http
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("email", "a@b.cz"), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_same_origin_post_passes() {
    let app = TestApp::spawn().await;
    let same_origin = [
        ("origin", app.base.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    assert_eq!(sign_up_with(&app, &same_origin).await, 303);
}

#[tokio::test]
async fn every_page_carries_a_strict_content_security_policy_and_friends() {
    let app = TestApp::spawn().await;
    for path in ["/", "/signup", "/login", "/does-not-exist"] {
        let response = app.client().get(path).await;
        let h = response.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
        assert!(h.get("referrer-policy").is_some(), "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
    let (status, page) = app.client().get_text("/does-not-exist").await;
    assert_eq!(status, 404);
    assert!(page.contains("Stránka nenalezena"), "a friendly page");
    assert!(page.contains("Číslo požadavku"), "with a request id");
}

#[tokio::test]
async fn behind_https_the_cookie_is_host_prefixed_and_secure_and_hsts_is_sent() {
    // A public address needs SMTP (the local mailbox is for local-only use).
    let app = TestApp::spawn_with(|c| {
        c.public_url = Some("https://kasa.example".parse().expect("url"));
        c.smtp_url = Some(kasa::config::Secret::new("smtp://127.0.0.1:9".to_owned()));
    })
    .await;
    let response = app.client().get("/lang/cs?next=/").await;
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(cookie.starts_with("__Host-kasa="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax")
    );
    assert!(!cookie.contains("Domain="));
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_some()
    );
}

#[tokio::test]
async fn no_page_has_an_inline_script() {
    let app = TestApp::spawn().await;
    for path in ["/", "/signup", "/login", "/forgot-password"] {
        let (_, page) = app.client().get_text(path).await;
        assert!(!page.contains("<script>"), "{path}");
        assert!(!page.contains(" onclick="), "{path}");
    }
}
