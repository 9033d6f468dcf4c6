//! Sync benchmarks: the first sync of 100 000 transactions from the KB sandbox (beside a raw
//! PostgreSQL `COPY` of the same rows into the same table, in the same run), and the latency
//! from a KB notification to the payment being in the club's schema (p50/p99 over N events),
//! then on the open account page: by its polling fallback (every 500 ms) and by its event stream
//! (`GET /t/{club}/live`, one page load after `changed`), each payment at a random moment.
//!
//! Run: `cargo run --release --example bench_sync -- [transactions] [events]`
//! (defaults 100000 and 100). Uses a private PostgreSQL cluster (default settings, fsync on)
//! and the built-in KB sandbox on loopback. Prints the figures for docs/benchmarks.md, with
//! the worker's own split of each sync (its `sync timing` lines: fetch, ledger apply, payment
//! matching, commit; the notification syncs' window reach).

#[path = "common/mod.rs"]
mod common;

use common::{Club, report};
use kasa::db::tenant::TenantTx;
use sqlx::Executor;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::prelude::*;

/// The fields of one `sync timing` line of the worker, by name (as text).
type Timing = BTreeMap<&'static str, String>;

/// Keeps the worker's `sync timing` debug lines for the report, whatever `RUST_LOG` says.
#[derive(Clone, Default)]
struct Timings(Arc<Mutex<Vec<Timing>>>);

impl Timings {
    fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    fn take(&self) -> Vec<Timing> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Timings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(Timing);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.insert(field.name(), format!("{value:?}"));
            }
        }
        let mut fields = Fields(Timing::new());
        event.record(&mut fields);
        if fields.0.get("message").is_some_and(|m| m == "sync timing") {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(fields.0);
        }
    }
}

/// A field of a timing line as a number (0 when absent).
fn field(t: &Timing, name: &str) -> u64 {
    t.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Prints the split of `timings`: each part's p50/p99 (one line: the value).
fn report_split(what: &str, timings: &[Timing]) {
    if timings.is_empty() {
        return;
    }
    let parts = [
        "rows",
        "pages",
        "fetch_ms",
        "ledger_ms",
        "after_apply_ms",
        "apply_ms",
    ];
    let mut line = format!("{what} (n={}):", timings.len());
    for part in parts {
        let mut values: Vec<u64> = timings.iter().map(|t| field(t, part)).collect();
        values.sort_unstable();
        let at = |p: f64| values[((values.len() as f64 - 1.0) * p).round() as usize];
        if values.len() == 1 {
            line.push_str(&format!(" {part}={}", at(0.5)));
        } else {
            line.push_str(&format!(" {part} p50={} p99={}", at(0.5), at(0.99)));
        }
    }
    let mut reach: BTreeMap<&str, usize> = BTreeMap::new();
    for t in timings {
        *reach
            .entry(t.get("reach").map_or("?", String::as_str))
            .or_default() += 1;
    }
    line.push_str(&format!(" reach={reach:?}"));
    if let Some(rebuilt) = timings[0].get("search_indexes_rebuilt") {
        line.push_str(&format!(" search_indexes_rebuilt={rebuilt}"));
    }
    println!("{line}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let timings = Timings::default();
    let log = std::env::var_os("RUST_LOG").is_some().then(|| {
        tracing_subscriber::fmt::layer()
            .with_filter(tracing_subscriber::EnvFilter::from_default_env())
    });
    tracing_subscriber::registry()
        .with(
            timings.clone().with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("kasa::sync::worker", tracing::Level::DEBUG),
            ),
        )
        .with(log)
        .init();
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
    // The worker logs its timing right after the commit the loop above saw.
    let logged_by = Instant::now() + Duration::from_secs(5);
    while timings.is_empty() && Instant::now() < logged_by {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    report_split(
        "first sync split, ms (apply = ledger + matching + commit)",
        &timings.take(),
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

    // 2. Notification → payment in the club's schema: each payment at a random moment (0–500 ms
    //    after the previous one arrived), as the issue measures; then back to back (each sent as
    //    soon as the previous one arrived, so its notification often comes while the previous
    //    sync is still finishing: the worst case for the notification's wait).
    let http = reqwest::Client::new();
    for (mode, pause_ms, vs_prefix, amount) in [
        ("at random moments", 500, "93", 50_000),
        ("back to back", 0, "95", 80_000),
    ] {
        let mut latencies = Vec::with_capacity(events);
        for i in 0..events {
            let vs = format!("{vs_prefix}{i:06}");
            if pause_ms > 0 {
                tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % pause_ms)).await;
            }
            // The probe reads only rows newer than this (a primary-key range): polled every
            // 2 ms, it must not take the CPU the sync it waits for needs.
            let mut tx = TenantTx::begin(&pool, &tenant).await?;
            let (newest,): (i64,) = sqlx::query_as("SELECT COALESCE(max(id), 0) FROM transactions")
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            let sent = Instant::now();
            tracing::debug!(%vs, "bench: sending a payment");
            http.post(format!("{}/control/payments", sandbox.browser_base_url))
                .json(&serde_json::json!({"account": kb_account, "amount_minor": amount + i as i64, "vs": vs}))
                .send()
                .await?
                .error_for_status()?;
            loop {
                let mut tx = TenantTx::begin(&pool, &tenant).await?;
                let found: Option<(i64,)> = sqlx::query_as(
                    "SELECT id FROM transactions WHERE id > $1 AND variable_symbol = $2",
                )
                .bind(newest)
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
            &format!("notification to payment in the club's schema ({mode})"),
            &mut latencies,
        );
        report_split(
            &format!("notification syncs' split, ms (apply = ledger + matching + commit; {mode})"),
            &timings.take(),
        );
    }

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

    // 4. The same by push: the page's event stream (`GET /t/{club}/live`) says `changed` and
    //    the page is fetched once, as static/kasa.js does (the fallback above is the baseline).
    let mut stream = web.get(format!("{base}{dashboard}/live")).send().await?;
    anyhow::ensure!(stream.status().is_success(), "stream: {}", stream.status());
    let mut buffer = String::new();
    let mut pushed = Vec::with_capacity(events);
    for i in 0..events {
        let vs = format!("96{i:06}");
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 500)).await;
        let sent = Instant::now();
        http.post(format!("{}/control/payments", sandbox.browser_base_url))
            .json(&serde_json::json!({"account": kb_account, "amount_minor": 70_000 + i as i64, "vs": vs}))
            .send()
            .await?
            .error_for_status()?;
        loop {
            anyhow::ensure!(
                sent.elapsed() < Duration::from_secs(30),
                "payment {vs} never reached the page"
            );
            if !next_changed(&mut stream, &mut buffer).await? {
                continue;
            }
            let page = web.get(&page_url).send().await?.text().await?;
            if page.contains(&vs) {
                break;
            }
        }
        pushed.push(sent.elapsed());
    }
    report(
        "payment to the open account page (event stream, then one page load)",
        &mut pushed,
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Reads the event stream until its next event: `true` for `changed` (keep-alive comments and
/// other events give `false`). Events are blocks ending in an empty line (`event:` / `data:`).
async fn next_changed(stream: &mut reqwest::Response, buffer: &mut String) -> anyhow::Result<bool> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            return Ok(block
                .lines()
                .any(|l| l.strip_prefix("event:").map(str::trim) == Some("changed")));
        }
        let chunk = stream
            .chunk()
            .await?
            .ok_or_else(|| anyhow::anyhow!("the event stream ended"))?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}
