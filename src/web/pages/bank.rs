//! The bank connection in the browser: connect (twice to KB and back), renew, disconnect, the
//! account page, and KB's Event API (machine to machine, authenticated by `x-api-key`).

use super::{Chrome, render_status};
use crate::auth::login::{self, Checked};
use crate::consent::events::{self, Notification};
use crate::consent::flow;
use crate::team::ManageMoney;
use crate::web::access::ClubAccess;
use crate::web::context::{ClientIp, Ctx, SignedIn};
use crate::web::error::AppError;
use crate::web::{AppState, paths};
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use rand::RngCore;
use serde::Deserialize;
use tower_sessions::Session;

const KEY_STATE: &str = "kb_state";
const KEY_NONCE: &str = "kb_nonce";

/// The session's consent binding (a random value created on first use).
async fn binding(session: &Session) -> Result<Vec<u8>, AppError> {
    let existing: Option<String> = session
        .get(KEY_NONCE)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let nonce = match existing {
        Some(nonce) => nonce,
        None => {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let nonce = hex::encode(bytes);
            session
                .insert(KEY_NONCE, &nonce)
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            nonce
        }
    };
    Ok(flow::session_binding(&nonce))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    pub password: String,
    pub delete_history: String,
}

#[derive(Template)]
#[template(path = "bank_problem.html")]
struct ProblemPage {
    c: Chrome,
    title: String,
    text: String,
    retry_href: String,
}

/// A failed step: a clear page with a way to retry.
async fn problem(
    state: &AppState,
    ctx: &Ctx,
    error: &flow::Error,
    retry_href: String,
) -> Result<Response, AppError> {
    let (status, key) = match error {
        flow::Error::InvalidState => (StatusCode::BAD_REQUEST, "invalid_state"),
        flow::Error::Cancelled => (StatusCode::OK, "cancelled"),
        flow::Error::BadCallback => (StatusCode::BAD_REQUEST, "bad_callback"),
        flow::Error::AlreadyConnected => (StatusCode::CONFLICT, "already_connected"),
        flow::Error::NothingToRenew => (StatusCode::CONFLICT, "nothing_to_renew"),
        flow::Error::Bank(e) => {
            tracing::warn!(error = %e, "KB refused a consent step");
            (StatusCode::BAD_GATEWAY, "bank")
        }
        flow::Error::Vault(e) => {
            tracing::error!(error = %e, "vault failure in a consent step");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
        flow::Error::Db(e) => {
            tracing::error!(error = %e, "database failure in a consent step");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    render_status(
        status,
        &ProblemPage {
            c: Chrome::build(ctx, state, None).await?,
            title: ctx.t(&format!("bank.problem.{key}.title")).into_owned(),
            text: ctx.t(&format!("bank.problem.{key}.text")).into_owned(),
            retry_href,
        },
    )
}

/// The password re-entry before a bank step, throttled like a login: `Some(page)` (422 with the
/// reason) when it failed.
async fn reauth_refused(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    ip: Option<&str>,
    given: &str,
    field: &'static str,
) -> Result<Option<Response>, AppError> {
    let checked =
        login::reauthenticate(&state.pool, access.user.id, given, ip, state.now()).await?;
    let text = match checked {
        Checked::Ok(()) => return Ok(None),
        Checked::Wrong => access.ctx.t("errors.kasa_password").into_owned(),
        Checked::Throttled(wait) => {
            super::public::throttled_text(access.ctx.lang(), "errors.reauth_throttled", wait)
        }
    };
    Ok(Some(
        super::club::dashboard_with_message(state, access, field, text).await?,
    ))
}

/// `POST /t/{club}/bank/connect`: the password again, then off to KB.
pub async fn connect(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    ClientIp(ip): ClientIp,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let back = paths::club(access.tenant.key());
    if !access.user.email_confirmed {
        access.ctx.flash("flash.confirm_email_first").await;
        return Ok(Redirect::to(&back).into_response());
    }
    if let Some(refused) = reauth_refused(
        &state,
        &access,
        ip.as_deref(),
        &form.password,
        "connect_password",
    )
    .await?
    {
        return Ok(refused);
    }
    let binding = binding(&access.ctx.session).await?;
    let started = state
        .consent
        .start_connect(&access.tenant, &access.club_name, &access.user, &binding)
        .await;
    go_to_kb(&state, &access, started, back).await
}

/// `POST /t/{club}/bank/renew`: only the authorization step again.
pub async fn renew(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    ClientIp(ip): ClientIp,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let back = paths::club(access.tenant.key());
    if let Some(refused) = reauth_refused(
        &state,
        &access,
        ip.as_deref(),
        &form.password,
        "renew_password",
    )
    .await?
    {
        return Ok(refused);
    }
    let binding = binding(&access.ctx.session).await?;
    let started = state
        .consent
        .start_renew(&access.tenant, &access.user, &binding)
        .await;
    go_to_kb(&state, &access, started, back).await
}

/// Sends the browser to KB, keeping the journey's `state` in the session, or shows the problem.
async fn go_to_kb(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    started: Result<flow::Redirect, flow::Error>,
    back: String,
) -> Result<Response, AppError> {
    match started {
        Ok(redirect) => {
            access
                .ctx
                .session
                .insert(KEY_STATE, redirect.state.expose())
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            Ok(Redirect::to(&redirect.url).into_response())
        }
        Err(error) => problem(state, &access.ctx, &error, back).await,
    }
}

/// `POST /t/{club}/bank/disconnect`.
pub async fn disconnect(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    ClientIp(ip): ClientIp,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    if let Some(refused) = reauth_refused(
        &state,
        &access,
        ip.as_deref(),
        &form.password,
        "disconnect_password",
    )
    .await?
    {
        return Ok(refused);
    }
    let delete_history = !form.delete_history.is_empty();
    let done = state
        .consent
        .disconnect(&access.tenant, &access.user, delete_history)
        .await;
    back_to_dashboard(&state, &access, done, "flash.bank_disconnected").await
}

/// Back to the dashboard with the `flash` message after a finished journey, or its problem.
async fn back_to_dashboard<T>(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    done: Result<T, flow::Error>,
    flash: &str,
) -> Result<Response, AppError> {
    let back = paths::club(access.tenant.key());
    match done {
        Ok(_) => {
            access.ctx.flash(flash).await;
            Ok(Redirect::to(&back).into_response())
        }
        Err(error) => problem(state, &access.ctx, &error, back).await,
    }
}

/// `POST /t/{club}/bank/history/delete`: the password again, then the history of every
/// disconnected account goes (with its matches; charges it paid are open again).
pub async fn delete_history(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    ClientIp(ip): ClientIp,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    if let Some(refused) = reauth_refused(
        &state,
        &access,
        ip.as_deref(),
        &form.password,
        "delete_history_password",
    )
    .await?
    {
        return Ok(refused);
    }
    let done = state
        .consent
        .delete_disconnected_history(&access.tenant, &access.user)
        .await;
    back_to_dashboard(&state, &access, done, "flash.bank_history_deleted").await
}

async fn take_state(session: &Session) -> Result<Option<String>, AppError> {
    session
        .remove::<String>(KEY_STATE)
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

/// `GET /kb/registered?salt=…&encryptedData=…`: back from KB's application registration.
pub async fn registered(
    State(state): State<AppState>,
    s: SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let session_state = take_state(&s.ctx.session).await?;
    let binding = binding(&s.ctx.session).await?;
    match state
        .consent
        .registration_callback(
            session_state.as_deref(),
            &binding,
            &s.user,
            query.as_deref().unwrap_or(""),
        )
        .await
    {
        Ok(redirect) => {
            s.ctx
                .session
                .insert(KEY_STATE, redirect.state.expose())
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            Ok(Redirect::to(&redirect.url).into_response())
        }
        Err(error) => problem(&state, &s.ctx, &error, "/".into()).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuthorizedQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// `GET /kb/authorized?code=…&state=…`: back from KB's consent.
pub async fn authorized(
    State(state): State<AppState>,
    s: SignedIn,
    axum::extract::Query(q): axum::extract::Query<AuthorizedQuery>,
) -> Result<Response, AppError> {
    let session_state = take_state(&s.ctx.session).await?;
    let binding = binding(&s.ctx.session).await?;
    let result = state
        .consent
        .authorization_callback(
            session_state.as_deref(),
            &binding,
            &s.user,
            q.code.as_deref(),
            q.state.as_deref(),
            q.error.as_deref(),
        )
        .await;
    match result {
        Ok(done) => {
            // The accounts' first (or renewed) sync is due now: wake the worker.
            state.sync_wake.notify_one();
            s.ctx
                .flash(if done.renewed {
                    "flash.bank_renewed"
                } else {
                    "flash.bank_connected"
                })
                .await;
            let key = crate::db::tenant::TenantKey::from_id(done.tenant_id.into());
            // The dashboard this redirects to shows the new connection at once, before its
            // notification arrives (`web::rendered`).
            state.club_versions.forget(&key);
            Ok(Redirect::to(&paths::club(key)).into_response())
        }
        Err(error) => problem(&state, &s.ctx, &error, "/".into()).await,
    }
}

/// `GET /kb/events/version` (KB checks it before accepting a subscription).
pub async fn event_api_version() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "version": "1.0" }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    pub event_count: i64,
}

/// `POST /kb/events/subscriptions/{id}/events`: answers at once; only makes the sync due.
pub async fn event_notification(
    State(state): State<AppState>,
    Path(subscription_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<EventBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if body.event_count < 0 || headers.get("x-correlation-id").is_none() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    match events::receive(&state.pool, &subscription_id, key, state.now()).await {
        Ok(Notification::Accepted { .. }) => {
            state.sync_wake.notify_one();
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Notification::UnknownSubscription) => StatusCode::NOT_FOUND.into_response(),
        Ok(Notification::BadKey) => StatusCode::UNAUTHORIZED.into_response(),
        Err(error) => {
            tracing::error!(%error, "could not record a KB notification");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /t/{club}/bank/consent.ics`: the consent's expiry as a calendar event (the renewed
/// date after a renewal; 404 without a connection or an expiry date).
pub async fn consent_ics(
    State(state): State<AppState>,
    access: ClubAccess<crate::team::ViewClub>,
) -> Result<Response, AppError> {
    let mut tx = crate::db::tenant::TenantTx::begin(&state.pool, &access.tenant).await?;
    let connection = state.consent.connection(&mut tx).await?;
    tx.commit().await?;
    let (Some(view), Some(expires_at)) = (
        connection.as_ref(),
        connection.as_ref().and_then(|c| c.expires_at),
    ) else {
        return Err(AppError::NotFound);
    };
    let mut link = state.public_url.clone();
    link.set_path(&paths::club(access.tenant.key()));
    let link = link.to_string();
    let calendar = crate::consent::calendar::ics(
        &crate::consent::calendar::Expiry {
            connection: view.id,
            club: &access.club_name,
            granted_at: view.granted_at,
            expires_at,
            link: &link,
        },
        access.ctx.lang(),
        state.now(),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"",
        crate::consent::calendar::FILE_NAME
    );
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                crate::consent::calendar::CONTENT_TYPE.to_owned(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        calendar,
    )
        .into_response())
}
