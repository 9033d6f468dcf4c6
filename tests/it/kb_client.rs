//! The KB client against the built-in KB sandbox, over real sockets (HTTPS with the sandbox's
//! own CA, mTLS for Client Registration): the whole onboarding, every fault class, and the
//! certificate checks.

use kasa::bank::wire::{ClientCredentials, SoftwareStatementRequest, SubscriptionRequest};
use kasa::bank::{Error, KbClient, KbSettings, RegistrationCallback, RegistrationParams, Secret};
use kb_sandbox::{FaultSettings, KbSandbox, SandboxConfig, SandboxHandle, scripted_user};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BACK_URI: &str = "http://127.0.0.1:9/kb/registered";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/kb/authorized";

pub async fn sandbox(tweak: impl FnOnce(&mut SandboxConfig)) -> SandboxHandle {
    let dir = crate::helpers::scratch_dir("sandbox");
    let mut config = SandboxConfig::new(dir);
    config.events.min_interval = Duration::from_millis(100);
    config.events.tick = Duration::from_millis(50);
    tweak(&mut config);
    KbSandbox::start(config).await.expect("sandbox starts")
}

pub fn client_for(sandbox: &SandboxHandle) -> KbClient {
    KbClient::new(kasa::app::sandbox_client_settings(sandbox)).expect("client")
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser")
}

fn query_param(location: &str, key: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// What a connected club has after onboarding.
pub struct Onboarded {
    pub credentials: ClientCredentials,
    pub refresh_token: Secret<String>,
    pub access_token: Secret<String>,
    pub account_id: String,
}

/// Plays the KB user in the sandbox's pages: log in as `Klient 1`, pick the first account.
pub async fn register_in_browser(url: &str) -> String {
    scripted_user::approve_registration_of_first_account(url, "Klient 1")
        .await
        .expect("registration")
}

/// Plays the KB user on the sandbox's consent page: `Klient 1` approves.
pub async fn consent_in_browser(url: &str) -> String {
    scripted_user::answer_consent(url, "Klient 1", true)
        .await
        .expect("consent")
}

/// Statement → registration → authorization → tokens, all through the client.
pub async fn onboard(client: &KbClient) -> Onboarded {
    let statement = client
        .software_statement(&SoftwareStatementRequest::new(
            "Kasa pro spolky",
            "kasa-test",
            "1.0",
            vec![REDIRECT_URI.to_owned()],
            BACK_URI,
            vec!["email: provoz@kasa.example".to_owned()],
        ))
        .await
        .expect("software statement over mTLS");
    let pending = client
        .registration_url(&RegistrationParams {
            client_name: "Kasa – TJ Sokol".into(),
            client_name_en: Some("Kasa".into()),
            application_type: "web".into(),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            scopes: vec!["adaa".into()],
            software_statement: statement.0.clone(),
            state: None,
        })
        .expect("registration url");
    let callback = register_in_browser(&pending.url).await;
    assert!(callback.starts_with(BACK_URI), "{callback}");
    let query = callback.split_once('?').map(|(_, q)| q).unwrap_or("");
    let registered = RegistrationCallback::from_query(query)
        .expect("callback")
        .decrypt(&pending.encryption_key)
        .expect("decrypts");
    assert_eq!(
        registered.state.as_deref(),
        Some(pending.state.as_str()),
        "state inside the encrypted data"
    );
    let credentials = ClientCredentials {
        client_id: registered.client_id.clone(),
        client_secret: registered.client_secret.clone(),
    };
    let authorize =
        client.authorization_url(&credentials.client_id, REDIRECT_URI, &["adaa"], "st-42");
    let back = consent_in_browser(&authorize).await;
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-42"));
    let code = query_param(&back, "code").expect("code");
    let tokens = client
        .exchange_code(&credentials, &code, REDIRECT_URI)
        .await
        .expect("tokens");
    let refresh_token = tokens.refresh_token.clone().expect("refresh token");
    let accounts = client
        .accounts(&tokens.access_token)
        .await
        .expect("accounts");
    assert_eq!(accounts.len(), 1, "only the chosen account is visible");
    Onboarded {
        credentials,
        refresh_token,
        access_token: tokens.access_token,
        account_id: accounts[0].account_id.clone(),
    }
}

/// A tiny Event API receiver standing in for Kasa's.
async fn event_receiver() -> (String, Arc<Mutex<Vec<(Option<String>, Value)>>>) {
    use axum::routing::{get, post};
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new()
        .route(
            "/events/version",
            get(|| async { axum::Json(serde_json::json!({"version": "1.0"})) }),
        )
        .route(
            "/events/subscriptions/{id}/events",
            post(
                move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
                    let sink = sink.clone();
                    async move {
                        let key = headers
                            .get("x-api-key")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        sink.lock().expect("lock").push((key, body.0));
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test]
async fn the_client_onboards_against_the_sandbox_and_receives_a_notification() {
    let sandbox = sandbox(|c| c.seed.transactions_per_account = 450).await;
    let client = client_for(&sandbox);
    let on = onboard(&client).await;

    let balances = client
        .balances(&on.access_token, &on.account_id)
        .await
        .expect("balances");
    let types: Vec<String> = balances
        .iter()
        .map(|b| format!("{:?}", b.balance_type))
        .collect();
    assert_eq!(balances.len(), 2, "{types:?}");

    // All pages of two years, compared with the sandbox's own ledger.
    let now = crate::helpers::real_now();
    let from = now - time::Duration::days(729);
    let transactions = client
        .transactions(&on.access_token, &on.account_id, Some(from), Some(now))
        .await
        .expect("transactions")
        .transactions;
    let ledger = crate::helpers::sandbox_ledger(&sandbox, Some(&on.account_id)).await;
    assert!(
        transactions.len() > 100,
        "several pages: {}",
        transactions.len()
    );
    assert_eq!(
        transactions.len(),
        ledger.len(),
        "every transaction exactly once"
    );
    let mut ids: Vec<String> = transactions
        .iter()
        .filter_map(|t| t.references.as_ref()?.account_servicer.clone())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), transactions.len(), "accountServicer unique");

    // Refreshing gives a new access token but keeps the refresh token (no rotation).
    let refreshed = client
        .refresh_access_token(&on.credentials, &on.refresh_token, REDIRECT_URI)
        .await
        .expect("refresh");
    assert!(refreshed.refresh_token.is_none());

    // Subscribe, send a payment from the control API, receive the notification.
    let (event_url, received) = event_receiver().await;
    let key = Secret::new("kasa-event-key-0123456789".to_owned());
    let info = client
        .create_event_subscription(
            &refreshed.access_token,
            &on.account_id,
            &SubscriptionRequest {
                event_api_url: event_url,
                event_api_key: key.clone(),
            },
        )
        .await
        .expect("subscription");
    let read = client
        .event_subscription(
            &refreshed.access_token,
            &on.account_id,
            &info.subscription_id,
        )
        .await
        .expect("read subscription");
    assert_eq!(read.subscription_id, info.subscription_id);
    let payment = browser()
        .post(format!("{}/control/payments", sandbox.browser_base_url))
        .json(&serde_json::json!({
            "account": on.account_id, "amount_minor": 150_000, "vs": "2026001",
            "message": "Členský příspěvek 2026", "payer_name": "Jana Dvořáková"
        }))
        .send()
        .await
        .expect("payment");
    assert!(
        payment.status().is_success(),
        "{}",
        payment.text().await.unwrap_or_default()
    );
    let mut calls = Vec::new();
    for _ in 0..100 {
        calls = received.lock().expect("lock").clone();
        if !calls.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(calls.len(), 1, "one notification");
    assert_eq!(calls[0].0.as_deref(), Some(key.expose().as_str()));
    assert!(calls[0].1["eventCount"].as_u64().unwrap_or(0) >= 1);
    client
        .delete_event_subscription(
            &refreshed.access_token,
            &on.account_id,
            &info.subscription_id,
        )
        .await
        .expect("delete subscription");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn each_sandbox_fault_gives_the_right_error_class() {
    let sandbox = sandbox(|c| c.seed.transactions_per_account = 350).await;
    let mut settings = kasa::app::sandbox_client_settings(&sandbox);
    settings.timeouts.request = Duration::from_millis(1500);
    let client = KbClient::new(settings).expect("client");
    let on = onboard(&client).await;
    type Expect = fn(&Error) -> bool;
    let cases: [(&str, Expect); 4] = [
        ("error", |e| matches!(e, Error::Unavailable { .. })),
        ("rate_limit", |e| matches!(e, Error::RateLimited { .. })),
        ("timeout", |e| matches!(e, Error::Unavailable { .. })),
        ("drop", |e| matches!(e, Error::Unavailable { .. })),
    ];
    for (fault, expected) in cases {
        sandbox.set_faults(FaultSettings {
            next: vec![fault.to_owned()],
            timeout_ms: 5000,
            ..FaultSettings::default()
        });
        let error = client
            .balances(&on.access_token, &on.account_id)
            .await
            .expect_err(fault);
        assert!(expected(&error), "{fault}: {error:?}");
        assert!(error.is_retryable(), "{fault} is worth retrying");
    }
    sandbox.set_faults(FaultSettings::default());
    assert!(
        client
            .balances(&on.access_token, &on.account_id)
            .await
            .is_ok(),
        "recovers after the faults"
    );

    // A made-up access token: unauthorized (refresh and retry).
    let error = client
        .balances(&Secret::new("not-a-token".to_owned()), &on.account_id)
        .await
        .expect_err("bad token");
    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
    // A refresh token KB does not know: the consent is gone (ask the club to reconnect).
    let error = client
        .refresh_access_token(
            &on.credentials,
            &Secret::new("forged-refresh".to_owned()),
            REDIRECT_URI,
        )
        .await
        .expect_err("bad refresh");
    assert!(matches!(error, Error::ConsentGone { .. }), "{error:?}");
    // An account the club did not pick.
    let error = client
        .balances(&on.access_token, "Q1o2NTAxMDAwMDAwMDAwMTIzNDU2Nzg5OkNaSw")
        .await
        .expect_err("foreign");
    assert!(!error.is_retryable(), "{error:?}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn client_registration_needs_the_operator_certificate() {
    let sandbox = sandbox(|_| {}).await;
    let mut settings: KbSettings = kasa::app::sandbox_client_settings(&sandbox);
    settings.identity = None;
    let client = KbClient::new(settings).expect("client");
    let request = SoftwareStatementRequest::new(
        "Kasa pro spolky",
        "kasa-test",
        "1.0",
        vec![REDIRECT_URI.into()],
        BACK_URI,
        vec!["email: provoz@kasa.example".into()],
    );
    let error = client
        .software_statement(&request)
        .await
        .expect_err("no certificate");
    assert!(
        matches!(
            error,
            Error::Rejected { status: 403, .. } | Error::Unauthorized { .. }
        ),
        "{error:?}"
    );
    let with_cert = client_for(&sandbox);
    let statement = with_cert.software_statement(&request).await;
    assert!(statement.is_ok(), "{statement:?}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_client_refuses_a_server_certificate_not_signed_by_the_configured_ca() {
    let sandbox = sandbox(|_| {}).await;
    let mut settings = kasa::app::sandbox_client_settings(&sandbox);
    // A CA that did not sign the sandbox's server certificate.
    settings.ca_bundle = Some(std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/bank/testdata/ca.pem"
    )));
    let client = KbClient::new(settings).expect("client");
    let error = client
        .accounts(&Secret::new("x".to_owned()))
        .await
        .expect_err("untrusted server");
    assert!(
        matches!(error, Error::Unavailable { .. } | Error::Protocol(_)),
        "{error:?}"
    );
    let reason = format!("{error:?}").to_lowercase();
    assert!(
        reason.contains("certificate") || reason.contains("tls") || reason.contains("connect"),
        "{reason}"
    );
    sandbox.shutdown().await;
}
