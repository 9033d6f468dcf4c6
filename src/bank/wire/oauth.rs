//! KB's OAuth2 token endpoint: the token response (code exchange and refresh) and the client
//! credentials it needs.

use serde::Deserialize;
use time::OffsetDateTime;

use super::lenient::{lenient_i64, lenient_string};
use crate::secret::Secret;

/// Token endpoint response. The code exchange returns a refresh token (12 months); a refresh
/// returns only a new access token (≈3 minutes): keep using the old refresh token.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret<String>,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Lifetime of the access token in seconds.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<Secret<String>>,
    #[serde(default)]
    pub scope: Option<String>,
    /// Authentication context (`"0"` = non-SCA), number or string or null.
    #[serde(default, deserialize_with = "lenient_string")]
    pub acr: Option<String>,
}

impl TokenResponse {
    /// When the access token expires, counted from `received_at`.
    pub fn expires_at(&self, received_at: OffsetDateTime) -> Option<OffsetDateTime> {
        self.expires_in
            .map(|secs| received_at + time::Duration::seconds(secs))
    }
}

/// Client credentials from the application registration (`client_secret_post`).
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Secret<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_code_exchange_and_refresh() -> Result<(), serde_json::Error> {
        let exchange: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","access_token":"a.b.c","id_token":null,"refresh_token":"r.s.t","expires_in":3600,"acr":null}"#,
        )?;
        assert_eq!(exchange.expires_in, Some(3600));
        assert_eq!(
            exchange.refresh_token.as_ref().map(Secret::expose_str),
            Some("r.s.t")
        );
        assert!(!format!("{exchange:?}").contains("a.b.c"));
        let refresh: TokenResponse = serde_json::from_str(
            r#"{"access_token":"x.y.z","scope":"adaa","token_type":"Bearer","expires_in":179}"#,
        )?;
        assert!(refresh.refresh_token.is_none());
        let odd: TokenResponse =
            serde_json::from_str(r#"{"access_token":"x","expires_in":"180","acr":0}"#)?;
        assert_eq!(odd.expires_in, Some(180));
        assert_eq!(odd.acr.as_deref(), Some("0"));
        Ok(())
    }
}
