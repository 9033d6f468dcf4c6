//! The KB client's single error type, classified by what the caller should do next (refresh the
//! access token, wait and retry, ask the user to re-authorize, or stop), and the classification
//! of KB's HTTP error responses: JSON bodies of every known shape, WSO2 API Manager XML faults,
//! HTML or empty bodies, `Retry-After` headers. Error texts are short, cut to a bounded length,
//! never include rejected values, and have the request's secrets scrubbed out.

use std::time::Duration;

use time::OffsetDateTime;

use crate::clock::{Clock as _, SystemClock};

use super::KbQuirks;
use super::text::shorten;
use super::wire::ErrorResponse;

/// Result of the KB client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, by outcome.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The access token was rejected (HTTP 401, or 403 naming the token): refresh it and retry.
    #[error("KB rejected the access token: {reason}")]
    Unauthorized { reason: String },
    /// The grant or the client registration is no longer valid (OAuth2 `invalid_grant`,
    /// `invalid_client`, `unauthorized_client`): the user must authorize (or register) again.
    #[error("KB consent is no longer valid: {reason}")]
    ConsentGone { reason: String },
    /// Too many requests (HTTP 429, WSO2 throttling). Unchanged transaction data may be
    /// downloaded once per 61 minutes; token requests are throttled too.
    #[error("KB rate limit reached: {reason}")]
    RateLimited {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// KB's unchanged-data answer on the transaction list (HTTP 429 "Unchanged data download
    /// limit reached"): nothing changed since the last download of this window, which may be
    /// repeated once per 61 minutes. Only [`super::KbClient::transactions_page`] returns it;
    /// every other 429 is [`Error::RateLimited`]. Whether "nothing new" is true for Kasa
    /// depends on whether that last download was applied (the sync decides).
    #[error("KB: transaction data unchanged since the last download: {reason}")]
    UnchangedData {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// KB's paging moved under the download (a transaction was booked into the window while
    /// it was paged): download the window again.
    #[error("KB: the transaction history changed during paging")]
    HistoryShifted,
    /// The account is not among those the user exposed to the application
    /// (`Account_not_configured`, or 403 "no access to account / blacklist").
    #[error("account not available to this application: {reason}")]
    AccountNotConfigured { reason: String },
    /// The resource does not exist (HTTP 404, e.g. an unknown event subscription).
    #[error("not found at KB: {reason}")]
    NotFound { reason: String },
    /// KB refused the request as invalid (other 4xx): a bug or a configuration problem (wrong API
    /// key, certificate, parameters). Retrying the same request will not help.
    #[error("KB rejected the request (HTTP {status}): {reason}")]
    Rejected { status: u16, reason: String },
    /// KB or the network is down or slow: 5xx, timeouts, connection errors, WSO2 faults.
    #[error("KB is unavailable: {reason}")]
    Unavailable { reason: String },
    /// KB answered with something this client does not understand.
    #[error("unexpected response from KB: {0}")]
    Protocol(String),
    /// The application-registration callback could not be read or decrypted.
    #[error("invalid registration callback: {0}")]
    InvalidCallback(String),
    /// The client's settings are unusable (bad URL, unreadable certificate, ...).
    #[error("invalid KB client configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether the same operation may succeed later without the user's involvement: after a
    /// pause ([`Error::RateLimited`], [`Error::Unavailable`]) or after refreshing the access
    /// token ([`Error::Unauthorized`]). Everything else needs a person (the user or an admin).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized { .. }
                | Self::RateLimited { .. }
                | Self::UnchangedData { .. }
                | Self::HistoryShifted
                | Self::Unavailable { .. }
        )
    }

    /// The wait KB asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::UnchangedData { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Whether the access token should be refreshed before retrying.
    pub fn needs_token_refresh(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }

    /// Whether the KB user must act (re-authorize, or expose the account again in KB's app).
    pub fn needs_user_action(&self) -> bool {
        matches!(
            self,
            Self::ConsentGone { .. } | Self::AccountNotConfigured { .. }
        )
    }

    /// Classifies a transport-level failure of reqwest (never includes the URL).
    pub(crate) fn from_transport(err: reqwest::Error) -> Self {
        let err = err.without_url();
        let detail = error_chain(&err);
        if err.is_timeout() {
            Self::Unavailable {
                reason: format!("timed out ({detail})"),
            }
        } else if err.is_builder() {
            Self::Config(detail)
        } else if err.is_decode() {
            Self::Protocol(detail)
        } else if err.is_redirect() {
            Self::Protocol(format!("unexpected redirect ({detail})"))
        } else {
            Self::Unavailable { reason: detail }
        }
    }
}

pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    shorten(&text)
}

/// Which KB API answered; they differ in error conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Client Registration (software statements, mTLS).
    ClientRegistration,
    /// OAuth2 token endpoint.
    OAuth,
    /// Account Direct Access API.
    Adaa,
}

/// OAuth2 error codes that mean the user (or the registration) must start over.
const CONSENT_GONE_CODES: &[&str] = &["invalid_grant", "invalid_client", "unauthorized_client"];

/// WSO2 API Manager throttling fault codes (900800–900809).
fn is_wso2_throttle_code(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|c| (900_800..=900_809).contains(&c))
}

/// What an error body said, reduced to codes and a short description.
#[derive(Debug, Default)]
struct BodySummary {
    codes: Vec<String>,
    text: String,
    oauth_error: Option<String>,
}

fn summarize_body(body: &[u8], secrets: &[&str]) -> BodySummary {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    let mut summary = BodySummary::default();
    if trimmed.is_empty() {
        return summary;
    }
    if let Ok(json) = serde_json::from_str::<ErrorResponse>(trimmed) {
        summary.oauth_error = json.error.clone();
        summary.codes = json.codes().into_iter().map(str::to_owned).collect();
        let mut parts: Vec<String> = Vec::new();
        if let Some(code) = summary.codes.first() {
            parts.push(code.clone());
        }
        parts.extend(json.messages());
        summary.text = parts.join(": ");
    } else if trimmed.starts_with('<') {
        let lower = trimmed.to_ascii_lowercase();
        if lower.contains("<html") || lower.contains("<!doctype html") {
            summary.text = "HTML page".to_owned();
        } else {
            let code = xml_element(trimmed, "code");
            let parts: Vec<String> = [
                code.clone(),
                xml_element(trimmed, "message"),
                xml_element(trimmed, "description"),
            ]
            .into_iter()
            .flatten()
            .collect();
            summary.codes.extend(code);
            summary.text = if parts.is_empty() {
                "XML body".to_owned()
            } else {
                parts.join(": ")
            };
        }
    } else {
        summary.text = trimmed.to_owned();
    }
    summary.text = shorten(&scrub(&summary.text, secrets));
    summary
}

/// Text of the first element with the given local name (any namespace prefix).
fn xml_element(xml: &str, local_name: &str) -> Option<String> {
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>')?;
        let tag = &rest[..end];
        let name = tag.split_whitespace().next().unwrap_or_default();
        let local = name.rsplit(':').next().unwrap_or(name);
        if !name.starts_with(['/', '?', '!']) && local == local_name && !tag.ends_with('/') {
            let content = &rest[end + 1..];
            let stop = content.find('<').unwrap_or(content.len());
            let value = content[..stop].trim();
            return (!value.is_empty()).then(|| value.to_owned());
        }
        rest = &rest[end..];
    }
    None
}

/// Replaces every occurrence of the given secrets (API keys, tokens sent with the request).
fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    out
}

/// Reads a `Retry-After` value: delay-seconds or an HTTP-date.
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, format)
        .ok()?
        .assume_utc();
    let wait = at - now;
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Turns a non-success HTTP response into an [`Error`].
///
/// `secrets` are the credentials sent with the request; they are scrubbed from the description
/// in case the body echoes them.
pub fn classify_response(
    api: Api,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    quirks: &KbQuirks,
    secrets: &[&str],
) -> Error {
    let summary = summarize_body(body, secrets);
    let reason = if summary.text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", summary.text)
    };
    let has_code = |wanted: &str| summary.codes.iter().any(|c| c.eq_ignore_ascii_case(wanted));
    let text_lower = summary.text.to_lowercase();
    let retry_after = retry_after.and_then(|v| parse_retry_after(v, SystemClock.now()));

    if status == 429 || summary.codes.iter().any(|c| is_wso2_throttle_code(c)) {
        return Error::RateLimited {
            retry_after,
            reason,
        };
    }
    if api == Api::OAuth
        && (400..500).contains(&status)
        && summary
            .oauth_error
            .as_deref()
            .is_some_and(|e| CONSENT_GONE_CODES.contains(&e))
    {
        return Error::ConsentGone { reason };
    }
    if (400..500).contains(&status)
        && quirks
            .account_not_configured_codes
            .iter()
            .any(|code| has_code(code))
    {
        return Error::AccountNotConfigured { reason };
    }
    match status {
        401 if api == Api::OAuth => Error::Rejected { status, reason },
        401 => Error::Unauthorized { reason },
        403 if api == Api::Adaa
            && (text_lower.contains("blacklist") || text_lower.contains("no access")) =>
        {
            Error::AccountNotConfigured { reason }
        }
        403 if api == Api::Adaa
            && quirks.forbidden_token_as_unauthorized
            && (text_lower.contains("token") || has_code("UNAUTHORISED")) =>
        {
            Error::Unauthorized { reason }
        }
        404 => Error::NotFound { reason },
        408 => Error::Unavailable { reason },
        400..=499 => Error::Rejected { status, reason },
        500..=599 => Error::Unavailable { reason },
        _ => Error::Protocol(format!("unexpected {reason}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(api: Api, status: u16, retry_after: Option<&str>, body: &str) -> Error {
        classify_response(
            api,
            status,
            retry_after,
            body.as_bytes(),
            &KbQuirks::default(),
            &["SECRET-API-KEY"],
        )
    }

    const WSO2_FAULT: &str = r#"<am:fault xmlns:am="http://wso2.org/apimanager"><am:code>101504</am:code><am:type>Status report</am:type><am:message>Runtime Error</am:message><am:description>Send timeout</am:description></am:fault>"#;

    #[test]
    fn wso2_xml_fault_is_unavailable_not_a_crash() {
        let err = classify(Api::Adaa, 504, None, WSO2_FAULT);
        assert!(
            matches!(&err, Error::Unavailable { reason } if reason.contains("101504") && reason.contains("Send timeout")),
            "{err:?}"
        );
        assert!(err.is_retryable());
        // Same fault under an odd status still classifies by status.
        assert!(matches!(
            classify(Api::Adaa, 500, None, WSO2_FAULT),
            Error::Unavailable { .. }
        ));
        let throttled = "<am:fault xmlns:am=\"http://wso2.org/apimanager\"><am:code>900802</am:code><am:message>Message throttled out</am:message></am:fault>";
        assert!(matches!(
            classify(Api::Adaa, 503, None, throttled),
            Error::RateLimited { .. }
        ));
    }

    #[test]
    fn rate_limit_with_retry_after() {
        let body = r#"{"errors":[{"message":"Unchanged data download limit reached. Use publish-subscribe pattern"}]}"#;
        let err = classify(Api::Adaa, 429, Some("30"), body);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        assert!(err.is_retryable());
        let now = time::macros::datetime!(2023-06-08 07:30:00 UTC);
        assert_eq!(
            parse_retry_after("Thu, 08 Jun 2023 07:30:27 GMT", now),
            Some(Duration::from_secs(27))
        );
        assert_eq!(
            parse_retry_after("Thu, 08 Jun 2023 07:29:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        let no_header = classify(Api::OAuth, 429, None, "");
        assert!(matches!(
            no_header,
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn json_error_bodies() {
        let not_configured = r#"{"errors":[{"code":"Account_not_configured","message":"Account is not configured"}]}"#;
        let err = classify(Api::Adaa, 400, None, not_configured);
        assert!(matches!(err, Error::AccountNotConfigured { .. }), "{err:?}");
        assert!(err.needs_user_action() && !err.is_retryable());

        let blacklist = r#"{"errors":[{"message":"Client has no access to account or account is in blacklist"}]}"#;
        assert!(matches!(
            classify(Api::Adaa, 403, None, blacklist),
            Error::AccountNotConfigured { .. }
        ));

        let bad_token = r#"{"errors":[{"message":"Invalid certificate or token"}]}"#;
        assert!(matches!(
            classify(Api::Adaa, 403, None, bad_token),
            Error::Unauthorized { .. }
        ));
        assert!(matches!(
            classify(Api::ClientRegistration, 403, None, bad_token),
            Error::Rejected { status: 403, .. }
        ));
        assert!(matches!(
            classify(Api::Adaa, 401, None, ""),
            Error::Unauthorized { .. }
        ));

        let grant = r#"{"error":"invalid_grant","error_description":"The provided access grant is invalid, expired, or revoked."}"#;
        let err = classify(Api::OAuth, 400, None, grant);
        assert!(matches!(&err, Error::ConsentGone { reason } if reason.contains("invalid_grant")));
        assert!(matches!(
            classify(Api::OAuth, 401, None, r#"{"error":"invalid_client"}"#),
            Error::ConsentGone { .. }
        ));
        assert!(matches!(
            classify(Api::OAuth, 400, None, r#"{"error":"invalid_request"}"#),
            Error::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            classify(
                Api::Adaa,
                404,
                None,
                r#"{"errors":[{"message":"Subscription not found"}]}"#
            ),
            Error::NotFound { .. }
        ));
    }

    #[test]
    fn missing_correlation_id_body_hides_the_rejected_value() {
        let body = r#"{"errors":[{"message":"Required String parameter 'x-correlation-id' is not present","additionalInfo":{"parameterName":"x-correlation-id","rejectedValue":"wrongValue"}}]}"#;
        let err = classify(Api::Adaa, 400, None, body);
        let text = err.to_string();
        assert!(matches!(err, Error::Rejected { status: 400, .. }));
        assert!(text.contains("x-correlation-id"), "{text}");
        assert!(!text.contains("wrongValue"), "{text}");
    }

    #[test]
    fn other_bodies_and_statuses() {
        assert!(matches!(
            classify(
                Api::Adaa,
                502,
                None,
                "<html><body>Bad gateway</body></html>"
            ),
            Error::Unavailable { .. }
        ));
        assert!(matches!(
            classify(Api::Adaa, 500, None, ""),
            Error::Unavailable { .. }
        ));
        assert!(matches!(
            classify(Api::Adaa, 302, None, ""),
            Error::Protocol(_)
        ));
        let echo = classify(Api::Adaa, 400, None, "bad key SECRET-API-KEY\n\tgiven");
        let text = echo.to_string();
        assert!(
            !text.contains("SECRET-API-KEY") && text.contains("[redacted]"),
            "{text}"
        );
        let long = "x".repeat(10_000);
        assert!(classify(Api::Adaa, 400, None, &long).to_string().len() < 400);
    }

    #[test]
    fn xml_element_lookup() {
        assert_eq!(xml_element(WSO2_FAULT, "code").as_deref(), Some("101504"));
        assert_eq!(xml_element("<a><code/></a>", "code"), None);
        assert_eq!(xml_element("<code>7</code>", "code").as_deref(), Some("7"));
        assert_eq!(xml_element("<broken", "code"), None);
    }
}
