//! Sandbox configuration: listeners, token lifetimes, documented KB quirks, fault injection
//! and the injectable [`Clock`].

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Source of "now" for everything time-based in the sandbox (codes, tokens, windows, limits).
pub trait Clock: Send + Sync + fmt::Debug {
    /// Current instant (UTC).
    fn now(&self) -> OffsetDateTime;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The sandbox's own clock: the one place it reads the time.
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to (for tests).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A manual clock starting at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }

    /// Sets the clock.
    pub fn set(&self, to: OffsetDateTime) {
        if let Ok(mut now) = self.now.lock() {
            *now = to;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        match self.now.lock() {
            Ok(now) => *now,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// Token and code lifetimes.
#[derive(Debug, Clone)]
pub struct TokenLifetimes {
    /// Authorization code lifetime (KB: 2 minutes).
    pub authorization_code: Duration,
    /// Access token lifetime (KB: about 3 minutes).
    pub access_token: Duration,
    /// Refresh token lifetime (KB: 12 months).
    pub refresh_token: Duration,
    /// Software statement validity (KB: 12 months).
    pub software_statement: Duration,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            authorization_code: Duration::from_secs(120),
            access_token: Duration::from_secs(180),
            refresh_token: Duration::from_secs(365 * 24 * 3600),
            software_statement: Duration::from_secs(365 * 24 * 3600),
        }
    }
}

/// Documented sandbox quirks. They apply only to the sandbox-shaped paths (`/sandbox/...`);
/// production-shaped paths always behave as KB documents production.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quirks {
    /// App registration accepts only KB's fixed sandbox encryption key (spec §5.1).
    pub fixed_encryption_key: bool,
    /// The authorization redirect carries no `state` (spec §6.3).
    pub drop_state_on_authorization_redirect: bool,
    /// `salt` / `encryptedData` on the registration callback wrapped in double quotes (spec §5.3).
    pub quoted_callback_values: bool,
    /// Client Registration answers 200 instead of 201 (spec §4.3).
    pub registration_status_200: bool,
    /// Registration callback goes to `redirectUris[0]` instead of `registrationBackUri` [I].
    pub callback_to_first_redirect_uri: bool,
    /// Software statements not signed by this sandbox are accepted (e.g. KB's Postman example).
    pub accept_foreign_software_statements: bool,
    /// Event subscription creation answers 200 (Postman example) instead of 201 [I].
    pub subscription_create_status_200: bool,
    /// Client Registration works without a client certificate (KB's real sandbox) — off by
    /// default, so the certificate path is exercised.
    pub registration_without_certificate: bool,
    /// KB's documented example client `ExampleClient-6303` exists and, on sandbox token
    /// endpoints, accepts KB's canned codes and any refresh token (Postman collection flow).
    pub canned_example_client: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            fixed_encryption_key: true,
            drop_state_on_authorization_redirect: true,
            quoted_callback_values: false,
            registration_status_200: true,
            callback_to_first_redirect_uri: true,
            accept_foreign_software_statements: true,
            subscription_create_status_200: true,
            registration_without_certificate: false,
            canned_example_client: true,
        }
    }
}

/// Behaviour KB documents only vaguely ([I] in the spec); all settings.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Maximum page size on ADAA v1 (S1 says 20; the 2024 wiki says 100).
    pub v1_max_page_size: u32,
    /// Default page size on ADAA v1.
    pub v1_default_page_size: u32,
    /// Maximum and default page size on ADAA v2.
    pub v2_max_page_size: u32,
    /// The next page must be requested within this window (KB: 10 s); `None` disables.
    pub next_page_window: Option<Duration>,
    /// Unchanged data may be downloaded once per this period (KB: 61 min); `None` disables.
    pub unchanged_data_limit: Option<Duration>,
    /// How far back history is available (KB: 2 years).
    pub history_limit_days: i64,
    /// Window when no dates are given (KB: 90 days).
    pub default_window_days: i64,
    /// Literal used for pending transactions: `PDNG` (wiki) or `PNG` (sandbox data).
    pub pending_status_literal: String,
    /// Token endpoint requests allowed per client within `token_rate_window` before 429.
    pub token_rate_limit: u32,
    /// Window of the token rate limit.
    pub token_rate_window: Duration,
    /// Refresh grant requires `redirect_uri` (a third-party note says KB rejects it without).
    pub refresh_requires_redirect_uri: bool,
    /// `validAt` of `PREVIOUSLY_CLOSED_BOOK` [I]: the request time (KB's examples) or the start
    /// of the Prague business day it closes before.
    pub closed_balance_valid_at: ClosedBalanceStamp,
    /// Which calendar day a payment sent through the control page is booked on [I]: the Prague
    /// business day of its instant (default), or the UTC day (to show what a tool that reads
    /// dates as UTC would see).
    pub booking_day_utc: bool,
    /// Serve reversal rows with the original's `creditDebitIndicator` (GPC style) instead of
    /// their own [I].
    pub reversal_original_direction: bool,
    /// `Retry-After` seconds sent with injected 429s (`None`: no header).
    pub rate_limit_retry_after_secs: Option<u64>,
}

/// When the sandbox stamps the closed booked balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClosedBalanceStamp {
    /// `validAt` = the request's instant (KB's documented examples).
    #[default]
    RequestTime,
    /// `validAt` = Prague midnight starting today (23:00 or 22:00 UTC the day before).
    DayStart,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            v1_max_page_size: 20,
            v1_default_page_size: 10,
            v2_max_page_size: 100,
            next_page_window: Some(Duration::from_secs(10)),
            unchanged_data_limit: Some(Duration::from_secs(61 * 60)),
            history_limit_days: 730,
            default_window_days: 90,
            pending_status_literal: "PDNG".to_owned(),
            token_rate_limit: 20,
            token_rate_window: Duration::from_secs(60),
            refresh_requires_redirect_uri: true,
            closed_balance_valid_at: ClosedBalanceStamp::RequestTime,
            booking_day_utc: false,
            reversal_original_direction: false,
            rate_limit_retry_after_secs: Some(60),
        }
    }
}

/// Event API caller settings (spec §8).
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// At most one notification per subscription per this interval (KB: 5 min).
    pub min_interval: Duration,
    /// Timeout of each call to the app's Event API (KB: 5 s).
    pub call_timeout: Duration,
    /// Delay before retrying a SUSPENDED subscription [I].
    pub suspended_retry_interval: Duration,
    /// Failed attempts (5xx/timeout) after which a subscription is STOPPED [I].
    pub max_failures: u32,
    /// How often the notifier looks for work.
    pub tick: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(300),
            call_timeout: Duration::from_secs(5),
            suspended_retry_interval: Duration::from_secs(60),
            max_failures: 3,
            tick: Duration::from_millis(200),
        }
    }
}

/// Fault injection switches (also settable at run time via `POST /control/faults`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FaultSettings {
    /// Probability (0..1) that an API request gets a 5xx.
    pub error_rate: f64,
    /// Probability that an API request gets a 429.
    pub rate_limit_rate: f64,
    /// Probability that an API request is delayed by `timeout_ms` (beyond the client's timeout).
    pub timeout_rate: f64,
    /// Delay used for injected timeouts, in milliseconds.
    pub timeout_ms: u64,
    /// Probability that the connection is dropped without an answer.
    pub drop_rate: f64,
    /// Deterministic queue of faults for the next API requests: `error`, `rate_limit`,
    /// `unchanged` (KB's unchanged-data 429), `timeout`, `drop`; each optionally for one
    /// endpoint only, `kind@endpoint` with endpoint `token`, `balances`, `transactions`,
    /// `next-page` (a transactions page after the first), `statements` or `accounts` (e.g.
    /// `rate_limit@balances`): the first entry that fits the request is taken, the others wait.
    pub next: Vec<String>,
    /// Number of upcoming next-page fetches (page > 0) before which a back-dated transaction is
    /// inserted, shifting the page boundaries.
    pub shift_next_pages: u32,
}

/// An injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 with the gateway's XML fault body.
    Error,
    /// 429 (a rate limit, with `Retry-After`).
    RateLimit,
    /// KB's unchanged-data 429 of the transaction list.
    Unchanged,
    /// Answer only after the configured delay.
    Timeout,
    /// Close the connection without an answer.
    Drop,
}

/// One API key per KB API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKeySet {
    /// Key for Client Registration.
    pub client_registration: String,
    /// Key for OAuth2 (token endpoint).
    pub oauth2: String,
    /// Key for ADAA.
    pub adaa: String,
}

impl ApiKeySet {
    pub(crate) fn generate() -> Self {
        Self {
            client_registration: uuid::Uuid::new_v4().to_string(),
            oauth2: uuid::Uuid::new_v4().to_string(),
            adaa: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// Optional fixed API keys (otherwise generated on first start and persisted).
#[derive(Debug, Clone, Default)]
pub struct ApiKeyOverrides {
    /// Keys for the production-shaped paths.
    pub production: Option<ApiKeySet>,
    /// Keys for the sandbox-shaped paths.
    pub sandbox: Option<ApiKeySet>,
}

/// Seed data generation (used only when the data dir holds no snapshot yet).
#[derive(Debug, Clone)]
pub struct SeedSettings {
    /// Generator seed.
    pub seed: u64,
    /// Accounts per demo user.
    pub accounts_per_user: usize,
    /// Transactions per account.
    pub transactions_per_account: usize,
    /// Days of history.
    pub days: u32,
}

impl Default for SeedSettings {
    fn default() -> Self {
        Self {
            seed: 42,
            accounts_per_user: 2,
            transactions_per_account: 60,
            days: 400,
        }
    }
}

/// Everything `KbSandbox::start` needs.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where the CA, certificates, signing key and state snapshot live.
    pub data_dir: PathBuf,
    /// HTTPS API listener (port 0 = pick a free port).
    pub api_addr: SocketAddr,
    /// Plain-HTTP browser/control listener; should be on 127.0.0.1.
    pub browser_addr: SocketAddr,
    /// Host name put into the server certificate and the base URLs.
    pub host_name: String,
    /// Injectable clock.
    pub clock: Arc<dyn Clock>,
    /// Token lifetimes.
    pub lifetimes: TokenLifetimes,
    /// Sandbox quirk toggles.
    pub quirks: Quirks,
    /// Inferred behaviour settings.
    pub behaviour: Behaviour,
    /// Event notification settings.
    pub events: EventSettings,
    /// Initial fault settings.
    pub faults: FaultSettings,
    /// Fixed API keys, if wanted.
    pub api_keys: ApiKeyOverrides,
    /// Seed data.
    pub seed: SeedSettings,
    /// Organisation name put into software statements as `vendorName`.
    pub vendor_name: String,
    /// IČO put into software statements as `vendorRegistrationNumber`.
    pub vendor_registration_number: String,
    /// Whether the state is written to `state.json` after changes (so the sandbox survives a
    /// restart). On by default; the benchmarks turn it off: with a large ledger each snapshot
    /// takes a core for a while, work that the real bank does not do on Kasa's machine.
    pub snapshots: bool,
}

impl SandboxConfig {
    /// Defaults: both listeners on 127.0.0.1 with free ports.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            browser_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            host_name: "localhost".to_owned(),
            clock: Arc::new(SystemClock),
            lifetimes: TokenLifetimes::default(),
            quirks: Quirks::default(),
            behaviour: Behaviour::default(),
            events: EventSettings::default(),
            faults: FaultSettings::default(),
            api_keys: ApiKeyOverrides::default(),
            seed: SeedSettings::default(),
            vendor_name: "Kasa Demo z.s.".to_owned(),
            vendor_registration_number: "12345678".to_owned(),
            snapshots: true,
        }
    }
}
