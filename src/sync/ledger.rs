//! The club's bank data in its own schema: `bank_accounts` (sync state, progress), `transactions`,
//! `balances` (history) and `sync_runs`. Every function takes a [`TenantTx`].
//!
//! [`apply`] writes one sync's result in one transaction: it first re-checks the job's fence
//! (a worker whose lease was taken over gets [`Error::LostLease`] and writes nothing), then
//! upserts the fetched transactions in one statement keyed by `(account_id, bank_key)`, keeps
//! the items Kasa could not read in `unreadable_transactions`, deletes the not-final rows
//! (pending, scheduled, ...) from the window's start on that KB no longer lists, stores the
//! balances, advances the watermark, runs the balance reconciliation and records the run.
//! The upsert writes each movement's search text (`sync::movements::search_text`); a batch as
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
}

/// Reads the account's sync state.
pub async fn sync_state(tx: &mut TenantTx, account_id: Uuid) -> Result<SyncState, Error> {
    let state: Option<SyncState> = sqlx::query_as(
        "SELECT a.watermark, a.history_complete, \
                (SELECT min(COALESCE(t.booking_date, t.value_date)) FROM transactions t \
                  WHERE t.account_id = a.id AND t.status IN ('pending', 'scheduled', 'unknown')) \
                    AS oldest_pending, \
                a.stale_since IS NOT NULL AS stale, a.unapplied_download_at, a.wide_synced_at \
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
    /// Everything KB listed for the window that Kasa could read, in KB's order.
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
/// `references.accountServicer`; without one, `fp:` + SHA-256 of the canonical fields + `:` +
/// the ordinal among identical fingerprints of the same response (two genuinely identical
/// payments stay two rows). Enrichment (names, free texts), status and `lastUpdated` are not
/// part of the fingerprint.
pub fn bank_keys(transactions: &[Transaction]) -> Vec<String> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    transactions
        .iter()
        .map(|t| match t.account_servicer() {
            Some(id) => format!("as:{id}"),
            None => {
                let fp = fingerprint(t);
                let ordinal = seen.entry(fp.clone()).or_insert(0);
                let key = format!("fp:{fp}:{ordinal}");
                *ordinal += 1;
                key
            }
        })
        .collect()
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

/// Whether copy `b` of a transaction replaces copy `a` (same rule as the upsert): higher
/// status rank wins whatever `lastUpdated` says; same rank: `b` wins unless its `lastUpdated`
/// is older at whole-second precision (KB's precision differs between environments).
fn replaces(a: &Transaction, b: &Transaction) -> bool {
    let (ra, rb) = (status_rank(status_of(a)), status_rank(status_of(b)));
    let second = |t: &Transaction| t.last_updated.unix_timestamp();
    rb > ra || (rb == ra && second(b) >= second(a))
}

/// Texts longer than this are cut before storing (a flag `long_text:...` says so); KB's
/// documented limits are far lower.
const STORED_TEXT_MAX: usize = 2_000;

fn cap(text: Option<String>) -> Option<String> {
    text.map(|t| match t.char_indices().nth(STORED_TEXT_MAX) {
        Some((cut, _)) => t[..cut].to_owned(),
        None => t,
    })
}

/// Column arrays for the bulk upsert (one element per distinct bank key).
#[derive(Default)]
struct Columns {
    bank_key: Vec<String>,
    status: Vec<&'static str>,
    amount_minor: Vec<i64>,
    currency: Vec<String>,
    instructed_minor: Vec<Option<i64>>,
    instructed_currency: Vec<Option<String>>,
    booking_date: Vec<Option<Date>>,
    value_date: Vec<Option<Date>>,
    counterparty_name: Vec<Option<String>>,
    counterparty_account: Vec<Option<String>>,
    counterparty_bank_code: Vec<Option<String>>,
    counterparty_iban: Vec<Option<String>>,
    variable_symbol: Vec<Option<String>>,
    constant_symbol: Vec<Option<String>>,
    specific_symbol: Vec<Option<String>>,
    message: Vec<Option<String>>,
    note: Vec<Option<String>>,
    transaction_type: Vec<String>,
    reversal: Vec<bool>,
    last_updated: Vec<OffsetDateTime>,
    kb_status: Vec<Option<String>>,
    /// Flags joined by `,` (flags never contain one), split again in SQL.
    flags: Vec<String>,
    /// The movement as KB sent it (as Kasa read it), JSON text: the movement's detail page.
    kb_json: Vec<Option<String>>,
    /// What the search box finds ([`super::movements::search_text`]).
    search_text: Vec<String>,
}

impl Columns {
    /// One row per bank key; when a key repeats (paging overlap), the copy that [`replaces`]
    /// the others wins (booked over pending whatever `lastUpdated` says).
    fn from_batch(transactions: &[Transaction], convention: ReversalConvention) -> Columns {
        let keys = bank_keys(transactions);
        let mut latest: HashMap<&str, usize> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match latest.get(key.as_str()) {
                None => {
                    latest.insert(key, i);
                    order.push(key);
                }
                Some(&j) => {
                    if replaces(&transactions[j], &transactions[i]) {
                        latest.insert(key, i);
                    }
                }
            }
        }
        // Oldest first (KB lists newest first): new rows get ids in date order, so the oldest
        // movement not booked yet, which holds matching's scan position back
        // (`payment::input::advance_scan`), is among the newest ids and a notified sync's
        // matching reads only what lies above it.
        order.reverse();
        // Rows without any date (a pending hold, a future order) go last, as the newest.
        order.sort_by_key(|key| {
            latest
                .get(key)
                .and_then(|&i| transactions[i].booking_date.or(transactions[i].value_date))
                .unwrap_or(Date::MAX)
        });
        let mut c = Columns::default();
        for key in order {
            let Some(&i) = latest.get(key) else { continue };
            let t = &transactions[i];
            let party = t.counter_party.clone().unwrap_or_default();
            let refs = t.references.clone().unwrap_or_default();
            c.bank_key.push(key.to_owned());
            let movement = t.movement_minor_units(convention);
            c.status.push(status_of(t));
            c.amount_minor.push(movement);
            c.currency.push(t.amount.currency.clone());
            // The instructed amount takes the movement's direction.
            c.instructed_minor.push(
                t.instructed_money()
                    .map(|m| m.minor_units.saturating_abs() * movement.signum()),
            );
            c.instructed_currency
                .push(t.instructed_money().map(|m| m.currency.clone()));
            c.booking_date.push(t.booking_date);
            c.value_date.push(t.value_date);
            let (name, account, iban) = (cap(party.name), cap(party.account_no), cap(party.iban));
            let (message, note) = (
                cap(refs.receiver),
                cap(t
                    .additional_transaction_information
                    .clone()
                    .or(refs.my_description)),
            );
            c.search_text.push(super::movements::search_text(
                name.as_deref(),
                message.as_deref(),
                note.as_deref(),
                account.as_deref(),
                iban.as_deref(),
            ));
            c.counterparty_name.push(name);
            c.counterparty_account.push(account);
            c.counterparty_bank_code.push(cap(party.bank_code));
            c.counterparty_iban.push(iban);
            c.variable_symbol.push(cap(refs.variable));
            c.constant_symbol.push(cap(refs.constant));
            c.specific_symbol.push(cap(refs.specific));
            c.message.push(message);
            c.note.push(note);
            c.transaction_type
                .push(t.transaction_type.as_str().to_owned());
            c.reversal.push(t.is_reversal());
            c.last_updated.push(t.last_updated);
            c.kb_status
                .push(t.status.as_ref().map(|s| s.as_str().to_owned()));
            c.flags.push(t.read_flags().join(","));
            c.kb_json.push(serde_json::to_string(t).ok());
        }
        c
    }
}

/// The bulk upsert. A stored row is replaced only by a copy that [`replaces`] it (rank first,
/// then `lastUpdated` to the second) and differs from it, so re-applying changes nothing.
fn upsert_sql() -> String {
    let (new_rank, old_rank) = (
        status_rank_sql("excluded.status"),
        status_rank_sql("transactions.status"),
    );
    format!(
        "\
INSERT INTO transactions (account_id, bank_key, status, amount_minor, currency, instructed_minor, \
    instructed_currency, booking_date, value_date, counterparty_name, counterparty_account, \
    counterparty_bank_code, counterparty_iban, variable_symbol, constant_symbol, specific_symbol, \
    message, note, transaction_type, reversal, last_updated, first_seen_at, kb_status, flags, \
    kb_json, search_text) \
SELECT $1, u.bank_key, u.status, u.amount_minor, u.currency, u.instructed_minor, \
    u.instructed_currency, u.booking_date, u.value_date, u.counterparty_name, \
    u.counterparty_account, u.counterparty_bank_code, u.counterparty_iban, u.variable_symbol, \
    u.constant_symbol, u.specific_symbol, u.message, u.note, u.transaction_type, u.reversal, \
    u.last_updated, $22, u.kb_status, \
    CASE WHEN u.flags = '' THEN '{{}}'::text[] ELSE string_to_array(u.flags, ',') END, \
    u.kb_json::jsonb, u.search_text \
FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], $6::int8[], $7::text[], $8::date[], \
    $9::date[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], \
    $16::text[], $17::text[], $18::text[], $19::text[], $20::bool[], $21::timestamptz[], \
    $23::text[], $24::text[], $25::text[], $26::text[]) \
    AS u(bank_key, status, amount_minor, currency, instructed_minor, instructed_currency, \
    booking_date, value_date, counterparty_name, counterparty_account, counterparty_bank_code, \
    counterparty_iban, variable_symbol, constant_symbol, specific_symbol, message, note, \
    transaction_type, reversal, last_updated, kb_status, flags, kb_json, search_text) \
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
/// unchanged, `last_error` = the reason) and records the run as `partial`.
pub async fn apply(tx: &mut TenantTx, batch: &Batch<'_>) -> Result<ApplyReport, Error> {
    jobs::lock_fence(tx, batch.account_id, batch.fence).await??;
    let state = sync_state(tx, batch.account_id).await?;
    let today = prague_date(batch.now);

    let c = Columns::from_batch(batch.transactions, batch.reversal_convention);
    let rebuild = SearchIndexes::drop_for_bulk(tx, c.bank_key.len()).await?;
    let search_indexes_rebuilt = rebuild.is_some();
    let written: Vec<(bool,)> = sqlx::query_as(&upsert_sql())
        .bind(batch.account_id)
        .bind(&c.bank_key)
        .bind(&c.status)
        .bind(&c.amount_minor)
        .bind(&c.currency)
        .bind(&c.instructed_minor)
        .bind(&c.instructed_currency)
        .bind(&c.booking_date)
        .bind(&c.value_date)
        .bind(&c.counterparty_name)
        .bind(&c.counterparty_account)
        .bind(&c.counterparty_bank_code)
        .bind(&c.counterparty_iban)
        .bind(&c.variable_symbol)
        .bind(&c.constant_symbol)
        .bind(&c.specific_symbol)
        .bind(&c.message)
        .bind(&c.note)
        .bind(&c.transaction_type)
        .bind(&c.reversal)
        .bind(&c.last_updated)
        .bind(batch.now)
        .bind(&c.kb_status)
        .bind(&c.flags)
        .bind(&c.kb_json)
        .bind(&c.search_text)
        .fetch_all(&mut **tx)
        .await?;
    if let Some(rebuild) = rebuild {
        rebuild.create(tx).await?;
    }
    let inserted = written.iter().filter(|(new,)| *new).count() as u64;
    let updated = written.len() as u64 - inserted;

    // Not-booked rows (pending, scheduled, cancelled, rejected, unknown) of the window that KB
    // no longer lists are gone: a hold released, an order cancelled, or booked under another
    // id. A window that reaches today also owns every later (future-dated) row and the rows
    // without any date: KB lists a future-dated order while it exists.
    let (from, to) = batch.window;
    let unreadable_keys: Vec<String> = batch
        .unreadable
        .iter()
        .map(|u| u.bank_key.clone())
        .filter(|key| !c.bank_key.contains(key))
        .collect();
    let listed: Vec<String> = c
        .bank_key
        .iter()
        .chain(unreadable_keys.iter())
        .cloned()
        .collect();
    let removed = sqlx::query(
        "DELETE FROM transactions \
          WHERE account_id = $1 AND status <> 'booked' AND NOT (bank_key = ANY($2)) \
            AND (COALESCE(booking_date, value_date) BETWEEN $3 AND $4 \
                 OR ((COALESCE(booking_date, value_date) > $4 \
                      OR COALESCE(booking_date, value_date) IS NULL) AND $4 >= $5))",
    )
    .bind(batch.account_id)
    .bind(&listed)
    .bind(from)
    .bind(to)
    .bind(today)
    .execute(&mut **tx)
    .await?
    .rows_affected();

    let unreadable = store_unreadable(tx, batch, &c.bank_key, &listed, today).await?;
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
            fetched: batch.transactions.len() + batch.unreadable.len(),
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
/// drops the ones KB now sends readably (`readable` keys) or no longer lists (same window rule
/// as the not-booked rows). Returns how many this batch holds.
async fn store_unreadable(
    tx: &mut TenantTx,
    batch: &Batch<'_>,
    readable: &[String],
    listed: &[String],
    today: Date,
) -> Result<u64, sqlx::Error> {
    let mut kept = 0;
    let mut seen = std::collections::HashSet::new();
    for u in batch.unreadable {
        if readable.contains(&u.bank_key) || !seen.insert(u.bank_key.as_str()) {
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
    sqlx::query(
        "DELETE FROM unreadable_transactions \
          WHERE account_id = $1 \
            AND (bank_key = ANY($2) \
                 OR (NOT (bank_key = ANY($3)) \
                     AND (day BETWEEN $4 AND $5 \
                          OR ((day > $5 OR day IS NULL) AND $5 >= $6))))",
    )
    .bind(batch.account_id)
    .bind(readable)
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
    fn a_repeated_key_keeps_its_latest_state_and_amounts_are_signed() {
        let pending = card(Some("x"), "99.99", "PDNG", "2026-11-20T10:00:00Z");
        let booked = card(Some("x"), "99.99", "BOOK", "2026-11-21T10:00:00Z");
        let c = Columns::from_batch(&[booked, pending], ReversalConvention::OwnDirection);
        assert_eq!(c.bank_key, ["as:x"]);
        assert_eq!(c.status, ["booked"]);
        assert_eq!(c.amount_minor, [-9999]);
        // The booked copy wins even when its lastUpdated is older or truncated.
        let pending = card(Some("y"), "12.50", "PDNG", "2026-11-20T10:15:42.512345Z");
        let booked = card(Some("y"), "12.12", "BOOK", "2026-11-20T10:15:42Z");
        let older_booked = card(Some("y"), "12.12", "BOOK", "2026-11-19T10:00:00Z");
        for rows in [
            [pending.clone(), booked.clone()],
            [booked.clone(), pending.clone()],
            [older_booked, pending],
        ] {
            let c = Columns::from_batch(&rows, ReversalConvention::OwnDirection);
            assert_eq!((c.status[0], c.amount_minor[0]), ("booked", -1212));
        }
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
