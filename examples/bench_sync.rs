//! Sync benchmarks: the first sync of 100 000 transactions from the KB sandbox (beside a raw
//! PostgreSQL `COPY` of the same rows into the same table, in the same run), and the latency
//! from a KB notification to the payment being in the club's schema (p50/p99 over N events).
//!
//! Run: `cargo run --release --example bench_sync -- [transactions] [events]`
//! (defaults 100000 and 100). Uses a private PostgreSQL cluster (default settings, fsync on)
//! and the built-in KB sandbox on loopback. Prints the figures for docs/benchmarks.md.

#[path = "common/mod.rs"]
mod common;

use common::{Club, report};
use kasa::db::tenant::TenantTx;
use sqlx::Executor;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    let transactions: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let events: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let tmp = std::env::temp_dir().join(format!("kasa-bench-sync-{}", std::process::id()));

    let cluster = common::cluster(&tmp.join("pg")).await?;
    let kb = common::sandbox(&tmp.join("sandbox"), transactions).await?;
    let sandbox = kb.sandbox.as_ref().expect("sandbox");
    let (pool, base, _) = common::serve(&cluster, &kb, |_| {}).await?;

    // A club, its treasurer signed in, e-mail confirmed, connected through the sandbox's pages.
    let club = Club::sign_up(&pool, &base).await?;
    let (web, dashboard) = (&club.web, &club.dashboard);
    let connected = club.connect().await?;

    // 1. First sync: until the first run is recorded.
    let tenant = club.tenant(&pool).await?;
    let (account, kb_account): (uuid::Uuid, String) =
        sqlx::query_as("SELECT id, kb_account_id FROM app.bank_accounts")
            .fetch_one(&pool)
            .await?;
    let synced = loop {
        let mut tx = TenantTx::begin(&pool, &tenant).await?;
        let done: Option<(i32, i32)> = sqlx::query_as(
            "SELECT fetched, inserted FROM sync_runs WHERE account_id = $1 AND outcome = 'synced' ORDER BY id LIMIT 1",
        )
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        if let Some(done) = done {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first_sync = connected.elapsed();
    println!(
        "first sync: {} fetched, {} inserted in {:.2} s = {:.0} transactions/s (connect to committed, including KB paging over HTTPS)",
        synced.0,
        synced.1,
        first_sync.as_secs_f64(),
        f64::from(synced.1) / first_sync.as_secs_f64()
    );

    // Raw COPY of the same rows into the same table (same indexes), in one transaction.
    let mut tx = TenantTx::begin(&pool, &tenant).await?;
    let columns = "account_id, bank_key, status, amount_minor, currency, instructed_minor, instructed_currency, \
        booking_date, value_date, counterparty_name, counterparty_account, counterparty_bank_code, counterparty_iban, \
        variable_symbol, constant_symbol, specific_symbol, message, note, transaction_type, reversal, last_updated, first_seen_at";
    let mut out = tx
        .copy_out_raw(format!("COPY (SELECT {columns} FROM transactions) TO STDOUT").as_str())
        .await?;
    let mut data = Vec::new();
    use futures::StreamExt;
    while let Some(chunk) = out.next().await {
        data.extend_from_slice(&chunk?);
    }
    drop(out);
    tx.execute("DELETE FROM transactions").await?;
    let copy_started = Instant::now();
    let mut copy = tx
        .copy_in_raw(format!("COPY transactions ({columns}) FROM STDIN").as_str())
        .await?;
    copy.send(data).await?;
    let copied = copy.finish().await?;
    let copy_time = copy_started.elapsed();
    tx.rollback().await?;
    println!(
        "raw COPY of the same {copied} rows into the same table: {:.2} s = {:.0} rows/s",
        copy_time.as_secs_f64(),
        copied as f64 / copy_time.as_secs_f64()
    );

    // 2. Notification → payment in the club's schema.
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(events);
    for i in 0..events {
        let vs = format!("93{i:06}");
        let sent = Instant::now();
        tracing::debug!(%vs, "bench: sending a payment");
        http.post(format!("{}/control/payments", sandbox.browser_base_url))
            .json(&serde_json::json!({"account": kb_account, "amount_minor": 50_000 + i as i64, "vs": vs}))
            .send()
            .await?
            .error_for_status()?;
        loop {
            let mut tx = TenantTx::begin(&pool, &tenant).await?;
            let found: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM transactions WHERE variable_symbol = $1")
                    .bind(&vs)
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            if found.is_some() {
                break;
            }
            anyhow::ensure!(
                sent.elapsed() < Duration::from_secs(30),
                "payment {vs} never arrived"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tracing::debug!(%vs, "bench: payment visible");
        latencies.push(sent.elapsed());
    }
    report(
        "notification to payment in the club's schema",
        &mut latencies,
    );

    // 3. The same, seen by an open account page: the client polls the page's change stamp every
    //    500 ms as static/kasa.js does and fetches the page when it moves. Each payment is sent
    //    at a random moment of the polling cycle, as a real one would be.
    let page_url = format!("{base}{dashboard}/accounts/{account}");
    let stamp_url = format!("{page_url}/stamp");
    let mut stamp = web.get(&stamp_url).send().await?.text().await?;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut on_page = Vec::with_capacity(events);
    let mut page_loads = Vec::with_capacity(events);
    for i in 0..events {
        let vs = format!("94{i:06}");
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 500)).await;
        let sent = Instant::now();
        http.post(format!("{}/control/payments", sandbox.browser_base_url))
            .json(&serde_json::json!({"account": kb_account, "amount_minor": 60_000 + i as i64, "vs": vs}))
            .send()
            .await?
            .error_for_status()?;
        loop {
            ticker.tick().await;
            anyhow::ensure!(
                sent.elapsed() < Duration::from_secs(30),
                "payment {vs} never reached the page"
            );
            let fresh = web.get(&stamp_url).send().await?.text().await?;
            if fresh == stamp {
                continue;
            }
            stamp = fresh;
            let started = Instant::now();
            let page = web.get(&page_url).send().await?.text().await?;
            page_loads.push(started.elapsed());
            if page.contains(&vs) {
                break;
            }
        }
        on_page.push(sent.elapsed());
    }
    report(
        "payment to the open account page (polling every 500 ms)",
        &mut on_page,
    );
    report("account page load while polling", &mut page_loads);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
