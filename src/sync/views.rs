//! Read-only views of a club's synced bank data for its pages (accounts with freshness and
//! balances, transactions, sync runs). Every function takes a [`TenantTx`].

use super::outcome::{Problem, RunOutcome, Trigger};
use crate::db::tenant::TenantTx;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// An account as listed on the dashboard.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountSummary {
    pub id: Uuid,
    pub iban: String,
    pub name: Option<String>,
    pub currency: String,
    pub fresh_as_of: Option<OffsetDateTime>,
    pub stale_since: Option<OffsetDateTime>,
    /// The last problem's technical text (shown under "details").
    pub last_error: Option<String>,
    /// The last problem's kind (set exactly when `last_error` is).
    pub problem: Option<Problem>,
    pub history_complete: bool,
    pub progress_pages: i32,
    pub progress_fetched: i32,
    /// Latest available balance (including card holds), minor units.
    pub available_minor: Option<i64>,
    /// Latest booked (accounting) balance, minor units.
    pub booked_minor: Option<i64>,
    /// How many movements Kasa keeps of the account (`bank_accounts.movements`, kept by the
    /// triggers of tenant/0013).
    pub transactions: i64,
}

impl AccountSummary {
    /// Translation key of the last problem, in plain language (`last_error` is technical; the
    /// two are stored together).
    pub fn problem_key(&self) -> &'static str {
        self.problem.unwrap_or(Problem::Other).label_key()
    }
}

/// The accounts of the club, oldest first, with their latest balances and freshness.
pub async fn accounts(tx: &mut TenantTx) -> Result<Vec<AccountSummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.iban, a.name, a.currency, a.fresh_as_of, a.stale_since, a.last_error, \
            a.problem, a.history_complete, a.progress_pages, a.progress_fetched, \
            (SELECT amount_minor FROM balances b WHERE b.account_id = a.id AND b.balance_type = 'CLOSING_AVAILABLE' \
               ORDER BY valid_at DESC, fetched_at DESC LIMIT 1) AS available_minor, \
            (SELECT amount_minor FROM balances b WHERE b.account_id = a.id AND b.balance_type <> 'CLOSING_AVAILABLE' \
               ORDER BY valid_at DESC, fetched_at DESC LIMIT 1) AS booked_minor, \
            a.movements AS transactions \
         FROM bank_accounts a ORDER BY a.created_at, a.iban",
    )
    .fetch_all(&mut **tx)
    .await
}

pub async fn account(tx: &mut TenantTx, id: Uuid) -> Result<Option<AccountSummary>, sqlx::Error> {
    Ok(accounts(tx).await?.into_iter().find(|a| a.id == id))
}

/// What changes whenever the account page would show something new: the latest run (every
/// sync, successful or not, records one), the first sync's progress (later syncs also count
/// pages, but the page does not show that) and freshness. Open pages poll it
/// (a few bytes, one indexed lookup) and reload their live parts only when it changes.
pub async fn stamp(tx: &mut TenantTx, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT concat_ws('/', \
            (SELECT r.id FROM sync_runs r WHERE r.account_id = a.id \
              ORDER BY r.started_at DESC, r.id DESC LIMIT 1), \
            CASE WHEN NOT a.history_complete THEN a.progress_fetched END, \
            a.fresh_as_of, a.stale_since, a.history_complete) \
         FROM bank_accounts a WHERE a.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// What changes whenever the dashboard's account list would show something new: every
/// account's [`stamp`] (an account added or deleted changes it too). The open dashboard polls it.
pub async fn club_stamp(tx: &mut TenantTx) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(string_agg(concat_ws('/', a.id, \
            (SELECT r.id FROM sync_runs r WHERE r.account_id = a.id \
              ORDER BY r.started_at DESC, r.id DESC LIMIT 1), \
            CASE WHEN NOT a.history_complete THEN a.progress_fetched END, \
            a.fresh_as_of, a.stale_since, a.history_complete), ';' ORDER BY a.created_at, a.id), '') \
         FROM bank_accounts a",
    )
    .fetch_one(&mut **tx)
    .await
}

/// A transaction row for the account page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransactionRow {
    pub id: i64,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub booking_date: Option<Date>,
    pub value_date: Option<Date>,
    pub counterparty_name: Option<String>,
    pub counterparty_account: Option<String>,
    pub variable_symbol: Option<String>,
    pub message: Option<String>,
    /// A reversal (storno): shown as such; its amount is already the opposite movement.
    pub reversal: bool,
    /// KB's status literal (shown for statuses Kasa does not know).
    pub kb_status: Option<String>,
    /// False for an unreadable item whose amount could not be read (`amount_minor` is 0).
    pub amount_known: bool,
}

impl TransactionRow {
    /// Whether this is "a movement Kasa could not read" (kept raw in `unreadable_transactions`).
    pub fn is_unreadable(&self) -> bool {
        self.status == "unreadable"
    }

    /// KB's status literal, shown next to the badge when Kasa does not know the status.
    pub fn unknown_kb_status(&self) -> Option<&str> {
        self.kb_status
            .as_deref()
            .filter(|_| self.status == "unknown")
    }

    /// Translation key of the badge shown instead of a booking date, if any
    /// ([`status_key`]).
    pub fn status_key(&self) -> Option<&'static str> {
        status_key(&self.status)
    }
}

/// Translation key of the badge a movement of `status` shows instead of its booking date, if
/// any: every status but `booked` has its own (a rejected or cancelled row is never shown as
/// pending).
pub fn status_key(status: &str) -> Option<&'static str> {
    match status {
        "booked" => None,
        "pending" => Some("bank.pending"),
        "scheduled" => Some("sync.status.scheduled"),
        "cancelled" => Some("sync.status.cancelled"),
        "rejected" => Some("sync.status.rejected"),
        "unreadable" => Some("sync.unreadable"),
        _ => Some("sync.status.unknown"),
    }
}

/// Newest first: unreadable items and not-booked rows on top, then by booking date. Each part
/// takes the newest `limit` rows on its own (booked ones straight from
/// `transactions_account_date_idx`), so a page of a 100 000-row account does not sort the whole
/// history.
pub async fn transactions(
    tx: &mut TenantTx,
    account_id: Uuid,
    limit: i64,
) -> Result<Vec<TransactionRow>, sqlx::Error> {
    const COLUMNS: &str = "id, status, amount_minor, currency, booking_date, value_date, \
        counterparty_name, counterparty_account, variable_symbol, message, reversal, kb_status, \
        amount_known";
    const STORED: &str = "id, status, amount_minor, currency, booking_date, value_date, \
        counterparty_name, counterparty_account, variable_symbol, message, reversal, kb_status, \
        true AS amount_known";
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM ( \
           (SELECT -id AS id, 'unreadable' AS status, coalesce(amount_minor, 0) AS amount_minor, \
                   coalesce(currency, '') AS currency, day AS booking_date, \
                   NULL::date AS value_date, NULL AS counterparty_name, \
                   NULL AS counterparty_account, NULL AS variable_symbol, NULL AS message, \
                   false AS reversal, kb_status, amount_minor IS NOT NULL AS amount_known \
              FROM unreadable_transactions WHERE account_id = $1 \
             ORDER BY day DESC NULLS FIRST, id DESC LIMIT $2) \
           UNION ALL \
           (SELECT {STORED} FROM transactions WHERE account_id = $1 AND status <> 'booked' \
             ORDER BY coalesce(booking_date, value_date) DESC NULLS LAST, id DESC LIMIT $2) \
           UNION ALL \
           (SELECT {STORED} FROM transactions WHERE account_id = $1 AND status = 'booked' \
             ORDER BY booking_date DESC, id DESC LIMIT $2)) newest \
         ORDER BY (status = 'unreadable') DESC, (status <> 'booked') DESC, \
                  coalesce(booking_date, value_date) DESC NULLS LAST, id DESC \
         LIMIT $2"
    ))
    .bind(account_id)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// A sync run for the account page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    pub trigger: Trigger,
    pub fetched: i32,
    pub inserted: i32,
    pub updated: i32,
    pub outcome: RunOutcome,
    pub error: Option<String>,
    pub reconciliation: Option<String>,
}

pub async fn runs(
    tx: &mut TenantTx,
    account_id: Uuid,
    limit: i64,
) -> Result<Vec<RunRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT started_at, finished_at, trigger, fetched, inserted, updated, outcome, error, reconciliation \
         FROM sync_runs WHERE account_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
    )
    .bind(account_id)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// Money in and out of the club's accounts in one calendar month (booked movements, minor
/// units; reversals count as the movements they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct MonthFlow {
    /// The month's first day.
    pub month: Date,
    /// Σ of the positive movements.
    pub income_minor: i64,
    /// Σ of the negative movements, as a positive number.
    pub expenses_minor: i64,
}

/// The booked movements of every account by booking month, for the months that have any
/// between `from` and `to` (Prague booking dates, inclusive), oldest first.
pub async fn monthly_flows(
    tx: &mut TenantTx,
    from: Date,
    to: Date,
) -> Result<Vec<MonthFlow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT date_trunc('month', booking_date)::date AS month, \
                COALESCE(sum(amount_minor) FILTER (WHERE amount_minor > 0), 0)::int8 AS income_minor, \
                COALESCE(-sum(amount_minor) FILTER (WHERE amount_minor < 0), 0)::int8 AS expenses_minor \
           FROM transactions WHERE status = 'booked' AND booking_date BETWEEN $1 AND $2 \
          GROUP BY 1 ORDER BY 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut **tx)
    .await
}
