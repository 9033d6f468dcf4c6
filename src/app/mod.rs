//! Bootstrap: opens the database (the private cluster or `DATABASE_URL`), migrates, assembles
//! the background workers ([`workers`]) and, for `kasa serve`, the web application over the same
//! parts, and serves until told to stop.
//!
//! Tests use exactly this path ([`Kasa::new`] + [`Kasa::serve`] on a listener bound to port 0),
//! so what they exercise is what runs in production.

pub mod workers;

pub use workers::{WorkerDeps, Workers, sync_worker};

use crate::bank::{ClientIdentity, KbApiKeys, KbEndpoints, KbSettings};
use crate::clock::SharedClock;
use crate::config::{Config, DatabaseSetting, KbSetting};
use crate::db::embedded::{ClusterOptions, EmbeddedCluster};
use crate::secret::Secret;
use crate::web::{self, AppState, security};
use anyhow::Context;
use kb_sandbox::{KbSandbox, SandboxHandle};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use tokio::net::TcpListener;

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

/// Migrates and assembles the background workers: `kasa worker` (no web server).
pub async fn workers(
    config: &Config,
    options: PgConnectOptions,
    clock: SharedClock,
    local_addr: SocketAddr,
    kb: &KbConnection,
) -> anyhow::Result<Workers> {
    let report = migrate(&options).await?;
    if !report.failed.is_empty() {
        tracing::warn!(
            failed = report.failed.len(),
            "some tenant schemas are not migrated"
        );
    }
    Workers::new(config, options, clock, local_addr, &kb.settings).await
}

/// The assembled application, ready to serve: the web application and the background workers.
pub struct Kasa {
    pub state: AppState,
    pub workers: Workers,
    router: axum::Router,
    server: crate::server::ServerLimits,
    listener: crate::live::Listener,
    metrics: Option<crate::telemetry::Endpoint>,
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
        let live = crate::live::Live::default();
        // The listener holds one connection for as long as it runs: a pool of its own.
        let live_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(crate::db::runtime_options(options.clone()));
        let metrics = match config.metrics_listen {
            Some(addr) => Some(crate::telemetry::Endpoint::bind(addr).await?),
            None => None,
        };
        let workers = workers(config, options, clock, local_addr, kb).await?;
        let deps = &workers.deps;
        let sessions = web::sessions::KeptSessions::new(workers.sessions.clone(), &live);
        let state = AppState::new(web::state::Shared {
            pool: deps.pool.clone(),
            clock: deps.clock.clone(),
            mailer: deps.mailer.clone(),
            public_url: workers.public_url.clone(),
            mailbox_enabled: workers.mailbox_only(),
            sync_wake: deps.sync_wake.clone(),
            operator_emails: deps.operator_emails.clone(),
            kb_identity: deps.kb_identity.clone(),
            trust_proxy: config.trust_proxy,
            consent: deps.consent.clone(),
            kb: deps.kb.clone(),
            kb_sandbox_url: kb.sandbox.as_ref().map(|s| s.browser_base_url.clone()),
            fee_overviews: Arc::default(),
            rendered_overviews: web::pages::fees::rendered_overviews(),
            club_versions: web::rendered::ClubVersions::new(&live),
            rendered_dashboards: web::pages::club::rendered_dashboards(),
            rendered_accounts: web::pages::accounts::rendered_accounts(),
            payment_stamps: web::pages::fees::keep_payment_stamps(&live),
            exports: crate::export::Slots::for_pool(config.db_max_connections),
            footer: Arc::new(config.footer.clone()),
            people: web::context::keep_people(&live),
            live: live.clone(),
            sessions: sessions.clone(),
        });
        let sessions = security::session_layer(sessions, &workers.public_url);
        let router = web::router(state.clone(), sessions);
        Ok(Kasa {
            state,
            workers,
            router,
            server: config.server.clone(),
            listener: crate::live::Listener::new(live, live_pool),
            metrics,
        })
    }

    /// Where Prometheus metrics are served, when configured (`KASA_METRICS_LISTEN`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|m| m.local_addr())
    }

    /// Serves on `listener` until `shutdown` completes, then stops the workers.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut workers = self.workers.spawn(&stop_rx);
        workers.spawn(self.listener.run(stop_rx.clone()));
        if let Some(metrics) = self.metrics {
            workers.spawn(metrics.serve(self.state.pool.clone(), stop_rx.clone()));
        }
        // Open pages' streams never finish by themselves: end them as the shutdown begins, so
        // the graceful shutdown waits only for ordinary requests.
        let live = self.state.live.clone();
        let shutdown = async move {
            shutdown.await;
            live.close_streams();
        };
        crate::server::serve(listener, self.router, self.server, shutdown).await?;
        let _ = stop_tx.send(true);
        while workers.join_next().await.is_some() {}
        self.state.pool.close().await;
        Ok(())
    }
}
