//! An account's movements as the account page lists them (issue 10): search, filters, sorting
//! and keyset pages over the whole history, the count of what a filter selects, and one
//! movement with everything KB sent. Read-only; every function takes a [`TenantTx`].
//!
//! Pages never use `OFFSET`: a page starts after (or before) the last (first) row of the page
//! the person came from, as `(sort key, id)` in the URL, so page 40 of a 100 000-row account
//! costs what page 1 costs (`transactions_account_day_idx`, `transactions_account_amount_idx`
//! of `tenant/0013_movement_search.sql`). The text search compares `transactions.search_text`
//! (name, messages, note and counter-account, lower case without Czech accents: [`fold`]) with
//! the query folded the same way, through a trigram index where pg_trgm is installed.

use crate::db::tenant::TenantTx;
use serde::Deserialize;
use sqlx::{Postgres, QueryBuilder};
use std::collections::HashMap;
use std::sync::OnceLock;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// Rows on one page.
pub const PAGE: i64 = 50;

/// Letters `search_text` folds (upper and lower case, so the folding does not depend on the
/// database's locale) and what they become; the same pair as `movement_search_text` in
/// `tenant/0016_movement_search_write.sql`.
const FOLD_FROM: &str = "ÁÄČĎÉĚËÍĹĽŇÓÖÔŘŔŠŤÚŮÜÝŽáäčďéěëíĺľňóöôřŕšťúůüýž";
const FOLD_TO: &str = "aacdeeeillnooorrstuuuyzaacdeeeillnooorrstuuuyz";

/// `text` as the search compares it: lower case, Czech accents dropped (`Příspěvek Nováková`
/// → `prispevek novakova`). The same as the database's `translate(lower(…), FOLD_FROM,
/// FOLD_TO)` for ASCII and Czech letters; any other letter is lower-cased by Unicode's simple
/// mapping (where a letter lower-cases to more than one character it stays as it is).
pub fn fold(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() {
                return c.to_ascii_lowercase();
            }
            if let Some((_, to)) = FOLD_FROM
                .chars()
                .zip(FOLD_TO.chars())
                .find(|(f, _)| *f == c)
            {
                return to;
            }
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

/// A movement's `transactions.search_text`: its counter-party's name, message, note,
/// counter-account and counter-IBAN joined by spaces (a missing one is empty), [`fold`]ed.
/// The sync's bulk write computes it here; `movement_search_text` (tenant migration 0016)
/// computes the same for any other writer.
pub fn search_text(
    name: Option<&str>,
    message: Option<&str>,
    note: Option<&str>,
    account: Option<&str>,
    iban: Option<&str>,
) -> String {
    let parts = [name, message, note, account, iban].map(|p| p.unwrap_or(""));
    fold(&parts.join(" "))
}

/// The filter form as the URL carries it (every field text, empty = not used).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(default)]
pub struct FilterForm {
    /// Words in the counter-party's name, the messages, the note or the counter-account.
    pub q: String,
    /// A variable, constant or specific symbol (digits; leading zeros do not matter).
    pub symbol: String,
    /// An exact amount (either direction): `1500`, `1 500,50`.
    pub amount: String,
    /// The smallest amount (either direction).
    pub amount_min: String,
    /// The largest amount (either direction).
    pub amount_max: String,
    /// `in`, `out` or empty (both).
    pub direction: String,
    /// `booked`, `pending` or empty (all).
    pub state: String,
    /// First day (Czech `1. 11. 2026` or ISO), inclusive.
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// `date` (newest first, the default), `date_asc`, `amount` (largest first), `amount_asc`.
    pub sort: String,
    /// The page after this position (`key.id`, see [`Cursor`]).
    pub after: String,
    /// The page before this position.
    pub before: String,
}

/// Incoming or outgoing movements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// Booked or not yet booked (pending, scheduled, unknown) movements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Booked,
    Pending,
}

/// The order of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first (the default).
    #[default]
    DateDesc,
    DateAsc,
    /// Largest incoming first, largest outgoing last.
    AmountDesc,
    AmountAsc,
}

impl Sort {
    /// The URL value (`""` for the default).
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::DateDesc => "",
            Sort::DateAsc => "date_asc",
            Sort::AmountDesc => "amount",
            Sort::AmountAsc => "amount_asc",
        }
    }

    fn by_amount(self) -> bool {
        matches!(self, Sort::AmountDesc | Sort::AmountAsc)
    }

    fn descending(self) -> bool {
        matches!(self, Sort::DateDesc | Sort::AmountDesc)
    }
}

/// A position in the list: the sort key (a day, or minor units) and the row id of a page's
/// first or last row, written `2026-11-29.1234` or `-150000.1234` in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Day(Date, i64),
    Amount(i64, i64),
}

impl Cursor {
    fn parse(text: &str, sort: Sort) -> Option<Cursor> {
        let (key, id) = text.rsplit_once('.')?;
        let id: i64 = id.parse().ok()?;
        if sort.by_amount() {
            Some(Cursor::Amount(key.parse().ok()?, id))
        } else {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            // Years PostgreSQL's `date` holds and people write: a position outside is no position.
            let day = Date::parse(key, &format)
                .ok()
                .filter(|d| (1..=9999).contains(&d.year()))?;
            Some(Cursor::Day(day, id))
        }
    }

    /// The URL form.
    pub fn to_param(self) -> String {
        match self {
            Cursor::Day(day, id) => format!("{day}.{id}"),
            Cursor::Amount(minor, id) => format!("{minor}.{id}"),
        }
    }
}

/// Which page: the first, the one after a position (further in the sort order), or the one
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Position {
    #[default]
    First,
    After(Cursor),
    Before(Cursor),
}

/// A checked filter (what [`FilterForm::parse`] makes of the form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub text: Option<String>,
    /// Digits without leading zeros.
    pub symbol: Option<String>,
    /// Minor units, compared with the movement's absolute amount.
    pub amount: Option<i64>,
    pub amount_min: Option<i64>,
    pub amount_max: Option<i64>,
    pub direction: Option<Direction>,
    pub state: Option<State>,
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub sort: Sort,
    pub position: Position,
}

impl Filter {
    /// Whether anything narrows the list (the sort and the page do not).
    pub fn narrows(&self) -> bool {
        self.text.is_some()
            || self.symbol.is_some()
            || self.amount.is_some()
            || self.amount_min.is_some()
            || self.amount_max.is_some()
            || self.direction.is_some()
            || self.state.is_some()
            || self.from.is_some()
            || self.to.is_some()
    }
}

/// The longest search text taken (characters).
const MAX_TEXT: usize = 100;

impl FilterForm {
    /// The filter, or every problem as `(field, translation key)`: an unreadable amount or
    /// date, a symbol that is not 1–10 digits, a smallest amount above the largest, a first day
    /// after the last, an unknown direction, state or sort. A malformed page position is
    /// ignored (the first page).
    pub fn parse(&self) -> Result<Filter, Vec<(&'static str, &'static str)>> {
        let mut problems = Vec::new();
        // Control characters (NUL among them, which PostgreSQL's text cannot hold) are no text.
        let text: String = self.q.chars().filter(|c| !c.is_control()).collect();
        let text = text.trim();
        let text = (!text.is_empty()).then(|| text.chars().take(MAX_TEXT).collect::<String>());
        let symbol = match self.symbol.trim() {
            "" => None,
            s if s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()) => {
                let trimmed = s.trim_start_matches('0');
                Some(if trimmed.is_empty() { "0" } else { trimmed }.to_owned())
            }
            _ => {
                problems.push(("symbol", "movements.error.symbol"));
                None
            }
        };
        let mut amount = |field: &'static str, text: &str| match text.trim() {
            "" => None,
            t => {
                let parsed = crate::fee::parse_amount(t.trim_start_matches(['-', '−', '+']));
                if parsed.is_none() {
                    problems.push((field, "movements.error.amount"));
                }
                parsed
            }
        };
        let exact = amount("amount", &self.amount);
        let amount_min = amount("amount_min", &self.amount_min);
        let amount_max = amount("amount_max", &self.amount_max);
        if let (Some(min), Some(max)) = (amount_min, amount_max)
            && min > max
        {
            problems.push(("amount_max", "movements.error.amount_range"));
        }
        let mut day = |field: &'static str, text: &str| match text.trim() {
            "" => None,
            t => {
                let parsed = crate::fee::parse_date(t);
                if parsed.is_none() {
                    problems.push((field, "movements.error.date"));
                }
                parsed
            }
        };
        let from = day("from", &self.from);
        let to = day("to", &self.to);
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            problems.push(("to", "movements.error.range"));
        }
        let direction = match self.direction.as_str() {
            "" => None,
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            _ => {
                problems.push(("direction", "movements.error.choice"));
                None
            }
        };
        let state = match self.state.as_str() {
            "" => None,
            "booked" => Some(State::Booked),
            "pending" => Some(State::Pending),
            _ => {
                problems.push(("state", "movements.error.choice"));
                None
            }
        };
        let sort = match self.sort.as_str() {
            "" | "date" => Sort::DateDesc,
            "date_asc" => Sort::DateAsc,
            "amount" => Sort::AmountDesc,
            "amount_asc" => Sort::AmountAsc,
            _ => {
                problems.push(("sort", "movements.error.choice"));
                Sort::DateDesc
            }
        };
        let position = match (
            Cursor::parse(&self.after, sort),
            Cursor::parse(&self.before, sort),
        ) {
            (Some(after), _) => Position::After(after),
            (None, Some(before)) => Position::Before(before),
            (None, None) => Position::First,
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Filter {
            text,
            symbol,
            amount: exact,
            amount_min,
            amount_max,
            direction,
            state,
            from,
            to,
            sort,
            position,
        })
    }
}

/// A movement in the list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Movement {
    pub id: i64,
    pub status: String,
    /// Signed minor units (incoming positive).
    pub amount_minor: i64,
    pub currency: String,
    /// The original amount of a foreign payment (its direction's sign) and its currency.
    pub instructed_minor: Option<i64>,
    pub instructed_currency: Option<String>,
    pub booking_date: Option<Date>,
    pub value_date: Option<Date>,
    /// The day it is listed under (booking date, else value date).
    pub day: Date,
    pub counterparty_name: Option<String>,
    pub counterparty_account: Option<String>,
    pub counterparty_bank_code: Option<String>,
    pub counterparty_iban: Option<String>,
    pub variable_symbol: Option<String>,
    pub constant_symbol: Option<String>,
    pub specific_symbol: Option<String>,
    pub message: Option<String>,
    pub note: Option<String>,
    /// KB's `transactionType` (`DOMESTIC`, `CARD`, `FEE`, …).
    pub transaction_type: Option<String>,
    pub reversal: bool,
    pub kb_status: Option<String>,
}

impl Movement {
    /// Translation key of the badge for a status other than booked
    /// (`views::status_key`).
    pub fn status_key(&self) -> Option<&'static str> {
        super::views::status_key(&self.status)
    }

    /// KB's status literal, shown next to the badge when Kasa does not know the status.
    pub fn unknown_kb_status(&self) -> Option<&str> {
        self.kb_status
            .as_deref()
            .filter(|_| self.status == "unknown")
    }

    /// Translation key of the movement's type in words (`movements.type.card`, …); KB's
    /// literal of a type Kasa does not know is [`Movement::unknown_type`].
    pub fn type_key(&self) -> &'static str {
        type_key(self.transaction_type.as_deref())
    }

    /// KB's type literal when Kasa has no words for it.
    pub fn unknown_type(&self) -> Option<&str> {
        self.transaction_type
            .as_deref()
            .filter(|t| type_key(Some(t)) == "movements.type.other" && *t != "OTHER")
    }

    /// The original amount and currency when they differ from the account's (a foreign
    /// payment).
    pub fn original(&self) -> Option<(i64, &str)> {
        match (self.instructed_minor, self.instructed_currency.as_deref()) {
            (Some(minor), Some(currency)) if currency != self.currency => Some((minor, currency)),
            _ => None,
        }
    }

    /// The counter-account as people read it (`account_number::counter_account`).
    pub fn counter_account(&self) -> Option<crate::account_number::Readable> {
        crate::account_number::counter_account(
            self.counterparty_account.as_deref(),
            self.counterparty_bank_code.as_deref(),
            self.counterparty_iban.as_deref(),
        )
    }
}

fn type_key(kb: Option<&str>) -> &'static str {
    match kb {
        Some("INTEREST") => "movements.type.interest",
        Some("FEE") => "movements.type.fee",
        Some("DOMESTIC") => "movements.type.domestic",
        Some("FOREIGN") => "movements.type.foreign",
        Some("SEPA") => "movements.type.sepa",
        Some("CASH") => "movements.type.cash",
        Some("CARD") => "movements.type.card",
        _ => "movements.type.other",
    }
}

/// One page of the list.
#[derive(Debug, Clone)]
pub struct Page {
    pub movements: Vec<Movement>,
    /// How many movements the filter selects (all pages).
    pub total: i64,
    /// The position of the page before this one (toward the start of the sort order).
    pub previous: Option<Cursor>,
    /// The position of the page after this one.
    pub next: Option<Cursor>,
}

const COLUMNS: &str = "id, status, amount_minor, currency, instructed_minor, instructed_currency, \
    booking_date, value_date, day, counterparty_name, counterparty_account, \
    counterparty_bank_code, counterparty_iban, variable_symbol, constant_symbol, \
    specific_symbol, message, note, transaction_type, reversal, kb_status";

/// `text` with LIKE's wildcards and escape character taken literally.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Appends ` WHERE …` of `filter` for `account_id`.
fn push_where(b: &mut QueryBuilder<'_, Postgres>, account_id: Uuid, filter: &Filter) {
    b.push(" WHERE account_id = ").push_bind(account_id);
    if let Some(text) = &filter.text {
        // Each word must occur (in any order); folded like `search_text`.
        for word in text.split_whitespace().take(8) {
            b.push(" AND search_text LIKE ")
                .push_bind(format!("%{}%", like_escaped(&fold(word))));
        }
    }
    if let Some(symbol) = &filter.symbol {
        b.push(" AND symbols @> ARRAY[")
            .push_bind(symbol.clone())
            .push("]::text[]");
    }
    if let Some(amount) = filter.amount {
        b.push(" AND abs(amount_minor) = ").push_bind(amount);
    }
    if let Some(min) = filter.amount_min {
        b.push(" AND abs(amount_minor) >= ").push_bind(min);
    }
    if let Some(max) = filter.amount_max {
        b.push(" AND abs(amount_minor) <= ").push_bind(max);
    }
    match filter.direction {
        Some(Direction::In) => {
            b.push(" AND amount_minor > 0");
        }
        Some(Direction::Out) => {
            b.push(" AND amount_minor < 0");
        }
        None => {}
    }
    match filter.state {
        Some(State::Booked) => {
            b.push(" AND status = 'booked'");
        }
        Some(State::Pending) => {
            b.push(" AND status IN ('pending', 'scheduled', 'unknown')");
        }
        None => {}
    }
    if let Some(from) = filter.from {
        b.push(" AND day >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        b.push(" AND day <= ").push_bind(to);
    }
}

/// The cursor of a row under `sort`.
fn cursor_of(m: &Movement, sort: Sort) -> Cursor {
    if sort.by_amount() {
        Cursor::Amount(m.amount_minor, m.id)
    } else {
        Cursor::Day(m.day, m.id)
    }
}

/// One page of `account_id`'s movements under `filter` (at most [`PAGE`] rows) with the count
/// of everything the filter selects and the positions of the neighbouring pages. `all`: the
/// account's count of movements when the caller already has it (the account summary counts
/// them), used instead of counting again when the filter narrows nothing.
pub async fn page(
    tx: &mut TenantTx,
    account_id: Uuid,
    filter: &Filter,
    all: Option<i64>,
) -> Result<Page, sqlx::Error> {
    let sort = filter.sort;
    let total = match all {
        Some(all) if !filter.narrows() => all,
        _ => count(tx, account_id, filter).await?,
    };
    // The planner cannot know how many rows a text search selects (it guesses from the
    // pattern's length), and a wrong guess reads every row the trigram index offers and sorts
    // them. The count says it: when the filter selects enough of the account that walking the
    // sort key's index meets a page within `WALK_ROWS` rows, walk it.
    let walk = filter.text.is_some()
        && all.is_some_and(|all| (PAGE + 1) * all <= WALK_ROWS * total.max(1));
    let key = if sort.by_amount() {
        "amount_minor"
    } else {
        "day"
    };
    // Rows are read in the page's direction of travel: forward in the sort order, or
    // backward (then reversed) for the page before a position.
    let backward = matches!(filter.position, Position::Before(_));
    let descending = sort.descending() != backward;
    let mut b = QueryBuilder::new(format!("SELECT {COLUMNS} FROM transactions"));
    push_where(&mut b, account_id, filter);
    let at = match filter.position {
        Position::After(c) | Position::Before(c) => Some(c),
        Position::First => None,
    };
    if let Some(cursor) = at {
        b.push(format!(
            " AND ({key}, id) {} (",
            if descending { "<" } else { ">" }
        ));
        // `Cursor::parse` reads a position of the list's own sort only.
        match cursor {
            Cursor::Day(day, id) => {
                b.push_bind(day).push(", ").push_bind(id);
            }
            Cursor::Amount(minor, id) => {
                b.push_bind(minor).push(", ").push_bind(id);
            }
        }
        b.push(")");
    }
    let order = if descending { "DESC" } else { "ASC" };
    b.push(format!(" ORDER BY {key} {order}, id {order} LIMIT "))
        .push_bind(PAGE + 1);
    if walk {
        sqlx::query("SET LOCAL enable_bitmapscan = off")
            .execute(&mut **tx)
            .await?;
    }
    let mut movements: Vec<Movement> = b.build_query_as().fetch_all(&mut **tx).await?;
    if walk {
        sqlx::query("SET LOCAL enable_bitmapscan = on")
            .execute(&mut **tx)
            .await?;
    }
    let more = movements.len() as i64 > PAGE;
    movements.truncate(PAGE as usize);
    if backward {
        movements.reverse();
    }
    let first = movements.first().map(|m| cursor_of(m, sort));
    let last = movements.last().map(|m| cursor_of(m, sort));
    let (previous, next) = match filter.position {
        Position::First => (None, last.filter(|_| more)),
        Position::After(_) => (first, last.filter(|_| more)),
        Position::Before(_) => (first.filter(|_| more), last),
    };
    Ok(Page {
        movements,
        total,
        previous,
        next,
    })
}

/// The most rows a page walks along its sort key's index before [`page`] lets the planner
/// choose another way (see there).
const WALK_ROWS: i64 = 20_000;

/// Counts kept per (account, [`count_key`] of the filter, the account's `movement_writes`):
/// a count is valid exactly as long as that number of writes (tenant migration 0016), so
/// paging through a filtered list counts once. Several instances keep one each.
type Counts = std::sync::Mutex<HashMap<(Uuid, String, i64), i64>>;

/// At most this many counts are kept; a full map starts over.
const COUNTS_KEPT: usize = 4_096;

fn counts() -> &'static Counts {
    static COUNTS: OnceLock<Counts> = OnceLock::new();
    COUNTS.get_or_init(Default::default)
}

/// What the count of `filter` depends on: everything but its page position and sort.
fn count_key(filter: &Filter) -> String {
    let mut key = filter.clone();
    key.position = Position::First;
    key.sort = Sort::default();
    format!("{key:?}")
}

/// How many of `account_id`'s movements `filter` selects: counted in the database (a
/// `count(*)` under the filter), or the same number counted earlier under the same number of
/// writes to the account's movements (`bank_accounts.movement_writes`, read in `tx`'s
/// snapshot, so the number always belongs to what `tx` sees).
pub async fn count(
    tx: &mut TenantTx,
    account_id: Uuid,
    filter: &Filter,
) -> Result<i64, sqlx::Error> {
    let writes: Option<i64> =
        sqlx::query_scalar("SELECT movement_writes FROM bank_accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&mut **tx)
            .await?;
    let key = writes.map(|writes| (account_id, count_key(filter), writes));
    if let Some(key) = &key {
        let kept = counts().lock().ok().and_then(|c| c.get(key).copied());
        if let Some(n) = kept {
            return Ok(n);
        }
    }
    let mut b = QueryBuilder::new("SELECT count(*) FROM transactions");
    push_where(&mut b, account_id, filter);
    let n: i64 = b.build_query_scalar().fetch_one(&mut **tx).await?;
    if let (Some(key), Ok(mut counts)) = (key, counts().lock()) {
        if counts.len() >= COUNTS_KEPT {
            counts.clear();
        }
        counts.insert(key, n);
    }
    Ok(n)
}

/// An item of KB's list Kasa could not read (kept raw in `unreadable_transactions`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Unreadable {
    pub id: i64,
    pub day: Option<Date>,
    /// Signed minor units, when readable.
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub kb_status: Option<String>,
}

/// The account's unreadable items, newest first.
pub async fn unreadable(
    tx: &mut TenantTx,
    account_id: Uuid,
) -> Result<Vec<Unreadable>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, day, amount_minor, currency, kb_status FROM unreadable_transactions \
          WHERE account_id = $1 ORDER BY day DESC NULLS FIRST, id DESC LIMIT 500",
    )
    .bind(account_id)
    .fetch_all(&mut **tx)
    .await
}

/// One movement with everything Kasa keeps of it.
#[derive(Debug, Clone)]
pub struct Detail {
    pub movement: Movement,
    /// What Kasa tolerated when reading it (`instructed_rounded`, …).
    pub flags: Vec<String>,
    /// KB's `lastUpdated`.
    pub last_updated: OffsetDateTime,
    /// When Kasa first stored it.
    pub first_seen_at: OffsetDateTime,
    /// The movement as KB sent it (as Kasa read it), for movements synced since it is kept.
    pub kb: Option<serde_json::Value>,
}

impl Detail {
    /// Every value KB sent as `(path, value)` in KB's order (`counterParty.name`, `Jana`),
    /// nested objects flattened with dots and arrays with `[i]`.
    pub fn kb_fields(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(value) = &self.kb {
            flatten("", value, &mut out);
        }
        out
    }
}

fn flatten(path: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), v, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((path.to_owned(), s.clone())),
        other => out.push((path.to_owned(), other.to_string())),
    }
}

/// Movement `id` of `account_id`, or `None` (another account's id is `None` too).
pub async fn detail(
    tx: &mut TenantTx,
    account_id: Uuid,
    id: i64,
) -> Result<Option<Detail>, sqlx::Error> {
    let movement: Option<Movement> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM transactions WHERE account_id = $1 AND id = $2"
    ))
    .bind(account_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(movement) = movement else {
        return Ok(None);
    };
    let (flags, last_updated, first_seen_at, kb): (
        Vec<String>,
        OffsetDateTime,
        OffsetDateTime,
        Option<serde_json::Value>,
    ) = sqlx::query_as(
        "SELECT flags, last_updated, first_seen_at, kb_json FROM transactions WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some(Detail {
        movement,
        flags,
        last_updated,
        first_seen_at,
        kb,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn form(fields: &[(&str, &str)]) -> FilterForm {
        let mut f = FilterForm::default();
        for (k, v) in fields {
            let v = (*v).to_owned();
            match *k {
                "q" => f.q = v,
                "symbol" => f.symbol = v,
                "amount" => f.amount = v,
                "amount_min" => f.amount_min = v,
                "amount_max" => f.amount_max = v,
                "direction" => f.direction = v,
                "state" => f.state = v,
                "from" => f.from = v,
                "to" => f.to = v,
                "sort" => f.sort = v,
                "after" => f.after = v,
                "before" => f.before = v,
                _ => panic!("{k}"),
            }
        }
        f
    }

    #[test]
    fn an_empty_form_is_the_newest_first_list_of_everything() {
        let filter = form(&[]).parse().expect("filter");
        assert_eq!(filter, Filter::default());
        assert!(!filter.narrows());
    }

    #[test]
    fn amounts_dates_and_symbols_are_read_the_czech_way() {
        let filter = form(&[
            ("q", "  Nováková  "),
            ("symbol", "0024"),
            ("amount_min", "1 500,50"),
            ("amount_max", "2000 Kč"),
            ("from", "1. 11. 2026"),
            ("to", "2026-11-30"),
            ("direction", "in"),
            ("state", "booked"),
            ("sort", "amount_asc"),
            ("after", "150050.17"),
        ])
        .parse()
        .expect("filter");
        assert_eq!(filter.text.as_deref(), Some("Nováková"));
        assert_eq!(filter.symbol.as_deref(), Some("24"));
        assert_eq!(
            (filter.amount_min, filter.amount_max),
            (Some(150_050), Some(200_000))
        );
        assert_eq!(
            (filter.from, filter.to),
            (Some(date!(2026 - 11 - 01)), Some(date!(2026 - 11 - 30)))
        );
        assert_eq!(filter.sort, Sort::AmountAsc);
        assert_eq!(
            filter.position,
            Position::After(Cursor::Amount(150_050, 17))
        );
        assert!(filter.narrows());
    }

    #[test]
    fn bad_input_names_its_field() {
        let problems = form(&[
            ("amount", "abc"),
            ("symbol", "12a"),
            ("from", "2. 1. 2026"),
            ("to", "1. 1. 2026"),
            ("amount_min", "500"),
            ("amount_max", "100"),
            ("sort", "sideways"),
        ])
        .parse()
        .expect_err("problems");
        assert_eq!(
            problems,
            vec![
                ("symbol", "movements.error.symbol"),
                ("amount", "movements.error.amount"),
                ("amount_max", "movements.error.amount_range"),
                ("to", "movements.error.range"),
                ("sort", "movements.error.choice"),
            ]
        );
        let problems = form(&[("from", "32. 1. 2026")]).parse().expect_err("date");
        assert_eq!(problems, vec![("from", "movements.error.date")]);
    }

    #[test]
    fn control_characters_in_the_search_text_are_dropped_not_sent_to_the_database() {
        let filter = form(&[("q", "\u{0}novák\u{7}")]).parse().expect("filter");
        assert_eq!(filter.text.as_deref(), Some("novák"));
        let filter = form(&[("q", "\u{0}")]).parse().expect("filter");
        assert_eq!(filter.text, None);
    }

    #[test]
    fn a_malformed_position_is_the_first_page_and_cursors_round_trip() {
        for position in [
            "nonsense",
            "-9999-01-01.1",
            "0000-01-01.1",
            "+10000-01-01.1",
        ] {
            let filter = form(&[("after", position)]).parse().expect("filter");
            assert_eq!(filter.position, Position::First, "{position}");
            let filter = form(&[("before", position)]).parse().expect("filter");
            assert_eq!(filter.position, Position::First, "{position}");
        }
        let cursor = Cursor::Day(date!(2026 - 11 - 29), 1234);
        assert_eq!(cursor.to_param(), "2026-11-29.1234");
        assert_eq!(
            Cursor::parse("2026-11-29.1234", Sort::DateDesc),
            Some(cursor)
        );
        assert_eq!(
            Cursor::parse("-1500.3", Sort::AmountDesc),
            Some(Cursor::Amount(-1500, 3))
        );
    }

    #[test]
    fn like_wildcards_are_taken_literally() {
        assert_eq!(like_escaped(r"50% a_b \ c"), r"50\% a\_b \\ c");
    }

    #[test]
    fn the_folding_pairs_have_the_same_length() {
        assert_eq!(FOLD_FROM.chars().count(), FOLD_TO.chars().count());
    }

    #[test]
    fn search_text_is_lower_case_without_czech_accents_and_keeps_missing_parts_as_spaces() {
        assert_eq!(fold("Příspěvek ŽLUŤOUČKÝ Kůň"), "prispevek zlutoucky kun");
        assert_eq!(
            fold("Łódź ÄÖÜ"),
            "łodź aou",
            "ź is not Czech: only lower-cased"
        );
        assert_eq!(
            search_text(
                Some("Jana Nováková"),
                Some("Soustředění"),
                None,
                Some("19-2000145399"),
                None
            ),
            "jana novakova soustredeni  19-2000145399 "
        );
    }
}
