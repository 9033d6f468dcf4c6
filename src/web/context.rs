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
use axum::http::Method;
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
    /// Whether the person and clubs came from this process's kept copy ([`Person`]), which may
    /// be a notification's travel time behind: a guard that would refuse re-reads them
    /// ([`person_read`]), so grants are never late; only a revocation can be, by milliseconds.
    pub clubs_kept: bool,
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
    let (user, clubs, clubs_kept) = match signed_in_user(&state, &session).await {
        Ok(Some(((user, clubs), kept))) => (Some(user), clubs, kept),
        Ok(None) => (None, Arc::from([]), false),
        Err(error) => {
            tracing::warn!(%error, "could not load the signed-in person; treating as signed out");
            (None, Arc::from([]), false)
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
    let writer = user.as_ref().map(|u| u.id);
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    // The club a write may have changed (`/t/{key}/…`).
    let club = (!safe)
        .then(|| path.strip_prefix("/t/")?.split(['/', '?']).next())
        .flatten()
        .and_then(crate::db::schema::TenantKey::parse);
    req.extensions_mut().insert(Viewer {
        user,
        clubs,
        clubs_kept,
        lang,
        request_id,
        path,
    });
    let response = next.run(req).await;
    // What this request changed, this process's next request must see (it may come before the
    // notification does): a request that may have written forgets the person it kept.
    if let Some(user) = writer
        && (!safe || response.extensions().get::<PersonChanged>().is_some())
    {
        state.people.forget(&user);
    }
    if let Some(club) = club {
        state.payment_stamps.forget(&club);
        state.club_versions.forget(&club);
    }
    response
}

/// A response extension: this (safe-method) request changed the signed-in person's account,
/// so the kept copy is forgotten ([`load`]). Requests with other methods forget it anyway.
#[derive(Debug, Clone, Copy)]
pub struct PersonChanged;

/// The header `static/kasa.js` sends when an open page fetches itself again in the background
/// (its live sections changed): not the person's activity.
pub const BACKGROUND_REFRESH: &str = "x-kasa-refresh";

/// Middleware for page requests (not background polls or streams), inside [`load`]: a
/// signed-in person's page request is activity and slides the session's idle time-out, unless
/// it is an open page's background refresh ([`BACKGROUND_REFRESH`]). The session is marked
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
    let background = req.headers().contains_key(BACKGROUND_REFRESH);
    if signed_in && !background {
        let now = state.now().unix_timestamp();
        let seen: Option<i64> = session.get(KEY_SEEN).await.ok().flatten();
        let due = seen.is_none_or(|t| now - t >= ACTIVITY_WRITE_INTERVAL.whole_seconds());
        if due && let Err(error) = session.insert(KEY_SEEN, now).await {
            tracing::warn!(%error, "could not record activity in the session");
        }
    }
    next.run(req).await
}

/// A signed-in person with their active clubs and roles (`club::person_with_clubs`).
pub type Person = (User, Arc<[ClubSummary]>);

/// How many people one process keeps (a full copy starts over).
const PEOPLE_KEPT: usize = 10_000;

/// The kept copy of people with their clubs: forgotten whenever an account, a membership or a
/// club changes anywhere (`people` notifications, app migration 0014).
pub fn keep_people(
    live: &crate::live::Live,
) -> Arc<crate::live::Kept<crate::auth::UserId, Person>> {
    live.keep(PEOPLE_KEPT, |change| match change {
        crate::live::Change::People => crate::live::Forget::Everything,
        _ => crate::live::Forget::Nothing,
    })
}

/// The person with their clubs, from the kept copy if it has them (`true`), else read from the
/// database (and kept).
async fn person(
    state: &AppState,
    user: crate::auth::UserId,
) -> Result<Option<(Person, bool)>, sqlx::Error> {
    if let Some(person) = state.people.get(&user) {
        return Ok(Some((person, true)));
    }
    Ok(person_read(state, user).await?.map(|p| (p, false)))
}

/// The person with their clubs read from the database (and kept for the next request).
pub async fn person_read(
    state: &AppState,
    user: crate::auth::UserId,
) -> Result<Option<Person>, sqlx::Error> {
    let ticket = state.people.ticket();
    let person = club::person_with_clubs(&state.pool, user)
        .await?
        .map(|(user, clubs)| (user, Arc::from(clubs)));
    if let Some(person) = &person {
        state.people.put(ticket, user, person.clone());
    }
    Ok(person)
}

pub(in crate::web) async fn signed_in_user(
    state: &AppState,
    session: &Session,
) -> anyhow::Result<Option<(Person, bool)>> {
    let Some(user_id) = session.get::<crate::auth::UserId>(KEY_USER).await? else {
        return Ok(None);
    };
    let epoch: Option<i32> = session.get(KEY_EPOCH).await?;
    let auth_at: Option<i64> = session.get(KEY_AUTH_AT).await?;
    let expired = auth_at
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .is_none_or(|t| state.now() - t > super::security::ABSOLUTE_LIFETIME);
    let mut found = person(state, user_id).await?;
    // A kept copy older than this session (the password was just changed here) is read again
    // before the session is ended for it.
    if let Some(((user, _), true)) = &found
        && epoch != Some(user.session_epoch)
    {
        found = person_read(state, user_id).await?.map(|p| (p, false));
    }
    match found {
        Some(((user, clubs), kept)) if !expired && epoch == Some(user.session_epoch) => {
            Ok(Some(((user, clubs), kept)))
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
