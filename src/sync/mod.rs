//! The background sync: keeps each connected account's balances and transactions in the club's
//! schema, exactly once, whatever crashes in between.
//!
//! `jobs` owns `app.sync_jobs` (claim with `FOR UPDATE SKIP LOCKED`, lease, heartbeat, fence);
//! `ledger` owns the tenant tables (`transactions`, `balances`, `sync_runs`, the account's
//! watermark) and writes one sync's result in one tenant transaction; `worker` runs the loop;
//! `outcome` types what leaves the sync (a run's outcome and trigger, a problem's kind beside
//! its technical text); `views` reads the club's bank data for pages.
//! Access tokens come from an [`AccessTokens`] provider (the consent module), so this module
//! never sees refresh tokens or client secrets.

pub mod movements;
pub mod standing;
pub mod statements;
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

/// Runs inside a sync's tenant transaction right after [`ledger::apply`] wrote the ledger, before
/// the commit: the payment matching (implemented by `payment::AfterSync`, wired in `app`), so a
/// payment is matched in the same transaction that stores it. An error rolls the sync back (it is
/// retried like any failed sync). `sync` never imports `payment`.
pub trait AfterLedgerApply: Send + Sync + 'static {
    fn after_apply<'a>(
        &'a self,
        tx: &'a mut crate::db::tenant::TenantTx,
        account_id: Uuid,
        now: time::OffsetDateTime,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>>;
}

/// A hook that does nothing (tests of the sync alone).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl AfterLedgerApply for NoHook {
    fn after_apply<'a>(
        &'a self,
        _tx: &'a mut crate::db::tenant::TenantTx,
        _account_id: Uuid,
        _now: time::OffsetDateTime,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async { Ok(()) })
    }
}

pub mod jobs;
pub mod ledger;
pub mod outcome;
pub mod worker;

pub use outcome::{Failure, Problem, RunOutcome, Trigger};
pub use worker::{SyncDeps, SyncSettings, Worker, run_once};
