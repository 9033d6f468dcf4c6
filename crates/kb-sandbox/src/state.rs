//! The sandbox's persistent state (demo users, accounts and ledgers, registered clients,
//! codes, tokens, subscriptions, download marks) and its atomic JSON snapshot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::config::ApiKeySet;
use super::error::SandboxError;

/// A fake KB client (the person who logs into the registration and consent pages).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    /// Login name, e.g. `Klient 1`.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// KB client number (`bin` in the registration callback).
    pub bin: String,
    /// Accounts this user owns.
    pub account_ids: Vec<String>,
}

/// One account with its full ledger (KB v2 transaction JSON, oldest first).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountRecord {
    /// ADAA `accountId`.
    pub account_id: String,
    /// IBAN.
    pub iban: String,
    /// National account number.
    pub number: String,
    /// Bank code (`0100`).
    pub bank_code: String,
    /// Account name.
    pub name: String,
    /// Currency.
    pub currency: String,
    /// Balance before the first ledger entry, in minor units.
    pub opening_balance_minor: i64,
    /// Ledger, oldest first. Rows are never changed once logged (a settled hold is a new row),
    /// so they are shared: copying the state for a snapshot copies pointers, not ledgers.
    pub transactions: Vec<std::sync::Arc<super::ledger::Row>>,
    /// Bumped on every change of the ledger (drives the unchanged-data limit).
    pub version: u64,
}

/// A client registered through the application registration pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRecord {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// Czech name.
    pub client_name: String,
    /// Registered OAuth2 redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Registered scopes.
    pub scopes: Vec<String>,
    /// The KB user who registered the app.
    pub user_id: String,
    /// Accounts the user chose.
    pub account_ids: Vec<String>,
    /// Registration time.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
}

/// An authorization code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthCode {
    /// The code.
    pub code: String,
    /// Bound client.
    pub client_id: String,
    /// Bound redirect URI.
    pub redirect_uri: String,
    /// The user who consented.
    pub user_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Already exchanged.
    pub used: bool,
}

/// A refresh or access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token string.
    pub token: String,
    /// Client.
    pub client_id: String,
    /// KB user.
    pub user_id: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Event subscription status (spec §8.1).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum SubscriptionStatus {
    /// Normal.
    Active,
    /// Last call failed; retrying.
    Suspended,
    /// Final.
    Stopped,
}

/// An event subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    /// GUID.
    pub subscription_id: String,
    /// Account.
    pub account_id: String,
    /// Client that subscribed.
    pub client_id: String,
    /// Base URL of the app's Event API.
    pub event_api_url: String,
    /// Secret sent back as `x-api-key`.
    pub event_api_key: String,
    /// Status.
    pub status: SubscriptionStatus,
    /// Last problem.
    pub status_narrative: Option<String>,
    /// Events not yet notified.
    pub pending_events: u32,
    /// Consecutive failures.
    pub failures: u32,
    /// Last attempt (successful or not).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_attempt_at: Option<OffsetDateTime>,
    /// Last successful notification.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_notified_at: Option<OffsetDateTime>,
    /// Whether the sandbox may call it (loopback URLs only).
    pub callable: bool,
}

/// When a client last downloaded an account's history, and which ledger version it saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownloadMark {
    /// Time of the last first-page download.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Ledger version seen then.
    pub version: u64,
}

/// Everything persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Snapshot format version.
    pub format: u32,
    /// API keys for production-shaped paths.
    pub production_keys: ApiKeySet,
    /// API keys for sandbox-shaped paths.
    pub sandbox_keys: ApiKeySet,
    /// Demo users.
    pub users: Vec<DemoUser>,
    /// Accounts.
    pub accounts: Vec<AccountRecord>,
    /// Registered clients.
    pub clients: Vec<ClientRecord>,
    /// Authorization codes.
    pub codes: Vec<AuthCode>,
    /// Refresh tokens.
    pub refresh_tokens: Vec<TokenRecord>,
    /// Access tokens.
    pub access_tokens: Vec<TokenRecord>,
    /// Event subscriptions.
    pub subscriptions: Vec<SubscriptionRecord>,
    /// Download marks keyed by `client_id|account_id`.
    pub downloads: BTreeMap<String, DownloadMark>,
    /// Counter for generated payments (seed for the generator).
    pub payment_counter: u64,
    /// Software statements issued (JWT ids).
    pub issued_statements: Vec<String>,
}

impl State {
    /// Account by id.
    pub fn account(&self, account_id: &str) -> Option<&AccountRecord> {
        self.accounts.iter().find(|a| a.account_id == account_id)
    }

    /// Mutable account by id.
    pub fn account_mut(&mut self, account_id: &str) -> Option<&mut AccountRecord> {
        self.accounts
            .iter_mut()
            .find(|a| a.account_id == account_id)
    }

    /// Client by id.
    pub fn client(&self, client_id: &str) -> Option<&ClientRecord> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// Drops expired codes and tokens.
    pub fn prune(&mut self, now: OffsetDateTime) {
        self.codes
            .retain(|c| c.expires_at > now - time::Duration::hours(1));
        self.access_tokens.retain(|t| t.expires_at > now);
        self.refresh_tokens.retain(|t| t.expires_at > now);
    }
}

/// The state behind a mutex plus its snapshot file.
#[derive(Debug)]
pub struct Store {
    state: std::sync::Arc<Mutex<State>>,
    /// Where snapshots go; `None`: never written (`SandboxConfig::snapshots` off).
    path: Option<PathBuf>,
    /// A background flush is scheduled or running.
    writing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Changes not yet in a snapshot.
    dirty: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Changes within this time are written together (one copy of the state, not one per change).
const FLUSH_DELAY: std::time::Duration = std::time::Duration::from_millis(300);

impl Store {
    /// Loads the snapshot at `path`, if any.
    pub fn load(path: &Path) -> Result<Option<State>, SandboxError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Wraps a state that will be saved to `path` (never saved if `None`).
    pub fn new(state: State, path: Option<PathBuf>) -> Self {
        Self {
            state: std::sync::Arc::new(Mutex::new(state)),
            path,
            writing: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
            dirty: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// Locks the state for reading (no save).
    pub fn read(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Runs `f` on the state and has the snapshot written (atomically) in the background: a
    /// flusher waits [`FLUSH_DELAY`] (or three times the last write's duration, if longer) so
    /// that a burst of changes is written once, copies the state under the lock (ledger rows
    /// are shared, so this copies pointers) and serializes it outside, so a large ledger does
    /// not stall requests. A clean stop ([`Store::save`]) writes everything; a crash may lose
    /// the last moments.
    pub fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        use std::sync::atomic::Ordering;
        let out = {
            let mut guard = self.read();
            f(&mut guard)
        };
        let Some(path) = self.path.clone() else {
            return out;
        };
        self.dirty.store(true, Ordering::SeqCst);
        if !self.writing.swap(true, Ordering::SeqCst) {
            let state = self.state.clone();
            let (writing, dirty) = (self.writing.clone(), self.dirty.clone());
            std::thread::spawn(move || {
                // A large ledger takes a while to serialize: leave the cores to the API for
                // at least three times as long as the last write took.
                let mut pause = FLUSH_DELAY;
                while dirty.swap(false, Ordering::SeqCst) {
                    std::thread::sleep(pause);
                    dirty.store(false, Ordering::SeqCst);
                    let started = std::time::Instant::now();
                    flush(&state, &path);
                    pause = FLUSH_DELAY.max(started.elapsed() * 3);
                }
                writing.store(false, Ordering::SeqCst);
                // A change that raced with the end of the loop: pick it up now.
                if dirty.load(Ordering::SeqCst) && !writing.swap(true, Ordering::SeqCst) {
                    dirty.store(false, Ordering::SeqCst);
                    flush(&state, &path);
                    writing.store(false, Ordering::SeqCst);
                }
            });
        }
        out
    }

    /// Writes the snapshot now (waits for a background write first).
    pub fn save(&self) -> Result<(), SandboxError> {
        use std::sync::atomic::Ordering;
        let Some(path) = &self.path else {
            return Ok(());
        };
        while self.writing.swap(true, Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let result = {
            let guard = self.read();
            self.dirty.store(false, Ordering::SeqCst);
            write_snapshot(path, &guard)
        };
        self.writing.store(false, Ordering::SeqCst);
        result
    }
}

/// Copies the state under its lock and writes the copy outside it.
fn flush(state: &Mutex<State>, path: &Path) {
    let copy = match state.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    };
    if let Err(e) = write_snapshot(path, &copy) {
        tracing::error!(error = %e, "kb sandbox: writing the state snapshot failed");
    }
}

/// Write to a temp file in the same directory, then rename over the snapshot.
fn write_snapshot(path: &Path, state: &State) -> Result<(), SandboxError> {
    let bytes = serde_json::to_vec(state)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
