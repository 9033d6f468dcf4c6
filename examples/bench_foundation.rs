//! Foundation benchmarks: tenant provisioning time and sign-up page latency.
//!
//! Run: `cargo run --release --example bench_foundation -- [tenants] [requests]`
//! (defaults 200 tenants, 2000 requests). Uses a private PostgreSQL cluster in a temporary
//! directory (fsync on, default settings) unless `DATABASE_URL` is set. Prints the figures that
//! go into docs/benchmarks.md.

#[path = "common/mod.rs"]
mod common;

use common::percentile;
use kasa::app::Kasa;
use kasa::clock::SystemClock;
use kasa::config::Config;
use sqlx::postgres::PgConnectOptions;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let total: Duration = samples.iter().sum();
    println!(
        "{name}: n={} mean={:.2} ms p50={:.2} ms p95={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        total.as_secs_f64() * 1000.0 / samples.len() as f64,
        percentile(&samples, 0.50).as_secs_f64() * 1000.0,
        percentile(&samples, 0.95).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let tenants: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let requests: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2000);

    let (options, _cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => (PgConnectOptions::from_str(&url)?, None),
        _ => {
            let dir = std::env::temp_dir().join(format!("kasa-bench-pg-{}", std::process::id()));
            let cluster = common::cluster(&dir).await?;
            (cluster.connect_options("kasa_bench"), Some(cluster))
        }
    };

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let kb = kasa::app::KbConnection {
        settings: kasa::bank::KbSettings::production(Default::default(), None),
        sandbox: None,
    };
    let kasa = Kasa::new(
        &Config {
            spare_schemas: 0,
            ..Config::local_default()
        },
        options,
        Arc::new(SystemClock),
        addr,
        &kb,
    )
    .await?;
    let pool = kasa.state.pool.clone();

    // 1. Tenant provisioning: the tenant row, its schema and all tenant tables, one transaction.
    let mut samples = Vec::with_capacity(tenants);
    for i in 0..tenants {
        let started = Instant::now();
        let mut tx = pool.begin().await?;
        kasa::db::tenant::provision(&mut tx, &format!("Bench club {i}"), "45317054").await?;
        tx.commit().await?;
        samples.push(started.elapsed());
    }
    report("tenant provisioning (schema + tables, committed)", samples);

    tokio::spawn(kasa.serve(listener, std::future::pending()));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/signup");
    for _ in 0..50 {
        client.get(&url).send().await?.error_for_status()?;
    }

    // 2. Sign-up page latency, one client after another.
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let body = client
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        samples.push(started.elapsed());
        assert!(!body.is_empty());
    }
    report("GET /signup, sequential", samples);

    // 3. The same with 8 concurrent clients.
    let per_client = requests / 8;
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        let url = url.clone();
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let t = Instant::now();
                let ok = client
                    .get(&url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                assert!(ok);
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await?);
    }
    let elapsed = started.elapsed();
    println!(
        "GET /signup, 8 concurrent clients: {:.0} requests/s",
        all.len() as f64 / elapsed.as_secs_f64()
    );
    report("GET /signup, 8 concurrent clients", all);
    Ok(())
}
