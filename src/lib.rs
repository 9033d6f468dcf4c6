//! Kasa: a web application that watches a club's Komerční banka account and tracks member fees.
//!
//! The crate is organised by what each module owns (see ARCHITECTURE.md):
//! `config` (settings), `clock` (time, injectable), `db` (pools, the embedded cluster, tenancy),
//! `club` (clubs = tenants and their sign-up), `secret` (values never printed), `bank` (the KB API client), `auth` (people, passwords, sessions' credentials,
//! one-time tokens, throttling), `team` (teammates: memberships, roles, invitations), `member` (the club's members who pay
//! fees: registry, variable symbols, CSV import), `audit` (the tenant's
//! audit log), `mail` (outbox and delivery), `web` (HTTP only: translates requests to domain calls),
//! `app` (bootstrap that wires everything together).

rust_i18n::i18n!("locales", fallback = "cs");

/// Declares `pub struct $name(pub Uuid)`: the id of a row that crosses modules instead of a bare
/// UUID. It binds and decodes as the UUID (`sqlx(transparent)`), serialises as it, prints as it,
/// and converts from and into it (for modules that still keep bare ids).
macro_rules! uuid_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, serde::Serialize, serde::Deserialize,
        )]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                $name(id)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

pub mod account_number;
pub mod app;
pub mod audit;
pub mod auth;
pub mod balance_watch;
pub mod bank;
pub mod chart;
pub mod clock;
pub mod club;
pub mod config;
pub mod consent;
pub mod db;
pub mod export;
pub mod fee;
pub mod form_token;
pub mod housekeeping;
pub mod i18n;
pub mod iban;
pub mod ical;
pub mod limits;
pub mod live;
pub mod mail;
pub mod member;
pub mod pay_link;
pub mod payment;
pub mod payment_notice;
pub mod reminder;
pub mod report;
pub mod secret;
pub mod server;
pub mod spayd;
pub mod sync;
pub mod team;
pub mod telemetry;
pub mod vault;
pub mod web;

/// The KB simulator is its own crate (`crates/kb-sandbox`), which imports nothing of Kasa.
/// Re-exported so `kasa::kb_sandbox::…` keeps naming it; new code names `kb_sandbox::…` directly.
pub use kb_sandbox;
