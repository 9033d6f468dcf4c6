//! What other Kasa processes changed, heard through PostgreSQL's `LISTEN/NOTIFY`, and the
//! copies a process may keep because it hears about every change to them.
//!
//! Triggers in the control plane (app migration 0014) send a notification on channel
//! [`CHANNEL`] whenever a row that a kept copy depends on changes: `people` (an account, a
//! membership or a club), `session:<sha-256 of the id, hex>` (a session written or ended), `all`.
//! PostgreSQL delivers a notification when its transaction commits, to every listening process,
//! this one included; a rolled-back change notifies nobody.
//!
//! One [`Listener`] per web process listens. A [`Kept`] copy is used only while the listener is
//! connected and listening: when the connection drops, every copy is forgotten and lookups go to
//! the database until the listener is back (then everything is forgotten once more, since
//! whatever was said in between was not heard). So a kept copy is at most one notification's
//! travel time (milliseconds) behind the database. [`Ticket`]s close the remaining gap: a value
//! read from the database is kept only if nothing about it was heard while it was being read.
//!
//! Open pages' streams ([`Live::subscribe`], `web::pages::live`) hear every change through a
//! broadcast from the same listener: no stream holds a database connection. When the listener
//! loses or regains its connection they hear [`Change::All`] (whatever was said meanwhile was
//! not heard, so each page checks its stamp once more).

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The notification channel (app migration 0014).
pub const CHANNEL: &str = "kasa_live";

/// One notification, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An account, a membership or a club changed.
    People,
    /// The session whose id hashes to this (SHA-256, lower-case hex) was written or ended.
    Session(String),
    /// Something an open page of the club with this schema (`t_…`) shows changed: its
    /// accounts, their sync runs or its payment stamp (tenant migration 0018).
    Club(String),
    /// Anything may have changed (a table was emptied, or the listener was away).
    All,
}

impl Change {
    /// Parses a payload; an unknown one is taken as [`Change::All`] (forgetting too much is
    /// safe, forgetting too little is not).
    pub fn parse(payload: &str) -> Change {
        match payload.split_once(':') {
            None if payload == "people" => Change::People,
            Some(("session", hash)) => Change::Session(hash.to_owned()),
            Some(("club", schema)) => Change::Club(schema.to_owned()),
            _ => Change::All,
        }
    }
}

/// What a kept copy forgets on a [`Change`].
pub enum Forget<K> {
    Nothing,
    One(K),
    Everything,
}

/// Something that keeps copies and must hear every change.
pub trait Hears: Send + Sync + 'static {
    fn hear(&self, change: &Change);
}

/// The process's listening state and the kept copies that depend on it. Cheap to clone.
#[derive(Clone, Default)]
pub struct Live {
    inner: Arc<LiveInner>,
}

/// How many changes a stream may fall behind before it misses some (it then hears
/// [`broadcast::error::RecvError::Lagged`] and must treat that as [`Change::All`]).
const STREAM_BACKLOG: usize = 256;

struct LiveInner {
    listening: Arc<AtomicBool>,
    hearers: Mutex<Vec<Arc<dyn Hears>>>,
    /// Every change heard, for open pages' streams.
    changes: broadcast::Sender<Change>,
    /// Turns true when the server shuts down: open streams end, so that the graceful shutdown
    /// does not wait for them.
    closing: watch::Sender<bool>,
}

impl Default for LiveInner {
    fn default() -> LiveInner {
        LiveInner {
            listening: Arc::default(),
            hearers: Mutex::default(),
            changes: broadcast::Sender::new(STREAM_BACKLOG),
            closing: watch::Sender::new(false),
        }
    }
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("listening", &self.is_listening())
            .finish_non_exhaustive()
    }
}

impl Live {
    /// Whether the listener is connected and listening: kept copies may be used.
    pub fn is_listening(&self) -> bool {
        self.inner.listening.load(Ordering::Acquire)
    }

    /// A new kept copy of at most `capacity` values, which forgets what `select` says on each
    /// change (and everything on [`Change::All`]).
    pub fn keep<K, V>(&self, capacity: usize, select: fn(&Change) -> Forget<K>) -> Arc<Kept<K, V>>
    where
        K: Eq + Hash + Send + 'static,
        V: Clone + Send + 'static,
    {
        let kept = Arc::new(Kept {
            listening: self.inner.listening.clone(),
            capacity,
            select,
            shelf: Mutex::new(Shelf {
                generation: 0,
                values: HashMap::new(),
            }),
        });
        self.inner
            .hearers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(kept.clone());
        kept
    }

    /// Tells every kept copy about a change, then every stream (so a stream that reads a
    /// kept copy again reads what the change left).
    pub fn hear(&self, change: &Change) {
        let hearers = self
            .inner
            .hearers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for hearer in hearers {
            hearer.hear(change);
        }
        if self.inner.changes.receiver_count() > 0 {
            // Fails only when nobody subscribes: nobody to tell.
            let _ = self.inner.changes.send(change.clone());
        }
    }

    /// Every change heard from now on, for one open page's stream. A receiver that falls more
    /// than a few hundred changes behind gets `Lagged` and must take it as [`Change::All`].
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// Turns true once the server shuts down ([`Live::close_streams`]): streams end.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Ends every open stream, now and for streams opened later (the server is shutting down).
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    fn set_listening(&self, listening: bool) {
        if listening {
            // Whatever was said while nobody listened is lost: start from nothing.
            self.hear(&Change::All);
            self.inner.listening.store(true, Ordering::Release);
        } else {
            self.inner.listening.store(false, Ordering::Release);
            self.hear(&Change::All);
        }
    }
}

/// A copy of values read from the database, kept while every change to them is heard.
pub struct Kept<K, V> {
    listening: Arc<AtomicBool>,
    capacity: usize,
    select: fn(&Change) -> Forget<K>,
    shelf: Mutex<Shelf<K, V>>,
}

struct Shelf<K, V> {
    /// Moves on every forgetting, so a read that overlapped one is not kept.
    generation: u64,
    values: HashMap<K, V>,
}

/// Taken before reading a value from the database; the value is kept only if nothing was
/// forgotten since ([`Kept::put`]).
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> Kept<K, V> {
    fn shelf(&self) -> std::sync::MutexGuard<'_, Shelf<K, V>> {
        self.shelf.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept value, if the listener listens and the value is kept.
    pub fn get(&self, key: &K) -> Option<V> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        self.shelf().values.get(key).cloned()
    }

    /// Take one before reading what you will [`put`](Self::put).
    pub fn ticket(&self) -> Ticket {
        Ticket(self.shelf().generation)
    }

    /// Keeps `value`, read from the database after `ticket` was taken, unless something was
    /// forgotten since or the listener is not listening; returns whether it was kept. A full
    /// copy starts over.
    pub fn put(&self, ticket: Ticket, key: K, value: V) -> bool {
        let mut shelf = self.shelf();
        if shelf.generation != ticket.0 || !self.listening.load(Ordering::Acquire) {
            return false;
        }
        if shelf.values.len() >= self.capacity {
            shelf.values.clear();
        }
        shelf.values.insert(key, value);
        true
    }

    /// Forgets one value (this process changed it).
    pub fn forget(&self, key: &K) {
        let mut shelf = self.shelf();
        shelf.generation += 1;
        shelf.values.remove(key);
    }

    /// Forgets everything.
    pub fn forget_all(&self) {
        let mut shelf = self.shelf();
        shelf.generation += 1;
        shelf.values.clear();
    }

    /// How many values are kept (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shelf().values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K, V> Hears for Kept<K, V>
where
    K: Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    fn hear(&self, change: &Change) {
        let forget = match change {
            Change::All => Forget::Everything,
            other => (self.select)(other),
        };
        match forget {
            Forget::Nothing => {}
            Forget::One(key) => self.forget(&key),
            Forget::Everything => self.forget_all(),
        }
    }
}

/// The listening task of one process.
pub struct Listener {
    live: Live,
    pool: PgPool,
}

/// How long the listener waits before connecting again after losing its connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

impl Listener {
    /// `pool` should be a pool of its own (one connection): the listener holds its connection
    /// for as long as it runs.
    pub fn new(live: Live, pool: PgPool) -> Listener {
        Listener { live, pool }
    }

    /// Listens until `stop` turns true, connecting again whenever the connection is lost.
    /// Kept copies are used only while it listens.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            match self.listen_once(&mut stop).await {
                Ok(Stopped::Yes) => break,
                Ok(Stopped::No) => {
                    tracing::warn!("lost the connection for change notifications; reconnecting")
                }
                Err(error) => {
                    tracing::warn!(%error, "could not listen for change notifications; retrying")
                }
            }
            self.live.set_listening(false);
            tokio::select! {
                _ = tokio::time::sleep(RECONNECT_PAUSE) => {}
                _ = stop.changed() => {}
            }
        }
        self.live.set_listening(false);
    }

    async fn listen_once(&self, stop: &mut watch::Receiver<bool>) -> Result<Stopped, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        self.live.set_listening(true);
        tracing::debug!("listening for change notifications");
        loop {
            tokio::select! {
                _ = stop.changed() => return Ok(Stopped::Yes),
                received = listener.try_recv() => match received? {
                    Some(notification) => {
                        self.live.hear(&Change::parse(notification.payload()));
                    }
                    // The connection was lost (sqlx would reconnect on the next call, but what
                    // was said meanwhile is gone): forget everything and start over.
                    None => return Ok(Stopped::No),
                },
            }
        }
    }
}

enum Stopped {
    Yes,
    No,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_and_kept() -> (Live, Arc<Kept<String, u32>>) {
        let live = Live::default();
        let kept = live.keep::<String, u32>(2, |change| match change {
            Change::Session(hash) => Forget::One(hash.clone()),
            _ => Forget::Nothing,
        });
        (live, kept)
    }

    #[test]
    fn payloads_parse_and_unknown_ones_mean_everything() {
        assert_eq!(Change::parse("people"), Change::People);
        assert_eq!(
            Change::parse("session:ab12"),
            Change::Session("ab12".into())
        );
        assert_eq!(Change::parse("all"), Change::All);
        assert_eq!(
            Change::parse("club:t_0123456789abcdefghjkmnpqrs"),
            Change::Club("t_0123456789abcdefghjkmnpqrs".into())
        );
        assert_eq!(Change::parse("something new"), Change::All);
    }

    #[test]
    fn nothing_is_kept_or_served_while_nobody_listens() {
        let (live, kept) = live_and_kept();
        let ticket = kept.ticket();
        kept.put(ticket, "a".into(), 1);
        assert!(kept.get(&"a".to_owned()).is_none());
        live.set_listening(true);
        let ticket = kept.ticket();
        kept.put(ticket, "a".into(), 1);
        assert_eq!(kept.get(&"a".to_owned()), Some(1));
        live.set_listening(false);
        assert!(kept.get(&"a".to_owned()).is_none());
        live.set_listening(true);
        assert!(kept.get(&"a".to_owned()).is_none(), "forgotten while away");
    }

    #[test]
    fn a_value_read_while_a_change_was_heard_is_not_kept() {
        let (live, kept) = live_and_kept();
        live.set_listening(true);
        let ticket = kept.ticket();
        live.hear(&Change::Session("other".into()));
        kept.put(ticket, "a".into(), 1);
        assert!(kept.get(&"a".to_owned()).is_none());
    }

    #[test]
    fn a_change_forgets_what_its_copy_selects_and_all_forgets_everything() {
        let (live, kept) = live_and_kept();
        live.set_listening(true);
        kept.put(kept.ticket(), "a".into(), 1);
        kept.put(kept.ticket(), "b".into(), 2);
        live.hear(&Change::People);
        assert_eq!(kept.len(), 2);
        live.hear(&Change::Session("a".into()));
        assert!(kept.get(&"a".to_owned()).is_none());
        assert_eq!(kept.get(&"b".to_owned()), Some(2));
        live.hear(&Change::All);
        assert!(kept.is_empty());
    }

    #[test]
    fn streams_hear_every_change_and_the_listeners_comings_and_goings_as_everything() {
        let (live, kept) = live_and_kept();
        let mut stream = live.subscribe();
        live.set_listening(true);
        kept.put(kept.ticket(), "a".into(), 1);
        live.hear(&Change::Club("t_x".into()));
        live.hear(&Change::Session("a".into()));
        assert!(kept.is_empty(), "kept copies forget before streams hear");
        live.set_listening(false);
        let heard: Vec<Change> = std::iter::from_fn(|| stream.try_recv().ok()).collect();
        assert_eq!(
            heard,
            [
                Change::All,
                Change::Club("t_x".into()),
                Change::Session("a".into()),
                Change::All
            ]
        );
    }

    #[test]
    fn closing_reaches_streams_opened_before_and_after() {
        let live = Live::default();
        let before = live.closing();
        live.close_streams();
        assert!(*before.borrow());
        assert!(*live.closing().borrow());
    }

    #[test]
    fn a_full_copy_starts_over() {
        let (live, kept) = live_and_kept();
        live.set_listening(true);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            kept.put(kept.ticket(), key.into(), i as u32);
        }
        assert_eq!(kept.len(), 1);
        assert_eq!(kept.get(&"c".to_owned()), Some(2));
    }
}
