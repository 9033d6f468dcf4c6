//! What KB's API gateway does before a request reaches an API: per-API keys (`apiKey` header),
//! the mandatory `x-correlation-id`, Bearer access tokens, and KB's error bodies.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::bank;
use super::context::Ctx;
use super::state::{AccountRecord, TokenRecord};

/// Production-shaped or sandbox-shaped path family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Env {
    /// `/adaa/v2/...`, `/oauth2/v3/...`, ...
    Production,
    /// `/sandbox/adaa/v1/...`, ...
    Sandbox,
}

/// KB API a key is issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Client Registration (software statements).
    ClientRegistration,
    /// OAuth2 token endpoint.
    OAuth2,
    /// Account Direct Access API.
    Adaa,
}

/// Route context of a nested router.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Path family.
    pub env: Env,
    /// API version (1, 2 or 3).
    pub version: u8,
}

/// ADAA `ErrorResponse` body.
pub fn adaa_error(status: StatusCode, code: Option<&str>, message: &str) -> Response {
    let mut err = json!({ "message": message });
    if let Some(code) = code {
        err["code"] = json!(code);
    }
    (status, Json(json!({ "errors": [err] }))).into_response()
}

/// ADAA error naming a parameter.
pub fn adaa_param_error(
    status: StatusCode,
    code: Option<&str>,
    message: &str,
    param: &str,
    value: &str,
) -> Response {
    let mut err = json!({
        "message": message,
        "additionalInfo": { "parameterName": param, "rejectedValue": value }
    });
    if let Some(code) = code {
        err["code"] = json!(code);
    }
    (status, Json(json!({ "errors": [err] }))).into_response()
}

/// JSON response with a status.
pub fn json_status(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the `apiKey` header against the key of `api` in `env` (401 otherwise) [I].
#[allow(clippy::result_large_err)]
pub fn check_api_key(ctx: &Ctx, headers: &HeaderMap, api: Api, env: Env) -> Result<(), Response> {
    let Some(given) = header_str(headers, "apikey") else {
        return Err(adaa_error(
            StatusCode::UNAUTHORIZED,
            Some("900902"),
            "Missing Credentials. Make sure your API invocation call has a header: 'apiKey : xxx'",
        ));
    };
    let state = ctx.store.read();
    let keys = match env {
        Env::Production => &state.production_keys,
        Env::Sandbox => &state.sandbox_keys,
    };
    let expected = match api {
        Api::ClientRegistration => &keys.client_registration,
        Api::OAuth2 => &keys.oauth2,
        Api::Adaa => &keys.adaa,
    };
    if given.trim() == expected {
        Ok(())
    } else {
        Err(adaa_error(
            StatusCode::UNAUTHORIZED,
            Some("900901"),
            "Invalid Credentials. Make sure you have provided the correct security credentials",
        ))
    }
}

/// Whether `v` matches KB's GUID pattern (braces optional).
pub fn is_guid(v: &str) -> bool {
    let inner = v.strip_prefix('{').unwrap_or(v);
    let inner = inner.strip_suffix('}').unwrap_or(inner);
    let parts: Vec<&str> = inner.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    parts.len() == 5
        && parts
            .iter()
            .zip(lens)
            .all(|(p, l)| p.len() == l && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Requires `x-correlation-id` (fixture `response-missing-corr-id.json` when missing).
#[allow(clippy::result_large_err)]
pub fn check_correlation_id(headers: &HeaderMap) -> Result<String, Response> {
    match header_str(headers, "x-correlation-id") {
        None => Err(adaa_param_error(
            StatusCode::BAD_REQUEST,
            None,
            "Required String parameter 'x-correlation-id' is not present",
            "x-correlation-id",
            "",
        )),
        Some(v) if is_guid(v) => Ok(v.to_owned()),
        Some(v) => Err(adaa_param_error(
            StatusCode::BAD_REQUEST,
            Some("INVALID_HEADER_VALUE"),
            "Invalid value of header 'x-correlation-id', expected GUID 8-4-4-4-12",
            "x-correlation-id",
            v,
        )),
    }
}

/// Resolves `Authorization: Bearer <token>` to a live access token (401 otherwise).
#[allow(clippy::result_large_err)]
pub fn bearer(ctx: &Ctx, headers: &HeaderMap) -> Result<TokenRecord, Response> {
    let Some(auth) = header_str(headers, "authorization") else {
        return Err(adaa_error(
            StatusCode::UNAUTHORIZED,
            Some("UNAUTHORISED"),
            "Missing certificate or access token",
        ));
    };
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .unwrap_or("")
        .trim();
    let now = ctx.now();
    let state = ctx.store.read();
    match state.access_tokens.iter().find(|t| t.token == token) {
        Some(t) if t.expires_at > now => Ok(t.clone()),
        _ => Err(adaa_error(
            StatusCode::UNAUTHORIZED,
            Some("UNAUTHORISED"),
            "Invalid certificate or token",
        )),
    }
}

/// An ADAA request that passed the gateway's checks (API key, correlation id, Bearer token), as
/// an extractor: the token's record and the route's path family and version. Rejected with
/// KB's error answer.
pub struct AdaaGate {
    pub token: TokenRecord,
    pub route: Route,
}

impl FromRequestParts<Ctx> for AdaaGate {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Response> {
        let Some(route) = parts.extensions.get::<Route>().copied() else {
            return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
        };
        let headers = &parts.headers;
        check_api_key(ctx, headers, Api::Adaa, route.env)?;
        check_correlation_id(headers)?;
        let token = bearer(ctx, headers)?;
        Ok(AdaaGate { token, route })
    }
}

/// KB's answer for an account the token does not grant, or that does not exist.
pub fn account_not_configured() -> Response {
    adaa_error(
        StatusCode::BAD_REQUEST,
        Some("Account_not_configured"),
        "Account is not configured for API access",
    )
}

/// [`bank::with_account`] for an API handler: `400 Account_not_configured` when refused.
#[allow(clippy::result_large_err)]
pub fn with_account<T>(
    ctx: &Ctx,
    token: &TokenRecord,
    account_id: &str,
    f: impl FnOnce(&AccountRecord) -> T,
) -> Result<T, Response> {
    bank::with_account(ctx, token, account_id, f).ok_or_else(account_not_configured)
}

/// [`bank::authorise_account`] for an API handler: `400 Account_not_configured` when refused.
#[allow(clippy::result_large_err)]
pub fn authorise_account(ctx: &Ctx, token: &TokenRecord, account_id: &str) -> Result<(), Response> {
    with_account(ctx, token, account_id, |_| ())
}

/// Adds a header to a response.
pub fn with_header(mut resp: Response, name: header::HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
    resp
}
