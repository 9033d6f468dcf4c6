//! The generator's transaction model and its ADAA v2 `AccountTransaction` JSON: the planned
//! [`Tx`] (instants in µs, amounts in minor units, counterparty, symbols, texts) rendered by
//! [`render`] exactly as KB lists it (entry references in KB's formats, bank transaction codes,
//! exact money numbers, Prague `bookingDate`/`valueDate`, UTC `lastUpdated`); transaction ids
//! (`references.accountServicer`, 16 hex digits); and the reading side of the same shape:
//! [`account_servicer`], [`storno_reference`] and [`snapshot`] (what the API lists at an instant).

use std::collections::HashSet;

use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::accounts::CzAccount;
use crate::calendar::{civil_from_days, fmt_date, fmt_utc, local_day, parse_utc_micros, to_micros};

/// Prefix of `additionalTransactionInformation` of storno rows, followed by the original's
/// `references.accountServicer`.
pub const STORNO_PREFIX: &str = "STORNO ";

/// Status of a booked row.
pub const STATUS_BOOKED: &str = "BOOK";
/// Status of a pending row (card hold).
pub const STATUS_PENDING: &str = "PDNG";

/// The row's `references.accountServicer`, if any.
pub fn account_servicer(tx: &Value) -> Option<&str> {
    tx.get("references")?.get("accountServicer")?.as_str()
}

/// For a storno row, the `accountServicer` of the reversed original.
pub fn storno_reference(tx: &Value) -> Option<&str> {
    if tx.get("reversalIndicator").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let info = tx.get("additionalTransactionInformation")?.as_str()?;
    info.strip_prefix(STORNO_PREFIX)?.split_whitespace().next()
}

/// What the ADAA API would list at instant `at`: rows with `lastUpdated <= at`, each
/// `accountServicer` only in its latest state (a booked hold replaces its pending row).
/// Keeps the oldest-first order of `transactions` (which must be sorted as [`super::generate`] sorts).
pub fn snapshot(transactions: &[Value], at: OffsetDateTime) -> Vec<Value> {
    let at_us = to_micros(at);
    let visible: Vec<&Value> = transactions
        .iter()
        .filter(|tx| {
            tx.get("lastUpdated")
                .and_then(Value::as_str)
                .and_then(parse_utc_micros)
                .is_some_and(|t| t <= at_us)
        })
        .collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut keep = vec![false; visible.len()];
    for (i, tx) in visible.iter().enumerate().rev() {
        match account_servicer(tx) {
            Some(id) => keep[i] = seen.insert(id),
            None => keep[i] = true,
        }
    }
    visible
        .into_iter()
        .zip(keep)
        .filter(|&(_, k)| k)
        .map(|(tx, _)| tx.clone())
        .collect()
}

pub(super) fn hex16(x: u64) -> String {
    format!("{x:016x}")
}

/// SplitMix64 finalizer: a bijection on `u64`, so distinct inputs give distinct ids.
pub(super) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Exact JSON number for an amount in minor units: an integer token for whole units, otherwise
/// `whole.cc` parsed by serde_json (a single correctly rounded division, which serializes back to
/// the same shortest text, e.g. `26.57`, `12.5`).
pub(super) fn money(minor: i64) -> Value {
    let abs = minor.unsigned_abs();
    let sign = if minor < 0 { "-" } else { "" };
    if abs.is_multiple_of(100) {
        let text = format!("{sign}{}", abs / 100);
        return serde_json::from_str(&text).unwrap_or(Value::Null);
    }
    let text = format!("{sign}{}.{:02}", abs / 100, abs % 100);
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

pub(super) const BTC_DOMESTIC_IN: &str = "10000107000";
pub(super) const BTC_DOMESTIC_OUT: &str = "10000101003";
pub(super) const BTC_CARD: &str = "30000201330";
pub(super) const BTC_FEE: &str = "40000605000";

#[derive(Debug, Clone, Default)]
pub(super) struct Party {
    pub(super) iban: Option<String>,
    pub(super) name: String,
    pub(super) account_no: Option<String>,
    pub(super) bic: Option<&'static str>,
    pub(super) bank_code: Option<&'static str>,
}

impl Party {
    pub(super) fn domestic(rng: &mut ChaCha8Rng, name: String) -> Self {
        Self::of_account(CzAccount::random_bank(rng), name)
    }

    fn of_account(acc: CzAccount, name: String) -> Self {
        Self {
            iban: Some(acc.iban()),
            name,
            account_no: Some(acc.padded()),
            bic: Some(acc.bank.bic),
            bank_code: Some(acc.bank.code),
        }
    }

    pub(super) fn name_only(name: String) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Refs {
    pub(super) e2e: Option<String>,
    pub(super) variable: Option<String>,
    pub(super) constant: Option<String>,
    pub(super) specific: Option<String>,
    pub(super) receiver: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum EntryStyle {
    DomesticIn,
    DomesticOut,
    Card,
    Fee,
    Other,
}

#[derive(Debug, Clone)]
pub(super) struct Tx {
    /// `lastUpdated`, also the sort key.
    pub(super) at_us: i64,
    /// Instant whose Prague date is the `valueDate`.
    pub(super) value_us: i64,
    pub(super) pending: bool,
    pub(super) servicer: String,
    pub(super) entry_nonce: u64,
    pub(super) entry_style: EntryStyle,
    pub(super) tx_type: &'static str,
    pub(super) btc: Option<&'static str>,
    pub(super) credit: bool,
    /// Positive amount in account-currency minor units.
    pub(super) amount: i64,
    /// Instructed amount and currency when it differs from the account currency.
    pub(super) instructed: Option<(i64, &'static str)>,
    pub(super) reversal: bool,
    pub(super) party: Option<Party>,
    pub(super) refs: Refs,
    pub(super) info: Option<String>,
    /// Prague day of `cardTransactionDetails.holdExpirationDate` (pending holds only).
    pub(super) hold_expiry_day: Option<i64>,
}

fn entry_reference(tx: &Tx, day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    let n = tx.entry_nonce;
    match tx.entry_style {
        EntryStyle::DomesticIn if n.is_multiple_of(2) => {
            format!(
                "120-{y:04}{m:02}{d:02} CST{:010}",
                (n >> 8) % 10_000_000_000
            )
        }
        EntryStyle::DomesticIn => format!(
            "311-{d:02}{m:02}{y:04} 1005 {:06} {:06}",
            (n >> 8) % 1_000_000,
            (n >> 32) % 1_000_000
        ),
        EntryStyle::DomesticOut => format!(
            "001-{d:02}{m:02}{y:04} 1602 {:06} {:06}",
            (n >> 8) % 1_000_000,
            (n >> 32) % 1_000_000
        ),
        EntryStyle::Card => format!(
            "205-{d:02}{m:02}{y:04} {:013}",
            (n >> 4) % 10_000_000_000_000
        ),
        EntryStyle::Fee => format!(
            "000-{d:02}{m:02}{y:04}-060-060-{:09}",
            (n >> 8) % 1_000_000_000
        ),
        EntryStyle::Other => format!(
            "298-{d:02}{m:02}{y:04} 1602{:011}",
            (n >> 8) % 100_000_000_000
        ),
    }
}

fn amount_object(minor: i64, currency: &str) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), money(minor));
    m.insert("currency".into(), Value::String(currency.to_owned()));
    Value::Object(m)
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), Value::String(v.to_owned()));
    }
}

/// Renders a transaction in the ADAA v2 `AccountTransaction` shape.
pub(super) fn render(tx: &Tx, own_iban: &str, currency: &str) -> Value {
    let mut m = Map::new();
    m.insert("lastUpdated".into(), Value::String(fmt_utc(tx.at_us)));
    m.insert("accountType".into(), Value::String("KB".into()));
    let booking_day = local_day(tx.at_us);
    if !tx.pending {
        m.insert(
            "entryReference".into(),
            Value::String(entry_reference(tx, booking_day)),
        );
    }
    m.insert("iban".into(), Value::String(own_iban.to_owned()));
    m.insert(
        "creditDebitIndicator".into(),
        Value::String(if tx.credit { "CREDIT" } else { "DEBIT" }.into()),
    );
    m.insert("transactionType".into(), Value::String(tx.tx_type.into()));
    if let Some(code) = tx.btc {
        let mut b = Map::new();
        b.insert("code".into(), Value::String(code.into()));
        b.insert("issuer".into(), Value::String("CBA".into()));
        m.insert("bankTransactionCode".into(), Value::Object(b));
    }
    m.insert("amount".into(), amount_object(tx.amount, currency));
    if !tx.pending {
        m.insert("bookingDate".into(), Value::String(fmt_date(booking_day)));
    }
    m.insert(
        "valueDate".into(),
        Value::String(fmt_date(local_day(tx.value_us))),
    );
    let (instructed, instructed_ccy) = tx.instructed.unwrap_or((tx.amount, ""));
    let instructed_ccy = if instructed_ccy.is_empty() {
        currency
    } else {
        instructed_ccy
    };
    m.insert(
        "instructed".into(),
        amount_object(instructed, instructed_ccy),
    );
    if tx.reversal {
        m.insert("reversalIndicator".into(), Value::Bool(true));
    }
    m.insert(
        "status".into(),
        Value::String(
            if tx.pending {
                STATUS_PENDING
            } else {
                STATUS_BOOKED
            }
            .into(),
        ),
    );
    if let Some(p) = &tx.party {
        let mut c = Map::new();
        put(&mut c, "iban", p.iban.as_deref());
        put(&mut c, "name", Some(p.name.as_str()));
        put(&mut c, "accountNo", p.account_no.as_deref());
        put(&mut c, "bankBic", p.bic);
        put(&mut c, "bankCode", p.bank_code);
        m.insert("counterParty".into(), Value::Object(c));
    }
    let mut r = Map::new();
    put(&mut r, "accountServicer", Some(tx.servicer.as_str()));
    put(&mut r, "endToEndIdentification", tx.refs.e2e.as_deref());
    put(&mut r, "variable", tx.refs.variable.as_deref());
    put(&mut r, "constant", tx.refs.constant.as_deref());
    put(&mut r, "specific", tx.refs.specific.as_deref());
    put(&mut r, "receiver", tx.refs.receiver.as_deref());
    m.insert("references".into(), Value::Object(r));
    put(
        &mut m,
        "additionalTransactionInformation",
        tx.info.as_deref(),
    );
    if let Some(day) = tx.hold_expiry_day {
        let mut c = Map::new();
        c.insert("holdExpirationDate".into(), Value::String(fmt_date(day)));
        m.insert("cardTransactionDetails".into(), Value::Object(c));
    }
    Value::Object(m)
}
