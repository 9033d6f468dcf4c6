//! Crash safety of the sync with real processes: `kasa worker` killed with SIGKILL at random
//! points, twenty times, then three workers at once. Afterwards the club's transactions equal
//! the sandbox's ledger: same ids, amounts and statuses, nothing duplicated, nothing missing.

use crate::consent::{confirmed_club, connect};
use crate::helpers::*;
use kasa::secret::Secret;
use rand::Rng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VAULT: &str = "kill:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

fn worker(env: &[(String, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kasa"))
        .arg("worker")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("DATABASE_URL")
        .env(
            "DATABASE_URL",
            &env.iter().find(|(k, _)| k == "DATABASE_URL").expect("db").1,
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kasa worker")
}

fn minor(value: &Value) -> i64 {
    let amount = value["amount"]["value"].as_f64().unwrap_or(0.0);
    let signed = if value["creditDebitIndicator"] == "DEBIT" {
        -amount
    } else {
        amount
    };
    (signed * 100.0).round() as i64
}

#[tokio::test]
async fn killed_and_racing_worker_processes_never_lose_or_duplicate_a_transaction() {
    let app = TestApp::spawn_with_sandbox_and(
        |s| {
            s.seed.transactions_per_account = 2500;
            // This test is about crashes, not KB's 61-minute rule (tested on its own): a killed
            // worker's download must not lock the account for an hour.
            s.behaviour.unchanged_data_limit = None;
        },
        |c| c.vault = kasa::config::VaultSetting::Keys(Secret::new(VAULT.to_owned())),
    )
    .await;
    let sandbox = app.sandbox.clone().expect("sandbox");
    let (client, dashboard) = confirmed_club(&app, "p@sokol.cz", ICO_A).await;
    connect(&app, &client, &dashboard).await;
    let (kb_account,): (String,) = sqlx::query_as("SELECT kb_account_id FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("acc");

    let settings = kasa::app::sandbox_client_settings(&sandbox);
    let identity = match &settings.identity {
        Some(kasa::bank::ClientIdentity::Pem {
            cert_path,
            key_path,
        }) => (
            cert_path.display().to_string(),
            key_path.display().to_string(),
        ),
        _ => panic!("PEM identity"),
    };
    let data_dir = crate::helpers::scratch_dir("worker");
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", app.database_url()),
        ("KASA_VAULT_KEYS", VAULT.to_owned()),
        ("KASA_PUBLIC_URL", app.base.clone()),
        ("KASA_DATA_DIR", data_dir.display().to_string()),
        ("KASA_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "KASA_KB_CLIENT_REGISTRATION_API_KEY",
            settings.api_keys.client_registration.expose().clone(),
        ),
        (
            "KASA_KB_OAUTH_API_KEY",
            settings.api_keys.oauth.expose().clone(),
        ),
        (
            "KASA_KB_ADAA_API_KEY",
            settings.api_keys.adaa.expose().clone(),
        ),
        (
            "KASA_KB_CLIENT_REGISTRATION_URL",
            settings.endpoints.client_registration.clone(),
        ),
        (
            "KASA_KB_APP_REGISTRATION_URL",
            settings.endpoints.app_registration_ui.clone(),
        ),
        (
            "KASA_KB_AUTHORIZATION_URL",
            settings.endpoints.authorization.clone(),
        ),
        ("KASA_KB_TOKEN_URL", settings.endpoints.token.clone()),
        ("KASA_KB_ADAA_URL", settings.endpoints.adaa.clone()),
        (
            "KASA_KB_CA_BUNDLE",
            sandbox.ca_cert_path.display().to_string(),
        ),
        ("KASA_KB_CERT_PEM", identity.0),
        ("KASA_KB_KEY_PEM", identity.1),
        ("KASA_SYNC_LEASE_SECS", "2".to_owned()),
        ("KASA_SYNC_HEARTBEAT_SECS", "1".to_owned()),
        ("KASA_SYNC_IDLE_POLL_SECS", "1".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let http = reqwest::Client::new();
    let pay = |vs: String, pending: bool| {
        http.post(format!("{}/control/payments", sandbox.browser_base_url))
            .json(&serde_json::json!({"account": kb_account, "amount_minor": 31_400, "vs": vs, "pending": pending}))
            .send()
    };
    let mut rng = rand::thread_rng();
    for round in 0..20 {
        if round % 3 == 1 {
            pay(format!("77{round:03}"), round % 2 == 0)
                .await
                .expect("payment");
        }
        let mut child = worker(&env);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..1800))).await;
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        // Make the account due again, as a notification would.
        sqlx::query("UPDATE app.sync_jobs SET due_at = now()")
            .execute(&app.pool)
            .await
            .expect("due");
    }
    pay("7799999".to_owned(), false).await.expect("payment");

    // Three workers at once until the club's ledger equals the sandbox's.
    let mut racing: Vec<Child> = (0..3).map(|_| worker(&env)).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut expected, mut actual) = (BTreeMap::new(), BTreeMap::new());
    while Instant::now() < deadline {
        expected = sandbox_ledger(&sandbox, Some(&kb_account))
            .await
            .iter()
            .map(|t| {
                let id = t["references"]["accountServicer"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let status = if t["status"] == "BOOK" {
                    "booked"
                } else {
                    "pending"
                };
                (format!("as:{id}"), (minor(t), status.to_owned()))
            })
            .collect();
        let mut tx = crate::consent::tenant_tx(&app).await;
        let rows: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT bank_key, amount_minor, status FROM transactions")
                .fetch_all(&mut *tx)
                .await
                .expect("rows");
        let distinct: (i64,) = sqlx::query_as("SELECT count(DISTINCT bank_key) FROM transactions")
            .fetch_one(&mut *tx)
            .await
            .expect("n");
        assert_eq!(distinct.0 as usize, rows.len(), "no duplicates, ever");
        actual = rows.into_iter().map(|(k, a, s)| (k, (a, s))).collect();
        if actual == expected && !expected.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for child in racing.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        expected.len() > 2000,
        "the history is there: {}",
        expected.len()
    );
    assert_eq!(actual, expected, "missing {missing:?}, extra {extra:?}");
}
