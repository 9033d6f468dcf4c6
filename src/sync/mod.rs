//! The background sync: keeps each connected account's balances and transactions in the club's
//! schema, exactly once, whatever crashes in between.
//!
//! `jobs` owns `app.sync_jobs` (claim with `FOR UPDATE SKIP LOCKED`, lease, heartbeat, fence);
//! `ledger` owns the tenant tables (`transactions`, `balances`, `sync_runs`, the account's
//! watermark) and writes one sync's result in one tenant transaction; `worker` runs the loop.
//! Access tokens come from an [`AccessTokens`] provider (the consent module), so this module
//! never sees refresh tokens or client secrets.

pub mod views;

use crate::bank::{Error as BankError, Secret};
use uuid::Uuid;

/// Gives the sync a valid access token for a bank connection (refreshing it when needed,
/// single-flight per connection). Implemented by the consent module.
pub trait AccessTokens: Send + Sync + 'static {
    /// A token valid for at least a minute.
    fn access_token(
        &self,
        connection_id: Uuid,
    ) -> impl std::future::Future<Output = Result<Secret<String>, BankError>> + Send;

    /// The token was refused (401): drop the cached one so the next call refreshes.
    fn invalidate(&self, connection_id: Uuid) -> impl std::future::Future<Output = ()> + Send;

    /// KB refused the refresh token: the consent is gone; mark the connection broken.
    fn consent_gone(
        &self,
        connection_id: Uuid,
        reason: &str,
    ) -> impl std::future::Future<Output = ()> + Send;
}

pub mod jobs;
pub mod ledger;
pub mod worker;

pub use worker::{SyncDeps, SyncSettings, Worker, run_once};
