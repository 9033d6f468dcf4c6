//! The club's bank data in its own schema: `bank_accounts` (sync state, progress), `transactions`,
//! `balances` (history) and `sync_runs`. Every function takes a [`TenantTx`].
//!
//! [`apply`] writes one sync's result in one transaction: it first re-checks the job's fence
//! (a worker whose lease was taken over gets [`Error::LostLease`] and writes nothing), then
//! merges the fetched transactions, staged by one binary `COPY` into the club's staging table
//! ([`super::stage`]; the worker stages them while the pages arrive, [`apply_staged`]), in one
//! statement keyed by `(account_id, bank_key)` that gives new rows ids oldest first, keeps
//! the items Kasa could not read in `unreadable_transactions`, deletes the not-final rows
//! (pending, scheduled, ...) from the window's start on that KB no longer lists, stores the
//! balances, advances the watermark, runs the balance reconciliation and records the run.
//! The merge writes each movement's search text (`sync::movements::search_text`); a batch as
//! large as everything the club stores (a first sync) builds the search indexes afterwards in
//! one go instead of row by row ([`ApplyReport::search_indexes_rebuilt`]).
//! Applying the same data again changes nothing; overlapping windows of the same bank state give
//! the same rows in any order.
//!
//! What overwrites a stored transaction (docs/decisions.md): a copy of higher status rank
//! (booked > cancelled/rejected > pending/scheduled/unknown) always wins, whatever `lastUpdated`
//! says, so pending → booked is one-way; among copies of the same rank, the one whose
//! `lastUpdated` (compared to the second, since KB's precision varies) is not older wins.
//! Every business day is a Prague date ([`crate::i18n::prague_date`]).

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::jobs::{self, LostLease};
use super::outcome::{Failure, RunOutcome, Trigger};
use super::stage::{Refused, Stage, Staged};
use crate::bank::wire::{
    AccountBalance, BalanceType, ReversalConvention, Transaction, TransactionStatus,
    UnreadableTransaction,
};
use crate::db::tenant::TenantTx;
use crate::i18n::prague_date;

/// Why a ledger write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another worker holds the job now; nothing was written.
    #[error(transparent)]
    LostLease(#[from] LostLease),
    #[error("the bank account {0} is not in this club's schema")]
    UnknownAccount(Uuid),
    /// A text the bank sent cannot be stored (a NUL character); nothing was written.
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The club's copy of a connected account.
#[derive(Debug, Clone)]
pub struct AccountInfo {
    /// Same id as `app.bank_accounts.id`.
    pub id: Uuid,
    pub kb_account_id: String,
    pub iban: String,
    pub currency: String,
    pub name: Option<String>,
}

/// Creates the club's row of an account, or refreshes KB's id and name of the existing one (its
/// sync state and history stay: a reconnect resumes the account). Called by `consent` when a
/// connection exposes the account.
pub async fn ensure_account(
    tx: &mut TenantTx,
    account: &AccountInfo,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bank_accounts (id, kb_account_id, iban, currency, name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
            kb_account_id = excluded.kb_account_id, iban = excluded.iban",
    )
    .bind(account.id)
    .bind(&account.kb_account_id)
    .bind(&account.iban)
    .bind(&account.currency)
    .bind(&account.name)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the club's copy of an account with everything that references it: transactions
/// (and through their foreign keys the payment decisions, allocations and actions on them),
/// unreadable items, balances, sync runs, the balance watch. What other modules keep about the
/// account without a foreign key (matching's scan position) is theirs to forget first
/// ([`super::AfterLedgerApply::before_account_deleted`]). Returns whether the account existed.
pub async fn delete_account(tx: &mut TenantTx, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM bank_accounts WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What the next sync needs to choose its window.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncState {
    pub watermark: Option<Date>,
    pub history_complete: bool,
    /// Date of the oldest not-final row (pending, scheduled, unknown): it must stay inside the
    /// next window until it settles.
    pub oldest_pending: Option<Date>,
    /// The account is stale (the last run did not store everything).
    pub stale: bool,
    /// A download of the transaction list that was never applied (KB's 61 minutes count from
    /// it, so its unchanged-data answer does not mean "nothing new" until the next apply).
    pub unapplied_download_at: Option<OffsetDateTime>,
    /// When a sync last applied a wide read (or the whole history; [`Batch::wide`]).
    pub wide_synced_at: Option<OffsetDateTime>,
    /// When the last run that applied a download (`synced` or `partial`) finished. KB's
    /// unchanged-data answer within 61 minutes of it means nothing new; later, it means a
    /// download Kasa never recorded (a process killed mid-sync), see `worker::sync_account`.
    pub last_applied_at: Option<OffsetDateTime>,
}

/// Reads the account's sync state.
pub async fn sync_state(tx: &mut TenantTx, account_id: Uuid) -> Result<SyncState, Error> {
    let state: Option<SyncState> = sqlx::query_as(
        "SELECT a.watermark, a.history_complete, \
                (SELECT min(COALESCE(t.booking_date, t.value_date)) FROM transactions t \
                  WHERE t.account_id = a.id AND t.status IN ('pending', 'scheduled', 'unknown')) \
                    AS oldest_pending, \
                a.stale_since IS NOT NULL AS stale, a.unapplied_download_at, a.wide_synced_at, \
                (SELECT r.finished_at FROM sync_runs r \
                  WHERE r.account_id = a.id AND r.outcome IN ('synced', 'partial') \
                  ORDER BY r.started_at DESC LIMIT 1) AS last_applied_at \
           FROM bank_accounts a WHERE a.id = $1",
    )
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?;
    state.ok_or(Error::UnknownAccount(account_id))
}

/// Progress of the running download, for the account's page.
pub async fn set_progress(
    tx: &mut TenantTx,
    account_id: Uuid,
    pages: u32,
    fetched: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bank_accounts SET progress_pages = $2, progress_fetched = $3 WHERE id = $1",
    )
    .bind(account_id)
    .bind(i32::try_from(pages).unwrap_or(i32::MAX))
    .bind(i32::try_from(fetched).unwrap_or(i32::MAX))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One sync's result, ready to be written.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    pub account_id: Uuid,
    /// The fence of the claim that fetched this batch.
    pub fence: i64,
    /// The dates the download covered (inclusive).
    pub window: (Date, Date),
    /// Everything KB listed for the window that Kasa could read, in KB's order (staged and
    /// merged by [`apply`]; [`apply_staged`] takes them already staged instead).
    pub transactions: &'a [Transaction],
    /// What KB listed that Kasa could not read (kept raw, shown, counted by reconciliation).
    pub unreadable: &'a [UnreadableTransaction],
    /// Empty when they could not be fetched this run (see `incomplete`).
    pub balances: &'a [AccountBalance],
    /// How KB marks a reversal's direction (the `KbQuirks` setting).
    pub reversal_convention: ReversalConvention,
    /// The run could not finish (e.g. the balances were rate-limited): the transactions are
    /// written, but the account stays stale with this problem and `fresh_as_of` does not move.
    pub incomplete: Option<&'a Failure>,
    pub pages: u32,
    /// The window reaches as far back as KB allows (the first sync).
    pub full_history: bool,
    /// The window re-read the wide overlap before the watermark (or the whole history), not
    /// only what a notification announced: recorded as `wide_synced_at` (`sync::worker::Reach`).
    pub wide: bool,
    pub trigger: Trigger,
    pub started_at: OffsetDateTime,
    pub now: OffsetDateTime,
}

/// What [`apply`] changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyReport {
    pub inserted: u64,
    pub updated: u64,
    pub removed: u64,
    /// Items kept in `unreadable_transactions` by this run.
    pub unreadable: u64,
    pub reconciliation: Option<Reconciliation>,
    /// The batch was large against the club's stored movements, so the search indexes were
    /// dropped before its upsert and built again after it ([`SearchIndexes`]).
    pub search_indexes_rebuilt: bool,
}

/// Σ booked movements between two booked-balance snapshots against the balance change, on
/// Prague days `[from, to)` (minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub from: Date,
    pub to: Date,
    pub balance_change: i64,
    pub movements: i64,
    /// Items of the period Kasa could not read, and the sum of their known amounts.
    pub unreadable: i64,
    pub unreadable_minor: i64,
    /// Σ of the booked reversal rows of the period (already inside `movements`).
    pub reversals_minor: i64,
}

impl Reconciliation {
    pub fn is_ok(&self) -> bool {
        self.balance_change == self.movements
    }

    /// The booked reversals point the wrong way: the difference is exactly twice their sum,
    /// so each would double the payment it reverses instead of undoing it (the reversal
    /// convention setting does not fit the bank's data).
    pub fn reversals_contradict(&self) -> bool {
        !self.is_ok()
            && self.reversals_minor != 0
            && self.movements - self.balance_change == 2 * self.reversals_minor
    }

    /// The text stored in `sync_runs.reconciliation`.
    pub fn describe(&self) -> String {
        let mut text = if self.is_ok() {
            format!(
                "ok {}..{}: balance change {} = booked movements",
                self.from, self.to, self.balance_change
            )
        } else {
            format!(
                "mismatch {}..{}: balance change {} but booked movements {} (difference {})",
                self.from,
                self.to,
                self.balance_change,
                self.movements,
                self.balance_change - self.movements
            )
        };
        if self.unreadable > 0 {
            text.push_str(&format!(
                "; {} movement(s) Kasa could not read, known amounts {}",
                self.unreadable, self.unreadable_minor
            ));
        }
        if self.reversals_contradict() {
            text.push_str(
                "; reversals would double their payments: check KASA_KB_REVERSAL_CONVENTION",
            );
        }
        text
    }
}

/// The stable identity of a fetched transaction within its account: `as:` + KB's
/// `references.accountServicer` (hashed when absurdly long, [`crate::bank::wire::servicer_key`]);
/// without one, `fp:` + SHA-256 of the canonical fields + `:` +
/// the ordinal among identical fingerprints of the same response (two genuinely identical
/// payments stay two rows). Enrichment (names, free texts), status and `lastUpdated` are not
/// part of the fingerprint.
pub fn bank_keys(transactions: &[Transaction]) -> Vec<String> {
    let mut keys = BankKeys::default();
    transactions.iter().map(|t| keys.next(t)).collect()
}

/// [`bank_keys`] one transaction at a time, across the pages of one download.
#[derive(Debug, Default)]
pub struct BankKeys {
    seen: HashMap<String, u32>,
}

impl BankKeys {
    /// The key of the download's next transaction.
    pub fn next(&mut self, t: &Transaction) -> String {
        match t.account_servicer() {
            Some(id) => crate::bank::wire::servicer_key(id),
            None => {
                let fp = fingerprint(t);
                let ordinal = self.seen.entry(fp.clone()).or_insert(0);
                let key = format!("fp:{fp}:{ordinal}");
                *ordinal += 1;
                key
            }
        }
    }
}

fn fingerprint(t: &Transaction) -> String {
    let party = t.counter_party.clone().unwrap_or_default();
    let refs = t.references.clone().unwrap_or_default();
    let date = t.booking_date.or(t.value_date).map(|d| d.to_string());
    let fields: [Option<String>; 12] = [
        date,
        Some(t.signed_minor_units().to_string()),
        Some(t.amount.currency.clone()),
        Some(t.transaction_type.as_str().to_owned()),
        Some(t.reversal_indicator.unwrap_or(false).to_string()),
        t.entry_reference.clone(),
        party.iban,
        party.account_no,
        party.bank_code,
        refs.variable,
        refs.constant,
        refs.specific,
    ];
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update(field.unwrap_or_default().as_bytes());
        hasher.update([0x1f]);
    }
    hasher.update(refs.receiver.unwrap_or_default().as_bytes());
    hex::encode(hasher.finalize())
}

/// Kasa's status of a KB row (`transactions.status`). Only `booked` is accounting.
pub fn status_of(t: &Transaction) -> &'static str {
    match &t.status {
        None | Some(TransactionStatus::Booked) => "booked",
        Some(TransactionStatus::Pending) => "pending",
        Some(TransactionStatus::Scheduled) => "scheduled",
        Some(TransactionStatus::Cancelled) => "cancelled",
        Some(TransactionStatus::Rejected) => "rejected",
        // Anything KB may add: not final, never counted or matched, removed when it
        // disappears, flagged (`unknown_status:X`) and shown with KB's literal.
        Some(TransactionStatus::Unknown(_)) => "unknown",
    }
}

/// How final a status is: a copy of higher rank always replaces a stored one (booked is
/// final; a cancellation or rejection ends a pending or scheduled row).
fn status_rank(status: &str) -> u8 {
    match status {
        "booked" => 3,
        "cancelled" | "rejected" => 2,
        _ => 1,
    }
}

/// The same ranking in SQL, for the upsert's condition.
fn status_rank_sql(column: &str) -> String {
    format!(
        "(CASE {column} WHEN 'booked' THEN 3 WHEN 'cancelled' THEN 2 WHEN 'rejected' THEN 2 \
          ELSE 1 END)"
    )
}

/// Which copy of a transaction wins: copy `b` replaces copy `a` when
/// `precedence(b) >= precedence(a)` (same rule as the merge): higher status rank wins whatever
/// `lastUpdated` says; same rank: `b` wins unless its `lastUpdated` is older at whole-second
/// precision (KB's precision differs between environments).
pub(super) fn precedence(t: &Transaction) -> (u8, i64) {
    (status_rank(status_of(t)), t.last_updated.unix_timestamp())
}

/// The merge of the staged rows ([`super::stage`]) into `transactions`: one
/// `INSERT … SELECT … ON CONFLICT DO UPDATE`. Each key's winning row (`$2`, by `ord`: its
/// position in the order new rows take ids, 0 for a copy that lost) takes the id reserved for
/// that position (`$3` ids, reserved ascending in the statement), so new rows get ids oldest
/// first without sorting the staged rows. A stored row is replaced only by a copy of at least
/// its [`precedence`] (rank first, then `lastUpdated` to the second) that differs from it, so
/// re-applying changes nothing.
fn merge_sql() -> String {
    let (new_rank, old_rank) = (
        status_rank_sql("excluded.status"),
        status_rank_sql("transactions.status"),
    );
    let staged = super::stage::TABLE;
    format!(
        "\
WITH sequence AS MATERIALIZED ( \
    SELECT pg_get_serial_sequence('transactions', 'id')::regclass AS name), \
ids AS MATERIALIZED ( \
    SELECT COALESCE(array_agg(r.id ORDER BY r.id), '{{}}') AS ids \
      FROM (SELECT nextval(sequence.name) AS id FROM sequence, generate_series(1, $3)) r) \
INSERT INTO transactions (id, account_id, bank_key, status, amount_minor, currency, \
    instructed_minor, instructed_currency, booking_date, value_date, counterparty_name, \
    counterparty_account, counterparty_bank_code, counterparty_iban, variable_symbol, \
    constant_symbol, specific_symbol, message, note, transaction_type, reversal, last_updated, \
    first_seen_at, kb_status, flags, kb_json, search_text) \
OVERRIDING SYSTEM VALUE \
SELECT ids.ids[($2::int4[])[s.ord + 1]], $1, s.bank_key, s.status, s.amount_minor, s.currency, \
    s.instructed_minor, s.instructed_currency, s.booking_date, s.value_date, \
    s.counterparty_name, s.counterparty_account, s.counterparty_bank_code, s.counterparty_iban, \
    s.variable_symbol, s.constant_symbol, s.specific_symbol, s.message, s.note, \
    s.transaction_type, s.reversal, s.last_updated, $4, s.kb_status, \
    CASE WHEN s.flags = '' THEN '{{}}'::text[] ELSE string_to_array(s.flags, ',') END, \
    s.kb_json::jsonb, s.search_text \
FROM {staged} s, ids \
WHERE ($2::int4[])[s.ord + 1] > 0 \
ON CONFLICT (account_id, bank_key) DO UPDATE SET \
    status = excluded.status, amount_minor = excluded.amount_minor, \
    currency = excluded.currency, instructed_minor = excluded.instructed_minor, \
    instructed_currency = excluded.instructed_currency, booking_date = excluded.booking_date, \
    value_date = excluded.value_date, counterparty_name = excluded.counterparty_name, \
    counterparty_account = excluded.counterparty_account, \
    counterparty_bank_code = excluded.counterparty_bank_code, \
    counterparty_iban = excluded.counterparty_iban, variable_symbol = excluded.variable_symbol, \
    constant_symbol = excluded.constant_symbol, specific_symbol = excluded.specific_symbol, \
    message = excluded.message, note = excluded.note, \
    transaction_type = excluded.transaction_type, reversal = excluded.reversal, \
    last_updated = excluded.last_updated, kb_status = excluded.kb_status, flags = excluded.flags, \
    kb_json = excluded.kb_json, search_text = excluded.search_text \
WHERE {new_rank} > {old_rank} \
   OR ({new_rank} = {old_rank} \
       AND date_trunc('second', excluded.last_updated) >= date_trunc('second', transactions.last_updated) \
       AND (excluded.status, excluded.amount_minor, excluded.currency, excluded.instructed_minor, \
            excluded.instructed_currency, excluded.booking_date, excluded.value_date, \
            excluded.counterparty_name, excluded.counterparty_account, \
            excluded.counterparty_bank_code, excluded.counterparty_iban, excluded.variable_symbol, \
            excluded.constant_symbol, excluded.specific_symbol, excluded.message, excluded.note, \
            excluded.transaction_type, excluded.reversal, excluded.kb_status, excluded.flags) \
           IS DISTINCT FROM \
           (transactions.status, transactions.amount_minor, transactions.currency, \
            transactions.instructed_minor, transactions.instructed_currency, \
            transactions.booking_date, transactions.value_date, transactions.counterparty_name, \
            transactions.counterparty_account, transactions.counterparty_bank_code, \
            transactions.counterparty_iban, transactions.variable_symbol, \
            transactions.constant_symbol, transactions.specific_symbol, transactions.message, \
            transactions.note, transactions.transaction_type, transactions.reversal, \
            transactions.kb_status, transactions.flags)) \
RETURNING (xmax = 0)"
    )
}

/// The indexes of `transactions` that serve only the account page's search, sorting and
/// paging (tenant migration 0013), never the sync's own write: the upsert's conflict key and
/// the date index stay.
const SEARCH_INDEXES: [&str; 5] = [
    "transactions_search_idx",
    "transactions_symbols_idx",
    "transactions_account_day_idx",
    "transactions_account_amount_id_idx",
    "transactions_account_abs_amount_idx",
];

/// A batch below this many rows always updates the indexes row by row.
const BULK_INDEX_ROWS: usize = 1_000;

/// The search indexes a bulk write dropped, as `CREATE INDEX` statements to build them again.
///
/// Building a trigram index over 100 000 movements at once costs a fraction of inserting them
/// into it one by one (docs/benchmarks.md), so a batch that is large against what the club
/// already stores (a first sync of a long history) drops them before its upsert and builds
/// them again right after it, in the same transaction: readers never see them missing, but
/// the club's `transactions` table is locked for the rest of that transaction (`DROP INDEX`
/// takes an exclusive lock; docs/decisions.md).
struct SearchIndexes(Vec<String>);

impl SearchIndexes {
    /// Drops the search indexes when `rows` (the batch's distinct movements) are at least
    /// [`BULK_INDEX_ROWS`] and at least as many as the club already stores; otherwise `None`
    /// and nothing changes. An index the schema lacks (no pg_trgm) is skipped.
    async fn drop_for_bulk(tx: &mut TenantTx, rows: usize) -> Result<Option<Self>, sqlx::Error> {
        if rows < BULK_INDEX_ROWS {
            return Ok(None);
        }
        let (stored,): (i64,) =
            sqlx::query_as("SELECT COALESCE(sum(movements), 0)::int8 FROM bank_accounts")
                .fetch_one(&mut **tx)
                .await?;
        if (rows as i64) < stored {
            return Ok(None);
        }
        let definitions: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.relname::text, pg_get_indexdef(c.oid) FROM pg_class c \
              WHERE c.oid = ANY (SELECT to_regclass(n) FROM unnest($1::text[]) n) \
              ORDER BY array_position($1::text[], c.relname::text)",
        )
        .bind(SEARCH_INDEXES.as_slice())
        .fetch_all(&mut **tx)
        .await?;
        let mut create = Vec::with_capacity(definitions.len());
        for (name, definition) in definitions {
            // The names are this module's constants, never input.
            sqlx::query(&format!("DROP INDEX {name}"))
                .execute(&mut **tx)
                .await?;
            create.push(definition);
        }
        Ok(Some(SearchIndexes(create)))
    }

    /// Builds the dropped indexes again.
    async fn create(self, tx: &mut TenantTx) -> Result<(), sqlx::Error> {
        for definition in self.0 {
            sqlx::query(&definition).execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Writes one sync's result (see the module documentation). The caller commits.
///
/// Amounts are the movements under `batch.reversal_convention`; days are Prague dates; an
/// `incomplete` batch writes everything it has but leaves the account stale (`fresh_as_of`
/// unchanged, `last_error` = the reason) and records the run as `partial`. The transactions
/// are staged first ([`super::stage`]) and merged by [`apply_staged`]; a text the staging
/// cannot hold (a NUL character) is [`Error::Refused`] and nothing is written.
pub async fn apply(tx: &mut TenantTx, batch: &Batch<'_>) -> Result<ApplyReport, Error> {
    let mut stage = Stage::new(batch.reversal_convention);
    let mut data = stage.page(batch.transactions)?;
    data.extend(stage.end());
    super::stage::clear(tx).await?;
    let mut copy = super::stage::copy_in(tx).await?;
    copy.send(data).await?;
    copy.finish().await?;
    apply_staged(tx, batch, stage.finish()).await
}

/// [`apply`] of a download whose readable transactions were staged in this transaction while
/// it ran (`staged`; `batch.transactions` is not read): fence check, then one merge of the
/// staged rows into `transactions`, then the rest of [`apply`]. Empties the staging table before returning.
pub async fn apply_staged(
    tx: &mut TenantTx,
    batch: &Batch<'_>,
    staged: Staged,
) -> Result<ApplyReport, Error> {
    jobs::lock_fence(tx, batch.account_id, batch.fence).await??;
    let state = sync_state(tx, batch.account_id).await?;
    let today = prague_date(batch.now);

    let rebuild = SearchIndexes::drop_for_bulk(tx, staged.movements()).await?;
    let search_indexes_rebuilt = rebuild.is_some();
    // Per staged row (`ord`): its 1-based place in the id order, 0 for a copy that lost.
    let mut place = vec![0i32; staged.rows];
    for (n, &ord) in staged.order.iter().enumerate() {
        place[ord as usize] = i32::try_from(n + 1).unwrap_or(i32::MAX);
    }
    let written: Vec<(bool,)> = sqlx::query_as(&merge_sql())
        .bind(batch.account_id)
        .bind(&place)
        .bind(i64::try_from(staged.movements()).unwrap_or(i64::MAX))
        .bind(batch.now)
        .fetch_all(&mut **tx)
        .await?;
    // The merge was the staging table's one reader: emptied now, so nothing staged outlives
    // this transaction (`stage::clear`).
    super::stage::clear(tx).await?;
    if let Some(rebuild) = rebuild {
        rebuild.create(tx).await?;
    }
    let inserted = written.iter().filter(|(new,)| *new).count() as u64;
    let updated = written.len() as u64 - inserted;

    // Not-booked rows (pending, scheduled, cancelled, rejected, unknown) of the window that KB
    // no longer lists are gone: a hold released, an order cancelled, or booked under another
    // id. A window that reaches today also owns every later (future-dated) row and the rows
    // without any date: KB lists a future-dated order while it exists. The candidates are
    // read and compared with what KB listed here (the staged keys are in memory), so no plan
    // depends on estimates of the staging table.
    let (from, to) = batch.window;
    // What KB listed besides the staged (readable) keys.
    let unreadable_keys: Vec<String> = batch
        .unreadable
        .iter()
        .map(|u| u.bank_key.clone())
        .filter(|key| !staged.keys.contains(key))
        .collect();
    let not_booked: Vec<(String,)> = sqlx::query_as(
        "SELECT bank_key FROM transactions \
          WHERE account_id = $1 AND status <> 'booked' \
            AND (COALESCE(booking_date, value_date) BETWEEN $2 AND $3 \
                 OR ((COALESCE(booking_date, value_date) > $3 \
                      OR COALESCE(booking_date, value_date) IS NULL) AND $3 >= $4))",
    )
    .bind(batch.account_id)
    .bind(from)
    .bind(to)
    .bind(today)
    .fetch_all(&mut **tx)
    .await?;
    let listed: std::collections::HashSet<&str> =
        unreadable_keys.iter().map(String::as_str).collect();
    let gone: Vec<String> = not_booked
        .into_iter()
        .map(|(key,)| key)
        .filter(|key| !staged.keys.contains(key) && !listed.contains(key.as_str()))
        .collect();
    let removed = if gone.is_empty() {
        0
    } else {
        sqlx::query(
            "DELETE FROM transactions \
              WHERE account_id = $1 AND status <> 'booked' AND bank_key = ANY($2)",
        )
        .bind(batch.account_id)
        .bind(&gone)
        .execute(&mut **tx)
        .await?
        .rows_affected()
    };

    let unreadable = store_unreadable(tx, batch, &staged, &unreadable_keys, today).await?;
    insert_balances(tx, batch.account_id, batch.balances, batch.now).await?;

    let history_complete = state.history_complete || batch.full_history;
    let reconciliation = if history_complete {
        reconcile(tx, batch.account_id).await?
    } else {
        None
    };
    // The watermark moves only over a window that joins the covered history (no gap). After a
    // reconciliation mismatch it moves back, so the next sync reads the period again.
    let mismatch_from = reconciliation
        .as_ref()
        .filter(|r| !r.is_ok())
        .map(|r| r.from);
    if let Some(r) = reconciliation.as_ref().filter(|r| !r.is_ok()) {
        tracing::warn!(account_id = %batch.account_id, "balance reconciliation: {}", r.describe());
    }
    sqlx::query(
        "UPDATE bank_accounts SET \
            watermark = LEAST(CASE WHEN watermark IS NULL OR $2 <= watermark + 1 OR $4 \
                                   THEN GREATEST(COALESCE(watermark, $3), $3) \
                                   ELSE watermark END, $6), \
            history_complete = history_complete OR $4, \
            fresh_as_of = CASE WHEN $7::text IS NULL THEN $5 ELSE fresh_as_of END, \
            stale_since = CASE WHEN $7::text IS NULL THEN NULL ELSE COALESCE(stale_since, $5) END, \
            last_error = $7, problem = $8, unapplied_download_at = NULL, \
            wide_synced_at = CASE WHEN $9 THEN $5 ELSE wide_synced_at END \
          WHERE id = $1",
    )
    .bind(batch.account_id)
    .bind(from)
    .bind(to)
    .bind(batch.full_history)
    .bind(batch.now)
    .bind(mismatch_from)
    .bind(batch.incomplete.map(|f| f.detail.as_str()))
    .bind(batch.incomplete.map(|f| f.problem))
    .bind(batch.wide || batch.full_history)
    .execute(&mut **tx)
    .await?;

    let report = ApplyReport {
        inserted,
        updated,
        removed,
        unreadable,
        reconciliation,
        search_indexes_rebuilt,
    };
    insert_run(
        tx,
        batch.account_id,
        &RunRecord {
            trigger: batch.trigger,
            started_at: batch.started_at,
            window: Some(batch.window),
            pages: batch.pages,
            fetched: staged.rows + batch.unreadable.len(),
            outcome: if batch.incomplete.is_some() {
                RunOutcome::Partial
            } else {
                RunOutcome::Synced
            },
            failure: batch.incomplete,
            downloaded_at: None,
            now: batch.now,
        },
        &report,
    )
    .await?;
    Ok(report)
}

/// Keeps the items Kasa could not read (upserted by key, raw text and what was salvaged),
/// drops the ones KB now sends readably (the `staged` keys) or no longer lists (same window
/// rule as the not-booked rows; `listed` are the batch's other unreadable keys). Returns how
/// many this batch holds.
async fn store_unreadable(
    tx: &mut TenantTx,
    batch: &Batch<'_>,
    staged: &Staged,
    listed: &[String],
    today: Date,
) -> Result<u64, sqlx::Error> {
    let mut kept = 0;
    let mut seen = std::collections::HashSet::new();
    for u in batch.unreadable {
        if staged.keys.contains(&u.bank_key) || !seen.insert(u.bank_key.as_str()) {
            continue;
        }
        kept += 1;
        sqlx::query(
            "INSERT INTO unreadable_transactions (account_id, bank_key, raw, problem, \
                 amount_minor, currency, day, kb_status, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (account_id, bank_key) DO UPDATE SET raw = excluded.raw, \
                 problem = excluded.problem, amount_minor = excluded.amount_minor, \
                 currency = excluded.currency, day = excluded.day, \
                 kb_status = excluded.kb_status, last_seen_at = excluded.last_seen_at",
        )
        .bind(batch.account_id)
        .bind(&u.bank_key)
        .bind(&u.raw)
        .bind(&u.problem)
        .bind(u.amount_minor)
        .bind(&u.currency)
        .bind(u.date)
        .bind(&u.status)
        .bind(batch.now)
        .execute(&mut **tx)
        .await?;
    }
    // Items KB now sends readably: the club's few unreadable keys, compared with the staged
    // keys here (no plan depends on estimates of the staging table).
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT bank_key FROM unreadable_transactions WHERE account_id = $1")
            .bind(batch.account_id)
            .fetch_all(&mut **tx)
            .await?;
    let readable_now: Vec<String> = stored
        .into_iter()
        .map(|(key,)| key)
        .filter(|key| staged.keys.contains(key))
        .collect();
    sqlx::query(
        "DELETE FROM unreadable_transactions \
          WHERE account_id = $1 \
            AND (bank_key = ANY($2) \
                 OR (NOT (bank_key = ANY($3)) \
                     AND (day BETWEEN $4 AND $5 \
                          OR ((day > $5 OR day IS NULL) AND $5 >= $6))))",
    )
    .bind(batch.account_id)
    .bind(&readable_now)
    .bind(listed)
    .bind(batch.window.0)
    .bind(batch.window.1)
    .bind(today)
    .execute(&mut **tx)
    .await?;
    Ok(kept)
}

async fn insert_balances(
    tx: &mut TenantTx,
    account_id: Uuid,
    balances: &[AccountBalance],
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    for balance in balances {
        sqlx::query(
            "INSERT INTO balances (account_id, balance_type, amount_minor, currency, valid_at, \
                                   fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(account_id)
        .bind(balance.balance_type.as_str())
        .bind(balance.signed_minor_units())
        .bind(&balance.amount.currency)
        .bind(balance.valid_at)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Compares the two latest booked-balance snapshots of different Prague days with the booked
/// movements between them. `PREVIOUSLY_CLOSED_BOOK` valid on Prague day D is the balance after
/// everything booked before D, so the movements counted are those booked on `[from, to)`; the
/// period's unreadable items and reversals are counted alongside (see [`Reconciliation`]).
async fn reconcile(
    tx: &mut TenantTx,
    account_id: Uuid,
) -> Result<Option<Reconciliation>, sqlx::Error> {
    // The day of a snapshot is the Prague date of its instant, computed here (one time-zone
    // path), not by the database: the newest snapshot of each day counts.
    let recent: Vec<(OffsetDateTime, i64)> = sqlx::query_as(
        "SELECT valid_at, amount_minor FROM balances \
          WHERE account_id = $1 AND balance_type = ANY($2) \
          ORDER BY valid_at DESC LIMIT 200",
    )
    .bind(account_id)
    .bind(vec![
        BalanceType::PreviouslyClosedBook.as_str(),
        BalanceType::ClosingBooked.as_str(),
    ])
    .fetch_all(&mut **tx)
    .await?;
    let mut days = recent.iter().map(|(at, minor)| (prague_date(*at), *minor));
    let Some((to, newer)) = days.next() else {
        return Ok(None);
    };
    let Some((from, older)) = days.find(|(day, _)| *day != to) else {
        return Ok(None);
    };
    let (movements, reversals): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT sum(amount_minor)::int8, sum(amount_minor) FILTER (WHERE reversal)::int8 \
           FROM transactions \
          WHERE account_id = $1 AND status = 'booked' AND booking_date >= $2 AND booking_date < $3",
    )
    .bind(account_id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut **tx)
    .await?;
    let (unreadable, unreadable_minor): (i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*), sum(amount_minor)::int8 FROM unreadable_transactions \
          WHERE account_id = $1 AND (day IS NULL OR (day >= $2 AND day < $3))",
    )
    .bind(account_id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some(Reconciliation {
        from,
        to,
        balance_change: newer - older,
        movements: movements.unwrap_or(0),
        unreadable,
        unreadable_minor: unreadable_minor.unwrap_or(0),
        reversals_minor: reversals.unwrap_or(0),
    }))
}

/// A run that wrote no transactions (KB said "unchanged", or the run failed).
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    pub trigger: Trigger,
    pub started_at: OffsetDateTime,
    pub window: Option<(Date, Date)>,
    pub pages: u32,
    pub fetched: usize,
    pub outcome: RunOutcome,
    /// Why the run did not end well (the account keeps it until a run ends well).
    pub failure: Option<&'a Failure>,
    /// When this run downloaded the transaction list without applying it (KB's 61 minutes
    /// count from then).
    pub downloaded_at: Option<OffsetDateTime>,
    pub now: OffsetDateTime,
}

/// Refreshes the planner's statistics of the club's `transactions` (`ANALYZE`), after a bulk
/// write changed the table's size many times over (a first sync: 0 → 100 000 rows). Until
/// autovacuum gets there (up to a minute later), the planner would plan the next syncs'
/// matching and the account page's queries for an empty table. Takes ≈ 0.1–0.3 s at 100 000
/// rows (a 30 000-row sample); called after the write committed, outside any sync's
/// transaction.
pub async fn refresh_statistics(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    sqlx::query("ANALYZE transactions")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records a run without transaction data: `unchanged` marks the account fresh and stores the
/// `balances` fetched with it (a stale account re-reads them; see the worker); every other
/// outcome keeps the data, records the error and when the account became stale, and never
/// moves `fresh_as_of`. Checks the fence like [`apply`].
pub async fn record_run(
    tx: &mut TenantTx,
    account_id: Uuid,
    fence: i64,
    run: &RunRecord<'_>,
    balances: &[AccountBalance],
) -> Result<(), Error> {
    jobs::lock_fence(tx, account_id, fence).await??;
    let mut report = ApplyReport::default();
    if run.outcome == RunOutcome::Unchanged {
        insert_balances(tx, account_id, balances, run.now).await?;
        if !balances.is_empty() && sync_state(tx, account_id).await?.history_complete {
            report.reconciliation = reconcile(tx, account_id).await?;
        }
        sqlx::query(
            "UPDATE bank_accounts SET fresh_as_of = $2, stale_since = NULL, last_error = NULL, \
                 problem = NULL WHERE id = $1",
        )
        .bind(account_id)
        .bind(run.now)
        .execute(&mut **tx)
        .await?;
    } else {
        sqlx::query(
            "UPDATE bank_accounts SET stale_since = COALESCE(stale_since, $2), last_error = $3, \
                 problem = $5, unapplied_download_at = COALESCE($4, unapplied_download_at) \
              WHERE id = $1",
        )
        .bind(account_id)
        .bind(run.now)
        .bind(run.failure.map(|f| f.detail.as_str()))
        .bind(run.downloaded_at)
        .bind(run.failure.map(|f| f.problem))
        .execute(&mut **tx)
        .await?;
    }
    insert_run(tx, account_id, run, &report).await?;
    Ok(())
}

async fn insert_run(
    tx: &mut TenantTx,
    account_id: Uuid,
    run: &RunRecord<'_>,
    report: &ApplyReport,
) -> Result<(), sqlx::Error> {
    let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    sqlx::query(
        "INSERT INTO sync_runs (account_id, trigger, started_at, finished_at, window_from, \
             window_to, pages, fetched, inserted, updated, removed, outcome, error, reconciliation) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(account_id)
    .bind(run.trigger)
    .bind(run.started_at)
    .bind(run.now)
    .bind(run.window.map(|w| w.0))
    .bind(run.window.map(|w| w.1))
    .bind(i32::try_from(run.pages).unwrap_or(i32::MAX))
    .bind(i32::try_from(run.fetched).unwrap_or(i32::MAX))
    .bind(count(report.inserted))
    .bind(count(report.updated))
    .bind(count(report.removed))
    .bind(run.outcome)
    .bind(run.failure.map(|f| f.detail.as_str()))
    .bind(report.reconciliation.as_ref().map(Reconciliation::describe))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The latest run's reconciliation result, if it found a mismatch (for the account's page).
pub async fn reconciliation_mismatch(
    tx: &mut TenantTx,
    account_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT reconciliation FROM sync_runs \
          WHERE account_id = $1 AND reconciliation IS NOT NULL \
          ORDER BY id DESC LIMIT 1",
    )
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row
        .and_then(|(text,)| text)
        .filter(|text| text.starts_with("mismatch")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(servicer: Option<&str>, amount: &str, status: &str, updated: &str) -> Transaction {
        let mut refs = serde_json::json!({ "variable": "77" });
        if let Some(s) = servicer {
            refs["accountServicer"] = serde_json::json!(s);
        }
        let text = format!(
            r#"{{"lastUpdated":"{updated}","accountType":"KB","iban":"CZ1301000901147771800227",
            "creditDebitIndicator":"DEBIT","transactionType":"CARD",
            "amount":{{"value":{amount},"currency":"CZK"}},"valueDate":"2026-11-20",
            "status":"{status}","counterParty":{{"name":"Obchod"}},"references":{refs}}}"#
        );
        serde_json::from_str(&text).expect("transaction")
    }

    #[test]
    fn keys_use_the_account_servicer_and_number_identical_fingerprints() {
        let a = card(Some("abc"), "10.5", "BOOK", "2026-11-20T10:00:00Z");
        let b = card(None, "10.5", "BOOK", "2026-11-20T10:00:00Z");
        let c = card(None, "10.5", "BOOK", "2026-11-20T11:00:00Z");
        let mut renamed = b.clone();
        renamed.counter_party = None;
        let keys = bank_keys(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(keys[0], "as:abc");
        assert!(
            keys[1].starts_with("fp:") && keys[1].ends_with(":0"),
            "{}",
            keys[1]
        );
        assert_eq!(keys[2], keys[1].replace(":0", ":1"));
        // Enrichment (the name) and lastUpdated do not change the fingerprint.
        assert_eq!(bank_keys(&[renamed])[0], keys[1]);
        let other = card(None, "10.6", "BOOK", "2026-11-20T10:00:00Z");
        assert_ne!(bank_keys(&[other])[0], keys[1]);
    }

    #[test]
    fn reconciliation_text() {
        let date = |d| Date::from_calendar_date(2026, time::Month::November, d).expect("date");
        let r = Reconciliation {
            from: date(1),
            to: date(2),
            balance_change: 100,
            movements: 90,
            unreadable: 0,
            unreadable_minor: 0,
            reversals_minor: 0,
        };
        assert!(!r.is_ok());
        assert!(r.describe().starts_with("mismatch"));
        assert!(!r.reversals_contradict());
        // A reversal of +500 read in the wrong direction: +500 counted where −500 happened.
        let inverted = Reconciliation {
            balance_change: 0,
            movements: 100_000,
            reversals_minor: 50_000,
            ..r.clone()
        };
        assert!(inverted.reversals_contradict());
        assert!(inverted.describe().contains("KASA_KB_REVERSAL_CONVENTION"));
        let unreadable = Reconciliation {
            unreadable: 1,
            unreadable_minor: 10,
            ..r
        };
        assert!(unreadable.describe().contains("could not read"));
    }
}
