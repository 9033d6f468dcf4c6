//! Who is asking, in which language: the per-request context every page needs.
//!
//! [`load`] runs once per request: it reads the session, loads the signed-in person and their
//! clubs in one query (ending the session if its absolute lifetime is over or the password
//! changed since), picks the language, and leaves a [`Viewer`] in the request's extensions.
//! Extractors ([`Ctx`], [`SignedIn`], `access::ClubAccess`) read it from there, so no handler
//! loads the person or their memberships twice or forgets a check. [`record_activity`] slides
//! the idle time-out on page requests.

use super::AppState;
use crate::auth::User;
use crate::club::{self, ClubSummary};
use crate::i18n::Lang;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::borrow::Cow;
use std::sync::Arc;
use time::OffsetDateTime;
use tower_sessions::Session;

pub const KEY_USER: &str = "uid";
pub const KEY_EPOCH: &str = "epoch";
pub const KEY_AUTH_AT: &str = "auth_at";
pub const KEY_LANG: &str = "lang";
pub const KEY_FLASH: &str = "flash";
/// The last page request that slid the idle time-out (Unix seconds).
pub const KEY_SEEN: &str = "seen";

/// How often a signed-in person's page requests write the session back to slide its idle
/// time-out: at most once this often, so the time-out slides with one minute's granularity and a
/// page view is not a database write.
pub const ACTIVITY_WRITE_INTERVAL: time::Duration = time::Duration::minutes(1);

/// The person behind a request and their language.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: Option<User>,
    /// The signed-in person's active clubs by name, with their role in each (empty when signed
    /// out). Read in the same query as the person, so a request sees one consistent answer.
    pub clubs: Arc<[ClubSummary]>,
    pub lang: Lang,
    pub request_id: String,
    pub path: String,
}

/// Middleware: builds the [`Viewer`].
pub async fn load(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let (user, clubs) = match signed_in_user(&state, &session).await {
        Ok(Some((user, clubs))) => (Some(user), clubs.into()),
        Ok(None) => (None, Arc::from([])),
        Err(error) => {
            tracing::warn!(%error, "could not load the signed-in person; treating as signed out");
            (None, Arc::from([]))
        }
    };
    let chosen: Option<String> = session.get(KEY_LANG).await.ok().flatten();
    let lang = chosen
        .as_deref()
        .and_then(Lang::from_code)
        .or(user.as_ref().map(|u| u.lang))
        .unwrap_or_else(|| {
            req.headers()
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Lang::from_accept_language)
                .unwrap_or_default()
        });
    let request_id = super::security::request_id(&req);
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    req.extensions_mut().insert(Viewer {
        user,
        clubs,
        lang,
        request_id,
        path,
    });
    next.run(req).await
}

/// Middleware for page requests (not background polls), inside [`load`]: a signed-in person's
/// page request is activity and slides the session's idle time-out. The session is marked
/// changed, and so written back, at most once per [`ACTIVITY_WRITE_INTERVAL`].
pub async fn record_activity(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let signed_in = req
        .extensions()
        .get::<Viewer>()
        .is_some_and(|v| v.user.is_some());
    if signed_in {
        let now = state.now().unix_timestamp();
        let seen: Option<i64> = session.get(KEY_SEEN).await.ok().flatten();
        let due = seen.is_none_or(|t| now - t >= ACTIVITY_WRITE_INTERVAL.whole_seconds());
        if due && let Err(error) = session.insert(KEY_SEEN, now).await {
            tracing::warn!(%error, "could not record activity in the session");
        }
    }
    next.run(req).await
}

async fn signed_in_user(
    state: &AppState,
    session: &Session,
) -> anyhow::Result<Option<(User, Vec<ClubSummary>)>> {
    let Some(user_id) = session.get::<crate::auth::UserId>(KEY_USER).await? else {
        return Ok(None);
    };
    let epoch: Option<i32> = session.get(KEY_EPOCH).await?;
    let auth_at: Option<i64> = session.get(KEY_AUTH_AT).await?;
    let expired = auth_at
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .is_none_or(|t| state.now() - t > super::security::ABSOLUTE_LIFETIME);
    let person = club::person_with_clubs(&state.pool, user_id).await?;
    match person {
        Some((user, clubs)) if !expired && epoch == Some(user.session_epoch) => {
            Ok(Some((user, clubs)))
        }
        _ => {
            // Lifetime over, password changed elsewhere, or account gone: end this session.
            session.flush().await?;
            Ok(None)
        }
    }
}

/// Starts a signed-in session for `user`: a new session id (no fixation), the auth time for the
/// absolute lifetime and the password epoch.
pub async fn sign_in(session: &Session, user: &User, now: OffsetDateTime) -> anyhow::Result<()> {
    session.cycle_id().await?;
    session.insert(KEY_USER, user.id).await?;
    session.insert(KEY_EPOCH, user.session_epoch).await?;
    session.insert(KEY_AUTH_AT, now.unix_timestamp()).await?;
    session.insert(KEY_SEEN, now.unix_timestamp()).await?;
    Ok(())
}

/// The request context for handlers: viewer plus session.
pub struct Ctx {
    pub viewer: Viewer,
    pub session: Session,
}

impl Ctx {
    pub fn lang(&self) -> Lang {
        self.viewer.lang
    }

    pub fn t(&self, key: &str) -> Cow<'static, str> {
        self.viewer.lang.t(key)
    }

    pub fn user(&self) -> Option<&User> {
        self.viewer.user.as_ref()
    }

    /// Leaves a one-time message (a translation key) for the next page.
    pub async fn flash(&self, key: &str) {
        if let Err(error) = self.session.insert(KEY_FLASH, key).await {
            tracing::warn!(%error, "could not store a flash message");
        }
    }

    /// Takes the pending one-time message, translated.
    pub async fn take_flash(&self) -> Option<String> {
        // Only a session that holds a message changes (`remove` marks it changed regardless,
        // which would write the session back on every page).
        let key: Option<String> = self.session.get(KEY_FLASH).await.ok().flatten();
        if key.is_some() {
            let _ = self.session.remove::<String>(KEY_FLASH).await;
        }
        key.map(|k| self.t(&k).into_owned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let viewer = parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .ok_or_else(|| axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|e| e.into_response())?;
        Ok(Ctx { viewer, session })
    }
}

/// A request from a signed-in person; others are sent to the login page and back.
pub struct SignedIn {
    pub ctx: Ctx,
    pub user: User,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        match ctx.viewer.user.clone() {
            Some(user) => Ok(SignedIn { ctx, user }),
            None => Err(Redirect::to(&super::paths::login_then(&ctx.viewer.path)).into_response()),
        }
    }
}

/// The client's address: the socket peer, or, with `KASA_TRUST_PROXY`, the last
/// `X-Forwarded-For` entry: the one the trusted proxy appended (earlier entries are whatever the
/// client sent and prove nothing). Only a parseable IP address is used. `None` when the server
/// runs without connection info (never in `kasa serve`).
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        Ok(ClientIp(client_ip(state.trust_proxy, peer, &parts.headers)))
    }
}

fn client_ip(
    trust_proxy: bool,
    peer: Option<std::net::SocketAddr>,
    headers: &axum::http::HeaderMap,
) -> Option<String> {
    if trust_proxy {
        let appended = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|last| last.trim().parse::<std::net::IpAddr>().ok());
        if let Some(ip) = appended {
            return Some(ip.to_string());
        }
    }
    peer.map(|p| p.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::client_ip;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn behind_a_trusted_proxy_the_address_it_appended_counts_not_the_clients_claim() {
        let peer = Some(std::net::SocketAddr::from(([10, 0, 0, 1], 4000)));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.7"),
        );
        assert_eq!(
            client_ip(true, peer, &headers).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            client_ip(false, peer, &headers).as_deref(),
            Some("10.0.0.1")
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(true, peer, &headers).as_deref(), Some("10.0.0.1"));
    }
}
