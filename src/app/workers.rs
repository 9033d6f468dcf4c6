//! The background workers and what they share: mail delivery, the sync, consent reminders and
//! operator warnings (hourly), housekeeping, the deletion of expired sessions and the spare club
//! schemas' replenisher (`db::spares`).
//!
//! `kasa worker` runs only these ([`Workers::run`]); `kasa serve` spawns them beside the web
//! application, whose state `app` builds from the same [`WorkerDeps`] (one pool, one mailer,
//! one sync wake-up). Nothing here knows the web layer.

use crate::auth::Email;
use crate::bank::{ClientIdentity, KbClient, KbSettings};
use crate::clock::SharedClock;
use crate::config::{Config, VaultSetting};
use crate::consent::Consent;
use crate::housekeeping::Retention;
use crate::mail::{Links, Mailer, delivery::Delivery};
use crate::sync::worker::{SyncDeps, SyncSettings, Worker};
use crate::vault::Vault;
use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower_sessions::ExpiredDeletion;
use tower_sessions_sqlx_store::PostgresStore;
use url::Url;
use uuid::Uuid;

/// What the background workers use; `kasa serve`'s web state shares these values.
#[derive(Clone)]
pub struct WorkerDeps {
    pub pool: PgPool,
    pub clock: SharedClock,
    /// Queues mail and wakes the delivery worker.
    pub mailer: Mailer,
    /// The bank-consent journeys and token store (the sync's access tokens).
    pub consent: Consent,
    /// The KB API client (one process-wide HTTP client with the operator's identity).
    pub kb: Arc<KbClient>,
    /// The KB client identity (for the certificate's expiry warnings).
    pub kb_identity: Option<ClientIdentity>,
    /// Extra recipients of the operator's expiry warnings (`KASA_OPERATOR_EMAILS`).
    pub operator_emails: Arc<Vec<Email>>,
    /// Wakes the sync worker when an account became due (a KB notification, a new connection).
    pub sync_wake: Arc<Notify>,
}

/// The background workers of one process, assembled and not yet started.
pub struct Workers {
    pub deps: WorkerDeps,
    /// The address people reach Kasa at (links in mails, KB's redirect addresses).
    pub public_url: Url,
    /// The session store (`app.sessions`): the web layer's sessions, whose expired rows the
    /// workers delete.
    pub sessions: PostgresStore,
    delivery: Option<Delivery>,
    sync: Option<Worker<Consent>>,
    retention: Retention,
    /// The spare schemas' replenisher (`db::spares::run`): how many to keep ready and the
    /// one-connection pool it listens on; `None` when `KASA_SPARE_SCHEMAS` is 0.
    spares: Option<(usize, PgPool)>,
}

impl Workers {
    /// Opens the pool and assembles the workers over an up-to-date database (`app::migrate`
    /// ran). `local_addr` is where Kasa listens (the public address when none is configured;
    /// without SMTP, mail may stay in the outbox only when both are local).
    pub async fn new(
        config: &Config,
        options: PgConnectOptions,
        clock: SharedClock,
        local_addr: SocketAddr,
        kb: &KbSettings,
    ) -> anyhow::Result<Workers> {
        let kb_client = Arc::new(KbClient::new(kb.clone()).context("KB client settings")?);
        let vault = Arc::new(match &config.vault {
            VaultSetting::File(path) => Vault::load_or_create(path)?,
            VaultSetting::Keys(keys) => Vault::from_spec(keys)?,
            VaultSetting::Ephemeral => Vault::ephemeral(),
        });
        // The replenisher listens for claims on a connection of its own.
        let spares = (config.spare_schemas > 0).then(|| {
            let listen = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(crate::db::runtime_options(options.clone()));
            (config.spare_schemas, listen)
        });
        let pool = crate::db::connect_pool(options, config.db_max_connections).await?;
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{local_addr}"))?,
        };
        let sessions = session_store(&pool).await?;
        let delivery = match &config.smtp_url {
            Some(url) => Some(Delivery::new(url.expose(), &config.mail_from)?),
            None if crate::config::dev_mailbox_allowed(local_addr, &public_url) => None,
            None => anyhow::bail!(crate::config::NO_SMTP_MESSAGE),
        };
        let deps = WorkerDeps {
            pool: pool.clone(),
            clock: clock.clone(),
            mailer: Mailer::new(pool.clone(), Links::new(public_url.clone())),
            consent: Consent {
                pool,
                kb: kb_client.clone(),
                vault,
                clock,
                public_url: public_url.clone(),
                ledger_hook: ledger_hook(Links::new(public_url.clone())),
            },
            kb: kb_client,
            kb_identity: kb.identity.clone(),
            operator_emails: Arc::new(config.operator_emails.clone()),
            sync_wake: Arc::new(Notify::new()),
        };
        let sync = config
            .run_sync_worker
            .then(|| sync_worker(&deps, config.sync.clone()));
        Ok(Workers {
            deps,
            public_url,
            sessions,
            delivery,
            sync,
            retention: config.retention.clone(),
            spares,
        })
    }

    /// Whether mail stays in the outbox, shown on the local mailbox page (no SMTP configured).
    pub fn mailbox_only(&self) -> bool {
        self.delivery.is_none()
    }

    /// Starts every worker; they end when `stop` turns true.
    pub fn spawn(self, stop: &watch::Receiver<bool>) -> JoinSet<()> {
        let mut workers = JoinSet::new();
        let deps = self.deps;
        workers.spawn(housekeeping(deps.clone(), self.retention, stop.clone()));
        if let Some(delivery) = self.delivery {
            workers.spawn(delivery.run(deps.mailer.clone(), deps.clock.clone(), stop.clone()));
        }
        if let Some(worker) = self.sync {
            workers.spawn(worker.run(stop.clone(), deps.sync_wake.clone()));
        }
        if let Some((target, listen)) = self.spares {
            let run = crate::db::spares::run(deps.pool.clone(), listen, target, stop.clone());
            workers.spawn(run);
        }
        workers.spawn(hourly(deps, stop.clone()));
        let sessions = self.sessions;
        let mut cleanup_stop = stop.clone();
        workers.spawn(async move {
            tokio::select! {
                _ = sessions.continuously_delete_expired(tokio::time::Duration::from_secs(300)) => {}
                _ = cleanup_stop.changed() => {}
            }
        });
        workers
    }

    /// Runs the workers until `shutdown` completes, then stops them and closes the pool:
    /// `kasa worker`.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let pool = self.deps.pool.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut workers = self.spawn(&stop_rx);
        shutdown.await;
        let _ = stop_tx.send(true);
        while workers.join_next().await.is_some() {}
        pool.close().await;
    }
}

/// The session store, in schema `app` (created if missing).
pub async fn session_store(pool: &PgPool) -> Result<PostgresStore, sqlx::Error> {
    let store = PostgresStore::new(pool.clone())
        .with_schema_name("app")
        .map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?
        .with_table_name("sessions")
        .map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
    store.migrate().await?;
    Ok(store)
}

/// A name for this process's claims on sync jobs (visible in `app.sync_jobs.lease_owner`).
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!(
        "{}:{}:{}",
        host.trim(),
        std::process::id(),
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

/// What runs after every ledger change (a sync's apply, a deleted history), in its
/// transaction: payment matching with its "payment received" notices, then the balance watch.
pub fn ledger_hook(links: Links) -> Arc<dyn crate::sync::AfterLedgerApply> {
    Arc::new(crate::sync::Both(
        // Matching, then the "payment received" notices and thank-you mails it calls for.
        crate::payment_notice::AfterSync {
            links: links.clone(),
        },
        crate::balance_watch::AfterSync { links },
    ))
}

/// The sync worker over these dependencies: tokens from the consent module, the ledger hooks
/// ([`ledger_hook`]: matching, balance watch) after every applied sync.
pub fn sync_worker(deps: &WorkerDeps, settings: SyncSettings) -> Worker<Consent> {
    let sync = Arc::new(SyncDeps {
        pool: deps.pool.clone(),
        kb: (*deps.kb).clone(),
        tokens: Arc::new(deps.consent.clone()),
        clock: deps.clock.clone(),
        settings,
        after_apply: deps.consent.ledger_hook.clone(),
    });
    Worker::new(sync, worker_name())
}

/// The housekeeping task: prunes old rows at start and then every `retention.every`.
async fn housekeeping(deps: WorkerDeps, retention: Retention, mut stop: watch::Receiver<bool>) {
    loop {
        match crate::housekeeping::prune(&deps.pool, &retention, deps.clock.now()).await {
            Ok(pruned) if pruned.total() > 0 => tracing::info!(?pruned, "housekeeping pruned"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "housekeeping failed; retrying later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(retention.every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Consent reminders, the operator's expiry warnings, the daily "payment received" digests and
/// expired consent journeys, hourly (and once at start).
async fn hourly(deps: WorkerDeps, mut stop: watch::Receiver<bool>) {
    loop {
        let now = deps.clock.now();
        match crate::consent::reminders::queue_due(&deps.pool, deps.mailer.links(), now).await {
            Ok(0) => {}
            Ok(queued) => {
                tracing::info!(queued, "consent reminders queued");
                deps.mailer.wake();
            }
            Err(error) => {
                tracing::warn!(%error, "consent reminders failed; retrying later")
            }
        }
        let mut operators = deps.operator_emails.as_ref().clone();
        match crate::auth::operators::emails(&deps.pool).await {
            Ok(emails) => operators.extend(emails),
            Err(error) => tracing::warn!(%error, "could not list the operators"),
        }
        operators.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        operators.dedup();
        match crate::consent::operator::queue_warnings(
            &deps.pool,
            deps.kb_identity.as_ref(),
            &operators,
            now,
        )
        .await
        {
            Ok(0) => {}
            Ok(_) => deps.mailer.wake(),
            Err(error) => {
                tracing::warn!(%error, "operator warnings failed; retrying later")
            }
        }
        match crate::payment_notice::queue_digests(&deps.pool, deps.mailer.links(), now).await {
            Ok(0) => {}
            Ok(_) => deps.mailer.wake(),
            Err(error) => tracing::warn!(%error, "payment digests failed; retrying later"),
        }
        if let Err(error) = crate::consent::store::purge_expired_flows(&deps.pool, now).await {
            tracing::warn!(%error, "could not purge expired consent journeys");
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}
