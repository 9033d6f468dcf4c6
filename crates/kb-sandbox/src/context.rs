//! Shared context of all handlers: configuration, persistent store, PKI, fault switches and
//! short-lived runtime state (paging sessions, token rate counters, pending registrations).

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use time::OffsetDateTime;

use super::config::{Fault, FaultSettings, SandboxConfig};
use super::pki::Pki;
use super::state::{AccountRecord, Store};

/// A paging session: the last page served for one (token, account, query).
#[derive(Debug, Clone)]
pub struct PagingSession {
    /// Last page number served.
    pub last_page: u32,
    /// When it was served.
    pub at: OffsetDateTime,
}

/// An application registration waiting for the user's login and account choice.
#[derive(Debug, Clone)]
pub struct PendingRegistration {
    /// Decoded `registrationRequest`.
    pub request: Value,
    /// `state` from the query.
    pub state: Option<String>,
    /// Raw 32-byte AES key.
    pub key: Vec<u8>,
    /// Where to send the encrypted callback.
    pub back_uri: String,
    /// Creation time.
    pub created: OffsetDateTime,
}

/// Runtime-only state.
#[derive(Debug, Default)]
pub struct Runtime {
    /// Paging sessions keyed by token|account|query.
    pub paging: HashMap<String, PagingSession>,
    /// Token endpoint request times per client.
    pub token_calls: HashMap<String, VecDeque<OffsetDateTime>>,
    /// Pending application registrations.
    pub registrations: HashMap<String, PendingRegistration>,
}

/// A computed ledger view (see [`super::ledger::view_until`]).
#[derive(Debug, Clone)]
pub struct CachedView {
    /// Ledger version it was computed from.
    pub version: u64,
    /// The instant it was computed for.
    pub at: OffsetDateTime,
    /// The next instant a row becomes visible (the view is valid before it).
    pub until: Option<OffsetDateTime>,
    /// Positions of the visible rows in API order.
    pub order: Arc<Vec<usize>>,
}

/// Everything shared.
#[derive(Debug)]
pub struct Inner {
    /// Configuration.
    pub cfg: SandboxConfig,
    /// Persistent state.
    pub store: Store,
    /// Certificates and signing key.
    pub pki: Pki,
    /// Current fault switches.
    pub faults: Mutex<FaultSettings>,
    /// Runtime state.
    pub runtime: Mutex<Runtime>,
    /// Per account: the visible rows in API order, valid until the ledger changes or the next
    /// row becomes visible, so paging through a large ledger does not recompute the view for
    /// every page. Locked only while the store is read (never the other way round).
    pub views: Mutex<HashMap<String, CachedView>>,
    /// Wakes the notifier.
    pub notify: tokio::sync::Notify,
    /// HTTP client for the Event API.
    pub http: reqwest::Client,
    /// HTTPS API base URL.
    pub api_base: String,
    /// Plain-HTTP browser base URL.
    pub browser_base: String,
}

/// Cheap handle to [`Inner`].
#[derive(Debug, Clone)]
pub struct Ctx(pub Arc<Inner>);

impl Deref for Ctx {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Ctx {
    /// Now, from the configured clock.
    pub fn now(&self) -> OffsetDateTime {
        self.cfg.clock.now()
    }

    /// What the API shows of `account` at `now` (positions in its ledger, API order), from the
    /// cache when still valid. Call with the store locked (`account` borrowed from it).
    pub fn view_order(&self, account: &AccountRecord, now: OffsetDateTime) -> Arc<Vec<usize>> {
        let mut views = lock(&self.views);
        if let Some(v) = views.get(&account.account_id)
            && v.version == account.version
            && v.at <= now
            && v.until.is_none_or(|u| now < u)
        {
            return v.order.clone();
        }
        let (order, until) = super::ledger::view_until(&account.transactions, now);
        let order = Arc::new(order);
        views.insert(
            account.account_id.clone(),
            CachedView {
                version: account.version,
                at: now,
                until,
                order: order.clone(),
            },
        );
        order
    }

    /// Keeps the cached view of `account` current after the row now at `pos` of its ledger was
    /// inserted, the change that moves its version from `account.version` to `new_version`
    /// (call under the store's lock, inside that change): a view valid at `now` is updated in
    /// place ([`super::ledger::view_insert`]), so a payment does not cost a recomputation of the
    /// whole view; any other cached view is dropped.
    pub fn view_inserted(
        &self,
        account: &AccountRecord,
        new_version: u64,
        pos: usize,
        now: OffsetDateTime,
    ) {
        let mut views = lock(&self.views);
        let Some(v) = views.get_mut(&account.account_id) else {
            return;
        };
        if v.version != account.version || v.at > now || v.until.is_some_and(|u| now >= u) {
            views.remove(&account.account_id);
            return;
        }
        let order = Arc::make_mut(&mut v.order);
        if let Some(later) = super::ledger::view_insert(&account.transactions, order, pos, now) {
            v.until = Some(v.until.map_or(later, |u| u.min(later)));
        }
        v.version = new_version;
        v.at = now;
    }

    /// Locks the runtime state.
    pub fn runtime(&self) -> MutexGuard<'_, Runtime> {
        lock(&self.runtime)
    }

    /// Locks the fault switches.
    pub fn faults(&self) -> MutexGuard<'_, FaultSettings> {
        lock(&self.faults)
    }

    /// Decides whether the API request for `path` gets a fault: the first queued entry that
    /// fits the path (`kind` or `kind@endpoint`), else a random one by the rates.
    pub fn take_fault(&self, path: &str, query: Option<&str>) -> Option<Fault> {
        let mut f = self.faults();
        let next_page = endpoint_of(path) == Some("transactions")
            && query.is_some_and(|q| {
                q.split('&')
                    .any(|pair| pair.starts_with("page=") && pair != "page=0")
            });
        let fits = |entry: &str| match entry.split_once('@') {
            None => true,
            Some((_, "next-page")) => next_page,
            Some((_, endpoint)) => endpoint_of(path) == Some(endpoint),
        };
        if let Some(at) = f.next.iter().position(|entry| fits(entry)) {
            let entry = f.next.remove(at);
            let kind = entry.split('@').next().unwrap_or_default();
            return match kind {
                "error" => Some(Fault::Error),
                "rate_limit" => Some(Fault::RateLimit),
                "unchanged" => Some(Fault::Unchanged),
                "timeout" => Some(Fault::Timeout),
                "drop" => Some(Fault::Drop),
                _ => None,
            };
        }
        let mut rng = rand::thread_rng();
        let mut roll = |p: f64| p > 0.0 && rng.gen_bool(p.min(1.0));
        if roll(f.drop_rate) {
            Some(Fault::Drop)
        } else if roll(f.error_rate) {
            Some(Fault::Error)
        } else if roll(f.rate_limit_rate) {
            Some(Fault::RateLimit)
        } else if roll(f.timeout_rate) {
            Some(Fault::Timeout)
        } else {
            None
        }
    }

    /// Delay of injected timeouts.
    pub fn fault_delay(&self) -> Duration {
        let ms = self.faults().timeout_ms;
        Duration::from_millis(if ms == 0 { 60_000 } else { ms })
    }
}

/// The endpoint name of an API path, for endpoint-specific faults.
pub fn endpoint_of(path: &str) -> Option<&'static str> {
    let path = path.trim_end_matches('/');
    if path.ends_with("/access_token") {
        Some("token")
    } else if path.ends_with("/balances") {
        Some("balances")
    } else if path.ends_with("/transactions") {
        Some("transactions")
    } else if path.contains("/statements") {
        Some("statements")
    } else if path.ends_with("/accounts") {
        Some("accounts")
    } else {
        None
    }
}
