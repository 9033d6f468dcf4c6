//! Bank consent: connecting a club's KB account, keeping its tokens, renewing and disconnecting.
//!
//! Owns `app.bank_connections`, `app.consent_flows`, `app.software_statements` and
//! `app.event_subscriptions`. The connect journey sends the browser to KB twice (application
//! registration, then OAuth2 authorization); each leg is guarded by a one-time `state` of 256
//! bits, stored hashed, bound to the session, the person and the club, valid 10 minutes and
//! deleted on use. Nothing about the connection is written until the tokens are in hand, so a
//! failure anywhere leaves no half-connected record. Client secret, refresh token and cached
//! access token are stored only as [`crate::vault`] ciphertexts bound to their club, connection
//! and field. Knows nothing about HTTP: the web layer passes the session's values in.

pub mod calendar;
pub mod events;
pub mod flow;
pub mod operator;
pub mod reminders;
pub mod status;
pub mod store;
pub mod tokens;

use crate::bank::KbClient;
use crate::clock::SharedClock;
use crate::vault::Vault;
use sqlx::PgPool;
use std::sync::Arc;
use url::Url;

pub use status::{ConnectionState, ConnectionStatus, ConnectionView};

/// Everything the consent journeys need.
#[derive(Clone)]
pub struct Consent {
    pub pool: PgPool,
    pub kb: Arc<KbClient>,
    pub vault: Arc<Vault>,
    pub clock: SharedClock,
    /// Kasa's public address: the KB callbacks and the Event API live under it.
    pub public_url: Url,
    /// What the sync runs after a ledger change (matching, balance watch), run here when a
    /// disconnect deletes an account's history (`sync::AfterLedgerApply`, wired in `app`).
    pub ledger_hook: Arc<dyn crate::sync::AfterLedgerApply>,
}

impl Consent {
    /// Where KB sends the browser back after the application registration.
    pub fn registration_back_uri(&self) -> String {
        self.url("/kb/registered")
    }

    /// The OAuth2 redirect URI.
    pub fn redirect_uri(&self) -> String {
        self.url("/kb/authorized")
    }

    /// The base of Kasa's Event API (KB calls `{this}/version` and
    /// `{this}/subscriptions/{id}/events`).
    pub fn event_api_url(&self) -> String {
        self.url("/kb/events")
    }

    /// The club's current (not disconnected) connection as its pages show it, or `None`.
    /// Reads no secret column. Read in the page's own tenant transaction `tx` (the app
    /// schema's tables are schema-qualified): one connection per page.
    pub async fn connection(
        &self,
        tx: &mut crate::db::tenant::TenantTx,
    ) -> Result<Option<ConnectionView>, sqlx::Error> {
        let tenant_id = tx.tenant_id();
        let row = store::live_view(&mut **tx, tenant_id).await?;
        Ok(row.map(|row| ConnectionView::from_row(row, self.clock.now())))
    }

    /// The ids of the club's accounts that a live connection exposes now (the others are
    /// disconnected: their history stays readable, nothing syncs them).
    /// Read in the page's own tenant transaction `tx`, as [`Consent::connection`].
    pub async fn connected_accounts(
        &self,
        tx: &mut crate::db::tenant::TenantTx,
    ) -> Result<Vec<uuid::Uuid>, sqlx::Error> {
        let tenant_id = tx.tenant_id();
        store::connected_accounts(&mut **tx, tenant_id).await
    }

    fn url(&self, path: &str) -> String {
        let mut url = self.public_url.clone();
        url.set_path(path);
        url.set_query(None);
        url.to_string()
    }
}

/// How long a consent lasts when KB does not say otherwise.
pub const CONSENT_LIFETIME: time::Duration = time::Duration::days(365);
/// Remind the club this many days before the consent expires.
pub const REMINDER_DAYS: [i64; 4] = [30, 14, 7, 1];
