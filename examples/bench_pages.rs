//! Page benchmarks (issue 13, item 5): a club connected to the KB sandbox whose account holds
//! about 100 000 transactions after its first sync, its pages requested over HTTP by 64
//! signed-in sessions at once (each its own cookie jar and connection), `seconds` each:
//! `/healthz`, the club dashboard and the account page (first page of 50 movements), beside each
//! other in one run; then the account page from 200 sessions while payments arrive from the
//! sandbox (one every 200 ms, each synced by the KB notification's run). Requests/s, p50/p99/max;
//! any error status stops the run.
//!
//! Run: `cargo run --release --example bench_pages -- [generated rows] [seconds]` (defaults
//! 118500 ≈ 100 000 transactions KB lists, 10). Private PostgreSQL cluster (default settings,
//! fsync on), the built-in KB sandbox on loopback, the load client in the same process.

#[path = "common/mod.rs"]
mod common;

use common::{Club, measure};
use kasa::db::tenant::TenantTx;
use std::time::{Duration, Instant};

/// Concurrent connections of the page runs (issue 13's wrk setting).
const CONNECTIONS: usize = 64;
/// Concurrent connections of the run while payments arrive.
const CROWD: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    let generated: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(118_500);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let how_long = Duration::from_secs(seconds);
    let tmp = std::env::temp_dir().join(format!("kasa-bench-pages-{}", std::process::id()));
    let cluster = common::cluster(&tmp.join("pg")).await?;
    let kb = common::sandbox(&tmp.join("sandbox"), generated).await?;
    let sandbox = kb.sandbox.as_ref().expect("sandbox");
    let (pool, base, _) = common::serve(&cluster, &kb, |_| {}).await?;
    let club = Club::sign_up(&pool, &base).await?;
    club.connect().await?;
    let tenant = club.tenant(&pool).await?;
    let (account, kb_account): (uuid::Uuid, String) =
        sqlx::query_as("SELECT id, kb_account_id FROM app.bank_accounts")
            .fetch_one(&pool)
            .await?;
    let rows = loop {
        let mut tx = TenantTx::begin(&pool, &tenant).await?;
        let done: Option<(i32,)> = sqlx::query_as(
            "SELECT inserted FROM sync_runs WHERE account_id = $1 AND outcome = 'synced' ORDER BY id LIMIT 1",
        )
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        if let Some((rows,)) = done {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("first sync done: {rows} transactions");
    // Let the first sync's follow-ups (search index rebuild, autovacuum) settle.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let mut sessions = Vec::with_capacity(CROWD);
    for _ in 0..CROWD {
        sessions.push(club.another_session().await?);
    }
    let healthz = format!("{base}/healthz");
    let dashboard = format!("{base}{}", club.dashboard);
    let account_page = format!("{base}{}/accounts/{account}", club.dashboard);
    for (what, url) in [("dashboard", &dashboard), ("account page", &account_page)] {
        let page = sessions[0].get(url).send().await?.text().await?;
        println!("{what}: {} bytes", page.len());
    }

    let cookie = club.session_cookie().await?;
    let few = &sessions[..CONNECTIONS];
    let mut figures = Vec::new();
    for (what, url) in [
        ("GET /healthz", &healthz),
        ("GET /t/{club} (dashboard)", &dashboard),
        (
            "GET /t/{club}/accounts/{account} (account page)",
            &account_page,
        ),
    ] {
        figures.push((what, measure(url, &cookie, few, how_long).await?));
    }
    let healthz_rate = figures[0].1.rate;
    for (what, m) in &figures {
        m.print(what, CONNECTIONS, healthz_rate);
    }

    // The account page from 200 sessions while payments arrive.
    let sender = {
        let http = reqwest::Client::new();
        let url = format!("{}/control/payments", sandbox.browser_base_url);
        let deadline = Instant::now() + how_long;
        tokio::spawn(async move {
            let mut sent = 0u32;
            while Instant::now() < deadline {
                http.post(&url)
                    .json(&serde_json::json!({
                        "account": kb_account,
                        "amount_minor": 50_000 + i64::from(sent),
                        "vs": format!("95{sent:06}"),
                    }))
                    .send()
                    .await?
                    .error_for_status()?;
                sent += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            anyhow::Ok(sent)
        })
    };
    let crowd = measure(&account_page, &cookie, &sessions, how_long).await?;
    let sent = sender.await??;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut tx = TenantTx::begin(&pool, &tenant).await?;
    let (arrived,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM transactions WHERE variable_symbol LIKE '95%'")
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    crowd.print(
        &format!("account page while {sent} payments arrived ({arrived} synced)"),
        CROWD,
        healthz_rate,
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
