//! Client for Komerční banka's "Account Direct Access" API family (ADAA, "Přímý přístup k účtu"):
//! Client Registration (software statement over mutual TLS), the browser-based application
//! registration with its AES-256-GCM callback, OAuth2 (authorization URL, code exchange, refresh)
//! and the ADAA runtime (accounts, balances, paged transactions, PDF statements, event
//! subscriptions). [`KbSettings`] holds URLs, API keys, TLS material, timeouts and the
//! [`KbQuirks`] switches for behaviour KB documents poorly; [`KbClient`] owns one shared HTTP
//! client; [`Error`] tells the caller whether to refresh, retry, ask the user or stop. Amounts are
//! exact minor units ([`money`]). Secrets are wrapped in [`Secret`] and never logged.

mod client;
mod error;
pub mod money;
mod registration;

mod text;
mod tls;
pub mod wire;

#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod test_server;

use std::path::PathBuf;
use std::time::Duration;

pub use crate::secret::Secret;
pub use client::{Downloaded, KbClient, TransactionDownload, format_kb_datetime};
pub use error::{Api, Error, Result, classify_response, parse_retry_after};
pub use money::Money;
pub use registration::{
    PendingRegistration, RegisteredClient, RegistrationCallback, RegistrationKeyPolicy,
    RegistrationParams, SANDBOX_ENCRYPTION_KEY, decrypt_callback_bytes, decrypt_registration,
    generate_encryption_key, generate_state,
};
pub use tls::{ClientIdentity, certificate_not_after};

/// KB's URLs. Production defaults are KB's real gateway URLs (ADAA v2, OAuth2 v3, Client
/// Registration v3, Application Registration UI v2, as used by 2025 integrations); override any
/// of them, e.g. to use v1/v2 paths or a local simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbEndpoints {
    /// Client Registration base; `/software-statements` is appended. Production uses the
    /// dedicated mTLS host `client-registration.api-gateway.kb.cz`.
    pub client_registration: String,
    /// Application Registration UI (browser redirect target), full URL.
    pub app_registration_ui: String,
    /// OAuth2 authorization endpoint (browser redirect target), full URL, kept verbatim.
    pub authorization: String,
    /// OAuth2 token endpoint, full URL; any trailing slash is removed (KB rejects it).
    pub token: String,
    /// ADAA base; resource paths such as `/accounts` are appended.
    pub adaa: String,
}

impl KbEndpoints {
    /// KB production.
    pub fn production() -> Self {
        Self {
            client_registration: "https://client-registration.api-gateway.kb.cz/v3".into(),
            app_registration_ui:
                "https://api-gateway.kb.cz/client-registration-ui/v2/saml/register".into(),
            authorization: "https://login.kb.cz/autfe/ssologin".into(),
            token: "https://api-gateway.kb.cz/oauth2/v3/access_token".into(),
            adaa: "https://api-gateway.kb.cz/adaa/v2".into(),
        }
    }

    /// KB's public sandbox (canned data, no real certificate needed).
    pub fn sandbox() -> Self {
        Self {
            client_registration: "https://api-gateway.kb.cz/sandbox/client-registration/v3".into(),
            app_registration_ui:
                "https://api-gateway.kb.cz/sandbox/client-registration-ui/v2/saml/register".into(),
            authorization: "https://api-gateway.kb.cz/sandbox/oauth2-authorization-ui/v3/".into(),
            token: "https://api-gateway.kb.cz/sandbox/oauth2/v3/access_token".into(),
            adaa: "https://api-gateway.kb.cz/sandbox/adaa/v2".into(),
        }
    }
}

/// One API key per KB API (a key issued for one API does not work for another). Sent as the
/// `apiKey` header, without any `Bearer ` prefix.
#[derive(Debug, Clone, Default)]
pub struct KbApiKeys {
    pub client_registration: Secret<String>,
    pub oauth: Secret<String>,
    pub adaa: Secret<String>,
}

/// Network timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbTimeouts {
    /// TCP + TLS connection establishment.
    pub connect: Duration,
    /// A whole JSON request, including reading the body.
    pub request: Duration,
    /// A statement PDF download.
    pub download: Duration,
}

impl Default for KbTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
            download: Duration::from_secs(120),
        }
    }
}

/// Switches for behaviour that KB's documentation leaves unclear or that differs between
/// production and sandbox (the spec's `[I]` items). Defaults follow production.
#[derive(Debug, Clone)]
pub struct KbQuirks {
    /// Send `redirect_uri` with the refresh-token grant (KB's examples do; one integrator reports
    /// the bank rejects a refresh without it).
    pub send_redirect_uri_on_refresh: bool,
    /// Percent-encode `registrationRequest` (production rejected that in 2025; raw by default).
    pub percent_encode_registration_request: bool,
    /// AES key for application registration (the sandbox accepts only its fixed key).
    pub registration_key: RegistrationKeyPolicy,
    /// Transactions page size (v2: at most 100; v1: at most 20).
    pub transactions_page_size: u32,
    /// Safety cap on pages fetched in one transaction download (10 000 pages of 100 are a
    /// million rows: far beyond two years of any club, but a runaway loop still ends).
    pub max_transaction_pages: u32,
    /// KB's "start the next page within 10 s" window; exceeding it is logged.
    pub next_page_window: Duration,
    /// Error codes meaning "account not exposed to the application" (matched case-insensitively).
    pub account_not_configured_codes: Vec<String>,
    /// Read an ADAA 403 that mentions the token ("Invalid certificate or token") as
    /// [`Error::Unauthorized`] (refresh and retry) rather than as a final rejection.
    pub forbidden_token_as_unauthorized: bool,
    /// Allow `http://` URLs (local simulators only). Server certificates are verified regardless.
    pub allow_insecure_http: bool,
    /// How a reversal's direction is marked (`KASA_KB_REVERSAL_CONVENTION`; the spec leaves
    /// `reversalIndicator` undocumented).
    pub reversal_convention: wire::ReversalConvention,
    /// Texts of KB's unchanged-data 429 on the transaction list (matched case-insensitively
    /// in the error body; `KASA_KB_UNCHANGED_DATA_MARKERS`).
    pub unchanged_data_markers: Vec<String>,
    /// Read every 429 of the transaction list as the unchanged-data answer, even without a
    /// known text (`KASA_KB_TRANSACTIONS_429_IS_UNCHANGED`; off: an unexplained 429 is a rate
    /// limit, the safe reading).
    pub transactions_429_is_unchanged: bool,
}

impl Default for KbQuirks {
    fn default() -> Self {
        Self {
            send_redirect_uri_on_refresh: true,
            percent_encode_registration_request: false,
            registration_key: RegistrationKeyPolicy::FreshPerRegistration,
            transactions_page_size: 100,
            max_transaction_pages: 10_000,
            next_page_window: Duration::from_secs(10),
            account_not_configured_codes: vec!["Account_not_configured".into()],
            forbidden_token_as_unauthorized: true,
            allow_insecure_http: false,
            reversal_convention: wire::ReversalConvention::OwnDirection,
            unchanged_data_markers: vec!["Unchanged data download limit".into()],
            transactions_429_is_unchanged: false,
        }
    }
}

/// Everything the KB client needs. `Debug` never shows secrets (they are [`Secret`]s).
#[derive(Debug, Clone)]
pub struct KbSettings {
    pub endpoints: KbEndpoints,
    pub api_keys: KbApiKeys,
    /// Client certificate for mutual TLS (required by Client Registration in production; also
    /// offered to the other KB hosts if they ask for one).
    pub identity: Option<ClientIdentity>,
    /// Extra trusted CA certificates (PEM bundle), in addition to the built-in web roots.
    pub ca_bundle: Option<PathBuf>,
    pub timeouts: KbTimeouts,
    pub quirks: KbQuirks,
}

impl KbSettings {
    /// Production URLs and defaults.
    pub fn production(api_keys: KbApiKeys, identity: Option<ClientIdentity>) -> Self {
        Self {
            endpoints: KbEndpoints::production(),
            api_keys,
            identity,
            ca_bundle: None,
            timeouts: KbTimeouts::default(),
            quirks: KbQuirks::default(),
        }
    }

    /// KB sandbox URLs, with the sandbox's fixed registration key.
    pub fn sandbox(api_keys: KbApiKeys) -> Self {
        Self {
            endpoints: KbEndpoints::sandbox(),
            api_keys,
            identity: None,
            ca_bundle: None,
            timeouts: KbTimeouts::default(),
            quirks: KbQuirks {
                registration_key: RegistrationKeyPolicy::Fixed(Secret::from(
                    SANDBOX_ENCRYPTION_KEY,
                )),
                ..KbQuirks::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_debug_redacts_every_secret() {
        let mut settings = KbSettings::production(
            KbApiKeys {
                client_registration: Secret::from("cr-key-123"),
                oauth: Secret::from("oauth-key-456"),
                adaa: Secret::from("adaa-key-789"),
            },
            Some(ClientIdentity::Pkcs12 {
                path: "/etc/kasa/kb.p12".into(),
                password: Secret::from("p12-password"),
            }),
        );
        settings.quirks.registration_key = RegistrationKeyPolicy::Fixed(Secret::from("fixed-key"));
        let text = format!("{settings:?}");
        for secret in [
            "cr-key-123",
            "oauth-key-456",
            "adaa-key-789",
            "p12-password",
            "fixed-key",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("[redacted]") && text.contains("/etc/kasa/kb.p12"));
    }

    #[test]
    fn production_defaults_are_kb_urls() {
        let endpoints = KbEndpoints::production();
        assert!(!endpoints.token.ends_with('/'));
        for url in [
            &endpoints.client_registration,
            &endpoints.app_registration_ui,
            &endpoints.authorization,
            &endpoints.token,
            &endpoints.adaa,
        ] {
            assert!(
                url.starts_with("https://") && url.contains(".kb.cz/"),
                "{url}"
            );
        }
        let sandbox = KbSettings::sandbox(KbApiKeys::default());
        assert!(matches!(
            sandbox.quirks.registration_key,
            RegistrationKeyPolicy::Fixed(_)
        ));
    }
}
