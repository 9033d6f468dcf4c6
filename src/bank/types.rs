//! Wire types of KB's APIs (ADAA v1/v2, OAuth2 token endpoint, Client Registration, error bodies),
//! as serde structs. Unknown fields are ignored; everything KB's specs, fixtures or examples show
//! as optional is an `Option`. Enumerations KB may extend keep unknown values in an `Unknown`
//! variant instead of failing the whole response. Money is exact (see [`crate::bank::money`]).

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::money::{InformationalMoney, Money};
use crate::secret::Secret;
use serde_json::value::RawValue;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

time::serde::format_description!(kb_date, Date, "[year]-[month]-[day]");

/// Date-times as KB sends them: RFC 3339 (`2022-06-16T11:07:03.156Z`, `2019-06-05T11:34:00Z`,
/// up to microseconds); a missing zone is read as UTC rather than rejected.
pub(crate) mod kb_datetime {
    use super::*;

    const NO_ZONE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );

    pub fn parse(text: &str) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
            PrimitiveDateTime::parse(text, NO_ZONE)
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        })
    }

    pub fn serialize<S: Serializer>(value: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = value.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| D::Error::custom("invalid date-time"))
    }
}

/// A JSON scalar read as text: strings stay, numbers and booleans are printed (for fields that
/// KB documents as one type and examples show as another, e.g. `acr`, `bin`).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        Some(_) => return Err(D::Error::custom("expected a string or a number")),
    })
}

/// An integer that may arrive as a number or a numeric string (`expires_in`).
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match lenient_string(d)? {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom("expected an integer")),
    }
}

/// A list that some KB responses send as a comma-separated string instead of an array.
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => Vec::new(),
        Some(Either::List(items)) => items,
        Some(Either::Text(text)) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Declares a string enumeration with known variants plus `Unknown(String)` for values KB may add.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => [$wire:literal $(, $alias:literal)*]),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this client does not know (kept verbatim).
            Unknown(String),
        }

        impl $name {
            /// The wire value (for known variants the canonical spelling).
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Unknown(value) => value,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($wire $(| $alias)* => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = String::deserialize(d)?;
                Ok(Self::from(value.as_str()))
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// ADAA: accounts and balances
// ---------------------------------------------------------------------------------------------

/// `GET /accounts` item: an account the user chose when registering the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Opaque id for the other ADAA calls (sandbox: base64url of `IBAN:CURRENCY`).
    pub account_id: String,
    pub iban: String,
    pub currency: String,
    /// v2: localized account name.
    #[serde(default, rename = "nameI18N", skip_serializing_if = "Option::is_none")]
    pub name_i18n: Option<String>,
    /// v2: localized product name.
    #[serde(
        default,
        rename = "productI18N",
        skip_serializing_if = "Option::is_none"
    )]
    pub product_i18n: Option<String>,
}

/// Direction of an amount or the sign of a balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CreditDebitIndicator {
    /// Incoming money, or a balance >= 0.
    Credit,
    /// Outgoing money, or a balance < 0.
    Debit,
}

impl CreditDebitIndicator {
    /// Applies the indicator to an absolute amount (KB sends amounts without sign).
    pub fn signed(self, minor_units: i64) -> i64 {
        match self {
            Self::Credit => minor_units.saturating_abs(),
            Self::Debit => -minor_units.saturating_abs(),
        }
    }
}

open_enum! {
    /// Balance type. KB returns `CLOSING_AVAILABLE` (available incl. card holds) and
    /// `PREVIOUSLY_CLOSED_BOOK` (booked, as of the previous day's close).
    BalanceType {
        ClosingAvailable => ["CLOSING_AVAILABLE"],
        PreviouslyClosedBook => ["PREVIOUSLY_CLOSED_BOOK"],
        /// Documented, reportedly unused.
        ClosingBooked => ["CLOSING_BOOKED"],
    }
}

/// `GET /accounts/{id}/balances` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBalance {
    #[serde(rename = "type")]
    pub balance_type: BalanceType,
    pub credit_debit_indicator: CreditDebitIndicator,
    /// Absolute value; the sign is in `credit_debit_indicator`.
    pub amount: Money,
    #[serde(with = "kb_datetime")]
    pub valid_at: OffsetDateTime,
    /// Allowed overdraft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_line: Option<Money>,
}

impl AccountBalance {
    /// The balance in minor units with its sign applied.
    pub fn signed_minor_units(&self) -> i64 {
        self.credit_debit_indicator.signed(self.amount.minor_units)
    }
}

// ---------------------------------------------------------------------------------------------
// ADAA: transactions
// ---------------------------------------------------------------------------------------------

open_enum! {
    /// `accountType` of a transaction.
    AccountType {
        /// KB account.
        Kb => ["KB"],
        /// Aggregated account.
        Ag => ["AG"],
    }
}

open_enum! {
    /// `transactionType`.
    TransactionType {
        Interest => ["INTEREST"],
        Fee => ["FEE"],
        Domestic => ["DOMESTIC"],
        Foreign => ["FOREIGN"],
        Sepa => ["SEPA"],
        Cash => ["CASH"],
        Card => ["CARD"],
        Other => ["OTHER"],
    }
}

open_enum! {
    /// Transaction `status`. Pending is spelled `PNG` in sandbox data and `PDNG` in the wiki;
    /// both are read as [`TransactionStatus::Pending`].
    TransactionStatus {
        /// Booked.
        Booked => ["BOOK"],
        /// Pending (e.g. a card hold), may still change or disappear.
        Pending => ["PDNG", "PNG"],
        /// Scheduled (a future-dated order), may still be cancelled.
        Scheduled => ["SCHD"],
        /// Cancelled before it was booked.
        Cancelled => ["CNCL", "CANC"],
        /// Rejected by the bank.
        Rejected => ["RJCT"],
    }
}

/// Bank transaction code (`CBA` 11-digit codes in production, `OTHER` in the sandbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTransactionCode {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// The other party of a transaction; any subset may be missing (card payments: only `name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterParty {
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub iban: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// National account number, zero-padded to 16 digits (`0000002795161113`).
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_no: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bank_bic: Option<String>,
    /// Czech bank code (`0100`); foreign banks may have other formats.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bank_code: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub bank_name: Option<String>,
}

/// Payment references, including the Czech symbols (as strings; leading zeros not guaranteed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct References {
    /// KB's payment id: the stable identity of a transaction (kept from pending to booked).
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_servicer: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_to_end_identification: Option<String>,
    /// Variable symbol (VS), up to 10 digits.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub variable: Option<String>,
    /// Constant symbol (KS), up to 4 digits.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub constant: Option<String>,
    /// Specific symbol (SS), up to 10 digits.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub specific: Option<String>,
    /// Message for the payee (remittance information).
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub receiver: Option<String>,
    /// v2: the account owner's own note.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub my_description: Option<String>,
    /// Seen in third-party code only.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub sender: Option<String>,
}

/// Card hold details of a pending card transaction (informational: an unreadable value is
/// dropped and flagged, never fails the transaction).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardTransactionDetails {
    #[serde(
        default,
        with = "kb_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub hold_expiration_date: Option<Date>,
    /// KB sent card details Kasa could not read (they were dropped).
    #[serde(skip)]
    pub unreadable: bool,
}

fn lenient_card<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<CardTransactionDetails>, D::Error> {
    let raw = Option::<Box<RawValue>>::deserialize(d)?;
    Ok(raw.map(|raw| {
        serde_json::from_str::<CardTransactionDetails>(raw.get()).unwrap_or(
            CardTransactionDetails {
                hold_expiration_date: None,
                unreadable: true,
            },
        )
    }))
}

/// A boolean that may arrive as `"true"`/`"false"` text.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match lenient_string(d)?.as_deref().map(str::trim) {
        None => Ok(None),
        Some("true" | "TRUE" | "True") => Ok(Some(true)),
        Some("false" | "FALSE" | "False") => Ok(Some(false)),
        Some(_) => Err(D::Error::custom("expected true or false")),
    }
}

/// One account transaction (`AccountTransaction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    #[serde(with = "kb_datetime")]
    pub last_updated: OffsetDateTime,
    pub account_type: AccountType,
    /// Bank posting reference; may contain spaces. Not the stable id (see `references`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_reference: Option<String>,
    /// The account's own IBAN.
    pub iban: String,
    pub credit_debit_indicator: CreditDebitIndicator,
    pub transaction_type: TransactionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_transaction_code: Option<BankTransactionCode>,
    /// Absolute amount, normally in the account currency.
    pub amount: Money,
    #[serde(
        default,
        with = "kb_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub booking_date: Option<Date>,
    #[serde(
        default,
        with = "kb_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub value_date: Option<Date>,
    /// Original (instructed) amount, e.g. the EUR amount of a SEPA payment booked in CZK
    /// (informational: rounded or dropped with a flag when KB sends an odd value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructed: Option<InformationalMoney>,
    /// Storno flag (how it combines with `creditDebitIndicator` is a setting:
    /// [`ReversalConvention`]).
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub reversal_indicator: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TransactionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_party: Option<CounterParty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<References>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_transaction_information: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_card",
        skip_serializing_if = "Option::is_none"
    )]
    pub card_transaction_details: Option<CardTransactionDetails>,
}

impl Transaction {
    /// `references.accountServicer`: KB's stable transaction id (same when pending and booked).
    pub fn account_servicer(&self) -> Option<&str> {
        self.references
            .as_ref()
            .and_then(|r| r.account_servicer.as_deref())
            .filter(|s| !s.is_empty())
    }

    /// The amount in minor units, negative for debits.
    pub fn signed_minor_units(&self) -> i64 {
        self.credit_debit_indicator.signed(self.amount.minor_units)
    }

    /// Whether KB reports the transaction as pending (`PNG`/`PDNG`).
    pub fn is_pending(&self) -> bool {
        self.status == Some(TransactionStatus::Pending)
    }

    /// Whether KB marks the transaction as a reversal (storno).
    pub fn is_reversal(&self) -> bool {
        self.reversal_indicator == Some(true)
    }

    /// The money movement in minor units (credits > 0) under KB's reversal `convention`: with
    /// [`ReversalConvention::OwnDirection`] every row's `creditDebitIndicator` is the direction
    /// of its own movement; with [`ReversalConvention::OriginalDirection`] a reversal carries its
    /// original's direction, so it moves the opposite way (GPC accounting codes 4 and 5).
    pub fn movement_minor_units(&self, convention: ReversalConvention) -> i64 {
        let own = self.signed_minor_units();
        match convention {
            ReversalConvention::OriginalDirection if self.is_reversal() => -own,
            _ => own,
        }
    }

    /// The instructed amount, when KB sent one Kasa could read (possibly rounded: see
    /// [`InformationalMoney`]).
    pub fn instructed_money(&self) -> Option<&Money> {
        self.instructed.as_ref().and_then(|i| i.money.as_ref())
    }

    /// What Kasa tolerated in this row's informational fields, as short machine-readable flags
    /// (`instructed_rounded`, `instructed_unreadable`, `card_details_unreadable`,
    /// `unknown_status:X`, `unknown_transaction_type:X`, `unknown_account_type:X`,
    /// `long_text:<field>`). Empty for a clean row.
    pub fn read_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(instructed) = &self.instructed {
            if instructed.rounded {
                flags.push("instructed_rounded".to_owned());
            }
            if instructed.unreadable {
                flags.push("instructed_unreadable".to_owned());
            }
        }
        if self
            .card_transaction_details
            .as_ref()
            .is_some_and(|c| c.unreadable)
        {
            flags.push("card_details_unreadable".to_owned());
        }
        if let Some(TransactionStatus::Unknown(value)) = &self.status {
            flags.push(format!("unknown_status:{value}"));
        }
        if let TransactionType::Unknown(value) = &self.transaction_type {
            flags.push(format!("unknown_transaction_type:{value}"));
        }
        if let AccountType::Unknown(value) = &self.account_type {
            flags.push(format!("unknown_account_type:{value}"));
        }
        let party = self.counter_party.clone().unwrap_or_default();
        let refs = self.references.clone().unwrap_or_default();
        let texts = [
            ("counterParty.name", party.name, TEXT_LIMIT_NAME),
            ("references.receiver", refs.receiver, TEXT_LIMIT_MESSAGE),
            (
                "references.myDescription",
                refs.my_description,
                TEXT_LIMIT_NOTE,
            ),
            ("references.variable", refs.variable, TEXT_LIMIT_SYMBOL),
            ("references.constant", refs.constant, TEXT_LIMIT_SYMBOL),
            ("references.specific", refs.specific, TEXT_LIMIT_SYMBOL),
            (
                "additionalTransactionInformation",
                self.additional_transaction_information.clone(),
                TEXT_LIMIT_NOTE,
            ),
        ];
        for (field, text, limit) in texts {
            if text.is_some_and(|t| t.chars().count() > limit) {
                flags.push(format!("long_text:{field}"));
            }
        }
        flags
    }

    /// Reads one `content` item of a transaction page. An item whose accounting fields
    /// (amount, currency, direction, dates, `lastUpdated`, reversal flag) cannot be read
    /// exactly comes back as [`UnreadableTransaction`] with whatever could be salvaged; odd
    /// informational fields never fail the row (see [`Transaction::read_flags`]).
    pub fn read(raw: &str) -> Result<Transaction, Box<UnreadableTransaction>> {
        serde_json::from_str::<Transaction>(raw)
            .map_err(|e| Box::new(UnreadableTransaction::salvage(raw, &e)))
    }
}

/// Longest documented text of a name (Czech payment norms allow 140 characters for texts).
pub const TEXT_LIMIT_NAME: usize = 140;
/// Longest message for the payee (`references.receiver`).
pub const TEXT_LIMIT_MESSAGE: usize = 140;
/// Longest free text (`additionalTransactionInformation` is documented as ≤ 500).
pub const TEXT_LIMIT_NOTE: usize = 500;
/// Longest Czech symbol (VS and SS: 10 digits; KS: 4).
pub const TEXT_LIMIT_SYMBOL: usize = 10;

/// How KB marks the direction of a reversal (storno). KB's documents do not say
/// (`reversalIndicator` usage is a gap in the spec), so this is the setting
/// `KASA_KB_REVERSAL_CONVENTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReversalConvention {
    /// `creditDebitIndicator` is the reversal's own direction (ISO 20022 camt.053 style: a
    /// storno of an incoming payment is a `DEBIT` with `reversalIndicator: true`). Default.
    #[default]
    OwnDirection,
    /// `creditDebitIndicator` repeats the original's direction and `reversalIndicator` turns it
    /// around (the Czech GPC format's accounting codes 4 and 5).
    OriginalDirection,
}

impl ReversalConvention {
    /// The setting's value (`own-direction` or `original-direction`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OwnDirection => "own-direction",
            Self::OriginalDirection => "original-direction",
        }
    }

    /// Reads the setting's value.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "own-direction" | "own" => Some(Self::OwnDirection),
            "original-direction" | "original" => Some(Self::OriginalDirection),
            _ => None,
        }
    }
}

/// A transaction-page item Kasa could not read: kept raw (the club's schema stores it and the
/// account page shows it as "a movement Kasa could not read"), with what could be salvaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableTransaction {
    /// `as:` + `accountServicer` when readable, else `raw:` + SHA-256 of the item's text.
    pub bank_key: String,
    /// The item exactly as KB sent it (JSON text).
    pub raw: String,
    /// Why it could not be read (serde's message without the quoted values).
    pub problem: String,
    /// The movement in minor units (credits > 0), when amount and direction were readable
    /// exactly (reversal convention: own direction).
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    /// `bookingDate`, or `valueDate`, when readable (a Prague business date).
    pub date: Option<Date>,
    /// KB's `status` literal, when it was text.
    pub status: Option<String>,
}

impl UnreadableTransaction {
    fn salvage(raw: &str, error: &serde_json::Error) -> Self {
        use sha2::Digest;
        let fields: std::collections::HashMap<String, Box<RawValue>> =
            serde_json::from_str(raw).unwrap_or_default();
        let text = |name: &str| -> Option<String> {
            fields
                .get(name)
                .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
        };
        let servicer = fields
            .get("references")
            .and_then(|v| serde_json::from_str::<serde_json::Value>(v.get()).ok())
            .and_then(|v| v.get("accountServicer")?.as_str().map(str::to_owned))
            .filter(|s| !s.is_empty());
        let bank_key = match servicer {
            Some(id) => format!("as:{id}"),
            None => format!("raw:{}", hex::encode(sha2::Sha256::digest(raw.as_bytes()))),
        };
        let amount = fields
            .get("amount")
            .and_then(|v| serde_json::from_str::<Money>(v.get()).ok());
        let direction = fields
            .get("creditDebitIndicator")
            .and_then(|v| serde_json::from_str::<CreditDebitIndicator>(v.get()).ok());
        let date = ["bookingDate", "valueDate"].iter().find_map(|name| {
            text(name).and_then(|d| {
                Date::parse(
                    &d,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .ok()
            })
        });
        let problem = super::error::shorten(&strip_quoted(&error.to_string()));
        UnreadableTransaction {
            bank_key,
            raw: raw.to_owned(),
            problem,
            amount_minor: match (&amount, direction) {
                (Some(m), Some(d)) => Some(d.signed(m.minor_units)),
                _ => None,
            },
            currency: amount.map(|m| m.currency).or_else(|| {
                fields
                    .get("amount")
                    .and_then(|v| serde_json::from_str::<serde_json::Value>(v.get()).ok())
                    .and_then(|v| v.get("currency")?.as_str().map(str::to_owned))
            }),
            date,
            status: text("status"),
        }
    }
}

/// A message without the values it quotes (they may be personal data).
fn strip_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_quotes = false;
    for c in text.chars() {
        if c == '`' || c == '"' {
            in_quotes = !in_quotes;
            out.push(c);
        } else if !in_quotes {
            out.push(c);
        }
    }
    out
}

/// One page of `GET /accounts/{id}/transactions` as the sync reads it: every item read on its
/// own ([`Transaction::read`]), so one odd item never fails the page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionSlice {
    pub transactions: Vec<Transaction>,
    pub unreadable: Vec<UnreadableTransaction>,
    /// Items on this page, readable or not.
    pub received: usize,
    pub total_pages: u32,
    pub last: bool,
    pub empty: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPage {
    #[serde(default)]
    content: Vec<Box<RawValue>>,
    #[serde(default)]
    total_pages: u32,
    #[serde(default)]
    last: bool,
    #[serde(default)]
    empty: bool,
}

impl TransactionSlice {
    /// Reads a page body; fails only when the page itself is not a `PageSlice`.
    pub fn from_body(body: &[u8]) -> Result<TransactionSlice, serde_json::Error> {
        let page: RawPage = serde_json::from_slice(body)?;
        let mut slice = TransactionSlice {
            received: page.content.len(),
            total_pages: page.total_pages,
            last: page.last,
            empty: page.empty,
            ..TransactionSlice::default()
        };
        for item in page.content {
            match Transaction::read(item.get()) {
                Ok(t) => slice.transactions.push(t),
                Err(u) => slice.unreadable.push(*u),
            }
        }
        Ok(slice)
    }
}

/// One page of `GET /accounts/{id}/transactions` (`PageSlice`). KB documents every field as
/// required; they are defaulted here so that a trimmed page still parses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionPage {
    #[serde(default)]
    pub content: Vec<Transaction>,
    #[serde(default)]
    pub total_pages: u32,
    #[serde(default)]
    pub page_number: u32,
    #[serde(default)]
    pub page_size: u32,
    #[serde(default)]
    pub number_of_elements: u32,
    #[serde(default)]
    pub first: bool,
    #[serde(default)]
    pub last: bool,
    #[serde(default)]
    pub empty: bool,
}

// ---------------------------------------------------------------------------------------------
// ADAA: statements and event subscriptions
// ---------------------------------------------------------------------------------------------

/// `GET /accounts/{id}/statements` item (a PDF statement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(with = "kb_date")]
    pub issued: Date,
    /// 0 for one-off statements.
    #[serde(default)]
    pub sequence_number: i64,
    #[serde(default)]
    pub pages_count: i64,
    pub statement_id: i64,
    #[serde(default)]
    pub archive: bool,
}

/// Body of `POST …/transactions/event-subscriptions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest {
    /// Base URL of the app's Event API; KB calls `GET {eventApiUrl}/version` before accepting.
    pub event_api_url: String,
    /// Shared secret KB sends back as `x-api-key`.
    #[serde(serialize_with = "serialize_secret")]
    pub event_api_key: Secret<String>,
}

/// Writes a secret into a request body that must carry it to KB.
fn serialize_secret<S: Serializer>(secret: &Secret<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_str())
}

open_enum! {
    /// State of an event subscription.
    SubscriptionStatus {
        Active => ["ACTIVE"],
        /// KB could not reach the Event API and keeps retrying.
        Suspended => ["SUSPENDED"],
        /// Final; a new subscription is needed.
        Stopped => ["STOPPED"],
    }
}

/// An event subscription (`SubscriptionInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInfo {
    pub subscription_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SubscriptionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_narrative: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// OAuth2 and Client Registration
// ---------------------------------------------------------------------------------------------

/// Token endpoint response. The code exchange returns a refresh token (12 months); a refresh
/// returns only a new access token (≈3 minutes): keep using the old refresh token.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret<String>,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Lifetime of the access token in seconds.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<Secret<String>>,
    #[serde(default)]
    pub scope: Option<String>,
    /// Authentication context (`"0"` = non-SCA), number or string or null.
    #[serde(default, deserialize_with = "lenient_string")]
    pub acr: Option<String>,
}

impl TokenResponse {
    /// When the access token expires, counted from `received_at`.
    pub fn expires_at(&self, received_at: OffsetDateTime) -> Option<OffsetDateTime> {
        self.expires_in
            .map(|secs| received_at + time::Duration::seconds(secs))
    }
}

/// Client credentials from the application registration (`client_secret_post`).
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Secret<String>,
}

/// Body of `POST /software-statements` (Client Registration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareStatementRequest {
    /// Czech name, 5–50 chars, shown to the user.
    pub software_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_name_en: Option<String>,
    /// Developer-chosen id, at most 64 chars (e.g. 32 hex chars).
    pub software_id: String,
    /// 1–30 chars.
    pub software_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_uri: Option<String>,
    /// OAuth2 redirect URIs.
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types: Vec<String>,
    /// Where the Application Registration UI returns the encrypted client credentials.
    pub registration_back_uri: String,
    /// 1–2 unique entries like `"email: someone@example.org"`.
    pub contacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
}

impl SoftwareStatementRequest {
    /// A request with KB's working defaults: `client_secret_post`, grant types
    /// `authorization_code` + `refresh_token`, response type `code`.
    pub fn new(
        software_name: impl Into<String>,
        software_id: impl Into<String>,
        software_version: impl Into<String>,
        redirect_uris: Vec<String>,
        registration_back_uri: impl Into<String>,
        contacts: Vec<String>,
    ) -> Self {
        Self {
            software_name: software_name.into(),
            software_name_en: None,
            software_id: software_id.into(),
            software_version: software_version.into(),
            software_uri: None,
            redirect_uris,
            token_endpoint_auth_method: Some("client_secret_post".to_owned()),
            grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
            response_types: vec!["code".to_owned()],
            registration_back_uri: registration_back_uri.into(),
            contacts,
            logo_uri: None,
            tos_uri: None,
            policy_uri: None,
        }
    }
}

/// The software statement: a JWT (valid 12 months) that goes into the registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareStatement(pub String);

/// Claims of a software statement, read without verifying the signature (KB signs it for KB).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareStatementClaims {
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub iat: Option<i64>,
    /// Missing in some statements; assume issue time + 12 months then.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub exp: Option<i64>,
    #[serde(default)]
    pub vendor_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub vendor_registration_number: Option<String>,
    #[serde(default)]
    pub software_name: Option<String>,
    #[serde(default)]
    pub software_id: Option<String>,
    #[serde(default)]
    pub software_version: Option<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub registration_back_uri: Option<String>,
}

impl SoftwareStatement {
    /// Reads a statement from the response body: a bare JWT, possibly quoted or padded with
    /// whitespace. `None` when it does not look like a JWT.
    pub fn from_body(body: &str) -> Option<Self> {
        let trimmed = body.trim();
        let text = serde_json::from_str::<String>(trimmed).unwrap_or_else(|_| trimmed.to_owned());
        let looks_like_jwt = text.split('.').count() == 3
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='));
        looks_like_jwt.then_some(Self(text))
    }

    /// Decodes the JWT payload (no signature check).
    pub fn claims(&self) -> Option<SoftwareStatementClaims> {
        use base64::Engine as _;
        let payload = self.0.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Error bodies
// ---------------------------------------------------------------------------------------------

/// Any JSON error body KB's gateways were seen to send: ADAA `{"errors":[{code?, message,
/// additionalInfo?}]}`, Client Registration `{"errors":[{errorCode, scope, description}]}`,
/// gateway `{"errors":[{"error":"UNAUTHORISED", message}]}`, Spring-style `{"status", "message",
/// "errors":["text"]}` and OAuth2 `{"error", "error_description"}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorResponse {
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
    /// OAuth2 error code (`invalid_grant`, ...).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
}

/// One entry of `errors`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ErrorEntry {
    Detail(ErrorDetail),
    Text(String),
}

/// A structured error entry (union of the shapes KB uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub additional_info: Option<AdditionalInfo>,
}

/// `additionalInfo` of an ADAA error. `rejectedValue` may echo request data: never log it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalInfo {
    #[serde(default)]
    pub parameter_name: Option<String>,
    #[serde(default)]
    pub rejected_value: Option<String>,
}

impl ErrorResponse {
    /// Every error code in the body (ADAA `code`, Client Registration `errorCode`, gateway
    /// `error`, OAuth2 `error`).
    pub fn codes(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self.error.iter().map(String::as_str).collect();
        for entry in &self.errors {
            if let ErrorEntry::Detail(d) = entry {
                codes.extend(
                    [&d.code, &d.error_code, &d.error]
                        .into_iter()
                        .filter_map(|c| c.as_deref()),
                );
            }
        }
        codes
    }

    /// Every human-readable message in the body (without rejected values).
    pub fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        out.extend(self.error_description.iter().cloned());
        out.extend(self.message.iter().cloned());
        for entry in &self.errors {
            match entry {
                ErrorEntry::Text(text) => out.push(text.clone()),
                ErrorEntry::Detail(d) => {
                    let text = d.message.as_deref().or(d.description.as_deref());
                    let field = d
                        .additional_info
                        .as_ref()
                        .and_then(|i| i.parameter_name.as_deref())
                        .or(d.scope.as_deref());
                    match (text, field) {
                        (Some(t), Some(f)) => out.push(format!("{t} ({f})")),
                        (Some(t), None) => out.push(t.to_owned()),
                        (None, Some(f)) => out.push(format!("invalid {f}")),
                        (None, None) => {}
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_status_accepts_both_spellings() -> Result<(), serde_json::Error> {
        for (wire, expected) in [
            ("\"PNG\"", TransactionStatus::Pending),
            ("\"PDNG\"", TransactionStatus::Pending),
            ("\"BOOK\"", TransactionStatus::Booked),
            (
                "\"REJECTED\"",
                TransactionStatus::Unknown("REJECTED".into()),
            ),
        ] {
            assert_eq!(serde_json::from_str::<TransactionStatus>(wire)?, expected);
        }
        Ok(())
    }

    #[test]
    fn sandbox_like_transaction_with_sepa_and_card_hold() -> Result<(), serde_json::Error> {
        let json = r#"{
            "lastUpdated": "2019-06-05T11:34:00Z",
            "accountType": "KB",
            "entryReference": "298-05062019 16020106916F1",
            "iban": "CZ1301000901147771800227",
            "creditDebitIndicator": "CREDIT",
            "transactionType": "SEPA",
            "bankTransactionCode": {"code": "100004", "issuer": "OTHER"},
            "amount": {"value": 681.81, "currency": "CZK"},
            "instructed": {"value": 27.28, "currency": "EUR"},
            "status": "PNG",
            "counterParty": {"iban": "FR7630003033000002054269605", "bankBic": "SOGEFRPPXXX", "bankCode": "30003"},
            "references": {"accountServicer": "311892adb7f2b601", "endToEndIdentification": "E2E-1", "variable": "6112047021", "constant": "0898", "specific": "3258999654", "receiver": "Příspěvek", "myDescription": "note"},
            "cardTransactionDetails": {"holdExpirationDate": "2022-05-03"},
            "someFutureField": {"x": 1}
        }"#;
        let tx: Transaction = serde_json::from_str(json)?;
        assert_eq!(tx.amount.minor_units, 68_181);
        assert_eq!(tx.instructed_money().map(|m| m.minor_units), Some(2728));
        assert!(tx.is_pending());
        assert_eq!(tx.account_servicer(), Some("311892adb7f2b601"));
        assert_eq!(tx.signed_minor_units(), 68_181);
        assert_eq!(
            tx.card_transaction_details
                .and_then(|c| c.hold_expiration_date),
            Some(time::macros::date!(2022 - 05 - 03))
        );
        let refs = tx.references.unwrap_or_default();
        assert_eq!(refs.variable.as_deref(), Some("6112047021"));
        assert_eq!(refs.constant.as_deref(), Some("0898"));
        assert_eq!(refs.specific.as_deref(), Some("3258999654"));
        Ok(())
    }

    #[test]
    fn date_times_are_lenient_but_exact() {
        let parsed = kb_datetime::parse("2023-06-08T07:30:27.21247Z");
        assert_eq!(parsed.map(|d| d.microsecond()), Some(212_470));
        assert!(kb_datetime::parse("2020-01-14T09:33:06.323").is_some());
        assert!(kb_datetime::parse("2020-01-14").is_none());
    }

    #[test]
    fn token_responses_code_exchange_and_refresh() -> Result<(), serde_json::Error> {
        let exchange: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","access_token":"a.b.c","id_token":null,"refresh_token":"r.s.t","expires_in":3600,"acr":null}"#,
        )?;
        assert_eq!(exchange.expires_in, Some(3600));
        assert_eq!(
            exchange.refresh_token.as_ref().map(Secret::expose_str),
            Some("r.s.t")
        );
        assert!(!format!("{exchange:?}").contains("a.b.c"));
        let refresh: TokenResponse = serde_json::from_str(
            r#"{"access_token":"x.y.z","scope":"adaa","token_type":"Bearer","expires_in":179}"#,
        )?;
        assert!(refresh.refresh_token.is_none());
        let odd: TokenResponse =
            serde_json::from_str(r#"{"access_token":"x","expires_in":"180","acr":0}"#)?;
        assert_eq!(odd.expires_in, Some(180));
        assert_eq!(odd.acr.as_deref(), Some("0"));
        Ok(())
    }

    #[test]
    fn software_statement_body_and_claims() {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            r#"{"iss":"Komerční Banka a.s.","iat":1,"exp":31536001,"vendorName":"Blok37 s.r.o.","vendorRegistrationNumber":"05435871","redirectUris":["https://a/cb"]}"#,
        );
        let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        let statement = SoftwareStatement::from_body(&format!("\n{jwt}\n"));
        assert_eq!(statement.as_ref().map(|s| s.0.as_str()), Some(jwt.as_str()));
        let claims = statement.and_then(|s| s.claims()).unwrap_or_default();
        assert_eq!(claims.exp, Some(31_536_001));
        assert_eq!(
            claims.vendor_registration_number.as_deref(),
            Some("05435871")
        );
        assert!(SoftwareStatement::from_body(&format!("\"{jwt}\"")).is_some());
        assert!(SoftwareStatement::from_body("<html>oops</html>").is_none());
    }

    #[test]
    fn error_bodies_of_every_known_shape() -> Result<(), serde_json::Error> {
        let spring: ErrorResponse = serde_json::from_str(
            r#"{"status":"BAD_REQUEST","timestamp":"23-07-2025 07:57:05","message":"Validation failed","errors":["One or more redirectUris are not valid due to not matching a URI pattern."]}"#,
        )?;
        assert_eq!(spring.messages().len(), 2);
        let cr: ErrorResponse = serde_json::from_str(
            r#"{"errors":[{"errorCode":"E1","scope":"contacts","description":"bad"}]}"#,
        )?;
        assert_eq!(cr.codes(), vec!["E1"]);
        assert_eq!(cr.messages(), vec!["bad (contacts)".to_owned()]);
        let gateway: ErrorResponse = serde_json::from_str(
            r#"{"errors":[{"error":"UNAUTHORISED","message":"Missing certificate or access token"}]}"#,
        )?;
        assert_eq!(gateway.codes(), vec!["UNAUTHORISED"]);
        let oauth: ErrorResponse =
            serde_json::from_str(r#"{"error":"invalid_grant","error_description":"expired"}"#)?;
        assert_eq!(oauth.codes(), vec!["invalid_grant"]);
        Ok(())
    }
}
