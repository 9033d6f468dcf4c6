//! Deterministic generator of realistic KB (Komerční banka) ADAA v2 sandbox data for Czech clubs.
//!
//! [`generate`] builds accounts (valid Czech account numbers, IBANs and sandbox account ids) and
//! their transaction history as `serde_json::Value`s in exactly the ADAA v2 `AccountTransaction`
//! shape (see `kb-adaa-spec.md` §7.5 and the OpenAPI `AccountTransaction` schema). The same
//! [`GeneratorConfig`] always yields byte-identical JSON: all randomness comes from `ChaCha8Rng`
//! streams seeded from the config, no hash-map iteration order or clock is involved.
//!
//! Conventions of the generated history:
//! - rows are sorted oldest first by `lastUpdated` (the instant the row reached its state);
//! - every logical transaction has its own `references.accountServicer` (16 lowercase hex digits).
//!   A card hold is emitted as a `status: "PDNG"` row followed later by a `"BOOK"` row with the
//!   **same** `accountServicer`; this is the only way a servicer id appears twice. Holds placed in
//!   the last days before `end` stay pending (no `BOOK` row). [`snapshot`] collapses the history
//!   to what the API would return at a given instant;
//! - a storno row has `reversalIndicator: true`, the opposite `creditDebitIndicator` and the same
//!   amount as its original, and its `additionalTransactionInformation` starts with
//!   [`STORNO_PREFIX`] followed by the original's `accountServicer` (see [`storno_reference`]);
//! - amounts are kept in minor units and emitted as exact JSON numbers with at most two decimals;
//!   `amount` is always in the account currency (CZK), SEPA credits carry the EUR figure in
//!   `instructed`;
//! - `bookingDate`/`valueDate` are Europe/Prague business dates, `lastUpdated` is UTC.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Prefix of `additionalTransactionInformation` of storno rows, followed by the original's
/// `references.accountServicer`.
pub const STORNO_PREFIX: &str = "STORNO ";

/// Status of a booked row.
pub const STATUS_BOOKED: &str = "BOOK";
/// Status of a pending row (card hold).
pub const STATUS_PENDING: &str = "PDNG";

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Seed of all randomness; the same config always gives the same output.
    pub seed: u64,
    /// Number of accounts.
    pub accounts: usize,
    /// Exact number of transaction rows per account (pending and booked rows both count).
    pub transactions_per_account: usize,
    /// Length of the history window in days, ending at `end` (0 is treated as 1).
    pub days: u32,
    /// End of the history window; no row is later than this instant.
    pub end: OffsetDateTime,
}

/// One generated sandbox account with its history.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedAccount {
    /// Sandbox account id: unpadded base64url of `"<IBAN>:<CURRENCY>"` (spec §7.3).
    pub account_id: String,
    /// IBAN, `CZkk bbbb pppppp nnnnnnnnnn` without spaces.
    pub iban: String,
    /// National account number without bank code as printed: `[prefix-]number`, no leading zeros
    /// (e.g. `115-4933990227`, `2795161113`).
    pub number: String,
    /// Bank code, always `0100` (KB).
    pub bank_code: String,
    /// Account name (club and purpose).
    pub name: String,
    /// Account currency, always `CZK`.
    pub currency: String,
    /// Booked balance before the first generated row, in minor units (haléře).
    pub opening_balance_minor: i64,
    /// ADAA v2 `AccountTransaction` objects, oldest first.
    pub transactions: Vec<Value>,
}

/// The VS of the first club member in every generated account; member `n` pays with
/// `DEMO_MEMBER_VS_FIRST + n`. Kasa's demo member list (docs/demo-members.csv) holds the first
/// [`DEMO_MEMBER_COUNT`] of them, which covers the default sandbox (2 400 rows per account →
/// 200 members); the control page's default VS is the first.
pub const DEMO_MEMBER_VS_FIRST: u64 = 2_025_001;
/// How many demo members docs/demo-members.csv lists.
pub const DEMO_MEMBER_COUNT: u64 = 200;

/// Generates `cfg.accounts` accounts with `cfg.transactions_per_account` rows each.
pub fn generate(cfg: &GeneratorConfig) -> Vec<GeneratedAccount> {
    let mut used: HashSet<(u32, u64)> = HashSet::new();
    (0..cfg.accounts)
        .map(|index| generate_account(cfg, index as u64, &mut used))
        .collect()
}

/// Builds one booked incoming (or, for a negative `amount_minor`, outgoing) domestic payment for
/// the account `(iban, currency)`, e.g. a member fee that the sandbox user "sends" while testing.
///
/// The `references.accountServicer` is fresh: `is_used` says which ones the account's ledger
/// already holds (a question, so a large ledger is not copied). Without `payer_name` a Czech
/// name is drawn from `rng_seed`; the counterparty account is drawn from `rng_seed` too, so the
/// same arguments give the same JSON.
pub fn payment(
    rng_seed: u64,
    (iban, currency): (&str, &str),
    is_used: &dyn Fn(&str) -> bool,
    amount_minor: i64,
    (vs, message, payer_name): (Option<&str>, Option<&str>, Option<&str>),
    booked_at: OffsetDateTime,
) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
    let servicer = loop {
        let candidate = hex16(rng.r#gen::<u64>());
        if !is_used(candidate.as_str()) {
            break candidate;
        }
    };
    let name = match payer_name {
        Some(name) => name.to_owned(),
        None => {
            let female = rng.gen_range(0..2u32) == 0;
            let person = Person::random(&mut rng, female);
            person.display(&mut rng)
        }
    };
    let credit = amount_minor >= 0;
    let at_us = to_micros(booked_at);
    let tx = Tx {
        at_us,
        value_us: at_us,
        pending: false,
        servicer,
        entry_nonce: rng.r#gen(),
        entry_style: if credit {
            EntryStyle::DomesticIn
        } else {
            EntryStyle::DomesticOut
        },
        tx_type: "DOMESTIC",
        btc: Some(if credit {
            BTC_DOMESTIC_IN
        } else {
            BTC_DOMESTIC_OUT
        }),
        credit,
        amount: amount_minor.saturating_abs(),
        instructed: None,
        reversal: false,
        party: Some(Party::domestic(&mut rng, name)),
        refs: Refs {
            variable: vs.map(str::to_owned),
            receiver: message.map(str::to_owned),
            ..Refs::default()
        },
        info: Some(
            if credit {
                "Transfer credit"
            } else {
                "Transfer debit"
            }
            .to_owned(),
        ),
        hold_expiry_day: None,
    };
    render(&tx, iban, currency)
}

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
/// Keeps the oldest-first order of `transactions` (which must be sorted as [`generate`] sorts).
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

/// Checks a Czech account number: `prefix` (0–6 digits, may be empty) and `number` (2–10
/// digits, at least two of them non-zero) must both pass the mod-11 weighted checksum
/// (weights 10,5,8,4,2,1 and 6,3,7,9,10,5,8,4,2,1, from the left, for full-length parts).
pub fn valid_czech_account(prefix: &str, number: &str) -> bool {
    let digits_ok = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok(prefix, 6) || !digits_ok(number, 10) || number.len() < 2 {
        return false;
    }
    if number.bytes().filter(|&b| b != b'0').count() < 2 {
        return false;
    }
    mod11_sum(prefix).is_multiple_of(11) && mod11_sum(number).is_multiple_of(11)
}

/// Checks an IBAN (spaces allowed): country letters, two check digits, alphanumeric BBAN of a
/// plausible length and the ISO 7064 MOD 97-10 check. Czech IBANs must also be 24 characters of
/// digits after `CZ` (`CZkk bbbb pppppp nnnnnnnnnn`).
pub fn valid_iban(iban: &str) -> bool {
    let compact: Vec<u8> = iban.bytes().filter(|&b| b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, bban) = compact.split_at(4);
    if !head[..2].iter().all(u8::is_ascii_uppercase) || !head[2..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !bban
        .iter()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return false;
    }
    if &head[..2] == b"CZ" && (compact.len() != 24 || !bban.iter().all(u8::is_ascii_digit)) {
        return false;
    }
    let rearranged = bban.iter().chain(head.iter());
    mod97(rearranged.copied()) == Some(1)
}

// ---------------------------------------------------------------------------------------------
// Checksums and identifiers

/// Weights of Czech account number digits, from the rightmost digit leftwards.
const MOD11_WEIGHTS: [u32; 10] = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6];

fn mod11_sum(digits: &str) -> u32 {
    digits
        .bytes()
        .rev()
        .zip(MOD11_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum()
}

/// MOD 97 of the digit string obtained by replacing letters with 10..35; `None` on other bytes.
fn mod97(chars: impl Iterator<Item = u8>) -> Option<u32> {
    let mut rem = 0u32;
    for c in chars {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    Some(rem)
}

/// Full IBAN for `country` and `bban` with computed check digits.
fn make_iban(country: &str, bban: &str) -> String {
    let chars = bban.bytes().chain(country.bytes()).chain(*b"00");
    let check = 98 - mod97(chars).unwrap_or(0);
    format!("{country}{check:02}{bban}")
}

/// Random digits of a Czech account part of `len` digits (`len` ≤ 10) whose last digit is
/// the mod-11 check digit; the first `zeros` digits are zero and the next one non-zero.
fn czech_part(rng: &mut ChaCha8Rng, len: usize, zeros: usize) -> u64 {
    loop {
        let mut digits = Vec::with_capacity(len);
        for i in 0..len - 1 {
            let d = match i.cmp(&zeros) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => rng.gen_range(1..10u32),
                std::cmp::Ordering::Greater => rng.gen_range(0..10u32),
            };
            digits.push(d);
        }
        let sum: u32 = digits
            .iter()
            .rev()
            .zip(MOD11_WEIGHTS[1..].iter())
            .map(|(d, w)| d * w)
            .sum();
        let check = (11 - sum % 11) % 11;
        if check == 10 {
            continue;
        }
        digits.push(check);
        if digits.iter().filter(|&&d| d != 0).count() < 2 {
            continue;
        }
        return digits.iter().fold(0u64, |acc, &d| acc * 10 + u64::from(d));
    }
}

/// A Czech bank.
#[derive(Debug, Clone, Copy)]
struct Bank {
    code: &'static str,
    bic: &'static str,
    /// Relative frequency among club members.
    weight: u32,
}

const BANKS: [Bank; 7] = [
    Bank {
        code: "0100",
        bic: "KOMBCZPPXXX",
        weight: 20,
    },
    Bank {
        code: "0800",
        bic: "GIBACZPXXXX",
        weight: 25,
    },
    Bank {
        code: "0300",
        bic: "CEKOCZPPXXX",
        weight: 15,
    },
    Bank {
        code: "2010",
        bic: "FIOBCZPPXXX",
        weight: 15,
    },
    Bank {
        code: "3030",
        bic: "AIRACZPPXXX",
        weight: 10,
    },
    Bank {
        code: "0600",
        bic: "AGBACZPPXXX",
        weight: 8,
    },
    Bank {
        code: "5500",
        bic: "RZBCCZPPXXX",
        weight: 7,
    },
];

/// A Czech account: prefix, base number and bank.
#[derive(Debug, Clone, Copy)]
struct CzAccount {
    prefix: u32,
    number: u64,
    bank: Bank,
}

impl CzAccount {
    fn random(rng: &mut ChaCha8Rng, bank: Bank) -> Self {
        let prefix = if rng.gen_range(0..2u32) == 0 {
            0
        } else {
            let len = rng.gen_range(2..=6usize);
            // A prefix has at most 6 digits, which always fits u32.
            u32::try_from(czech_part(rng, len, 0)).unwrap_or(0)
        };
        let zeros = rng.gen_range(0..=3usize);
        let number = czech_part(rng, 10, zeros);
        Self {
            prefix,
            number,
            bank,
        }
    }

    fn random_bank(rng: &mut ChaCha8Rng) -> Self {
        let total: u32 = BANKS.iter().map(|b| b.weight).sum();
        let mut pick = rng.gen_range(0..total);
        let mut bank = BANKS[0];
        for b in BANKS {
            if pick < b.weight {
                bank = b;
                break;
            }
            pick -= b.weight;
        }
        Self::random(rng, bank)
    }

    /// Zero-padded 16-digit national form used in `counterParty.accountNo`.
    fn padded(&self) -> String {
        format!("{:06}{:010}", self.prefix, self.number)
    }

    /// `[prefix-]number` without leading zeros.
    fn national(&self) -> String {
        if self.prefix == 0 {
            self.number.to_string()
        } else {
            format!("{}-{}", self.prefix, self.number)
        }
    }

    fn iban(&self) -> String {
        make_iban("CZ", &format!("{}{}", self.bank.code, self.padded()))
    }
}

/// Unpadded base64url.
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for s in sextets.iter().take(chunk.len() + 1) {
            out.push(char::from(ALPHABET[(s & 63) as usize]));
        }
    }
    out
}

fn hex16(x: u64) -> String {
    format!("{x:016x}")
}

/// SplitMix64 finalizer: a bijection on `u64`, so distinct inputs give distinct ids.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// Calendar (Europe/Prague through `super::calendar`, i.e. jiff and the IANA database)

const US: i64 = 1_000_000;
const DAY_S: i64 = 86_400;
const HOUR_US: i64 = 3_600 * US;
const DAY_US: i64 = DAY_S * US;

use super::calendar::{civil_from_days, days_from_civil, days_in_month, prague_offset_s};

/// Prague local day number (days since 1970-01-01) of a UTC instant in µs.
fn local_day(us: i64) -> i64 {
    let s = us.div_euclid(US);
    (s + prague_offset_s(s)).div_euclid(DAY_S)
}

/// Prague local hour of a UTC instant in µs.
fn local_hour(us: i64) -> i64 {
    let s = us.div_euclid(US);
    (s + prague_offset_s(s)).rem_euclid(DAY_S) / 3_600
}

/// UTC instant (µs) of a Prague local wall-clock time.
fn local_to_utc_us(day: i64, hour: i64, minute: i64) -> i64 {
    super::calendar::prague_to_utc_s(day, hour, minute) * US
}

fn fmt_date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `dd.mm.yyyy` as used in Czech texts.
fn fmt_date_cz(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{d:02}.{m:02}.{y:04}")
}

/// ISO-8601 UTC with up to 6 fraction digits, trailing zeros trimmed (KB style).
fn fmt_utc(us: i64) -> String {
    let s = us.div_euclid(US);
    let micros = us.rem_euclid(US);
    let (y, m, d) = civil_from_days(s.div_euclid(DAY_S));
    let sod = s.rem_euclid(DAY_S);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3_600,
        sod % 3_600 / 60,
        sod % 60
    );
    if micros == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{micros:06}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// Parses the `lastUpdated` format written by [`fmt_utc`] (any RFC 3339 UTC time).
fn parse_utc_micros(s: &str) -> Option<i64> {
    let dt = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(to_micros(dt))
}

fn to_micros(dt: OffsetDateTime) -> i64 {
    dt.unix_timestamp() * US + i64::from(dt.nanosecond() / 1_000)
}

// ---------------------------------------------------------------------------------------------
// Money

/// Exact JSON number for an amount in minor units: an integer token for whole units, otherwise
/// `whole.cc` parsed by serde_json (a single correctly rounded division, which serializes back to
/// the same shortest text, e.g. `26.57`, `12.5`).
fn money(minor: i64) -> Value {
    let abs = minor.unsigned_abs();
    let sign = if minor < 0 { "-" } else { "" };
    if abs.is_multiple_of(100) {
        let text = format!("{sign}{}", abs / 100);
        return serde_json::from_str(&text).unwrap_or(Value::Null);
    }
    let text = format!("{sign}{}.{:02}", abs / 100, abs % 100);
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Whole CZK in minor units.
const fn czk(whole: i64) -> i64 {
    whole * 100
}

// ---------------------------------------------------------------------------------------------
// Czech content

const MALE_FIRST: [&str; 16] = [
    "Jan",
    "Petr",
    "Jiří",
    "Tomáš",
    "Martin",
    "Pavel",
    "Jakub",
    "Lukáš",
    "Ondřej",
    "Vojtěch",
    "Matěj",
    "Michal",
    "David",
    "Filip",
    "Štěpán",
    "Radek",
];
const FEMALE_FIRST: [&str; 16] = [
    "Jana",
    "Petra",
    "Lucie",
    "Kateřina",
    "Tereza",
    "Eva",
    "Markéta",
    "Veronika",
    "Barbora",
    "Anna",
    "Eliška",
    "Adéla",
    "Klára",
    "Zuzana",
    "Šárka",
    "Michaela",
];
/// (male, female) surname forms.
const SURNAMES: [(&str, &str); 32] = [
    ("Novák", "Nováková"),
    ("Svoboda", "Svobodová"),
    ("Novotný", "Novotná"),
    ("Dvořák", "Dvořáková"),
    ("Černý", "Černá"),
    ("Procházka", "Procházková"),
    ("Kučera", "Kučerová"),
    ("Veselý", "Veselá"),
    ("Horák", "Horáková"),
    ("Němec", "Němcová"),
    ("Marek", "Marková"),
    ("Pospíšil", "Pospíšilová"),
    ("Pokorný", "Pokorná"),
    ("Hájek", "Hájková"),
    ("Král", "Králová"),
    ("Jelínek", "Jelínková"),
    ("Růžička", "Růžičková"),
    ("Beneš", "Benešová"),
    ("Fiala", "Fialová"),
    ("Sedláček", "Sedláčková"),
    ("Doležal", "Doležalová"),
    ("Zeman", "Zemanová"),
    ("Kolář", "Kolářová"),
    ("Navrátil", "Navrátilová"),
    ("Čermák", "Čermáková"),
    ("Urban", "Urbanová"),
    ("Vaněk", "Vaňková"),
    ("Blažek", "Blažková"),
    ("Kříž", "Křížová"),
    ("Kovář", "Kovářová"),
    ("Štěpánek", "Štěpánková"),
    ("Říha", "Říhová"),
];

/// (club name, gym owner) pairs.
const CLUBS: [(&str, &str); 10] = [
    ("TJ Sokol Kunratice, z.s.", "Základní škola Kunratice"),
    (
        "SK Slavoj Vyšehrad, z.s.",
        "Sportovní hala Vyšehrad – Městská část Praha 2",
    ),
    ("Florbalový klub Dragons Brno, z.s.", "STAREZ-SPORT, a.s."),
    (
        "OOB Lokomotiva Pardubice, z.s.",
        "Městská sportovní hala Pardubice",
    ),
    (
        "TJ Spartak Čelákovice – volejbal",
        "ZŠ J. A. Komenského Čelákovice",
    ),
    (
        "Házenkářský klub Ostrava-Poruba, z.s.",
        "Sportovní a rekreační zařízení Ostrava",
    ),
    (
        "FC Žďár nad Sázavou – mládež, z.s.",
        "Tělocvičná jednota Sokol Žďár",
    ),
    ("Plavecký klub Olomouc, z.s.", "Aquapark Olomouc a.s."),
    (
        "Tenisový klub Jablonec nad Nisou",
        "Sportovní areál Jablonec s.r.o.",
    ),
    ("SK Karate Kladno, z.s.", "Sportovní areály města Kladna"),
];
const PURPOSES: [&str; 4] = [
    "běžný účet",
    "mládež",
    "turnaje a soustředění",
    "rezervní účet",
];

/// (team, yearly fee in CZK, is youth)
const TEAMS: [(&str, i64, bool); 7] = [
    ("přípravka", 1_800, true),
    ("mladší žáci", 2_400, true),
    ("starší žáci", 2_400, true),
    ("dorost", 3_000, true),
    ("muži", 3_600, false),
    ("ženy", 3_000, false),
    ("veteráni", 1_500, false),
];

/// Constant symbols used on member fees.
const MEMBER_KS: [&str; 4] = ["0308", "0558", "558", "0008"];

/// (merchant as on the card statement, min CZK, max CZK)
const MERCHANTS: [(&str, i64, i64); 14] = [
    ("ALBERT 0654 PRAHA", 80, 1_500),
    ("LIDL DEKUJEME ZA NAKUP", 60, 1_200),
    ("SPORTISIMO PRAHA CHODOV", 300, 6_000),
    ("DECATHLON CERNY MOST", 200, 5_000),
    ("KAUFLAND PARDUBICE", 100, 1_800),
    ("HERVIS SPORTS OC CHODOV", 300, 4_500),
    ("ALZA.CZ", 200, 8_000),
    ("ROHLIK.CZ", 400, 2_500),
    ("SHELL 4512 PRAHA 4", 500, 2_500),
    ("ORLEN BENZINA 0178", 500, 2_500),
    ("BILLA PRAHA KUNRATICE", 80, 1_200),
    ("DM DROGERIE MARKT", 50, 900),
    ("CESKE DRAHY ONLINE", 100, 2_000),
    ("REGIOJET", 150, 2_400),
];

/// (supplier, message template with `{Y}` year and `{N}` invoice number, min CZK, max CZK)
const SUPPLIERS: [(&str, &str, i64, i64); 9] = [
    (
        "Sportovní potřeby Kučera s.r.o.",
        "Faktura {N} – dresy a míče",
        2_500,
        24_000,
    ),
    (
        "ČSAD Vsetín a.s.",
        "Doprava na turnaj – autobus, faktura {N}",
        4_000,
        16_000,
    ),
    (
        "Pražská energetika, a.s.",
        "Záloha na elektřinu – klubovna",
        800,
        2_500,
    ),
    (
        "Český svaz házené",
        "Registrační poplatky svazu {Y}",
        1_000,
        9_000,
    ),
    (
        "Fotbalová asociace České republiky",
        "Startovné a poplatky soutěží {Y}",
        500,
        6_000,
    ),
    (
        "Hotel Horal Špindlerův Mlýn",
        "Soustředění {Y} – ubytování, záloha",
        10_000,
        45_000,
    ),
    (
        "Lékárna U Anděla s.r.o.",
        "Lékárnička – doplnění, faktura {N}",
        300,
        2_000,
    ),
    (
        "Tiskárna Procházka s.r.o.",
        "Tisk plakátů a diplomů – turnaj {Y}",
        900,
        5_000,
    ),
    (
        "Účetní kancelář Dvořáková s.r.o.",
        "Vedení účetnictví – faktura {N}",
        1_500,
        4_500,
    ),
];

/// (payer, message template, min CZK, max CZK)
const OTHER_INCOMING: [(&str, &str, i64, i64); 7] = [
    (
        "Městská část Praha 4",
        "Dotace na sportovní činnost mládeže {Y}",
        20_000,
        150_000,
    ),
    (
        "Národní sportovní agentura",
        "Dotace Můj klub {Y}",
        30_000,
        250_000,
    ),
    ("Stavby Horák s.r.o.", "Sponzorský dar", 5_000, 30_000),
    (
        "Pekařství Dvořák s.r.o.",
        "Dar na turnaj {Y}",
        2_000,
        10_000,
    ),
    (
        "FK Slavoj Podolí, z.s.",
        "Startovné turnaj {Y}",
        1_500,
        6_000,
    ),
    ("TJ Sokol Libeň", "Startovné – memoriál {Y}", 1_000, 4_000),
    ("Decathlon Praha s.r.o.", "Dobropis {N}", 300, 3_000),
];

/// SEPA payers: (name, country, BIC).
const SEPA_PAYERS: [(&str, &str, &str); 4] = [
    ("TSV Eintracht Karlsfeld e.V.", "DE", "BYLADEM1001"),
    ("Športový klub Trnava", "SK", "TATRSKBX"),
    ("SC Wiener Neustadt", "AT", "BKAUATWWXXX"),
    ("Club Sportif de Lyon", "FR", "SOGEFRPPXXX"),
];
const SEPA_MESSAGES: [&str; 4] = [
    "Startgeld Turnier U12 {Y}",
    "Tournament fee U14 – Brno Cup {Y}",
    "Štartovné turnaj {Y}",
    "Participation tournoi jeunes {Y}",
];

const BTC_DOMESTIC_IN: &str = "10000107000";
const BTC_DOMESTIC_OUT: &str = "10000101003";
const BTC_CARD: &str = "30000201330";
const BTC_FEE: &str = "40000605000";

/// Replaces Czech diacritics (some banks strip them from payment messages).
fn ascii_fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' => 'a',
            'č' => 'c',
            'ď' => 'd',
            'é' | 'ě' => 'e',
            'í' => 'i',
            'ň' => 'n',
            'ó' => 'o',
            'ř' => 'r',
            'š' => 's',
            'ť' => 't',
            'ú' | 'ů' => 'u',
            'ý' => 'y',
            'ž' => 'z',
            'Á' => 'A',
            'Č' => 'C',
            'Ď' => 'D',
            'É' | 'Ě' => 'E',
            'Í' => 'I',
            'Ň' => 'N',
            'Ó' => 'O',
            'Ř' => 'R',
            'Š' => 'S',
            'Ť' => 'T',
            'Ú' | 'Ů' => 'U',
            'Ý' => 'Y',
            'Ž' => 'Z',
            '–' => '-',
            other => other,
        })
        .collect()
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn percent(rng: &mut ChaCha8Rng, p: u32) -> bool {
    rng.gen_range(0..100u32) < p
}

#[derive(Debug, Clone, Copy)]
struct Person {
    first: &'static str,
    surname: &'static str,
}

impl Person {
    fn random(rng: &mut ChaCha8Rng, female: bool) -> Self {
        let surname = pick(rng, &SURNAMES);
        Self::with_surname(rng, female, *surname)
    }

    fn with_surname(
        rng: &mut ChaCha8Rng,
        female: bool,
        surname: (&'static str, &'static str),
    ) -> Self {
        if female {
            Self {
                first: *pick(rng, &FEMALE_FIRST),
                surname: surname.1,
            }
        } else {
            Self {
                first: *pick(rng, &MALE_FIRST),
                surname: surname.0,
            }
        }
    }

    fn full(&self) -> String {
        format!("{} {}", self.first, self.surname)
    }

    /// The name as a bank would print it (KB: `SURNAME FIRST`, others vary).
    fn display(&self, rng: &mut ChaCha8Rng) -> String {
        match rng.gen_range(0..10u32) {
            0..=2 => format!(
                "{} {}",
                self.surname.to_uppercase(),
                self.first.to_uppercase()
            ),
            3..=5 => self.full(),
            6..=7 => format!("{} {}", self.surname, self.first),
            8 => format!("Ing. {}", self.full()),
            _ => format!("Mgr. {}", self.full()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transaction model

#[derive(Debug, Clone, Default)]
struct Party {
    iban: Option<String>,
    name: String,
    account_no: Option<String>,
    bic: Option<&'static str>,
    bank_code: Option<&'static str>,
}

impl Party {
    fn domestic(rng: &mut ChaCha8Rng, name: String) -> Self {
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

    fn name_only(name: String) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Refs {
    e2e: Option<String>,
    variable: Option<String>,
    constant: Option<String>,
    specific: Option<String>,
    receiver: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum EntryStyle {
    DomesticIn,
    DomesticOut,
    Card,
    Fee,
    Other,
}

#[derive(Debug, Clone)]
struct Tx {
    /// `lastUpdated`, also the sort key.
    at_us: i64,
    /// Instant whose Prague date is the `valueDate`.
    value_us: i64,
    pending: bool,
    servicer: String,
    entry_nonce: u64,
    entry_style: EntryStyle,
    tx_type: &'static str,
    btc: Option<&'static str>,
    credit: bool,
    /// Positive amount in account-currency minor units.
    amount: i64,
    /// Instructed amount and currency when it differs from the account currency.
    instructed: Option<(i64, &'static str)>,
    reversal: bool,
    party: Option<Party>,
    refs: Refs,
    info: Option<String>,
    /// Prague day of `cardTransactionDetails.holdExpirationDate` (pending holds only).
    hold_expiry_day: Option<i64>,
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
fn render(tx: &Tx, own_iban: &str, currency: &str) -> Value {
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

// ---------------------------------------------------------------------------------------------
// Planning

#[derive(Debug, Clone)]
struct Member {
    payer: Party,
    /// Child's full name for youth members.
    child: Option<Person>,
    adult: Person,
    team: usize,
    vs: String,
}

#[derive(Debug, Clone)]
struct Supplier {
    party: Party,
    message: &'static str,
    min: i64,
    max: i64,
}

/// Per-account planning state.
struct Planner {
    rng: ChaCha8Rng,
    start_us: i64,
    end_us: i64,
    servicer_key: u64,
    servicer_counter: u64,
    members: Vec<Member>,
    suppliers: Vec<Supplier>,
    gym: Party,
    coach: Party,
    ks: Option<&'static str>,
    card_last4: u32,
}

impl Planner {
    fn next_servicer(&mut self) -> String {
        self.servicer_counter += 1;
        hex16(mix64(self.servicer_key.wrapping_add(self.servicer_counter)))
    }

    /// Uniform instant in the window, preferring Prague daytime (06–22 h).
    fn instant(&mut self) -> i64 {
        let span = self.end_us - self.start_us;
        if span <= 0 {
            return self.end_us;
        }
        let mut t = self.end_us;
        for _ in 0..8 {
            t = self.start_us + 1 + self.rng.gen_range(0..span);
            if (6..22).contains(&local_hour(t)) {
                break;
            }
        }
        t
    }

    /// Instant weighted towards the months when member fees are due.
    fn fee_instant(&mut self) -> i64 {
        const WEIGHTS: [u32; 12] = [3, 4, 3, 1, 1, 1, 1, 2, 5, 4, 1, 1];
        let mut t = self.instant();
        for _ in 0..10 {
            let (_, m, _) = civil_from_days(local_day(t));
            if self.rng.gen_range(0..5u32) < WEIGHTS[(m - 1) as usize] {
                break;
            }
            t = self.instant();
        }
        t
    }

    fn base_tx(&mut self, at_us: i64, tx_type: &'static str, credit: bool, amount: i64) -> Tx {
        Tx {
            at_us,
            value_us: at_us,
            pending: false,
            servicer: self.next_servicer(),
            entry_nonce: self.rng.r#gen(),
            entry_style: EntryStyle::Other,
            tx_type,
            btc: None,
            credit,
            amount,
            instructed: None,
            reversal: false,
            party: None,
            refs: Refs::default(),
            info: None,
            hold_expiry_day: None,
        }
    }

    fn member_fee(&mut self) -> Tx {
        let at = self.fee_instant();
        let (y, m, _) = civil_from_days(local_day(at));
        let member = self.members[self.rng.gen_range(0..self.members.len())].clone();
        let (team, yearly, _) = TEAMS[member.team];
        let who = member.child.unwrap_or(member.adult);
        let season = if m >= 8 {
            format!("{y}/{:02}", (y + 1) % 100)
        } else {
            format!("{}/{:02}", y - 1, y % 100)
        };
        let half = if m <= 7 { "jaro" } else { "podzim" };
        let mut amount = match self.rng.gen_range(0..20u32) {
            0..=7 => czk(yearly),
            8..=15 => czk(yearly / 2),
            16..=18 => czk((yearly / 10).max(100) / 10 * 10),
            _ => czk(yearly / 2 + 350),
        };
        let message = match self.rng.gen_range(0..12u32) {
            0..=2 => Some(format!("Členský příspěvek {y}")),
            3..=4 => Some(format!("Oddílový příspěvek – {team}")),
            5..=6 => Some(format!("Příspěvek {season} – {}", who.full())),
            7 => Some(format!("{} – příspěvek {half} {y}", who.full())),
            8 => {
                amount = czk(self.rng.gen_range(35..=55i64) * 100);
                Some(format!("Soustředění {y} – {}", who.first))
            }
            9 => Some(format!("ČP {y} {} {}", who.surname, who.first)),
            _ => None,
        };
        let message = message.map(|msg| {
            if percent(&mut self.rng, 15) {
                ascii_fold(&msg)
            } else {
                msg
            }
        });
        let mut tx = self.base_tx(at, "DOMESTIC", true, amount);
        tx.entry_style = EntryStyle::DomesticIn;
        tx.btc = Some(BTC_DOMESTIC_IN);
        tx.party = Some(member.payer);
        tx.refs = Refs {
            variable: (!percent(&mut self.rng, 6)).then_some(member.vs),
            constant: self
                .ks
                .filter(|_| percent(&mut self.rng, 80))
                .map(str::to_owned),
            specific: percent(&mut self.rng, 25).then(|| (member.team + 1).to_string()),
            receiver: message,
            e2e: None,
        };
        tx.info = Some(
            if percent(&mut self.rng, 50) {
                "Transfer credit"
            } else {
                "Ach deposit"
            }
            .to_owned(),
        );
        tx
    }

    fn other_incoming(&mut self) -> Tx {
        let at = self.instant();
        let (y, _, _) = civil_from_days(local_day(at));
        // Grants (the first two) are rare.
        let idx = if percent(&mut self.rng, 10) {
            self.rng.gen_range(0..2usize)
        } else {
            self.rng.gen_range(2..OTHER_INCOMING.len())
        };
        let (payer, template, min, max) = OTHER_INCOMING[idx];
        let amount = czk(self.rng.gen_range(min / 100..=max / 100) * 100);
        let invoice = format!("{y}{:04}", self.rng.gen_range(1..2_000u32));
        let mut tx = self.base_tx(at, "DOMESTIC", true, amount);
        tx.entry_style = EntryStyle::DomesticIn;
        tx.btc = Some(BTC_DOMESTIC_IN);
        tx.party = Some(Party::domestic(&mut self.rng, payer.to_owned()));
        tx.refs.variable = Some(invoice.clone());
        tx.refs.constant = (idx < 2).then(|| "0558".to_owned());
        tx.refs.receiver = Some(
            template
                .replace("{Y}", &y.to_string())
                .replace("{N}", &invoice),
        );
        tx.info = Some("Transfer credit".to_owned());
        tx
    }

    fn domestic_out(&mut self) -> Tx {
        let at = self.instant();
        let day = local_day(at);
        let (y, m, _) = civil_from_days(day);
        let mut tx = match self.rng.gen_range(0..10u32) {
            0..=1 => {
                let amount = czk(self.rng.gen_range(15..=60i64) * 100);
                let mut tx = self.base_tx(at, "DOMESTIC", false, amount);
                tx.party = Some(self.coach.clone());
                tx.refs.receiver = Some(format!("Trenérská odměna {m:02}/{y}"));
                tx
            }
            2 => {
                let female = percent(&mut self.rng, 30);
                let referee = Person::random(&mut self.rng, female);
                let amount = czk(self.rng.gen_range(3..=12i64) * 100);
                let mut tx = self.base_tx(at, "DOMESTIC", false, amount);
                tx.party = Some(Party::domestic(&mut self.rng, referee.full()));
                tx.refs.receiver = Some(format!("Odměna rozhodčí {}", fmt_date_cz(day)));
                tx
            }
            _ => {
                let supplier = self.suppliers[self.rng.gen_range(0..self.suppliers.len())].clone();
                let amount = czk(self.rng.gen_range(supplier.min..=supplier.max));
                let invoice = format!("{y}{:05}", self.rng.gen_range(1..100_000u32));
                let mut tx = self.base_tx(at, "DOMESTIC", false, amount);
                tx.party = Some(supplier.party);
                tx.refs.variable = Some(invoice.clone());
                tx.refs.constant = percent(&mut self.rng, 50).then(|| "0308".to_owned());
                tx.refs.receiver = Some(
                    supplier
                        .message
                        .replace("{Y}", &y.to_string())
                        .replace("{N}", &invoice),
                );
                tx
            }
        };
        tx.entry_style = EntryStyle::DomesticOut;
        tx.btc = Some(BTC_DOMESTIC_OUT);
        tx.info = Some("Transfer debit".to_owned());
        tx
    }

    /// A card payment; with `hold` it is the pending row (booked separately).
    fn card(&mut self, at: i64, hold: bool) -> Tx {
        let (merchant, min, max) = *pick(&mut self.rng, &MERCHANTS);
        let amount = self.rng.gen_range(min * 100..=max * 100) / 10 * 10;
        let mut tx = self.base_tx(at, "CARD", false, amount);
        tx.entry_style = EntryStyle::Card;
        tx.btc = Some(BTC_CARD);
        tx.party = Some(Party::name_only(merchant.to_owned()));
        tx.info = Some(format!(
            "Platba kartou {}, karta 5168 **** **** {:04}, {merchant}",
            fmt_date_cz(local_day(at)),
            self.card_last4
        ));
        if hold {
            tx.pending = true;
            tx.hold_expiry_day = Some(local_day(at) + 7);
        }
        tx
    }

    fn item_fee(&mut self) -> Tx {
        let at = self.instant();
        let (text, amount) = match self.rng.gen_range(0..3u32) {
            0 => ("POPLATEK ZA POLOŽKY".to_owned(), czk(6)),
            1 => ("POPLATEK OZNAMENI SMS:  1".to_owned(), czk(3)),
            _ => ("Poplatek za výpis z účtu".to_owned(), czk(18)),
        };
        let mut tx = self.base_tx(at, "FEE", false, amount);
        tx.entry_style = EntryStyle::Fee;
        tx.btc = Some(BTC_FEE);
        tx.refs.constant = Some("898".to_owned());
        tx.info = Some(text);
        tx
    }

    fn cash(&mut self) -> Tx {
        let at = self.instant();
        let deposit = percent(&mut self.rng, 60);
        let mut tx = if deposit {
            let amount = czk(self.rng.gen_range(20..=150i64) * 100);
            let mut tx = self.base_tx(at, "CASH", true, amount);
            tx.info = Some("Vklad hotovosti – příspěvky z tréninku".to_owned());
            tx
        } else {
            let amount = czk(self.rng.gen_range(5..=50i64) * 100);
            let mut tx = self.base_tx(at, "CASH", false, amount);
            tx.info = Some(format!(
                "Výběr z bankomatu, karta 5168 **** **** {:04}",
                self.card_last4
            ));
            tx
        };
        tx.entry_style = EntryStyle::Other;
        tx
    }

    fn sepa(&mut self) -> Tx {
        let at = self.instant();
        let (y, _, _) = civil_from_days(local_day(at));
        let (name, country, bic) = *pick(&mut self.rng, &SEPA_PAYERS);
        let bban = match country {
            "DE" => format!(
                "{:08}{:010}",
                self.rng.gen_range(10_000_000..100_000_000u64),
                self.rng.gen_range(0..10_000_000_000u64)
            ),
            "SK" => {
                let acc = CzAccount::random(&mut self.rng, BANKS[0]);
                format!("1100{}", acc.padded())
            }
            "AT" => format!(
                "{:05}{:011}",
                self.rng.gen_range(10_000..100_000u64),
                self.rng.gen_range(0..100_000_000_000u64)
            ),
            // The KB sandbox's own example counterparty.
            _ => "30003033000002054269605".to_owned(),
        };
        let iban = if country == "FR" {
            "FR7630003033000002054269605".to_owned()
        } else {
            make_iban(country, &bban)
        };
        let eur_cents = self.rng.gen_range(1_500..=50_000i64);
        // CZK per EUR with 3 decimals, e.g. 24993 = 24.993.
        let rate_milli = self.rng.gen_range(24_100..=25_600i64);
        let czk_minor = (eur_cents * rate_milli + 500) / 1_000;
        let mut tx = self.base_tx(at, "SEPA", true, czk_minor);
        tx.instructed = Some((eur_cents, "EUR"));
        tx.party = Some(Party {
            iban: Some(iban),
            name: name.to_owned(),
            account_no: None,
            bic: Some(bic),
            bank_code: None,
        });
        tx.refs.e2e = Some(format!("E2E-{:010X}", self.rng.gen_range(0..1u64 << 40)));
        tx.refs.receiver = Some(pick(&mut self.rng, &SEPA_MESSAGES).replace("{Y}", &y.to_string()));
        tx.info = Some(format!(
            "SEPA CREDIT TRANSFER {}.{:02} EUR KURZ {}.{:03} BIC: {bic}",
            eur_cents / 100,
            eur_cents % 100,
            rate_milli / 1_000,
            rate_milli % 1_000
        ));
        tx
    }

    fn account_fee(&mut self, at: i64) -> Tx {
        let mut tx = self.base_tx(at, "FEE", false, czk(99));
        tx.entry_style = EntryStyle::Fee;
        tx.btc = Some(BTC_FEE);
        tx.refs.constant = Some("898".to_owned());
        tx.info = Some("Poplatek za vedení účtu".to_owned());
        tx
    }

    fn interest(&mut self, at: i64) -> Tx {
        let amount = self.rng.gen_range(5..=999i64);
        let mut tx = self.base_tx(at, "INTEREST", true, amount);
        tx.info = Some("Připsaný úrok".to_owned());
        tx
    }

    fn rent(&mut self, at: i64) -> Tx {
        let (y, m, _) = civil_from_days(local_day(at));
        let amount = czk(self.rng.gen_range(40..=180i64) * 100);
        let mut tx = self.base_tx(at, "DOMESTIC", false, amount);
        tx.entry_style = EntryStyle::DomesticOut;
        tx.btc = Some(BTC_DOMESTIC_OUT);
        tx.party = Some(self.gym.clone());
        tx.refs.variable = Some(format!("{y}{m:02}{:03}", self.rng.gen_range(1..1_000u32)));
        tx.refs.constant = Some("0308".to_owned());
        tx.refs.receiver = Some(format!("Pronájem tělocvičny {m:02}/{y}"));
        tx.info = Some("Transfer debit".to_owned());
        tx
    }

    /// The reversal of `orig` at `at`.
    fn storno(&mut self, orig: &Tx, at: i64) -> Tx {
        let reason = match (orig.tx_type, orig.credit) {
            ("CARD", _) => "storno platby kartou",
            (_, false) => "vrácená platba, účet příjemce neexistuje",
            (_, true) => "storno chybně připsané platby",
        };
        let mut tx = orig.clone();
        tx.at_us = at;
        tx.value_us = at;
        tx.pending = false;
        tx.hold_expiry_day = None;
        tx.servicer = self.next_servicer();
        tx.entry_nonce = self.rng.r#gen();
        tx.entry_style = EntryStyle::Other;
        tx.credit = !orig.credit;
        tx.reversal = true;
        tx.info = Some(format!("{STORNO_PREFIX}{} – {reason}", orig.servicer));
        tx
    }
}

fn make_member(rng: &mut ChaCha8Rng, index: usize) -> Member {
    let team = rng.gen_range(0..TEAMS.len());
    let youth = TEAMS[team].2;
    let surname = *pick(rng, &SURNAMES);
    let female_member = match TEAMS[team].0 {
        "ženy" => true,
        "muži" => false,
        _ => percent(rng, 40),
    };
    let member = Person::with_surname(rng, female_member, surname);
    let (child, adult) = if youth {
        let mother = percent(rng, 60);
        let parent = Person::with_surname(rng, mother, surname);
        (Some(member), parent)
    } else {
        (None, member)
    };
    let name = adult.display(rng);
    // Member `index` pays with the demo list's VS (docs/demo-members.csv), in every account.
    let vs = (DEMO_MEMBER_VS_FIRST + index as u64).to_string();
    Member {
        payer: Party::domestic(rng, name),
        child,
        adult,
        team,
        vs,
    }
}

/// Calendar rows (month-end account fee and interest, rent around the 10th) in the window.
fn calendar(p: &mut Planner, rows_budget: usize) -> Vec<Tx> {
    let first_month = civil_from_days(local_day(p.start_us));
    let last_month = civil_from_days(local_day(p.end_us));
    let mut months = Vec::new();
    let (mut y, mut m) = (first_month.0, first_month.1);
    while (y, m) <= (last_month.0, last_month.1) {
        months.push((y, m));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    let inside = |t: i64| t > p.start_us && t <= p.end_us;
    let mut slots = Vec::new();
    for &(y, m) in &months {
        let last = days_from_civil(y, m, days_in_month(y, m));
        slots.push((0u8, local_to_utc_us(last, 20, 15)));
        slots.push((1u8, local_to_utc_us(last, 21, 5)));
        slots.push((2u8, local_to_utc_us(days_from_civil(y, m, 10), 9, 40)));
    }
    slots.retain(|&(_, t)| inside(t));
    if slots.len() > rows_budget {
        slots.retain(|&(kind, _)| kind == 0);
    }
    if slots.len() > rows_budget {
        return Vec::new();
    }
    slots
        .into_iter()
        .map(|(kind, t)| match kind {
            0 => p.account_fee(t),
            1 => p.interest(t),
            _ => p.rent(t),
        })
        .collect()
}

fn generate_account(
    cfg: &GeneratorConfig,
    index: u64,
    used: &mut HashSet<(u32, u64)>,
) -> GeneratedAccount {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(index);

    let own = loop {
        let acc = CzAccount::random(&mut rng, BANKS[0]);
        if used.insert((acc.prefix, acc.number)) {
            break acc;
        }
    };
    let iban = own.iban();
    let currency = "CZK".to_owned();
    let account_id = base64url(format!("{iban}:{currency}").as_bytes());
    let (club, gym_owner) = *pick(&mut rng, &CLUBS);
    let purpose = PURPOSES[(index % PURPOSES.len() as u64) as usize];
    let name = format!("{club} – {purpose}");

    let n = cfg.transactions_per_account;
    let end_us = to_micros(cfg.end);
    let start_us = end_us - i64::from(cfg.days.max(1)) * DAY_US;
    let member_count = (n / 12).clamp(15, 600);
    let members = (0..member_count)
        .map(|i| make_member(&mut rng, i))
        .collect();
    let suppliers = SUPPLIERS
        .iter()
        .map(|&(name, message, min, max)| Supplier {
            party: Party::domestic(&mut rng, name.to_owned()),
            message,
            min,
            max,
        })
        .collect();
    let gym = Party::domestic(&mut rng, gym_owner.to_owned());
    let coach_female = percent(&mut rng, 30);
    let coach_person = Person::random(&mut rng, coach_female);
    let coach = Party::domestic(&mut rng, coach_person.full());
    let ks = {
        let k = rng.gen_range(0..=MEMBER_KS.len());
        MEMBER_KS.get(k).copied()
    };
    let card_last4 = rng.gen_range(0..10_000u32);
    let servicer_key = rng.r#gen();
    let opening_base = czk(rng.gen_range(150..=1_200i64) * 100);

    let mut p = Planner {
        rng,
        start_us,
        end_us,
        servicer_key,
        servicer_counter: 0,
        members,
        suppliers,
        gym,
        coach,
        ks,
        card_last4,
    };

    let mut txs: Vec<Tx> = Vec::with_capacity(n);
    if n > 0 {
        txs.extend(calendar(&mut p, n / 3));
    }
    // Card holds of the last two days that are still pending.
    let tail = if n >= 20 { (n / 20).min(3) } else { 0 };
    for _ in 0..tail {
        let back = p
            .rng
            .gen_range(HOUR_US / 2..2 * DAY_US)
            .min(end_us - start_us);
        let tx = p.card(end_us - back, true);
        txs.push(tx);
    }
    let storno_budget = if n >= 30 { (n / 150).max(1) } else { 0 };
    let fill_to = n.saturating_sub(storno_budget);
    while txs.len() < fill_to {
        let roll = p.rng.gen_range(0..100u32);
        match roll {
            0..=45 => txs.push(p.member_fee()),
            46..=51 => txs.push(p.other_incoming()),
            52..=63 => txs.push(p.domestic_out()),
            64..=89 => {
                let at = p.instant();
                let room = fill_to - txs.len();
                if room >= 2 && percent(&mut p.rng, 70) {
                    let hold = p.card(at, true);
                    let book_at = at + p.rng.gen_range(18 * HOUR_US..72 * HOUR_US);
                    if book_at <= end_us {
                        let mut booked = hold.clone();
                        booked.pending = false;
                        booked.hold_expiry_day = None;
                        booked.at_us = book_at;
                        txs.push(hold);
                        txs.push(booked);
                    } else {
                        txs.push(hold);
                    }
                } else {
                    txs.push(p.card(at, false));
                }
            }
            90..=93 => txs.push(p.item_fee()),
            94..=97 => txs.push(p.cash()),
            _ => txs.push(p.sepa()),
        }
    }
    txs.sort_by_key(|t| t.at_us);

    // Stornos of earlier booked domestic and card rows; mostly of debits (returned payments,
    // card refunds), sometimes of a wrongly credited payment.
    let (mut debits, mut credits): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    for (i, t) in txs.iter().enumerate() {
        if !t.pending
            && !t.reversal
            && matches!(t.tx_type, "DOMESTIC" | "CARD")
            && t.at_us < end_us - HOUR_US
        {
            if t.credit { &mut credits } else { &mut debits }.push(i);
        }
    }
    let mut extra = Vec::with_capacity(storno_budget);
    for _ in 0..storno_budget {
        let prefer_debit = percent(&mut p.rng, 75);
        let pool = match (debits.is_empty(), credits.is_empty()) {
            (true, true) => None,
            (false, true) => Some(&mut debits),
            (true, false) => Some(&mut credits),
            (false, false) if prefer_debit => Some(&mut debits),
            (false, false) => Some(&mut credits),
        };
        let Some(pool) = pool else {
            extra.push(p.item_fee());
            continue;
        };
        let k = p.rng.gen_range(0..pool.len());
        let orig = txs[pool.swap_remove(k)].clone();
        let latest = (orig.at_us + 5 * DAY_US).min(end_us);
        let at = p.rng.gen_range(orig.at_us + 1..=latest);
        extra.push(p.storno(&orig, at));
    }
    txs.extend(extra);
    txs.sort_by_key(|t| t.at_us);

    // Opening balance so that the booked balance never drops below 5 000 CZK.
    let mut running = 0i64;
    let mut lowest = 0i64;
    for t in txs.iter().filter(|t| !t.pending) {
        running += if t.credit { t.amount } else { -t.amount };
        lowest = lowest.min(running);
    }
    let floor = czk(5_000);
    let opening_balance_minor = opening_base.max(floor - lowest);

    let transactions = txs.iter().map(|t| render(t, &iban, &currency)).collect();
    GeneratedAccount {
        account_id,
        iban,
        number: own.national(),
        bank_code: own.bank.code.to_owned(),
        name,
        currency,
        opening_balance_minor,
        transactions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
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

    const TOP_REQUIRED: [&str; 6] = [
        "lastUpdated",
        "accountType",
        "iban",
        "amount",
        "creditDebitIndicator",
        "transactionType",
    ];
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
            s.len() == 10
                && time::Date::parse(s, format_description!("[year]-[month]-[day]")).is_ok()
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
        for k in TOP_REQUIRED {
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
        if tx["amount"]["currency"] != "CZK"
            || !tx["amount"]["value"].as_f64().is_some_and(|v| v > 0.0)
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

    #[test]
    fn shape_checker_accepts_kb_reference_examples() {
        let fixture = "/work/shared/kb-reference/fixtures/response-transaction-history.json";
        let postman = "/work/shared/kb-reference/postman/sandbox.postman_collection.json";
        let mut rows = Vec::new();
        if let Ok(text) = std::fs::read_to_string(fixture) {
            let v: Value = serde_json::from_str(&text).expect("test data");
            rows.extend(v["content"].as_array().expect("test data").clone());
        }
        if let Ok(text) = std::fs::read_to_string(postman) {
            let needle = "\"lastUpdated\": \"2023-06-08";
            let v: Value = serde_json::from_str(&text).expect("test data");
            let mut stack = vec![v];
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
        }
        for row in &rows {
            check_shape(row).expect("test data");
        }
        eprintln!("checked {} KB reference rows", rows.len());
        // A row with an unknown key or a bad enum is rejected.
        let mut bad = rows.first().cloned().unwrap_or_else(|| {
            let acc = &generate(&cfg(1, 1, 40, 30))[0];
            acc.transactions[0].clone()
        });
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
            let at = parse_utc_micros(tx["lastUpdated"].as_str().expect("test data"))
                .expect("test data");
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
    fn calendar_helpers() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            fmt_utc(to_micros(datetime!(2023-06-08 07:30:27.212470 UTC))),
            "2023-06-08T07:30:27.21247Z"
        );
        assert_eq!(
            fmt_utc(to_micros(datetime!(2019-06-05 11:34:00 UTC))),
            "2019-06-05T11:34:00Z"
        );
        // DST 2026: 29 March 01:00 UTC .. 25 October 01:00 UTC.
        assert_eq!(
            prague_offset_s(datetime!(2026-03-29 00:59:59 UTC).unix_timestamp()),
            3_600
        );
        assert_eq!(
            prague_offset_s(datetime!(2026-03-29 01:00:00 UTC).unix_timestamp()),
            7_200
        );
        assert_eq!(
            prague_offset_s(datetime!(2026-10-25 00:59:59 UTC).unix_timestamp()),
            7_200
        );
        assert_eq!(
            prague_offset_s(datetime!(2026-10-25 01:00:00 UTC).unix_timestamp()),
            3_600
        );
        assert_eq!(
            fmt_date(local_day(to_micros(datetime!(2026-06-30 22:30 UTC)))),
            "2026-07-01"
        );
        assert_eq!(
            fmt_date(local_day(to_micros(datetime!(2026-01-31 22:30 UTC)))),
            "2026-01-31"
        );
        for y in 1990..2040 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m) {
                    let z = days_from_civil(y, m, d);
                    assert_eq!(civil_from_days(z), (y, m, d));
                    let date = time::Date::from_calendar_date(
                        y as i32,
                        time::Month::try_from(m as u8).expect("test data"),
                        d as u8,
                    )
                    .expect("test data");
                    assert_eq!(date.to_julian_day() as i64 - 2_440_588, z);
                }
            }
        }
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
}
