//! The background sync: keeps each connected account's balances and transactions in the club's
//! schema, exactly once, whatever crashes in between.
//!
//! `jobs` owns `app.sync_jobs` (claim with `FOR UPDATE SKIP LOCKED`, lease, heartbeat, fence);
//! `ledger` owns the tenant tables (`transactions`, `balances`, `sync_runs`, the account's
//! watermark) and writes one sync's result in one tenant transaction; `stage` owns the
//! staging table (unlogged, in the club's schema) a download's rows are copied into while its
//! pages arrive; `worker` runs the loop (a fetch task hands the pages to the writer);
//! `outcome` types what leaves the sync (a run's outcome and trigger, a problem's kind beside
//! its technical text); `views` reads the club's bank data for pages.
//! Access tokens come from an [`AccessTokens`] provider (the consent module), so this module
//! never sees refresh tokens or client secrets.

pub mod history;
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
/// the commit: the payment matching (`payment::AfterSync`) and the balance watch
/// (`watch::AfterSync`), composed with [`Both`] and wired in `app`, so a payment is matched and a
/// low balance announced in the same transaction that stores them. An error rolls the sync back
/// (it is retried like any failed sync). `sync` never imports those modules.
///
/// The same hooks hear of an account whose history is deleted (`consent`'s disconnect):
/// [`AfterLedgerApply::before_account_deleted`] first, in the deleting transaction, then
/// [`AfterLedgerApply::after_apply`] once the account's rows are gone (matching runs again, so
/// charges its payments paid are open again or settled from other credit).
pub trait AfterLedgerApply: Send + Sync + 'static {
    fn after_apply<'a>(
        &'a self,
        tx: &'a mut crate::db::tenant::TenantTx,
        account_id: Uuid,
        now: time::OffsetDateTime,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>>;

    /// The account and its whole history are about to be deleted in `tx`: forget what refers to
    /// it without a foreign key, or what a cascade would leave inconsistent. Does nothing by
    /// default.
    fn before_account_deleted<'a>(
        &'a self,
        tx: &'a mut crate::db::tenant::TenantTx,
        account_id: Uuid,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>> {
        let _ = (tx, account_id);
        Box::pin(async { Ok(()) })
    }
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

/// Two hooks, the first, then the second, in the same transaction (`Both(a, Both(b, c))` for
/// more).
#[derive(Debug, Clone, Copy, Default)]
pub struct Both<A, B>(pub A, pub B);

impl<A: AfterLedgerApply, B: AfterLedgerApply> AfterLedgerApply for Both<A, B> {
    fn after_apply<'a>(
        &'a self,
        tx: &'a mut crate::db::tenant::TenantTx,
        account_id: Uuid,
        now: time::OffsetDateTime,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            self.0.after_apply(tx, account_id, now).await?;
            self.1.after_apply(tx, account_id, now).await
        })
    }

    fn before_account_deleted<'a>(
        &'a self,
        tx: &'a mut crate::db::tenant::TenantTx,
        account_id: Uuid,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            self.0.before_account_deleted(tx, account_id).await?;
            self.1.before_account_deleted(tx, account_id).await
        })
    }
}

pub mod jobs;
pub mod ledger;
pub mod outcome;
pub mod stage;
pub mod worker;

pub use outcome::{Failure, Problem, RunOutcome, Trigger};
pub use worker::{SyncDeps, SyncSettings, Worker, run_once};
