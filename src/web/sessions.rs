//! The session store the web layer uses: PostgreSQL's `app.sessions` ([`PostgresStore`]) with
//! the sessions this process has read kept in memory (`live::Kept`), so that a signed-in page
//! view does not read its session from the database every time.
//!
//! Every write of a session, here or in another process (including the deletion of expired
//! sessions), notifies `session:<sha-256 of the id>` (app migration 0014) and every process
//! forgets that session. This process also forgets before and after its own writes, so its next
//! request reads what it wrote. A kept session is served only until its expiry date.

use crate::clock::{Clock, SystemClock};
use crate::live::{Change, Forget, Kept, Live};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_sqlx_store::PostgresStore;

/// How many sessions one process keeps (a full copy starts over).
const CAPACITY: usize = 50_000;

/// [`PostgresStore`] with kept copies of the sessions it read.
#[derive(Clone)]
pub struct KeptSessions {
    store: PostgresStore,
    kept: Arc<Kept<String, Record>>,
}

impl std::fmt::Debug for KeptSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the sessions themselves: they carry who is signed in.
        f.debug_struct("KeptSessions")
            .field("kept", &self.kept.len())
            .finish_non_exhaustive()
    }
}

impl KeptSessions {
    pub fn new(store: PostgresStore, live: &Live) -> KeptSessions {
        let kept = live.keep(CAPACITY, |change| match change {
            Change::Session(hash) => Forget::One(hash.clone()),
            _ => Forget::Nothing,
        });
        KeptSessions { store, kept }
    }

    /// How many sessions are kept now.
    pub fn kept(&self) -> usize {
        self.kept.len()
    }
}

/// The key a session is kept and notified under: the SHA-256 of its id, lower-case hex (the
/// id is a secret; the trigger computes the same from `app.sessions.id`).
pub fn key(id: &Id) -> String {
    format!("{:x}", Sha256::digest(id.to_string().as_bytes()))
}

#[async_trait::async_trait]
impl SessionStore for KeptSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A new id: nothing kept can be about it.
        self.store.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let key = key(&record.id);
        self.kept.forget(&key);
        let saved = self.store.save(record).await;
        self.kept.forget(&key);
        saved
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let key = key(id);
        let now = SystemClock.now();
        if let Some(record) = self.kept.get(&key)
            && record.expiry_date > now
        {
            return Ok(Some(record));
        }
        let ticket = self.kept.ticket();
        let record = self.store.load(id).await?;
        if let Some(record) = &record {
            self.kept.put(ticket, key, record.clone());
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let key = key(id);
        self.kept.forget(&key);
        let deleted = self.store.delete(id).await;
        self.kept.forget(&key);
        deleted
    }
}
