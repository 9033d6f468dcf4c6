//! The state of a club's bank connection as people see it: the stored [`ConnectionStatus`],
//! the derived [`ConnectionState`], and the [`ConnectionView`] pages get (no secrets in it).

use std::fmt;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What `app.bank_connections.status` says (checked text; migration `app/0005`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// The tokens are stored and work (until KB refuses them or the consent expires).
    Active,
    /// KB refused the refresh token; the secrets stay until the club renews or disconnects.
    Broken,
    /// The club disconnected; every secret is gone.
    Disconnected,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Broken => "broken",
            Self::Disconnected => "disconnected",
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    pub fn derive(
        status: ConnectionStatus,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Self {
        match status {
            ConnectionStatus::Broken => ConnectionState::Broken,
            ConnectionStatus::Disconnected => ConnectionState::Disconnected,
            ConnectionStatus::Active => match expires_at {
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

/// A connection as shown on the club's pages: what people may know, never a secret (from
/// [`crate::consent::Consent::connection`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionView {
    pub id: Uuid,
    pub state: ConnectionState,
    /// When the consent was granted (or last renewed).
    pub granted_at: Option<OffsetDateTime>,
    /// When the consent expires (12 months after the grant).
    pub expires_at: Option<OffsetDateTime>,
    /// KB's reason when the connection broke (technical text).
    pub broken_reason: Option<String>,
}

/// The columns of `app.bank_connections` a [`ConnectionView`] is made of.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct ViewRow {
    pub id: Uuid,
    pub status: ConnectionStatus,
    pub consent_granted_at: Option<OffsetDateTime>,
    pub consent_expires_at: Option<OffsetDateTime>,
    pub broken_reason: Option<String>,
}

impl ConnectionView {
    pub(super) fn from_row(row: ViewRow, now: OffsetDateTime) -> Self {
        Self {
            id: row.id,
            state: ConnectionState::derive(row.status, row.consent_expires_at, now),
            granted_at: row.consent_granted_at,
            expires_at: row.consent_expires_at,
            broken_reason: row.broken_reason,
        }
    }
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
        use ConnectionStatus::{Active, Broken, Disconnected};
        assert_eq!(derive(Active, Some(200)), ConnectionState::Active);
        assert_eq!(derive(Active, Some(30)), ConnectionState::Expiring);
        assert_eq!(derive(Active, Some(1)), ConnectionState::Expiring);
        assert_eq!(derive(Active, Some(0)), ConnectionState::Expired);
        assert_eq!(derive(Active, Some(-3)), ConnectionState::Expired);
        assert_eq!(derive(Broken, Some(200)), ConnectionState::Broken);
        assert_eq!(
            derive(Disconnected, Some(200)),
            ConnectionState::Disconnected
        );
        assert!(!ConnectionState::Expired.usable());
        assert!(ConnectionState::Expiring.usable());
    }
}
