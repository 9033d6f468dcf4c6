//! The rows of each dataset, read one by one (`fetch`) and handed to a [`RowSink`]. Column
//! titles are in the request's language; amounts are minor units (the sink formats them).

use futures::TryStreamExt;
use time::{Date, OffsetDateTime};

use super::{Cell, Dataset, Error, Request, RowSink};
use crate::db::tenant::TenantTx;
use crate::i18n::{Lang, prague_date};

/// The column titles of `dataset` in `lang`.
pub fn titles(dataset: Dataset, lang: Lang) -> Vec<String> {
    let keys: &[&str] = match dataset {
        Dataset::Members => &[
            "name",
            "vs",
            "emails",
            "phone",
            "birth_date",
            "joined_on",
            "groups",
            "household",
            "archived_on",
            "note",
        ],
        Dataset::Charges => &[
            "schedule",
            "member",
            "vs",
            "period_start",
            "period_end",
            "due_on",
            "amount",
            "paid",
            "owed",
        ],
        Dataset::Payments => &[
            "booked_on",
            "payment",
            "amount",
            "counterparty",
            "counter_account",
            "vs",
            "message",
            "outcome",
            "payer",
            "allocated_member",
            "schedule",
            "period_start",
            "period_end",
            "allocated",
        ],
        Dataset::Transactions => &[
            "account",
            "booked_on",
            "value_on",
            "amount",
            "currency",
            "counterparty",
            "counter_account",
            "vs",
            "ks",
            "ss",
            "message",
            "note",
            "type",
            "reversal",
        ],
    };
    keys.iter()
        .map(|k| lang.t(&format!("export.col.{k}")).into_owned())
        .collect()
}

/// The counter-account as Czech banks print it (`19-2000145399/0800`, leading zeros dropped:
/// `account_number::counter_account`, so an export and the account page agree; bank imports
/// read this form too), or the IBAN without spaces when the bank gave no account number.
pub fn counter_account(
    account: Option<String>,
    bank: Option<String>,
    iban: Option<String>,
) -> Option<String> {
    match account {
        Some(account) => {
            crate::account_number::counter_account(Some(&account), bank.as_deref(), None)
                .map(|r| r.number)
        }
        None => iban.map(|i| i.split_whitespace().collect()),
    }
}

/// Writes the titles and every row of `request` to `sink`, in `tx`.
pub(crate) async fn write(
    tx: &mut TenantTx,
    request: &Request,
    lang: Lang,
    sink: &mut impl RowSink,
) -> Result<(), Error> {
    sink.titles(titles(request.dataset, lang)).await?;
    match request.dataset {
        Dataset::Members => members(tx, sink).await,
        Dataset::Charges => charges(tx, request.from, request.to, sink).await,
        Dataset::Payments => payments(tx, request.from, request.to, lang, sink).await,
        Dataset::Transactions => transactions(tx, request.from, request.to, lang, sink).await,
    }
}

type MemberRow = (
    String,
    String,
    String,
    Option<String>,
    Option<Date>,
    Option<Date>,
    String,
    Option<String>,
    Option<OffsetDateTime>,
    Option<String>,
);

async fn members(tx: &mut TenantTx, sink: &mut impl RowSink) -> Result<(), Error> {
    let mut rows = sqlx::query_as::<_, MemberRow>(
        "SELECT m.name, m.variable_symbol, array_to_string(m.emails, ', '), m.phone, \
                m.birth_date, m.joined_on, \
                COALESCE((SELECT string_agg(g.name, ', ' ORDER BY g.name) \
                            FROM member_group_links l JOIN member_groups g ON g.id = l.group_id \
                           WHERE l.member_id = m.id), ''), \
                h.name, m.archived_at, m.note \
           FROM members m LEFT JOIN households h ON h.id = m.household_id \
          ORDER BY m.name COLLATE \"cs-CZ-x-icu\", m.id",
    )
    .fetch(&mut **tx);
    while let Some((name, vs, emails, phone, born, joined, groups, household, archived, note)) =
        rows.try_next().await?
    {
        sink.row(vec![
            Cell::Text(name),
            Cell::Text(vs),
            Cell::Text(emails),
            Cell::text(phone),
            Cell::date(born),
            Cell::date(joined),
            Cell::Text(groups),
            Cell::text(household),
            Cell::date(archived.map(prague_date)),
            Cell::text(note),
        ])
        .await?;
    }
    Ok(())
}

type ChargeRow = (String, String, String, Date, Date, Date, i64, i64);

async fn charges(
    tx: &mut TenantTx,
    from: Date,
    to: Date,
    sink: &mut impl RowSink,
) -> Result<(), Error> {
    let mut rows = sqlx::query_as::<_, ChargeRow>(
        "SELECT s.name, m.name, m.variable_symbol, c.period_start, c.period_end, c.due_on, \
                c.amount_minor, c.paid_minor \
           FROM charges c JOIN members m ON m.id = c.member_id \
           JOIN fee_schedules s ON s.id = c.schedule_id \
          WHERE c.due_on BETWEEN $1 AND $2 \
          ORDER BY c.due_on, s.name, m.name COLLATE \"cs-CZ-x-icu\", c.id",
    )
    .bind(from)
    .bind(to)
    .fetch(&mut **tx);
    while let Some((schedule, member, vs, start, end, due, amount, paid)) = rows.try_next().await? {
        sink.row(vec![
            Cell::Text(schedule),
            Cell::Text(member),
            Cell::Text(vs),
            Cell::Date(start),
            Cell::Date(end),
            Cell::Date(due),
            Cell::Money(amount),
            Cell::Money(paid),
            Cell::Money((amount - paid).max(0)),
        ])
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: i64,
    booking_date: Option<Date>,
    amount_minor: i64,
    counterparty_name: Option<String>,
    counterparty_account: Option<String>,
    counterparty_bank_code: Option<String>,
    counterparty_iban: Option<String>,
    variable_symbol: Option<String>,
    message: Option<String>,
    outcome: String,
    payer: Option<String>,
    allocated_member: Option<String>,
    schedule: Option<String>,
    period_start: Option<Date>,
    period_end: Option<Date>,
    allocated_minor: Option<i64>,
}

async fn payments(
    tx: &mut TenantTx,
    from: Date,
    to: Date,
    lang: Lang,
    sink: &mut impl RowSink,
) -> Result<(), Error> {
    let mut rows = sqlx::query_as::<_, PaymentRow>(
        "SELECT t.id, t.booking_date, t.amount_minor, t.counterparty_name, \
                t.counterparty_account, t.counterparty_bank_code, t.counterparty_iban, \
                t.variable_symbol, t.message, d.outcome, COALESCE(tm.name, th.name) AS payer, \
                am.name AS allocated_member, s.name AS schedule, c.period_start, c.period_end, \
                a.amount_minor AS allocated_minor \
           FROM payment_decisions d JOIN transactions t ON t.id = d.transaction_id \
           LEFT JOIN members tm ON tm.id = d.target_member \
           LEFT JOIN households th ON th.id = d.target_household \
           LEFT JOIN allocations a ON a.transaction_id = t.id \
           LEFT JOIN charges c ON c.id = a.charge_id \
           LEFT JOIN fee_schedules s ON s.id = c.schedule_id \
           LEFT JOIN members am ON am.id = a.member_id \
          WHERE t.status = 'booked' AND t.booking_date BETWEEN $1 AND $2 \
          ORDER BY t.booking_date, t.id, a.id",
    )
    .bind(from)
    .bind(to)
    .fetch(&mut **tx);
    while let Some(r) = rows.try_next().await? {
        let outcome = lang
            .t(&format!("payments.outcome.{}", r.outcome))
            .into_owned();
        sink.row(vec![
            Cell::date(r.booking_date),
            Cell::Text(r.id.to_string()),
            Cell::Money(r.amount_minor),
            Cell::text(r.counterparty_name),
            Cell::text(counter_account(
                r.counterparty_account,
                r.counterparty_bank_code,
                r.counterparty_iban,
            )),
            Cell::text(r.variable_symbol),
            Cell::text(r.message),
            Cell::Text(outcome),
            Cell::text(r.payer),
            Cell::text(r.allocated_member),
            Cell::text(r.schedule),
            Cell::date(r.period_start),
            Cell::date(r.period_end),
            r.allocated_minor.map_or(Cell::Empty, Cell::Money),
        ])
        .await?;
    }
    Ok(())
}

/// A booked transaction as the exports read it (CSV/XLSX rows and GPC items).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookedRow {
    pub id: i64,
    pub account_id: uuid::Uuid,
    pub iban: String,
    pub booking_date: Date,
    pub value_date: Option<Date>,
    /// The movement in minor units: credits positive, debits negative (reversals included).
    pub amount_minor: i64,
    pub currency: String,
    pub counterparty_name: Option<String>,
    pub counterparty_account: Option<String>,
    pub counterparty_bank_code: Option<String>,
    pub counterparty_iban: Option<String>,
    pub variable_symbol: Option<String>,
    pub constant_symbol: Option<String>,
    pub specific_symbol: Option<String>,
    pub message: Option<String>,
    pub note: Option<String>,
    pub transaction_type: Option<String>,
    pub reversal: bool,
}

/// The booked transactions of the range (`account`: one account, else all), by account, day
/// and id.
pub(crate) const BOOKED_SQL: &str = "SELECT t.id, t.account_id, a.iban, t.booking_date, \
        t.value_date, t.amount_minor, t.currency, t.counterparty_name, t.counterparty_account, \
        t.counterparty_bank_code, t.counterparty_iban, t.variable_symbol, t.constant_symbol, \
        t.specific_symbol, t.message, t.note, t.transaction_type, t.reversal \
   FROM transactions t JOIN bank_accounts a ON a.id = t.account_id \
  WHERE t.status = 'booked' AND t.booking_date BETWEEN $1 AND $2 \
    AND ($3::uuid IS NULL OR t.account_id = $3) \
  ORDER BY a.created_at, a.iban, t.booking_date, t.id";

async fn transactions(
    tx: &mut TenantTx,
    from: Date,
    to: Date,
    lang: Lang,
    sink: &mut impl RowSink,
) -> Result<(), Error> {
    let mut rows = sqlx::query_as::<_, BookedRow>(BOOKED_SQL)
        .bind(from)
        .bind(to)
        .bind(None::<uuid::Uuid>)
        .fetch(&mut **tx);
    let yes = lang.t("export.yes").into_owned();
    while let Some(r) = rows.try_next().await? {
        sink.row(vec![
            Cell::Text(r.iban),
            Cell::Date(r.booking_date),
            Cell::date(r.value_date),
            Cell::Money(r.amount_minor),
            Cell::Text(r.currency),
            Cell::text(r.counterparty_name),
            Cell::text(counter_account(
                r.counterparty_account,
                r.counterparty_bank_code,
                r.counterparty_iban,
            )),
            Cell::text(r.variable_symbol),
            Cell::text(r.constant_symbol),
            Cell::text(r.specific_symbol),
            Cell::text(r.message),
            Cell::text(r.note),
            Cell::text(r.transaction_type),
            if r.reversal {
                Cell::Text(yes.clone())
            } else {
                Cell::Empty
            },
        ])
        .await?;
    }
    Ok(())
}
