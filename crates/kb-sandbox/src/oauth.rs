//! OAuth2: the authorization (consent) page and the token endpoint (`client_secret_post`,
//! 2-minute single-use codes bound to client and redirect URI, ~3-minute access tokens,
//! 12-month refresh tokens without rotation, 429 when hammered, RFC 6749 errors) — spec §6.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde_json::{Value, json};

use super::context::Ctx;
use super::gateway::{self, Api, Env, Route};
use super::html::{error_page, esc, hidden, page};
use super::jws;
use super::seed::EXAMPLE_CLIENT_ID;
use super::state::{AuthCode, ClientRecord, TokenRecord};

fn pairs_of(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

fn param(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

fn issuer(env: Env) -> &'static str {
    match env {
        Env::Production => "https://caas.kb.cz/openam/oauth2",
        Env::Sandbox => "https://login.kb.cz/openam/oauth2",
    }
}

#[allow(clippy::result_large_err)]
fn check_authorize(
    ctx: &Ctx,
    pairs: &[(String, String)],
) -> Result<(ClientRecord, String), Response> {
    if param(pairs, "response_type").as_deref() != Some("code") {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "response_type musí být code.",
            "response_type must be code.",
        ));
    }
    let client_id = param(pairs, "client_id").unwrap_or_default();
    let Some(client) = ctx.store.read().client(&client_id).cloned() else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "Neznámý client_id.",
            "Unknown client_id.",
        ));
    };
    let redirect_uri = param(pairs, "redirect_uri").unwrap_or_default();
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri není u klienta registrována.",
            "redirect_uri is not registered for the client.",
        ));
    }
    Ok((client, redirect_uri))
}

/// `GET` authorization page (`/autfe/ssologin`, `/sandbox/oauth2-authorization-ui/v2/`).
pub async fn authorize(State(ctx): State<Ctx>, RawQuery(raw): RawQuery) -> Response {
    let pairs = pairs_of(raw.unwrap_or_default().as_bytes());
    match check_authorize(&ctx, &pairs) {
        Ok((client, _)) => consent_page(&ctx, &pairs, &client, None),
        Err(r) => r,
    }
}

fn consent_page(
    ctx: &Ctx,
    pairs: &[(String, String)],
    client: &ClientRecord,
    error: Option<&str>,
) -> Response {
    let users = ctx.store.read().users.clone();
    let options: String = users
        .iter()
        .map(|u| {
            let sel = if u.user_id == client.user_id {
                " selected"
            } else {
                ""
            };
            format!(
                "<option value=\"{}\"{sel}>{} – {}</option>",
                esc(&u.user_id),
                esc(&u.user_id),
                esc(&u.name)
            )
        })
        .collect();
    let carried: String = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
    ]
    .iter()
    .filter_map(|k| param(pairs, k).map(|v| hidden(k, &v)))
    .collect();
    let scope = param(pairs, "scope").unwrap_or_else(|| "adaa".to_owned());
    let err = error
        .map(|e| format!("<p class=\"err\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        "Souhlas (Consent)",
        &format!(
            "<h1>Udělení souhlasu <span class=\"en\">(Consent)</span></h1>\
<p>Aplikace <strong>{name}</strong> žádá o oprávnění <code>{scope}</code>. \
<span class=\"en\">(The application requests these scopes.)</span></p>{err}\
<form method=\"post\">{carried}<fieldset><legend>Přihlášení <span class=\"en\">(Log in)</span></legend>\
<label>Klient <span class=\"en\">(client)</span>: <select name=\"user\">{options}</select></label></fieldset>\
<button name=\"decision\" value=\"approve\">Souhlasím <span class=\"en\">(Approve)</span></button>\
<button name=\"decision\" value=\"deny\">Odmítnout <span class=\"en\">(Deny)</span></button></form>",
            name = esc(&client.client_name),
            scope = esc(&scope),
        ),
    )
}

/// `POST` consent: issues the code and redirects.
pub async fn consent(
    State(ctx): State<Ctx>,
    Extension(route): Extension<Route>,
    body: Bytes,
) -> Response {
    let pairs = pairs_of(&body);
    let (client, redirect_uri) = match check_authorize(&ctx, &pairs) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let state = param(&pairs, "state");
    let keep_state =
        !(route.env == Env::Sandbox && ctx.cfg.quirks.drop_state_on_authorization_redirect);
    let Ok(mut url) = url::Url::parse(&redirect_uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Neplatná redirect_uri.",
            "Invalid redirect_uri.",
        );
    };
    if param(&pairs, "decision").as_deref() != Some("approve") {
        url.query_pairs_mut().append_pair("error", "access_denied");
        if let (true, Some(s)) = (keep_state, &state) {
            url.query_pairs_mut().append_pair("state", s);
        }
        return (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response();
    }
    let user = param(&pairs, "user").unwrap_or_default();
    if user != client.user_id {
        return consent_page(
            &ctx,
            &pairs,
            &client,
            Some(
                "Tokeny musí vyžádat stejný klient, který aplikaci registroval. (Tokens must be requested by the KB user who registered the application.)",
            ),
        );
    }
    let scopes: Vec<String> = param(&pairs, "scope")
        .unwrap_or_else(|| "adaa".to_owned())
        .split([' ', '+'])
        .filter(|s| !s.is_empty() && client.scopes.iter().any(|c| c == s))
        .map(str::to_owned)
        .collect();
    let mut nonce = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut nonce);
    let code = match route.env {
        Env::Production => jws::b64url(&nonce),
        Env::Sandbox => jws::b64url(
            json!({ "userId": user, "scopes": scopes, "nonce": jws::b64url(&nonce[..9]) })
                .to_string()
                .as_bytes(),
        ),
    };
    let now = ctx.now();
    ctx.store.update(|s| {
        s.prune(now);
        s.codes.push(AuthCode {
            code: code.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            user_id: user.clone(),
            scopes,
            expires_at: now + ctx.cfg.lifetimes.authorization_code,
            used: false,
        });
    });
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("iss", issuer(route.env))
        .append_pair("client_id", &client.client_id);
    if let (true, Some(s)) = (keep_state, &state) {
        url.query_pairs_mut().append_pair("state", s);
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    gateway::json_status(
        status,
        json!({ "error": error, "error_description": description }),
    )
}

/// The two bearer tokens the token endpoint mints.
#[derive(Debug, Clone, Copy)]
enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    /// The `tokenName` claim.
    fn name(self) -> &'static str {
        match self {
            TokenKind::Access => "access_token",
            TokenKind::Refresh => "refresh_token",
        }
    }

    /// How long a token of this kind lives (configured).
    fn life(self, lifetimes: &crate::config::TokenLifetimes) -> std::time::Duration {
        match self {
            TokenKind::Access => lifetimes.access_token,
            TokenKind::Refresh => lifetimes.refresh_token,
        }
    }
}

fn mint(
    ctx: &Ctx,
    env: Env,
    client_id: &str,
    user_id: &str,
    scopes: &[String],
    kind: TokenKind,
) -> TokenRecord {
    let life = kind.life(&ctx.cfg.lifetimes);
    let kind = kind.name();
    let now = ctx.now();
    let exp = now + life;
    let claims = json!({
        "sub": format!("KBID={user_id}"), "aud": client_id, "iss": issuer(env), "tokenName": kind,
        "token_type": "Bearer", "scope": scopes, "iat": now.unix_timestamp(), "nbf": now.unix_timestamp(),
        "exp": exp.unix_timestamp(), "expires_in": life.as_secs(), "jti": uuid::Uuid::new_v4().to_string(),
    });
    let token =
        jws::sign(&ctx.pki.signer, &claims).unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
    TokenRecord {
        token,
        client_id: client_id.to_owned(),
        user_id: user_id.to_owned(),
        scopes: scopes.to_vec(),
        expires_at: exp,
    }
}

/// Whether `client` exceeded the token request budget (429).
fn throttled(ctx: &Ctx, client_id: &str) -> bool {
    let now = ctx.now();
    let b = &ctx.cfg.behaviour;
    let mut rt = ctx.runtime();
    let calls = rt.token_calls.entry(client_id.to_owned()).or_default();
    while calls
        .front()
        .is_some_and(|t| now - *t > b.token_rate_window)
    {
        calls.pop_front();
    }
    calls.push_back(now);
    calls.len() > b.token_rate_limit as usize
}

/// `POST .../access_token` (form, `client_secret_post`).
pub async fn token(
    State(ctx): State<Ctx>,
    Extension(route): Extension<Route>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gateway::check_api_key(&ctx, &headers, Api::OAuth2, route.env) {
        return r;
    }
    if let Err(r) = gateway::check_correlation_id(&headers) {
        return r;
    }
    let pairs = pairs_of(&body);
    let (Some(client_id), Some(secret)) =
        (param(&pairs, "client_id"), param(&pairs, "client_secret"))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required (client_secret_post)",
        );
    };
    let Some(client) = ctx.store.read().client(&client_id).cloned() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Client authentication failed",
        );
    };
    if client.client_secret != secret {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Client authentication failed",
        );
    }
    if throttled(&ctx, &client_id) {
        return oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many token requests; reuse the access token until it expires",
        );
    }
    let canned = route.env == Env::Sandbox
        && ctx.cfg.quirks.canned_example_client
        && client_id == EXAMPLE_CLIENT_ID;
    let lifetimes = ctx.cfg.lifetimes.clone();
    let now = ctx.now();
    // The client's tokens for `user_id` with `scopes`.
    let mint_for = |user_id: &str, scopes: &[String], kind| {
        mint(&ctx, route.env, &client_id, user_id, scopes, kind)
    };
    match param(&pairs, "grant_type").as_deref() {
        Some("authorization_code") => {
            let code = param(&pairs, "code").unwrap_or_default();
            let redirect_uri = param(&pairs, "redirect_uri").unwrap_or_default();
            let outcome: Result<(String, Vec<String>), &'static str> =
                ctx.store
                    .update(|s| match s.codes.iter_mut().find(|c| c.code == code) {
                        Some(c) if c.used => Err("Authorization code already used"),
                        Some(c) if c.expires_at <= now => Err("Authorization code expired"),
                        Some(c) if c.client_id != client_id => {
                            Err("Authorization code issued to another client")
                        }
                        Some(c) if c.redirect_uri != redirect_uri => {
                            Err("redirect_uri does not match the authorization request")
                        }
                        Some(c) => {
                            c.used = true;
                            Ok((c.user_id.clone(), c.scopes.clone()))
                        }
                        None if canned => {
                            let decoded: Option<Value> = jws::b64url_decode(&code)
                                .and_then(|b| serde_json::from_slice(&b).ok());
                            match decoded.and_then(|d| {
                                d.get("userId").and_then(|u| u.as_str()).map(str::to_owned)
                            }) {
                                Some(_) => Ok((client.user_id.clone(), vec!["adaa".to_owned()])),
                                None => Err("Invalid authorization code"),
                            }
                        }
                        None => Err("Invalid authorization code"),
                    });
            let (user_id, scopes) = match outcome {
                Ok(v) => v,
                Err(msg) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", msg),
            };
            let access = mint_for(&user_id, &scopes, TokenKind::Access);
            let refresh = mint_for(&user_id, &scopes, TokenKind::Refresh);
            let body = match route.env {
                Env::Production => json!({
                    "access_token": access.token, "token_type": "Bearer", "expires_in": lifetimes.access_token.as_secs(),
                    "refresh_token": refresh.token, "scope": scopes.join(" "), "acr": 0,
                }),
                Env::Sandbox => json!({
                    "token_type": "Bearer", "access_token": access.token, "id_token": null, "refresh_token": refresh.token,
                    "expires_in": lifetimes.access_token.as_secs(), "acr": null, "scope": scopes.join(" "),
                }),
            };
            ctx.store.update(|s| {
                s.prune(now);
                s.access_tokens.push(access);
                s.refresh_tokens.push(refresh);
            });
            gateway::json_status(StatusCode::OK, body)
        }
        Some("refresh_token") => {
            if param(&pairs, "code").is_some() {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code must not be sent with grant_type=refresh_token",
                );
            }
            let redirect_uri = param(&pairs, "redirect_uri");
            if ctx.cfg.behaviour.refresh_requires_redirect_uri && redirect_uri.is_none() {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "redirect_uri is required",
                );
            }
            if let Some(r) = &redirect_uri
                && !client.redirect_uris.contains(r)
            {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri is not registered for the client",
                );
            }
            let given = param(&pairs, "refresh_token").unwrap_or_default();
            let found = ctx
                .store
                .read()
                .refresh_tokens
                .iter()
                .find(|t| t.token == given)
                .cloned();
            let (user_id, scopes) = match found {
                Some(t) if t.expires_at > now && t.client_id == client_id => (t.user_id, t.scopes),
                Some(t) if t.client_id != client_id => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Refresh token issued to another client",
                    );
                }
                Some(_) => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Refresh token expired",
                    );
                }
                None if canned => (client.user_id.clone(), vec!["adaa".to_owned()]),
                None => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid refresh token",
                    );
                }
            };
            let access = mint_for(&user_id, &scopes, TokenKind::Access);
            // No new refresh token: KB does not rotate them. `acr` as in the code exchange
            // (production "0"-style number, sandbox null; spec §6.4, §9).
            let mut body = json!({
                "access_token": access.token, "scope": scopes.join(" "), "token_type": "Bearer",
                "expires_in": lifetimes.access_token.as_secs().saturating_sub(1),
            });
            body["acr"] = match route.env {
                Env::Production => json!(0),
                Env::Sandbox => Value::Null,
            };
            ctx.store.update(|s| {
                s.prune(now);
                s.access_tokens.push(access);
            });
            gateway::json_status(StatusCode::OK, body)
        }
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        ),
    }
}
