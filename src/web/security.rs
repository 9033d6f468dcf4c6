//! Browser-facing security: session cookies, CSRF origin checks, response headers.
//!
//! * Sessions: tower-sessions with the PostgreSQL store (schema-qualified `app.sessions`, so the
//!   tenant search path can never hide it). Cookie `__Host-kasa` with `Secure` when Kasa is served
//!   over HTTPS; over plain `http://localhost` browsers refuse `Secure` and `__Host-` cookies, so
//!   the local default uses `kasa_session` without `Secure` (documented in README). Always
//!   `HttpOnly`, `SameSite=Lax` (Strict would drop the cookie on the way back from KB), idle
//!   timeout of 30 minutes that slides on a signed-in person's page requests but not on
//!   background polls (`context::record_activity` writes the session back at most once a
//!   minute, so a page view is not a database write), absolute lifetime 12 hours (checked in
//!   `context::load`).
//! * CSRF: tower-http's `CsrfLayer` (Fetch Metadata and Origin, the Go 1.25 algorithm) on every
//!   request; the KB callback and Event API routes will be the only exemptions.
//! * Headers: a strict CSP with no inline scripts, `frame-ancestors 'none'`, nosniff,
//!   Referrer-Policy, COOP; HSTS when the public URL is HTTPS.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use url::Url;

pub const IDLE_TIMEOUT: time::Duration = time::Duration::minutes(30);
pub const ABSOLUTE_LIFETIME: time::Duration = time::Duration::hours(12);

pub type Sessions = SessionManagerLayer<super::sessions::KeptSessions>;

pub fn is_https(public_url: &Url) -> bool {
    public_url.scheme() == "https"
}

/// The session layer. A session is written back only when something in it changed: sign-in,
/// a flash message, the language, or the activity mark `context::record_activity` sets on page
/// requests (at most once a minute), which is what slides the idle time-out.
pub fn session_layer(store: super::sessions::KeptSessions, public_url: &Url) -> Sessions {
    let secure = is_https(public_url);
    SessionManagerLayer::new(store)
        .with_name(if secure {
            "__Host-kasa"
        } else {
            "kasa_session"
        })
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(IDLE_TIMEOUT))
        .with_always_save(false)
}

/// The policy. `form-action` also names KB's two browser pages: browsers apply it to the
/// redirect that follows a form (connect, renew), and those lead to KB.
fn csp(form_targets: &[String]) -> String {
    let mut form_action = String::from("'self'");
    for origin in form_targets {
        form_action.push(' ');
        form_action.push_str(origin);
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {form_action}"
    )
}

/// The origin (`scheme://host[:port]`) of a URL, for the CSP.
pub fn origin_of(url: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Wraps the router in the layers every response passes through. `form_targets` are the
/// origins forms may lead to besides Kasa itself (KB's pages).
pub fn apply(router: Router, public_url: &Url, form_targets: &[String]) -> Router {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let policy = HeaderValue::from_str(&csp(form_targets))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; form-action 'self'"));
    let mut router = router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            policy,
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        .layer(header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(header(header::CACHE_CONTROL, "no-store"))
        .layer(CsrfLayer::new());
    router = with_request_ids(router);
    if is_https(public_url) {
        router = router.layer(header(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ));
    }
    router
}

/// The request id header (`x-request-id`).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What a client sent as `x-request-id`: kept only as a separate, bounded log field, never as
/// the request's id.
#[derive(Debug, Clone)]
pub struct ClientRequestId(pub String);

/// Server-side request ids: a client's `x-request-id` is removed (kept as [`ClientRequestId`]
/// if short and printable), a fresh UUID is set (tower-http's `SetRequestIdLayer`), put into
/// the request's tracing span, and returned in the response header; error pages show it.
fn with_request_ids(router: Router) -> Router {
    use tower_http::request_id::{
        MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
    };
    let trace = tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |request: &axum::http::Request<axum::body::Body>| {
            let id = request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-");
            let client = request
                .extensions()
                .get::<ClientRequestId>()
                .map(|c| c.0.as_str())
                .unwrap_or("");
            tracing::info_span!(
                "request",
                request_id = %id,
                client_request_id = %client,
                method = %request.method(),
                path = %loggable_path(request.uri().path()),
                // Filled in by the club guard (`access::ClubAccess`): the club's key, never
                // its name.
                club = tracing::field::Empty,
            )
        },
    );
    router
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(strip_client_request_id))
}

/// The path as logs may keep it: a member's page (`/pay/{token}`) is logged without its token,
/// which is the page's only key.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/pay/") {
        "/pay/[token]"
    } else {
        path
    }
}

async fn strip_client_request_id(
    mut request: axum::http::Request<axum::body::Body>,
) -> axum::http::Request<axum::body::Body> {
    if let Some(value) = request.headers_mut().remove(REQUEST_ID)
        && let Ok(text) = value.to_str()
        && (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        let client = ClientRequestId(text.to_owned());
        request.extensions_mut().insert(client);
    }
    request
}

/// The server-side id of a request (set by [`apply`]'s layers), or `-` outside them.
pub fn request_id<B>(request: &axum::http::Request<B>) -> String {
    request
        .extensions()
        .get::<tower_http::request_id::RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn a_members_page_token_never_reaches_the_logs() {
        assert_eq!(
            loggable_path("/pay/WOEjjHdqg_bwQi1C2BFhWx9MIsYDMQUXs_KHsjlOunM"),
            "/pay/[token]"
        );
        assert_eq!(loggable_path("/t/abc/members"), "/t/abc/members");
    }
}
