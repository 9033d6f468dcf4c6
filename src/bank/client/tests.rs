//! Tests of `KbClient` against the local test server: headers, URLs, paging, token forms,
//! status handling and error classification end to end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use time::macros::datetime;

use super::*;
use crate::bank::test_server::{Canned, Recorded, TestServer};
use crate::bank::wire::TransactionStatus;
use crate::bank::{KbApiKeys, KbEndpoints, KbSettings};

const ADAA_KEY: &str = "adaa-key-1";
const OAUTH_KEY: &str = "oauth-key-2";
const CR_KEY: &str = "cr-key-3";

fn settings(base: &str) -> KbSettings {
    let mut settings = KbSettings::sandbox(KbApiKeys {
        client_registration: Secret::from(CR_KEY),
        oauth: Secret::from(OAUTH_KEY),
        adaa: Secret::from(ADAA_KEY),
    });
    settings.endpoints = KbEndpoints {
        client_registration: format!("{base}/client-registration/v3/"),
        app_registration_ui: format!("{base}/ui/register"),
        authorization: format!("{base}/oauth2-authorization-ui/v3/"),
        token: format!("{base}/oauth2/v3/access_token/"),
        adaa: format!("{base}/adaa/v2"),
    };
    settings.quirks.allow_insecure_http = true;
    settings
}

fn client(server: &TestServer) -> KbClient {
    KbClient::new(settings(&server.base)).expect("client builds")
}

fn token() -> Secret<String> {
    Secret::from("access-token-xyz")
}

fn assert_common_headers(request: &Recorded, api_key: &str) {
    assert_eq!(request.header("apiKey"), Some(api_key), "{request:?}");
    let correlation = request.header("x-correlation-id").unwrap_or_default();
    let parsed = Uuid::parse_str(correlation).expect("correlation id is a UUID");
    assert_eq!(
        parsed.hyphenated().to_string(),
        correlation,
        "dashed lowercase UUID"
    );
}

fn transaction_json(servicer: &str, value: &str) -> String {
    format!(
        r#"{{"lastUpdated":"2023-06-08T07:30:27.21247Z","accountType":"KB","iban":"CZ5401000001154933990227",
            "creditDebitIndicator":"CREDIT","transactionType":"DOMESTIC","amount":{{"value":{value},"currency":"CZK"}},
            "status":"BOOK","references":{{"accountServicer":"{servicer}"}}}}"#
    )
}

#[tokio::test]
async fn accounts_carry_api_key_bearer_and_fresh_correlation_ids() {
    let server = TestServer::start(|_| {
        Canned::json(
            200,
            r#"[{"accountId":"Q1oxMzAxMDAwOTAxMTQ3NzcxODAwMjI3OkNaSw","iban":"CZ1301000901147771800227","currency":"CZK","nameI18N":"Main"}]"#,
        )
    })
    .await;
    let client = client(&server);
    let accounts = client.accounts(&token()).await.expect("accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].name_i18n.as_deref(), Some("Main"));
    client.accounts(&token()).await.expect("accounts again");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert_eq!(request.path(), "/adaa/v2/accounts");
        assert_common_headers(request, ADAA_KEY);
        assert_eq!(
            request.header("authorization"),
            Some("Bearer access-token-xyz")
        );
        assert_eq!(request.header("accept"), Some("application/json"));
    }
    assert_ne!(
        requests[0].header("x-correlation-id"),
        requests[1].header("x-correlation-id")
    );
}

#[tokio::test]
async fn transactions_fetch_every_page_with_utc_millis() {
    let server = TestServer::start(|request| {
        let page: u32 = request
            .query("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(99);
        let content = match page {
            0 => format!("[{},{}]", transaction_json("a", "1"), transaction_json("b", "2.5")),
            1 => format!("[{}]", transaction_json("c", "0.01")),
            _ => format!("[{}]", transaction_json("d", "100")),
        };
        let last = page >= 2;
        Canned::json(
            200,
            &format!(
                r#"{{"content":{content},"totalPages":3,"pageNumber":{page},"pageSize":100,"numberOfElements":1,"first":{},"last":{last},"empty":false}}"#,
                page == 0
            ),
        )
    })
    .await;
    let client = client(&server);
    let from = datetime!(2025-01-01 01:00:00.123456 +01:00);
    let to = datetime!(2025-01-31 23:59:59.999 UTC);
    let account_id = "a/b+c=";
    let all = client
        .transactions(&token(), account_id, Some(from), Some(to))
        .await
        .expect("transactions")
        .transactions;
    let ids: Vec<_> = all.iter().filter_map(|t| t.account_servicer()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    assert_eq!(all[1].amount.minor_units, 250);
    assert_eq!(all[2].status, Some(TransactionStatus::Booked));

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for (page, request) in requests.iter().enumerate() {
        assert_eq!(request.path(), "/adaa/v2/accounts/a%2Fb+c=/transactions");
        assert_eq!(request.query("page"), Some(page.to_string()));
        assert_eq!(request.query("size").as_deref(), Some("100"));
        assert_eq!(
            request.query("fromDateTime").as_deref(),
            Some("2025-01-01T00:00:00.123Z")
        );
        assert_eq!(
            request.query("toDateTime").as_deref(),
            Some("2025-01-31T23:59:59.999Z")
        );
        assert_common_headers(request, ADAA_KEY);
    }
}

#[tokio::test]
async fn transaction_paging_stops_on_empty_or_runaway_pages() {
    let server = TestServer::start(|_| {
        Canned::json(
            200,
            r#"{"content":[],"totalPages":0,"pageNumber":0,"pageSize":100,"numberOfElements":0,"first":true,"last":false,"empty":true}"#,
        )
    })
    .await;
    let all = client(&server)
        .transactions(&token(), "acc", None, None)
        .await
        .expect("empty history");
    assert!(all.transactions.is_empty() && all.unreadable.is_empty());
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].query("fromDateTime"), None);

    let runaway = TestServer::start(|request| {
        // A new transaction on every page, and never a last page.
        let id = format!("x{}", request.query("page").unwrap_or_default());
        let body = format!(
            r#"{{"content":[{}],"totalPages":0,"pageNumber":0,"pageSize":1,"numberOfElements":1,"first":false,"last":false,"empty":false}}"#,
            transaction_json(&id, "1")
        );
        Canned::json(200, &body)
    })
    .await;
    let mut settings = settings(&runaway.base);
    settings.quirks.max_transaction_pages = 3;
    let client = KbClient::new(settings).expect("client");
    let err = client
        .transactions(&token(), "acc", None, None)
        .await
        .expect_err("runaway paging must stop");
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert_eq!(runaway.requests().len(), 3);

    // The same transaction again on the next page: the pages shifted under us.
    let shifted = TestServer::start(|_| {
        let body = format!(
            r#"{{"content":[{}],"totalPages":3,"pageNumber":0,"pageSize":1,"numberOfElements":1,"first":false,"last":false,"empty":false}}"#,
            transaction_json("same", "1")
        );
        Canned::json(200, &body)
    })
    .await;
    let err = KbClient::new(self::settings(&shifted.base))
        .expect("client")
        .transactions(&token(), "acc", None, None)
        .await
        .expect_err("a repeated row means the pages shifted");
    assert!(matches!(err, Error::HistoryShifted), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn token_exchange_and_refresh_use_client_secret_post_without_trailing_slash() {
    let server = TestServer::start(|request| match request.form("grant_type").as_deref() {
        Some("authorization_code") => Canned::json(
            200,
            r#"{"token_type":"Bearer","access_token":"acc-1","id_token":null,"refresh_token":"ref-1","expires_in":3600,"acr":null}"#,
        ),
        _ => Canned::json(
            200,
            r#"{"access_token":"acc-2","scope":"adaa","token_type":"Bearer","expires_in":179}"#,
        ),
    })
    .await;
    let client = client(&server);
    let credentials = ClientCredentials {
        client_id: "ExampleClient-6303".into(),
        client_secret: Secret::from("bUfDQ1fMmfaSlZBZXlxBOQ"),
    };
    let exchanged = client
        .exchange_code(&credentials, "the-code", "https://kasa.example/cb")
        .await
        .expect("exchange");
    let refresh = exchanged.refresh_token.clone().expect("refresh token");
    let refreshed = client
        .refresh_access_token(&credentials, &refresh, "https://kasa.example/cb")
        .await
        .expect("refresh");
    assert_eq!(refreshed.access_token.expose_str(), "acc-2");
    assert!(refreshed.refresh_token.is_none(), "KB does not rotate");
    assert_eq!(refreshed.expires_in, Some(179));

    let requests = server.requests();
    let [exchange, refresh_request] = requests.as_slice() else {
        panic!("expected two token requests, got {requests:?}");
    };
    for request in [exchange, refresh_request] {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path(), "/oauth2/v3/access_token");
        assert_common_headers(request, OAUTH_KEY);
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            request.form("client_id").as_deref(),
            Some("ExampleClient-6303")
        );
        assert_eq!(
            request.form("client_secret").as_deref(),
            Some("bUfDQ1fMmfaSlZBZXlxBOQ")
        );
        assert_eq!(
            request.form("redirect_uri").as_deref(),
            Some("https://kasa.example/cb")
        );
        assert!(request.header("authorization").is_none(), "no HTTP Basic");
    }
    assert_eq!(exchange.form("code").as_deref(), Some("the-code"));
    assert_eq!(
        refresh_request.form("refresh_token").as_deref(),
        Some("ref-1")
    );
    assert_eq!(refresh_request.form("code"), None);
}

#[tokio::test]
async fn invalid_grant_means_consent_gone_and_hides_secrets() {
    let server = TestServer::start(|_| {
        Canned::json(
            400,
            r#"{"error":"invalid_grant","error_description":"grant ref-secret-1 is expired"}"#,
        )
    })
    .await;
    let credentials = ClientCredentials {
        client_id: "c".into(),
        client_secret: Secret::from("client-secret-9"),
    };
    let err = client(&server)
        .refresh_access_token(&credentials, &Secret::from("ref-secret-1"), "https://x/cb")
        .await
        .expect_err("invalid_grant");
    assert!(matches!(err, Error::ConsentGone { .. }), "{err:?}");
    assert!(err.needs_user_action() && !err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("ref-secret-1") && !text.contains("client-secret-9"),
        "{text}"
    );
}

#[tokio::test]
async fn software_statement_accepts_200_and_201_over_the_registration_key() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let server = TestServer::start(move |_| {
        let status = if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            201
        } else {
            200
        };
        Canned {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: b"eyJhbGciOiJIUzI1NiJ9.eyJ2ZW5kb3JOYW1lIjoiQ29tcGFueSBhLnMuIn0.c2ln\n".to_vec(),
        }
    })
    .await;
    let client = client(&server);
    let request = SoftwareStatementRequest::new(
        "Kasa oddílu",
        "f64bf2e447e545228c78e07b081a82ee",
        "1.0",
        vec!["https://kasa.example/kb/callback".into()],
        "https://kasa.example/kb/registered",
        vec!["email: pokladnik@example.org".into()],
    );
    for _ in 0..2 {
        let statement = client
            .software_statement(&request)
            .await
            .expect("statement");
        let claims = statement.claims().expect("claims");
        assert_eq!(claims.vendor_name.as_deref(), Some("Company a.s."));
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let sent: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("json body");
    assert_eq!(sent["softwareName"], "Kasa oddílu");
    assert_eq!(sent["tokenEndpointAuthMethod"], "client_secret_post");
    assert_eq!(sent["contacts"][0], "email: pokladnik@example.org");
    assert_eq!(
        requests[0].path(),
        "/client-registration/v3/software-statements"
    );
    assert_common_headers(&requests[0], CR_KEY);
    assert!(requests[0].header("authorization").is_none());
}

#[tokio::test]
async fn error_statuses_are_classified() {
    let server = TestServer::start(|request| match request.path() {
        "/adaa/v2/accounts/limited/transactions" => Canned::json(
            429,
            r#"{"errors":[{"message":"Unchanged data download limit reached."}]}"#,
        )
        .with_header("Retry-After", "120"),
        "/adaa/v2/accounts/busy/transactions"
        | "/adaa/v2/accounts/busy/balances"
        | "/adaa/v2/accounts/busy/statements"
        | "/oauth2/v2/access_token" => Canned::json(
            429,
            r#"{"errors":[{"message":"Too many requests"}]}"#,
        )
        .with_header("Retry-After", "60"),
        "/adaa/v2/accounts/gone/balances" => Canned::json(
            400,
            r#"{"errors":[{"code":"Account_not_configured","message":"Account not configured"}]}"#,
        ),
        "/adaa/v2/accounts/down/balances" => Canned {
            status: 504,
            headers: vec![("Content-Type".into(), "application/xml".into())],
            body: br#"<am:fault xmlns:am="http://wso2.org/apimanager"><am:code>101504</am:code><am:type>Status report</am:type><am:message>Runtime Error</am:message><am:description>Send timeout</am:description></am:fault>"#.to_vec(),
        },
        _ => Canned::json(401, ""),
    })
    .await;
    let client = client(&server);
    let err = client
        .transactions(&token(), "limited", None, None)
        .await
        .expect_err("429");
    assert!(matches!(err, Error::UnchangedData { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    // A 429 anywhere else, or without KB's unchanged-data text, is a rate limit.
    let busy = [
        client
            .transactions(&token(), "busy", None, None)
            .await
            .map(|_| ()),
        client.balances(&token(), "busy").await.map(|_| ()),
        client
            .statements(&token(), "busy", datetime!(2026-11-01 0:00 UTC))
            .await
            .map(|_| ()),
    ];
    for result in busy {
        let err = result.expect_err("429");
        assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    }
    let err = client.balances(&token(), "gone").await.expect_err("400");
    assert!(matches!(err, Error::AccountNotConfigured { .. }), "{err:?}");
    let err = client.balances(&token(), "down").await.expect_err("504");
    assert!(
        matches!(err, Error::Unavailable { .. }) && err.is_retryable(),
        "{err:?}"
    );
    let err = client.accounts(&token()).await.expect_err("401");
    assert!(err.needs_token_refresh(), "{err:?}");
    assert!(!format!("{err:?}").contains("access-token-xyz"));
}

#[tokio::test]
async fn statements_pdf_and_event_subscriptions() {
    let server = TestServer::start(|request| match (request.method.as_str(), request.path()) {
        ("GET", "/adaa/v2/accounts/acc/statements") => Canned::json(
            200,
            r#"[{"issued":"2022-04-07","sequenceNumber":4,"pagesCount":1,"statementId":322640901,"archive":false}]"#,
        ),
        ("GET", "/adaa/v2/accounts/acc/statements/322640901") => Canned {
            status: 200,
            headers: vec![("Content-Type".into(), "application/pdf".into())],
            body: b"%PDF-1.4 test".to_vec(),
        },
        ("POST", "/adaa/v2/accounts/acc/transactions/event-subscriptions") => Canned::json(
            201,
            r#"{"subscriptionId":"71f415f4-412d-4c55-af05-15d1e0389f8f","eventApiUrl":"https://kasa.example/event-api/v1","eventApiVersion":"1.0","status":"ACTIVE"}"#,
        )
        .with_header("Location", "/x"),
        ("GET", _) => Canned::json(
            200,
            r#"{"subscriptionId":"71f415f4-412d-4c55-af05-15d1e0389f8f","eventApiUrl":"https://kasa.example/event-api/v1","eventApiVersion":"1.0","status":"SUSPENDED","statusNarrative":"Connection Timeout"}"#,
        ),
        ("DELETE", _) => Canned {
            status: 204,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: Vec::new(),
        },
        _ => Canned::json(404, r#"{"errors":[{"message":"not found"}]}"#),
    })
    .await;
    let client = client(&server);
    let statements = client
        .statements(&token(), "acc", datetime!(2022-03-01 00:00 UTC))
        .await
        .expect("statements");
    assert_eq!(statements[0].statement_id, 322_640_901);
    let pdf = client
        .statement_pdf(&token(), "acc", 322_640_901)
        .await
        .expect("pdf");
    assert!(pdf.starts_with(b"%PDF"));

    let request = SubscriptionRequest {
        event_api_url: "https://kasa.example/event-api/v1".into(),
        event_api_key: Secret::from("event-secret"),
    };
    let created = client
        .create_event_subscription(&token(), "acc", &request)
        .await
        .expect("create");
    assert_eq!(
        created.status,
        Some(crate::bank::wire::SubscriptionStatus::Active)
    );
    let read = client
        .event_subscription(&token(), "acc", &created.subscription_id)
        .await
        .expect("read");
    assert_eq!(
        read.status,
        Some(crate::bank::wire::SubscriptionStatus::Suspended)
    );
    client
        .delete_event_subscription(&token(), "acc", &created.subscription_id)
        .await
        .expect("delete");

    let requests = server.requests();
    assert_eq!(
        requests[0].query("dateFrom").as_deref(),
        Some("2022-03-01T00:00:00.000Z")
    );
    assert_eq!(requests[1].header("accept"), Some("application/pdf"));
    let body: serde_json::Value = serde_json::from_slice(&requests[2].body).expect("json");
    assert_eq!(body["eventApiKey"], "event-secret");
    assert_eq!(body["eventApiUrl"], "https://kasa.example/event-api/v1");
    assert_eq!(requests[4].method, "DELETE");
    assert!(!format!("{request:?}").contains("event-secret"));
    for request in &requests {
        assert_common_headers(request, ADAA_KEY);
    }
}

#[tokio::test]
async fn unreachable_host_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let mut settings = settings(&base);
    settings.timeouts.connect = Duration::from_secs(2);
    let client = KbClient::new(settings).expect("client");
    let err = client.accounts(&token()).await.expect_err("refused");
    assert!(
        matches!(err, Error::Unavailable { .. }) && err.is_retryable(),
        "{err:?}"
    );
}

#[test]
fn urls_and_settings_validation() {
    let client = KbClient::new(settings("http://127.0.0.1:9")).expect("client");
    let url = client.authorization_url(
        "ExampleClient-6303",
        "http://localhost:8888/",
        &["adaa", "card_data"],
        "xyz",
    );
    assert_eq!(
        url,
        "http://127.0.0.1:9/oauth2-authorization-ui/v3/?response_type=code&client_id=ExampleClient-6303&redirect_uri=http%3A%2F%2Flocalhost%3A8888%2F&scope=adaa%20card_data&state=xyz"
    );
    let pending = client
        .registration_url(&crate::bank::RegistrationParams {
            client_name: "Kasa".into(),
            client_name_en: None,
            application_type: "web".into(),
            redirect_uris: vec!["https://kasa.example/cb".into()],
            scopes: vec!["adaa".into()],
            software_statement: "a.b.c".into(),
            state: Some("s1".into()),
        })
        .expect("registration url");
    assert_eq!(
        pending.encryption_key.expose_str(),
        crate::bank::SANDBOX_ENCRYPTION_KEY
    );
    assert!(
        pending
            .url
            .starts_with("http://127.0.0.1:9/ui/register?registrationRequest=")
    );

    let production = KbClient::new(KbSettings::production(KbApiKeys::default(), None))
        .expect("production client");
    assert!(
        production
            .authorization_url("c", "https://kasa.example/cb", &["adaa"], "s")
            .starts_with("https://login.kb.cz/autfe/ssologin?response_type=code&")
    );

    let mut insecure = settings("http://127.0.0.1:9");
    insecure.quirks.allow_insecure_http = false;
    assert!(matches!(KbClient::new(insecure), Err(Error::Config(_))));
    let mut broken = settings("http://127.0.0.1:9");
    broken.endpoints.adaa = "not a url".into();
    assert!(matches!(KbClient::new(broken), Err(Error::Config(_))));
    let mut oversized = settings("http://127.0.0.1:9");
    oversized.quirks.transactions_page_size = 500;
    assert!(matches!(KbClient::new(oversized), Err(Error::Config(_))));

    assert_eq!(
        format_kb_datetime(datetime!(2017-05-10 15:42:30 UTC)).expect("format"),
        "2017-05-10T15:42:30.000Z"
    );
}
