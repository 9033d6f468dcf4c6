//! Member-fee benchmarks (issue 8), on a club with `members` members (default 2 000), a monthly
//! fee for two years (24 charges each: 48 000) and about 100 000 transactions from the KB
//! sandbox's generator:
//!
//! 1. matching on the first sync: the sync hook's time (`payment::AfterSync`, inside the sync's
//!    tenant transaction) beside the ledger apply of the same sync;
//! 2. a notification sync of one payment with a member's VS: payment sent at the sandbox →
//!    matched in the club's schema (p50/p99 over `notifications`);
//! 3. the fee overview (`GET /t/{club}/fees`, first page, signed in) at 64 concurrent
//!    connections, each with its own session, beside `GET /healthz` measured the same way in the
//!    same run: requests/s, p50/p99.
//!
//! Run: `cargo run --release --example bench_fees -- [generated rows] [members] [notifications]
//! [seconds per load run]` (defaults 118500 ≈ 100 000 transactions KB lists, 2000, 200, 10).
//! Members come through `member::import` and the schedule through `payment::save_schedule`, as the
//! pages would do it. Uses a private PostgreSQL cluster (default settings, fsync on) and the
//! built-in KB sandbox on loopback. Prints the figures for docs/benchmarks.md.

#[path = "common/mod.rs"]
mod common;

use common::{Club, measure, report};
use kasa::audit::Actor;
use kasa::db::tenant::{Tenant, TenantTx};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, filter::Targets};

/// The VS of the first generated member (`kb_sandbox::generator::DEMO_MEMBER_VS_FIRST`).
const FIRST_VS: u64 = 2_025_001;
/// Concurrent connections of the load runs.
const CONNECTIONS: usize = 64;

/// One `sync timing` line of the sync worker, in milliseconds.
#[derive(Debug, Default, Clone, Copy)]
struct SyncTiming {
    rows: u64,
    fetch_ms: u64,
    ledger_ms: u64,
    after_apply_ms: u64,
}

/// Collects the sync worker's `sync timing` events.
#[derive(Clone, Default)]
struct Timings(Arc<Mutex<Vec<SyncTiming>>>);

impl Timings {
    fn take(&self) -> Vec<SyncTiming> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    timing: SyncTiming,
}

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match field.name() {
            "rows" => self.timing.rows = value,
            "fetch_ms" => self.timing.fetch_ms = value,
            "ledger_ms" => self.timing.ledger_ms = value,
            "after_apply_ms" => self.timing.after_apply_ms = value,
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Timings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message == "sync timing"
            && let Ok(mut v) = self.0.lock()
        {
            v.push(fields.timing);
        }
    }
}

/// `members` members with the VS the sandbox's generated payers use, in three groups, members
/// since 2020: a CSV as a club would export it.
fn member_list(members: u64) -> String {
    const FIRST: [&str; 8] = [
        "Jan", "Eva", "Petr", "Jana", "Tomáš", "Lucie", "Martin", "Hana",
    ];
    const LAST: [&str; 8] = [
        "Novák",
        "Svobodová",
        "Dvořák",
        "Černá",
        "Procházka",
        "Kučerová",
        "Veselý",
        "Horáková",
    ];
    const GROUPS: [&str; 3] = ["žáci", "dorost", "dospělí"];
    let mut csv = String::from("Jméno;Příjmení;VS;E-mail;Skupina;Členem od\n");
    for i in 0..members {
        let n = i as usize;
        csv.push_str(&format!(
            "{} {};{};{};clen{i}@example.cz;{};1.1.2020\n",
            FIRST[n % 8],
            i,
            LAST[(n / 8) % 8],
            FIRST_VS + i,
            GROUPS[n % 3],
        ));
    }
    csv
}

/// Imports the members and saves a monthly 500 Kč fee starting 1 January of the previous year
/// (the earliest start a schedule may have: 23 periods on 30 Nov 2026), both as the pages do it.
/// Returns the number of charges.
async fn club_data(pool: &PgPool, tenant: &Tenant, members: u64) -> anyhow::Result<i64> {
    let (user_id, email): (kasa::auth::UserId, String) =
        sqlx::query_as("SELECT id, email FROM app.users")
            .fetch_one(pool)
            .await?;
    let actor = Actor {
        user_id: Some(user_id),
        email: Some(email),
    };
    let now = kasa::clock::Clock::now(&kasa::clock::SystemClock);
    let today = kasa::i18n::to_prague(now).date();
    let started = Instant::now();
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let list = member_list(members);
    let upload = kasa::member::import::upload(&mut tx, &actor, "clenove.csv", list.as_bytes(), now)
        .await
        .map_err(|e| anyhow::anyhow!("upload: {e}"))?;
    let summary = kasa::member::import::confirm(&mut tx, &actor, upload, now)
        .await
        .map_err(|e| anyhow::anyhow!("import: {e}"))?;
    tx.commit().await?;
    println!(
        "imported {} members in {:.2} s",
        summary.created,
        started.elapsed().as_secs_f64()
    );

    let first = time::Date::from_calendar_date(today.year() - 1, time::Month::January, 1)?;
    let draft = kasa::fee::ScheduleDraft {
        name: "Členský příspěvek".into(),
        amount: "500".into(),
        period: "month".into(),
        due_day: "15".into(),
        grace_days: "14".into(),
        applies_to: "everyone".into(),
        starts_on: first.to_string(),
        ..Default::default()
    };
    let input = draft
        .parse()
        .map_err(|problems| anyhow::anyhow!("schedule: {problems:?}"))?;
    let started = Instant::now();
    let mut tx = TenantTx::begin(pool, tenant).await?;
    kasa::payment::save_schedule(&mut tx, &actor, None, &input, today, now)
        .await
        .map_err(|e| anyhow::anyhow!("schedule: {e}"))?;
    let (charges,): (i64,) = sqlx::query_as("SELECT count(*) FROM charges")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    println!(
        "monthly schedule from {first}: {charges} charges in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(charges)
}

async fn tenant_count(pool: &PgPool, tenant: &Tenant, sql: &str) -> anyhow::Result<i64> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(n)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let timings = Timings::default();
    let fmt = std::env::var_os("RUST_LOG").map(|_| {
        tracing_subscriber::fmt::layer()
            .with_filter(tracing_subscriber::EnvFilter::from_default_env())
    });
    tracing_subscriber::registry()
        .with(
            timings.clone().with_filter(
                Targets::new().with_target("kasa::sync::worker", tracing::Level::DEBUG),
            ),
        )
        .with(fmt)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let generated = arg(1, 118_500) as usize;
    let members = arg(2, 2_000);
    let notifications = arg(3, 200);
    let seconds = arg(4, 10);
    let tmp = std::env::temp_dir().join(format!("kasa-bench-fees-{}", std::process::id()));

    let cluster = common::cluster(&tmp.join("pg")).await?;
    let kb = common::sandbox(&tmp.join("sandbox"), generated).await?;
    let sandbox = kb.sandbox.as_ref().expect("sandbox");
    let (pool, base, _) = common::serve(&cluster, &kb, |_| {}).await?;
    let club = Club::sign_up(&pool, &base).await?;
    let tenant = club.tenant(&pool).await?;
    let charges = club_data(&pool, &tenant, members).await?;

    // 1. The first sync, with matching in its transaction.
    timings.take();
    let connected = club.connect().await?;
    let (account, kb_account): (uuid::Uuid, String) =
        sqlx::query_as("SELECT id, kb_account_id FROM app.bank_accounts")
            .fetch_one(&pool)
            .await?;
    loop {
        let synced = tenant_count(
            &pool,
            &tenant,
            &format!("SELECT count(*) FROM sync_runs WHERE account_id = '{account}' AND outcome = 'synced'"),
        )
        .await?;
        if synced > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_sync = connected.elapsed();
    let transactions = tenant_count(&pool, &tenant, "SELECT count(*) FROM transactions").await?;
    let decisions = tenant_count(&pool, &tenant, "SELECT count(*) FROM payment_decisions").await?;
    let allocations = tenant_count(&pool, &tenant, "SELECT count(*) FROM allocations").await?;
    let paid = tenant_count(
        &pool,
        &tenant,
        "SELECT count(*) FROM charges c WHERE EXISTS (SELECT 1 FROM allocations a WHERE a.charge_id = c.id)",
    )
    .await?;
    let timing = timings.take().first().copied().unwrap_or_default();
    let sync_s = first_sync.as_secs_f64();
    println!(
        "first sync of {transactions} transactions ({} rows fetched) against {charges} charges: {sync_s:.2} s connect to committed \
         (fetch {:.2} s, ledger apply {:.2} s, matching {:.2} s = {:.0} % of the sync); \
         {decisions} decisions, {allocations} allocations, {paid} charges (partly) paid",
        timing.rows,
        timing.fetch_ms as f64 / 1000.0,
        timing.ledger_ms as f64 / 1000.0,
        timing.after_apply_ms as f64 / 1000.0,
        100.0 * timing.after_apply_ms as f64 / 1000.0 / sync_s,
    );

    // 2. A notification sync of one payment with a member's VS → matched in the schema. Members
    //    past the generated payers (VS beyond 600), one each.
    let http = reqwest::Client::new();
    let mut latencies = Vec::new();
    for i in 0..notifications {
        let vs = (FIRST_VS + 1_000 + i % (members.saturating_sub(1_000).max(1))).to_string();
        // The probe reads only rows newer than this (a primary-key range): polled every 2 ms,
        // it must not take the CPU the sync it waits for needs.
        let newest = tenant_count(
            &pool,
            &tenant,
            "SELECT COALESCE(max(id), 0) FROM transactions",
        )
        .await?;
        let sent = Instant::now();
        http.post(format!("{}/control/payments", sandbox.browser_base_url))
            .json(
                &serde_json::json!({"account": kb_account, "amount_minor": 50_000, "vs": vs,
                                      "message": format!("bench {i}")}),
            )
            .send()
            .await?
            .error_for_status()?;
        let probe = format!(
            "SELECT count(*) FROM payment_decisions d JOIN transactions t ON t.id = d.transaction_id \
              WHERE t.id > {newest} AND t.variable_symbol = '{vs}' AND t.message = 'bench {i}' \
                AND d.outcome IN ('matched', 'overpaid', 'partly_paid')"
        );
        while tenant_count(&pool, &tenant, &probe).await? == 0 {
            anyhow::ensure!(
                sent.elapsed() < Duration::from_secs(60),
                "payment {vs} was never matched"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(sent.elapsed());
    }
    report(
        "notification sync of one payment → matched in the schema",
        &mut latencies,
    );
    let mut hook: Vec<Duration> = timings
        .take()
        .iter()
        .map(|t| Duration::from_millis(t.after_apply_ms))
        .collect();
    report("  of which matching (sync hook), per sync", &mut hook);

    // 3. The overview beside /healthz, 64 connections, each its own signed-in session.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut sessions = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        sessions.push(club.another_session().await?);
    }
    let overview = format!("{base}{}/fees", club.dashboard);
    let page = sessions[0].get(&overview).send().await?.text().await?;
    let rows = page.matches("<tr data-member=").count();
    println!("overview page: {} bytes, {rows} member rows", page.len());
    // The page right after the stamp moved (a payment matched, a member changed): the period is
    // computed again, one request after another.
    let mut misses = Vec::new();
    for _ in 0..50 {
        let mut tx = TenantTx::begin(&pool, &tenant).await?;
        kasa::payment::bump_stamp(&mut tx).await?;
        tx.commit().await?;
        let t = Instant::now();
        sessions[0].get(&overview).send().await?.bytes().await?;
        misses.push(t.elapsed());
    }
    report(
        "GET /t/{club}/fees right after the stamp moved (period computed)",
        &mut misses,
    );
    let how_long = Duration::from_secs(seconds);
    let cookie = club.session_cookie().await?;
    let healthz = measure(&format!("{base}/healthz"), &cookie, &sessions, how_long).await?;
    let overview_load = measure(&overview, &cookie, &sessions, how_long).await?;
    // A small signed-in page (the club's chrome, one list): what every signed-in page costs
    // before its own work.
    let schedules = format!("{base}{}/fees/schedules", club.dashboard);
    let schedules_load = measure(&schedules, &cookie, &sessions, how_long).await?;
    // The open overview's poll (the fallback when its event stream cannot be opened).
    let stamp = format!("{base}{}/fees/stamp", club.dashboard);
    let stamp_load = measure(&stamp, &cookie, &sessions, how_long).await?;
    let rate = healthz.rate;
    healthz.print("GET /healthz", CONNECTIONS, rate);
    overview_load.print("GET /t/{club}/fees", CONNECTIONS, rate);
    schedules_load.print("GET /t/{club}/fees/schedules", CONNECTIONS, rate);
    stamp_load.print("GET /t/{club}/fees/stamp", CONNECTIONS, rate);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
