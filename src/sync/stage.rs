//! The staging of one download's readable transactions: the club's `staged_transactions`
//! (tenant migration 0023, unlogged), filled by one binary `COPY` while the pages arrive,
//! merged into `transactions` by one statement (`sync::ledger::apply_staged`) and emptied again
//! in the same transaction, so no other transaction ever sees a staged row.
//!
//! [`Stage`] shapes each row as `transactions` stores it (bank key, signed movement, capped
//! texts, flags, KB's JSON, search text) and encodes it in PostgreSQL's binary `COPY` format:
//! every value goes as its bytes with a length, so a text from the bank (tabs, newlines,
//! backslashes, quotes, `\N`) needs no escaping and arrives verbatim. The one thing a
//! PostgreSQL text cannot hold, a NUL character, is refused ([`Refused`]); the wire layer
//! already keeps such items raw as unreadable (`bank::wire::Transaction::read`).
//!
//! It also keeps, per key, which copy wins and the order new rows take ids in (oldest first,
//! dateless last), so the merge needs no sort of the staged rows ([`Staged`]).

use std::collections::HashMap;

use sqlx::PgPool;
use sqlx::postgres::{PgConnection, PgCopyIn};
use time::{Date, OffsetDateTime};

use super::ledger::{BankKeys, precedence, status_of};
use crate::bank::wire::{ReversalConvention, Transaction, json_holds_nul};
use crate::db::tenant::{Tenant, TenantTx};

/// The staging table, in the club's schema (the tenant transaction's search path).
pub(super) const TABLE: &str = "staged_transactions";

/// Its columns (tenant migration 0023 gives their types), in the order [`Stage::page`] encodes
/// them. `ord` is the row's position in the download (0 = KB's first); `flags` are joined by
/// `,` (flags never contain one).
const COLUMNS: [&str; 25] = [
    "ord",
    "bank_key",
    "status",
    "amount_minor",
    "currency",
    "instructed_minor",
    "instructed_currency",
    "booking_date",
    "value_date",
    "counterparty_name",
    "counterparty_account",
    "counterparty_bank_code",
    "counterparty_iban",
    "variable_symbol",
    "constant_symbol",
    "specific_symbol",
    "message",
    "note",
    "transaction_type",
    "reversal",
    "last_updated",
    "kb_status",
    "flags",
    "kb_json",
    "search_text",
];

/// Texts longer than this many bytes are cut (at a character boundary) before storing; KB's
/// documented limits are far lower, and a text over them is flagged `long_text:...`. Bytes,
/// not characters: a variable symbol is in B-tree indexes (`transactions_vs_idx`), whose
/// entries hold at most 2 704 bytes, and 2 000 characters of CJK text are 6 000.
const STORED_TEXT_MAX_BYTES: usize = 2_000;

/// A value the staging table cannot hold: a text with a NUL character (PostgreSQL's `text`
/// has none). Names the row's bank key and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the bank's text in {field} of {bank_key} contains a NUL character, which Kasa cannot store"
)]
pub struct Refused {
    pub bank_key: String,
    pub field: &'static str,
}

/// Empties the staging table as `tx` sees it. The apply calls it before it commits, so no
/// staged row outlives its transaction; a sync calls it before staging too, which guards the
/// merge (it takes every row it sees as the account's) against a committed leftover. It never
/// touches a row another sync is staging: uncommitted, that row is invisible here. No catalog
/// change: a sync sends no invalidation that every other connection must process (tenant
/// migration 0023 says why that matters). One round trip.
pub async fn clear(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    // The name is this module's constant, never input.
    sqlx::query(&format!("DELETE FROM {TABLE}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A download that staged at least this many rows has its deleted rows reclaimed at once
/// ([`reclaim`]) rather than at autovacuum's next visit (tenant migration 0023 sets it to every
/// 10 000 deleted rows, up to a minute later): until then every sync of the club reads past
/// them twice ([`clear`] and the merge), which made a notification after a 100 000-row first
/// sync 70 ms slower (docs/benchmarks.md).
pub const RECLAIM_ROWS: usize = 10_000;

/// Reclaims the staging table's deleted rows (`VACUUM`, on a pooled connection outside any
/// transaction: `VACUUM` cannot run in one). Called after a large download committed; the
/// table is empty then, so it is quick. One catalog update (the table's size in `pg_class`).
pub async fn reclaim(pool: &PgPool, tenant: &Tenant) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("VACUUM {}", tenant.table("staged_transactions")))
        .execute(pool)
        .await?;
    Ok(())
}

/// Starts the binary `COPY` into the staging table: send [`Stage::page`]'s bytes, then
/// [`Stage::end`]'s, then `finish` it.
pub async fn copy_in(tx: &mut TenantTx) -> Result<PgCopyIn<&mut PgConnection>, sqlx::Error> {
    let columns = COLUMNS.join(", ");
    (**tx)
        .copy_in_raw(&format!(
            "COPY {TABLE} ({columns}) FROM STDIN WITH (FORMAT binary)"
        ))
        .await
}

/// What the merge needs to know about one staged row.
#[derive(Debug, Clone, Copy)]
struct Row {
    day: Option<Date>,
    /// Which copy of a key wins ([`precedence`]: status rank, then `lastUpdated`).
    precedence: (u8, i64),
}

/// One download's rows as they are staged, page after page.
pub struct Stage {
    convention: ReversalConvention,
    keys: BankKeys,
    /// Per key: the row (its `ord`) of the copy that wins so far.
    winners: HashMap<String, u32>,
    /// The keys by first appearance.
    first_seen: Vec<String>,
    rows: Vec<Row>,
    started: bool,
}

impl Stage {
    pub fn new(convention: ReversalConvention) -> Self {
        Self {
            convention,
            keys: BankKeys::default(),
            winners: HashMap::new(),
            first_seen: Vec::new(),
            rows: Vec::new(),
            started: false,
        }
    }

    /// Rows staged so far (every copy, before the merge keeps one per key).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The next rows of the download, in KB's order, as `COPY` data (the format's header
    /// before the first row).
    pub fn page(&mut self, transactions: &[Transaction]) -> Result<Vec<u8>, Refused> {
        let mut out = Vec::with_capacity(transactions.len() * 1_024 + 19);
        self.header(&mut out);
        for t in transactions {
            let key = self.keys.next(t);
            let ord = u32::try_from(self.rows.len()).unwrap_or(u32::MAX);
            encode(&mut out, ord, &key, t, self.convention)?;
            let row = Row {
                day: t.booking_date.or(t.value_date),
                precedence: precedence(t),
            };
            match self.winners.get(&key) {
                None => {
                    self.first_seen.push(key.clone());
                    self.winners.insert(key, ord);
                }
                // A later copy of at least the same precedence replaces the one before
                // (the rule of the merge's `ON CONFLICT`).
                Some(&winner) if row.precedence >= self.rows[winner as usize].precedence => {
                    self.winners.insert(key, ord);
                }
                Some(_) => {}
            }
            self.rows.push(row);
        }
        Ok(out)
    }

    /// The binary format's signature, flags and (empty) header extension, once.
    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
            out.extend_from_slice(&0i32.to_be_bytes());
            out.extend_from_slice(&0i32.to_be_bytes());
            self.started = true;
        }
    }

    /// The `COPY` data that ends the rows (the header too when no row came).
    pub fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.header(&mut out);
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    /// What was staged: one winning row per key, in the order new rows take ids.
    pub fn finish(self) -> Staged {
        // Oldest first (by first appearance reversed, then by day): new rows get ids in date
        // order, so the oldest movement not booked yet, which holds matching's scan position
        // back (`payment::input::advance_scan`), is among the newest ids and a notified sync's
        // matching reads only what lies above it. Rows without any date (a pending hold, a
        // future order) go last, as the newest.
        let mut order: Vec<u32> = self
            .first_seen
            .iter()
            .rev()
            .filter_map(|key| self.winners.get(key).copied())
            .collect();
        order.sort_by_key(|&ord| self.rows[ord as usize].day.unwrap_or(Date::MAX));
        let rows = self.rows.len();
        Staged {
            order,
            rows,
            keys: self.winners.into_keys().collect(),
        }
    }
}

/// The rows a download staged.
#[derive(Debug, Clone, Default)]
pub struct Staged {
    /// The winning row (`ord`) of each key, in the order new rows take ids.
    pub order: Vec<u32>,
    /// Rows staged (every copy).
    pub rows: usize,
    /// The distinct bank keys.
    pub keys: std::collections::HashSet<String>,
}

impl Staged {
    /// Distinct movements (one per bank key).
    pub fn movements(&self) -> usize {
        self.order.len()
    }
}

fn cap(text: Option<String>) -> Option<String> {
    text.map(|mut t| {
        if t.len() > STORED_TEXT_MAX_BYTES {
            let mut cut = STORED_TEXT_MAX_BYTES;
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            t.truncate(cut);
        }
        t
    })
}

/// Appends one row (the columns of [`COLUMNS`]) in the binary `COPY` format: a field count,
/// then each field as its length and bytes (−1 for NULL).
fn encode(
    out: &mut Vec<u8>,
    ord: u32,
    key: &str,
    t: &Transaction,
    convention: ReversalConvention,
) -> Result<(), Refused> {
    let party = t.counter_party.clone().unwrap_or_default();
    let refs = t.references.clone().unwrap_or_default();
    let movement = t.movement_minor_units(convention);
    let (name, account, iban) = (cap(party.name), cap(party.account_no), cap(party.iban));
    let (message, note) = (
        cap(refs.receiver),
        cap(t
            .additional_transaction_information
            .clone()
            .or(refs.my_description)),
    );
    let search = super::movements::search_text(
        name.as_deref(),
        message.as_deref(),
        note.as_deref(),
        account.as_deref(),
        iban.as_deref(),
    );
    let kb_json = serde_json::to_string(t).ok();
    let mut row = Fields::new(out, key);
    row.count(COLUMNS.len());
    row.int4(i32::try_from(ord).unwrap_or(i32::MAX));
    row.text("bank_key", Some(key))?;
    row.text("status", Some(status_of(t)))?;
    row.int8(Some(movement));
    row.text("currency", Some(&t.amount.currency))?;
    // The instructed amount takes the movement's direction.
    row.int8(
        t.instructed_money()
            .map(|m| m.minor_units.saturating_abs() * movement.signum()),
    );
    row.text(
        "instructed.currency",
        t.instructed_money().map(|m| m.currency.as_str()),
    )?;
    row.date(t.booking_date);
    row.date(t.value_date);
    row.text("counterParty.name", name.as_deref())?;
    row.text("counterParty.accountNo", account.as_deref())?;
    row.text("counterParty.bankCode", cap(party.bank_code).as_deref())?;
    row.text("counterParty.iban", iban.as_deref())?;
    row.text("references.variable", cap(refs.variable).as_deref())?;
    row.text("references.constant", cap(refs.constant).as_deref())?;
    row.text("references.specific", cap(refs.specific).as_deref())?;
    row.text("references.receiver", message.as_deref())?;
    row.text("additionalTransactionInformation", note.as_deref())?;
    row.text("transactionType", Some(t.transaction_type.as_str()))?;
    row.bool(t.is_reversal());
    row.timestamptz(t.last_updated);
    row.text("status", t.status.as_ref().map(|s| s.as_str()))?;
    row.text("flags", Some(&t.read_flags().join(",")))?;
    // JSON escapes a NUL (`\u0000`), but `jsonb` refuses that escape.
    if kb_json.as_deref().is_some_and(json_holds_nul) {
        return Err(row.refused("the transaction"));
    }
    row.text("the transaction", kb_json.as_deref())?;
    row.text("search text", Some(&search))?;
    Ok(())
}

/// Writes one row's fields into the `COPY` data.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    key: &'a str,
}

/// PostgreSQL's epoch (2000-01-01) as a Julian day.
const PG_EPOCH_JULIAN_DAY: i32 = 2_451_545;

impl<'a> Fields<'a> {
    fn new(out: &'a mut Vec<u8>, key: &'a str) -> Self {
        Self { out, key }
    }

    fn count(&mut self, fields: usize) {
        let fields = i16::try_from(fields).unwrap_or(i16::MAX);
        self.out.extend_from_slice(&fields.to_be_bytes());
    }

    fn value(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => {
                let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
                self.out.extend_from_slice(&len.to_be_bytes());
                self.out.extend_from_slice(bytes);
            }
            None => self.out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }

    fn refused(&self, field: &'static str) -> Refused {
        Refused {
            bank_key: self.key.to_owned(),
            field,
        }
    }

    fn text(&mut self, field: &'static str, text: Option<&str>) -> Result<(), Refused> {
        if text.is_some_and(|t| t.contains('\0')) {
            return Err(self.refused(field));
        }
        self.value(text.map(str::as_bytes));
        Ok(())
    }

    fn int4(&mut self, value: i32) {
        self.value(Some(&value.to_be_bytes()));
    }

    fn int8(&mut self, value: Option<i64>) {
        self.value(value.map(i64::to_be_bytes).as_ref().map(|b| &b[..]));
    }

    fn bool(&mut self, value: bool) {
        self.value(Some(&[u8::from(value)]));
    }

    /// Days since 2000-01-01.
    fn date(&mut self, day: Option<Date>) {
        let days = day.map(|d| (d.to_julian_day() - PG_EPOCH_JULIAN_DAY).to_be_bytes());
        self.value(days.as_ref().map(|b| &b[..]));
    }

    /// Microseconds since 2000-01-01 00:00 UTC (finer parts are cut, as sqlx does).
    fn timestamptz(&mut self, at: OffsetDateTime) {
        let epoch = time::macros::datetime!(2000-01-01 0:00 UTC);
        let micros = i64::try_from((at - epoch).whole_microseconds()).unwrap_or(i64::MAX);
        self.value(Some(&micros.to_be_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_text_is_cut_to_its_byte_limit_at_a_character_boundary() {
        let cjk = "\u{4E2D}".repeat(STORED_TEXT_MAX_BYTES);
        let cut = cap(Some(cjk)).expect("text");
        assert!(cut.len() <= STORED_TEXT_MAX_BYTES && cut.len() > STORED_TEXT_MAX_BYTES - 3);
        assert!(cut.chars().all(|c| c == '\u{4E2D}'));
        assert_eq!(cap(Some("short".into())).as_deref(), Some("short"));
    }

    /// A KB transaction: `servicer`, amount in CZK, KB's status, `lastUpdated`, its day (none:
    /// no date at all) and the counter-party's name.
    fn row(
        servicer: &str,
        status: &str,
        updated: &str,
        day: Option<&str>,
        name: &str,
    ) -> Transaction {
        let mut t = serde_json::json!({
            "lastUpdated": updated, "accountType": "KB", "iban": "CZ1301000901147771800227",
            "creditDebitIndicator": "DEBIT", "transactionType": "DOMESTIC",
            "amount": { "value": 12.5, "currency": "CZK" }, "status": status,
            "counterParty": { "name": name },
            "references": { "accountServicer": servicer, "receiver": "zpráva" },
        });
        if let Some(day) = day {
            t["valueDate"] = serde_json::json!(day);
        }
        serde_json::from_value(t).expect("transaction")
    }

    fn winners(rows: &[Transaction]) -> Vec<u32> {
        let mut stage = Stage::new(ReversalConvention::OwnDirection);
        stage.page(rows).expect("encoded");
        stage.finish().order
    }

    /// The rows of `COPY` data in the binary format: each row's fields (`None` = NULL).
    fn decode(data: &[u8]) -> Vec<Vec<Option<Vec<u8>>>> {
        assert_eq!(&data[..11], b"PGCOPY\n\xff\r\n\0", "signature");
        let mut at = 19;
        let mut rows = Vec::new();
        let take = |at: &mut usize, n: usize| {
            let bytes = data[*at..*at + n].to_vec();
            *at += n;
            bytes
        };
        loop {
            let count = i16::from_be_bytes(take(&mut at, 2).try_into().expect("count"));
            if count == -1 {
                assert_eq!(at, data.len(), "nothing after the trailer");
                return rows;
            }
            let fields = (0..count)
                .map(|_| {
                    let len = i32::from_be_bytes(take(&mut at, 4).try_into().expect("len"));
                    (len >= 0).then(|| take(&mut at, len as usize))
                })
                .collect();
            rows.push(fields);
        }
    }

    fn column(name: &str) -> usize {
        COLUMNS.iter().position(|c| *c == name).expect("column")
    }

    #[test]
    fn a_repeated_key_keeps_the_copy_of_highest_status_then_latest_second() {
        let pending = row(
            "x",
            "PDNG",
            "2026-11-20T10:15:42.512345Z",
            Some("2026-11-20"),
            "A",
        );
        let booked = row("x", "BOOK", "2026-11-20T10:15:42Z", Some("2026-11-20"), "A");
        let older_booked = row("x", "BOOK", "2026-11-19T10:00:00Z", Some("2026-11-20"), "A");
        // The booked copy wins even when its lastUpdated is older or truncated.
        assert_eq!(winners(&[pending.clone(), booked.clone()]), [1]);
        assert_eq!(winners(&[booked.clone(), pending.clone()]), [0]);
        assert_eq!(winners(&[older_booked.clone(), pending]), [0]);
        // Same rank: the later copy wins unless its second is older.
        assert_eq!(winners(&[older_booked.clone(), booked.clone()]), [1]);
        assert_eq!(winners(&[booked, older_booked]), [0]);
    }

    #[test]
    fn new_rows_take_ids_oldest_first_and_dateless_last() {
        let at = "2026-11-20T10:00:00Z";
        let rows = [
            row("c", "BOOK", at, Some("2026-11-03"), "C"),
            row("hold", "PDNG", at, None, "H"),
            row("a", "BOOK", at, Some("2026-11-01"), "A"),
            row("b1", "BOOK", at, Some("2026-11-02"), "B"),
            row("b2", "BOOK", at, Some("2026-11-02"), "B"),
        ];
        // Same day: the later listed first (KB's order reversed), as before staging.
        assert_eq!(winners(&rows), [2, 4, 3, 0, 1]);
    }

    #[test]
    fn texts_from_the_bank_go_verbatim_and_a_nul_is_refused() {
        let hostile = "Novák\tJan\n\"Q\", \\N \\. \r\n{a,\"b\"} ';DROP 😀 \u{2028}";
        let mut stage = Stage::new(ReversalConvention::OwnDirection);
        let mut data = stage
            .page(&[row(
                "t",
                "BOOK",
                "2026-11-20T10:00:00.123456Z",
                Some("2026-11-20"),
                hostile,
            )])
            .expect("encoded");
        data.extend(stage.end());
        let rows = decode(&data);
        assert_eq!(rows.len(), 1);
        let field = |name: &str| rows[0][column(name)].clone();
        assert_eq!(rows[0].len(), COLUMNS.len());
        assert_eq!(
            field("counterparty_name").as_deref(),
            Some(hostile.as_bytes())
        );
        assert_eq!(field("bank_key").as_deref(), Some(&b"as:t"[..]));
        assert_eq!(
            field("amount_minor"),
            Some((-1250i64).to_be_bytes().to_vec())
        );
        assert_eq!(field("instructed_minor"), None);
        assert_eq!(field("booking_date"), None);
        // 2026-11-20 is day 9 820 after 2000-01-01; lastUpdated in microseconds.
        assert_eq!(field("value_date"), Some(9_820i32.to_be_bytes().to_vec()));
        let micros = 9_820i64 * 86_400_000_000 + 10 * 3_600_000_000 + 123_456;
        assert_eq!(field("last_updated"), Some(micros.to_be_bytes().to_vec()));
        let json: serde_json::Value =
            serde_json::from_slice(&field("kb_json").expect("json")).expect("json");
        assert_eq!(json["counterParty"]["name"], hostile);

        let refused = Stage::new(ReversalConvention::OwnDirection)
            .page(&[row("n", "BOOK", "2026-11-20T10:00:00Z", None, "Jan\0Novák")])
            .expect_err("a NUL is refused");
        assert_eq!(
            refused,
            Refused {
                bank_key: "as:n".into(),
                field: "counterParty.name"
            }
        );
        assert!(refused.to_string().contains("NUL"), "{refused}");
    }
}
