//! `GET /t/{club}/live`: an open page's stream of the club's changes (Server-Sent Events), so
//! live pages (an account, the dashboard, the fee pages) learn of a payment without polling.
//!
//! Events (docs/decisions.md, "Live pages by push"); each carries its name as its data, since
//! browsers drop an event without data:
//! * `ready` first, at once (with the reconnection delay): the page knows events get through
//!   (a buffering proxy would hold it back, and the page then polls instead).
//! * `changed` when something the club's pages show may have changed: the club's
//!   `club:<schema>` notification (tenant migration 0018), or the process's listener lost or
//!   regained its connection ([`Change::All`], or a stream that fell behind), or, every
//!   [`RECHECK`], while the listener is not listening. The page then fetches itself again and
//!   replaces its live sections if its stamp moved.
//! * `end` when the session ended (signed out, expired, password changed elsewhere) or the
//!   person is no longer in the club; the stream closes and the page reloads (and so goes to
//!   sign-in). Checked when the session's own notification arrives and every [`RECHECK`].
//!   (After lost notifications, `changed` makes the page fetch itself, which finds a session
//!   that ended meanwhile sooner than the next check.)
//! * A comment every [`KEEP_ALIVE`], which also keeps the connection from the server's idle
//!   time-out (`server::ServerLimits::idle_timeout`).
//!
//! The stream is served outside `context::record_activity` and never writes its session, so
//! an open stream does not slide the idle time-out. No stream holds a database connection: the
//! process's one listener (`live::Listener`) tells them all.

use crate::auth::UserId;
use crate::db::tenant::ClubId;
use crate::live::Change;
use crate::team::ViewClub;
use crate::web::AppState;
use crate::web::access::ClubAccess;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tower_sessions::Session;
use tower_sessions::session::Id;

/// How often an open stream checks its session and membership without being told (a session
/// that expired by time notifies nobody), and says `changed` while the listener is away.
pub const RECHECK: Duration = Duration::from_secs(30);

/// How often an idle stream sends a comment (below the server's idle time-out of 60 s and the
/// usual proxies' 60 s read time-outs).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a browser waits before opening a dropped stream again (the `retry` field).
const RETRY: Duration = Duration::from_secs(2);

/// `GET /t/{club}/live`: the stream (see the module docs). Any teammate may open it; the club
/// guard answers 404 to others and sends the signed-out to sign-in, as on every club page.
pub async fn stream(State(state): State<AppState>, access: ClubAccess<ViewClub>) -> Response {
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watch = Watch {
        recheck,
        changes: state.live.subscribe(),
        closing: state.live.closing(),
        club: access.tenant.schema().as_str().to_owned(),
        club_id: ClubId(access.tenant.id()),
        user: access.user.id,
        session: access.ctx.session.id(),
        session_key: access
            .ctx
            .session
            .id()
            .as_ref()
            .map(crate::web::sessions::key),
        state,
    };
    let mut response = Sse::new(watch.events())
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // nginx and its kin would otherwise buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One open stream's state.
struct Watch {
    state: AppState,
    recheck: tokio::time::Interval,
    changes: broadcast::Receiver<Change>,
    closing: watch::Receiver<bool>,
    /// The club's schema name, as its notifications carry it.
    club: String,
    club_id: ClubId,
    user: UserId,
    session: Option<Id>,
    /// What the session's notifications carry (`sessions::key`).
    session_key: Option<String>,
}

/// What woke a waiting stream.
enum Woke {
    Closing,
    Recheck,
    Heard(Result<Change, broadcast::error::RecvError>),
}

/// What the stream does next.
enum Next {
    Send(Event),
    /// The session or the membership ended: say `end`, then close.
    End,
    /// The server shuts down: close without a word (the browser reconnects, perhaps to
    /// another instance).
    Close,
}

impl Watch {
    fn events(self) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
        let ready = Event::default().event("ready").retry(RETRY).data("ready");
        futures::stream::unfold(
            (self, Some(ready), false),
            |(mut watch, first, ended)| async move {
                if let Some(ready) = first {
                    return Some((Ok(ready), (watch, None, false)));
                }
                if ended {
                    return None;
                }
                match watch.next().await {
                    Next::Send(event) => Some((Ok(event), (watch, None, false))),
                    Next::End => {
                        let end = Event::default().event("end").data("end");
                        Some((Ok(end), (watch, None, true)))
                    }
                    Next::Close => None,
                }
            },
        )
    }

    async fn next(&mut self) -> Next {
        loop {
            let woke = tokio::select! {
                // An error means the process is going away as well.
                _ = self.closing.wait_for(|closing| *closing) => Woke::Closing,
                _ = self.recheck.tick() => Woke::Recheck,
                heard = self.changes.recv() => Woke::Heard(heard),
            };
            match woke {
                Woke::Closing | Woke::Heard(Err(broadcast::error::RecvError::Closed)) => {
                    return Next::Close;
                }
                Woke::Recheck => {
                    if !self.still_allowed().await {
                        return Next::End;
                    }
                    if !self.state.live.is_listening() {
                        return Next::Send(changed());
                    }
                }
                Woke::Heard(Ok(Change::Club(schema))) if schema == self.club => {
                    return Next::Send(changed());
                }
                Woke::Heard(Ok(Change::Session(hash)))
                    if Some(&hash) == self.session_key.as_ref() =>
                {
                    if !self.still_allowed().await {
                        return Next::End;
                    }
                }
                // Whatever was said while nobody listened (or while this stream lagged) is
                // lost: the page looks once more (and its refresh finds a session that ended
                // meanwhile; the streams do not all read their sessions at once).
                Woke::Heard(Ok(Change::All) | Err(broadcast::error::RecvError::Lagged(_))) => {
                    return Next::Send(changed());
                }
                Woke::Heard(Ok(_)) => {}
            }
        }
    }

    /// Whether the session is still signed in as the same person, who is still in the club:
    /// the checks of every request (`context::load`), on a fresh read of the session. A
    /// database error keeps the stream (the next check decides).
    async fn still_allowed(&self) -> bool {
        let Some(id) = self.session else {
            return false;
        };
        let session = Session::new(Some(id), Arc::new(self.state.sessions.clone()), None);
        match crate::web::context::signed_in_user(&self.state, &session).await {
            Ok(Some(((user, clubs), _))) => {
                user.id == self.user && clubs.iter().any(|c| ClubId(c.tenant.id()) == self.club_id)
            }
            Ok(None) => false,
            Err(error) => {
                tracing::warn!(%error, "could not check an open stream's session");
                true
            }
        }
    }
}

fn changed() -> Event {
    Event::default().event("changed").data("changed")
}
