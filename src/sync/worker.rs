//! The sync worker: claims due jobs ([`jobs::claim`]) and syncs each account — token, window
//! (Prague days), every page back to back through the client's one paging loop
//! ([`crate::bank::TransactionDownload`]) in a fetch task whose pages the writer stages by
//! `COPY` as they arrive ([`super::stage`]), balances, one tenant transaction (the staging's;
//! [`ledger::apply_staged`]), reschedule ([`jobs::finish`]) — while a heartbeat keeps the lease.
//!
//! Rate limits (docs/decisions.md, "KB's 429"): only KB's unchanged-data answer on the
//! transaction list, after a download that was applied, means "nothing new" (the account is
//! fresh; a stale one re-reads its balances first). The same answer after a download that was
//! never applied, and a 429 anywhere else (token, balances), is a rate limit: the account stays
//! stale with the reason, `fresh_as_of` never moves, the next attempt honours `Retry-After`.
//! When the balances are throttled after a good download, the transactions are still written. [`Worker::run`] loops until shutdown;
//! tests step it with [`Worker::run_once`] / [`Worker::run_until_idle`].

use std::sync::Arc;

use futures::StreamExt;
use sqlx::PgPool;
use time::{Date, Duration, OffsetDateTime};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::AccessTokens;
use super::jobs::{self, ClaimedJob, Outcome, Schedule};
use super::ledger::{self, ApplyReport, Batch, RunRecord};
use super::outcome::{Failure, Problem, RunOutcome, Trigger};
use super::stage::{self, Refused, Stage, Staged};
use crate::bank::wire::{AccountBalance, TransactionSlice, UnreadableTransaction};
use crate::bank::{Error as BankError, KbClient, Secret};
use crate::clock::SharedClock;
use crate::db::tenant::{Tenant, TenantKey, TenantTx};
use crate::i18n::{prague_date, prague_day_end, prague_day_start};

/// Tuning of the sync worker.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Lease of a claimed job; heartbeats extend it.
    pub lease: Duration,
    /// How often a running sync extends its lease.
    pub heartbeat_every: std::time::Duration,
    /// Jobs claimed (and synced concurrently) per round.
    pub batch: i64,
    /// Pause between rounds when nothing is due.
    pub idle_poll: std::time::Duration,
    /// How far back the first sync reads (KB: two years; 729 days stays inside the limit).
    pub history_days: i64,
    /// The wide read: later syncs re-read this many days before the watermark, to catch KB's
    /// late corrections.
    pub overlap_days: i64,
    /// The short read: a sync a KB notification made due re-reads only this many days before
    /// the watermark (the last synced Prague day), and every still-pending row. KB filters by
    /// days, not instants (kb-adaa-spec §7.5, §12), so one day covers a booking dated the day
    /// before it was listed, and the unknown day boundary of KB's filter (docs/decisions.md,
    /// "Sync"; `KASA_SYNC_NOTIFIED_OVERLAP_DAYS`).
    pub notified_overlap_days: i64,
    /// A notified sync still makes the wide read when the last one is older than this, so an
    /// account notified every few minutes (KB: at most every 5, §8.2) keeps its periodic wide
    /// read (`KASA_SYNC_WIDE_EVERY_SECS`).
    pub wide_every: Duration,
    /// Downloads of one window tried when the history shifts during paging.
    pub window_attempts: u32,
    pub schedule: Schedule,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            lease: Duration::minutes(5),
            heartbeat_every: std::time::Duration::from_secs(60),
            batch: 4,
            idle_poll: std::time::Duration::from_secs(30),
            history_days: 729,
            overlap_days: 7,
            notified_overlap_days: 1,
            wide_every: Duration::minutes(61),
            window_attempts: 3,
            schedule: Schedule::default(),
        }
    }
}

/// What the worker needs.
pub struct SyncDeps<T: AccessTokens> {
    pub pool: PgPool,
    pub kb: KbClient,
    pub tokens: Arc<T>,
    pub clock: SharedClock,
    pub settings: SyncSettings,
    /// Runs in the sync's transaction after the ledger write (payment matching).
    pub after_apply: Arc<dyn super::AfterLedgerApply>,
}

/// Why a sync did not complete.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Bank(#[from] BankError),
    #[error(transparent)]
    Ledger(#[from] ledger::Error),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the transaction history kept changing during paging")]
    KeptShifting,
    #[error("the download stopped: {0}")]
    FetchStopped(String),
    /// KB's unchanged-data answer, but the last download was never applied: KB blocks the
    /// download Kasa needs until 61 minutes after that one. `downloaded_at` is `None` when
    /// that download was never recorded (its process was killed mid-sync).
    #[error(
        "KB rate limit reached: KB's 61-minute limit blocks downloading again after {}, which Kasa could not apply",
        .downloaded_at.map_or_else(|| "an earlier download".to_owned(), |at| format!("the download at {at}"))
    )]
    Blocked {
        downloaded_at: Option<OffsetDateTime>,
        retry_after: Option<std::time::Duration>,
    },
    /// Nothing new since an applied download (the balances were re-read if the account was
    /// stale).
    #[error("unchanged")]
    Unchanged {
        retry_after: Option<std::time::Duration>,
        balances: Vec<AccountBalance>,
    },
}

impl SyncError {
    /// The problem people are told about, with this error's text as its detail.
    fn failure(&self) -> Failure {
        let problem = match self {
            SyncError::Bank(e) => Problem::of_bank(e),
            SyncError::KeptShifting => Problem::Shifting,
            SyncError::Blocked { .. } => Problem::Blocked,
            SyncError::Ledger(_)
            | SyncError::Db(_)
            | SyncError::FetchStopped(_)
            | SyncError::Unchanged { .. } => Problem::Other,
        };
        Failure::new(problem, self.to_string())
    }
}

/// What one run did, for `sync_runs` (also when it failed).
#[derive(Debug, Clone)]
struct RunInfo {
    trigger: Trigger,
    started_at: OffsetDateTime,
    window: Option<(Date, Date)>,
    pages: u32,
    fetched: usize,
    /// When the transaction list was downloaded (KB's 61 minutes count from then), until it is
    /// applied.
    downloaded_at: Option<OffsetDateTime>,
}

/// Claims due jobs at `now` and syncs them (concurrently, at most `settings.batch`). Returns how
/// many jobs were claimed.
pub async fn run_once<T: AccessTokens>(
    deps: &SyncDeps<T>,
    owner: &str,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let claimed = jobs::claim(
        &deps.pool,
        owner,
        deps.settings.lease,
        now,
        deps.settings.batch,
    )
    .await?;
    let count = claimed.len();
    futures::stream::iter(claimed)
        .for_each_concurrent(None, |job| run_job(deps, job))
        .await;
    Ok(count)
}

/// Syncs one claimed account; every log line inside carries the club, the account and the fence.
#[tracing::instrument(name = "sync", skip_all, fields(
    club = %TenantKey::from_id(job.tenant_id.into()),
    account_id = %job.account_id,
    fence = job.fence,
))]
async fn run_job<T: AccessTokens>(deps: &SyncDeps<T>, job: ClaimedJob) {
    let started_at = deps.clock.now();
    let tenant = match Tenant::load(&deps.pool, job.tenant_id).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => {
            let failure = Failure::new(Problem::Other, "the club is not active");
            finish(deps, &job, &Outcome::Disabled(failure), started_at).await;
            return;
        }
        Err(e) => {
            let failure = Failure::new(Problem::Other, e.to_string());
            finish(deps, &job, &Outcome::Failed(failure), started_at).await;
            return;
        }
    };

    let mut info = RunInfo {
        trigger: Trigger::Schedule,
        started_at,
        window: None,
        pages: 0,
        fetched: 0,
        downloaded_at: None,
    };
    let result = {
        let sync = sync_account(deps, &tenant, &job, &mut info);
        tokio::pin!(sync);
        // The heartbeat runs beside the sync, never instead of it: once the ledger write holds
        // the job row (`jobs::lock_fence`), a heartbeat waits for that transaction, which must
        // go on meanwhile (awaiting the heartbeat first would wait for ourselves forever).
        let lost = async {
            let mut beat = job.clone();
            let mut ticker = tokio::time::interval(deps.settings.heartbeat_every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                match jobs::heartbeat(&deps.pool, &mut beat, deps.clock.now()).await {
                    Ok(true) => {}
                    // Another worker owns the job now: stop; nothing of ours will commit.
                    Ok(false) => return,
                    Err(e) => tracing::warn!(error = %e, "sync heartbeat failed"),
                }
            }
        };
        tokio::pin!(lost);
        tokio::select! {
            result = &mut sync => result,
            () = &mut lost => Err(SyncError::Ledger(ledger::Error::LostLease(
                jobs::LostLease { held: job.fence },
            ))),
        }
    };

    let mut balances = Vec::new();
    // What to reschedule by, and (unless the ledger write recorded the run) what to record.
    let (outcome, record) = match result {
        Ok(report) => {
            tracing::info!(
                inserted = report.inserted,
                updated = report.updated,
                removed = report.removed,
                unreadable = report.unreadable,
                "bank account synced"
            );
            match report.incomplete {
                // Written, but not complete (the balances were throttled): stale, retry.
                Some((failure, retry_after)) => (
                    Outcome::RateLimited {
                        retry_after,
                        failure,
                    },
                    None,
                ),
                None => (Outcome::Synced, None),
            }
        }
        Err(SyncError::Ledger(ledger::Error::LostLease(lost))) => {
            tracing::info!("{lost}");
            return;
        }
        Err(SyncError::Unchanged {
            retry_after,
            balances: fetched,
        }) => {
            balances = fetched;
            (
                Outcome::Unchanged {
                    retry_after: retry_after.and_then(|d| Duration::try_from(d).ok()),
                },
                Some((RunOutcome::Unchanged, None)),
            )
        }
        Err(
            ref e @ SyncError::Blocked {
                downloaded_at,
                retry_after,
            },
        ) => {
            let failure = e.failure();
            tracing::warn!(error = %failure.detail, "bank account sync blocked");
            // KB counts 61 minutes from the unapplied download. When it was never recorded,
            // KB's own wait says when; without one, a whole interval.
            let now = deps.clock.now();
            let until = match downloaded_at {
                Some(at) => at + deps.settings.schedule.unchanged_interval - now,
                None if retry_after.is_some() => Duration::ZERO,
                None => deps.settings.schedule.unchanged_interval,
            };
            let wait = retry_after
                .and_then(|d| Duration::try_from(d).ok())
                .unwrap_or(Duration::ZERO)
                .max(until);
            (
                Outcome::RateLimited {
                    retry_after: Some(wait),
                    failure: failure.clone(),
                },
                Some((RunOutcome::Blocked, Some(failure))),
            )
        }
        Err(SyncError::Bank(ref e @ BankError::RateLimited { .. })) => {
            let failure = Failure::bank(e);
            tracing::warn!(error = %failure.detail, "bank account sync rate-limited");
            (
                Outcome::RateLimited {
                    retry_after: e.retry_after().and_then(|d| Duration::try_from(d).ok()),
                    failure: failure.clone(),
                },
                Some((RunOutcome::RateLimited, Some(failure))),
            )
        }
        Err(SyncError::Bank(
            ref e @ (BankError::ConsentGone { .. } | BankError::AccountNotConfigured { .. }),
        )) => {
            if let BankError::ConsentGone { reason } = e {
                deps.tokens.consent_gone(job.connection_id, reason).await;
            }
            let failure = Failure::bank(e);
            (
                Outcome::Disabled(failure.clone()),
                Some((RunOutcome::Disabled, Some(failure))),
            )
        }
        Err(e) => {
            let failure = e.failure();
            tracing::warn!(error = %failure.detail, "bank account sync failed");
            (
                Outcome::Failed(failure.clone()),
                Some((RunOutcome::Failed, Some(failure))),
            )
        }
    };
    if let Some((kind, failure)) = record {
        let run = RunRecord {
            trigger: info.trigger,
            started_at: info.started_at,
            window: info.window,
            pages: info.pages,
            fetched: info.fetched,
            outcome: kind,
            failure: failure.as_ref(),
            downloaded_at: info.downloaded_at,
            now: deps.clock.now(),
        };
        match record_run(&deps.pool, &tenant, &job, &run, &balances).await {
            Ok(()) => {}
            Err(ledger::Error::LostLease(_)) => return,
            Err(e) => tracing::warn!(error = %e, "recording the sync run failed"),
        }
    }
    finish(deps, &job, &outcome, info.started_at).await;
}

async fn record_run(
    pool: &PgPool,
    tenant: &Tenant,
    job: &ClaimedJob,
    run: &RunRecord<'_>,
    balances: &[AccountBalance],
) -> Result<(), ledger::Error> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    ledger::record_run(&mut tx, job.account_id, job.fence, run, balances).await?;
    tx.commit().await?;
    Ok(())
}

async fn finish<T: AccessTokens>(
    deps: &SyncDeps<T>,
    job: &ClaimedJob,
    outcome: &Outcome,
    started_at: time::OffsetDateTime,
) {
    let now = deps.clock.now();
    let took = std::time::Duration::try_from(now - started_at).unwrap_or_default();
    crate::telemetry::sync_run(outcome.label(), took);
    if matches!(outcome, Outcome::Synced)
        && let Some(notified_at) = job.notified_at
    {
        crate::telemetry::notification_to_commit(
            std::time::Duration::try_from(now - notified_at).unwrap_or_default(),
        );
    }
    match jobs::finish(&deps.pool, job, outcome, &deps.settings.schedule, now).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("sync lease lost before finishing")
        }
        Err(e) => tracing::warn!(error = %e, "rescheduling the sync job failed"),
    }
}

/// How far back a download reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The whole history KB allows (the first sync).
    FullHistory,
    /// `overlap_days` before the watermark: the periodic read that catches late corrections.
    Wide,
    /// `notified_overlap_days` before the watermark: what a KB notification announced.
    Short,
}

/// The days a download reads, and why that far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncWindow {
    /// Prague days, inclusive.
    pub days: (Date, Date),
    pub reach: Reach,
}

/// The window of the next download, in Prague days (`now`'s [`prague_date`] is the last): the
/// first sync reads the whole history KB allows; a sync a KB notification made due (`notified`)
/// re-reads `notified_overlap_days` before the watermark unless the last wide read
/// (`SyncState::wide_synced_at`) is older than `wide_every`; other syncs re-read
/// `overlap_days`. Every still-pending row's day stays inside.
pub fn sync_window(
    state: &ledger::SyncState,
    now: OffsetDateTime,
    notified: bool,
    settings: &SyncSettings,
) -> SyncWindow {
    let today = prague_date(now);
    let earliest = today - Duration::days(settings.history_days);
    match state.watermark {
        Some(watermark) if state.history_complete => {
            let wide_is_recent = state
                .wide_synced_at
                .is_some_and(|at| now - at < settings.wide_every);
            let (reach, overlap) = if notified && wide_is_recent {
                (Reach::Short, settings.notified_overlap_days)
            } else {
                (Reach::Wide, settings.overlap_days)
            };
            let mut from = watermark - Duration::days(overlap);
            if let Some(pending) = state.oldest_pending {
                from = from.min(pending);
            }
            SyncWindow {
                days: (from.max(earliest).min(today), today),
                reach,
            }
        }
        _ => SyncWindow {
            days: (earliest, today),
            reach: Reach::FullHistory,
        },
    }
}

/// What a completed sync wrote, and whether it was complete.
struct Synced {
    report: ApplyReport,
    /// The balances could not be read: the problem and KB's wait.
    incomplete: Option<(Failure, Option<Duration>)>,
}

impl std::ops::Deref for Synced {
    type Target = ApplyReport;
    fn deref(&self) -> &ApplyReport {
        &self.report
    }
}

async fn sync_account<T: AccessTokens>(
    deps: &SyncDeps<T>,
    tenant: &Tenant,
    job: &ClaimedJob,
    info: &mut RunInfo,
) -> Result<Synced, SyncError> {
    let now = info.started_at;
    let timer = std::time::Instant::now();
    let state = {
        let mut tx = TenantTx::begin(&deps.pool, tenant).await?;
        let state = ledger::sync_state(&mut tx, job.account_id).await?;
        tx.commit().await?;
        state
    };
    let planned = sync_window(&state, now, job.notified, &deps.settings);
    let (window, full_history) = (planned.days, planned.reach == Reach::FullHistory);
    info.window = Some(window);
    info.trigger = if full_history {
        Trigger::First
    } else if job.attempts > 0 {
        Trigger::Retry
    } else if job.notified {
        Trigger::Notification
    } else {
        Trigger::Schedule
    };

    let mut refreshed = false;
    let mut attempts = 0;
    let downloaded = loop {
        let token = deps.tokens.access_token(job.connection_id).await?;
        attempts += 1;
        match download(deps, tenant, job, &token, planned, now, info).await {
            Ok(data) => break data,
            Err(Fetch::Bank(BankError::Unauthorized { .. })) if !refreshed => {
                deps.tokens.invalidate(job.connection_id).await;
                refreshed = true;
            }
            Err(Fetch::Bank(BankError::HistoryShifted))
                if attempts < deps.settings.window_attempts =>
            {
                tracing::info!("history changed during paging; downloading again");
            }
            Err(Fetch::Bank(BankError::HistoryShifted)) => return Err(SyncError::KeptShifting),
            Err(Fetch::Bank(BankError::UnchangedData { retry_after, .. })) => {
                // KB answers so within 61 minutes of a download. Unless Kasa applied one in
                // that time, the download KB counts is one Kasa never applied: recorded as
                // unapplied by a failed run, or never recorded at all (a process killed
                // mid-sync). Either way the account is not up to date.
                let applied_lately = state
                    .last_applied_at
                    .is_some_and(|at| now - at < deps.settings.schedule.unchanged_interval);
                return Err(match state.unapplied_download_at {
                    Some(downloaded_at) => SyncError::Blocked {
                        downloaded_at: Some(downloaded_at),
                        retry_after,
                    },
                    None if !applied_lately => SyncError::Blocked {
                        downloaded_at: None,
                        retry_after,
                    },
                    // Nothing new. A stale account (its last run stored no balances) reads
                    // them now: the balances have no 61-minute limit.
                    None => SyncError::Unchanged {
                        retry_after,
                        balances: if state.stale {
                            deps.kb.balances(&token, &job.kb_account_id).await?
                        } else {
                            Vec::new()
                        },
                    },
                });
            }
            Err(Fetch::Bank(e)) => return Err(e.into()),
            Err(Fetch::Db(e)) => return Err(e.into()),
            Err(Fetch::Refused(e)) => return Err(ledger::Error::from(e).into()),
            Err(Fetch::Stopped(e)) => return Err(SyncError::FetchStopped(e)),
        }
    };

    // The transactions are kept even when the balances are throttled or down: they follow in
    // the next run, and the account stays stale until then.
    let token = deps.tokens.access_token(job.connection_id).await;
    let balances = match token {
        Ok(token) => deps.kb.balances(&token, &job.kb_account_id).await,
        Err(e) => Err(e),
    };
    let (balances, incomplete) = match balances {
        Ok(balances) => (balances, None),
        Err(e @ (BankError::RateLimited { .. } | BankError::Unavailable { .. })) => {
            let wait = e.retry_after().and_then(|d| Duration::try_from(d).ok());
            let failure = Failure::new(Problem::of_balances(&e), format!("balances: {e}"));
            (Vec::new(), Some((failure, wait)))
        }
        Err(e) => return Err(e.into()),
    };

    let fetched_after = timer.elapsed();
    let StagedDownload {
        mut tx,
        staged,
        unreadable,
    } = downloaded;
    let rows = staged.rows;
    let report = ledger::apply_staged(
        &mut tx,
        &Batch {
            account_id: job.account_id,
            fence: job.fence,
            window,
            transactions: &[],
            unreadable: &unreadable,
            balances: &balances,
            reversal_convention: deps.kb.settings().quirks.reversal_convention,
            incomplete: incomplete.as_ref().map(|(failure, _)| failure),
            pages: info.pages,
            full_history,
            wide: planned.reach != Reach::Short,
            trigger: info.trigger,
            started_at: info.started_at,
            now: deps.clock.now(),
        },
        staged,
    )
    .await?;
    let applied_after = timer.elapsed();
    deps.after_apply
        .after_apply(&mut tx, job.account_id, deps.clock.now())
        .await?;
    let hooked_after = timer.elapsed();
    tx.commit().await?;
    info.downloaded_at = None;
    let (analyze, reclaim) = (report.search_indexes_rebuilt, rows >= stage::RECLAIM_ROWS);
    if analyze || reclaim {
        // A bulk write: the planner's statistics are refreshed, and the staging table's
        // deleted rows reclaimed, beside the next runs, not before this one finishes (a
        // notification meanwhile would wait for it).
        let (pool, tenant) = (deps.pool.clone(), tenant.clone());
        tokio::spawn(
            async move {
                if analyze {
                    let refreshed = async {
                        let mut tx = TenantTx::begin(&pool, &tenant).await?;
                        ledger::refresh_statistics(&mut tx).await?;
                        tx.commit().await
                    };
                    if let Err(e) = refreshed.await {
                        tracing::warn!(error = %e, "refreshing the transactions' statistics failed");
                    }
                }
                if reclaim && let Err(e) = stage::reclaim(&pool, &tenant).await {
                    tracing::warn!(error = %e, "reclaiming the staging table failed");
                }
            }
            .instrument(tracing::Span::current()),
        );
    }
    // fetch_ms: the pages with their staging (which overlap) and the balances; ledger_ms: the
    // merge and the rest of the apply; apply_ms = ledger_ms + after_apply_ms + the commit.
    tracing::debug!(
        pages = info.pages,
        reach = ?planned.reach,
        rows,
        search_indexes_rebuilt = report.search_indexes_rebuilt,
        fetch_ms = fetched_after.as_millis() as u64,
        ledger_ms = (applied_after - fetched_after).as_millis() as u64,
        after_apply_ms = (hooked_after - applied_after).as_millis() as u64,
        apply_ms = (timer.elapsed() - fetched_after).as_millis() as u64,
        "sync timing"
    );
    Ok(Synced { report, incomplete })
}

/// Why a download did not end staged.
enum Fetch {
    Bank(BankError),
    Db(sqlx::Error),
    /// A row the staging cannot hold.
    Refused(Refused),
    /// The fetch task ended without its result (it panicked).
    Stopped(String),
}

impl From<BankError> for Fetch {
    fn from(e: BankError) -> Self {
        Self::Bank(e)
    }
}

impl From<sqlx::Error> for Fetch {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

impl From<Refused> for Fetch {
    fn from(e: Refused) -> Self {
        Self::Refused(e)
    }
}

/// Pages the fetch task may get ahead of the writer (the channel's bound): enough to keep
/// the requests back to back while a page is staged, few enough to hold little memory.
const PAGES_AHEAD: usize = 4;

/// A download staged in the transaction that will apply it ([`ledger::apply_staged`]).
struct StagedDownload {
    tx: TenantTx,
    staged: Staged,
    unreadable: Vec<UnreadableTransaction>,
}

/// Downloads every page of the window and stages it, the two overlapping: a fetch task
/// ([`fetch_pages`]) requests the pages in order, back to back (KB drops the paging context
/// after 10 s, kb-adaa-spec §7.5), and hands each over a bounded channel to this writer, which
/// copies its rows into the staging table of a tenant transaction ([`stage`]) while the next
/// page is fetched. The transaction begins when the first page has arrived, so a connection is
/// not held while KB answers the first request. A first sync ([`Reach::FullHistory`]) also records its
/// progress after each page (committed apart: the account's page shows it until the history
/// is complete); later syncs do not, as nothing shows it. The window's Prague days become
/// instants: from the start of the first day to the end of the last (at most now). On any
/// error the transaction rolls back and the fetch task is stopped; a KB error is the fetch
/// task's result, as the client returned it.
async fn download<T: AccessTokens>(
    deps: &SyncDeps<T>,
    tenant: &Tenant,
    job: &ClaimedJob,
    token: &Secret<String>,
    planned: SyncWindow,
    now: OffsetDateTime,
    info: &mut RunInfo,
) -> Result<StagedDownload, Fetch> {
    let ((from, to), first_sync) = (planned.days, planned.reach == Reach::FullHistory);
    let from_at = prague_day_start(from);
    let to_at = prague_day_end(to).min(now).max(from_at);
    info.pages = 0;
    info.fetched = 0;
    let (pages, mut arrived) = mpsc::channel(PAGES_AHEAD);
    // Dropping the set (an error below, or the sync cancelled) aborts the task: none outlives
    // its download.
    let mut fetch = JoinSet::new();
    fetch.spawn(
        fetch_pages(
            deps.kb.clone(),
            token.clone(),
            job.kb_account_id.clone(),
            (from_at, to_at),
            pages,
        )
        .instrument(tracing::Span::current()),
    );
    // The first page comes before the transaction that stages it. A download that ended
    // before any page (KB refused the first request: unchanged data, a 401, a rate limit)
    // returns its result without opening one.
    let first = arrived.recv().await;
    let mut ended = None;
    if first.is_none() {
        ended = Some(fetch_result(&mut fetch).await?);
    }
    let mut tx = TenantTx::begin(&deps.pool, tenant).await?;
    stage::clear(&mut tx).await?;
    let mut stage = Stage::new(deps.kb.settings().quirks.reversal_convention);
    let mut unreadable = Vec::new();
    let mut copy = stage::copy_in(&mut tx).await?;
    let written: Result<(), Fetch> = async {
        let mut next = first;
        while let Some(slice) = next {
            let data = stage.page(&slice.transactions)?;
            unreadable.extend(slice.unreadable);
            info.pages += 1;
            info.fetched = stage.len() + unreadable.len();
            // KB starts its 61 minutes at the first page.
            info.downloaded_at.get_or_insert(deps.clock.now());
            let (sent, progressed) = tokio::join!(copy.send(data), async {
                if first_sync {
                    progress(&deps.pool, tenant, job, info.pages, info.fetched).await
                } else {
                    Ok(())
                }
            });
            sent?;
            progressed?;
            next = arrived.recv().await;
        }
        // The channel closed: the task ended. Its result says whether the download is whole.
        match ended {
            Some(()) => Ok(()),
            None => fetch_result(&mut fetch).await,
        }
    }
    .await;
    match written {
        Ok(()) => {
            copy.send(stage.end()).await?;
            copy.finish().await?;
        }
        Err(e) => {
            // Ends the COPY; the transaction rolls back when dropped.
            if let Err(abort) = copy.abort("the download failed").await {
                tracing::debug!(error = %abort, "aborting the staging copy");
            }
            return Err(e);
        }
    }
    Ok(StagedDownload {
        tx,
        staged: stage.finish(),
        unreadable,
    })
}

/// The fetch task's result, once its channel closed: `Ok` when the download is whole, KB's
/// error as the client returned it, or [`Fetch::Stopped`] when the task ended without one.
async fn fetch_result(fetch: &mut JoinSet<Result<(), BankError>>) -> Result<(), Fetch> {
    match fetch.join_next().await {
        Some(Ok(result)) => result.map_err(Fetch::Bank),
        Some(Err(e)) => Err(Fetch::Stopped(e.to_string())),
        None => Err(Fetch::Stopped("no fetch task".to_owned())),
    }
}

/// The fetch task: the window's pages in order, each handed to the writer as soon as it is
/// read (waiting only when [`PAGES_AHEAD`] pages wait already). Its result is the download's:
/// `Ok` when the last page was handed over (or the writer stopped taking them: its own error
/// is the sync's), else KB's error as the client returned it.
async fn fetch_pages(
    kb: KbClient,
    token: Secret<String>,
    kb_account_id: String,
    (from, to): (OffsetDateTime, OffsetDateTime),
    pages: mpsc::Sender<TransactionSlice>,
) -> Result<(), BankError> {
    let mut download = kb.download(&token, &kb_account_id, Some(from), Some(to));
    while let Some(slice) = download.next_slice().await? {
        if pages.send(slice).await.is_err() {
            break;
        }
    }
    Ok(())
}

async fn progress(
    pool: &PgPool,
    tenant: &Tenant,
    job: &ClaimedJob,
    pages: u32,
    fetched: usize,
) -> Result<(), sqlx::Error> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    ledger::set_progress(&mut tx, job.account_id, pages, fetched).await?;
    tx.commit().await
}

/// A sync worker: one owner name, shared dependencies.
pub struct Worker<T: AccessTokens> {
    deps: Arc<SyncDeps<T>>,
    owner: String,
}

impl<T: AccessTokens> Worker<T> {
    pub fn new(deps: Arc<SyncDeps<T>>, owner: impl Into<String>) -> Self {
        Self {
            deps,
            owner: owner.into(),
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// One round at the clock's current time; returns how many jobs were claimed.
    pub async fn run_once(&self) -> Result<usize, sqlx::Error> {
        run_once(&self.deps, &self.owner, self.deps.clock.now()).await
    }

    /// Rounds until nothing is due (at most `max_rounds`); returns the jobs handled.
    pub async fn run_until_idle(&self, max_rounds: usize) -> Result<usize, sqlx::Error> {
        let mut total = 0;
        for _ in 0..max_rounds {
            match self.run_once().await? {
                0 => break,
                n => total += n,
            }
        }
        Ok(total)
    }

    /// Loops until `shutdown` turns true: a round, then (when idle) a pause that `wake` (a KB
    /// notification) cuts short. A running sync is finished before stopping.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>, wake: Arc<Notify>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let pause = match self.run_once().await {
                Ok(0) => Some(self.deps.settings.idle_poll),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "sync round failed");
                    Some(self.deps.settings.idle_poll)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = wake.notified() => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}
