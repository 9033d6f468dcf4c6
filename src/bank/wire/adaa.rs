//! ADAA (Account Direct Access) resources other than the transaction list: the accounts the
//! user exposed, their balances, PDF statements and event subscriptions.

use serde::{Deserialize, Serialize, Serializer};
use time::{Date, OffsetDateTime};

use super::lenient::{kb_date, kb_datetime};
use crate::bank::money::Money;
use crate::secret::Secret;

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
