//! Bootstrap: opens the database (the private cluster or `DATABASE_URL`), migrates, builds the
//! web application and its background workers, and serves until told to stop.
//!
//! Tests use exactly this path ([`Kasa::new`] + [`Kasa::serve`] on a listener bound to port 0),
//! so what they exercise is what runs in production.

use crate::bank::{ClientIdentity, KbApiKeys, KbClient, KbEndpoints, KbSettings};
use crate::clock::SharedClock;
use crate::config::{Config, DatabaseSetting, KbSetting, VaultSetting};
use crate::consent::Consent;
use crate::db::embedded::{ClusterOptions, EmbeddedCluster};
use crate::kb_sandbox::{KbSandbox, SandboxHandle};
use crate::mail::{Links, delivery::Delivery};
use crate::secret::Secret;
use crate::sync::worker::{SyncDeps, SyncSettings, Worker};
use crate::vault::Vault;
use crate::web::{self, AppState, security};
use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_sessions::ExpiredDeletion;
use url::Url;
use uuid::Uuid;

/// Name of Kasa's database inside the private cluster.
pub const EMBEDDED_DATABASE: &str = "kasa";

/// An open database: how to connect, and the private cluster if Kasa runs one.
pub struct Database {
    pub options: PgConnectOptions,
    pub cluster: Option<EmbeddedCluster>,
}

impl Database {
    /// Opens the configured database, starting the private cluster if no URL is given.
    pub async fn open(setting: &DatabaseSetting) -> anyhow::Result<Database> {
        match setting {
            DatabaseSetting::Url(url) => Ok(Database {
                options: PgConnectOptions::from_str(url.expose())
                    .context("DATABASE_URL is not a valid PostgreSQL URL")?,
                cluster: None,
            }),
            DatabaseSetting::Embedded { dir } => {
                let dir = dir.clone();
                let options = ClusterOptions {
                    settings: Vec::new(),
                    watchdog: true,
                    remove_on_exit: false,
                };
                let cluster =
                    tokio::task::spawn_blocking(move || EmbeddedCluster::start(&dir, &options))
                        .await??;
                ensure_database(&cluster, EMBEDDED_DATABASE).await?;
                Ok(Database {
                    options: cluster.connect_options(EMBEDDED_DATABASE),
                    cluster: Some(cluster),
                })
            }
        }
    }

    /// Stops the private cluster if this process started it.
    pub async fn close(self) {
        if let Some(cluster) = self.cluster {
            let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
        }
    }
}

/// Creates `name` in the private cluster unless it exists.
pub async fn ensure_database(cluster: &EmbeddedCluster, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect_with(&cluster.connect_options("postgres")).await?;
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await?;
    if exists.is_none() {
        // The name is ours (a constant or a generated test name): quoting suffices.
        conn.execute(sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\"")))
            .await?;
    }
    conn.close().await?;
    Ok(())
}

/// Applies the control-plane migrations and brings every tenant schema up to date.
pub async fn migrate(
    options: &PgConnectOptions,
) -> anyhow::Result<crate::db::migrate::TenantMigrationReport> {
    crate::db::migrate::migrate_app(options)
        .await
        .context("control-plane migrations failed")?;
    let pool = crate::db::connect_pool(options.clone(), 4).await?;
    let report = crate::db::migrate::migrate_tenants(&pool).await?;
    pool.close().await;
    Ok(report)
}

/// The KB Kasa talks to: settings for the client and, in the default setup, the built-in
/// sandbox it started.
pub struct KbConnection {
    pub settings: KbSettings,
    pub sandbox: Option<SandboxHandle>,
}

impl KbConnection {
    /// Starts the built-in sandbox if the configuration asks for it.
    pub async fn open(config: &Config) -> anyhow::Result<KbConnection> {
        match &config.kb {
            KbSetting::External(settings) => Ok(KbConnection {
                settings: (**settings).clone(),
                sandbox: None,
            }),
            KbSetting::BuiltInSandbox => {
                let sandbox = KbSandbox::start(config.sandbox.clone())
                    .await
                    .context("starting the built-in KB sandbox")?;
                Ok(KbConnection {
                    settings: sandbox_client_settings(&sandbox),
                    sandbox: Some(sandbox),
                })
            }
        }
    }

    pub async fn close(self) {
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
    }
}

/// Client settings for a running built-in sandbox: its production-shaped URLs, API keys, the
/// operator certificate it issued and its CA. Production behaviour otherwise (fresh registration
/// key per registration, HTTPS only).
pub fn sandbox_client_settings(sandbox: &SandboxHandle) -> KbSettings {
    let urls = sandbox.production_endpoints();
    let keys = &sandbox.api_keys.production;
    let mut settings = KbSettings::production(
        KbApiKeys {
            client_registration: Secret::new(keys.client_registration.clone()),
            oauth: Secret::new(keys.oauth2.clone()),
            adaa: Secret::new(keys.adaa.clone()),
        },
        Some(ClientIdentity::Pem {
            cert_path: sandbox.client_cert_path.clone(),
            key_path: sandbox.client_key_path.clone(),
        }),
    );
    settings.endpoints = KbEndpoints {
        client_registration: urls
            .client_registration
            .trim_end_matches("/software-statements")
            .to_owned(),
        app_registration_ui: urls.app_registration_ui,
        authorization: urls.authorization,
        token: urls.token,
        adaa: urls.adaa,
    };
    settings.ca_bundle = Some(sandbox.ca_cert_path.clone());
    settings
}

/// The assembled application, ready to serve.
pub struct Kasa {
    pub state: AppState,
    router: axum::Router,
    server: crate::server::ServerLimits,
    retention: crate::housekeeping::Retention,
    delivery: Option<Delivery>,
    store: tower_sessions_sqlx_store::PostgresStore,
    /// The sync worker, when this process runs one.
    sync: Option<Worker<Consent>>,
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

/// The sync worker over this application's state: tokens from the consent module.
pub fn sync_worker(state: &AppState, settings: SyncSettings) -> Worker<Consent> {
    let deps = Arc::new(SyncDeps {
        pool: state.pool.clone(),
        kb: (*state.kb).clone(),
        tokens: Arc::new(state.consent.clone()),
        clock: state.clock.clone(),
        settings,
        after_apply: Arc::new(crate::payment::AfterSync),
    });
    Worker::new(deps, worker_name())
}

impl Kasa {
    /// Migrates and assembles everything. `local_addr` is where the listener is bound (used as
    /// the public address when none is configured).
    pub async fn new(
        config: &Config,
        options: PgConnectOptions,
        clock: SharedClock,
        local_addr: SocketAddr,
        kb: &KbConnection,
    ) -> anyhow::Result<Kasa> {
        let kb_client = Arc::new(KbClient::new(kb.settings.clone()).context("KB client settings")?);
        let vault = Arc::new(match &config.vault {
            VaultSetting::File(path) => Vault::load_or_create(path)?,
            VaultSetting::Keys(keys) => Vault::from_spec(keys)?,
            VaultSetting::Ephemeral => Vault::ephemeral(),
        });
        let report = migrate(&options).await?;
        if !report.failed.is_empty() {
            tracing::warn!(
                failed = report.failed.len(),
                "some tenant schemas are not migrated"
            );
        }
        let pool = crate::db::connect_pool(options, config.db_max_connections).await?;
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{local_addr}"))?,
        };
        let store = security::session_store(&pool).await?;
        let session_layers = security::session_layers(store.clone(), &public_url);
        let delivery = match &config.smtp_url {
            Some(url) => Some(Delivery::new(url.expose(), &config.mail_from)?),
            None if crate::config::dev_mailbox_allowed(local_addr, &public_url) => None,
            None => anyhow::bail!(crate::config::NO_SMTP_MESSAGE),
        };
        let state = AppState {
            pool: pool.clone(),
            clock: clock.clone(),
            links: Links::new(public_url.clone()),
            public_url: public_url.clone(),
            mailbox_enabled: delivery.is_none(),
            mail_wake: Arc::new(Notify::new()),
            sync_wake: Arc::new(Notify::new()),
            operator_emails: Arc::new(config.operator_emails.clone()),
            kb_identity: kb.settings.identity.clone(),
            trust_proxy: config.trust_proxy,
            consent: Consent {
                pool: pool.clone(),
                kb: kb_client.clone(),
                vault,
                clock: clock.clone(),
                public_url: public_url.clone(),
            },
            kb: kb_client,
            kb_sandbox_url: kb.sandbox.as_ref().map(|s| s.browser_base_url.clone()),
            fee_overviews: Arc::default(),
        };
        let router = web::router(state.clone(), session_layers);
        let sync = config
            .run_sync_worker
            .then(|| sync_worker(&state, config.sync.clone()));
        Ok(Kasa {
            state,
            router,
            server: config.server.clone(),
            retention: config.retention.clone(),
            delivery,
            store,
            sync,
        })
    }

    /// Starts the background workers (mail, sync, reminders, session cleanup, housekeeping).
    fn spawn_workers(
        state: &AppState,
        delivery: Option<Delivery>,
        sync: Option<Worker<Consent>>,
        store: tower_sessions_sqlx_store::PostgresStore,
        retention: crate::housekeeping::Retention,
        stop_rx: &tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinSet<()> {
        let mut workers = tokio::task::JoinSet::new();
        workers.spawn(housekeeping(state.clone(), retention, stop_rx.clone()));
        if let Some(delivery) = delivery {
            workers.spawn(delivery.run(
                state.pool.clone(),
                state.clock.clone(),
                state.mail_wake.clone(),
                stop_rx.clone(),
            ));
        }
        if let Some(worker) = sync {
            workers.spawn(worker.run(stop_rx.clone(), state.sync_wake.clone()));
        }
        // Consent reminders and expired journeys, hourly (and once at start).
        let state = state.clone();
        let mut reminders_stop = stop_rx.clone();
        workers.spawn(async move {
            loop {
                let now = state.clock.now();
                match crate::consent::reminders::queue_due(&state.pool, &state.links, now).await {
                    Ok(0) => {}
                    Ok(queued) => {
                        tracing::info!(queued, "consent reminders queued");
                        state.mail_wake.notify_one();
                    }
                    Err(error) => {
                        tracing::warn!(%error, "consent reminders failed; retrying later")
                    }
                }
                let mut operators = state.operator_emails.as_ref().clone();
                match crate::auth::operators::emails(&state.pool).await {
                    Ok(emails) => operators.extend(emails),
                    Err(error) => tracing::warn!(%error, "could not list the operators"),
                }
                operators.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                operators.dedup();
                match crate::consent::operator::queue_warnings(
                    &state.pool,
                    state.kb_identity.as_ref(),
                    &operators,
                    now,
                )
                .await
                {
                    Ok(0) => {}
                    Ok(_) => state.mail_wake.notify_one(),
                    Err(error) => {
                        tracing::warn!(%error, "operator warnings failed; retrying later")
                    }
                }
                if let Err(error) =
                    crate::consent::store::purge_expired_flows(&state.pool, now).await
                {
                    tracing::warn!(%error, "could not purge expired consent journeys");
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                    _ = reminders_stop.changed() => return,
                }
            }
        });
        let mut cleanup_stop = stop_rx.clone();
        workers.spawn(async move {
            tokio::select! {
                _ = store.continuously_delete_expired(tokio::time::Duration::from_secs(300)) => {}
                _ = cleanup_stop.changed() => {}
            }
        });
        workers
    }

    /// Runs only the background workers (no web server) until `shutdown` completes:
    /// `kasa worker`.
    pub async fn run_workers(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut workers = Self::spawn_workers(
            &self.state,
            self.delivery,
            self.sync,
            self.store,
            self.retention,
            &stop_rx,
        );
        shutdown.await;
        let _ = stop_tx.send(true);
        while workers.join_next().await.is_some() {}
        self.state.pool.close().await;
        Ok(())
    }

    /// Serves on `listener` until `shutdown` completes, then stops the workers.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut workers = Self::spawn_workers(
            &self.state,
            self.delivery,
            self.sync,
            self.store.clone(),
            self.retention,
            &stop_rx,
        );
        crate::server::serve(listener, self.router, self.server, shutdown).await?;
        let _ = stop_tx.send(true);
        while workers.join_next().await.is_some() {}
        self.state.pool.close().await;
        Ok(())
    }
}

/// The housekeeping task: prunes old rows at start and then every `retention.every`.
async fn housekeeping(
    state: AppState,
    retention: crate::housekeeping::Retention,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match crate::housekeeping::prune(&state.pool, &retention, state.clock.now()).await {
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
