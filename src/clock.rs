//! Time as a dependency: production code asks a [`Clock`], tests own one they can move.
//!
//! Nothing else in the crate reads the system clock for business decisions (token expiry,
//! throttling windows, reminders); that keeps every time-based rule testable without sleeping.
//! `clippy.toml` enforces it: reading the wall clock (`OffsetDateTime::now_utc`,
//! `SystemTime::now`, `jiff::Timestamp::now`, …) is a `disallowed_methods` error everywhere but
//! here (and in the KB sandbox's own clock). Code without a `Clock` at hand that truly needs the
//! real time asks [`SystemClock`].

use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// A source of "now".
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one place Kasa reads the wall clock.
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that tests move by hand. Starts at the real time of its creation.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self {
            now: Arc::new(Mutex::new(SystemClock.now())),
        }
    }

    /// Moves the clock forward (or backward with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The shared handle the application passes around.
pub type SharedClock = Arc<dyn Clock>;
