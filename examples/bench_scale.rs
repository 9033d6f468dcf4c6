//! Scale benchmark (issue 13 item 4): many clubs on one PostgreSQL.
//!
//! 1. signs up `--clubs` clubs (default 2 000) through `POST /signup` (each from its own client
//!    address) with the server's spare schemas on (`KASA_SPARE_SCHEMAS`' default, the
//!    replenisher running as in production), timing the schema's provisioning (`club
//!    provisioned` events of `club::sign_up`: a claimed spare, or inline when none was ready) and
//!    the whole request. All but the last `--burst` clubs sign up one at a time once a spare is
//!    ready (a real server's sign-ups are far apart): the claim path. The last `--burst` (default
//!    a tenth, at most 100) sign up `--concurrency` at once without waiting, faster than the
//!    replenisher: mostly the inline path. The inline path's baseline over the whole run is the
//!    replenisher's own provisioning of each spare (`spare provisioned` events of
//!    `db::spares::replenish`: the same CREATE SCHEMA and tenant migrations, committed);
//! 2. connects `--connected` of them (default half) to the KB sandbox through the consent pages
//!    (a small ledger per account), then runs their first syncs;
//! 3. times `kasa migrate`'s tenant step (`db::migrate::migrate_tenants_with`) of a synthetic new
//!    tenant migration (a column with a default) across every schema;
//! 4. closes the other clubs' clients, then lets `--users` signed-in treasurers (default 200,
//!    each of their own club) browse the dashboard, the account page and the fee overview for
//!    `--seconds`, sampling this process's RSS (server, in-process KB sandbox and the HTTP
//!    clients together) and the PostgreSQL cluster's (every server process), and the database
//!    size;
//! 5. runs the sync worker's loop with every account connected and nothing due for `--idle`
//!    seconds and reads the CPU this process and PostgreSQL used, beside the cost of one idle
//!    claim;
//! 6. makes every connected account due at once and syncs them with 1, 2 and 4 workers
//!    (accounts/s).
//!
//! Run: `cargo run --release --example bench_scale -- [--clubs 2000] [--connected 1000]
//! [--users 200] [--seconds 30] [--idle 60] [--transactions 20] [--concurrency 4] [--burst 100]`.
//! A quick try: `cargo run --example bench_scale -- --clubs 40 --seconds 3 --idle 5`.

#[path = "common/mod.rs"]
mod common;

use common::{location, ms, percentile};
use kasa::kb_sandbox::scripted_user;
use sqlx::PgPool;
use sqlx::migrate::{Migration, MigrationType};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, filter::Targets};

const PASSWORD: &str = common::PASSWORD;
/// A valid IČO (all clubs share it: allowed, the person is only told).
const ICO: &str = "45317054";

/// The command line.
struct Args {
    clubs: usize,
    connected: usize,
    users: usize,
    seconds: u64,
    idle: u64,
    transactions: usize,
    concurrency: usize,
    burst: usize,
}

impl Args {
    fn parse() -> anyhow::Result<Args> {
        let mut args = Args {
            clubs: 2000,
            connected: usize::MAX,
            users: 200,
            seconds: 30,
            idle: 60,
            transactions: 20,
            concurrency: 4,
            burst: usize::MAX,
        };
        let raw: Vec<String> = std::env::args().skip(1).collect();
        for pair in raw.chunks(2) {
            let value = pair
                .get(1)
                .ok_or_else(|| anyhow::anyhow!("{} needs a value", pair[0]))?;
            let n: u64 = value.parse()?;
            match pair[0].as_str() {
                "--clubs" => args.clubs = n as usize,
                "--connected" => args.connected = n as usize,
                "--users" => args.users = n as usize,
                "--seconds" => args.seconds = n,
                "--idle" => args.idle = n,
                "--transactions" => args.transactions = n as usize,
                "--concurrency" => args.concurrency = n.max(1) as usize,
                "--burst" => args.burst = n as usize,
                other => anyhow::bail!("unknown flag {other}"),
            }
        }
        if args.connected == usize::MAX {
            args.connected = args.clubs / 2;
        }
        args.connected = args.connected.clamp(1, args.clubs.max(1));
        if args.burst == usize::MAX {
            args.burst = (args.clubs / 10).min(100);
        }
        args.burst = args.burst.min(args.clubs);
        args.users = args.users.min(args.connected);
        Ok(args)
    }
}

/// A `club provisioned` event of `club::sign_up` or a `spare provisioned` one of
/// `db::spares::replenish`.
#[derive(Clone, Copy)]
struct Event {
    /// A sign-up (else the replenisher's spare).
    sign_up: bool,
    /// The sign-up claimed a spare.
    claimed: bool,
    provision_us: u64,
    /// The sign-up transaction, BEGIN to committed.
    transaction_us: u64,
}

/// The provisioning events, as they come.
#[derive(Clone, Default)]
struct Provisioned(Arc<Mutex<Vec<Event>>>);

impl Provisioned {
    fn take(&self) -> Vec<Event> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    claimed: bool,
    provision_us: u64,
    transaction_us: u64,
}

impl tracing::field::Visit for Fields {
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        if field.name() == "claimed" {
            self.claimed = value;
        }
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match field.name() {
            "provision_us" => self.provision_us = value,
            "transaction_us" => self.transaction_us = value,
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Provisioned {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let sign_up = fields.message == "club provisioned";
        if (sign_up || fields.message == "spare provisioned")
            && let Ok(mut v) = self.0.lock()
        {
            v.push(Event {
                sign_up,
                claimed: fields.claimed,
                provision_us: fields.provision_us,
                transaction_us: fields.transaction_us,
            });
        }
    }
}

/// The figures, printed as they are measured too (a run cut short keeps what it measured).
#[derive(Default)]
struct Table(Vec<(String, String)>);

impl Table {
    fn push(&mut self, (what, figure): (String, String)) {
        println!("{what}: {figure}");
        self.0.push((what, figure));
    }
}

/// A signed-up club: its treasurer's signed-in client and dashboard path.
struct Club {
    web: reqwest::Client,
    dashboard: String,
}

/// Signs up club `i` from its own client address (the sign-up limit is per address).
async fn sign_up(base: &str, i: usize) -> anyhow::Result<(Club, Duration)> {
    let web = common::browser()?;
    let started = Instant::now();
    let response = web
        .post(format!("{base}/signup"))
        .header(
            "x-forwarded-for",
            format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
        )
        .form(&[
            ("club_name", format!("Klub {i}").as_str()),
            ("ico", ICO),
            ("email", format!("club{i}@bench.example").as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    let took = started.elapsed();
    let dashboard = location(&response);
    anyhow::ensure!(
        dashboard.starts_with("/t/"),
        "sign-up {i}: {} {dashboard}",
        response.status()
    );
    Ok((Club { web, dashboard }, took))
}

/// Connects the club through the sandbox's consent pages (KB customer "Klient 1").
async fn connect(base: &str, club: &Club) -> anyhow::Result<()> {
    let response = club
        .web
        .post(format!("{base}{}/bank/connect", club.dashboard))
        .form(&[("password", PASSWORD)])
        .send()
        .await?;
    let back = scripted_user::approve_registration(&location(&response), "Klient 1").await?;
    let response = club.web.get(&back).send().await?;
    let back = scripted_user::answer_consent(&location(&response), "Klient 1", true).await?;
    let response = club.web.get(&back).send().await?;
    anyhow::ensure!(
        response.status().is_redirection(),
        "connect failed: {}",
        response.status()
    );
    Ok(())
}

/// Runs `job(i)` for `i` in `0..n`, at most `concurrency` at once; the results in order.
async fn each<T, F, Fut>(n: usize, concurrency: usize, job: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < n || !tasks.is_empty() {
        while next < n && tasks.len() < concurrency {
            let fut = job(next);
            let i = next;
            tasks.spawn(async move { fut.await.map(|t| (i, t)) });
            next += 1;
        }
        if let Some(done) = tasks.join_next().await {
            let (i, t) = done??;
            results[i] = Some(t);
        }
    }
    Ok(results.into_iter().flatten().collect())
}

/// p50/p99/max of microsecond samples, in ms.
fn spread_us(samples: &[u64]) -> String {
    let mut d: Vec<Duration> = samples
        .iter()
        .map(|&us| Duration::from_micros(us))
        .collect();
    spread(&mut d)
}

fn spread(samples: &mut [Duration]) -> String {
    samples.sort();
    if samples.is_empty() {
        return "no samples".into();
    }
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
        ms(percentile(samples, 0.5)),
        ms(percentile(samples, 0.99)),
        samples.last().map_or(0.0, |d| ms(*d)),
        samples.len()
    )
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `RssAnon`, `RssShmem`, `VmHWM`).
fn status_kb(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU of a process so far, in seconds (`/proc/<pid>/stat`, USER_HZ = 100).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command: state (0), ppid (1), … utime (11), stime (12).
    (tick(11) + tick(12)) / 100.0
}

/// The cluster's postmaster and its children (every PostgreSQL server process).
fn postgres_pids(cluster_dir: &Path) -> Vec<String> {
    let Some(master) = std::fs::read_to_string(cluster_dir.join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
    else {
        return Vec::new();
    };
    let mut pids = vec![master.clone()];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned));
        if ppid.as_deref() == Some(master.as_str()) {
            pids.push(pid);
        }
    }
    pids
}

/// Memory of the PostgreSQL cluster now, in MB: private memory of all its processes summed, the
/// shared memory the most of them touched (shared buffers; counted once), and how many processes.
fn postgres_memory(cluster_dir: &Path) -> (f64, f64, usize) {
    let pids = postgres_pids(cluster_dir);
    let anon: u64 = pids.iter().map(|p| status_kb(p, "RssAnon")).sum();
    let shmem = pids
        .iter()
        .map(|p| status_kb(p, "RssShmem"))
        .max()
        .unwrap_or(0);
    (anon as f64 / 1024.0, shmem as f64 / 1024.0, pids.len())
}

fn postgres_cpu(cluster_dir: &Path) -> f64 {
    postgres_pids(cluster_dir)
        .iter()
        .map(|p| cpu_seconds(p))
        .sum()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits until the server's replenisher has a spare ready (at most a minute).
async fn wait_for_spare(pool: &PgPool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while kasa::db::spares::ready(pool).await? == 0 {
        anyhow::ensure!(Instant::now() < deadline, "no spare schema after a minute");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn count(pool: &PgPool, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

/// Runs `workers` sync workers until nothing is due; (syncs run, seconds).
async fn sync_all(
    deps: &kasa::app::WorkerDeps,
    settings: &kasa::sync::worker::SyncSettings,
    workers: usize,
) -> anyhow::Result<(usize, f64)> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let worker = kasa::app::sync_worker(deps, settings.clone());
        tasks.spawn(async move { worker.run_until_idle(100_000).await });
    }
    let mut ran = 0;
    while let Some(done) = tasks.join_next().await {
        ran += done??;
    }
    Ok((ran, started.elapsed().as_secs_f64()))
}

/// Every URL in turn from each client until `how_long` passed: requests/s and the latencies of
/// each page kind (by the index of the URL in its client's list).
async fn browse(
    clients: Vec<(reqwest::Client, Vec<String>)>,
    how_long: Duration,
) -> anyhow::Result<(f64, Vec<Vec<Duration>>)> {
    let started = Instant::now();
    let deadline = started + how_long;
    let mut tasks = tokio::task::JoinSet::new();
    for (client, urls) in clients {
        tasks.spawn(async move {
            let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); urls.len()];
            let mut i = 0;
            while Instant::now() < deadline {
                let url = &urls[i % urls.len()];
                let t = Instant::now();
                let response = client.get(url).send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "{url}: {}",
                    response.status()
                );
                response.bytes().await?;
                samples[i % urls.len()].push(t.elapsed());
                i += 1;
            }
            Ok(samples)
        });
    }
    let mut all: Vec<Vec<Duration>> = Vec::new();
    let mut n = 0;
    while let Some(samples) = tasks.join_next().await {
        for (kind, s) in samples??.into_iter().enumerate() {
            if all.len() <= kind {
                all.resize(kind + 1, Vec::new());
            }
            n += s.len();
            all[kind].extend(s);
        }
    }
    Ok((n as f64 / started.elapsed().as_secs_f64(), all))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let provisioned = Provisioned::default();
    tracing_subscriber::registry()
        .with(
            provisioned.clone().with_filter(
                Targets::new()
                    .with_target("kasa::club", tracing::Level::DEBUG)
                    .with_target("kasa::db::spares", tracing::Level::DEBUG),
            ),
        )
        .with(
            tracing_subscriber::fmt::layer().with_filter(
                std::env::var("RUST_LOG")
                    .ok()
                    .and_then(|v| v.parse::<Targets>().ok())
                    .unwrap_or_else(|| Targets::new().with_default(tracing::Level::ERROR)),
            ),
        )
        .init();
    let me = std::process::id().to_string();
    let tmp = std::env::temp_dir().join(format!("kasa-bench-scale-{me}"));
    println!(
        "bench_scale: {} clubs, {} connected, {} browsing users; load average at start {}",
        args.clubs,
        args.connected,
        args.users,
        load_average()
    );

    // Default settings but a smaller WAL between checkpoints: a thousand empty club schemas
    // take over a gigabyte of disk already (docs/scaling.md).
    let cluster = common::cluster_with(
        &tmp.join("pg"),
        vec![("max_wal_size".into(), "256MB".into())],
    )
    .await?;
    let cluster_dir = cluster.dir().to_owned();
    let kb = common::sandbox_with(&tmp.join("sandbox"), args.transactions, |c| {
        // Every account is synced several times within the hour here.
        c.behaviour.unchanged_data_limit = None;
        c.behaviour.token_rate_limit = u32::MAX;
        c.events.min_interval = Duration::from_secs(300);
        c.events.tick = Duration::from_secs(1);
    })
    .await?;
    let (pool, base, _state, deps) = common::serve_with_workers(&cluster, &kb, |c| {
        c.run_sync_worker = false;
        c.trust_proxy = true;
        // Spare schemas as a server runs them by default.
        c.spare_schemas = kasa::config::Config::local_default().spare_schemas;
    })
    .await?;
    let rss_idle = status_kb(&me, "VmRSS") as f64 / 1024.0;
    let rss = || format!("{:.0}", status_kb(&me, "VmRSS") as f64 / 1024.0);
    let mut phases = vec![("started", rss())];
    let mut table = Table::default();

    // 1. Sign-ups: one at a time with a spare ready (the claim path), then a burst faster than
    //    the replenisher (mostly the inline path).
    let calm = args.clubs - args.burst;
    let started = Instant::now();
    let mut signed = Vec::with_capacity(args.clubs);
    let mut calm_requests = Vec::with_capacity(calm);
    for i in 0..calm {
        wait_for_spare(&pool).await?;
        let (club, took) = sign_up(&base, i).await?;
        calm_requests.push(took);
        signed.push(club);
    }
    let calm_secs = started.elapsed().as_secs_f64();
    wait_for_spare(&pool).await?;
    let started = Instant::now();
    let base_ = base.clone();
    let burst = each(args.burst, args.concurrency, move |i| {
        let base = base_.clone();
        async move { sign_up(&base, calm + i).await }
    })
    .await?;
    let burst_secs = started.elapsed().as_secs_f64();
    let mut burst_requests: Vec<Duration> = burst.iter().map(|s| s.1).collect();
    signed.extend(burst.into_iter().map(|s| s.0));
    sqlx::query("UPDATE app.users SET email_confirmed_at = now()")
        .execute(&pool)
        .await?;
    let events = provisioned.take();
    let of = |pick: &dyn Fn(&Event) -> bool, value: fn(&Event) -> u64| -> Vec<u64> {
        events.iter().filter(|e| pick(e)).map(value).collect()
    };
    let claimed = |e: &Event| e.sign_up && e.claimed;
    let inline = |e: &Event| e.sign_up && !e.claimed;
    let spare = |e: &Event| !e.sign_up;
    let provision_us = |e: &Event| e.provision_us;
    let transaction_us = |e: &Event| e.transaction_us;
    for (what, samples) in [
        (
            "sign-up provisioning, a ready spare claimed (one UPDATE … SKIP LOCKED)",
            of(&claimed, provision_us),
        ),
        (
            "sign-up provisioning inline, no spare ready (CREATE SCHEMA + all tenant migrations)",
            of(&inline, provision_us),
        ),
        (
            "baseline: a spare's provisioning by the replenisher (the inline path's work, committed)",
            of(&spare, provision_us),
        ),
    ] {
        table.push((format!("{what}, n={}", samples.len()), spread_us(&samples)));
        if samples.len() >= 20 {
            let tenth = samples.len() / 10;
            table.push(("  first tenth".into(), spread_us(&samples[..tenth])));
            table.push((
                "  last tenth".into(),
                spread_us(&samples[samples.len() - tenth..]),
            ));
        }
    }
    table.push((
        "sign-up transaction with a claimed spare, BEGIN to committed (hash excluded)".into(),
        spread_us(&of(&claimed, transaction_us)),
    ));
    table.push((
        "sign-up transaction inline, BEGIN to committed (hash excluded)".into(),
        spread_us(&of(&inline, transaction_us)),
    ));
    table.push((
        format!(
            "POST /signup one at a time once a spare is ready ({calm} clubs, Argon2id included)"
        ),
        format!(
            "{}; {:.1} sign-ups/s (paced by the replenisher)",
            spread(&mut calm_requests),
            calm as f64 / calm_secs.max(f64::EPSILON)
        ),
    ));
    table.push((
        format!(
            "POST /signup, {} at once without waiting ({} clubs)",
            args.concurrency, args.burst
        ),
        format!(
            "{}; {:.1} sign-ups/s",
            spread(&mut burst_requests),
            args.burst as f64 / burst_secs.max(f64::EPSILON)
        ),
    ));
    println!(
        "signed up {} clubs in {:.1} s",
        args.clubs,
        calm_secs + burst_secs
    );
    phases.push(("signed up", rss()));

    // 2. Connections, then every first sync.
    let mut clubs: Vec<Club> = signed;
    clubs.truncate(args.connected);
    let clubs = Arc::new(clubs);
    let started = Instant::now();
    let (base_, clubs_) = (base.clone(), clubs.clone());
    let mut connects = each(args.connected, args.concurrency, move |i| {
        let (base, clubs) = (base_.clone(), clubs_.clone());
        async move {
            let t = Instant::now();
            connect(&base, &clubs[i]).await?;
            Ok(t.elapsed())
        }
    })
    .await?;
    table.push((
        format!(
            "connect through the consent pages, {} at once",
            args.concurrency
        ),
        spread(&mut connects),
    ));
    println!(
        "connected {} clubs in {:.1} s",
        args.connected,
        started.elapsed().as_secs_f64()
    );
    phases.push(("connected", rss()));
    let settings = kasa::sync::worker::SyncSettings::default();
    let (ran, secs) = sync_all(&deps, &settings, 4).await?;
    phases.push(("first syncs", rss()));
    table.push((
        format!(
            "first syncs ({} transactions per account), 4 workers",
            args.transactions
        ),
        format!(
            "{ran} syncs in {secs:.1} s = {:.1} accounts/s",
            ran as f64 / secs
        ),
    ));

    // 3. A new tenant migration across every schema.
    let mut migrations = kasa::db::migrate::tenant_migrations().to_vec();
    migrations.push(Migration::new(
        kasa::db::migrate::latest_tenant_version() + 1,
        "bench column".into(),
        MigrationType::Simple,
        "ALTER TABLE members ADD COLUMN bench_flag boolean NOT NULL DEFAULT false".into(),
        false,
    ));
    let started = Instant::now();
    let report = kasa::db::migrate::migrate_tenants_with(&pool, &migrations).await?;
    let migrate_secs = started.elapsed().as_secs_f64();
    // Every club and the spares ready then (the replenisher may have added one meanwhile).
    anyhow::ensure!(
        report.failed.is_empty() && report.migrated >= args.clubs,
        "migration: {report:?}"
    );
    table.push((
        format!(
            "a new tenant migration across {} schemas ({} clubs and {} spares)",
            report.migrated,
            args.clubs,
            report.migrated - args.clubs
        ),
        format!(
            "{migrate_secs:.1} s ({:.1} ms a schema)",
            migrate_secs * 1000.0 / report.migrated as f64
        ),
    ));

    phases.push(("migrated", rss()));

    // 4. Browsing: memory and database size.
    let accounts: Vec<(uuid::Uuid, uuid::Uuid)> =
        sqlx::query_as("SELECT tenant_id, id FROM app.bank_accounts")
            .fetch_all(&pool)
            .await?;
    let mut users = Vec::new();
    for club in clubs.iter().take(args.users) {
        let key = club.dashboard.trim_start_matches("/t/");
        let id = kasa::db::tenant::TenantKey::parse(key)
            .and_then(|k| k.id())
            .ok_or_else(|| anyhow::anyhow!("club key {key}"))?;
        let account = accounts
            .iter()
            .find(|(t, _)| *t == uuid::Uuid::from(id))
            .map(|a| a.1)
            .ok_or_else(|| anyhow::anyhow!("no account for {key}"))?;
        let page = format!("{base}{}", club.dashboard);
        users.push((
            club.web.clone(),
            vec![
                page.clone(),
                format!("{page}/accounts/{account}"),
                format!("{page}/fees"),
            ],
        ));
    }
    // Only the browsing users stay signed in with open connections: the other clubs' clients
    // (kept since they connected, with idle keep-alive connections the server holds too) are
    // not part of the 200-user scenario whose memory is measured.
    drop(clubs);
    tokio::time::sleep(Duration::from_secs(1)).await;
    phases.push(("the non-browsing clubs' clients closed", rss()));
    let sampling = Arc::new(Mutex::new((0f64, 0f64, 0f64, 0usize)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sampler = {
        let (sampling, me, dir) = (sampling.clone(), me.clone(), cluster_dir.clone());
        tokio::spawn(async move {
            while !*stop_rx.borrow() {
                let rss = status_kb(&me, "VmRSS") as f64 / 1024.0;
                let (anon, shmem, procs) = postgres_memory(&dir);
                if let Ok(mut peak) = sampling.lock() {
                    peak.0 = peak.0.max(rss);
                    peak.1 = peak.1.max(anon);
                    peak.2 = peak.2.max(shmem);
                    peak.3 = peak.3.max(procs);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let (rate, mut pages) = browse(users, Duration::from_secs(args.seconds)).await?;
    let _ = stop_tx.send(true);
    sampler.await?;
    let peak = *sampling
        .lock()
        .map_err(|_| anyhow::anyhow!("sampler poisoned"))?;
    for (name, samples) in ["dashboard", "account page", "fee overview"]
        .iter()
        .zip(pages.iter_mut())
    {
        table.push((
            format!("{name}, {} users browsing", args.users),
            spread(samples),
        ));
    }
    table.push((
        "pages served while browsing".into(),
        format!("{rate:.0} requests/s"),
    ));
    table.push((
        "this process's RSS (server + KB sandbox + clients): idle before sign-ups / peak browsing"
            .into(),
        format!(
            "{rss_idle:.0} MB / {:.0} MB (VmHWM {:.0} MB)",
            peak.0,
            status_kb(&me, "VmHWM") as f64 / 1024.0
        ),
    ));
    table.push((
        "PostgreSQL RSS peak browsing: private (all processes) + shared".into(),
        format!("{:.0} MB + {:.0} MB ({} processes)", peak.1, peak.2, peak.3),
    ));
    let db_size: i64 = count(&pool, "SELECT pg_database_size(current_database())").await?;
    let catalog: i64 = count(
        &pool,
        "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog' AND c.relkind = 'r'",
    )
    .await?;
    let relations = count(&pool, "SELECT count(*) FROM pg_class").await?;
    table.push((
        "database size (of which the system catalog)".into(),
        format!(
            "{:.0} MB ({:.0} MB; {relations} relations in pg_class)",
            db_size as f64 / 1048576.0,
            catalog as f64 / 1048576.0
        ),
    ));

    // 5. The scheduler idle: every account connected, nothing due.
    sqlx::query("UPDATE app.sync_jobs SET due_at = now() + interval '1 hour'")
        .execute(&pool)
        .await?;
    let claims = 100;
    let started = Instant::now();
    for _ in 0..claims {
        let claimed = kasa::sync::jobs::claim(
            &pool,
            "bench",
            time::Duration::minutes(5),
            deps.clock.now(),
            4,
        )
        .await?;
        anyhow::ensure!(claimed.is_empty(), "a job was due");
    }
    let claim_ms = started.elapsed().as_secs_f64() * 1000.0 / claims as f64;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = kasa::app::sync_worker(&deps, settings.clone());
    let running = tokio::spawn(worker.run(stop_rx, deps.sync_wake.clone()));
    let (cpu0, pg0) = (cpu_seconds(&me), postgres_cpu(&cluster_dir));
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let (cpu1, pg1) = (cpu_seconds(&me), postgres_cpu(&cluster_dir));
    let _ = stop_tx.send(true);
    running.await?;
    table.push((
        format!(
            "idle, {} accounts connected, sync loop polling every {} s: CPU of this process / PostgreSQL over {} s",
            args.connected,
            settings.idle_poll.as_secs(),
            args.idle
        ),
        format!(
            "{:.2} % / {:.2} % of a core",
            (cpu1 - cpu0) * 100.0 / args.idle as f64,
            (pg1 - pg0) * 100.0 / args.idle as f64
        ),
    ));
    table.push((
        "one idle claim (nothing due), mean of 100".into(),
        format!(
            "{claim_ms:.2} ms = {:.4} % of a core at one claim per {} s",
            claim_ms / 10.0 / settings.idle_poll.as_secs_f64(),
            settings.idle_poll.as_secs()
        ),
    ));

    // 6. Every account due at once.
    for workers in [1, 2, 4] {
        sqlx::query("UPDATE app.sync_jobs SET due_at = now() - interval '1 second'")
            .execute(&pool)
            .await?;
        let (ran, secs) = sync_all(&deps, &settings, workers).await?;
        let failing = count(
            &pool,
            "SELECT count(*) FROM app.sync_jobs WHERE attempts > 0",
        )
        .await?;
        table.push((
            format!(
                "all {} accounts due at once, {workers} worker(s) of {} concurrent syncs",
                args.connected, settings.batch
            ),
            format!(
                "{ran} syncs in {secs:.1} s = {:.1} accounts/s ({failing} failing)",
                ran as f64 / secs
            ),
        ));
    }

    phases.push(("synced with 1, 2, 4 workers", rss()));
    table.push((
        "this process's RSS (MB) after each step".into(),
        phases
            .iter()
            .map(|(step, mb)| format!("{step} {mb}"))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    let (anon, shmem, procs) = postgres_memory(&cluster_dir);
    table.push((
        "PostgreSQL RSS after the syncs (every connected club's tables touched by the pool's connections): private + shared".to_owned(),
        format!("{anon:.0} MB + {shmem:.0} MB ({procs} processes)"),
    ));

    println!("\n| what | figure |\n|---|---|");
    for (what, figure) in &table.0 {
        println!("| {what} | {figure} |");
    }
    println!("\nload average at the end: {}", load_average());
    drop(kb);
    cluster.stop();
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
