//! Where Kasa's KB client points: the built-in sandbox (the default) or a real KB gateway.
//!
//! With no KB variable set, `kasa serve` starts the built-in KB sandbox in-process and points
//! the client at it. Setting any `KASA_KB_*` API key switches to an external KB: production URLs
//! by default (`KASA_KB_ENV=kb-sandbox` picks KB's public sandbox), each URL overridable, the
//! operator's qualified certificate for mTLS, and every behaviour the KB spec marks as inferred
//! ([I]) as a setting. docs/kb.md lists them all.

use crate::bank::wire::ReversalConvention;
use crate::bank::{
    ClientIdentity, KbApiKeys, KbEndpoints, KbQuirks, KbSettings, RegistrationKeyPolicy,
};
use crate::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// How Kasa reaches KB.
#[derive(Debug, Clone)]
pub enum KbSetting {
    /// Start the built-in sandbox and use it.
    BuiltInSandbox,
    /// A real KB gateway (production or KB's public sandbox), or any external simulator.
    External(Box<KbSettings>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct KbConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn err(variable: &'static str, problem: impl Into<String>) -> KbConfigError {
    KbConfigError {
        variable,
        problem: problem.into(),
    }
}

const KEY_VARS: [&str; 3] = [
    "KASA_KB_CLIENT_REGISTRATION_API_KEY",
    "KASA_KB_OAUTH_API_KEY",
    "KASA_KB_ADAA_API_KEY",
];

fn flag(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: bool,
) -> Result<bool, KbConfigError> {
    match get(variable).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(err(
            variable,
            format!("expected true or false, got {other:?}"),
        )),
    }
}

/// Reads the KB settings through `get` (the environment in production, a map in tests).
pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<KbSetting, KbConfigError> {
    let value = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    if KEY_VARS.iter().all(|k| value(k).is_none()) {
        return Ok(KbSetting::BuiltInSandbox);
    }
    let mut endpoints = match value("KASA_KB_ENV").as_deref() {
        None | Some("production") => KbEndpoints::production(),
        Some("kb-sandbox") => KbEndpoints::sandbox(),
        Some(other) => {
            return Err(err(
                "KASA_KB_ENV",
                format!("expected production or kb-sandbox, got {other:?}"),
            ));
        }
    };
    for (variable, slot) in [
        (
            "KASA_KB_CLIENT_REGISTRATION_URL",
            &mut endpoints.client_registration,
        ),
        (
            "KASA_KB_APP_REGISTRATION_URL",
            &mut endpoints.app_registration_ui,
        ),
        ("KASA_KB_AUTHORIZATION_URL", &mut endpoints.authorization),
        ("KASA_KB_TOKEN_URL", &mut endpoints.token),
        ("KASA_KB_ADAA_URL", &mut endpoints.adaa),
    ] {
        if let Some(url) = value(variable) {
            url::Url::parse(&url).map_err(|e| err(variable, e.to_string()))?;
            *slot = url;
        }
    }
    let key = |name: &str| Secret::new(value(name).unwrap_or_default());
    let api_keys = KbApiKeys {
        client_registration: key(KEY_VARS[0]),
        oauth: key(KEY_VARS[1]),
        adaa: key(KEY_VARS[2]),
    };
    let identity = match (
        value("KASA_KB_CERT_PEM"),
        value("KASA_KB_KEY_PEM"),
        value("KASA_KB_CERT_P12"),
    ) {
        (Some(cert), Some(key), None) => Some(ClientIdentity::Pem {
            cert_path: PathBuf::from(cert),
            key_path: PathBuf::from(key),
        }),
        (None, None, Some(p12)) => Some(ClientIdentity::Pkcs12 {
            path: PathBuf::from(p12),
            password: Secret::new(value("KASA_KB_CERT_P12_PASSWORD").unwrap_or_default()),
        }),
        (None, None, None) => None,
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(err(
                "KASA_KB_CERT_PEM",
                "set both KASA_KB_CERT_PEM and KASA_KB_KEY_PEM",
            ));
        }
        _ => {
            return Err(err(
                "KASA_KB_CERT_P12",
                "use either PEM files or a PKCS#12 file, not both",
            ));
        }
    };
    let defaults = KbQuirks::default();
    let page_size = match value("KASA_KB_PAGE_SIZE") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| err("KASA_KB_PAGE_SIZE", "expected 1 to 100"))?,
        None => defaults.transactions_page_size,
    };
    let quirks = KbQuirks {
        send_redirect_uri_on_refresh: flag(
            &get,
            "KASA_KB_REFRESH_SENDS_REDIRECT_URI",
            defaults.send_redirect_uri_on_refresh,
        )?,
        percent_encode_registration_request: flag(
            &get,
            "KASA_KB_PERCENT_ENCODE_REGISTRATION",
            defaults.percent_encode_registration_request,
        )?,
        registration_key: match value("KASA_KB_FIXED_REGISTRATION_KEY") {
            Some(k) => RegistrationKeyPolicy::Fixed(Secret::new(k)),
            None => defaults.registration_key.clone(),
        },
        transactions_page_size: page_size,
        account_not_configured_codes: match value("KASA_KB_ACCOUNT_NOT_CONFIGURED_CODES") {
            Some(list) => list
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect(),
            None => defaults.account_not_configured_codes.clone(),
        },
        forbidden_token_as_unauthorized: flag(
            &get,
            "KASA_KB_FORBIDDEN_TOKEN_AS_UNAUTHORIZED",
            defaults.forbidden_token_as_unauthorized,
        )?,
        allow_insecure_http: flag(&get, "KASA_KB_ALLOW_HTTP", defaults.allow_insecure_http)?,
        reversal_convention: match value("KASA_KB_REVERSAL_CONVENTION") {
            Some(v) => ReversalConvention::parse(&v).ok_or_else(|| {
                err(
                    "KASA_KB_REVERSAL_CONVENTION",
                    format!("expected own-direction or original-direction, got {v:?}"),
                )
            })?,
            None => defaults.reversal_convention,
        },
        unchanged_data_markers: match value("KASA_KB_UNCHANGED_DATA_MARKERS") {
            Some(list) => list
                .split('|')
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect(),
            None => defaults.unchanged_data_markers.clone(),
        },
        transactions_429_is_unchanged: flag(
            &get,
            "KASA_KB_TRANSACTIONS_429_IS_UNCHANGED",
            defaults.transactions_429_is_unchanged,
        )?,
        ..defaults
    };
    let mut settings = KbSettings::production(api_keys, identity);
    settings.endpoints = endpoints;
    settings.ca_bundle = value("KASA_KB_CA_BUNDLE").map(PathBuf::from);
    settings.quirks = quirks;
    if let Some(secs) = value("KASA_KB_TIMEOUT_SECS") {
        let secs: u64 = secs
            .parse()
            .map_err(|_| err("KASA_KB_TIMEOUT_SECS", "expected seconds"))?;
        settings.timeouts.request = Duration::from_secs(secs);
    }
    Ok(KbSetting::External(Box::new(settings)))
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<T>, KbConfigError> {
    match get(variable).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| err(variable, format!("expected a number, got {v:?}"))),
    }
}

use kb_sandbox::config::ClosedBalanceStamp;

/// Applies the `KASA_SANDBOX_*` settings to the built-in sandbox's configuration: its
/// simulated timing rules, data and the quirks of KB's own sandbox (on `/sandbox/...` paths).
pub fn apply_sandbox_settings(
    sandbox: &mut kb_sandbox::SandboxConfig,
    get: impl Fn(&str) -> Option<String>,
) -> Result<(), KbConfigError> {
    let secs = |v: u64| Duration::from_secs(v);
    if let Some(v) = number::<u64>(&get, "KASA_SANDBOX_EVENT_INTERVAL_SECS")? {
        sandbox.events.min_interval = secs(v);
    }
    if let Some(v) = number::<u64>(&get, "KASA_SANDBOX_NEXT_PAGE_WINDOW_SECS")? {
        sandbox.behaviour.next_page_window = (v > 0).then(|| secs(v));
    }
    if let Some(v) = number::<u64>(&get, "KASA_SANDBOX_UNCHANGED_DATA_LIMIT_SECS")? {
        sandbox.behaviour.unchanged_data_limit = (v > 0).then(|| secs(v));
    }
    if let Some(v) = number::<i64>(&get, "KASA_SANDBOX_HISTORY_DAYS")? {
        sandbox.behaviour.history_limit_days = v;
    }
    match get("KASA_SANDBOX_PENDING_STATUS").as_deref().map(str::trim) {
        None | Some("") => {}
        Some(literal @ ("PDNG" | "PNG")) => {
            sandbox.behaviour.pending_status_literal = literal.to_owned()
        }
        Some(other) => {
            return Err(err(
                "KASA_SANDBOX_PENDING_STATUS",
                format!("expected PDNG or PNG, got {other:?}"),
            ));
        }
    }
    match get("KASA_SANDBOX_CLOSED_BALANCE_VALID_AT")
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => {}
        Some("request-time") => {
            sandbox.behaviour.closed_balance_valid_at = ClosedBalanceStamp::RequestTime
        }
        Some("day-start") => {
            sandbox.behaviour.closed_balance_valid_at = ClosedBalanceStamp::DayStart
        }
        Some(other) => {
            return Err(err(
                "KASA_SANDBOX_CLOSED_BALANCE_VALID_AT",
                format!("expected request-time or day-start, got {other:?}"),
            ));
        }
    }
    match get("KASA_SANDBOX_BOOKING_DAY").as_deref().map(str::trim) {
        None | Some("") | Some("prague") => {}
        Some("utc") => sandbox.behaviour.booking_day_utc = true,
        Some(other) => {
            return Err(err(
                "KASA_SANDBOX_BOOKING_DAY",
                format!("expected prague or utc, got {other:?}"),
            ));
        }
    }
    match get("KASA_SANDBOX_REVERSAL_CONVENTION")
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("own-direction") => {}
        Some("original-direction") => sandbox.behaviour.reversal_original_direction = true,
        Some(other) => {
            return Err(err(
                "KASA_SANDBOX_REVERSAL_CONVENTION",
                format!("expected own-direction or original-direction, got {other:?}"),
            ));
        }
    }
    if let Some(v) = number::<u64>(&get, "KASA_SANDBOX_RETRY_AFTER_SECS")? {
        sandbox.behaviour.rate_limit_retry_after_secs = (v > 0).then_some(v);
    }
    if let Some(v) = number::<u64>(&get, "KASA_SANDBOX_SEED")? {
        sandbox.seed.seed = v;
    }
    if let Some(v) = number::<usize>(&get, "KASA_SANDBOX_TRANSACTIONS_PER_ACCOUNT")? {
        sandbox.seed.transactions_per_account = v;
    }
    let q = &mut sandbox.quirks;
    q.fixed_encryption_key = flag(
        &get,
        "KASA_SANDBOX_FIXED_ENCRYPTION_KEY",
        q.fixed_encryption_key,
    )?;
    q.drop_state_on_authorization_redirect = flag(
        &get,
        "KASA_SANDBOX_DROP_STATE",
        q.drop_state_on_authorization_redirect,
    )?;
    q.quoted_callback_values = flag(
        &get,
        "KASA_SANDBOX_QUOTED_CALLBACK",
        q.quoted_callback_values,
    )?;
    q.registration_status_200 = flag(
        &get,
        "KASA_SANDBOX_REGISTRATION_200",
        q.registration_status_200,
    )?;
    q.registration_without_certificate = flag(
        &get,
        "KASA_SANDBOX_REGISTRATION_WITHOUT_CERTIFICATE",
        q.registration_without_certificate,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn with_no_kb_variable_the_built_in_sandbox_is_used() {
        assert!(matches!(
            from_lookup(lookup(&[])),
            Ok(KbSetting::BuiltInSandbox)
        ));
    }

    #[test]
    fn an_api_key_switches_to_kb_production_with_overrides() {
        let setting = from_lookup(lookup(&[
            ("KASA_KB_ADAA_API_KEY", "adaa-key"),
            ("KASA_KB_OAUTH_API_KEY", "oauth-key"),
            ("KASA_KB_CERT_P12", "/etc/kasa/qualified.p12"),
            ("KASA_KB_CERT_P12_PASSWORD", "p12-secret"),
            (
                "KASA_KB_TOKEN_URL",
                "https://token.example/oauth2/v3/access_token",
            ),
            ("KASA_KB_REFRESH_SENDS_REDIRECT_URI", "false"),
            ("KASA_KB_REVERSAL_CONVENTION", "original-direction"),
        ]))
        .expect("valid");
        let KbSetting::External(settings) = setting else {
            panic!("expected external")
        };
        assert_eq!(settings.endpoints.adaa, "https://api-gateway.kb.cz/adaa/v2");
        assert_eq!(
            settings.endpoints.token,
            "https://token.example/oauth2/v3/access_token"
        );
        assert!(!settings.quirks.send_redirect_uri_on_refresh);
        assert_eq!(
            settings.quirks.reversal_convention,
            ReversalConvention::OriginalDirection
        );
        assert!(!settings.quirks.transactions_429_is_unchanged);
        assert!(matches!(
            settings.identity,
            Some(ClientIdentity::Pkcs12 { .. })
        ));
        let printed = format!("{settings:?}");
        for secret in ["adaa-key", "oauth-key", "p12-secret"] {
            assert!(!printed.contains(secret), "{secret} printed");
        }
    }

    #[test]
    fn sandbox_settings_change_the_simulated_rules() {
        let mut sandbox = kb_sandbox::SandboxConfig::new("/tmp/x");
        apply_sandbox_settings(
            &mut sandbox,
            lookup(&[
                ("KASA_SANDBOX_EVENT_INTERVAL_SECS", "1"),
                ("KASA_SANDBOX_NEXT_PAGE_WINDOW_SECS", "0"),
                ("KASA_SANDBOX_PENDING_STATUS", "PNG"),
                ("KASA_SANDBOX_QUOTED_CALLBACK", "true"),
                ("KASA_SANDBOX_CLOSED_BALANCE_VALID_AT", "day-start"),
                ("KASA_SANDBOX_REVERSAL_CONVENTION", "original-direction"),
            ]),
        )
        .expect("valid");
        assert_eq!(sandbox.events.min_interval, Duration::from_secs(1));
        assert_eq!(sandbox.behaviour.next_page_window, None);
        assert_eq!(sandbox.behaviour.pending_status_literal, "PNG");
        assert!(sandbox.quirks.quoted_callback_values);
        assert_eq!(
            sandbox.behaviour.closed_balance_valid_at,
            ClosedBalanceStamp::DayStart
        );
        assert!(sandbox.behaviour.reversal_original_direction);
        let e = apply_sandbox_settings(
            &mut sandbox,
            lookup(&[("KASA_SANDBOX_PENDING_STATUS", "X")]),
        );
        assert_eq!(
            e.err().map(|e| e.variable),
            Some("KASA_SANDBOX_PENDING_STATUS")
        );
    }

    #[test]
    fn bad_values_are_named_errors() {
        let e = from_lookup(lookup(&[
            ("KASA_KB_ADAA_API_KEY", "k"),
            ("KASA_KB_PAGE_SIZE", "500"),
        ]));
        assert_eq!(e.err().map(|e| e.variable), Some("KASA_KB_PAGE_SIZE"));
        let e = from_lookup(lookup(&[
            ("KASA_KB_ADAA_API_KEY", "k"),
            ("KASA_KB_CERT_PEM", "/a.pem"),
        ]));
        assert_eq!(e.err().map(|e| e.variable), Some("KASA_KB_CERT_PEM"));
        let e = from_lookup(lookup(&[
            ("KASA_KB_ADAA_API_KEY", "k"),
            ("KASA_KB_ENV", "uat"),
        ]));
        assert_eq!(e.err().map(|e| e.variable), Some("KASA_KB_ENV"));
    }
}
