//! ABO/GPC: the fixed-width bank statement that Czech banks export and Czech accounting
//! software imports (`*.gpc`). Every record is 128 characters followed by CR LF, in
//! windows-1250; numbers are zero-padded on the left, text is space-padded on the right.
//!
//! Layout (positions from 1), as documented by the banks' "Technický popis struktury ABO
//! formátu" (Česká spořitelna, Fio, mBank, Equa bank) and summarised in the public
//! specification of the `jakubzapletal/bank-statements` parser (`doc/abo.md`, records `074`
//! and `075`):
//!
//! `074` statement header: 1–3 `074`, 4–19 own account (prefix 6 + number 10), 20–39 short
//! name, 40–45 old balance date `DDMMYY`, 46–59 old balance in haléře, 60 its sign (`+`/`-`),
//! 61–74 new balance, 75 its sign, 76–89 debit turnover, 90 its sign (`0`, or `-` when
//! reversals prevail), 91–104 credit turnover, 105 its sign, 106–108 statement number,
//! 109–114 statement date `DDMMYY`, 115–128 spaces.
//!
//! `075` item: 1–3 `075`, 4–19 own account, 20–35 counter-account, 36–48 document number,
//! 49–60 amount in haléře (absolute), 61 accounting code (`1` debit, `2` credit, `4` reversal
//! of a debit, `5` reversal of a credit), 62–71 VS, 72–81 `00` + counter-account's bank code
//! (4) + KS (4), 82–91 SS, 92–97 value date `DDMMYY`, 98–117 counterparty name (or message),
//! 118 change code `0`, 119–122 `0` + ISO 4217 numeric currency code, 123–128 booking date
//! `DDMMYY`.
//!
//! Kasa writes one `074` per account followed by its booked items of the range. The balances
//! come from the account's latest booked-balance snapshot moved by the booked movements
//! between its day and the range; without any snapshot the old balance is 0 (the header then
//! still adds up: old + credits − debits = new). The extended records `078`/`079` (long
//! messages) are not written.

use futures::TryStreamExt;
use time::{Date, Duration, OffsetDateTime};
use tokio::sync::mpsc::Sender;

use super::rows::{BOOKED_SQL, BookedRow};
use super::{CHUNK, Chunk, Error, Request, send};
use crate::db::tenant::TenantTx;
use crate::i18n::prague_date;

/// Characters of a record, without the CR LF.
pub const RECORD_LEN: usize = 128;

/// `DDMMYY`.
pub fn ddmmyy(day: Date) -> String {
    format!(
        "{:02}{:02}{:02}",
        day.day(),
        u8::from(day.month()),
        day.year().rem_euclid(100)
    )
}

/// Digits only, right-aligned in `width` zero-padded characters; `None` when there are more
/// digits than fit (the field is then zeros).
fn digits(text: Option<&str>, width: usize) -> String {
    let only: String = text
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if only.len() > width {
        "0".repeat(width)
    } else {
        format!("{only:0>width$}")
    }
}

/// A Czech account number (`prefix-number`, or a number of up to 16 digits) as the 16 digits
/// of the standard ABO format: prefix (6) + number (10), zero-padded.
pub fn account16(account: Option<&str>) -> String {
    match account.map(str::trim) {
        Some(a) if a.contains('-') => {
            let (prefix, number) = a.split_once('-').unwrap_or((a, ""));
            format!("{}{}", digits(Some(prefix), 6), digits(Some(number), 10))
        }
        other => digits(other, 16),
    }
}

/// The 16 account digits and the bank code of a Czech IBAN (`CZkk BBBB PPPPPP NNNNNNNNNN`).
pub fn from_czech_iban(iban: &str) -> Option<(String, String)> {
    let compact: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() != 24 || !compact.starts_with("CZ") {
        return None;
    }
    let bank = compact.get(4..8)?;
    let account = compact.get(8..24)?;
    (bank
        .chars()
        .chain(account.chars())
        .all(|c| c.is_ascii_digit()))
    .then(|| (account.to_owned(), bank.to_owned()))
}

/// Text for a windows-1250 field of `width` characters: characters windows-1250 lacks become
/// `?`, control characters spaces, cut or space-padded to exactly `width` characters (one
/// byte each once encoded).
pub fn text(value: &str, width: usize) -> String {
    let mut out: String = value
        .chars()
        .map(|c| {
            if c.is_control() {
                ' '
            } else {
                let mut buffer = [0u8; 4];
                let (_, _, unmappable) =
                    encoding_rs::WINDOWS_1250.encode(c.encode_utf8(&mut buffer));
                if unmappable { '?' } else { c }
            }
        })
        .take(width)
        .collect();
    let len = out.chars().count();
    out.extend(std::iter::repeat_n(' ', width - len));
    out
}

/// ISO 4217 numeric code (`CZK` → 203), `000` when unknown.
fn currency_code(currency: &str) -> &'static str {
    match currency {
        "CZK" => "203",
        "EUR" => "978",
        "USD" => "840",
        "GBP" => "826",
        "PLN" => "985",
        "CHF" => "756",
        _ => "000",
    }
}

/// `amount` in haléře as `width` zero-padded digits.
fn haler(amount: i64, width: usize) -> Result<String, Error> {
    let text = format!("{:0>width$}", amount.unsigned_abs());
    if text.len() > width {
        return Err(Error::DoesNotFit(format!("amount {amount}")));
    }
    Ok(text)
}

/// The accounting code of a movement: `2` credit, `1` debit; a reversal that brings money
/// back undoes a debit (`4`), one that takes money away undoes a credit (`5`).
pub fn accounting_code(amount_minor: i64, reversal: bool) -> char {
    match (reversal, amount_minor >= 0) {
        (false, true) => '2',
        (false, false) => '1',
        (true, true) => '4',
        (true, false) => '5',
    }
}

/// What a `074` header says about one account and range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// 16 digits.
    pub account: String,
    pub name: String,
    pub from: Date,
    pub to: Date,
    pub old_balance: i64,
    /// Σ debits − Σ reversals of debits (haléře, positive normally).
    pub debits: i64,
    /// Σ credits − Σ reversals of credits.
    pub credits: i64,
    pub number: u16,
}

impl Statement {
    pub fn new_balance(&self) -> i64 {
        self.old_balance + self.credits - self.debits
    }

    /// The `074` record with CR LF.
    pub fn record(&self) -> Result<String, Error> {
        let sign = |v: i64| if v < 0 { '-' } else { '+' };
        let turnover_sign = |v: i64| if v < 0 { '-' } else { '0' };
        let line = format!(
            "074{}{}{}{}{}{}{}{}{}{}{}{:03}{}{}",
            self.account,
            text(&self.name, 20),
            ddmmyy(self.from - Duration::days(1)),
            haler(self.old_balance, 14)?,
            sign(self.old_balance),
            haler(self.new_balance(), 14)?,
            sign(self.new_balance()),
            haler(self.debits, 14)?,
            turnover_sign(self.debits),
            haler(self.credits, 14)?,
            turnover_sign(self.credits),
            self.number % 1000,
            ddmmyy(self.to),
            " ".repeat(14),
        );
        Ok(format!("{line}\r\n"))
    }
}

/// The `075` record of a booked transaction, with CR LF.
pub fn item(account: &str, t: &BookedRow) -> Result<String, Error> {
    let (counter, bank) = match (&t.counterparty_account, &t.counterparty_iban) {
        (Some(a), _) => (
            account16(Some(a)),
            digits(t.counterparty_bank_code.as_deref(), 4),
        ),
        (None, Some(iban)) => from_czech_iban(iban).unwrap_or(("0".repeat(16), "0000".into())),
        (None, None) => ("0".repeat(16), "0000".into()),
    };
    let detail = t
        .counterparty_name
        .as_deref()
        .or(t.message.as_deref())
        .unwrap_or_default();
    let line = format!(
        "075{account}{counter}{:013}{}{}{}00{bank}{}{}{}{}0{}{}",
        t.id,
        haler(t.amount_minor, 12)?,
        accounting_code(t.amount_minor, t.reversal),
        digits(t.variable_symbol.as_deref(), 10),
        digits(t.constant_symbol.as_deref(), 4),
        digits(t.specific_symbol.as_deref(), 10),
        ddmmyy(t.value_date.unwrap_or(t.booking_date)),
        text(detail, 20),
        format_args!("0{}", currency_code(&t.currency)),
        ddmmyy(t.booking_date),
    );
    Ok(format!("{line}\r\n"))
}

/// Encodes a record in windows-1250 (every character of a record maps to one byte).
pub fn encode(record: &str) -> Vec<u8> {
    encoding_rs::WINDOWS_1250.encode(record).0.into_owned()
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: uuid::Uuid,
    iban: String,
    name: Option<String>,
}

/// The balance at the end of `day` from the latest booked-balance snapshot (valid on Prague
/// day D = the balance before D's bookings) moved by the booked movements between; `None`
/// without a snapshot.
async fn balance_after(
    tx: &mut TenantTx,
    account: uuid::Uuid,
    day: Date,
) -> Result<Option<i64>, Error> {
    let snapshot: Option<(OffsetDateTime, i64)> = sqlx::query_as(
        "SELECT valid_at, amount_minor FROM balances \
          WHERE account_id = $1 AND balance_type IN ('PREVIOUSLY_CLOSED_BOOK', 'CLOSING_BOOKED') \
          ORDER BY valid_at DESC, fetched_at DESC LIMIT 1",
    )
    .bind(account)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((valid_at, amount)) = snapshot else {
        return Ok(None);
    };
    let snapshot_day = prague_date(valid_at);
    let (moved,): (Option<i64>,) = sqlx::query_as(
        "SELECT (COALESCE(sum(amount_minor) FILTER (WHERE booking_date >= $2 AND booking_date <= $3), 0) \
               - COALESCE(sum(amount_minor) FILTER (WHERE booking_date > $3 AND booking_date < $2), 0))::int8 \
           FROM transactions WHERE account_id = $1 AND status = 'booked'",
    )
    .bind(account)
    .bind(snapshot_day)
    .bind(day)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some(amount + moved.unwrap_or(0)))
}

/// Writes the GPC file of `request` (bank transactions; one statement per account).
pub(crate) async fn write(
    tx: &mut TenantTx,
    request: &Request,
    out: &Sender<Chunk>,
) -> Result<(), Error> {
    let accounts: Vec<AccountRow> =
        sqlx::query_as("SELECT id, iban, name FROM bank_accounts ORDER BY created_at, iban")
            .fetch_all(&mut **tx)
            .await?;
    let mut buffer = Vec::with_capacity(CHUNK + 512);
    for (number, account) in (1u16..).zip(accounts) {
        let own = from_czech_iban(&account.iban)
            .map(|(digits, _)| digits)
            .unwrap_or_else(|| "0".repeat(16));
        let (debits, credits): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT sum(-amount_minor) FILTER (WHERE (amount_minor < 0) <> reversal)::int8, \
                    sum(amount_minor) FILTER (WHERE (amount_minor >= 0) <> reversal)::int8 \
               FROM transactions WHERE account_id = $1 AND status = 'booked' \
                AND booking_date BETWEEN $2 AND $3",
        )
        .bind(account.id)
        .bind(request.from)
        .bind(request.to)
        .fetch_one(&mut **tx)
        .await?;
        let (debits, credits) = (debits.unwrap_or(0), credits.unwrap_or(0));
        let old_balance = match balance_after(tx, account.id, request.to).await? {
            Some(new) => new - (credits - debits),
            None => 0,
        };
        let statement = Statement {
            account: own.clone(),
            name: account.name.unwrap_or_default(),
            from: request.from,
            to: request.to,
            old_balance,
            debits,
            credits,
            number,
        };
        buffer.extend(encode(&statement.record()?));
        let mut rows = sqlx::query_as::<_, BookedRow>(BOOKED_SQL)
            .bind(request.from)
            .bind(request.to)
            .bind(Some(account.id))
            .fetch(&mut **tx);
        while let Some(row) = rows.try_next().await? {
            buffer.extend(encode(&item(&own, &row)?));
            if buffer.len() >= CHUNK {
                send(
                    out,
                    std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK + 512)),
                )
                .await?;
            }
        }
    }
    if !buffer.is_empty() {
        send(out, buffer).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn booked(amount_minor: i64, reversal: bool) -> BookedRow {
        BookedRow {
            id: 42,
            account_id: uuid::Uuid::nil(),
            iban: "CZ6501000000000123456789".into(),
            booking_date: date!(2026 - 11 - 30),
            value_date: Some(date!(2026 - 11 - 29)),
            amount_minor,
            currency: "CZK".into(),
            counterparty_name: Some("Jiří Čermák – ŽŠ".into()),
            counterparty_account: Some("19-2000145399".into()),
            counterparty_bank_code: Some("800".into()),
            counterparty_iban: None,
            variable_symbol: Some("0024".into()),
            constant_symbol: Some("0308".into()),
            specific_symbol: None,
            message: Some("příspěvek".into()),
            note: None,
            transaction_type: None,
            reversal,
        }
    }

    #[test]
    fn an_item_is_128_characters_in_windows_1250_with_every_field_in_place() {
        let own = from_czech_iban("CZ65 0100 0000 0001 2345 6789")
            .expect("iban")
            .0;
        assert_eq!(own, "0000000123456789");
        let record = item(&own, &booked(150050, false)).expect("item");
        let bytes = encode(&record);
        assert_eq!(bytes.len(), RECORD_LEN + 2);
        assert!(record.ends_with("\r\n"));
        let r = record.trim_end_matches("\r\n");
        assert_eq!(r.chars().count(), RECORD_LEN);
        let field = |from: usize, to: usize| -> String {
            r.chars().skip(from - 1).take(to - from + 1).collect()
        };
        assert_eq!(field(1, 3), "075");
        assert_eq!(field(4, 19), "0000000123456789");
        assert_eq!(field(20, 35), "0000192000145399");
        assert_eq!(field(36, 48), "0000000000042");
        assert_eq!(field(49, 60), "000000150050");
        assert_eq!(field(61, 61), "2");
        assert_eq!(field(62, 71), "0000000024");
        assert_eq!(field(72, 81), "0008000308");
        assert_eq!(field(82, 91), "0000000000");
        assert_eq!(field(92, 97), "291126");
        assert_eq!(field(98, 117), "Jiří Čermák – ŽŠ    ");
        assert_eq!(field(118, 122), "00203");
        assert_eq!(field(123, 128), "301126");
        // Czech letters and the en dash are single windows-1250 bytes.
        assert_eq!(bytes[97], 0x4A);
        assert_eq!(bytes[99], 0xF8, "ř");
    }

    #[test]
    fn accounting_codes_follow_direction_and_reversal() {
        assert_eq!(accounting_code(100, false), '2');
        assert_eq!(accounting_code(-100, false), '1');
        assert_eq!(accounting_code(100, true), '4');
        assert_eq!(accounting_code(-100, true), '5');
        let record = item("0".repeat(16).as_str(), &booked(-2500, true)).expect("item");
        assert_eq!(record.chars().nth(60), Some('5'));
        assert!(record.contains("000000002500"));
    }

    #[test]
    fn text_fields_are_padded_or_cut_and_unmappable_characters_replaced() {
        assert_eq!(text("Anna", 6), "Anna  ");
        assert_eq!(text("Příliš žluťoučký kůň", 6), "Příliš");
        assert_eq!(text("😀\nx", 4), "? x ");
        assert_eq!(encode(&text("Šárka 😀", 20)).len(), 20);
    }

    #[test]
    fn a_header_adds_up_and_is_128_characters() {
        let statement = Statement {
            account: "0000000123456789".into(),
            name: "TJ Sokol Horní Dolní – účet".into(),
            from: date!(2026 - 01 - 01),
            to: date!(2026 - 11 - 30),
            old_balance: -5000,
            debits: 1000,
            credits: 26000,
            number: 1,
        };
        assert_eq!(statement.new_balance(), 20000);
        let record = statement.record().expect("record");
        let r = record.trim_end_matches("\r\n");
        assert_eq!(encode(&record).len(), RECORD_LEN + 2);
        assert!(r.starts_with("0740000000123456789TJ Sokol Horní Dolní311225"));
        let tail: String = r.chars().skip(45).collect();
        let expected = [
            "00000000005000-",
            "00000000020000+",
            "000000000010000",
            "000000000260000",
            "001",
            "301126",
            "              ",
        ];
        assert_eq!(tail, expected.concat());
    }

    #[test]
    fn account_numbers_fill_sixteen_digits() {
        assert_eq!(account16(Some("19-2000145399")), "0000192000145399");
        assert_eq!(account16(Some("2000145399")), "0000002000145399");
        assert_eq!(account16(Some("0000001234567890")), "0000001234567890");
        assert_eq!(account16(None), "0000000000000000");
        assert_eq!(ddmmyy(date!(2026 - 03 - 05)), "050326");
    }
}
