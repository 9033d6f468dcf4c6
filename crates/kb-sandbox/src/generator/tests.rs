//! The generator's data against ADAA v2's `AccountTransaction` shape and its own invariants.

use std::collections::{HashMap, HashSet};

use super::accounts::{base64url, make_iban};
use super::render::money;
use super::*;
use crate::calendar::{DAY_US, parse_utc_micros, to_micros};
use time::macros::{datetime, format_description};

fn cfg(seed: u64, accounts: usize, n: usize, days: u32) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        accounts,
        transactions_per_account: n,
        days,
        end: datetime!(2026-03-15 10:30:00 UTC),
    }
}

// ---- ADAA v2 AccountTransaction shape, field list taken from adaa-api-v2.json ----

const TOP_OPTIONAL: [&str; 10] = [
    "entryReference",
    "bankTransactionCode",
    "bookingDate",
    "valueDate",
    "instructed",
    "reversalIndicator",
    "status",
    "counterParty",
    "references",
    "additionalTransactionInformation",
];
const COUNTERPARTY: [(&str, usize); 6] = [
    ("iban", 34),
    ("name", usize::MAX),
    ("accountNo", 34),
    ("bankBic", 11),
    ("bankCode", 4),
    ("bankName", usize::MAX),
];
const REFERENCES: [&str; 7] = [
    "accountServicer",
    "endToEndIdentification",
    "variable",
    "constant",
    "specific",
    "receiver",
    "myDescription",
];
const TX_TYPES: [&str; 8] = [
    "INTEREST", "FEE", "DOMESTIC", "FOREIGN", "SEPA", "CASH", "CARD", "OTHER",
];

fn is_date(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 10 && time::Date::parse(s, format_description!("[year]-[month]-[day]")).is_ok()
    })
}

fn check_amount(v: &Value) -> Result<(), String> {
    let o = v.as_object().ok_or("amount not an object")?;
    if o.keys().any(|k| k != "value" && k != "currency") {
        return Err(format!("amount keys {o:?}"));
    }
    let value = o.get("value").ok_or("no value")?;
    if !value.is_number() {
        return Err(format!("value not a number: {value}"));
    }
    let text = value.to_string();
    if text.contains(['e', 'E']) || text.split('.').nth(1).is_some_and(|f| f.len() > 2) {
        return Err(format!("value has more than 2 decimals: {text}"));
    }
    let ccy = o
        .get("currency")
        .and_then(Value::as_str)
        .ok_or("no currency")?;
    if ccy.len() > 3 {
        return Err(format!("currency {ccy}"));
    }
    Ok(())
}

fn check_strings(v: &Value, allowed: &[(&str, usize)], what: &str) -> Result<(), String> {
    let o = v.as_object().ok_or(format!("{what} not an object"))?;
    for (k, val) in o {
        let (_, max) = allowed
            .iter()
            .find(|(name, _)| name == k)
            .ok_or(format!("unknown {what} key {k}"))?;
        let s = val.as_str().ok_or(format!("{what}.{k} not a string"))?;
        if s.chars().count() > *max {
            return Err(format!("{what}.{k} too long"));
        }
    }
    Ok(())
}

/// Checks one row against the v2 `AccountTransaction` schema.
fn check_shape(tx: &Value) -> Result<(), String> {
    let o = tx.as_object().ok_or("not an object")?;
    for k in REQUIRED_FIELDS {
        if !o.contains_key(k) {
            return Err(format!("missing {k}"));
        }
    }
    for (k, v) in o {
        match k.as_str() {
            "lastUpdated" => {
                let s = v.as_str().ok_or("lastUpdated")?;
                parse_utc_micros(s).ok_or(format!("lastUpdated {s}"))?;
            }
            "accountType" => {
                if !matches!(v.as_str(), Some("KB" | "AG")) {
                    return Err(format!("accountType {v}"));
                }
            }
            "entryReference" | "status" => {
                v.as_str().ok_or(format!("{k} not a string"))?;
            }
            "iban" => {
                if v.as_str().is_none_or(|s| s.len() > 34) {
                    return Err("iban".into());
                }
            }
            "creditDebitIndicator" => {
                if !matches!(v.as_str(), Some("CREDIT" | "DEBIT")) {
                    return Err(format!("creditDebitIndicator {v}"));
                }
            }
            "transactionType" => {
                if !v.as_str().is_some_and(|s| TX_TYPES.contains(&s)) {
                    return Err(format!("transactionType {v}"));
                }
            }
            "bankTransactionCode" => {
                let b = v.as_object().ok_or("bankTransactionCode")?;
                if b.keys().any(|k| k != "code" && k != "issuer")
                    || b.get("code")
                        .and_then(Value::as_str)
                        .is_none_or(|c| c.len() > 35)
                    || !matches!(
                        b.get("issuer").and_then(Value::as_str),
                        None | Some("CBA" | "OTHER")
                    )
                {
                    return Err(format!("bankTransactionCode {v}"));
                }
            }
            "amount" | "instructed" => check_amount(v)?,
            "bookingDate" | "valueDate" => {
                if !is_date(v) {
                    return Err(format!("{k} {v}"));
                }
            }
            "reversalIndicator" => {
                v.as_bool().ok_or("reversalIndicator")?;
            }
            "counterParty" => check_strings(v, &COUNTERPARTY, "counterParty")?,
            "references" => {
                let allowed: Vec<(&str, usize)> =
                    REFERENCES.iter().map(|&r| (r, usize::MAX)).collect();
                check_strings(v, &allowed, "references")?;
            }
            "additionalTransactionInformation" => {
                if v.as_str().is_none_or(|s| s.chars().count() > 500) {
                    return Err("additionalTransactionInformation".into());
                }
            }
            "cardTransactionDetails" => {
                let c = v.as_object().ok_or("cardTransactionDetails")?;
                if c.keys().any(|k| k != "holdExpirationDate")
                    || c.get("holdExpirationDate").is_some_and(|d| !is_date(d))
                {
                    return Err(format!("cardTransactionDetails {v}"));
                }
            }
            other => {
                if !TOP_OPTIONAL.contains(&other) {
                    return Err(format!("unknown key {other}"));
                }
            }
        }
    }
    Ok(())
}

/// Stricter rules for our own rows on top of the schema.
fn check_generated(tx: &Value, acc: &GeneratedAccount) -> Result<(), String> {
    check_shape(tx)?;
    let get = |k: &str| tx.get(k).and_then(Value::as_str).unwrap_or_default();
    if get("iban") != acc.iban {
        return Err("own iban".into());
    }
    if tx["amount"]["currency"] != "CZK" || !tx["amount"]["value"].as_f64().is_some_and(|v| v > 0.0)
    {
        return Err(format!("amount {}", tx["amount"]));
    }
    let status = get("status");
    if status != STATUS_BOOKED && status != STATUS_PENDING {
        return Err(format!("status {status}"));
    }
    let pending = status == STATUS_PENDING;
    if pending != tx.get("bookingDate").is_none()
        || pending != tx.get("cardTransactionDetails").is_some()
        || pending != tx.get("entryReference").is_none()
        || !tx.get("valueDate").is_some_and(is_date)
    {
        return Err(format!("pending/booked fields {tx}"));
    }
    let servicer = account_servicer(tx).ok_or("no accountServicer")?;
    if servicer.len() != 16 || !servicer.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("servicer {servicer}"));
    }
    let refs = &tx["references"];
    let digits = |k: &str, max: usize| {
        refs.get(k).and_then(Value::as_str).is_none_or(|s| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        })
    };
    if !digits("variable", 10) || !digits("constant", 4) || !digits("specific", 10) {
        return Err(format!("symbols {refs}"));
    }
    if let Some(cp) = tx.get("counterParty") {
        if let Some(iban) = cp.get("iban").and_then(Value::as_str)
            && !valid_iban(iban)
        {
            return Err(format!("counterparty iban {iban}"));
        }
        if let Some(no) = cp.get("accountNo").and_then(Value::as_str) {
            let code = cp
                .get("bankCode")
                .and_then(Value::as_str)
                .ok_or("bankCode")?;
            let iban = cp.get("iban").and_then(Value::as_str).ok_or("cp iban")?;
            if no.len() != 16
                || !valid_czech_account(&no[..6], &no[6..])
                || iban[4..] != format!("{code}{no}")
            {
                return Err(format!("counterparty account {no}/{code}"));
            }
        }
    }
    Ok(())
}

/// KB's reference material, kept once for the workspace in its `tests/kb-reference/` (this
/// crate sits in `crates/kb-sandbox`, two levels below; both are inside the repository).
fn kb_reference(file: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace root");
    let path = root.join("tests/kb-reference").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn shape_checker_accepts_kb_reference_examples() {
    let mut rows = Vec::new();
    let fixture: Value =
        serde_json::from_str(&kb_reference("fixtures/response-transaction-history.json"))
            .expect("test data");
    rows.extend(fixture["content"].as_array().expect("test data").clone());
    let needle = "\"lastUpdated\": \"2023-06-08";
    let postman: Value =
        serde_json::from_str(&kb_reference("postman/sandbox.postman_collection.json"))
            .expect("test data");
    let mut stack = vec![postman];
    while let Some(item) = stack.pop() {
        if let Some(items) = item.get("item").and_then(Value::as_array) {
            stack.extend(items.iter().cloned());
        }
        for resp in item
            .get("response")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let body = resp["body"].as_str().unwrap_or_default();
            if body.contains(needle) {
                let b: Value = serde_json::from_str(body).expect("test data");
                rows.extend(b["content"].as_array().expect("test data").clone());
            }
        }
    }
    assert!(!rows.is_empty(), "KB's reference rows were found");
    for row in &rows {
        check_shape(row).expect("test data");
    }
    eprintln!("checked {} KB reference rows", rows.len());
    // A row with an unknown key or a bad enum is rejected.
    let mut bad = rows[0].clone();
    bad["transactionType"] = "WIRE".into();
    assert!(check_shape(&bad).is_err());
    bad["transactionType"] = "DOMESTIC".into();
    bad["foo"] = 1.into();
    assert!(check_shape(&bad).is_err());
}

#[test]
fn deterministic() {
    let c = cfg(42, 3, 2_000, 365);
    let a = serde_json::to_string(&to_json(&generate(&c))).expect("test data");
    let b = serde_json::to_string(&to_json(&generate(&c))).expect("test data");
    assert_eq!(a, b);
    let other =
        serde_json::to_string(&to_json(&generate(&cfg(43, 3, 2_000, 365)))).expect("test data");
    assert_ne!(a, other);
    // An account does not depend on how many accounts are generated.
    let one = generate(&cfg(42, 1, 2_000, 365));
    assert_eq!(one[0], generate(&c)[0]);
}

fn to_json(accs: &[GeneratedAccount]) -> Value {
    Value::Array(
        accs.iter()
            .map(|a| {
                serde_json::json!({
                    "accountId": a.account_id, "iban": a.iban, "number": a.number,
                    "bankCode": a.bank_code, "name": a.name, "currency": a.currency,
                    "opening": a.opening_balance_minor, "transactions": a.transactions,
                })
            })
            .collect(),
    )
}

#[test]
fn validators_on_known_numbers() {
    // KB sandbox and ČS examples from the KB reference data.
    assert!(valid_czech_account("000115", "4933990227"));
    assert!(valid_czech_account("115", "4933990227"));
    assert!(valid_czech_account("", "2795161113"));
    assert!(valid_czech_account("0", "2795161113"));
    assert!(valid_czech_account("19", "2000145399"));
    assert!(!valid_czech_account("", "2795161114"));
    assert!(!valid_czech_account("116", "4933990227"));
    assert!(!valid_czech_account("", "0000000000"));
    assert!(!valid_czech_account("1234567", "2795161113"));
    assert!(!valid_czech_account("", "27951611130"));
    assert!(!valid_czech_account("", "27x5161113"));
    assert!(valid_iban("CZ5401000001154933990227"));
    assert!(valid_iban("CZ0208000000002795161113"));
    assert!(valid_iban("CZ65 0800 0000 1920 0014 5399"));
    assert!(valid_iban("FR7630003033000002054269605"));
    assert!(valid_iban("DE89370400440532013000"));
    assert!(!valid_iban("CZ5501000001154933990227"));
    assert!(!valid_iban("CZ540100000115493399022"));
    assert!(!valid_iban("cz5401000001154933990227"));
    assert_eq!(
        make_iban("CZ", "08000000192000145399"),
        "CZ6508000000192000145399"
    );
    assert_eq!(
        base64url(b"CZ1301000901147771800227:CZK"),
        "Q1oxMzAxMDAwOTAxMTQ3NzcxODAwMjI3OkNaSw"
    );
    assert_eq!(base64url(b"ab"), "YWI");
    assert_eq!(base64url(b"a"), "YQ");
}

#[test]
fn accounts_have_valid_numbers_and_ids() {
    let accs = generate(&cfg(7, 20, 50, 60));
    let mut seen = HashSet::new();
    for a in &accs {
        let (prefix, number) = a.number.split_once('-').unwrap_or(("", &a.number));
        assert!(
            !prefix.starts_with('0') && !number.starts_with('0'),
            "{}",
            a.number
        );
        assert!(valid_czech_account(prefix, number), "{}", a.number);
        assert!(valid_iban(&a.iban), "{}", a.iban);
        assert_eq!(a.bank_code, "0100");
        assert_eq!(
            a.iban[4..],
            format!("0100{:0>6}{:0>10}", prefix, number),
            "IBAN embeds the national number"
        );
        assert_eq!(
            a.account_id,
            base64url(format!("{}:CZK", a.iban).as_bytes())
        );
        assert_eq!(a.currency, "CZK");
        assert!(seen.insert(a.iban.clone()));
    }
}

/// Invariants over one account's generated history.
fn check_history(acc: &GeneratedAccount, end: OffsetDateTime) {
    let end_us = to_micros(end);
    let mut last = i64::MIN;
    let mut by_servicer: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut balance = acc.opening_balance_minor;
    for (i, tx) in acc.transactions.iter().enumerate() {
        check_generated(tx, acc).unwrap_or_else(|e| panic!("row {i}: {e}\n{tx}"));
        let at =
            parse_utc_micros(tx["lastUpdated"].as_str().expect("test data")).expect("test data");
        assert!(at >= last, "sorted oldest first");
        assert!(at <= end_us);
        last = at;
        by_servicer
            .entry(account_servicer(tx).expect("test data"))
            .or_default()
            .push(i);
        if tx["status"] == STATUS_BOOKED {
            let minor = minor_of(&tx["amount"]["value"]);
            balance += if tx["creditDebitIndicator"] == "CREDIT" {
                minor
            } else {
                -minor
            };
            assert!(balance >= 0, "balance {balance} at row {i}");
        }
    }
    // accountServicer: unique except pending -> booked pairs.
    for (id, rows) in &by_servicer {
        match rows.as_slice() {
            [_] => {}
            [p, b] => {
                let (p, b) = (&acc.transactions[*p], &acc.transactions[*b]);
                assert_eq!(p["status"], STATUS_PENDING, "{id}");
                assert_eq!(b["status"], STATUS_BOOKED, "{id}");
                assert_eq!(p["amount"], b["amount"]);
                assert_eq!(p["valueDate"], b["valueDate"]);
                assert_eq!(p["transactionType"], "CARD");
            }
            more => panic!("servicer {id} used {} times", more.len()),
        }
    }
}

fn minor_of(v: &Value) -> i64 {
    let text = v.to_string();
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    whole.parse::<i64>().expect("test data") * 100
        + format!("{frac:0<2}").parse::<i64>().expect("test data")
}

#[test]
fn history_invariants_and_content() {
    let c = cfg(2026, 3, 6_000, 730);
    let accs = generate(&c);
    let mut types = HashSet::new();
    let (mut pairs, mut open_holds, mut stornos, mut sepa) = (0, 0, 0, 0);
    let mut texts = String::new();
    for acc in &accs {
        assert_eq!(acc.transactions.len(), 6_000);
        check_history(acc, c.end);
        let index: HashMap<&str, Vec<&Value>> =
            acc.transactions.iter().fold(HashMap::new(), |mut m, t| {
                m.entry(account_servicer(t).expect("test data"))
                    .or_default()
                    .push(t);
                m
            });
        for (i, tx) in acc.transactions.iter().enumerate() {
            types.insert(
                tx["transactionType"]
                    .as_str()
                    .expect("test data")
                    .to_owned(),
            );
            texts.push_str(&tx.to_string());
            let id = account_servicer(tx).expect("test data");
            if tx["status"] == STATUS_PENDING {
                if index[id].len() == 2 {
                    pairs += 1;
                } else {
                    open_holds += 1;
                    let at = parse_utc_micros(tx["lastUpdated"].as_str().expect("test data"))
                        .expect("test data");
                    assert!(to_micros(c.end) - at <= 3 * DAY_US, "old hold never booked");
                }
            }
            if tx["transactionType"] == "SEPA" {
                sepa += 1;
                assert_eq!(tx["instructed"]["currency"], "EUR");
                assert_eq!(tx["amount"]["currency"], "CZK");
                assert!(tx["references"]["endToEndIdentification"].is_string());
            }
            if tx.get("reversalIndicator").is_some() {
                stornos += 1;
                let target = storno_reference(tx).expect("storno references its original");
                let orig_pos = acc.transactions[..i]
                    .iter()
                    .rposition(|t| {
                        account_servicer(t) == Some(target) && t["status"] == STATUS_BOOKED
                    })
                    .expect("original exists earlier");
                let orig = &acc.transactions[orig_pos];
                assert_eq!(orig["amount"], tx["amount"]);
                assert_ne!(orig["creditDebitIndicator"], tx["creditDebitIndicator"]);
                assert!(orig.get("reversalIndicator").is_none());
            }
        }
    }
    for t in ["DOMESTIC", "CARD", "FEE", "SEPA", "CASH", "INTEREST"] {
        assert!(types.contains(t), "{t} missing");
    }
    assert!(pairs > 100 && open_holds >= 3 && stornos >= 3 && sepa > 10);
    for needle in [
        "Členský příspěvek 20",
        "Oddílový příspěvek – ",
        "Poplatek za vedení účtu",
        "Pronájem tělocvičny",
        "ALBERT",
        "LIDL",
        "\"constant\":\"0308\"",
        "ř",
        "ková",
    ] {
        assert!(texts.contains(needle), "{needle} missing");
    }
}

#[test]
fn snapshot_collapses_holds() {
    let c = cfg(5, 1, 800, 90);
    let acc = &generate(&c)[0];
    let snap = snapshot(&acc.transactions, c.end);
    let ids: HashSet<&str> = snap.iter().filter_map(account_servicer).collect();
    assert_eq!(ids.len(), snap.len());
    assert!(snap.len() < acc.transactions.len());
    // Before the first row nothing is visible.
    assert!(snapshot(&acc.transactions, datetime!(2000-01-01 0:00 UTC)).is_empty());
}

#[test]
fn small_and_edge_configs() {
    for (n, days) in [
        (0, 730),
        (1, 1),
        (2, 0),
        (5, 3),
        (29, 730),
        (30, 1),
        (100, 2),
    ] {
        let c = cfg(9, 2, n, days);
        for acc in generate(&c) {
            assert_eq!(acc.transactions.len(), n, "n={n} days={days}");
            check_history(&acc, c.end);
        }
    }
    assert!(generate(&cfg(1, 0, 10, 10)).is_empty());
}

#[test]
fn money_is_exact() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let samples =
        (0..100_000i64).chain((0..100_000).map(|_| rng.gen_range(0..10_000_000_000_000i64)));
    for minor in samples {
        let expected = if minor % 100 == 0 {
            (minor / 100).to_string()
        } else {
            format!("{}.{:02}", minor / 100, minor % 100)
                .trim_end_matches('0')
                .to_owned()
        };
        assert_eq!(money(minor).to_string(), expected);
        assert_eq!(money(-minor).to_string().trim_start_matches('-'), expected);
    }
    assert_eq!(money(2657).to_string(), "26.57");
    assert_eq!(money(50_000).to_string(), "500");
}

#[test]
fn payment_row() {
    let acc = &generate(&cfg(3, 1, 200, 30))[0];
    let used: HashSet<&str> = acc
        .transactions
        .iter()
        .filter_map(account_servicer)
        .collect();
    let pay = |seed, amount, texts| {
        payment(
            seed,
            (&acc.iban, &acc.currency),
            &|id| used.contains(id),
            amount,
            texts,
            datetime!(2026-03-15 09:12:13.5 UTC),
        )
    };
    let texts = (
        Some("2026001"),
        Some("Členský příspěvek 2026"),
        Some("Dvořáková Eliška"),
    );
    let tx = pay(11, 123_456, texts);
    check_generated(&tx, acc).expect("test data");
    assert_eq!(tx["amount"]["value"].to_string(), "1234.56");
    assert_eq!(tx["creditDebitIndicator"], "CREDIT");
    assert_eq!(tx["references"]["variable"], "2026001");
    assert_eq!(tx["references"]["receiver"], "Členský příspěvek 2026");
    assert_eq!(tx["counterParty"]["name"], "Dvořáková Eliška");
    assert_eq!(tx["lastUpdated"], "2026-03-15T09:12:13.5Z");
    assert_eq!(tx["bookingDate"], "2026-03-15");
    let id = account_servicer(&tx).expect("test data");
    assert!(
        acc.transactions
            .iter()
            .all(|t| account_servicer(t) != Some(id))
    );
    assert_eq!(tx, pay(11, 123_456, texts));
    let out = pay(12, -50_000, (None, None, None));
    check_generated(&out, acc).expect("test data");
    assert_eq!(out["creditDebitIndicator"], "DEBIT");
    assert_eq!(out["amount"]["value"].to_string(), "500");
    assert!(
        out["counterParty"]["name"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[test]
fn hundred_thousand_rows_two_years() {
    let c = cfg(99, 1, 100_000, 730);
    let started = std::time::Instant::now();
    let accs = generate(&c);
    let elapsed = started.elapsed();
    let json = serde_json::to_string(&accs[0].transactions).expect("test data");
    eprintln!(
        "100k rows: generate {:?}, to_string {:?}, {} MB",
        elapsed,
        started.elapsed() - elapsed,
        json.len() / 1_000_000
    );
    assert_eq!(accs[0].transactions.len(), 100_000);
    check_history(&accs[0], c.end);
    let first = parse_utc_micros(
        accs[0].transactions[0]["lastUpdated"]
            .as_str()
            .expect("test data"),
    )
    .expect("test data");
    assert!(to_micros(c.end) - first > 700 * DAY_US);
}
