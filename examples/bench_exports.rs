//! Export benchmark (issue 9): a club with `rows` booked bank transactions (default 100 000)
//! exported as CSV, XLSX and GPC through `export::stream` (the stream the download route
//! sends), consumed as fast as it comes. Prints, per format: time, bytes, and the process's
//! resident memory: the largest sample taken at every chunk minus the resident memory before
//! the export (`VmRSS` of /proc/self/status; Linux only).
//!
//! Run: `cargo run --release --example bench_exports -- [rows]`. Run it twice (10000 and
//! 100000) to see that memory does not grow with the rows. Uses a private PostgreSQL cluster
//! (default settings, fsync on); the transactions are inserted by one `INSERT … SELECT
//! generate_series` (the benchmark measures the export, not the sync).

#[path = "common/mod.rs"]
mod common;

use futures::StreamExt;
use kasa::clock::SystemClock;
use kasa::config::Config;
use kasa::db::tenant::Tenant;
use kasa::export::{Dataset, Format, Request};
use std::sync::Arc;
use std::time::Instant;
use time::macros::date;

/// Resident memory of this process in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("kasa-bench-pg-{}", std::process::id()));
    let cluster = common::cluster(&dir).await?;
    let options = cluster.connect_options("kasa_bench");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let kb = kasa::app::KbConnection {
        settings: kasa::bank::KbSettings::production(Default::default(), None),
        sandbox: None,
    };
    let kasa = kasa::app::Kasa::new(
        &Config {
            spare_schemas: 0,
            ..Config::local_default()
        },
        options,
        Arc::new(SystemClock),
        listener.local_addr()?,
        &kb,
    )
    .await?;
    let pool = kasa.state.pool.clone();

    let mut conn = pool.begin().await?;
    let (tenant, _): (Tenant, _) =
        kasa::db::tenant::provision(&mut conn, "Bench klub", "45317054").await?;
    conn.commit().await?;
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    common::bench_account(
        &pool,
        &tenant,
        now,
        rows,
        "INSERT INTO transactions (account_id, bank_key, status, amount_minor, currency, \
            booking_date, value_date, counterparty_name, counterparty_account, \
            counterparty_bank_code, variable_symbol, message, last_updated, first_seen_at) \
         SELECT $1, 'as:' || n, 'booked', \
                CASE WHEN n % 3 = 0 THEN -(n % 100000) - 1 ELSE (n % 50000) * 10 + 1 END, 'CZK', \
                DATE '2025-01-01' + (n % 700)::int, DATE '2025-01-01' + (n % 700)::int, \
                'Plátce č. ' || n || ' Žluťoučký', '19-2000145399', '0800', (2025000 + n % 2000)::text, \
                'Příspěvek za člena ' || n, $2, $2 \
           FROM generate_series(1, $3) n",
    )
    .await?;
    println!("{rows} booked transactions");

    for format in [Format::Csv, Format::Xlsx, Format::Gpc] {
        let request = Request {
            dataset: Dataset::Transactions,
            format,
            from: date!(2025 - 01 - 01),
            to: date!(2026 - 12 - 31),
        };
        let before = rss_kib();
        let mut peak = before;
        let started = Instant::now();
        let mut bytes = 0usize;
        let slots = kasa::export::Slots::for_pool(4);
        let stream = kasa::export::stream(
            pool.clone(),
            tenant.clone(),
            request,
            kasa::i18n::Lang::Cs,
            &slots,
        )
        .map_err(|_| anyhow::anyhow!("no export slot"))?;
        let mut stream = Box::pin(stream);
        while let Some(chunk) = stream.next().await {
            bytes += chunk?.len();
            peak = peak.max(rss_kib());
        }
        println!(
            "{}: {:.2} s, {:.1} MiB, resident before {} MiB, peak +{:.1} MiB",
            format.as_str(),
            started.elapsed().as_secs_f64(),
            bytes as f64 / 1024.0 / 1024.0,
            before / 1024,
            peak.saturating_sub(before) as f64 / 1024.0,
        );
    }
    drop(kasa);
    drop(cluster);
    Ok(())
}
