//! The `kasa` command: `serve` (default), `migrate`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use kasa::app::{Database, Kasa, KbConnection};
use kasa::clock::SystemClock;
use kasa::config::{Config, DatabaseSetting, Secret};
use kb_sandbox::KbSandbox;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "kasa",
    version,
    about = "Kasa: KB account watch and member fees for Czech clubs"
)]
struct Cli {
    /// Address to listen on.
    #[arg(
        long,
        env = "KASA_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    listen: SocketAddr,
    /// Public address of Kasa (links in e-mails, cookie security). Default: http://<listen>.
    #[arg(long, env = "KASA_PUBLIC_URL", global = true)]
    public_url: Option<url::Url>,
    /// PostgreSQL server to use instead of the private cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// Kasa's local data directory.
    #[arg(long, env = "KASA_DATA_DIR", default_value = "data", global = true)]
    data_dir: PathBuf,
    /// Directory of the private PostgreSQL cluster (default: <data-dir>/postgres).
    #[arg(long, env = "KASA_PG_DIR", global = true)]
    pg_dir: Option<PathBuf>,
    /// SMTP server URL for outgoing e-mail; without it mail shows on the local mailbox page.
    #[arg(long, env = "SMTP_URL", hide_env_values = true, global = true)]
    smtp_url: Option<String>,
    /// Sender of Kasa's e-mails.
    #[arg(
        long,
        env = "KASA_MAIL_FROM",
        default_value = "Kasa <kasa@localhost>",
        global = true
    )]
    mail_from: String,
    /// Extra recipients of the operator's expiry warnings (comma-separated). They grant no
    /// access: operators are added with `kasa operator add <email>`.
    #[arg(
        long,
        env = "KASA_OPERATOR_EMAILS",
        value_delimiter = ',',
        global = true
    )]
    operator_emails: Vec<String>,
    /// How people reach the operator, shown in every page's footer (an e-mail or a short text).
    #[arg(long, env = "KASA_CONTACT", global = true)]
    contact: Option<String>,
    /// The operator's privacy notice (default: Kasa's own page, /privacy).
    #[arg(long, env = "KASA_PRIVACY_URL", global = true)]
    privacy_url: Option<url::Url>,
    /// Where to serve Prometheus metrics (`/metrics`), e.g. 127.0.0.1:9090. Off by default;
    /// never the public address.
    #[arg(long, env = "KASA_METRICS_LISTEN", global = true)]
    metrics_listen: Option<SocketAddr>,
    /// Log lines as JSON objects (`json`) or as text (`text`, the default).
    #[arg(long, env = "KASA_LOG_FORMAT", default_value = "text", global = true)]
    log_format: LogFormat,
    /// Trust X-Forwarded-For (only behind a proxy that overwrites it).
    #[arg(long, env = "KASA_TRUST_PROXY", global = true)]
    trust_proxy: bool,
    /// Where the built-in KB sandbox serves KB's APIs (HTTPS).
    #[arg(
        long,
        env = "KASA_SANDBOX_API_LISTEN",
        default_value = "127.0.0.1:8443",
        global = true
    )]
    sandbox_api_listen: SocketAddr,
    /// Where the built-in KB sandbox serves its browser pages and control page (HTTP).
    #[arg(
        long,
        env = "KASA_SANDBOX_LISTEN",
        default_value = "127.0.0.1:8081",
        global = true
    )]
    sandbox_listen: SocketAddr,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the web application (the default).
    Serve,
    /// Apply control-plane and tenant migrations, then exit.
    Migrate,
    /// Run only the built-in KB sandbox (the simulator of Komerční banka's API).
    KbSandbox,
    /// Run only the background workers (sync, mail, reminders) against DATABASE_URL and the
    /// configured KB; any number may run beside `kasa serve` instances.
    Worker,
    /// Manage operators (people who may open /operator).
    Operator {
        #[command(subcommand)]
        action: OperatorAction,
    },
}

#[derive(Subcommand, Debug)]
enum OperatorAction {
    /// Make <email> an operator. A new or unconfirmed account (even one a stranger signed up
    /// with) gets a password-reset link, printed here; its old password and sessions end.
    Add { email: String },
    /// Take operator rights away from <email>.
    Remove { email: String },
}

impl Cli {
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::local_default();
        config.kb = kasa::config::kb::from_lookup(|name| std::env::var(name).ok())?;
        config.sandbox.data_dir = self.data_dir.join("kb-sandbox");
        config.sandbox.api_addr = self.sandbox_api_listen;
        config.sandbox.browser_addr = self.sandbox_listen;
        kasa::config::kb::apply_sandbox_settings(&mut config.sandbox, |name| {
            std::env::var(name).ok()
        })?;
        config.listen = self.listen;
        config.public_url = self.public_url.clone();
        config.data_dir = self.data_dir.clone();
        config.database = match &self.database_url {
            Some(url) if !url.is_empty() => DatabaseSetting::Url(Secret::new(url.clone())),
            _ => DatabaseSetting::Embedded {
                dir: self
                    .pg_dir
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("postgres")),
            },
        };
        config.smtp_url = self
            .smtp_url
            .clone()
            .filter(|u| !u.is_empty())
            .map(Secret::new);
        config.mail_from = self.mail_from.clone();
        config.trust_proxy = self.trust_proxy;
        config.metrics_listen = self.metrics_listen;
        config.footer = kasa::web::state::Footer {
            contact: self
                .contact
                .clone()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty()),
            privacy_url: self.privacy_url.clone(),
        };
        config.operator_emails = self
            .operator_emails
            .iter()
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                kasa::auth::Email::parse(e).ok_or_else(|| {
                    anyhow::anyhow!("KASA_OPERATOR_EMAILS: {e:?} is not an e-mail address")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        if let Ok(keys) = std::env::var("KASA_VAULT_KEYS")
            && !keys.trim().is_empty()
        {
            config.vault = kasa::config::VaultSetting::Keys(Secret::new(keys));
        }
        let secs = |name: &str| -> anyhow::Result<Option<u64>> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(
                    v.trim()
                        .parse()
                        .with_context(|| format!("{name}: expected seconds"))?,
                )),
                _ => Ok(None),
            }
        };
        if let Some(v) = secs("KASA_SYNC_LEASE_SECS")? {
            config.sync.lease = time::Duration::seconds(v as i64);
        }
        if let Some(v) = secs("KASA_SYNC_HEARTBEAT_SECS")? {
            config.sync.heartbeat_every = std::time::Duration::from_secs(v);
        }
        if let Some(v) = secs("KASA_SYNC_IDLE_POLL_SECS")? {
            config.sync.idle_poll = std::time::Duration::from_secs(v);
        }
        if let Some(v) = secs("KASA_SYNC_NOTIFIED_OVERLAP_DAYS")? {
            config.sync.notified_overlap_days = i64::try_from(v).unwrap_or(i64::MAX).min(30);
        }
        if let Some(v) = secs("KASA_SYNC_WIDE_EVERY_SECS")? {
            config.sync.wide_every = time::Duration::seconds(i64::try_from(v).unwrap_or(i64::MAX));
        }
        if let Some(v) = secs("KASA_SPARE_SCHEMAS")? {
            config.spare_schemas = usize::try_from(v.min(100)).unwrap_or(100);
        }
        let std_secs = std::time::Duration::from_secs;
        if let Some(v) = secs("KASA_HEADER_READ_TIMEOUT_SECS")? {
            config.server.header_read_timeout = std_secs(v.max(1));
        }
        if let Some(v) = secs("KASA_BODY_TIMEOUT_SECS")? {
            config.server.body_timeout = std_secs(v.max(1));
        }
        if let Some(v) = secs("KASA_IDLE_TIMEOUT_SECS")? {
            config.server.idle_timeout = std_secs(v.max(1));
        }
        if let Some(v) = secs("KASA_MAX_CONNECTIONS")? {
            config.server.max_connections = usize::try_from(v.max(1)).unwrap_or(usize::MAX);
        }
        let days = |v: u64| time::Duration::days(i64::try_from(v).unwrap_or(i64::MAX / 86_400));
        if let Some(v) = secs("KASA_RETENTION_LOGIN_ATTEMPTS_DAYS")? {
            config.retention.login_attempts = days(v);
        }
        if let Some(v) = secs("KASA_RETENTION_TOKENS_DAYS")? {
            config.retention.tokens = days(v);
        }
        if let Some(v) = secs("KASA_RETENTION_INVITATIONS_DAYS")? {
            config.retention.invitations = days(v);
        }
        if let Some(v) = secs("KASA_RETENTION_SENT_MAIL_DAYS")? {
            config.retention.sent_mail = days(v);
        }
        if let Some(v) = secs("KASA_HOUSEKEEPING_INTERVAL_SECS")? {
            config.retention.every = std_secs(v.max(60));
        }
        config.vault = match config.vault {
            kasa::config::VaultSetting::File(_) => {
                kasa::config::VaultSetting::File(self.data_dir.join("keys/vault.key"))
            }
            other => other,
        };
        Ok(config)
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    /// One JSON object a line, with the fields of the request's or the sync's span (request id,
    /// club key, account, fence): for log collectors.
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        "info,sqlx=warn,sqlx::postgres::notice=error,tower_sessions=warn".into()
    });
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .init(),
    }
    let result = match cli.config() {
        Err(error) => Err(error),
        Ok(config) => match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::KbSandbox => kb_sandbox(config).await,
            Command::Worker => worker(config).await,
            Command::Operator { action } => operator(config, action).await,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kasa: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let database = Database::open(&config.database).await?;
    let kb = match KbConnection::open(&config).await {
        Ok(kb) => kb,
        Err(error) => {
            database.close().await;
            return Err(error);
        }
    };
    let result = async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local = listener.local_addr()?;
        let kasa = Kasa::new(
            &config,
            database.options.clone(),
            Arc::new(SystemClock),
            local,
            &kb,
        )
        .await?;
        println!("Kasa is running at {}", kasa.state.public_url);
        if kasa.state.mailbox_enabled {
            println!(
                "No SMTP_URL set: e-mails appear at {}dev/mailbox",
                kasa.state.public_url
            );
        }
        if let Some(sandbox) = &kb.sandbox {
            println!(
                "No KB settings: using the built-in KB sandbox (control page {}/control)",
                sandbox.browser_base_url
            );
        }
        kasa.serve(listener, shutdown_signal()).await
    }
    .await;
    kb.close().await;
    database.close().await;
    result
}

async fn worker(config: Config) -> anyhow::Result<()> {
    if matches!(config.kb, kasa::config::KbSetting::BuiltInSandbox) {
        anyhow::bail!(
            "kasa worker talks to a KB given by KASA_KB_* settings (see docs/kb.md); \
             with the built-in sandbox, use kasa serve"
        );
    }
    let database = Database::open(&config.database).await?;
    let kb = KbConnection::open(&config).await?;
    let result = async {
        let workers = kasa::app::workers(
            &config,
            database.options.clone(),
            Arc::new(SystemClock),
            config.listen,
            &kb,
        )
        .await?;
        let metrics = match config.metrics_listen {
            Some(addr) => Some(kasa::telemetry::Endpoint::bind(addr).await?),
            None => None,
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if let Some(metrics) = metrics {
            tokio::spawn(metrics.serve(workers.deps.pool.clone(), stop_rx));
        }
        tracing::info!("kasa worker running");
        workers.run(shutdown_signal()).await;
        let _ = stop_tx.send(true);
        Ok(())
    }
    .await;
    kb.close().await;
    database.close().await;
    result
}

async fn kb_sandbox(config: Config) -> anyhow::Result<()> {
    let sandbox = KbSandbox::start(config.sandbox.clone()).await?;
    let keys = &sandbox.api_keys.production;
    println!("KB sandbox APIs (HTTPS): {}", sandbox.api_base_url);
    println!(
        "KB sandbox pages and control page: {}/control",
        sandbox.browser_base_url
    );
    println!("CA certificate: {}", sandbox.ca_cert_path.display());
    println!(
        "Operator client certificate: {} (key {})",
        sandbox.client_cert_path.display(),
        sandbox.client_key_path.display()
    );
    println!(
        "API keys (sandbox test keys, not secrets): client registration {}, OAuth2 {}, ADAA {}",
        keys.client_registration, keys.oauth2, keys.adaa
    );
    shutdown_signal().await;
    sandbox.shutdown().await;
    Ok(())
}

async fn operator(config: Config, action: OperatorAction) -> anyhow::Result<()> {
    let email = match &action {
        OperatorAction::Add { email } | OperatorAction::Remove { email } => email,
    };
    let email = kasa::auth::Email::parse(email)
        .ok_or_else(|| anyhow::anyhow!("{email:?} is not an e-mail address"))?;
    let database = Database::open(&config.database).await?;
    let result = async {
        kasa::db::migrate::migrate_app(&database.options).await?;
        let pool = kasa::db::connect_pool(database.options.clone(), 2).await?;
        let now = kasa::clock::Clock::now(&SystemClock);
        let outcome = match action {
            OperatorAction::Add { .. } => {
                match kasa::auth::operators::add(&pool, &email, now).await? {
                    kasa::auth::operators::Added::ExistingAccount => {
                        println!("{email} is an operator (confirmed account, password unchanged).")
                    }
                    kasa::auth::operators::Added::SetPassword { reset_token } => {
                        let base = config
                            .public_url
                            .clone()
                            .unwrap_or(url::Url::parse(&format!("http://{}", config.listen))?);
                        let link = kasa::mail::Links::new(base).reset_password(&reset_token);
                        println!(
                            "{email} is an operator. Set its password within an hour at:\n{link}"
                        );
                    }
                }
                Ok(())
            }
            OperatorAction::Remove { .. } => {
                if kasa::auth::operators::remove(&pool, &email).await? {
                    println!("{email} is no longer an operator.");
                } else {
                    println!("{email} was not an operator.");
                }
                Ok(())
            }
        };
        pool.close().await;
        outcome
    }
    .await;
    database.close().await;
    result
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let database = Database::open(&config.database).await?;
    let result = kasa::app::migrate(&database.options).await;
    database.close().await;
    let report = result?;
    println!(
        "migrated: {} tenants brought up to date, {} already current, {} failed",
        report.migrated,
        report.up_to_date,
        report.failed.len()
    );
    if report.failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("some tenant migrations failed; run `kasa migrate` again")
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
