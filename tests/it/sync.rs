//! The background sync against the KB sandbox over real sockets and a real database: the first
//! two-year sync, reruns, new payments and card holds, faults, racing workers and fencing, and
//! the ledger's idempotence and order independence.

use crate::helpers::{
    ICO_A, bank_account, bank_connection, fresh_database, kb_transaction_of, sandbox_ledger,
    signed_up_club,
};
use crate::kb_client::{REDIRECT_URI, client_for, onboard, sandbox};
use kasa::bank::wire::{AccountBalance, ClientCredentials, ReversalConvention, Transaction};
use kasa::bank::{Error as BankError, KbClient, KbSettings, Secret};
use kasa::clock::{Clock, ManualClock};
use kasa::db::tenant::{Tenant, TenantTx};
use kasa::sync::jobs::{self, JobState};
use kasa::sync::ledger::{self, Batch};
use kasa::sync::{AccessTokens, Problem, SyncDeps, SyncSettings, Worker};
use kb_sandbox::{FaultSettings, SandboxConfig, SandboxHandle};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Tokens from the onboarded consent, refreshed through the real token endpoint.
struct TestTokens {
    client: KbClient,
    credentials: ClientCredentials,
    refresh: std::sync::Mutex<Secret<String>>,
    cached: tokio::sync::Mutex<Option<Secret<String>>>,
    invalidated: AtomicUsize,
    gone: std::sync::Mutex<Vec<String>>,
}

impl AccessTokens for TestTokens {
    async fn access_token(&self, _connection: Uuid) -> Result<Secret<String>, BankError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let refresh = self.refresh.lock().expect("lock").clone();
        let fresh = self
            .client
            .refresh_access_token(&self.credentials, &refresh, REDIRECT_URI)
            .await?;
        *cached = Some(fresh.access_token.clone());
        Ok(fresh.access_token)
    }

    async fn invalidate(&self, _connection: Uuid) {
        *self.cached.lock().await = None;
        self.invalidated.fetch_add(1, Ordering::SeqCst);
    }

    async fn consent_gone(&self, _connection: Uuid, reason: &str) {
        self.gone.lock().expect("lock").push(reason.to_owned());
    }
}

/// A club with one connected account and its job.
struct Club {
    pool: PgPool,
    tenant: Tenant,
    /// The club's bank connection (every account of the club belongs to it).
    connection_id: Uuid,
    account_id: Uuid,
}

/// A club signed up, connected and with one account, through the domain functions.
async fn club_with_account(
    pool: &PgPool,
    kb_account_id: &str,
    iban: &str,
    now: OffsetDateTime,
) -> Club {
    let signed_up = signed_up_club(pool, "TJ Sokol Kasa", ICO_A, "pokladnik@sokol.cz", now).await;
    let tenant = signed_up.tenant;
    let connection_id = Uuid::now_v7();
    bank_connection(pool, &tenant, connection_id, signed_up.user.id, now).await;
    let account_id = bank_account(pool, &tenant, connection_id, kb_account_id, iban, now).await;
    Club {
        pool: pool.clone(),
        tenant,
        connection_id,
        account_id,
    }
}

impl Club {
    /// Adds another account of the club's connection, with its job.
    async fn add_account(&self, kb_account_id: &str, iban: &str, now: OffsetDateTime) -> Uuid {
        bank_account(
            &self.pool,
            &self.tenant,
            self.connection_id,
            kb_account_id,
            iban,
            now,
        )
        .await
    }

    /// `bank_key → (status, amount, booking date, reversal)` of an account.
    async fn rows(&self, account_id: Uuid) -> BTreeMap<String, Row> {
        let mut tx = TenantTx::begin(&self.pool, &self.tenant).await.expect("tx");
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT bank_key, id, status, amount_minor AS amount, booking_date AS booking, \
                    value_date AS value, reversal, variable_symbol AS vs \
               FROM transactions WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_all(&mut *tx)
        .await
        .expect("rows");
        rows.into_iter()
            .map(|row| (row.bank_key.clone(), row))
            .collect()
    }

    async fn account_state(&self, account_id: Uuid) -> AccountState {
        let mut tx = TenantTx::begin(&self.pool, &self.tenant).await.expect("tx");
        sqlx::query_as(
            "SELECT watermark, history_complete, fresh_as_of, stale_since, last_error, problem, \
                    progress_pages, progress_fetched FROM bank_accounts WHERE id = $1",
        )
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await
        .expect("account state")
    }

    /// `(trigger, outcome, fetched, inserted, updated, removed, reconciliation)` of each run.
    async fn runs(&self, account_id: Uuid) -> Vec<Run> {
        let mut tx = TenantTx::begin(&self.pool, &self.tenant).await.expect("tx");
        sqlx::query_as(
            "SELECT trigger, outcome, pages, fetched, inserted, updated, removed, error, \
                    reconciliation FROM sync_runs WHERE account_id = $1 ORDER BY id",
        )
        .bind(account_id)
        .fetch_all(&mut *tx)
        .await
        .expect("runs")
    }

    /// Applies `batch` in one transaction of the club, as the worker does.
    async fn apply(&self, batch: &Batch<'_>) -> ledger::ApplyReport {
        let mut tx = TenantTx::begin(&self.pool, &self.tenant).await.expect("tx");
        let report = ledger::apply(&mut tx, batch).await.expect("apply");
        tx.commit().await.expect("commit");
        report
    }

    /// The outcome of the newest sync run of the club's first account.
    async fn last_outcome(&self) -> Option<String> {
        self.runs(self.account_id).await.pop().map(|r| r.outcome)
    }

    async fn job(&self, account_id: Uuid) -> JobState {
        jobs::state(&self.pool, account_id)
            .await
            .expect("job")
            .expect("job exists")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct Row {
    bank_key: String,
    id: i64,
    status: String,
    amount: i64,
    booking: Option<Date>,
    value: Option<Date>,
    reversal: bool,
    vs: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct AccountState {
    watermark: Option<Date>,
    history_complete: bool,
    fresh_as_of: Option<OffsetDateTime>,
    stale_since: Option<OffsetDateTime>,
    last_error: Option<String>,
    problem: Option<Problem>,
    progress_pages: i32,
    progress_fetched: i32,
}

#[derive(Debug, sqlx::FromRow)]
struct Run {
    trigger: String,
    outcome: String,
    pages: i32,
    fetched: i32,
    inserted: i32,
    updated: i32,
    removed: i32,
    error: Option<String>,
    reconciliation: Option<String>,
}

/// A sandbox, an onboarded club and a worker.
struct Env {
    sandbox: SandboxHandle,
    club: Club,
    clock: ManualClock,
    tokens: Arc<TestTokens>,
    deps: Arc<SyncDeps<TestTokens>>,
    kb_account_id: String,
    web: reqwest::Client,
}

async fn env(
    tweak: impl FnOnce(&mut SandboxConfig),
    request_timeout: Option<std::time::Duration>,
) -> Env {
    let sandbox = sandbox(tweak).await;
    let mut settings = kasa::app::sandbox_client_settings(&sandbox);
    if let Some(timeout) = request_timeout {
        settings.timeouts.request = timeout;
    }
    let client = KbClient::new(settings).expect("client");
    let on = onboard(&client_for(&sandbox)).await;
    let accounts = client.accounts(&on.access_token).await.expect("accounts");
    let pool = kasa::db::connect_pool(fresh_database().await, 8)
        .await
        .expect("pool");
    let clock = ManualClock::new();
    let club = club_with_account(&pool, &on.account_id, &accounts[0].iban, clock.now()).await;
    let tokens = Arc::new(TestTokens {
        client: client.clone(),
        credentials: on.credentials.clone(),
        refresh: std::sync::Mutex::new(on.refresh_token.clone()),
        cached: tokio::sync::Mutex::new(Some(on.access_token.clone())),
        invalidated: AtomicUsize::new(0),
        gone: std::sync::Mutex::new(Vec::new()),
    });
    let deps = Arc::new(SyncDeps {
        pool,
        kb: client,
        tokens: tokens.clone(),
        clock: Arc::new(clock.clone()),
        settings: SyncSettings::default(),
        after_apply: Arc::new(kasa::sync::NoHook),
    });
    Env {
        sandbox,
        club,
        clock,
        tokens,
        deps,
        kb_account_id: on.account_id,
        web: reqwest::Client::new(),
    }
}

impl Env {
    fn worker(&self, owner: &str) -> Worker<TestTokens> {
        Worker::new(self.deps.clone(), owner)
    }

    /// A worker like [`Env::worker`] whose KB client has the sandbox's settings changed by
    /// `tweak` (page size, reversal convention, …).
    fn worker_with(&self, owner: &str, tweak: impl FnOnce(&mut KbSettings)) -> Worker<TestTokens> {
        let mut settings = kasa::app::sandbox_client_settings(&self.sandbox);
        tweak(&mut settings);
        let deps = SyncDeps {
            pool: self.club.pool.clone(),
            kb: KbClient::new(settings).expect("client"),
            tokens: self.tokens.clone(),
            clock: self.deps.clock.clone(),
            settings: SyncSettings::default(),
            after_apply: self.deps.after_apply.clone(),
        };
        Worker::new(Arc::new(deps), owner)
    }

    async fn sync(&self) -> usize {
        self.worker("w1")
            .run_until_idle(5)
            .await
            .expect("sync round")
    }

    /// A KB notification: the job is due now.
    async fn notify(&self) {
        assert!(
            jobs::make_due(&self.club.pool, self.club.account_id, self.clock.now())
                .await
                .expect("make due")
        );
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let response = self
            .web
            .post(format!("{}{}", self.sandbox.browser_base_url, path))
            .json(&body)
            .send()
            .await
            .expect("control");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    /// The sandbox's ground truth as `bank_key → (status, signed amount)`.
    async fn sandbox_ledger(&self) -> BTreeMap<String, (String, i64)> {
        sandbox_ledger(&self.sandbox, Some(&self.kb_account_id))
            .await
            .iter()
            .map(|row| {
                let t: Transaction = serde_json::from_str(&row.to_string()).expect("kb row");
                let key = kasa::bank::wire::servicer_key(t.account_servicer().expect("servicer"));
                let status = if t.is_pending() { "pending" } else { "booked" };
                (key, (status.to_owned(), t.signed_minor_units()))
            })
            .collect()
    }

    async fn assert_mirrors_sandbox(&self) -> BTreeMap<String, Row> {
        let truth = self.sandbox_ledger().await;
        let rows = self.club.rows(self.club.account_id).await;
        let ours: BTreeMap<String, (String, i64)> = rows
            .iter()
            .map(|(k, r)| (k.clone(), (r.status.clone(), r.amount)))
            .collect();
        assert_eq!(ours.len(), truth.len(), "row count");
        assert_eq!(ours, truth, "same ids, statuses and amounts as the bank");
        rows
    }

    fn advance_past(&self, at: OffsetDateTime) {
        let now = self.clock.now();
        if at >= now {
            self.clock.advance(at - now + Duration::seconds(1));
        }
    }
}

fn near(actual: OffsetDateTime, expected: OffsetDateTime, slack: Duration) -> bool {
    (actual - expected).abs() <= slack
}

// ---------------------------------------------------------------------------------------------
// (a), (b): first sync and rerun
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_first_sync_mirrors_two_years_of_the_sandbox_and_a_rerun_changes_nothing() {
    let env = env(
        |c| {
            c.seed.transactions_per_account = 350;
            c.seed.days = 700;
            c.behaviour.unchanged_data_limit = None;
        },
        None,
    )
    .await;
    let started = env.clock.now();
    assert_eq!(env.sync().await, 1, "one job claimed and synced");

    let rows = env.assert_mirrors_sandbox().await;
    assert!(rows.len() > 250, "several pages: {}", rows.len());
    assert!(
        rows.values().any(|r| r.reversal),
        "storno rows kept as their own rows"
    );
    assert!(rows.values().any(|r| r.amount < 0) && rows.values().any(|r| r.amount > 0));

    let state = env.club.account_state(env.club.account_id).await;
    assert!(state.history_complete);
    assert_eq!(
        state.watermark,
        Some(kasa::i18n::prague_date(env.clock.now()))
    );
    assert!(state.fresh_as_of.is_some() && state.last_error.is_none());
    assert!(state.progress_pages >= 3, "progress: {state:?}");
    assert_eq!(state.progress_fetched as usize, rows.len());

    let runs = env.club.runs(env.club.account_id).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].trigger.as_str(), runs[0].outcome.as_str()),
        ("first", "synced")
    );
    assert_eq!(runs[0].inserted as usize, rows.len());
    assert_eq!(runs[0].pages, state.progress_pages);

    let job = env.club.job(env.club.account_id).await;
    assert!(job.lease_owner.is_none() && job.attempts == 0 && job.enabled);
    assert!(
        near(
            job.due_at,
            started + Duration::minutes(61),
            Duration::seconds(5)
        ),
        "next poll in 61 minutes: {job:?}"
    );
    assert_eq!(env.sync().await, 0, "nothing due before then");

    // Rerun over the same data (the sandbox's 61-minute rule is off here): nothing changes.
    env.notify().await;
    assert_eq!(env.sync().await, 1);
    let runs = env.club.runs(env.club.account_id).await;
    let rerun = &runs[1];
    assert_eq!(rerun.trigger, "notification");
    assert_eq!(rerun.outcome, "synced");
    assert!(rerun.fetched > 0);
    assert_eq!(
        (rerun.inserted, rerun.updated, rerun.removed),
        (0, 0, 0),
        "{rerun:?}"
    );
    assert_eq!(
        env.club.rows(env.club.account_id).await,
        rows,
        "same rows, same ids"
    );
    // Only a first sync records its progress (the pages show it until the history is
    // complete): the rerun's pages are in its run, not in the account.
    let after = env.club.account_state(env.club.account_id).await;
    assert_eq!(
        (after.progress_pages, after.progress_fetched),
        (state.progress_pages, state.progress_fetched)
    );
    env.sandbox.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// (c): payments, 429 on unchanged data, card holds, token refresh
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn payments_and_a_booked_card_hold_arrive_with_the_next_syncs() {
    let env = env(|c| c.seed.transactions_per_account = 120, None).await;
    env.sync().await;
    env.assert_mirrors_sandbox().await;

    // Unchanged data within 61 minutes: KB answers 429; that is "nothing new", not an error.
    env.notify().await;
    let before = env.clock.now();
    assert_eq!(env.sync().await, 1);
    let runs = env.club.runs(env.club.account_id).await;
    assert_eq!(runs.last().map(|r| r.outcome.as_str()), Some("unchanged"));
    let job = env.club.job(env.club.account_id).await;
    assert_eq!(job.attempts, 0);
    assert!(job.last_error.is_none() && job.stale_since.is_none());
    assert!(near(
        job.due_at,
        before + Duration::minutes(61),
        Duration::seconds(5)
    ));

    // A member pays; the next sync has it.
    let paid = env
        .control(
            "/control/payments",
            json!({"account": env.kb_account_id, "amount_minor": 150_000, "vs": "2026001",
                   "message": "Členský příspěvek", "payer_name": "Jana Dvořáková"}),
        )
        .await;
    let paid_key = format!(
        "as:{}",
        paid["transaction"]["references"]["accountServicer"]
            .as_str()
            .expect("id")
    );
    // An expired access token on the way: refreshed once, then the sync goes on.
    *env.tokens.cached.lock().await = Some(Secret::new("expired-token".to_owned()));
    env.notify().await;
    assert_eq!(env.sync().await, 1);
    assert_eq!(env.tokens.invalidated.load(Ordering::SeqCst), 1);
    let rows = env.assert_mirrors_sandbox().await;
    let row = &rows[&paid_key];
    assert_eq!((row.status.as_str(), row.amount), ("booked", 150_000));
    assert_eq!(row.vs.as_deref(), Some("2026001"));
    let run = env.club.runs(env.club.account_id).await.pop().expect("run");
    assert_eq!(
        (run.trigger.as_str(), run.inserted, run.updated),
        ("notification", 1, 0)
    );

    // A card hold: pending first, then booked under the same id — one row that changes status.
    let hold = env
        .control(
            "/control/payments",
            json!({"account": env.kb_account_id, "amount_minor": -45_050, "pending": true,
                   "payer_name": "Sportovní potřeby s.r.o."}),
        )
        .await;
    let servicer = hold["transaction"]["references"]["accountServicer"]
        .as_str()
        .expect("id")
        .to_owned();
    let hold_key = format!("as:{servicer}");
    env.notify().await;
    env.sync().await;
    let rows = env.assert_mirrors_sandbox().await;
    let pending = rows[&hold_key].clone();
    assert_eq!(
        (pending.status.as_str(), pending.amount),
        ("pending", -45_050)
    );
    let count = rows.len();

    // The account page lists the pending hold on top, then the newest booked rows first.
    let mut tx = TenantTx::begin(&env.club.pool, &env.club.tenant)
        .await
        .expect("begin");
    let listed = kasa::sync::views::transactions(&mut tx, env.club.account_id, 500)
        .await
        .expect("page");
    let held = listed.iter().take_while(|t| t.status == "pending").count();
    // A page that ends two rows into the booked ones.
    let short = kasa::sync::views::transactions(&mut tx, env.club.account_id, held as i64 + 2)
        .await
        .expect("page");
    tx.commit().await.expect("commit");
    assert_eq!(listed.len(), count, "every row fits in one page");
    assert_eq!(listed[0].id, pending.id, "the newest hold is on top");
    assert!(
        listed[held..].iter().all(|t| t.status == "booked"),
        "pending rows first"
    );
    for part in [&listed[..held], &listed[held..]] {
        let dates: Vec<Date> = part
            .iter()
            .map(|t| t.booking_date.or(t.value_date).expect("a dated row"))
            .collect();
        assert!(
            dates.windows(2).all(|w| w[0] >= w[1]),
            "newest first: {dates:?}"
        );
    }
    assert_eq!(
        short.iter().map(|t| t.id).collect::<Vec<_>>(),
        listed[..held + 2].iter().map(|t| t.id).collect::<Vec<_>>(),
        "a shorter page is the start of the longer one"
    );

    env.control(
        "/control/book-pending",
        json!({"account": env.kb_account_id, "account_servicer": servicer}),
    )
    .await;
    env.notify().await;
    env.sync().await;
    let rows = env.assert_mirrors_sandbox().await;
    assert_eq!(rows.len(), count, "booked in place, no second row");
    let booked = &rows[&hold_key];
    assert_eq!(booked.id, pending.id, "same row");
    assert_eq!(booked.status, "booked");
    assert!(booked.booking.is_some());
    let run = env.club.runs(env.club.account_id).await.pop().expect("run");
    assert_eq!(
        (run.inserted, run.updated, run.removed),
        (0, 1, 0),
        "{run:?}"
    );
    env.sandbox.shutdown().await;
}

/// A payment at the sandbox (`body` as the control API takes it, for the env's account); its
/// `accountServicer`.
async fn pay(env: &Env, mut body: Value) -> String {
    body["account"] = json!(env.kb_account_id);
    let paid = env.control("/control/payments", body).await;
    paid["transaction"]["references"]["accountServicer"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// The last run's trigger, window and fetched count, and the watermark after it.
async fn last_window(club: &Club) -> (String, Date, Date, i32, Date) {
    let mut tx = TenantTx::begin(&club.pool, &club.tenant).await.expect("tx");
    let row = sqlx::query_as(
        "SELECT r.trigger, r.window_from, r.window_to, r.fetched, a.watermark \
           FROM sync_runs r JOIN bank_accounts a ON a.id = r.account_id \
          WHERE r.account_id = $1 ORDER BY r.id DESC LIMIT 1",
    )
    .bind(club.account_id)
    .fetch_one(&mut *tx)
    .await
    .expect("last run");
    tx.commit().await.expect("commit");
    row
}

#[tokio::test]
async fn a_notified_sync_reads_only_the_last_days_and_the_periodic_run_catches_late_corrections() {
    let env = env(
        |c| {
            c.seed.transactions_per_account = 0;
            c.behaviour.unchanged_data_limit = None;
        },
        None,
    )
    .await;
    env.sync().await;
    let (_, _, _, _, watermark) = last_window(&env.club).await;
    let keys = |rows: &BTreeMap<String, Row>| rows.keys().cloned().collect::<Vec<_>>();

    // A payment today, and a correction KB books four days back: the notified sync reads the
    // day before the watermark onwards, so it sees the payment only.
    let today = pay(&env, json!({"amount_minor": 10_000, "vs": "1001"})).await;
    let four_days_ago = env.clock.now() - Duration::days(4);
    let late = pay(
        &env,
        json!({"amount_minor": 20_000, "vs": "1002", "booked_at": four_days_ago
        .format(&time::format_description::well_known::Rfc3339).expect("rfc3339")}),
    )
    .await;
    env.notify().await;
    assert_eq!(env.sync().await, 1);
    let (trigger, from, to, fetched, _) = last_window(&env.club).await;
    assert_eq!(trigger, "notification");
    assert_eq!(from, watermark - Duration::days(1), "the short window");
    assert!(to >= watermark);
    assert_eq!(fetched, 1, "only what changed is read");
    let rows = env.club.rows(env.club.account_id).await;
    assert_eq!(keys(&rows), [format!("as:{today}")]);

    // A card hold inside the short window: pending, then booked in place.
    let hold = pay(&env, json!({"amount_minor": -3_000, "pending": true})).await;
    env.notify().await;
    env.sync().await;
    let hold_key = format!("as:{hold}");
    assert_eq!(
        env.club.rows(env.club.account_id).await[&hold_key].status,
        "pending"
    );
    env.control(
        "/control/book-pending",
        json!({"account": env.kb_account_id, "account_servicer": hold}),
    )
    .await;
    env.notify().await;
    env.sync().await;
    let rows = env.club.rows(env.club.account_id).await;
    assert_eq!(rows[&hold_key].status, "booked");
    assert_eq!(
        rows.len(),
        2,
        "booked in place; the late correction is not read yet"
    );
    let (trigger, from, ..) = last_window(&env.club).await;
    assert_eq!(
        (trigger.as_str(), from),
        ("notification", watermark - Duration::days(1))
    );

    // The periodic run, an hour later, re-reads the wide overlap and catches the correction.
    env.clock
        .advance(Duration::minutes(61) + Duration::seconds(1));
    assert_eq!(env.sync().await, 1);
    let (trigger, from, ..) = last_window(&env.club).await;
    assert_eq!(trigger, "schedule");
    assert!(from <= watermark - Duration::days(7), "the wide window");
    let rows = env.assert_mirrors_sandbox().await;
    assert!(rows.contains_key(&format!("as:{late}")));

    // An account notified so often that its periodic run never comes due still gets the wide
    // read once the last one is older than the poll interval.
    let later = pay(
        &env,
        json!({"amount_minor": 30_000, "vs": "1003", "booked_at": four_days_ago
        .format(&time::format_description::well_known::Rfc3339).expect("rfc3339")}),
    )
    .await;
    env.clock.advance(Duration::minutes(30));
    env.notify().await;
    env.sync().await;
    assert!(
        !env.club
            .rows(env.club.account_id)
            .await
            .contains_key(&format!("as:{later}"))
    );
    // (The watermark as the runs since left it: they may have passed Prague's midnight.)
    let (.., watermark) = last_window(&env.club).await;
    env.clock
        .advance(Duration::minutes(31) + Duration::seconds(1));
    env.notify().await;
    env.sync().await;
    let (trigger, from, ..) = last_window(&env.club).await;
    assert_eq!(trigger, "notification");
    assert!(
        from <= watermark - Duration::days(7),
        "a notified run reads wide: from {from}, watermark {watermark}"
    );
    let rows = env.assert_mirrors_sandbox().await;
    assert!(rows.contains_key(&format!("as:{later}")));
    env.sandbox.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// (d): faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn faults_reschedule_with_backoff_and_never_duplicate_or_drop_rows() {
    let env = env(
        |c| {
            c.seed.transactions_per_account = 350;
            c.behaviour.unchanged_data_limit = None;
            // The sandbox books the shifting row at max(window start, now - this) + 1 h: at the
            // start of the two-year window, so every later page repeats a row.
            c.behaviour.default_window_days = 800;
        },
        Some(std::time::Duration::from_millis(1500)),
    )
    .await;
    // Pages shift under the first download (a back-dated booking): detected, downloaded again.
    env.sandbox.set_faults(FaultSettings {
        shift_next_pages: 1,
        ..FaultSettings::default()
    });
    assert_eq!(env.sync().await, 1);
    assert_eq!(
        env.sandbox.faults().shift_next_pages,
        0,
        "the shift happened"
    );
    let rows = env.assert_mirrors_sandbox().await;
    // Booked at the start of the window after page 0 was read: only a new download has it.
    assert!(
        rows.values().any(|r| r.vs.as_deref() == Some("999")),
        "the back-dated booking is there"
    );
    let runs = env.club.runs(env.club.account_id).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, "synced");

    // Outages: exponential backoff with jitter, attempts counted, stale since the first.
    let mut stale_since = None;
    for (attempt, fault) in ["error", "timeout", "drop", "error"]
        .into_iter()
        .enumerate()
    {
        env.sandbox.set_faults(FaultSettings {
            next: vec![fault.to_owned()],
            timeout_ms: 5000,
            ..FaultSettings::default()
        });
        if attempt == 0 {
            env.notify().await;
        }
        let now = env.clock.now();
        assert_eq!(env.sync().await, 1, "{fault}");
        let job = env.club.job(env.club.account_id).await;
        let attempts = attempt as i32 + 1;
        assert_eq!(job.attempts, attempts, "{fault}: {job:?}");
        assert!(job.enabled && job.lease_owner.is_none());
        assert!(
            job.last_error
                .as_deref()
                .is_some_and(|e| e.contains("unavailable")),
            "{job:?}"
        );
        assert_eq!(job.problem, Some(Problem::Unavailable), "{fault}");
        let full = Duration::minutes(1 << attempt);
        let delay = job.due_at - now;
        assert!(
            delay <= full + Duration::seconds(3) && delay >= full * 0.8 - Duration::seconds(1),
            "{fault}: backoff {delay} for attempt {attempts}"
        );
        let first = *stale_since.get_or_insert(job.stale_since.expect("stale"));
        assert_eq!(
            job.stale_since,
            Some(first),
            "stale since the first failure"
        );
        let state = env.club.account_state(env.club.account_id).await;
        assert!(state.last_error.is_some() && state.stale_since.is_some());
        assert_eq!(state.problem, Some(Problem::Unavailable), "{fault}");
        let run = env.club.runs(env.club.account_id).await.pop().expect("run");
        assert_eq!(
            (run.trigger.as_str(), run.outcome.as_str()),
            (
                if attempt == 0 {
                    "notification"
                } else {
                    "retry"
                },
                "failed"
            )
        );
        assert!(run.error.is_some());
        assert_eq!(env.sync().await, 0, "not due before the backoff");
        env.advance_past(job.due_at);
    }
    assert_eq!(
        env.club.rows(env.club.account_id).await,
        rows,
        "faults changed no rows"
    );

    // A 429 that is not KB's unchanged-data answer is a rate limit: the account stays stale,
    // the retry honours Retry-After (the sandbox sends 60 s).
    env.sandbox.set_faults(FaultSettings {
        next: vec!["rate_limit@transactions".to_owned()],
        ..FaultSettings::default()
    });
    let now = env.clock.now();
    assert_eq!(env.sync().await, 1);
    let job = env.club.job(env.club.account_id).await;
    assert!(
        job.attempts >= 1 && job.last_error.is_some() && job.stale_since.is_some(),
        "{job:?}"
    );
    assert!(job.due_at >= now + Duration::seconds(60), "{job:?}");
    assert_eq!(job.problem, Some(Problem::RateLimited));
    let state = env.club.account_state(env.club.account_id).await;
    assert!(state.stale_since.is_some() && state.last_error.is_some());
    assert_eq!(state.problem, Some(Problem::RateLimited));
    assert_eq!(
        env.club.last_outcome().await.as_deref(),
        Some("rate_limited")
    );
    env.advance_past(job.due_at);

    // KB's unchanged-data answer after an applied download: nothing new, fresh again (the
    // stale account re-reads its balances), next try in 61 minutes.
    env.sandbox.set_faults(FaultSettings {
        next: vec!["unchanged@transactions".to_owned()],
        ..FaultSettings::default()
    });
    let now = env.clock.now();
    assert_eq!(env.sync().await, 1);
    let job = env.club.job(env.club.account_id).await;
    assert_eq!(
        (
            job.attempts,
            job.last_error.clone(),
            job.problem,
            job.stale_since
        ),
        (0, None, None, None)
    );
    assert!(near(
        job.due_at,
        now + Duration::minutes(61),
        Duration::seconds(5)
    ));
    assert_eq!(env.club.last_outcome().await.as_deref(), Some("unchanged"));

    // Recovered: a normal sync, nothing duplicated or lost.
    env.advance_past(job.due_at);
    assert_eq!(env.sync().await, 1);
    env.assert_mirrors_sandbox().await;
    let state = env.club.account_state(env.club.account_id).await;
    assert!(state.last_error.is_none() && state.stale_since.is_none());
    assert_eq!(state.problem, None);

    // The consent is gone (KB refuses the refresh token): the job stops, the connection is told.
    *env.tokens.refresh.lock().expect("lock") = Secret::new("revoked".to_owned());
    *env.tokens.cached.lock().await = None;
    env.notify().await;
    assert_eq!(env.sync().await, 1);
    let job = env.club.job(env.club.account_id).await;
    assert!(!job.enabled, "{job:?}");
    assert_eq!(job.problem, Some(Problem::Consent), "{job:?}");
    assert_eq!(env.tokens.gone.lock().expect("lock").len(), 1);
    env.advance_past(env.clock.now() + Duration::days(1));
    assert_eq!(env.sync().await, 0, "a disabled job is never claimed");
    env.assert_mirrors_sandbox().await;
    env.sandbox.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// (e): racing workers and fencing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn racing_workers_sync_an_account_once_and_a_fenced_out_worker_cannot_commit() {
    let env = env(|c| c.seed.transactions_per_account = 200, None).await;
    let workers: Vec<_> = ["a", "b", "c"].iter().map(|o| env.worker(o)).collect();
    let now = env.clock.now();
    let counts = futures::future::join_all(
        workers
            .iter()
            .map(|w| kasa::sync::run_once(&env.deps, w.owner(), now)),
    )
    .await;
    let claimed: usize = counts.into_iter().map(|c| c.expect("round")).sum();
    assert_eq!(claimed, 1, "exactly one worker syncs the account");
    assert_eq!(env.club.runs(env.club.account_id).await.len(), 1);
    env.assert_mirrors_sandbox().await;

    // Worker A claims; its lease runs out; B takes over. A can neither extend nor commit.
    let pool = &env.club.pool;
    let lease = Duration::minutes(5);
    let t0 = env.clock.now() + Duration::hours(2);
    let mut a = jobs::claim(pool, "A", lease, t0, 10)
        .await
        .expect("claim")
        .pop()
        .expect("A");
    assert!(
        jobs::claim(pool, "B", lease, t0 + Duration::minutes(1), 10)
            .await
            .expect("claim")
            .is_empty()
    );
    assert!(
        jobs::heartbeat(pool, &mut a, t0 + Duration::minutes(4))
            .await
            .expect("beat")
    );
    assert!(
        jobs::claim(pool, "B", lease, t0 + Duration::minutes(6), 10)
            .await
            .expect("claim")
            .is_empty(),
        "the heartbeat extended A's lease"
    );
    let b = jobs::claim(pool, "B", lease, t0 + Duration::minutes(10), 10)
        .await
        .expect("claim")
        .pop()
        .expect("B takes over the expired lease");
    assert_eq!(b.fence, a.fence + 1);
    assert!(
        !jobs::heartbeat(pool, &mut a, t0 + Duration::minutes(10))
            .await
            .expect("beat")
    );

    let before = env.club.rows(env.club.account_id).await;
    let day = t0.date();
    let extra = [kb_tx(Some("fenced-out"), day, 777, "BOOK", t0, false)];
    let window = (day - Duration::days(7), day);
    let batch = |fence| Batch {
        fence,
        full_history: false,
        ..download(env.club.account_id, window, &extra, &[], t0)
    };
    let mut tx = TenantTx::begin(pool, &env.club.tenant).await.expect("tx");
    let lost = ledger::apply(&mut tx, &batch(a.fence)).await;
    assert!(matches!(lost, Err(ledger::Error::LostLease(_))), "{lost:?}");
    drop(tx);
    assert_eq!(
        env.club.rows(env.club.account_id).await,
        before,
        "A wrote nothing"
    );
    assert!(
        !jobs::finish(pool, &a, &jobs::Outcome::Synced, &Default::default(), t0)
            .await
            .expect("finish")
    );

    let mut tx = TenantTx::begin(pool, &env.club.tenant).await.expect("tx");
    let report = ledger::apply(&mut tx, &batch(b.fence))
        .await
        .expect("B applies");
    tx.commit().await.expect("commit");
    assert_eq!(report.inserted, 1);
    assert!(
        jobs::finish(pool, &b, &jobs::Outcome::Synced, &Default::default(), t0)
            .await
            .expect("finish")
    );
    env.sandbox.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// (f): the ledger alone
// ---------------------------------------------------------------------------------------------

fn kb_tx(
    servicer: Option<&str>,
    day: Date,
    amount_minor: i64,
    status: &str,
    updated: OffsetDateTime,
    reversal: bool,
) -> Transaction {
    let mut fields = json!({
        "lastUpdated": updated.format(&time::format_description::well_known::Rfc3339).expect("time"),
        "valueDate": day.to_string(),
        "status": status,
        "counterParty": { "name": "Jan Novák", "accountNo": "0000001234567890", "bankCode": "0800" },
        "references": { "variable": "123" },
    });
    if status == "BOOK" {
        fields["bookingDate"] = json!(day.to_string());
    }
    if let Some(s) = servicer {
        fields["references"]["accountServicer"] = json!(s);
    }
    kb_transaction_of(amount_minor, reversal, fields)
}

fn closed_balance(day: Date, minor: i64) -> AccountBalance {
    let text = format!(
        r#"{{"type":"PREVIOUSLY_CLOSED_BOOK","creditDebitIndicator":"{}","amount":{{"value":{},"currency":"CZK"}},"validAt":"{}T00:00:00.000Z"}}"#,
        if minor < 0 { "DEBIT" } else { "CREDIT" },
        kasa::bank::money::format_minor_units(minor.abs(), 2),
        day
    );
    serde_json::from_str(&text).expect("balance")
}

/// A one-page, full-history scheduled download of `transactions` over `window` (inclusive), as
/// the worker hands it to `ledger::apply`: nothing unreadable, reversals in their own direction.
fn download<'a>(
    account_id: Uuid,
    window: (Date, Date),
    transactions: &'a [Transaction],
    balances: &'a [AccountBalance],
    now: OffsetDateTime,
) -> Batch<'a> {
    Batch {
        account_id,
        fence: 0,
        window,
        transactions,
        unreadable: &[],
        balances,
        reversal_convention: ReversalConvention::OwnDirection,
        incomplete: None,
        pages: 1,
        full_history: true,
        wide: true,
        trigger: kasa::sync::Trigger::Schedule,
        started_at: now,
        now,
    }
}

async fn apply(
    club: &Club,
    account_id: Uuid,
    window: (Date, Date),
    txs: &[Transaction],
    balances: &[AccountBalance],
    now: OffsetDateTime,
) -> ledger::ApplyReport {
    club.apply(&download(account_id, window, txs, balances, now))
        .await
}

/// Rows without the surrogate id, for comparing accounts.
async fn content(club: &Club, account_id: Uuid) -> Vec<(String, String, i64, Option<Date>, bool)> {
    club.rows(account_id)
        .await
        .into_iter()
        .map(|(k, r)| (k, r.status, r.amount, r.booking, r.reversal))
        .collect()
}

#[tokio::test]
async fn the_ledger_is_idempotent_order_independent_and_reconciles_balances() {
    let pool = kasa::db::connect_pool(fresh_database().await, 4)
        .await
        .expect("pool");
    let now = crate::helpers::real_now();
    let club = club_with_account(&pool, "acc-x", "CZ6501000000000123456789", now).await;
    let d = |n: i64| now.date() - Duration::days(30 - n);
    let at = |n: i64| d(n).midnight().assume_utc() + Duration::hours(10);

    // The bank's state: booked rows, a storno, a pending hold, two identical payments without
    // accountServicer on the same day (both kept), signed amounts.
    let bank = vec![
        kb_tx(Some("a1"), d(1), 50_000, "BOOK", at(1), false),
        kb_tx(Some("a2"), d(5), -12_345, "BOOK", at(5), false),
        kb_tx(None, d(9), 20_000, "BOOK", at(9), false),
        kb_tx(None, d(9), 20_000, "BOOK", at(9), false),
        kb_tx(Some("a3"), d(10), 30_000, "BOOK", at(10), false),
        kb_tx(Some("a3-storno"), d(11), -30_000, "BOOK", at(11), true),
        kb_tx(Some("h1"), d(14), -9_990, "PDNG", at(14), false),
        kb_tx(Some("a4"), d(20), 1_000, "BOOK", at(20), false),
    ];
    let in_window = |(from, to): (Date, Date)| -> Vec<Transaction> {
        bank.iter()
            .filter(|t| {
                let day = t.booking_date.or(t.value_date).expect("date");
                day >= from && day <= to
            })
            .cloned()
            .collect()
    };
    let (wa, wb, all) = ((d(0), d(12)), (d(8), d(30)), (d(0), d(30)));

    // Same batch twice: the second changes nothing.
    let x = club.account_id;
    let first = apply(&club, x, wa, &in_window(wa), &[], now).await;
    assert_eq!(first.inserted, 6);
    let again = apply(&club, x, wa, &in_window(wa), &[], now).await;
    assert_eq!((again.inserted, again.updated, again.removed), (0, 0, 0));
    apply(&club, x, wb, &in_window(wb), &[], now).await;

    // B then A, and everything at once, on two more accounts: the same rows.
    let y = club
        .add_account("acc-y", "CZ6501000000000123456780", now)
        .await;
    apply(&club, y, wb, &in_window(wb), &[], now).await;
    apply(&club, y, wa, &in_window(wa), &[], now).await;
    let z = club
        .add_account("acc-z", "CZ6501000000000123456781", now)
        .await;
    apply(&club, z, all, &in_window(all), &[], now).await;
    let expected = content(&club, z).await;
    assert_eq!(
        expected.len(),
        bank.len(),
        "identical payments kept as two rows"
    );
    assert_eq!(content(&club, x).await, expected);
    assert_eq!(content(&club, y).await, expected);
    assert!(
        expected
            .iter()
            .any(|r| r.0 == "as:a3-storno" && r.2 == -30_000 && r.4)
    );

    // The bank moves on: the hold is booked under its id, a new hold appears and vanishes
    // again. Applying the evolving states in turn ends where the final state applied once does.
    let mut later = bank.clone();
    later[6] = kb_tx(Some("h1"), d(15), -9_990, "BOOK", at(15), false);
    let mut middle = later.clone();
    middle.push(kb_tx(Some("h2"), d(25), -5_000, "PDNG", at(25), false));
    // A stale copy of the old state arriving late cannot undo the booking.
    for state in [&middle, &bank, &later] {
        apply(&club, x, all, state, &[], now).await;
    }
    let w = club
        .add_account("acc-w", "CZ6501000000000123456782", now)
        .await;
    apply(&club, w, all, &later, &[], now).await;
    let final_rows = content(&club, w).await;
    assert!(final_rows.iter().any(|r| r.0 == "as:h1" && r.1 == "booked"));
    assert!(
        !final_rows.iter().any(|r| r.0 == "as:h2"),
        "vanished hold removed"
    );
    let x_rows = content(&club, x).await;
    assert_eq!(x_rows, final_rows);

    // Reconciliation: booked movements between two closed balances against the change.
    let r = club
        .add_account("acc-r", "CZ6501000000000123456783", now)
        .await;
    let opening = 1_000_000;
    apply(&club, r, all, &bank, &[closed_balance(d(1), opening)], now).await;
    // Booked on [d1, d12): a1, a2, the two identical, a3 and its storno.
    let moved = 50_000 - 12_345 + 40_000 + 30_000 - 30_000;
    let ok = apply(
        &club,
        r,
        all,
        &bank,
        &[closed_balance(d(12), opening + moved)],
        now,
    )
    .await;
    let rec = ok.reconciliation.expect("reconciled");
    assert!(rec.is_ok(), "{rec:?}");
    let bad = apply(
        &club,
        r,
        all,
        &bank,
        &[closed_balance(d(21), opening + moved + 5_000)],
        now,
    )
    .await;
    let rec = bad.reconciliation.expect("reconciled");
    assert!(!rec.is_ok(), "a missing movement is detected");
    // Between d12 and d21 only a4 (10.00) was booked; the hold h1 is still pending.
    assert_eq!(
        (rec.balance_change, rec.movements),
        (5_000, 1_000),
        "{rec:?}"
    );
    let runs = club.runs(r).await;
    assert!(
        runs.last()
            .and_then(|r| r.reconciliation.as_deref())
            .is_some_and(|t| t.starts_with("mismatch"))
    );
    let mut tx = TenantTx::begin(&club.pool, &club.tenant).await.expect("tx");
    let surfaced = ledger::reconciliation_mismatch(&mut tx, r)
        .await
        .expect("read");
    drop(tx);
    assert!(surfaced.is_some());
    let state = club.account_state(r).await;
    assert_eq!(
        state.watermark,
        Some(d(12)),
        "the next sync re-reads the mismatched period"
    );
}

/// Rows of the club's staging table that a new transaction sees.
async fn staged_rows(club: &Club) -> i64 {
    let mut tx = TenantTx::begin(&club.pool, &club.tenant).await.expect("tx");
    sqlx::query_scalar("SELECT count(*) FROM staged_transactions")
        .fetch_one(&mut *tx)
        .await
        .expect("count")
}

#[tokio::test]
async fn two_accounts_of_a_club_staged_at_once_each_get_only_their_own_rows_and_nothing_staged_outlives_its_transaction()
 {
    let pool = kasa::db::connect_pool(fresh_database().await, 4)
        .await
        .expect("pool");
    let now = crate::helpers::real_now();
    let club = club_with_account(&pool, "acc-a", "CZ6501000000000123456789", now).await;
    let other = club
        .add_account("acc-b", "CZ6501000000000987654321", now)
        .await;
    let window = (now.date() - Duration::days(30), now.date());
    let at = now - Duration::days(2);
    let mine = vec![
        kb_tx(Some("a1"), at.date(), 10_000, "BOOK", at, false),
        kb_tx(Some("a2"), at.date(), 20_000, "BOOK", at, false),
    ];
    let theirs = vec![kb_tx(Some("b1"), at.date(), 30_000, "BOOK", at, false)];

    // Account A's download is staged and not yet merged...
    let mut staging = TenantTx::begin(&pool, &club.tenant).await.expect("tx");
    let mut stage = kasa::sync::stage::Stage::new(ReversalConvention::OwnDirection);
    let mut data = stage.page(&mine).expect("page");
    data.extend(stage.end());
    kasa::sync::stage::clear(&mut staging).await.expect("clear");
    let mut copy = kasa::sync::stage::copy_in(&mut staging)
        .await
        .expect("copy");
    copy.send(data).await.expect("send");
    copy.finish().await.expect("finish");

    // ...while account B's sync stages, merges and commits: it neither waits for A's rows nor
    // takes them.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        apply(&club, other, window, &theirs, &[], now),
    )
    .await
    .expect("B's apply does not wait for A's staging");
    assert_eq!(club.rows(other).await.keys().collect::<Vec<_>>(), ["as:b1"]);
    assert!(club.rows(club.account_id).await.is_empty());
    assert_eq!(staged_rows(&club).await, 0, "B's staged rows are gone");

    ledger::apply_staged(
        &mut staging,
        &download(club.account_id, window, &[], &[], now),
        stage.finish(),
    )
    .await
    .expect("apply A");
    staging.commit().await.expect("commit");
    assert_eq!(
        club.rows(club.account_id).await.keys().collect::<Vec<_>>(),
        ["as:a1", "as:a2"]
    );
    assert_eq!(club.rows(other).await.keys().collect::<Vec<_>>(), ["as:b1"]);
    assert_eq!(staged_rows(&club).await, 0, "A's staged rows are gone");

    // A download that fails after staging rolls its rows back with it.
    let mut failed = TenantTx::begin(&pool, &club.tenant).await.expect("tx");
    let mut stage = kasa::sync::stage::Stage::new(ReversalConvention::OwnDirection);
    let mut data = stage.page(&theirs).expect("page");
    data.extend(stage.end());
    let mut copy = kasa::sync::stage::copy_in(&mut failed).await.expect("copy");
    copy.send(data).await.expect("send");
    copy.finish().await.expect("finish");
    drop(failed);
    assert_eq!(staged_rows(&club).await, 0);
    let temporary: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relpersistence = 't'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(temporary, 0, "staging creates no temporary table");
}

#[tokio::test]
async fn a_worker_whose_lease_is_taken_over_mid_download_stops_without_committing() {
    let env = env(|c| c.seed.transactions_per_account = 120, None).await;
    let deps = Arc::new(SyncDeps {
        pool: env.deps.pool.clone(),
        kb: env.deps.kb.clone(),
        tokens: env.tokens.clone(),
        clock: env.deps.clock.clone(),
        settings: SyncSettings {
            heartbeat_every: std::time::Duration::from_millis(50),
            ..SyncSettings::default()
        },
        after_apply: env.deps.after_apply.clone(),
    });
    // The first page takes 1.5 s; meanwhile another worker decides A's lease has run out.
    env.sandbox.set_faults(FaultSettings {
        next: vec!["timeout".to_owned()],
        timeout_ms: 1500,
        ..FaultSettings::default()
    });
    let now = env.clock.now();
    let slow = tokio::spawn({
        let deps = deps.clone();
        async move { kasa::sync::run_once(&deps, "A", now).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let taken = jobs::claim(
        &env.club.pool,
        "B",
        Duration::minutes(5),
        now + Duration::minutes(10),
        1,
    )
    .await
    .expect("claim");
    assert_eq!(taken.len(), 1, "B takes the job over");
    let claimed = slow.await.expect("join").expect("round");
    assert_eq!(claimed, 1);
    assert!(
        env.club.rows(env.club.account_id).await.is_empty(),
        "A committed nothing"
    );
    assert!(env.club.runs(env.club.account_id).await.is_empty());
    let job = env.club.job(env.club.account_id).await;
    assert_eq!(
        job.lease_owner.as_deref(),
        Some("B"),
        "A did not release B's lease"
    );
    assert_eq!(job.fence, taken[0].fence);
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn the_worker_loop_syncs_wakes_on_a_notification_and_stops_on_shutdown() {
    let env = env(|c| c.seed.transactions_per_account = 60, None).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wake = Arc::new(tokio::sync::Notify::new());
    let running = tokio::spawn(env.worker("loop").run(stopped, wake.clone()));
    let club = &env.club;
    // Up to 30 s: a whole-suite run on two loaded cores can take seconds for one small sync.
    let runs_reach = |n: usize| async move {
        for _ in 0..600 {
            if club.runs(club.account_id).await.len() >= n {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    };
    assert!(runs_reach(1).await, "the loop ran the first sync");
    // A notification: due now, and the idle loop is woken instead of sleeping 30 s. It comes
    // a moment after the first claim, as in real time: with the clock standing still, one that
    // lands while the first run is finishing would look no newer than that run's claim.
    env.clock.advance(time::Duration::seconds(1));
    env.notify().await;
    wake.notify_one();
    assert!(runs_reach(2).await, "woken by the notification");
    stop.send(true).expect("stop");
    tokio::time::timeout(std::time::Duration::from_secs(5), running)
        .await
        .expect("stops promptly")
        .expect("join");
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn notifications_during_a_run_are_not_lost_and_disabled_jobs_wait_for_reconnection() {
    let pool = kasa::db::connect_pool(fresh_database().await, 4)
        .await
        .expect("pool");
    // PostgreSQL keeps microseconds.
    let now = crate::helpers::real_now()
        .replace_millisecond(0)
        .expect("whole seconds");
    let club = club_with_account(&pool, "acc-j", "CZ6501000000000123456789", now).await;
    let id = club.account_id;
    let schedule = jobs::Schedule::default();
    let lease = Duration::minutes(5);
    let claim = |at: OffsetDateTime| {
        let pool = pool.clone();
        async move { jobs::claim(&pool, "w", lease, at, 10).await.expect("claim") }
    };

    // A notification before the claim is served by that run: next poll in 61 minutes.
    assert!(jobs::make_due(&pool, id, now).await.expect("due"));
    let job = claim(now).await.pop().expect("claimed");
    assert!(job.notified);
    assert!(
        jobs::finish(&pool, &job, &jobs::Outcome::Synced, &schedule, now)
            .await
            .expect("finish")
    );
    assert_eq!(club.job(id).await.due_at, now + Duration::minutes(61));

    // A notification while the job runs: due again as soon as the run finishes.
    let t1 = now + Duration::minutes(61);
    let job = claim(t1).await.pop().expect("claimed");
    assert!(!job.notified);
    assert!(
        jobs::make_due(&pool, id, t1 + Duration::seconds(1))
            .await
            .expect("due")
    );
    let t2 = t1 + Duration::seconds(2);
    assert!(
        jobs::finish(&pool, &job, &jobs::Outcome::Synced, &schedule, t2)
            .await
            .expect("finish")
    );
    assert_eq!(club.job(id).await.due_at, t2);
    let job = claim(t2).await.pop().expect("claimed again");
    assert!(job.notified);

    // KB's 429 with a longer Retry-After is respected.
    let unchanged = jobs::Outcome::Unchanged {
        retry_after: Some(Duration::hours(2)),
    };
    assert!(
        jobs::finish(&pool, &job, &unchanged, &schedule, t2)
            .await
            .expect("finish")
    );
    assert_eq!(club.job(id).await.due_at, t2 + Duration::hours(2));

    // Consent gone: disabled, never claimed, notifications ignored, until re-enabled.
    let t3 = t2 + Duration::hours(3);
    let job = claim(t3).await.pop().expect("claimed");
    let gone = jobs::Outcome::Disabled(kasa::sync::Failure::new(
        kasa::sync::Problem::Consent,
        "consent gone",
    ));
    assert!(
        jobs::finish(&pool, &job, &gone, &schedule, t3)
            .await
            .expect("finish")
    );
    assert!(!jobs::make_due(&pool, id, t3).await.expect("due"));
    assert!(claim(t3 + Duration::days(1)).await.is_empty());
    assert!(jobs::enable(&pool, id, t3).await.expect("enable"));
    let job = claim(t3).await.pop().expect("claimable again");
    assert_eq!(job.attempts, 0);
}

#[tokio::test]
async fn the_next_days_sync_reconciles_the_sandbox_balances() {
    let bank_clock = Arc::new(kb_sandbox::ManualClock::new(crate::helpers::real_now()));
    let env = env(
        {
            let bank_clock = bank_clock.clone();
            move |c| {
                c.seed.transactions_per_account = 150;
                c.clock = bank_clock;
            }
        },
        None,
    )
    .await;
    env.control(
        "/control/payments",
        json!({"account": env.kb_account_id, "amount_minor": 80_000, "vs": "7"}),
    )
    .await;
    env.sync().await;
    assert!(
        env.club.runs(env.club.account_id).await[0]
            .reconciliation
            .is_none(),
        "one snapshot: nothing to compare yet"
    );

    // A day later (the access token has expired meanwhile and is refreshed).
    bank_clock.advance(std::time::Duration::from_secs(24 * 3600));
    env.clock.advance(Duration::days(1));
    env.control(
        "/control/payments",
        json!({"account": env.kb_account_id, "amount_minor": -12_300, "vs": "8"}),
    )
    .await;
    env.notify().await;
    assert_eq!(env.sync().await, 1);
    env.assert_mirrors_sandbox().await;
    let run = env.club.runs(env.club.account_id).await.pop().expect("run");
    assert_eq!(run.outcome, "synced", "{run:?}");
    assert_eq!(
        env.tokens.invalidated.load(Ordering::SeqCst),
        1,
        "expired token refreshed"
    );
    let text = run.reconciliation.expect("reconciled");
    assert!(text.starts_with("ok"), "{text}");
    let mut tx = TenantTx::begin(&env.club.pool, &env.club.tenant)
        .await
        .expect("tx");
    assert_eq!(
        ledger::reconciliation_mismatch(&mut tx, env.club.account_id)
            .await
            .expect("read"),
        None
    );
    drop(tx);
    env.sandbox.shutdown().await;
}

mod field_cases;

// ---------------------------------------------------------------------------------------------
// Problems stored as text before their kind existed
// ---------------------------------------------------------------------------------------------

/// Texts the sync stored before the kind existed (one of each shape the pages classified), and
/// the kind the migrations give them: the rules the web layer applied on every page view.
const LEGACY_PROBLEMS: &[(&str, Problem)] = &[
    ("KB is unavailable: HTTP 503", Problem::Unavailable),
    (
        "KB is unavailable: transaction history changed during paging; download again",
        Problem::Shifting,
    ),
    (
        "the transaction history kept changing during paging",
        Problem::Shifting,
    ),
    ("KB rate limit reached: 429", Problem::RateLimited),
    (
        "KB rate limit reached: KB's 61-minute limit blocks downloading again after the download at 2026-01-01",
        Problem::Blocked,
    ),
    (
        "balances: KB rate limit reached: HTTP 429",
        Problem::RateLimited,
    ),
    ("balances: KB is unavailable: timed out", Problem::Balances),
    (
        "KB consent is no longer valid: invalid_grant",
        Problem::Consent,
    ),
    ("KB rejected the access token: expired", Problem::Token),
    (
        "account not available to this application: x",
        Problem::Account,
    ),
    ("database error: connection reset", Problem::Other),
];

#[tokio::test]
async fn problems_stored_as_text_before_their_kind_existed_are_classified_once_by_the_migrations() {
    let pool = kasa::db::connect_pool(fresh_database().await, 2)
        .await
        .expect("pool");
    let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
    let club = club_with_account(&pool, "acc-legacy", "CZ6501000000000000000123", now).await;
    let app_migration = include_str!("../../migrations/app/0005_sync_problem.sql");
    let tenant_migration = include_str!("../../migrations/tenant/0007_sync_problem.sql");
    for (text, kind) in LEGACY_PROBLEMS {
        // The tables as they were before the migrations, holding the old text.
        let mut tx = TenantTx::begin(&pool, &club.tenant).await.expect("tx");
        sqlx::raw_sql(
            "ALTER TABLE app.sync_jobs DROP COLUMN problem; \
             ALTER TABLE bank_accounts DROP COLUMN problem; \
             ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_outcome_check, \
                 DROP CONSTRAINT sync_runs_trigger_check",
        )
        .execute(&mut *tx)
        .await
        .expect("the tables before");
        for table in ["app.sync_jobs", "bank_accounts"] {
            sqlx::query(&format!("UPDATE {table} SET last_error = $1"))
                .bind(*text)
                .execute(&mut *tx)
                .await
                .expect("old text");
        }
        sqlx::raw_sql(app_migration)
            .execute(&mut *tx)
            .await
            .expect("app migration");
        sqlx::raw_sql(tenant_migration)
            .execute(&mut *tx)
            .await
            .expect("tenant migration");
        for (table, key) in [("app.sync_jobs", "account_id"), ("bank_accounts", "id")] {
            let (now_kind,): (Option<Problem>,) =
                sqlx::query_as(&format!("SELECT problem FROM {table} WHERE {key} = $1"))
                    .bind(club.account_id)
                    .fetch_one(&mut *tx)
                    .await
                    .expect("kind");
            assert_eq!(now_kind, Some(*kind), "{table}: {text}");
        }
        tx.commit().await.expect("commit");
    }
}

/// Text of `chars` CJK characters that does not compress (3 bytes each in UTF-8).
fn incompressible_text(chars: usize) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..chars)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from_u32(0x4E00 + ((x >> 33) % 20_000) as u32).unwrap_or('x')
        })
        .collect()
}

#[tokio::test]
async fn a_bank_row_with_a_text_too_long_for_an_index_does_not_fail_every_sync_of_the_account() {
    let env = env(
        |c| {
            c.seed.transactions_per_account = 60;
            c.behaviour.unchanged_data_limit = None;
        },
        None,
    )
    .await;
    let iban = sandbox_ledger(&env.sandbox, Some(&env.kb_account_id)).await[0]["iban"].clone();
    let day = kasa::i18n::prague_date(env.clock.now()) - Duration::days(3);
    // Within the 2 000 characters Kasa stores, but 6 000 bytes: more than a B-tree index entry
    // (transactions_vs_idx) or the key's unique index can hold.
    for (servicer, vs) in [
        ("long-vs".to_owned(), incompressible_text(2_000)),
        (incompressible_text(3_000), "2026001".to_owned()),
    ] {
        env.control(
            "/control/transactions",
            json!({ "account": env.kb_account_id, "transaction": {
                "lastUpdated": "2026-11-20T10:00:00Z", "accountType": "KB", "iban": iban,
                "creditDebitIndicator": "CREDIT", "transactionType": "DOMESTIC",
                "amount": { "value": 100, "currency": "CZK" },
                "bookingDate": day.to_string(), "valueDate": day.to_string(), "status": "BOOK",
                "references": { "accountServicer": servicer, "variable": vs },
            } }),
        )
        .await;
    }

    env.sync().await;
    let runs = env.club.runs(env.club.account_id).await;
    assert_eq!(
        runs.last().map(|r| r.outcome.as_str()),
        Some("synced"),
        "one odd row fails the whole download, every time: {runs:?}"
    );
    // Every movement is stored, the two odd ones too: the symbol cut to what Kasa stores, the
    // identifier keyed by its hash.
    let rows = env.assert_mirrors_sandbox().await;
    let long_vs = rows["as:long-vs"].vs.clone().expect("symbol");
    assert!(
        long_vs.len() <= 2_000 && long_vs.len() > 1_990,
        "{}",
        long_vs.len()
    );
    assert!(rows.keys().any(|k| k.starts_with("as:sha256:")));
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_first_sync_killed_mid_download_is_not_taken_as_fresh_when_kb_then_answers_unchanged_data()
 {
    let env = env(|c| c.seed.transactions_per_account = 5_000, None).await;
    let sync = tokio::spawn({
        let deps = env.deps.clone();
        let now = env.clock.now();
        async move { kasa::sync::run_once(&deps, "A", now).await }
    });
    // The process dies (its sync with it) while the pages are staged.
    let mut staging = false;
    for _ in 0..500 {
        if env
            .club
            .account_state(env.club.account_id)
            .await
            .progress_pages
            >= 5
        {
            staging = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(staging, "the first sync got under way");
    sync.abort();
    assert!(sync.await.is_err(), "killed before it finished");
    assert!(env.club.rows(env.club.account_id).await.is_empty());
    assert_eq!(staged_rows(&env.club).await, 0);

    // Restarted, a worker takes the job once the dead one's lease ran out. KB counted the
    // interrupted download, so within its 61 minutes it answers "unchanged data".
    env.clock.advance(Duration::minutes(6));
    env.sync().await;
    let state = env.club.account_state(env.club.account_id).await;
    let runs = env.club.runs(env.club.account_id).await;
    assert!(env.club.rows(env.club.account_id).await.is_empty());
    assert!(!state.history_complete);
    assert_eq!(
        state.fresh_as_of, None,
        "an account holding none of its history is shown as up to date: {state:?} {runs:?}"
    );
    env.sandbox.shutdown().await;
}
