//! Tests against KB's own reference material in `tests/kb-reference/` (read at test time; see
//! the README there for each file's source): every fixture and every concrete example response of both Postman
//! collections must deserialize with this client's types, and error examples must classify.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{Api, classify_response};
use super::registration::RegistrationRequestWire;
use super::wire::{
    Account, AccountBalance, ErrorResponse, SoftwareStatement, Statement, SubscriptionInfo,
    TokenResponse, TransactionPage, TransactionStatus,
};
use super::{Error, KbQuirks, SANDBOX_ENCRYPTION_KEY};

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kb-reference")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{origin}: {e}"))
}

#[test]
fn every_fixture_deserializes() {
    let dir = reference_dir().join("fixtures");
    let mut seen = 0;
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = read(&path);
        match name.as_str() {
            "response-accounts.json" => {
                let accounts: Vec<Account> = parse(&text, &name);
                assert_eq!(accounts[0].iban, "CZ9501000000001234567899");
            }
            "response-account-balances.json" => {
                let balances: Vec<AccountBalance> = parse(&text, &name);
                assert_eq!(balances[0].amount.minor_units, 1_000_000);
                assert_eq!(balances[0].amount.currency, "EUR");
                assert_eq!(balances[0].signed_minor_units(), 1_000_000);
            }
            "response-account-statements.json" => {
                let statements: Vec<Statement> = parse(&text, &name);
                assert_eq!(statements.len(), 2);
                assert!(statements[1].archive);
            }
            "response-transaction-history.json" => {
                let page: TransactionPage = parse(&text, &name);
                assert_eq!(page.content.len(), 2);
                assert!(page.last);
                let refs = page.content[0].references.clone().unwrap_or_default();
                assert_eq!(refs.constant.as_deref(), Some("0514"));
                assert_eq!(page.content[1].signed_minor_units(), -10_000);
            }
            "response-missing-corr-id.json" => {
                let body: ErrorResponse = parse(&text, &name);
                assert_eq!(body.errors.len(), 1);
                let err = classify_response(
                    Api::Adaa,
                    400,
                    None,
                    text.as_bytes(),
                    &KbQuirks::default(),
                    &[],
                );
                assert!(
                    matches!(err, Error::Rejected { status: 400, .. }),
                    "{err:?}"
                );
            }
            other => panic!("fixture {other} is not covered by this test"),
        }
        seen += 1;
    }
    assert_eq!(seen, 5, "expected the five KB fixtures");
}

/// Whether a Postman example body is a schema template (`"<string>"`, `"<double>"`, ...).
fn is_placeholder(body: &str) -> bool {
    let trimmed = body.trim();
    trimmed.is_empty()
        || (trimmed.starts_with('<') && trimmed.ends_with('>'))
        || (body.contains("\"<") && body.contains(">\""))
}

/// Every request item of a collection, depth-first: (request URL, item name, responses).
fn items(node: &Value, out: &mut Vec<(String, String, Vec<Value>)>) {
    for item in node["item"].as_array().into_iter().flatten() {
        if item.get("item").is_some() {
            items(item, out);
            continue;
        }
        let url = match &item["request"]["url"] {
            Value::String(raw) => raw.clone(),
            other => other["raw"].as_str().unwrap_or_default().to_owned(),
        };
        let name = item["name"].as_str().unwrap_or_default().to_owned();
        let responses = item["response"].as_array().cloned().unwrap_or_default();
        out.push((url, name, responses));
    }
}

/// Deserializes one concrete example with the type the client uses for that endpoint.
fn check_example(url: &str, status: u16, body: &str, origin: &str) {
    let path = url.split('?').next().unwrap_or_default();
    if !(200..300).contains(&status) {
        let _: ErrorResponse = parse(body, origin);
        let api = if path.contains("access_token") {
            Api::OAuth
        } else if path.contains("software-statements") {
            Api::ClientRegistration
        } else {
            Api::Adaa
        };
        let err = classify_response(
            api,
            status,
            None,
            body.as_bytes(),
            &KbQuirks::default(),
            &[],
        );
        let expected_ok = match status {
            404 => matches!(err, Error::NotFound { .. }),
            429 => matches!(err, Error::RateLimited { .. }),
            400..=499 => matches!(
                err,
                Error::Rejected { .. }
                    | Error::AccountNotConfigured { .. }
                    | Error::ConsentGone { .. }
                    | Error::Unauthorized { .. }
            ),
            _ => matches!(err, Error::Unavailable { .. }),
        };
        assert!(expected_ok, "{origin}: {err:?}");
        return;
    }
    if path.ends_with("/transactions") || path.contains("/cards/") {
        let page: TransactionPage = parse(body, origin);
        assert!(!page.content.is_empty(), "{origin}");
        for tx in &page.content {
            assert!(tx.account_servicer().is_some(), "{origin}: accountServicer");
            assert_eq!(tx.status, Some(TransactionStatus::Booked));
        }
    } else if path.contains("/event-subscriptions") {
        let info: SubscriptionInfo = parse(body, origin);
        assert_eq!(info.subscription_id.len(), 36, "{origin}");
    } else if path.ends_with("/balances") {
        let _: Vec<AccountBalance> = parse(body, origin);
    } else if path.ends_with("/accounts") {
        let _: Vec<Account> = parse(body, origin);
    } else if path.contains("/statements") {
        let _: Vec<Statement> = parse(body, origin);
    } else if path.ends_with("/access_token") {
        let _: TokenResponse = parse(body, origin);
    } else if path.ends_with("/software-statements") {
        assert!(SoftwareStatement::from_body(body).is_some(), "{origin}");
    } else {
        panic!("{origin}: no client type for {path}");
    }
}

#[test]
fn every_concrete_postman_example_deserializes() {
    let mut checked = 0;
    let mut transaction_pages = 0;
    for file in [
        "production.postman_collection.json",
        "sandbox.postman_collection.json",
    ] {
        let path = reference_dir().join("postman").join(file);
        let collection: Value = parse(&read(&path), file);
        let mut all = Vec::new();
        items(&collection, &mut all);
        assert!(all.len() >= 10, "{file}: too few items");
        for (url, name, responses) in all {
            for response in responses {
                let body = response["body"].as_str().unwrap_or_default();
                if is_placeholder(body) {
                    continue;
                }
                let status = response["code"].as_u64().unwrap_or_default();
                let status = u16::try_from(status).expect("HTTP status");
                let origin = format!("{file} / {name} / {status}");
                check_example(&url, status, body, &origin);
                checked += 1;
                if url.contains("/transactions?") && status == 200 {
                    transaction_pages += 1;
                }
            }
        }
    }
    // 2 transaction pages, 4 subscription infos, 10 error bodies across both collections.
    assert_eq!(transaction_pages, 2);
    assert!(checked >= 16, "only {checked} concrete examples found");
}

#[test]
fn postman_registration_request_matches_our_wire_format() {
    use base64::Engine as _;
    let path = reference_dir()
        .join("postman")
        .join("sandbox.postman_collection.json");
    let collection: Value = parse(&read(&path), "sandbox collection");
    let mut all = Vec::new();
    items(&collection, &mut all);
    let url = all
        .iter()
        .map(|(url, _, _)| url)
        .find(|url| url.contains("registrationRequest="))
        .expect("registration request in the sandbox collection");
    let raw = url
        .split("registrationRequest=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap_or_default();
    let json = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .expect("raw standard Base64");
    let wire: RegistrationRequestWire = serde_json::from_slice(&json).expect("request JSON");
    assert_eq!(wire.encryption_key, SANDBOX_ENCRYPTION_KEY);
    assert_eq!(wire.encryption_alg, "AES-256");
    assert_eq!(wire.scope, vec!["adaa".to_owned()]);
}
