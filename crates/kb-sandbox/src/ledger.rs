//! An account's ledger as a log of transaction rows (the generator's model: rows oldest first
//! by `lastUpdated`; a card hold appears as a `PDNG` row and later as a `BOOK` row with the same
//! `references.accountServicer`) and the view the API serves from it.
//!
//! A logged row never changes, so each [`Row`] keeps what the view and the balances need
//! (instant, date, identity, amount, status) parsed next to KB's JSON: computing the view of a
//! 100 000-row ledger then walks small structs instead of JSON maps.

use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `references.accountServicer` of a row.
pub fn servicer(tx: &Value) -> Option<&str> {
    tx.pointer("/references/accountServicer")
        .and_then(Value::as_str)
}

/// Transaction date used for ordering and filtering: `bookingDate`, else `valueDate`.
pub fn tx_date(tx: &Value) -> &str {
    tx.get("bookingDate")
        .or_else(|| tx.get("valueDate"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A date (`YYYY-MM-DD`, possibly followed by a time) as the number `YYYYMMDD`, 0 when it is
/// not a date: orders like the dates.
pub fn date_key(date: &str) -> u32 {
    let digits: String = date
        .get(..10)
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if digits.len() == 8 {
        digits.parse().unwrap_or(0)
    } else {
        0
    }
}

fn last_updated(tx: &Value) -> Option<OffsetDateTime> {
    tx.get("lastUpdated")
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// Whether the row is booked (`status` `BOOK` or absent).
pub fn is_booked(tx: &Value) -> bool {
    tx.get("status")
        .and_then(Value::as_str)
        .is_none_or(|s| s == "BOOK")
}

/// Signed amount in minor units (debits negative).
pub fn amount_minor(tx: &Value) -> i64 {
    let v = tx
        .pointer("/amount/value")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let minor = (v * 100.0).round() as i64;
    if tx.get("creditDebitIndicator").and_then(Value::as_str) == Some("DEBIT") {
        -minor
    } else {
        minor
    }
}

/// One logged row: KB's JSON (what the API answers; serialized as just that) and its parsed
/// essentials. Dereferences to the JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    json: Value,
    /// `lastUpdated`.
    pub last_updated: Option<OffsetDateTime>,
    /// [`tx_date`] as [`date_key`].
    pub date: u32,
    /// `references.accountServicer`.
    pub servicer: Option<Box<str>>,
    /// [`amount_minor`].
    pub amount_minor: i64,
    /// [`is_booked`].
    pub booked: bool,
    /// Cancelled or rejected: listed, but never moved money.
    pub void: bool,
}

impl Row {
    /// Parses the essentials of `json`.
    pub fn new(json: Value) -> Self {
        Self {
            last_updated: last_updated(&json),
            date: date_key(tx_date(&json)),
            servicer: servicer(&json).map(Box::from),
            amount_minor: amount_minor(&json),
            booked: is_booked(&json),
            void: json
                .get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| matches!(s, "CNCL" | "CANC" | "RJCT")),
            json,
        }
    }
}

impl Deref for Row {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.json
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Row::new)
    }
}

/// Inserts a row keeping the log ordered by `lastUpdated` (after rows with the same instant);
/// returns its position in the log.
pub fn insert(log: &mut Vec<Arc<Row>>, tx: Value) -> usize {
    let row = Row::new(tx);
    let pos = match row.last_updated {
        Some(at) => log
            .iter()
            .rposition(|t| t.last_updated.is_none_or(|u| u <= at))
            .map_or(0, |i| i + 1),
        None => log.len(),
    };
    log.insert(pos, Arc::new(row));
    pos
}

/// Updates `order`, the view of `log` at `now` (see [`view_until`]) as it was before the row
/// now at position `pos` was [`insert`]ed, to the view of the new log at `now`, in one pass over
/// the view instead of a recomputation: positions after `pos` move by one, a visible row
/// replaces the older visible state of its `accountServicer`. Returns the row's `lastUpdated`
/// when it is not visible yet at `now` (the view then changes at that instant).
pub fn view_insert(
    log: &[Arc<Row>],
    order: &mut Vec<usize>,
    pos: usize,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let row = &log[pos];
    for i in order.iter_mut() {
        if *i >= pos {
            *i += 1;
        }
    }
    if let Some(u) = row.last_updated
        && u > now
    {
        return Some(u);
    }
    if let Some(id) = row.servicer.as_deref()
        && let Some(at) = order
            .iter()
            .position(|i| log[*i].servicer.as_deref() == Some(id))
    {
        if order[at] > pos {
            // A later state of the same transaction is already visible.
            return None;
        }
        order.remove(at);
    }
    // Rows of one day are in log order.
    let start = order.partition_point(|i| log[*i].date < row.date);
    let end = order.partition_point(|i| log[*i].date <= row.date);
    let at = start + order[start..end].partition_point(|i| *i < pos);
    order.insert(at, pos);
    None
}

/// The positions in `log` of the rows the API lists at `now`: rows with `lastUpdated <= now`,
/// each `accountServicer` only in its latest state, ordered oldest first by transaction date
/// (stable).
pub fn view_indices(log: &[Arc<Row>], now: OffsetDateTime) -> Vec<usize> {
    view_until(log, now).0
}

/// [`view_indices`] and until when it stays what the API shows: the first `lastUpdated` after
/// `now` (the next row to become visible), if any. The view changes at that instant or when the
/// log changes, not in between, so it can be computed once and paged through.
pub fn view_until(log: &[Arc<Row>], now: OffsetDateTime) -> (Vec<usize>, Option<OffsetDateTime>) {
    let mut next: Option<OffsetDateTime> = None;
    let mut seen = std::collections::HashSet::new();
    // Newest first, so the latest state of each `accountServicer` wins.
    let mut keep: Vec<(u32, usize)> = Vec::with_capacity(log.len());
    for (i, row) in log.iter().enumerate().rev() {
        if let Some(u) = row.last_updated
            && u > now
        {
            next = Some(next.map_or(u, |n| n.min(u)));
            continue;
        }
        if row.servicer.as_deref().is_none_or(|id| seen.insert(id)) {
            keep.push((row.date, i));
        }
    }
    keep.reverse();
    // Stable: rows of one day keep their log order.
    keep.sort_by_key(|(date, _)| *date);
    (keep.into_iter().map(|(_, i)| i).collect(), next)
}

/// The part of a view (positions in API order, see [`view_indices`]) whose transaction date
/// lies within `from..=to` (`YYYY-MM-DD`), found by binary search.
pub fn date_range<'a>(log: &[Arc<Row>], order: &'a [usize], from: &str, to: &str) -> &'a [usize] {
    let (from, to) = (date_key(from), date_key(to));
    let start = order.partition_point(|i| log[*i].date < from);
    let end = order.partition_point(|i| log[*i].date <= to);
    &order[start..end.max(start)]
}

/// The rows of [`view_indices`], as references into the log.
pub fn view_refs(log: &[Arc<Row>], now: OffsetDateTime) -> Vec<&Value> {
    view_indices(log, now)
        .into_iter()
        .map(|i| &log[i].json)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn row(id: &str, date: &str, updated: &str, status: &str, amount: f64) -> Value {
        json!({
            "references": { "accountServicer": id },
            "bookingDate": date,
            "lastUpdated": updated,
            "status": status,
            "amount": { "value": amount.abs(), "currency": "CZK" },
            "creditDebitIndicator": if amount < 0.0 { "DEBIT" } else { "CREDIT" },
        })
    }

    fn log(rows: Vec<Value>) -> Vec<Arc<Row>> {
        let mut log = Vec::new();
        for r in rows {
            insert(&mut log, r);
        }
        log
    }

    #[test]
    fn a_settled_hold_shows_once_in_its_booked_state_and_the_view_knows_when_it_changes() {
        let log = log(vec![
            row("a", "2026-11-02", "2026-11-02T10:00:00Z", "BOOK", 10.0),
            row("h", "2026-11-01", "2026-11-01T09:00:00Z", "PDNG", -5.0),
            row("h", "2026-11-03", "2026-11-03T09:00:00Z", "BOOK", -5.0),
            row("f", "2026-11-20", "2026-11-20T09:00:00Z", "BOOK", 1.0),
        ]);
        let (order, until) = view_until(&log, datetime!(2026-11-10 00:00 UTC));
        let ids: Vec<_> = order
            .iter()
            .map(|i| log[*i].servicer.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(ids, ["a", "h"]);
        assert!(log[order[1]].booked);
        assert_eq!(until, Some(datetime!(2026-11-20 09:00 UTC)));
        let (before_settling, _) = view_until(&log, datetime!(2026-11-02 12:00 UTC));
        assert!(
            !log[before_settling[0]].booked,
            "the hold is pending before it settles"
        );
    }

    #[test]
    fn date_range_finds_the_same_rows_as_a_filter() {
        let rows: Vec<Value> = (1..=28)
            .map(|d| {
                let date = format!("2026-02-{d:02}");
                row(
                    &format!("r{d}"),
                    &date,
                    &format!("{date}T08:00:00Z"),
                    "BOOK",
                    1.0,
                )
            })
            .collect();
        let log = log(rows);
        let order = view_indices(&log, datetime!(2026-03-01 00:00 UTC));
        let found = date_range(&log, &order, "2026-02-10", "2026-02-12");
        let filtered: Vec<usize> = order
            .iter()
            .copied()
            .filter(|i| ("2026-02-10"..="2026-02-12").contains(&tx_date(&log[*i])))
            .collect();
        assert_eq!(found, filtered.as_slice());
        assert_eq!(found.len(), 3);
        assert!(date_range(&log, &order, "2026-03-01", "2026-03-31").is_empty());
    }

    #[test]
    fn a_view_updated_for_an_inserted_row_equals_the_recomputed_view() {
        let now = datetime!(2026-11-10 12:00 UTC);
        let base = || {
            log(vec![
                row("a", "2026-11-02", "2026-11-02T10:00:00Z", "BOOK", 10.0),
                row("h", "2026-11-01", "2026-11-01T09:00:00Z", "PDNG", -5.0),
                row("b", "2026-11-02", "2026-11-02T11:00:00Z", "BOOK", 3.0),
                row("c", "2026-11-09", "2026-11-09T08:00:00Z", "PDNG", -2.0),
                row("f", "2026-11-20", "2026-11-20T09:00:00Z", "BOOK", 1.0),
            ])
        };
        let inserted = [
            // A new payment now, a hold settling now, a row backdated into the middle of the
            // log, a later state of a row that is already visible, a row not visible yet.
            row("p", "2026-11-10", "2026-11-10T12:00:00Z", "BOOK", 7.0),
            row("h", "2026-11-10", "2026-11-10T12:00:00Z", "BOOK", -5.0),
            row("late", "2026-11-02", "2026-11-02T10:30:00Z", "BOOK", 4.0),
            row("c", "2026-11-09", "2026-11-09T07:00:00Z", "CNCL", -2.0),
            row("later", "2026-11-11", "2026-11-11T09:00:00Z", "BOOK", 1.0),
        ];
        for tx in inserted {
            let mut log = base();
            let (mut order, until) = view_until(&log, now);
            let pos = insert(&mut log, tx.clone());
            let later = view_insert(&log, &mut order, pos, now);
            let (expected, expected_until) = view_until(&log, now);
            assert_eq!(order, expected, "{tx}");
            let until = match (until, later) {
                (Some(u), Some(l)) => Some(u.min(l)),
                (u, l) => u.or(l),
            };
            assert_eq!(until, expected_until, "{tx}");
        }
    }

    #[test]
    fn a_row_is_stored_and_served_as_exactly_kb_json() {
        let json = row(
            "x",
            "2026-01-05T00:00:00+01:00",
            "2026-01-05T10:00:00Z",
            "BOOK",
            -12.5,
        );
        let r = Row::new(json.clone());
        assert_eq!(r.date, 20260105);
        assert_eq!(r.amount_minor, -1250);
        assert_eq!(serde_json::to_value(&r).expect("serialize"), json);
        let back: Row = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, r);
    }
}
