//! The club's bank data in its own schema: `bank_accounts` (sync state, progress), `transactions`,
//! `balances` (history) and `sync_runs`. Every function takes a [`TenantTx`].
//!
//! [`apply`] writes one sync's result in one transaction: it first re-checks the job's fence
//! (a worker whose lease was taken over gets [`LedgerError::LostLease`] and writes nothing), then
//! upserts the fetched transactions in one statement keyed by `(account_id, bank_key)`, deletes
//! pending rows of the window that KB no longer lists, stores the balances, advances the
//! watermark, runs the balance reconciliation and records the run. Applying the same data again
//! changes nothing; overlapping windows of the same bank state give the same rows in any order.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::jobs::{self, LostLease};
use crate::bank::types::{AccountBalance, BalanceType, Transaction, TransactionStatus};
use crate::db::tenant::TenantTx;

/// Why a ledger write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
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

/// Creates the club's row of an account (or keeps the existing one).
pub async fn ensure_account(
    tx: &mut TenantTx,
    account: &AccountInfo,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bank_accounts (id, kb_account_id, iban, currency, name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
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

/// What the next sync needs to choose its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    pub watermark: Option<Date>,
    pub history_complete: bool,
    /// Date of the oldest pending row (it must stay inside the next window until it settles).
    pub oldest_pending: Option<Date>,
}

/// Reads the account's sync state.
pub async fn sync_state(tx: &mut TenantTx, account_id: Uuid) -> Result<SyncState, LedgerError> {
    let row: Option<(Option<Date>, bool, Option<Date>)> = sqlx::query_as(
        "SELECT a.watermark, a.history_complete, \
                (SELECT min(COALESCE(t.booking_date, t.value_date)) FROM transactions t \
                  WHERE t.account_id = a.id AND t.status = 'pending') \
           FROM bank_accounts a WHERE a.id = $1",
    )
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?;
    let (watermark, history_complete, oldest_pending) =
        row.ok_or(LedgerError::UnknownAccount(account_id))?;
    Ok(SyncState {
        watermark,
        history_complete,
        oldest_pending,
    })
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
    /// Everything KB listed for the window, in KB's order.
    pub transactions: &'a [Transaction],
    pub balances: &'a [AccountBalance],
    pub pages: u32,
    /// The window reaches as far back as KB allows (the first sync).
    pub full_history: bool,
    /// `first`, `schedule`, `notification` or `retry`.
    pub trigger: &'a str,
    pub started_at: OffsetDateTime,
    pub now: OffsetDateTime,
}

/// What [`apply`] changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyReport {
    pub inserted: u64,
    pub updated: u64,
    pub removed: u64,
    pub reconciliation: Option<Reconciliation>,
}

/// Σ booked movements between two booked-balance snapshots against the balance change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub from: Date,
    pub to: Date,
    pub balance_change: i64,
    pub movements: i64,
}

impl Reconciliation {
    pub fn is_ok(&self) -> bool {
        self.balance_change == self.movements
    }

    /// The text stored in `sync_runs.reconciliation`.
    pub fn describe(&self) -> String {
        if self.is_ok() {
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
        }
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

fn status_of(t: &Transaction) -> &'static str {
    match &t.status {
        None | Some(TransactionStatus::Booked) => "booked",
        // Pending, and anything KB may add that is not "booked": not final, excluded from
        // matching, removed when it disappears.
        Some(TransactionStatus::Pending) | Some(TransactionStatus::Unknown(_)) => "pending",
    }
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
}

impl Columns {
    /// One row per bank key; when a key repeats (paging overlap), its latest state wins.
    fn from_batch(transactions: &[Transaction]) -> Columns {
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
                    let (a, b) = (&transactions[j], &transactions[i]);
                    let newer = (b.last_updated, status_of(b) == "booked")
                        >= (a.last_updated, status_of(a) == "booked");
                    if newer {
                        latest.insert(key, i);
                    }
                }
            }
        }
        let mut c = Columns::default();
        for key in order {
            let Some(&i) = latest.get(key) else { continue };
            let t = &transactions[i];
            let party = t.counter_party.clone().unwrap_or_default();
            let refs = t.references.clone().unwrap_or_default();
            c.bank_key.push(key.to_owned());
            c.status.push(status_of(t));
            c.amount_minor.push(t.signed_minor_units());
            c.currency.push(t.amount.currency.clone());
            c.instructed_minor.push(
                t.instructed
                    .as_ref()
                    .map(|m| t.credit_debit_indicator.signed(m.minor_units)),
            );
            c.instructed_currency
                .push(t.instructed.as_ref().map(|m| m.currency.clone()));
            c.booking_date.push(t.booking_date);
            c.value_date.push(t.value_date);
            c.counterparty_name.push(party.name);
            c.counterparty_account.push(party.account_no);
            c.counterparty_bank_code.push(party.bank_code);
            c.counterparty_iban.push(party.iban);
            c.variable_symbol.push(refs.variable);
            c.constant_symbol.push(refs.constant);
            c.specific_symbol.push(refs.specific);
            c.message.push(refs.receiver);
            c.note.push(
                t.additional_transaction_information
                    .clone()
                    .or(refs.my_description),
            );
            c.transaction_type
                .push(t.transaction_type.as_str().to_owned());
            c.reversal.push(t.reversal_indicator.unwrap_or(false));
            c.last_updated.push(t.last_updated);
        }
        c
    }
}

const UPSERT: &str = "\
INSERT INTO transactions (account_id, bank_key, status, amount_minor, currency, instructed_minor, \
    instructed_currency, booking_date, value_date, counterparty_name, counterparty_account, \
    counterparty_bank_code, counterparty_iban, variable_symbol, constant_symbol, specific_symbol, \
    message, note, transaction_type, reversal, last_updated, first_seen_at) \
SELECT $1, u.bank_key, u.status, u.amount_minor, u.currency, u.instructed_minor, \
    u.instructed_currency, u.booking_date, u.value_date, u.counterparty_name, \
    u.counterparty_account, u.counterparty_bank_code, u.counterparty_iban, u.variable_symbol, \
    u.constant_symbol, u.specific_symbol, u.message, u.note, u.transaction_type, u.reversal, \
    u.last_updated, $22 \
FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], $6::int8[], $7::text[], $8::date[], \
    $9::date[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], \
    $16::text[], $17::text[], $18::text[], $19::text[], $20::bool[], $21::timestamptz[]) \
    AS u(bank_key, status, amount_minor, currency, instructed_minor, instructed_currency, \
    booking_date, value_date, counterparty_name, counterparty_account, counterparty_bank_code, \
    counterparty_iban, variable_symbol, constant_symbol, specific_symbol, message, note, \
    transaction_type, reversal, last_updated) \
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
    last_updated = excluded.last_updated \
WHERE excluded.last_updated > transactions.last_updated \
   OR (excluded.last_updated = transactions.last_updated \
       AND excluded.status = 'booked' AND transactions.status = 'pending') \
RETURNING (xmax = 0)";

/// Writes one sync's result (see the module documentation). The caller commits.
pub async fn apply(tx: &mut TenantTx, batch: &Batch<'_>) -> Result<ApplyReport, LedgerError> {
    jobs::lock_fence(tx, batch.account_id, batch.fence).await??;
    let state = sync_state(tx, batch.account_id).await?;

    let c = Columns::from_batch(batch.transactions);
    let written: Vec<(bool,)> = sqlx::query_as(UPSERT)
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
        .fetch_all(&mut **tx)
        .await?;
    let inserted = written.iter().filter(|(new,)| *new).count() as u64;
    let updated = written.len() as u64 - inserted;

    // Pending rows of the window that KB no longer lists are gone (a hold released, or booked
    // under another id). Rows without any date belong to every window that reaches today.
    let (from, to) = batch.window;
    let removed = sqlx::query(
        "DELETE FROM transactions \
          WHERE account_id = $1 AND status = 'pending' AND NOT (bank_key = ANY($2)) \
            AND (COALESCE(booking_date, value_date) BETWEEN $3 AND $4 \
                 OR (COALESCE(booking_date, value_date) IS NULL AND $4 >= $5))",
    )
    .bind(batch.account_id)
    .bind(&c.bank_key)
    .bind(from)
    .bind(to)
    .bind(batch.now.date())
    .execute(&mut **tx)
    .await?
    .rows_affected();

    for balance in batch.balances {
        sqlx::query(
            "INSERT INTO balances (account_id, balance_type, amount_minor, currency, valid_at, \
                                   fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(batch.account_id)
        .bind(balance.balance_type.as_str())
        .bind(balance.signed_minor_units())
        .bind(&balance.amount.currency)
        .bind(balance.valid_at)
        .bind(batch.now)
        .execute(&mut **tx)
        .await?;
    }

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
            fresh_as_of = $5, stale_since = NULL, last_error = NULL \
          WHERE id = $1",
    )
    .bind(batch.account_id)
    .bind(from)
    .bind(to)
    .bind(batch.full_history)
    .bind(batch.now)
    .bind(mismatch_from)
    .execute(&mut **tx)
    .await?;

    let report = ApplyReport {
        inserted,
        updated,
        removed,
        reconciliation,
    };
    insert_run(
        tx,
        batch.account_id,
        &RunRecord {
            trigger: batch.trigger,
            started_at: batch.started_at,
            window: Some(batch.window),
            pages: batch.pages,
            fetched: batch.transactions.len(),
            outcome: "synced",
            error: None,
            now: batch.now,
        },
        &report,
    )
    .await?;
    Ok(report)
}

/// Compares the two latest booked-balance snapshots of different days with the booked
/// movements between them. `PREVIOUSLY_CLOSED_BOOK` at day D is the balance after everything
/// booked before D, so the movements counted are those booked on `[from, to)`.
async fn reconcile(
    tx: &mut TenantTx,
    account_id: Uuid,
) -> Result<Option<Reconciliation>, sqlx::Error> {
    let snapshots: Vec<(Date, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON ((valid_at AT TIME ZONE 'UTC')::date) \
                (valid_at AT TIME ZONE 'UTC')::date, amount_minor \
           FROM balances WHERE account_id = $1 AND balance_type = ANY($2) \
          ORDER BY (valid_at AT TIME ZONE 'UTC')::date DESC, valid_at DESC \
          LIMIT 2",
    )
    .bind(account_id)
    .bind(vec![
        BalanceType::PreviouslyClosedBook.as_str(),
        BalanceType::ClosingBooked.as_str(),
    ])
    .fetch_all(&mut **tx)
    .await?;
    let [(to, newer), (from, older)] = snapshots[..] else {
        return Ok(None);
    };
    let (movements,): (Option<i64>,) = sqlx::query_as(
        "SELECT sum(amount_minor)::int8 FROM transactions \
          WHERE account_id = $1 AND status = 'booked' AND booking_date >= $2 AND booking_date < $3",
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
    }))
}

/// A run that wrote no data (KB said "unchanged", or the run failed).
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    pub trigger: &'a str,
    pub started_at: OffsetDateTime,
    pub window: Option<(Date, Date)>,
    pub pages: u32,
    pub fetched: usize,
    /// `unchanged`, `failed` or `disabled`.
    pub outcome: &'a str,
    pub error: Option<&'a str>,
    pub now: OffsetDateTime,
}

/// Records a run without data: `unchanged` marks the account fresh; a failure keeps the data,
/// records the error and when the account became stale. Checks the fence like [`apply`].
pub async fn record_run(
    tx: &mut TenantTx,
    account_id: Uuid,
    fence: i64,
    run: &RunRecord<'_>,
) -> Result<(), LedgerError> {
    jobs::lock_fence(tx, account_id, fence).await??;
    let sql = if run.outcome == "unchanged" {
        "UPDATE bank_accounts SET fresh_as_of = $2, stale_since = NULL, last_error = NULL \
          WHERE id = $1 AND $3::text IS NULL"
    } else {
        "UPDATE bank_accounts SET stale_since = COALESCE(stale_since, $2), last_error = $3 \
          WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(account_id)
        .bind(run.now)
        .bind(run.error)
        .execute(&mut **tx)
        .await?;
    insert_run(tx, account_id, run, &ApplyReport::default()).await?;
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
    .bind(run.error)
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
        let c = Columns::from_batch(&[booked, pending]);
        assert_eq!(c.bank_key, ["as:x"]);
        assert_eq!(c.status, ["booked"]);
        assert_eq!(c.amount_minor, [-9999]);
    }

    #[test]
    fn reconciliation_text() {
        let date = |d| Date::from_calendar_date(2026, time::Month::November, d).expect("date");
        let r = Reconciliation {
            from: date(1),
            to: date(2),
            balance_change: 100,
            movements: 90,
        };
        assert!(!r.is_ok());
        assert!(r.describe().starts_with("mismatch"));
    }
}
