//! Issue 11: the field cases (tests/field-cases/, copied from the shared folder with their
//! README) and the other members of each fault class, through `ledger::apply` or the sandbox
//! over HTTP with the real worker.

use super::*;
use kasa::bank::wire::TransactionSlice;
use kasa::i18n::{prague_date, prague_day_start};
use kasa::sync::views;
use kb_sandbox::config::ClosedBalanceStamp;
use time::macros::{date, datetime};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const CLUB_IBAN: &str = "CZ8901000000001234567813";

async fn ledger_club() -> Club {
    let pool = kasa::db::connect_pool(fresh_database().await, 4)
        .await
        .expect("pool");
    club_with_account(&pool, "acc-fc", CLUB_IBAN, crate::helpers::real_now()).await
}

fn case(text: &str) -> Value {
    serde_json::from_str(text).expect("field case")
}

fn instant(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        value.as_str().expect("instant"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("instant")
}

/// A KB `PageSlice` read the way the client reads it (item by item).
fn slice(page: &Value) -> TransactionSlice {
    TransactionSlice::from_body(page.to_string().as_bytes()).expect("page")
}

fn page_of(items: &[Value]) -> TransactionSlice {
    slice(&json!({
        "content": items, "totalPages": 1, "pageNumber": 0, "pageSize": 100,
        "numberOfElements": items.len(), "first": true, "last": true, "empty": items.is_empty(),
    }))
}

fn balances(value: &Value) -> Vec<AccountBalance> {
    if value.is_null() {
        return Vec::new();
    }
    serde_json::from_str(&value.to_string()).expect("balances")
}

/// One download applied as the worker applies it (window in Prague days ending today), with
/// reversals in their own direction.
async fn apply_download(
    club: &Club,
    account_id: Uuid,
    from: Date,
    downloaded: &TransactionSlice,
    balances: &[AccountBalance],
    now: OffsetDateTime,
) -> ledger::ApplyReport {
    let window = (from, prague_date(now));
    club.apply(&Batch {
        unreadable: &downloaded.unreadable,
        ..download(account_id, window, &downloaded.transactions, balances, now)
    })
    .await
}

/// One page of `items` (KB's JSON) applied without balances, as [`apply_download`].
async fn apply_items(
    club: &Club,
    account_id: Uuid,
    from: Date,
    items: &[Value],
    now: OffsetDateTime,
) -> ledger::ApplyReport {
    apply_download(club, account_id, from, &page_of(items), &[], now).await
}

#[derive(Debug, sqlx::FromRow)]
struct Stored {
    bank_key: String,
    status: String,
    amount_minor: i64,
    booking_date: Option<Date>,
    value_date: Option<Date>,
    instructed_minor: Option<i64>,
    instructed_currency: Option<String>,
    variable_symbol: Option<String>,
    message: Option<String>,
    counterparty_account: Option<String>,
    counterparty_bank_code: Option<String>,
    counterparty_iban: Option<String>,
    reversal: bool,
    kb_status: Option<String>,
    flags: Vec<String>,
}

async fn stored(club: &Club, account_id: Uuid) -> BTreeMap<String, Stored> {
    let mut tx = TenantTx::begin(&club.pool, &club.tenant).await.expect("tx");
    let rows: Vec<Stored> = sqlx::query_as(
        "SELECT bank_key, status, amount_minor, booking_date, value_date, instructed_minor, \
                instructed_currency, variable_symbol, message, counterparty_account, \
                counterparty_bank_code, counterparty_iban, reversal, kb_status, flags \
           FROM transactions WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_all(&mut *tx)
    .await
    .expect("rows");
    rows.into_iter().map(|r| (r.bank_key.clone(), r)).collect()
}

async fn unreadable(club: &Club, account_id: Uuid) -> Vec<(String, Option<i64>, Option<Date>)> {
    let mut tx = TenantTx::begin(&club.pool, &club.tenant).await.expect("tx");
    sqlx::query_as(
        "SELECT bank_key, amount_minor, day FROM unreadable_transactions \
          WHERE account_id = $1 ORDER BY bank_key",
    )
    .bind(account_id)
    .fetch_all(&mut *tx)
    .await
    .expect("unreadable")
}

/// A KB transaction as JSON (amount as a decimal text, written into the JSON as a number).
fn item(servicer: &str, direction: &str, amount: &str, status: &str, day: &str) -> Value {
    let mut t = json!({
        "lastUpdated": format!("{day}T10:00:00.120000Z"),
        "accountType": "KB",
        "iban": CLUB_IBAN,
        "creditDebitIndicator": direction,
        "transactionType": "DOMESTIC",
        "amount": { "value": 0, "currency": "CZK" },
        "valueDate": day,
        "status": status,
        "counterParty": { "name": "Novák Jan", "accountNo": "0000001234567821", "bankCode": "0800" },
        "references": { "accountServicer": servicer, "variable": "2026001" },
    });
    if status == "BOOK" {
        t["bookingDate"] = json!(day);
    }
    let text = t
        .to_string()
        .replace(r#""value":0"#, &format!(r#""value":{amount}"#));
    serde_json::from_str(&text).expect("item")
}

fn closed(valid_at: &str, minor: i64) -> AccountBalance {
    let text = format!(
        r#"{{"type":"PREVIOUSLY_CLOSED_BOOK","creditDebitIndicator":"{}","amount":{{"value":{},"currency":"CZK"}},"validAt":"{valid_at}"}}"#,
        if minor < 0 { "DEBIT" } else { "CREDIT" },
        kasa::bank::money::format_minor_units(minor.abs(), 2),
    );
    serde_json::from_str(&text).expect("balance")
}

// ---------------------------------------------------------------------------------------------
// Class 1: pending → booked is one-way (case 02)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn field_case_02_the_booked_copy_replaces_the_pending_one_whatever_last_updated_says() {
    let file = case(include_str!(
        "../../field-cases/02-booked-with-older-lastupdated.json"
    ));
    let club = ledger_club().await;
    let x = club.account_id;
    let mut last = None;
    for (i, step) in file["syncs"].as_array().expect("syncs").iter().enumerate() {
        let now = instant(&step["now"]);
        let from = if i == 0 {
            prague_date(now) - Duration::days(729)
        } else {
            date!(2026 - 11 - 13)
        };
        last = Some(
            apply_download(
                &club,
                x,
                from,
                &slice(&step["transactions_pages"][0]),
                &balances(&step["balances"]),
                now,
            )
            .await,
        );
    }
    let rows = stored(&club, x).await;
    assert_eq!(rows.len(), 1, "no pending copy remains: {rows:?}");
    let expected = &file["expected"]["transactions"][0];
    let row = &rows[expected["bank_key"].as_str().expect("key")];
    assert_eq!(row.status, "booked");
    assert_eq!(row.amount_minor, -121_240);
    assert_eq!(row.booking_date, Some(date!(2026 - 11 - 21)));
    assert_eq!(row.value_date, Some(date!(2026 - 11 - 20)));
    let rec = last
        .and_then(|r| r.reconciliation)
        .expect("step 2 reconciles");
    assert!(rec.is_ok(), "{rec:?}");
    assert_eq!((rec.balance_change, rec.movements), (-121_240, -121_240));

    // The variant: one download lists both copies (PDNG on page 0 with microseconds, BOOK on
    // page 1 truncated to the second), in either order; a stale pending copy arriving later
    // cannot undo the booking; a booked copy with an older second still wins over pending.
    let pending = file["syncs"][0]["transactions_pages"][0]["content"][0].clone();
    let booked = file["syncs"][1]["transactions_pages"][0]["content"][0].clone();
    let mut older_booked = booked.clone();
    older_booked["lastUpdated"] = json!("2026-11-19T08:00:00Z");
    let now = datetime!(2026-11-22 08:00 UTC);
    for (n, order) in [
        vec![pending.clone(), booked.clone()],
        vec![booked.clone(), pending.clone()],
        vec![older_booked.clone(), pending.clone()],
    ]
    .into_iter()
    .enumerate()
    {
        let account = club
            .add_account(
                &format!("acc-v{n}"),
                &format!("CZ89010000000012345678{n:02}"),
                now,
            )
            .await;
        apply_items(&club, account, date!(2026 - 11 - 13), &order, now).await;
        apply_items(
            &club,
            account,
            date!(2026 - 11 - 13),
            std::slice::from_ref(&pending),
            now,
        )
        .await;
        let rows = stored(&club, account).await;
        let row = &rows["as:9f3c1a7e5b2d4c60"];
        assert_eq!(
            (row.status.as_str(), row.amount_minor),
            ("booked", -121_240),
            "{order:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Class 3: one bad value never stops an account (case 04)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn field_case_04_float_noise_in_the_instructed_amount_is_rounded_and_flagged() {
    let page = TransactionSlice::from_body(include_bytes!(
        "../../field-cases/04-instructed-float-noise-page.json"
    ))
    .expect("the page reads");
    assert_eq!((page.transactions.len(), page.unreadable.len()), (2, 0));
    let club = ledger_club().await;
    let now = datetime!(2026-11-24 16:00 UTC);
    let report = apply_download(
        &club,
        club.account_id,
        date!(2026 - 11 - 17),
        &page,
        &[],
        now,
    )
    .await;
    assert_eq!(report.inserted, 2);
    let rows = stored(&club, club.account_id).await;
    let sepa = &rows["as:311892adb7f2b6aa"];
    assert_eq!(
        sepa.amount_minor, 68_181,
        "the accounting amount stays exact"
    );
    assert_eq!(
        (sepa.instructed_minor, sepa.instructed_currency.as_deref()),
        (Some(2_728), Some("EUR"))
    );
    assert_eq!(sepa.flags, ["instructed_rounded"]);
    let domestic = &rows["as:311892adb7f2b6ab"];
    assert_eq!((domestic.amount_minor, domestic.flags.len()), (80_000, 0));
    assert_eq!(club.last_outcome().await.as_deref(), Some("synced"));
}

#[tokio::test]
async fn an_unreadable_accounting_value_quarantines_only_its_row_and_odd_informational_fields_are_flagged()
 {
    let club = ledger_club().await;
    let x = club.account_id;
    let now = datetime!(2026-11-24 16:00 UTC);
    let fine = item("ok-1", "CREDIT", "800.00", "BOOK", "2026-11-24");
    // Accounting amount with float noise: never rounded, the row is quarantined.
    let noisy = item(
        "bad-amount",
        "CREDIT",
        "681.8100000001",
        "BOOK",
        "2026-11-24",
    );
    // A date Kasa cannot read, amount readable: quarantined, its amount shown.
    let mut bad_date = item("bad-date", "DEBIT", "500", "BOOK", "2026-11-24");
    bad_date["bookingDate"] = json!("24.11.2026");
    bad_date["valueDate"] = json!("24.11.2026");
    // Informational oddities: all tolerated with a flag.
    let mut odd = item("odd", "CREDIT", "100", "BOOK", "2026-11-23");
    odd["transactionType"] = json!("CRYPTO");
    odd["references"]["variable"] = json!(2026001);
    odd["references"]["receiver"] = json!("x".repeat(300));
    odd["instructed"] = json!({ "value": "n/a", "currency": "EUR" });
    odd["cardTransactionDetails"] = json!({ "holdExpirationDate": "soon" });
    odd["exchangeRate"] = json!({ "rate": "1:25,3" });
    let downloaded = page_of(&[fine.clone(), noisy, bad_date.clone(), odd]);
    assert_eq!(
        (downloaded.transactions.len(), downloaded.unreadable.len()),
        (2, 2)
    );
    // Balances: 10 000.00 before the 24th, after it +800 −500 (the unreadable debit).
    let report = apply_download(
        &club,
        x,
        date!(2026 - 11 - 17),
        &downloaded,
        &[
            closed("2026-11-24T06:00:00Z", 1_000_000),
            closed("2026-11-25T06:00:00Z", 1_000_000 + 80_000 + 68_181 - 50_000),
        ],
        now,
    )
    .await;
    assert_eq!(report.unreadable, 2);
    let rows = stored(&club, x).await;
    assert_eq!(rows.len(), 2, "the rest of the sync commits");
    let odd = &rows["as:odd"];
    assert_eq!(odd.variable_symbol.as_deref(), Some("2026001"));
    assert_eq!(odd.message.as_deref().map(str::len), Some(300));
    for flag in [
        "instructed_unreadable",
        "card_details_unreadable",
        "unknown_transaction_type:CRYPTO",
        "long_text:references.receiver",
    ] {
        assert!(
            odd.flags.iter().any(|f| f == flag),
            "{flag}: {:?}",
            odd.flags
        );
    }
    assert_eq!(
        unreadable(&club, x).await,
        [
            (
                "as:bad-amount".to_owned(),
                None,
                Some(date!(2026 - 11 - 24))
            ),
            ("as:bad-date".to_owned(), Some(-50_000), None),
        ]
    );
    // Reconciliation counts them.
    let rec = report.reconciliation.expect("reconciled");
    assert_eq!(rec.unreadable, 2, "{rec:?}");
    assert!(
        rec.describe().contains("could not read"),
        "{}",
        rec.describe()
    );
    // The account page lists them first as "a movement Kasa could not read".
    let mut tx = TenantTx::begin(&club.pool, &club.tenant).await.expect("tx");
    let listed = views::transactions(&mut tx, x, 50).await.expect("view");
    drop(tx);
    let shown: Vec<(&str, bool, i64)> = listed
        .iter()
        .take(2)
        .map(|t| (t.status.as_str(), t.amount_known, t.amount_minor))
        .collect();
    assert!(shown.contains(&("unreadable", true, -50_000)), "{shown:?}");
    assert!(shown.contains(&("unreadable", false, 0)), "{shown:?}");

    // KB sends the item readably later: it leaves quarantine and becomes a row.
    let mut fixed = bad_date;
    fixed["bookingDate"] = json!("2026-11-24");
    fixed["valueDate"] = json!("2026-11-24");
    apply_items(&club, x, date!(2026 - 11 - 17), &[fine, fixed], now).await;
    assert!(stored(&club, x).await.contains_key("as:bad-date"));
    assert!(
        unreadable(&club, x).await.is_empty(),
        "fixed one readable, the noisy one no longer listed"
    );
}

// ---------------------------------------------------------------------------------------------
// Class 4: statuses and dates beyond booked/pending (case 06)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn field_case_06_a_cancelled_future_dated_order_disappears_and_a_rejected_one_is_never_pending()
 {
    let file = case(include_str!(
        "../../field-cases/06-future-dated-pending-cancelled.json"
    ));
    let club = ledger_club().await;
    let x = club.account_id;
    let steps = file["syncs"].as_array().expect("syncs");
    let mut after = Vec::new();
    for step in steps {
        let now = instant(&step["now"]);
        apply_download(
            &club,
            x,
            date!(2026 - 11 - 13),
            &slice(&step["transactions_pages"][0]),
            &[],
            now,
        )
        .await;
        after.push(stored(&club, x).await);
    }
    assert_eq!(after[0]["as:e3b0c44298fc1c01"].status, "pending");
    assert!(
        !after[1].contains_key("as:e3b0c44298fc1c01"),
        "after step 2: no row for the cancelled order"
    );
    let rejected = &after[2]["as:e3b0c44298fc1c02"];
    assert_eq!(
        (rejected.status.as_str(), rejected.kb_status.as_deref()),
        ("rejected", Some("RJCT"))
    );
    let mut tx = TenantTx::begin(&club.pool, &club.tenant).await.expect("tx");
    let listed = views::transactions(&mut tx, x, 50).await.expect("view");
    drop(tx);
    assert!(
        listed
            .iter()
            .all(|t| t.status_key() != Some("bank.pending")),
        "never shown as pending"
    );
}

#[tokio::test]
async fn every_status_has_its_meaning_and_only_booked_rows_count() {
    let club = ledger_club().await;
    let x = club.account_id;
    let now = datetime!(2026-11-21 12:00 UTC);
    let statuses = [
        ("b", "BOOK", "booked"),
        ("p", "PDNG", "pending"),
        ("p2", "PNG", "pending"),
        ("s", "SCHD", "scheduled"),
        ("c", "CNCL", "cancelled"),
        ("r", "RJCT", "rejected"),
        ("u", "INFO", "unknown"),
    ];
    let items: Vec<Value> = statuses
        .iter()
        .map(|(id, status, _)| item(id, "DEBIT", "10", status, "2026-11-20"))
        .collect();
    apply_items(&club, x, date!(2026 - 11 - 14), &items, now).await;
    let rows = stored(&club, x).await;
    for (id, _, expected) in statuses {
        assert_eq!(rows[&format!("as:{id}")].status, expected, "{id}");
    }
    assert!(
        rows["as:u"]
            .flags
            .contains(&"unknown_status:INFO".to_owned())
    );
    // A scheduled order that is cancelled: the cancellation wins whatever lastUpdated says.
    let mut cancelled = item("s", "DEBIT", "10", "CNCL", "2026-11-20");
    cancelled["lastUpdated"] = json!("2026-11-01T00:00:00Z");
    // The booked row never turns back, even if KB lists an old pending copy.
    let stale = item("b", "DEBIT", "10", "PDNG", "2026-11-20");
    apply_items(&club, x, date!(2026 - 11 - 14), &[cancelled, stale], now).await;
    let rows = stored(&club, x).await;
    assert_eq!(rows["as:s"].status, "cancelled");
    assert_eq!(rows["as:b"].status, "booked");
    assert_eq!(
        rows.keys().map(String::as_str).collect::<Vec<_>>(),
        ["as:b", "as:s"],
        "not-booked rows KB no longer lists are gone"
    );
}

/// Texts the bank may send that a text `COPY` would have to escape go through the staging
/// (binary `COPY`) byte for byte; a NUL, which PostgreSQL's text cannot hold, keeps its item
/// raw among the unreadable ones instead of failing the sync; a batch built past the wire
/// with one is refused by name and writes nothing.
#[tokio::test]
async fn hostile_texts_are_stored_verbatim_and_a_nul_keeps_its_item_raw() {
    let club = ledger_club().await;
    let x = club.account_id;
    let now = datetime!(2026-11-26 12:00 UTC);
    let name = "Novák\tJan\n\"Q\", \\N \\. \r\n{a,\"b\"} ';DROP 😀 \u{2028}";
    let message = "VS 1\t2\\3\nřádek\\\\ \\x00 konec";
    let mut hostile = item("hostile", "CREDIT", "100", "BOOK", "2026-11-26");
    hostile["counterParty"]["name"] = json!(name);
    hostile["references"]["receiver"] = json!(message);
    hostile["additionalTransactionInformation"] = json!("\\u0000 is only text here");
    let mut nul = item("nul", "CREDIT", "200", "BOOK", "2026-11-26");
    nul["counterParty"]["name"] = json!("Jan\u{0}Novák");
    let report = apply_items(&club, x, date!(2026 - 11 - 19), &[hostile, nul], now).await;
    assert_eq!((report.inserted, report.unreadable), (1, 1));

    let mut tx = TenantTx::begin(&club.pool, &club.tenant).await.expect("tx");
    let (stored_name, stored_message, note, json_name): (String, String, String, String) =
        sqlx::query_as(
            "SELECT counterparty_name, message, note, kb_json->'counterParty'->>'name' \
               FROM transactions WHERE account_id = $1 AND bank_key = 'as:hostile'",
        )
        .bind(x)
        .fetch_one(&mut *tx)
        .await
        .expect("row");
    assert_eq!(stored_name, name);
    assert_eq!(stored_message, message);
    assert_eq!(note, "\\u0000 is only text here");
    assert_eq!(json_name, name);
    let (problem, amount): (String, Option<i64>) = sqlx::query_as(
        "SELECT problem, amount_minor FROM unreadable_transactions \
          WHERE account_id = $1 AND bank_key = 'as:nul'",
    )
    .bind(x)
    .fetch_one(&mut *tx)
    .await
    .expect("the NUL item is kept raw");
    assert!(problem.contains("NUL"), "{problem}");
    assert_eq!(amount, Some(20_000));
    drop(tx);

    // Past the wire (a transaction read without its checks), the staging refuses by name.
    let mut past_wire = item("past-wire", "CREDIT", "300", "BOOK", "2026-11-26");
    past_wire["references"]["receiver"] = json!("a\u{0}b");
    let past_wire: kasa::bank::wire::Transaction =
        serde_json::from_value(past_wire).expect("transaction");
    let before = stored(&club, x).await.len();
    let window = (date!(2026 - 11 - 19), prague_date(now));
    let mut tx = TenantTx::begin(&club.pool, &club.tenant).await.expect("tx");
    let refused = ledger::apply(&mut tx, &download(x, window, &[past_wire], &[], now)).await;
    drop(tx);
    match refused {
        Err(ledger::Error::Refused(e)) => {
            assert_eq!(
                (e.bank_key.as_str(), e.field),
                ("as:past-wire", "references.receiver")
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(stored(&club, x).await.len(), before, "nothing written");
}

// ---------------------------------------------------------------------------------------------
// Cases 12 and 13: what is stored for matching
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn field_cases_12_and_13_store_account_identity_and_the_sepa_message_verbatim() {
    let club = ledger_club().await;
    let x = club.account_id;
    let sepa = TransactionSlice::from_body(include_bytes!("../../field-cases/13-sepa-no-vs.json"))
        .expect("page");
    let identity = case(include_str!("../../field-cases/12-account-identity.json"));
    let mut items = Vec::new();
    for (n, c) in identity["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .enumerate()
    {
        if let Some(party) = c.get("kb_counterParty") {
            let mut t = item(&format!("id{n}"), "CREDIT", "100", "BOOK", "2026-11-26");
            t["counterParty"] = party.clone();
            items.push(t);
        }
    }
    // An account number above 2^31 sent as a JSON number is still text.
    let mut number = item("as-number", "CREDIT", "100", "BOOK", "2026-11-26");
    number["counterParty"] = json!({ "accountNo": 2_900_000_013_u64, "bankCode": "0100" });
    items.push(number);
    let mut all = page_of(&items);
    all.transactions.extend(sepa.transactions);
    apply_download(
        &club,
        x,
        date!(2026 - 11 - 19),
        &all,
        &[],
        datetime!(2026-11-26 12:00 UTC),
    )
    .await;
    let rows = stored(&club, x).await;
    let party = |key: &str| {
        let r = &rows[key];
        (
            r.counterparty_account.clone(),
            r.counterparty_bank_code.clone(),
            r.counterparty_iban.clone(),
        )
    };
    assert_eq!(
        party("as:id0"),
        (Some("0000352900000005".into()), Some("0100".into()), None)
    );
    assert_eq!(
        party("as:id1"),
        (Some("0000002900000013".into()), Some("0100".into()), None)
    );
    assert_eq!(party("as:id3").2.as_deref(), Some("DE89370400440532013000"));
    assert_eq!(
        party("as:id4"),
        (None, None, None),
        "card payment: name only"
    );
    assert_eq!(party("as:as-number").0.as_deref(), Some("2900000013"));
    let sepa = &rows["as:311892adb7f2b7c1"];
    assert_eq!(sepa.amount_minor, 123_750);
    assert_eq!(sepa.variable_symbol, None);
    assert_eq!(
        sepa.message.as_deref(),
        Some("Mitgliedsbeitrag 2026 VS2026004 Mueller")
    );
    assert_eq!(
        (sepa.instructed_minor, sepa.instructed_currency.as_deref()),
        (Some(5_000), Some("EUR"))
    );
    assert!(sepa.flags.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Class 6: reversals under each convention
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn reversals_come_out_opposite_to_their_original_under_each_convention() {
    let club = ledger_club().await;
    let now = datetime!(2026-11-25 12:00 UTC);
    let payment = item("pay", "CREDIT", "500", "BOOK", "2026-11-23");
    // Own direction: the storno of an incoming payment is a DEBIT.
    let mut own = item("storno", "DEBIT", "500", "BOOK", "2026-11-24");
    own["reversalIndicator"] = json!(true);
    // Original direction (GPC style): the storno repeats CREDIT and says reversalIndicator.
    let mut original = item("storno", "CREDIT", "500", "BOOK", "2026-11-24");
    original["reversalIndicator"] = json!("true");
    // The bank's balance did not change over the two days.
    let flat = [
        closed("2026-11-23T06:00:00Z", 1_000_000),
        closed("2026-11-25T06:00:00Z", 1_000_000),
    ];
    for (n, (storno, convention)) in [
        (own.clone(), ReversalConvention::OwnDirection),
        (original.clone(), ReversalConvention::OriginalDirection),
    ]
    .into_iter()
    .enumerate()
    {
        let account = club
            .add_account(
                &format!("acc-r{n}"),
                &format!("CZ650100000000012345{n:04}"),
                now,
            )
            .await;
        let page = [payment.clone(), storno];
        let window = (date!(2026 - 11 - 18), prague_date(now));
        let report = club
            .apply(&Batch {
                reversal_convention: convention,
                ..download(account, window, &page_of(&page).transactions, &flat, now)
            })
            .await;
        let rows = stored(&club, account).await;
        assert_eq!(
            (rows["as:storno"].amount_minor, rows["as:storno"].reversal),
            (-50_000, true),
            "{convention:?}"
        );
        let rec = report.reconciliation.expect("reconciled");
        assert!(rec.is_ok(), "{rec:?}");
    }
    // The wrong setting for the bank's data: the reversal would double the payment, and
    // reconciliation says so.
    let account = club
        .add_account("acc-wrong", "CZ6501000000000123459999", now)
        .await;
    let report = apply_download(
        &club,
        account,
        date!(2026 - 11 - 18),
        &page_of(&[payment, original]),
        &flat,
        now,
    )
    .await;
    let rec = report.reconciliation.expect("reconciled");
    assert!(rec.reversals_contradict(), "{rec:?}");
    assert!(rec.describe().contains("KASA_KB_REVERSAL_CONVENTION"));
}

// ---------------------------------------------------------------------------------------------
// Class 2: rate limits are not "unchanged" (case 03), with the sandbox and the real worker
// ---------------------------------------------------------------------------------------------

async fn fresh_as_of(env: &Env) -> Option<OffsetDateTime> {
    env.club
        .account_state(env.club.account_id)
        .await
        .fresh_as_of
}

#[tokio::test]
async fn field_case_03_rate_limits_keep_the_download_and_the_account_stale() {
    let file = case(include_str!(
        "../../field-cases/03-rate-limit-masks-failed-sync.json"
    ));
    let bank_clock = Arc::new(kb_sandbox::ManualClock::new(crate::helpers::real_now()));
    let env = env(
        {
            let bank_clock = bank_clock.clone();
            move |c| c.clock = bank_clock
        },
        None,
    )
    .await;
    // Kasa's clock and the bank's move together.
    let both = |by: Duration| {
        env.clock.advance(by);
        bank_clock.advance(std::time::Duration::try_from(by).expect("forward"));
    };
    let past = |at: OffsetDateTime| both(at - env.clock.now() + Duration::seconds(1));
    assert_eq!(env.sync().await, 1);
    both(Duration::minutes(62));
    let fresh_before = fresh_as_of(&env).await.expect("fresh after the first sync");

    // A: the balances are throttled after a good download. The payment is stored, the run is
    // partial, the account stays stale with the reason, fresh_as_of does not move.
    let paid = &file["sequence_A_balances_throttled"][1]["response"]["body"]["content"][0];
    env.control(
        "/control/payments",
        json!({"account": env.kb_account_id, "amount_minor": 150_000,
               "vs": paid["references"]["variable"], "message": paid["references"]["receiver"]}),
    )
    .await;
    env.sandbox.set_faults(FaultSettings {
        next: vec!["rate_limit@balances".to_owned()],
        ..FaultSettings::default()
    });
    env.notify().await;
    let now = env.clock.now();
    assert_eq!(env.sync().await, 1);
    assert!(
        env.club
            .rows(env.club.account_id)
            .await
            .values()
            .any(|r| r.amount == 150_000 && r.vs.as_deref() == Some("2026003")),
        "the downloaded payment is stored"
    );
    assert_eq!(env.club.last_outcome().await.as_deref(), Some("partial"));
    let state = env.club.account_state(env.club.account_id).await;
    assert_eq!(state.fresh_as_of, Some(fresh_before), "never marked fresh");
    assert!(state.stale_since.is_some());
    assert!(
        state
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("balances"))
    );
    assert_eq!(state.problem, Some(kasa::sync::Problem::RateLimited));
    let job = env.club.job(env.club.account_id).await;
    // (The database keeps microseconds.)
    assert!(
        job.due_at >= now + Duration::seconds(60) - Duration::milliseconds(1),
        "Retry-After honoured: {job:?} {now}"
    );
    // The retry: KB says "unchanged" (the download was applied): the stale account re-reads
    // its balances and is fresh again.
    past(job.due_at);
    assert_eq!(env.sync().await, 1);
    assert_eq!(env.club.last_outcome().await.as_deref(), Some("unchanged"));
    let state = env.club.account_state(env.club.account_id).await;
    assert!(state.stale_since.is_none() && state.last_error.is_none());
    assert!(state.fresh_as_of > Some(fresh_before));

    // B: a download that is never applied (the next page fails), then KB's unchanged-data
    // answer: blocked by the 61-minute limit, still stale, next attempt 61 minutes after the
    // unapplied download.
    both(Duration::minutes(62));
    let fresh_before = fresh_as_of(&env).await;
    for vs in ["2026005", "2026006"] {
        env.control(
            "/control/payments",
            json!({"account": env.kb_account_id, "amount_minor": 10_000, "vs": vs}),
        )
        .await;
    }
    let small_pages = env.worker_with("w-small", |s| s.quirks.transactions_page_size = 1);
    env.sandbox.set_faults(FaultSettings {
        next: vec!["error@next-page".to_owned()],
        ..FaultSettings::default()
    });
    env.notify().await;
    let downloaded = env.clock.now();
    assert_eq!(small_pages.run_until_idle(1).await.expect("round"), 1);
    assert_eq!(env.club.last_outcome().await.as_deref(), Some("failed"));
    let job = env.club.job(env.club.account_id).await;
    past(job.due_at);
    assert_eq!(small_pages.run_until_idle(1).await.expect("round"), 1);
    assert_eq!(env.club.last_outcome().await.as_deref(), Some("blocked"));
    let state = env.club.account_state(env.club.account_id).await;
    assert_eq!(state.fresh_as_of, fresh_before, "fresh_as_of stays");
    assert!(state.stale_since.is_some() && state.last_error.is_some());
    assert_eq!(state.problem, Some(kasa::sync::Problem::Blocked));
    let job = env.club.job(env.club.account_id).await;
    assert!(
        job.due_at >= downloaded + Duration::minutes(61),
        "next attempt after KB's limit: {job:?}"
    );
    past(job.due_at);
    assert_eq!(env.sync().await, 1);
    assert_eq!(env.club.last_outcome().await.as_deref(), Some("synced"));
    env.assert_mirrors_sandbox().await;

    // C: the token endpoint is throttled: a rate limit, never "unchanged".
    both(Duration::minutes(62));
    let fresh_before = fresh_as_of(&env).await;
    *env.tokens.cached.lock().await = None;
    env.sandbox.set_faults(FaultSettings {
        next: vec!["rate_limit@token".to_owned()],
        ..FaultSettings::default()
    });
    env.notify().await;
    assert_eq!(env.sync().await, 1);
    assert_eq!(
        env.club.last_outcome().await.as_deref(),
        Some("rate_limited")
    );
    let state = env.club.account_state(env.club.account_id).await;
    assert_eq!(state.fresh_as_of, fresh_before);
    assert!(state.stale_since.is_some());
    env.sandbox.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Class 5: every business day is a Prague date, across midnight and both DST changes
// ---------------------------------------------------------------------------------------------

/// Syncs at `start` and a day later with a payment at each moment; the bank's balances must
/// reconcile and each payment must be booked on its Prague day.
async fn syncs_around_midnight_reconcile(start: OffsetDateTime, stamp: ClosedBalanceStamp) {
    let bank_clock = Arc::new(kb_sandbox::ManualClock::new(start));
    let env = env(
        {
            let bank_clock = bank_clock.clone();
            move |c| {
                c.seed.transactions_per_account = 80;
                c.behaviour.closed_balance_valid_at = stamp;
                c.clock = bank_clock;
            }
        },
        None,
    )
    .await;
    env.clock.advance(start - env.clock.now());
    // The same Prague wall-clock time on the next Prague day (23, 24 or 25 hours later).
    let local = start - prague_day_start(prague_date(start));
    let next = prague_day_start(prague_date(start) + Duration::days(1)) + local;
    for (day, at) in [(0, start), (1, next)] {
        bank_clock.set(at);
        env.clock.advance(at - env.clock.now());
        env.control(
            "/control/payments",
            json!({"account": env.kb_account_id, "amount_minor": 20_000 + day, "vs": "77"}),
        )
        .await;
        env.notify().await;
        assert_eq!(env.sync().await, 1, "{start}");
        let rows = env.assert_mirrors_sandbox().await;
        let paid = rows
            .values()
            .find(|r| r.amount == 20_000 + day)
            .expect("payment");
        assert_eq!(
            paid.booking,
            Some(prague_date(at)),
            "{at}: booked on its Prague day"
        );
    }
    let run = env.club.runs(env.club.account_id).await.pop().expect("run");
    let text = run.reconciliation.expect("reconciled");
    assert!(text.starts_with("ok"), "{start}: {text}");
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn syncs_at_23_30_utc_and_00_30_prague_reconcile_on_ordinary_and_dst_days() {
    use ClosedBalanceStamp::{DayStart, RequestTime};
    for (start, stamp) in [
        // Ordinary winter day: 23:30 UTC = 00:30 Prague.
        (datetime!(2026-11-26 23:30 UTC), RequestTime),
        // Ordinary summer day: 00:30 Prague = 22:30 UTC; and 23:30 UTC.
        (datetime!(2026-07-01 22:30 UTC), DayStart),
        (datetime!(2026-07-01 23:30 UTC), RequestTime),
        // Spring forward (29 March): 00:30 Prague on the 29th, then the 30th.
        (datetime!(2026-03-28 23:30 UTC), RequestTime),
        // Fall back (25 October): 00:30 Prague (summer time) on the 25th, then the 26th.
        (datetime!(2026-10-24 22:30 UTC), DayStart),
        (datetime!(2026-10-24 23:30 UTC), RequestTime),
    ] {
        syncs_around_midnight_reconcile(start, stamp).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The account page, end to end: shapes injected in the sandbox over HTTP
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_account_page_shows_unreadable_movements_reversals_and_final_statuses() {
    use crate::consent::{confirmed_club, connect};
    use crate::helpers::{ICO_A, TestApp};
    let app = TestApp::spawn_with_sandbox_and(|_| {}, |c| c.run_sync_worker = true).await;
    let sandbox = app.sandbox.clone().expect("sandbox");
    let (client, dashboard) = confirmed_club(&app, "p@sokol.cz", ICO_A).await;
    connect(&app, &client, &dashboard).await;
    let (account, kb_account, iban): (Uuid, String, String) =
        sqlx::query_as("SELECT id, kb_account_id, iban FROM app.bank_accounts")
            .fetch_one(&app.pool)
            .await
            .expect("account");
    let page_path = format!("{dashboard}/accounts/{account}");
    let wait = |needle: &'static str| {
        let client = &client;
        let page_path = &page_path;
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            loop {
                let (_, page) = client.get_text(page_path).await;
                if page.contains(needle) || std::time::Instant::now() > deadline {
                    return page;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    assert!(
        wait("Aktuální k").await.contains("Aktuální k"),
        "first sync"
    );

    let today = prague_date(crate::helpers::real_now()).to_string();
    let now = crate::helpers::real_now()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("now");
    let with = |mut t: Value| {
        t["iban"] = json!(iban);
        t["lastUpdated"] = json!(now);
        json!({ "account": kb_account, "transaction": t })
    };
    let mut noisy = item("page-noisy", "CREDIT", "681.8100000001", "BOOK", &today);
    noisy["references"]["variable"] = json!("555");
    let mut storno = item("page-storno", "DEBIT", "250", "BOOK", &today);
    storno["reversalIndicator"] = json!(true);
    storno["references"]["receiver"] = json!("Vráceno plátci");
    let rejected = item("page-rejected", "DEBIT", "99", "RJCT", &today);
    let web = reqwest::Client::new();
    for t in [noisy, storno, rejected] {
        let response = web
            .post(format!("{}/control/transactions", sandbox.browser_base_url))
            .json(&with(t))
            .send()
            .await
            .expect("inject");
        assert_eq!(response.status(), 201);
    }
    // The three arrive through notifications, perhaps in more than one sync: wait for the last
    // one injected, then every shape must be on the page.
    let page = wait("odmítnuto").await;
    assert!(
        page.contains("Pohyb, který Kasa nedokázala přečíst"),
        "{page}"
    );
    assert!(page.contains("storno") && page.contains("Vráceno plátci"));
    assert!(
        page.contains("−250,00"),
        "the reversal is an outgoing movement"
    );
    assert!(
        page.contains("odmítnuto"),
        "a rejected row has its own badge"
    );
    let state: (Option<String>,) =
        sqlx::query_as("SELECT last_error FROM app.sync_jobs WHERE account_id = $1")
            .bind(account)
            .fetch_one(&app.pool)
            .await
            .expect("job");
    assert_eq!(state.0, None, "the account kept syncing");
}

#[tokio::test]
async fn the_sandbox_serves_reversals_in_the_original_direction_convention_and_kasa_reads_them_by_the_setting()
 {
    let env = env(|c| c.behaviour.reversal_original_direction = true, None).await;
    let worker = env.worker_with("w-original", |s| {
        s.quirks.reversal_convention = ReversalConvention::OriginalDirection;
    });
    let today = prague_date(crate::helpers::real_now()).to_string();
    let iban: (String,) = sqlx::query_as("SELECT iban FROM app.bank_accounts")
        .fetch_one(&env.club.pool)
        .await
        .expect("iban");
    // Kept by the sandbox in its own convention (a DEBIT storno of an incoming payment),
    // served as a CREDIT with reversalIndicator.
    let mut storno = item("orig-storno", "DEBIT", "300", "BOOK", &today);
    storno["iban"] = json!(iban.0);
    storno["reversalIndicator"] = json!(true);
    storno["lastUpdated"] = json!(
        crate::helpers::real_now()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("now")
    );
    env.control(
        "/control/transactions",
        json!({ "account": env.kb_account_id, "transaction": storno }),
    )
    .await;
    assert_eq!(worker.run_until_idle(3).await.expect("round"), 1);
    let rows = env.assert_mirrors_sandbox().await;
    let row = &rows["as:orig-storno"];
    assert_eq!((row.amount, row.reversal), (-30_000, true));
    env.sandbox.shutdown().await;
}
