//! The state of a club's bank connection as people see it.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Honest state of the consent, derived from the stored dates and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Working; expires on the date shown.
    Active,
    /// Works, but expires within 30 days: renew.
    Expiring,
    /// The 12 months are over: renew to continue.
    Expired,
    /// KB refused the refresh token (consent withdrawn at the bank, or changed): reconnect.
    Broken,
    /// The club disconnected it.
    Disconnected,
}

impl ConnectionState {
    pub fn derive(status: &str, expires_at: Option<OffsetDateTime>, now: OffsetDateTime) -> Self {
        match status {
            "broken" => ConnectionState::Broken,
            "disconnected" => ConnectionState::Disconnected,
            _ => match expires_at {
                Some(at) if at <= now => ConnectionState::Expired,
                Some(at) if at - now <= Duration::days(30) => ConnectionState::Expiring,
                _ => ConnectionState::Active,
            },
        }
    }

    /// Translation key of the state's name.
    pub fn label_key(self) -> &'static str {
        match self {
            ConnectionState::Active => "bank.state.active",
            ConnectionState::Expiring => "bank.state.expiring",
            ConnectionState::Expired => "bank.state.expired",
            ConnectionState::Broken => "bank.state.broken",
            ConnectionState::Disconnected => "bank.state.disconnected",
        }
    }

    /// CSS class of the badge.
    pub fn css(self) -> &'static str {
        match self {
            ConnectionState::Active => "ok",
            ConnectionState::Expiring => "warn",
            ConnectionState::Expired | ConnectionState::Broken => "bad",
            ConnectionState::Disconnected => "muted",
        }
    }

    /// Whether the sync may use the connection.
    pub fn usable(self) -> bool {
        matches!(self, ConnectionState::Active | ConnectionState::Expiring)
    }
}

/// A connection as shown on the club's pages.
#[derive(Debug, Clone)]
pub struct ConnectionView {
    pub id: Uuid,
    pub state: ConnectionState,
    pub granted_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub broken_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_state_follows_the_expiry_date_and_the_status() {
        let now = datetime!(2026-11-27 12:00 UTC);
        let derive = |status, days: Option<i64>| {
            ConnectionState::derive(status, days.map(|d| now + Duration::days(d)), now)
        };
        assert_eq!(derive("active", Some(200)), ConnectionState::Active);
        assert_eq!(derive("active", Some(30)), ConnectionState::Expiring);
        assert_eq!(derive("active", Some(1)), ConnectionState::Expiring);
        assert_eq!(derive("active", Some(0)), ConnectionState::Expired);
        assert_eq!(derive("active", Some(-3)), ConnectionState::Expired);
        assert_eq!(derive("broken", Some(200)), ConnectionState::Broken);
        assert_eq!(
            derive("disconnected", Some(200)),
            ConnectionState::Disconnected
        );
        assert!(!ConnectionState::Expired.usable());
        assert!(ConnectionState::Expiring.usable());
    }
}
