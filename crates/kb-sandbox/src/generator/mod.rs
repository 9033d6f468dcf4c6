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
//!
//! The parts, each owning one subject: `planner` (what happens on an account and when),
//! `accounts` (Czech account numbers, banks, IBANs, account ids), `names` (Czech people's names
//! and how banks print them), `catalogue` (the clubs, teams, merchants and payers drawn from),
//! `chance` (random choices), `render` (the transaction model and its ADAA JSON); Prague days
//! and KB's timestamp formats come from [`crate::calendar`].

mod accounts;
mod catalogue;
mod chance;
mod names;
mod planner;
mod render;

#[cfg(test)]
mod tests;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use time::OffsetDateTime;

pub use accounts::{valid_czech_account, valid_iban};
pub use planner::{
    DEMO_MEMBER_COUNT, DEMO_MEMBER_VS_FIRST, GeneratedAccount, GeneratorConfig, generate,
};
pub use render::{
    STATUS_BOOKED, STATUS_PENDING, STORNO_PREFIX, account_servicer, snapshot, storno_reference,
};

/// The fields the ADAA v2 `AccountTransaction` schema requires of every transaction
/// (adaa-api-v2.json); every generated row has them.
pub const REQUIRED_FIELDS: [&str; 6] = [
    "lastUpdated",
    "accountType",
    "iban",
    "amount",
    "creditDebitIndicator",
    "transactionType",
];

use crate::calendar::to_micros;
use names::Person;
use render::{BTC_DOMESTIC_IN, BTC_DOMESTIC_OUT, EntryStyle, Party, Refs, Tx, hex16, render};

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
