//! An account's ledger as a log of transaction rows (the generator's model: rows oldest first
//! by `lastUpdated`; a card hold appears as a `PDNG` row and later as a `BOOK` row with the same
//! `references.accountServicer`) and the view the API serves from it.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `references.accountServicer` of a row.
pub fn servicer(tx: &Value) -> Option<&str> {
    tx.pointer("/references/accountServicer")
        .and_then(Value::as_str)
}

/// Transaction date used for ordering and filtering: `bookingDate`, else `valueDate`.
pub fn tx_date(tx: &Value) -> String {
    tx.get("bookingDate")
        .or_else(|| tx.get("valueDate"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
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

/// Inserts a row keeping the log ordered by `lastUpdated` (after rows with the same instant).
pub fn insert(log: &mut Vec<Value>, tx: Value) {
    let at = last_updated(&tx);
    let pos = match at {
        Some(at) => log
            .iter()
            .rposition(|t| last_updated(t).is_none_or(|u| u <= at))
            .map_or(0, |i| i + 1),
        None => log.len(),
    };
    log.insert(pos, tx);
}

/// What the API lists at `now`: rows with `lastUpdated <= now`, each `accountServicer` only in
/// its latest state, ordered oldest first by transaction date (stable).
pub fn view(log: &[Value], now: OffsetDateTime) -> Vec<Value> {
    view_refs(log, now).into_iter().cloned().collect()
}

/// The positions in `log` of the rows [`view`] shows, in its order.
pub fn view_indices(log: &[Value], now: OffsetDateTime) -> Vec<usize> {
    let visible: Vec<usize> = (0..log.len())
        .filter(|i| last_updated(&log[*i]).is_none_or(|u| u <= now))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut keep = vec![true; visible.len()];
    for (n, i) in visible.iter().enumerate().rev() {
        if let Some(id) = servicer(&log[*i]) {
            keep[n] = seen.insert(id);
        }
    }
    let mut out: Vec<usize> = visible
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(i, _)| i)
        .collect();
    out.sort_by_cached_key(|i| tx_date(&log[*i]));
    out
}

/// [`view`] without copying: references into the log.
pub fn view_refs(log: &[Value], now: OffsetDateTime) -> Vec<&Value> {
    view_indices(log, now)
        .into_iter()
        .map(|i| &log[i])
        .collect()
}
