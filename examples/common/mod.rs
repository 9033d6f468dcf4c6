//! What the sync and fee benchmarks share: a private PostgreSQL cluster, the built-in KB sandbox
//! with generated history, Kasa serving on loopback, a signed-up club connected through the
//! sandbox's consent pages (scripted KB customer), a GET load loop and percentile reports.
//!
//! Included by the examples with `#[path = "common/mod.rs"] mod common;` (cargo does not treat
//! this folder as an example of its own).
#![allow(dead_code)]

use kasa::app::{Kasa, KbConnection};
use kasa::clock::SystemClock;
use kasa::config::{Config, VaultSetting};
use kasa::db::embedded::{ClusterOptions, EmbeddedCluster};
use kasa::db::tenant::Tenant;
use kasa::kb_sandbox::{KbSandbox, SandboxConfig, scripted_user};
use sqlx::PgPool;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// GETs `url` from every client in a loop for `how_long`: requests/s and every latency.
pub async fn load(
    clients: &[reqwest::Client],
    url: &str,
    how_long: Duration,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let started = Instant::now();
    let deadline = started + how_long;
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        let client = client.clone();
        let url = url.to_owned();
        tasks.spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let response = client.get(&url).send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "{url}: {}",
                    response.status()
                );
                response.bytes().await?;
                samples.push(t.elapsed());
            }
            Ok(samples)
        });
    }
    let mut all = Vec::new();
    while let Some(samples) = tasks.join_next().await {
        all.extend(samples??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    Ok((rate, all))
}

/// What one load run measured: requests/s, p50 and p99 (and every latency when the load came
/// from this process; `wrk` gives only its distribution).
pub struct Measured {
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Which client made the load ("wrk" or "in-process").
    pub by: &'static str,
}

impl Measured {
    /// `what, N connections: R requests/s (S % of /healthz), p50 … p99 … (load by …)`.
    pub fn print(&self, what: &str, connections: usize, healthz_rate: f64) {
        println!(
            "{what}, {connections} connections: {:.0} requests/s ({:.0} % of /healthz), p50={:.1} ms p99={:.1} ms (load by {})",
            self.rate,
            100.0 * self.rate / healthz_rate,
            ms(self.p50),
            ms(self.p99),
            self.by,
        );
    }

    fn of(rate: f64, sorted: &[Duration]) -> Measured {
        Measured {
            rate,
            p50: percentile(sorted, 0.5),
            p99: percentile(sorted, 0.99),
            by: "in-process",
        }
    }
}

/// Loads `url` with `connections` connections for `how_long` after 2 s of warm-up, all with
/// the session `cookie` (`name=value`, as [`Club::session_cookie`] gives it): with `wrk` (one
/// thread, `--latency`) when it is installed (`apt-get install wrk`), as issue 13 measures,
/// else from this process with a client per connection ([`load`], each with its own
/// session). Any response that is not 2xx stops the run.
pub async fn measure(
    url: &str,
    cookie: &str,
    sessions: &[reqwest::Client],
    how_long: Duration,
) -> anyhow::Result<Measured> {
    let status = browser()?
        .get(url)
        .header("cookie", cookie)
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "{url} with the session: {status}");
    if let Some(measured) = wrk(url, cookie, sessions.len(), how_long).await? {
        return Ok(measured);
    }
    load(sessions, url, Duration::from_secs(2)).await?;
    let (rate, samples) = load(sessions, url, how_long).await?;
    Ok(Measured::of(rate, &samples))
}

/// `wrk -t1 -c{connections} -d{secs}s --latency` on `url` with `cookie`, after a 2 s warm-up;
/// `None` when `wrk` is not installed.
async fn wrk(
    url: &str,
    cookie: &str,
    connections: usize,
    how_long: Duration,
) -> anyhow::Result<Option<Measured>> {
    let run = |secs: u64| {
        tokio::process::Command::new("wrk")
            .args([
                "-t1",
                &format!("-c{connections}"),
                &format!("-d{secs}s"),
                "--latency",
            ])
            .args(["-H", &format!("Cookie: {cookie}"), url])
            .output()
    };
    match run(2).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let out = run(how_long.as_secs().max(1)).await?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(out.status.success(), "wrk failed: {text}");
    anyhow::ensure!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "{url}: errors under load: {text}"
    );
    let field = |label: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| anyhow::anyhow!("no {label:?} in wrk's output: {text}"))
    };
    Ok(Some(Measured {
        rate: field("Requests/sec:")?.parse()?,
        p50: wrk_duration(&field("50%")?)?,
        p99: wrk_duration(&field("99%")?)?,
        by: "wrk",
    }))
}

/// `812.00us`, `4.21ms`, `1.02s` as wrk prints them.
fn wrk_duration(text: &str) -> anyhow::Result<Duration> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| anyhow::anyhow!("no unit in {text:?}"))?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse()?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => anyhow::bail!("unknown unit in {text:?}"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// A bank account of `tenant` as the sync creates one (`ledger::ensure_account`, KB id
/// `bench`) with `rows` booked rows written by `fill`: an `INSERT INTO transactions … SELECT …
/// FROM generate_series(1, $3) n` given the account (`$1`), `now` (`$2`) and `rows` (`$3`).
/// Returns the account's id.
pub async fn bench_account(
    pool: &PgPool,
    tenant: &Tenant,
    now: time::OffsetDateTime,
    rows: i64,
    fill: &str,
) -> anyhow::Result<uuid::Uuid> {
    let account = uuid::Uuid::now_v7();
    let mut tx = kasa::db::tenant::TenantTx::begin(pool, tenant).await?;
    let info = kasa::sync::ledger::AccountInfo {
        id: account,
        kb_account_id: "bench".into(),
        iban: "CZ6501000000000123456789".into(),
        currency: "CZK".into(),
        name: Some("Běžný účet".into()),
    };
    kasa::sync::ledger::ensure_account(&mut tx, &info, now).await?;
    sqlx::query(fill)
        .bind(account)
        .bind(now)
        .bind(rows)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(account)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The value at quantile `p` (0 to 1) of `sorted`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Prints p50/p99/max of `latencies`.
pub fn report(what: &str, latencies: &mut [Duration]) {
    latencies.sort();
    if latencies.is_empty() {
        return;
    }
    println!(
        "{what}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        latencies.len(),
        ms(percentile(latencies, 0.5)),
        ms(percentile(latencies, 0.99)),
        latencies.last().map_or(0.0, |d| ms(*d))
    );
}

/// A private PostgreSQL cluster (default settings, fsync on) in `dir` with the database
/// `kasa_bench`; removed when dropped.
pub async fn cluster(dir: &Path) -> anyhow::Result<EmbeddedCluster> {
    cluster_with(dir, Vec::new()).await
}

/// [`cluster`] with `postgres -c` settings.
pub async fn cluster_with(
    dir: &Path,
    settings: Vec<(String, String)>,
) -> anyhow::Result<EmbeddedCluster> {
    let dir = dir.to_owned();
    let cluster = tokio::task::spawn_blocking(move || {
        EmbeddedCluster::start(
            &dir,
            &ClusterOptions {
                settings,
                watchdog: true,
                remove_on_exit: true,
            },
        )
    })
    .await??;
    kasa::app::ensure_database(&cluster, "kasa_bench").await?;
    Ok(cluster)
}

/// The built-in KB sandbox in `dir`: one account per demo customer with `transactions`
/// generated rows over the 729 days KB allows, notifications sent at once.
pub async fn sandbox(dir: &Path, transactions: usize) -> anyhow::Result<KbConnection> {
    sandbox_with(dir, transactions, |_| {}).await
}

/// [`sandbox`] with a tweak of the sandbox's configuration.
pub async fn sandbox_with(
    dir: &Path,
    transactions: usize,
    tweak: impl FnOnce(&mut SandboxConfig),
) -> anyhow::Result<KbConnection> {
    let mut config = SandboxConfig::new(dir.to_owned());
    config.seed.accounts_per_user = 1;
    config.seed.transactions_per_account = transactions;
    config.seed.days = 729;
    config.events.min_interval = Duration::from_millis(1);
    config.events.tick = Duration::from_millis(2);
    // The sandbox's JSON snapshot of a 100 000-row ledger takes a core for about half a second
    // after each change: work of the bank's side that must not compete with what is measured.
    config.snapshots = false;
    tweak(&mut config);
    let started = Instant::now();
    let sandbox = KbSandbox::start(config).await?;
    println!(
        "sandbox with {transactions} transactions per account ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(KbConnection {
        settings: kasa::app::sandbox_client_settings(&sandbox),
        sandbox: Some(sandbox),
    })
}

/// Kasa serving on a loopback port (sync worker on unless `tweak` turns it off), its pool and
/// base URL.
pub async fn serve(
    cluster: &EmbeddedCluster,
    kb: &KbConnection,
    tweak: impl FnOnce(&mut Config),
) -> anyhow::Result<(PgPool, String, kasa::web::AppState)> {
    let (pool, base, state, _) = serve_with_workers(cluster, kb, tweak).await?;
    Ok((pool, base, state))
}

/// [`serve`], also giving the workers' dependencies (to run sync workers of one's own).
pub async fn serve_with_workers(
    cluster: &EmbeddedCluster,
    kb: &KbConnection,
    tweak: impl FnOnce(&mut Config),
) -> anyhow::Result<(PgPool, String, kasa::web::AppState, kasa::app::WorkerDeps)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = Config::local_default();
    config.vault = VaultSetting::Ephemeral;
    // No spare schemas being made while a benchmark measures, unless it asks (bench_scale).
    config.spare_schemas = 0;
    tweak(&mut config);
    let kasa = Kasa::new(
        &config,
        cluster.connect_options("kasa_bench"),
        Arc::new(SystemClock),
        addr,
        kb,
    )
    .await?;
    let pool = kasa.state.pool.clone();
    let state = kasa.state.clone();
    let deps = kasa.workers.deps.clone();
    tokio::spawn(kasa.serve(listener, std::future::pending()));
    Ok((pool, format!("http://{addr}"), state, deps))
}

/// A browser-like client: cookies kept, redirects not followed.
pub fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// The `location` header of a redirect (empty when there is none).
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

pub const EMAIL: &str = "bench@kasa.example";
pub const PASSWORD: &str = "Benchmark heslo dlouhé";

/// The signed-up club: its treasurer's client (signed in) and dashboard path.
pub struct Club {
    pub web: reqwest::Client,
    pub base: String,
    pub dashboard: String,
}

impl Club {
    /// Signs up "Bench klub" and confirms the treasurer's e-mail.
    pub async fn sign_up(pool: &PgPool, base: &str) -> anyhow::Result<Club> {
        let web = browser()?;
        let response = web
            .post(format!("{base}/signup"))
            .form(&[
                ("club_name", "Bench klub"),
                ("ico", "45317054"),
                ("email", EMAIL),
                ("password", PASSWORD),
            ])
            .send()
            .await?;
        let dashboard = location(&response);
        sqlx::query("UPDATE app.users SET email_confirmed_at = now()")
            .execute(pool)
            .await?;
        Ok(Club {
            web,
            base: base.to_owned(),
            dashboard,
        })
    }

    /// The club as a tenant (for domain calls).
    pub async fn tenant(&self, pool: &PgPool) -> anyhow::Result<Tenant> {
        let (tenant_id,): (uuid::Uuid,) =
            sqlx::query_as("SELECT id FROM app.tenants WHERE status = 'active'")
                .fetch_one(pool)
                .await?;
        Tenant::load(pool, tenant_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("tenant"))
    }

    /// Another signed-in session of the treasurer (a separate cookie jar and connection).
    pub async fn another_session(&self) -> anyhow::Result<reqwest::Client> {
        let web = browser()?;
        let response = web
            .post(format!("{}/login", self.base))
            .form(&[("email", EMAIL), ("password", PASSWORD)])
            .send()
            .await?;
        anyhow::ensure!(response.status().is_redirection(), "login failed");
        Ok(web)
    }

    /// A new signed-in session of the treasurer as its cookie (`name=value`), for a load
    /// client that keeps no cookies (`wrk`).
    pub async fn session_cookie(&self) -> anyhow::Result<String> {
        let response = browser()?
            .post(format!("{}/login", self.base))
            .form(&[("email", EMAIL), ("password", PASSWORD)])
            .send()
            .await?;
        anyhow::ensure!(response.status().is_redirection(), "login failed");
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .next_back()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no session cookie"))
    }

    /// Connects KB through the sandbox's consent pages; returns the instant the browser came
    /// back with the consent (the first sync starts then).
    pub async fn connect(&self) -> anyhow::Result<Instant> {
        let response = self
            .web
            .post(format!("{}{}/bank/connect", self.base, self.dashboard))
            .form(&[("password", PASSWORD)])
            .send()
            .await?;
        let back = scripted_user::approve_registration(&location(&response), "Klient 1").await?;
        let response = self.web.get(&back).send().await?;
        let back = scripted_user::answer_consent(&location(&response), "Klient 1", true).await?;
        let connected = Instant::now();
        let response = self.web.get(&back).send().await?;
        anyhow::ensure!(
            response.status().is_redirection(),
            "connect failed: {}",
            response.status()
        );
        Ok(connected)
    }
}
