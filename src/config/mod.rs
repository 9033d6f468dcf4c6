//! Settings: where Kasa listens, which database and mail server it uses, where it keeps its data.
//!
//! Every setting has a default that works on a laptop with no configuration (embedded PostgreSQL,
//! local mailbox); environment variables or flags override them (see README.md, "Configuration").
//! Secrets are wrapped in [`Secret`] so that `Debug` output and logs never show them.

use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

pub mod kb;

pub use crate::secret::Secret;
pub use kb::KbSetting;

/// How Kasa reaches its database.
#[derive(Debug, Clone)]
pub enum DatabaseSetting {
    /// A server given by `DATABASE_URL`.
    Url(Secret<String>),
    /// The private cluster Kasa starts itself under this directory.
    Embedded { dir: PathBuf },
}

/// Where the keys that encrypt bank secrets at rest come from (never the database).
#[derive(Debug, Clone)]
pub enum VaultSetting {
    /// A key file, created with one fresh key (mode 0600) if missing.
    File(PathBuf),
    /// `id:base64key[,id:base64key…]` from the environment; the first key encrypts.
    Keys(Secret<String>),
    /// A random key for this process only (tests).
    Ephemeral,
}

/// Everything `kasa serve` needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the web server binds to.
    pub listen: SocketAddr,
    /// The address people reach Kasa at (links in e-mails, cookie security, CSRF origin).
    /// `None` means "derive it from the bound address" (local default).
    pub public_url: Option<Url>,
    pub database: DatabaseSetting,
    /// Root of Kasa's local data (`./data` by default).
    pub data_dir: PathBuf,
    /// SMTP server URL (lettre syntax, e.g. `smtp://user:pass@host:587?tls=required`).
    /// `None`: e-mails are kept in the outbox and shown on the local mailbox page.
    pub smtp_url: Option<Secret<String>>,
    /// Sender address of Kasa's e-mails.
    pub mail_from: String,
    /// Trust `X-Forwarded-For` for the client address (only behind a proxy that overwrites it).
    pub trust_proxy: bool,
    /// Maximum connections of the web pool.
    pub db_max_connections: u32,
    /// Which KB Kasa talks to (the built-in sandbox unless configured).
    pub kb: KbSetting,
    /// The built-in KB sandbox (used when `kb` is `BuiltInSandbox`): where it keeps its data,
    /// where it listens, and its simulated behaviour.
    pub sandbox: kb_sandbox::SandboxConfig,
    /// Keys for secrets at rest.
    pub vault: VaultSetting,
    /// Extra recipients of the operator's expiry warnings (`KASA_OPERATOR_EMAILS`). Grants no
    /// access: operators are added with `kasa operator add` (`auth::operators`).
    pub operator_emails: Vec<crate::auth::Email>,
    /// Run the background sync worker in this process.
    pub run_sync_worker: bool,
    /// What the footer of every page offers people: the operator's contact and privacy notice.
    pub footer: crate::web::state::Footer,
    /// Tuning of the sync worker.
    pub sync: crate::sync::worker::SyncSettings,
    /// Time-outs and the connection cap of the web server (`crate::server`).
    pub server: crate::server::ServerLimits,
    /// How long the housekeeping task keeps old rows, and how often it runs.
    pub retention: crate::housekeeping::Retention,
    /// How many spare club schemas the workers keep ready for sign-ups (`KASA_SPARE_SCHEMAS`,
    /// `db::spares`); 0 provisions every club inline.
    pub spare_schemas: usize,
    /// Where Prometheus metrics are served (`KASA_METRICS_LISTEN`, `telemetry`); `None`, the
    /// default, records and serves none.
    pub metrics_listen: Option<SocketAddr>,
}

impl Config {
    /// The local default: everything embedded, nothing external.
    pub fn local_default() -> Self {
        let data_dir = PathBuf::from("data");
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database: DatabaseSetting::Embedded {
                dir: data_dir.join("postgres"),
            },
            data_dir,
            smtp_url: None,
            mail_from: "Kasa <kasa@localhost>".to_owned(),
            trust_proxy: false,
            db_max_connections: 20,
            kb: KbSetting::BuiltInSandbox,
            vault: VaultSetting::File(PathBuf::from("data/keys/vault.key")),
            operator_emails: Vec::new(),
            footer: crate::web::state::Footer::default(),
            run_sync_worker: true,
            sync: crate::sync::worker::SyncSettings::default(),
            server: crate::server::ServerLimits::default(),
            retention: crate::housekeeping::Retention::default(),
            metrics_listen: None,
            spare_schemas: 3,
            sandbox: {
                let mut sandbox = kb_sandbox::SandboxConfig::new("data/kb-sandbox");
                sandbox.api_addr = SocketAddr::from(([127, 0, 0, 1], 8443));
                sandbox.browser_addr = SocketAddr::from(([127, 0, 0, 1], 8081));
                // The local demo: a payment sent from the control page shows up within a second.
                // KB itself notifies at most every 5 minutes (KASA_SANDBOX_EVENT_INTERVAL_SECS=300).
                sandbox.events.min_interval = std::time::Duration::from_secs(1);
                // Two years of a busy club's account (about 24 pages of 100), so the first sync
                // shows its progress; KASA_SANDBOX_TRANSACTIONS_PER_ACCOUNT changes the amount.
                sandbox.seed.transactions_per_account = 2_400;
                sandbox.seed.days = 729;
                sandbox
            },
        }
    }

    /// Mail is delivered through SMTP (otherwise the local mailbox page exists).
    pub fn smtp_configured(&self) -> bool {
        self.smtp_url.is_some()
    }
}

/// Whether the local mailbox (`/dev/mailbox`, every e-mail readable by anyone who can reach
/// Kasa) may stand in for SMTP: only when Kasa listens on a loopback address *and* its public
/// address is local (`localhost` or a loopback IP). Anywhere else it would hand out every reset
/// link, so Kasa refuses to start without `SMTP_URL` ([`NO_SMTP_MESSAGE`]).
pub fn dev_mailbox_allowed(listen: SocketAddr, public_url: &Url) -> bool {
    let local_host = match public_url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    listen.ip().is_loopback() && local_host
}

/// Why Kasa does not start without SMTP on a public address.
pub const NO_SMTP_MESSAGE: &str = "SMTP_URL is not set, and Kasa is not local-only (it listens on a \
    non-loopback address or KASA_PUBLIC_URL is not localhost). Without SMTP, e-mails would be \
    shown to anyone on /dev/mailbox, including password-reset links. Set SMTP_URL (see README, \
    \"Configuration\"), or listen on 127.0.0.1 with a localhost public URL for local use.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_mailbox_is_allowed_only_on_loopback_with_a_local_public_url() {
        let local: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let any: SocketAddr = "0.0.0.0:8080".parse().expect("addr");
        let url = |u: &str| Url::parse(u).expect("url");
        assert!(dev_mailbox_allowed(local, &url("http://127.0.0.1:8080/")));
        assert!(dev_mailbox_allowed(local, &url("http://localhost:8080/")));
        assert!(dev_mailbox_allowed(
            "[::1]:8080".parse().expect("addr"),
            &url("http://[::1]:8080/")
        ));
        assert!(!dev_mailbox_allowed(any, &url("http://localhost:8080/")));
        assert!(!dev_mailbox_allowed(local, &url("https://kasa.example/")));
        assert!(!dev_mailbox_allowed(
            local,
            &url("http://localhost.evil.example/")
        ));
        assert!(!dev_mailbox_allowed(any, &url("https://kasa.example/")));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut config = Config::local_default();
        config.smtp_url = Some(Secret::new("smtp://user:hunter2@mail".to_owned()));
        config.database = DatabaseSetting::Url(Secret::new("postgres://u:pw@h/db".to_owned()));
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("pw@h"));
        assert!(printed.contains("[redacted]"));
    }
}
