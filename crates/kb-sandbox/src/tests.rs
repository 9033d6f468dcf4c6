//! End-to-end tests over real sockets on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use super::*;

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kb-sandbox-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config(dir: &std::path::Path) -> SandboxConfig {
    let mut c = SandboxConfig::new(dir);
    c.seed.transactions_per_account = 45;
    c.seed.days = 80;
    c
}

fn tls_client(h: &SandboxHandle, with_cert: bool) -> reqwest::Client {
    let ca = std::fs::read(&h.ca_cert_path).unwrap();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(Policy::none())
        .timeout(Duration::from_secs(20));
    if with_cert {
        let mut pem = std::fs::read(&h.client_cert_path).unwrap();
        pem.extend(std::fs::read(&h.client_key_path).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn corr() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn statement_request() -> Value {
    json!({
        "softwareName": "Kasa klubu", "softwareNameEn": "Club Kasa", "softwareId": "0123456789abcdef0123456789abcdef",
        "softwareVersion": "1.0", "redirectUris": ["http://127.0.0.1:9/callback"],
        "tokenEndpointAuthMethod": "client_secret_post", "grantTypes": ["authorization_code", "refresh_token"],
        "responseTypes": ["code"], "registrationBackUri": "http://127.0.0.1:9/register/client",
        "contacts": ["email: pokladnik@example.org"]
    })
}

fn hidden_value(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle).unwrap() + needle.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn query_param(location: &str, key: &str) -> Option<String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

struct Registered {
    client_id: String,
    client_secret: String,
    account_ids: Vec<String>,
}

/// Software statement + application registration (production paths), as user `Klient 1`.
async fn register(h: &SandboxHandle) -> Registered {
    let api = tls_client(h, true);
    let resp = api
        .post(format!(
            "{}/client-registration/v3/software-statements",
            h.api_base_url
        ))
        .header("apiKey", &h.api_keys.production.client_registration)
        .header("x-correlation-id", corr())
        .json(&statement_request())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let jwt = resp.text().await.unwrap();

    let key = [7u8; 32];
    let req = json!({
        "clientName": "Kasa klubu", "clientNameEn": "Club Kasa", "applicationType": "web",
        "redirectUris": ["http://127.0.0.1:9/callback"], "scope": ["adaa"], "softwareStatement": jwt,
        "encryptionAlg": "AES-256", "encryptionKey": STANDARD.encode(key),
    });
    let b64 = STANDARD.encode(req.to_string());
    let web = browser();
    let html = web
        .get(format!(
            "{}/client-registration-ui/v2/saml/register?registrationRequest={b64}&state=st-123",
            h.browser_base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    let pending = hidden_value(&html.text().await.unwrap(), "pending");
    let page = web
        .post(format!(
            "{}/client-registration-ui/v2/saml/register",
            h.browser_base_url
        ))
        .form(&[
            ("pending", pending.as_str()),
            ("step", "login"),
            ("user", "Klient 1"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"account\""));
    let state: Value = web
        .get(format!("{}/control/state", h.browser_base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account_ids: Vec<String> = state["users"][0]["account_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let mut form = vec![
        ("pending", pending.clone()),
        ("step", "confirm".into()),
        ("user", "Klient 1".into()),
    ];
    form.push(("account", account_ids[0].clone()));
    let resp = web
        .post(format!(
            "{}/client-registration-ui/v2/saml/register",
            h.browser_base_url
        ))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        loc.starts_with("http://127.0.0.1:9/register/client?"),
        "{loc}"
    );
    let salt = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(query_param(&loc, "salt").unwrap())
        .unwrap();
    let data = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(query_param(&loc, "encryptedData").unwrap())
        .unwrap();
    assert_eq!(salt.len(), 12);
    let plain = Aes256Gcm::new_from_slice(&key)
        .unwrap()
        .decrypt(Nonce::from_slice(&salt), data.as_slice())
        .unwrap();
    let creds: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(creds["state"], "st-123");
    assert_eq!(creds["client_secret"].as_str().unwrap().len(), 22);
    Registered {
        client_id: creds["client_id"].as_str().unwrap().to_owned(),
        client_secret: creds["client_secret"].as_str().unwrap().to_owned(),
        account_ids: vec![account_ids[0].clone()],
    }
}

/// Consent as `Klient 1`; returns the code.
async fn authorize(h: &SandboxHandle, r: &Registered) -> String {
    let web = browser();
    let params = [
        ("response_type", "code"),
        ("client_id", r.client_id.as_str()),
        ("redirect_uri", "http://127.0.0.1:9/callback"),
        ("scope", "adaa"),
        ("state", "xyz"),
    ];
    let page = web
        .get(format!("{}/autfe/ssologin", h.browser_base_url))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("user", "Klient 1"));
    form.push(("decision", "approve"));
    let resp = web
        .post(format!("{}/autfe/ssologin", h.browser_base_url))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&loc, "state").as_deref(), Some("xyz"));
    assert_eq!(
        query_param(&loc, "client_id").as_deref(),
        Some(r.client_id.as_str())
    );
    query_param(&loc, "code").unwrap()
}

async fn exchange(h: &SandboxHandle, r: &Registered, code: &str) -> reqwest::Response {
    tls_client(h, false)
        .post(format!("{}/oauth2/v3/access_token", h.api_base_url))
        .header("apiKey", &h.api_keys.production.oauth2)
        .header("x-correlation-id", corr())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("client_id", &r.client_id),
            ("client_secret", &r.client_secret),
        ])
        .send()
        .await
        .unwrap()
}

async fn access_token(h: &SandboxHandle, r: &Registered) -> String {
    let code = authorize(h, r).await;
    let resp = exchange(h, r, &code).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["refresh_token"].is_string());
    body["access_token"].as_str().unwrap().to_owned()
}

async fn adaa_get(h: &SandboxHandle, token: &str, path: &str) -> reqwest::Response {
    tls_client(h, false)
        .get(format!("{}/adaa/v2{path}", h.api_base_url))
        .header("apiKey", &h.api_keys.production.adaa)
        .header("x-correlation-id", corr())
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn client_registration_requires_a_ca_signed_certificate() {
    let h = KbSandbox::start(config(&temp_dir())).await.unwrap();
    let url = format!(
        "{}/client-registration/v3/software-statements",
        h.api_base_url
    );
    let send = |c: reqwest::Client, key: String| {
        let url = url.clone();
        async move {
            c.post(url)
                .header("apiKey", key)
                .header("x-correlation-id", corr())
                .json(&statement_request())
                .send()
                .await
                .unwrap()
        }
    };
    let without = send(
        tls_client(&h, false),
        h.api_keys.production.client_registration.clone(),
    )
    .await;
    assert_eq!(without.status(), 403);
    let body: Value = without.json().await.unwrap();
    assert_eq!(
        body,
        json!({"errors":[{"error":"UNAUTHORISED","message":"Missing certificate or access token"}]})
    );

    let with = send(
        tls_client(&h, true),
        h.api_keys.production.client_registration.clone(),
    )
    .await;
    assert_eq!(with.status(), 201);
    assert!(
        with.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let jwt = with.text().await.unwrap();
    let claims = super::jws::claims(&jwt).unwrap();
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        365 * 86_400
    );
    assert_eq!(claims["softwareId"], "0123456789abcdef0123456789abcdef");
    assert_eq!(jwt.split('.').count(), 3);

    // Sandbox path: 200 instead of 201 (quirk).
    let sandbox = tls_client(&h, true)
        .post(format!(
            "{}/sandbox/client-registration/v2/software-statements",
            h.api_base_url
        ))
        .header("apiKey", &h.api_keys.sandbox.client_registration)
        .header("x-correlation-id", corr())
        .json(&statement_request())
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.status(), 200);
    h.shutdown().await;
}

#[tokio::test]
async fn wrong_api_key_and_missing_correlation_id_are_rejected() {
    let h = KbSandbox::start(config(&temp_dir())).await.unwrap();
    let c = tls_client(&h, false);
    let url = format!("{}/adaa/v2/accounts", h.api_base_url);
    let wrong = c
        .get(&url)
        .header("apiKey", "nope")
        .header("x-correlation-id", corr())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let other_api = c
        .get(&url)
        .header("apiKey", &h.api_keys.production.oauth2)
        .header("x-correlation-id", corr())
        .send()
        .await
        .unwrap();
    assert_eq!(other_api.status(), 401);
    let sandbox_key = c
        .get(&url)
        .header("apiKey", &h.api_keys.sandbox.adaa)
        .header("x-correlation-id", corr())
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox_key.status(), 401);

    let missing = c
        .get(&url)
        .header("apiKey", &h.api_keys.production.adaa)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    // shared/kb-reference/fixtures/response-missing-corr-id.json
    let fixture = json!({"errors":[{"message":"Required String parameter 'x-correlation-id' is not present",
        "additionalInfo":{"parameterName":"x-correlation-id","rejectedValue":"wrongValue"}}]});
    assert_eq!(
        body["errors"][0]["message"],
        fixture["errors"][0]["message"]
    );
    assert_eq!(
        body["errors"][0]["additionalInfo"]["parameterName"],
        fixture["errors"][0]["additionalInfo"]["parameterName"]
    );
    assert!(body["errors"][0]["additionalInfo"]["rejectedValue"].is_string());

    let malformed = c
        .get(&url)
        .header("apiKey", &h.api_keys.production.adaa)
        .header("x-correlation-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    h.shutdown().await;
}

#[tokio::test]
async fn authorization_code_is_single_use_and_expires_after_two_minutes() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let mut cfg = config(&temp_dir());
    cfg.clock = clock.clone();
    let h = KbSandbox::start(cfg).await.unwrap();
    let r = register(&h).await;

    let code = authorize(&h, &r).await;
    assert_eq!(exchange(&h, &r, &code).await.status(), 200);
    let again = exchange(&h, &r, &code).await;
    assert_eq!(again.status(), 400);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    let late = authorize(&h, &r).await;
    clock.advance(Duration::from_secs(121));
    let resp = exchange(&h, &r, &late).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    // Bound to the redirect URI.
    let code = authorize(&h, &r).await;
    let wrong = tls_client(&h, false)
        .post(format!("{}/oauth2/v3/access_token", h.api_base_url))
        .header("apiKey", &h.api_keys.production.oauth2)
        .header("x-correlation-id", corr())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("client_id", r.client_id.as_str()),
            ("client_secret", r.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    h.shutdown().await;
}

#[tokio::test]
async fn paging_returns_every_transaction_exactly_once_and_unchanged_data_gets_429() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let mut cfg = config(&temp_dir());
    cfg.clock = clock.clone();
    let h = KbSandbox::start(cfg).await.unwrap();
    let r = register(&h).await;
    let token = access_token(&h, &r).await;
    let account = &r.account_ids[0];

    let accounts: Value = adaa_get(&h, &token, "/accounts")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        accounts.as_array().unwrap().len(),
        1,
        "only the chosen account"
    );

    let mut seen = Vec::new();
    let mut page = 0;
    loop {
        let resp = adaa_get(
            &h,
            &token,
            &format!("/accounts/{account}/transactions?page={page}&size=7"),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        for t in body["content"].as_array().unwrap() {
            seen.push(
                t["references"]["accountServicer"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        if body["last"].as_bool().unwrap() {
            break;
        }
        page += 1;
    }
    let ledger: Vec<Value> = browser()
        .get(format!(
            "{}/control/ledger?account={account}",
            h.browser_base_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cutoff = (clock.now() - time::Duration::days(90)).date().to_string();
    let expected: Vec<String> = ledger
        .iter()
        .filter(|t| super::ledger::tx_date(t) >= cutoff.as_str())
        .map(|t| {
            t["references"]["accountServicer"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(expected.len() > 7);
    assert_eq!(seen, expected);

    // Unchanged data within 61 minutes → 429; after 61 minutes or a new payment → 200.
    let again = adaa_get(
        &h,
        &token,
        &format!("/accounts/{account}/transactions?page=0&size=7"),
    )
    .await;
    assert_eq!(again.status(), 429);
    clock.advance(Duration::from_secs(61 * 60 + 1));
    let token = access_token(&h, &r).await;
    assert_eq!(
        adaa_get(
            &h,
            &token,
            &format!("/accounts/{account}/transactions?page=0")
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        adaa_get(
            &h,
            &token,
            &format!("/accounts/{account}/transactions?page=0")
        )
        .await
        .status(),
        429
    );
    let pay = browser()
        .post(format!("{}/control/payments", h.browser_base_url))
        .json(&json!({"account": account, "amount": 250.5, "vs": "77"}))
        .send()
        .await
        .unwrap();
    assert_eq!(pay.status(), 201);
    assert_eq!(
        adaa_get(
            &h,
            &token,
            &format!("/accounts/{account}/transactions?page=0")
        )
        .await
        .status(),
        200
    );

    // 10-second next-page window.
    clock.advance(Duration::from_secs(11));
    let late = adaa_get(
        &h,
        &token,
        &format!("/accounts/{account}/transactions?page=1"),
    )
    .await;
    assert_eq!(late.status(), 400);
    h.shutdown().await;
}

/// `POST /control/payments` with `body`; the sandbox's answer.
async fn send_payment(h: &SandboxHandle, body: Value) -> Value {
    browser()
        .post(format!("{}/control/payments", h.browser_base_url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_payment_sent_with_empty_fields_has_no_variable_symbol() {
    let dir = temp_dir();
    let h = KbSandbox::start(config(&dir)).await.unwrap();
    let r = register(&h).await;
    let pay = send_payment(
        &h,
        json!({"account": r.account_ids[0], "amount": 500, "vs": "", "message": " ",
               "payer_name": "Eva Dvořáková", "payer_account": ""}),
    )
    .await;
    let tx = &pay["transaction"];
    assert_eq!(tx["references"].get("variable"), None, "{tx}");
    assert_eq!(tx["references"].get("receiver"), None, "{tx}");
    assert!(tx.to_string().contains("Eva Dvořáková"), "{tx}");
    h.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = temp_dir();
    let h = KbSandbox::start(config(&dir)).await.unwrap();
    let keys = h.api_keys.clone();
    let ca = std::fs::read(&h.ca_cert_path).unwrap();
    let r = register(&h).await;
    let pay = send_payment(
        &h,
        json!({"account": r.account_ids[0], "amount": 1234, "vs": "2025001", "payer_name": "Eva Dvořáková"}),
    )
    .await;
    let servicer = pay["transaction"]["references"]["accountServicer"].clone();
    h.shutdown().await;

    let h = KbSandbox::start(config(&dir)).await.unwrap();
    assert_eq!(h.api_keys, keys);
    assert_eq!(std::fs::read(&h.ca_cert_path).unwrap(), ca);
    let ledger: Vec<Value> = browser()
        .get(format!(
            "{}/control/ledger?account={}",
            h.browser_base_url, r.account_ids[0]
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ledger
            .iter()
            .any(|t| t["references"]["accountServicer"] == servicer)
    );
    // The registered client still works.
    let token = access_token(&h, &r).await;
    assert_eq!(adaa_get(&h, &token, "/accounts").await.status(), 200);
    h.shutdown().await;
}

#[derive(Default)]
struct Received {
    calls: Vec<(String, Option<String>, Value)>,
}

/// A local Event API: `/version` answers 1.0, events answer `events_status`.
async fn receiver(events_status: u16) -> (String, Arc<Mutex<Received>>) {
    use axum::routing::{get, post};
    let got = Arc::new(Mutex::new(Received::default()));
    let g = got.clone();
    let app = axum::Router::new()
        .route(
            "/event-api/v1/version",
            get(|| async { axum::Json(json!({"version": "1.0"})) }),
        )
        .route(
            "/event-api/v1/subscriptions/{id}/events",
            post(
                move |axum::extract::Path(id): axum::extract::Path<String>,
                      headers: axum::http::HeaderMap,
                      body: axum::Json<Value>| {
                    let g = g.clone();
                    async move {
                        let key = headers
                            .get("x-api-key")
                            .map(|v| v.to_str().unwrap().to_owned());
                        g.lock().unwrap().calls.push((id, key, body.0));
                        axum::http::StatusCode::from_u16(events_status).unwrap()
                    }
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/event-api/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

async fn subscribe(h: &SandboxHandle, token: &str, account: &str, url: &str) -> Value {
    let resp = tls_client(h, false)
        .post(format!(
            "{}/adaa/v2/accounts/{account}/transactions/event-subscriptions",
            h.api_base_url
        ))
        .header("apiKey", &h.api_keys.production.adaa)
        .header("x-correlation-id", corr())
        .bearer_auth(token)
        .json(&json!({"eventApiUrl": url, "eventApiKey": "tajny-klic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert!(resp.headers().contains_key("location"));
    resp.json().await.unwrap()
}

fn fast_events(cfg: &mut SandboxConfig) {
    cfg.events.min_interval = Duration::from_secs(1);
    cfg.events.suspended_retry_interval = Duration::from_millis(200);
    cfg.events.tick = Duration::from_millis(50);
}

#[tokio::test]
async fn notification_reaches_the_app_with_its_key_and_event_count() {
    let mut cfg = config(&temp_dir());
    fast_events(&mut cfg);
    let h = KbSandbox::start(cfg).await.unwrap();
    let r = register(&h).await;
    let token = access_token(&h, &r).await;
    let (url, got) = receiver(204).await;
    let account = r.account_ids[0].clone();
    let sub = subscribe(&h, &token, &account, &url).await;
    assert_eq!(sub["status"], "ACTIVE");
    let id = sub["subscriptionId"].as_str().unwrap().to_owned();

    browser()
        .post(format!("{}/control/payments", h.browser_base_url))
        .json(&json!({"account": account, "amount": 300}))
        .send()
        .await
        .unwrap();
    for _ in 0..100 {
        if !got.lock().unwrap().calls.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = got.lock().unwrap().calls.clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, id);
    assert_eq!(calls[0].1.as_deref(), Some("tajny-klic"));
    assert_eq!(calls[0].2, json!({"eventCount": 1}));

    // Two more payments within the interval → one notification with eventCount 2.
    for _ in 0..2 {
        browser()
            .post(format!("{}/control/payments", h.browser_base_url))
            .json(&json!({"account": account, "amount": 10}))
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        got.lock().unwrap().calls.len(),
        1,
        "rate limited to one per interval"
    );
    for _ in 0..60 {
        if got.lock().unwrap().calls.len() > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got.lock().unwrap().calls[1].2, json!({"eventCount": 2}));
    h.shutdown().await;
}

#[tokio::test]
async fn subscription_stops_when_the_event_api_answers_404() {
    let mut cfg = config(&temp_dir());
    fast_events(&mut cfg);
    let h = KbSandbox::start(cfg).await.unwrap();
    let r = register(&h).await;
    let token = access_token(&h, &r).await;
    let (url, _got) = receiver(404).await;
    let account = r.account_ids[0].clone();
    let id = subscribe(&h, &token, &account, &url).await["subscriptionId"]
        .as_str()
        .unwrap()
        .to_owned();
    browser()
        .post(format!("{}/control/payments", h.browser_base_url))
        .json(&json!({"account": account, "amount": 300}))
        .send()
        .await
        .unwrap();
    let mut status = Value::Null;
    for _ in 0..100 {
        let info: Value = adaa_get(
            &h,
            &token,
            &format!("/accounts/{account}/transactions/event-subscriptions/{id}"),
        )
        .await
        .json()
        .await
        .unwrap();
        status = info["status"].clone();
        if status == "STOPPED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "STOPPED");
    h.shutdown().await;
}

#[tokio::test]
async fn postman_sandbox_flow_with_the_documented_example_client() {
    let h = KbSandbox::start(config(&temp_dir())).await.unwrap();
    let c = tls_client(&h, false);
    let resp = c
        .post(format!("{}/sandbox/oauth2/v2/access_token", h.api_base_url))
        .header("apiKey", &h.api_keys.sandbox.oauth2)
        .header("x-correlation-id", corr())
        .form(&[
            ("redirect_uri", "https://client.example.org/callback"),
            ("code", "eyJ1c2VySWQiOiJ0ZXN0Iiwic2NvcGVzIjpbImFkYWEiXX0"),
            ("client_id", "ExampleClient-6303"),
            ("client_secret", "bUfDQ1fMmfaSlZBZXlxBOQ"),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let token: Value = resp.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap();
    let get = |path: String| {
        c.get(format!("{}/sandbox/adaa/v1{path}", h.api_base_url))
            .header("apiKey", &h.api_keys.sandbox.adaa)
            .header("x-correlation-id", corr())
            .bearer_auth(access)
            .send()
    };
    let accounts: Value = get("/accounts".into()).await.unwrap().json().await.unwrap();
    let id = accounts[0]["accountId"].as_str().unwrap().to_owned();
    let balances: Value = get(format!("/accounts/{id}/balances"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balances[0]["type"], "CLOSING_AVAILABLE");
    assert_eq!(balances[1]["type"], "PREVIOUSLY_CLOSED_BOOK");
    let today = SystemClock.now().date();
    let tx = get(format!(
        "/accounts/{id}/transactions?fromDate={}&toDate={today}&size=20&page=0",
        today - time::Duration::days(60)
    ))
    .await
    .unwrap();
    assert_eq!(tx.status(), 200);
    let too_big = get(format!("/accounts/{id}/transactions?size=21&page=0"))
        .await
        .unwrap();
    assert_eq!(too_big.status(), 400);
    let too_old = get(format!(
        "/accounts/{id}/transactions?fromDate=2020-01-01&page=0"
    ))
    .await
    .unwrap();
    assert_eq!(too_old.status(), 400);
    let statements: Value = get(format!(
        "/accounts/{id}/statements?dateFrom=2023-01-30T15:42:30.000Z"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let sid = statements[0]["statementId"].as_i64().unwrap();
    let pdf = get(format!(
        "/accounts/{id}/statements/{sid}?dateFrom=2021-03-30T15:42:30.000Z"
    ))
    .await
    .unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let bytes = pdf.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4") && bytes.ends_with(b"%%EOF\n"));
    h.shutdown().await;
}

#[tokio::test]
async fn injected_faults_hit_api_requests() {
    let h = KbSandbox::start(config(&temp_dir())).await.unwrap();
    let faults = FaultSettings {
        next: vec!["error".into(), "rate_limit".into(), "drop".into()],
        ..FaultSettings::default()
    };
    browser()
        .post(format!("{}/control/faults", h.browser_base_url))
        .json(&faults)
        .send()
        .await
        .unwrap();
    let c = tls_client(&h, false);
    let url = format!("{}/adaa/v2/accounts", h.api_base_url);
    assert_eq!(c.get(&url).send().await.unwrap().status(), 500);
    assert_eq!(c.get(&url).send().await.unwrap().status(), 429);
    assert!(c.get(&url).send().await.is_err());
    assert_eq!(c.get(&url).send().await.unwrap().status(), 401);
    h.shutdown().await;
}

#[tokio::test]
async fn refresh_grant_returns_only_an_access_token_and_hammering_gets_429() {
    let mut cfg = config(&temp_dir());
    cfg.behaviour.token_rate_limit = 4;
    let h = KbSandbox::start(cfg).await.unwrap();
    let r = register(&h).await;
    let code = authorize(&h, &r).await;
    let tokens: Value = exchange(&h, &r, &code).await.json().await.unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh_once = || {
        tls_client(&h, false)
            .post(format!("{}/oauth2/v3/access_token", h.api_base_url))
            .header("apiKey", &h.api_keys.production.oauth2)
            .header("x-correlation-id", corr())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("redirect_uri", "http://127.0.0.1:9/callback"),
                ("client_id", r.client_id.as_str()),
                ("client_secret", r.client_secret.as_str()),
            ])
            .send()
    };
    let first: Value = refresh_once().await.unwrap().json().await.unwrap();
    assert!(first.get("refresh_token").is_none(), "no rotation");
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["scope"], "adaa");
    assert_eq!(
        adaa_get(&h, first["access_token"].as_str().unwrap(), "/accounts")
            .await
            .status(),
        200
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(refresh_once().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 429, 429]);
    h.shutdown().await;
}

#[tokio::test]
async fn sandbox_paths_show_kbs_quirks() {
    let mut cfg = config(&temp_dir());
    cfg.quirks.quoted_callback_values = true;
    let h = KbSandbox::start(cfg).await.unwrap();
    let jwt = tls_client(&h, true)
        .post(format!(
            "{}/sandbox/client-registration/v3/software-statements",
            h.api_base_url
        ))
        .header("apiKey", &h.api_keys.sandbox.client_registration)
        .header("x-correlation-id", corr())
        .json(&statement_request())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let web = browser();
    let url = format!(
        "{}/sandbox/client-registration-ui/v1/saml/register",
        h.browser_base_url
    );
    let request = |key: &str| {
        let req = json!({
            "clientName": "Sokol Kasa", "clientNameEn": "Sokol Kasa", "applicationType": "web",
            "redirectUris": ["http://127.0.0.1:9/callback"], "scope": ["adaa"], "softwareStatement": jwt,
            "encryptionAlg": "AES-256", "encryptionKey": key,
        });
        STANDARD.encode(req.to_string())
    };
    let own_key = web
        .get(format!(
            "{url}?registrationRequest={}&state=s1",
            request(&STANDARD.encode([1u8; 32]))
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(own_key.status(), 400, "sandbox accepts only the fixed key");
    let fixed = super::app_registration::SANDBOX_FIXED_KEY;
    let html = web
        .get(format!(
            "{url}?registrationRequest={}&state=s1",
            request(fixed)
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pending = hidden_value(&html, "pending");
    let state: Value = web
        .get(format!("{}/control/state", h.browser_base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = state["users"][1]["account_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = web
        .post(&url)
        .form(&[
            ("pending", pending.as_str()),
            ("step", "confirm"),
            ("user", "Klient 2"),
            ("account", account.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        loc.starts_with("http://127.0.0.1:9/callback?"),
        "sandbox redirects to redirectUris[0]: {loc}"
    );
    let salt = query_param(&loc, "salt").unwrap();
    assert!(salt.starts_with('"') && salt.ends_with('"'));
    let data = query_param(&loc, "encryptedData").unwrap();
    let d = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_matches('"'))
            .unwrap()
    };
    let key = STANDARD.decode(fixed).unwrap();
    let plain = Aes256Gcm::new_from_slice(&key)
        .unwrap()
        .decrypt(Nonce::from_slice(&d(&salt)), d(&data).as_slice())
        .unwrap();
    let creds: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(creds["state"], "s1");
    assert!(
        creds["client_id"]
            .as_str()
            .unwrap()
            .starts_with("SokolKasa-")
    );

    let auth = format!("{}/sandbox/oauth2-authorization-ui/v2/", h.browser_base_url);
    let form = [
        ("response_type", "code"),
        ("client_id", creds["client_id"].as_str().unwrap()),
        ("redirect_uri", "http://127.0.0.1:9/callback"),
        ("scope", "adaa"),
        ("state", "xyz"),
        ("user", "Klient 2"),
        ("decision", "approve"),
    ];
    let resp = web.post(&auth).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&loc, "state"), None, "sandbox drops state");
    let code = query_param(&loc, "code").unwrap();
    let decoded: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&code)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(decoded["userId"], "Klient 2");
    // Another user may not consent for this client.
    let mut other = form;
    other[5] = ("user", "Klient 1");
    assert_eq!(
        web.post(&auth).form(&other).send().await.unwrap().status(),
        400
    );
    h.shutdown().await;
}

#[tokio::test]
async fn page_shift_and_timeout_faults() {
    let h = KbSandbox::start(config(&temp_dir())).await.unwrap();
    let r = register(&h).await;
    let token = access_token(&h, &r).await;
    let account = r.account_ids[0].clone();
    browser()
        .post(format!("{}/control/faults", h.browser_base_url))
        .json(&FaultSettings {
            shift_next_pages: 1,
            ..FaultSettings::default()
        })
        .send()
        .await
        .unwrap();
    let p0: Value = adaa_get(
        &h,
        &token,
        &format!("/accounts/{account}/transactions?page=0&size=5"),
    )
    .await
    .json()
    .await
    .unwrap();
    let p1: Value = adaa_get(
        &h,
        &token,
        &format!("/accounts/{account}/transactions?page=1&size=5"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        p0["content"][4], p1["content"][0],
        "a back-dated insert shifts the last item of page 0 onto page 1"
    );

    browser()
        .post(format!("{}/control/faults", h.browser_base_url))
        .json(&FaultSettings {
            next: vec!["timeout".into()],
            timeout_ms: 1500,
            ..FaultSettings::default()
        })
        .send()
        .await
        .unwrap();
    let impatient = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&h.ca_cert_path).unwrap()).unwrap(),
        )
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = impatient
        .get(format!("{}/adaa/v2/accounts", h.api_base_url))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    h.shutdown().await;
}

#[tokio::test]
async fn failing_event_api_suspends_then_stops() {
    let mut cfg = config(&temp_dir());
    fast_events(&mut cfg);
    cfg.events.suspended_retry_interval = Duration::from_millis(400);
    cfg.events.max_failures = 3;
    let h = KbSandbox::start(cfg).await.unwrap();
    let r = register(&h).await;
    let token = access_token(&h, &r).await;
    let (url, got) = receiver(500).await;
    let account = r.account_ids[0].clone();
    let id = subscribe(&h, &token, &account, &url).await["subscriptionId"]
        .as_str()
        .unwrap()
        .to_owned();
    browser()
        .post(format!("{}/control/payments", h.browser_base_url))
        .json(&json!({"account": account, "amount": 1}))
        .send()
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..100 {
        let info: Value = adaa_get(
            &h,
            &token,
            &format!("/accounts/{account}/transactions/event-subscriptions/{id}"),
        )
        .await
        .json()
        .await
        .unwrap();
        let s = info["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "STOPPED" {
            assert!(
                info["statusNarrative"]
                    .as_str()
                    .unwrap()
                    .contains("HTTP 500")
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // ACTIVE may be over before the first poll.
    assert!(
        seen.ends_with(&["SUSPENDED".to_owned(), "STOPPED".to_owned()]),
        "{seen:?}"
    );
    assert_eq!(got.lock().unwrap().calls.len(), 3);
    h.shutdown().await;
}

#[tokio::test]
async fn untrusted_client_certificate_gets_403() {
    let h = KbSandbox::start(config(&temp_dir())).await.unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["intruder".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&h.ca_cert_path).unwrap()).unwrap(),
        )
        .identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let resp = client
        .post(format!("{}/v3/software-statements", h.api_base_url))
        .header("apiKey", &h.api_keys.production.client_registration)
        .header("x-correlation-id", corr())
        .json(&statement_request())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["errors"][0]["message"],
        "Invalid certificate or token"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn card_hold_counts_in_available_balance_and_books_with_the_same_id() {
    let h = KbSandbox::start(config(&temp_dir())).await.unwrap();
    let r = register(&h).await;
    let token = access_token(&h, &r).await;
    let account = r.account_ids[0].clone();
    let before: Value = adaa_get(&h, &token, &format!("/accounts/{account}/balances"))
        .await
        .json()
        .await
        .unwrap();
    let hold: Value = browser()
        .post(format!("{}/control/payments", h.browser_base_url))
        .json(&json!({"account": account, "amount": -100, "pending": true, "payer_name": "ALBERT"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hold["transaction"]["status"], "PDNG");
    let after: Value = adaa_get(&h, &token, &format!("/accounts/{account}/balances"))
        .await
        .json()
        .await
        .unwrap();
    let value = |b: &Value, i: usize| {
        let v = b[i]["amount"]["value"].as_f64().unwrap();
        if b[i]["creditDebitIndicator"] == "DEBIT" {
            -v
        } else {
            v
        }
    };
    assert!(
        (value(&before, 0) - value(&after, 0) - 100.0).abs() < 0.001,
        "available includes the hold"
    );
    assert!(
        (value(&before, 1) - value(&after, 1)).abs() < 0.001,
        "previously closed book does not"
    );
    let servicer = hold["transaction"]["references"]["accountServicer"]
        .as_str()
        .unwrap()
        .to_owned();
    let booked: Value = browser()
        .post(format!("{}/control/book-pending", h.browser_base_url))
        .json(&json!({"account": account, "account_servicer": servicer}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(booked["transaction"]["status"], "BOOK");
    assert_eq!(
        booked["transaction"]["references"]["accountServicer"],
        servicer.as_str()
    );
    h.shutdown().await;
}

#[tokio::test]
async fn with_snapshots_off_the_state_is_never_written_to_disk() {
    let dir = temp_dir();
    let mut c = config(&dir);
    c.snapshots = false;
    let h = KbSandbox::start(c.clone()).await.unwrap();
    let r = register(&h).await;
    send_payment(
        &h,
        json!({"account": r.account_ids[0], "amount": 1234, "vs": "2025001"}),
    )
    .await;
    h.shutdown().await;
    assert!(!dir.join("state.json").exists(), "a snapshot was written");
}
