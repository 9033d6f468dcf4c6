//! Client Registration API: `POST .../software-statements` over mutual TLS; issues a signed
//! software statement (EdDSA JWS, 12 months) echoing the request (spec §4).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::context::Ctx;
use super::gateway::{self, Api, Env, Route};
use super::jws;
use super::pki;
use super::server::PeerCerts;

fn unauthorised(message: &str) -> Response {
    gateway::json_status(
        StatusCode::FORBIDDEN,
        json!({ "errors": [{ "error": "UNAUTHORISED", "message": message }] }),
    )
}

fn field_error(code: &str, scope: &str, description: &str) -> Value {
    json!({ "errorCode": code, "scope": scope, "description": description })
}

/// SHA-256 hex of a statement (what the state remembers).
pub fn statement_hash(jwt: &str) -> String {
    Sha256::digest(jwt.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn validate(req: &Value, version: u8) -> Vec<Value> {
    let mut errs = Vec::new();
    let s = |k: &str| req.get(k).and_then(|v| v.as_str());
    let len_check =
        |errs: &mut Vec<Value>, k: &str, min: usize, max: usize, required: bool| match s(k) {
            None if required => errs.push(field_error("REQUIRED", k, &format!("{k} is required"))),
            None => {}
            Some(v) if v.chars().count() < min || v.chars().count() > max => {
                errs.push(field_error(
                    "INVALID_LENGTH",
                    k,
                    &format!("{k} length must be {min}-{max}"),
                ))
            }
            Some(_) => {}
        };
    len_check(&mut errs, "softwareName", 5, 50, true);
    len_check(&mut errs, "softwareNameEn", 5, 50, false);
    len_check(&mut errs, "softwareId", 1, 64, true);
    len_check(&mut errs, "softwareVersion", 1, 30, true);
    match req.get("redirectUris").and_then(|v| v.as_array()) {
        Some(a) if !a.is_empty() => {
            if a.iter()
                .any(|u| u.as_str().and_then(|u| url::Url::parse(u).ok()).is_none())
            {
                errs.push(field_error(
                    "INVALID_VALUE",
                    "redirectUris",
                    "One or more redirectUris are not valid due to not matching a URI pattern.",
                ));
            }
        }
        _ => errs.push(field_error(
            "REQUIRED",
            "redirectUris",
            "redirectUris is required",
        )),
    }
    match s("registrationBackUri").map(url::Url::parse) {
        Some(Ok(_)) => {}
        Some(Err(_)) => errs.push(field_error(
            "INVALID_VALUE",
            "registrationBackUri",
            "registrationBackUri is not a valid URI",
        )),
        None => errs.push(field_error(
            "REQUIRED",
            "registrationBackUri",
            "registrationBackUri is required",
        )),
    }
    if version >= 2 {
        match req.get("contacts").and_then(|v| v.as_array()) {
            Some(a)
                if (1..=2).contains(&a.len())
                    && a.iter().all(|c| c.as_str().is_some_and(|c| c.len() <= 50)) => {}
            _ => errs.push(field_error(
                "INVALID_VALUE",
                "contacts",
                "contacts.email mandatory: 1-2 items of at most 50 characters",
            )),
        }
    }
    errs
}

/// `POST {clientRegistrationBase}/software-statements`.
pub async fn software_statements(
    State(ctx): State<Ctx>,
    Extension(route): Extension<Route>,
    peer: Option<Extension<PeerCerts>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let certs = peer.map(|Extension(p)| p).unwrap_or_default();
    let cert_optional =
        route.env == Env::Sandbox && ctx.cfg.quirks.registration_without_certificate;
    if !cert_optional {
        if certs.0.is_empty() {
            return unauthorised("Missing certificate or access token");
        }
        if !pki::is_trusted(ctx.pki.client_verifier.as_ref(), &certs.0) {
            return unauthorised("Invalid certificate or token");
        }
    }
    if let Err(r) = gateway::check_api_key(&ctx, &headers, Api::ClientRegistration, route.env) {
        return r;
    }
    if let Err(r) = gateway::check_correlation_id(&headers) {
        return r;
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return gateway::json_status(
                StatusCode::BAD_REQUEST,
                json!({ "errors": [field_error("MALFORMED_REQUEST", "body", "Request body is not a JSON object")] }),
            );
        }
    };
    let errs = validate(&req, route.version);
    if !errs.is_empty() {
        return gateway::json_status(StatusCode::UNPROCESSABLE_ENTITY, json!({ "errors": errs }));
    }

    let now = ctx.now();
    let exp = now + ctx.cfg.lifetimes.software_statement;
    let mut claims = json!({
        "iss": "Komerční Banka TEST",
        "iat": now.unix_timestamp(),
        "exp": exp.unix_timestamp(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "vendorName": ctx.cfg.vendor_name,
        "vendorRegistrationNumber": ctx.cfg.vendor_registration_number,
    });
    for key in [
        "softwareName",
        "softwareNameEn",
        "softwareId",
        "softwareVersion",
        "softwareUri",
        "redirectUris",
        "tokenEndpointAuthMethod",
        "grantTypes",
        "responseTypes",
        "registrationBackUri",
        "contacts",
        "logoUri",
        "tosUri",
        "policyUri",
    ] {
        if let Some(v) = req.get(key) {
            claims[key] = v.clone();
        }
    }
    let jwt = match jws::sign(&ctx.pki.signer, &claims) {
        Ok(j) => j,
        Err(e) => {
            return gateway::adaa_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                &format!("signing failed: {e}"),
            );
        }
    };
    let hash = statement_hash(&jwt);
    ctx.store.update(|s| s.issued_statements.push(hash));
    let status = if route.env == Env::Sandbox && ctx.cfg.quirks.registration_status_200 {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        jwt,
    )
        .into_response()
}
