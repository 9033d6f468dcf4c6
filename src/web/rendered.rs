//! Page contents kept rendered, so that a page every board member reloads, or an open page
//! that the club's changes make fetch itself again, is rendered from the database once per
//! change instead of once per view.
//!
//! Two parts:
//! - [`ClubVersions`]: a number per club that changes whenever anything the club's pages show
//!   may have changed. It is kept ([`crate::live::Kept`]) while this process hears every
//!   change: the club's notification (`club:<schema>`; tenant migrations 0018 and 0022, app
//!   migration 0016) forgets it, and so does any request under `/t/{club}/` that may have
//!   written (`web::context::load`), so this process's next page shows its own write.
//! - [`Rendered`]: rendered contents (the page without its chrome: navigation, flash, footer)
//!   by a key that names the club's version and whatever else the content depends on
//!   (language, role, query). An entry of an older version is never asked for again and
//!   leaves as the cache fills (`quick_cache`'s S3-FIFO, bounded by bytes).
//!
//! What a kept content may not depend on: the person (beyond what its key names), the session
//! (flash messages, form errors), or the time beyond the key's minute.

use crate::db::schema::TenantKey;
use crate::live::{Change, Forget, Kept, Live};
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// At most this many clubs' versions are kept; when full the copy starts again empty.
const CLUBS_KEPT: usize = 4096;

/// Clubs' content versions (see the module's documentation).
pub struct ClubVersions {
    kept: Arc<Kept<TenantKey, u64>>,
    /// The next version handed out; versions are unique within this process.
    next: AtomicU64,
}

impl ClubVersions {
    /// Versions forgotten on each `club:<schema>` notification (and all of them when the
    /// listener is away or comes back).
    pub fn new(live: &Live) -> ClubVersions {
        ClubVersions {
            kept: live.keep(CLUBS_KEPT, |change| match change {
                Change::Club(schema) => {
                    crate::db::schema::key_of_schema(schema).map_or(Forget::Everything, Forget::One)
                }
                _ => Forget::Nothing,
            }),
            next: AtomicU64::new(1),
        }
    }

    /// The club's current version, or `None` when this process cannot vouch for one (its
    /// listener is away, or a change was heard while a new version was being handed out):
    /// then the page is rendered from the database and not kept.
    ///
    /// A new version is kept before the page reads the database. That is safe: a change
    /// committed after this call notifies after it and forgets the version, and one committed
    /// before it is seen by the read.
    pub fn current(&self, club: TenantKey) -> Option<u64> {
        if let Some(version) = self.kept.get(&club) {
            return Some(version);
        }
        let ticket = self.kept.ticket();
        let version = self.next.fetch_add(1, Ordering::Relaxed);
        self.kept.put(ticket, club, version).then_some(version)
    }

    /// This process changed (or may have changed) something of the club.
    pub fn forget(&self, club: &TenantKey) {
        self.kept.forget(club);
    }
}

/// Rendered contents (`V`, HTML by default) by key `K` (which must name the club's version or
/// stamp), bounded by bytes of HTML.
pub struct Rendered<K, V = Arc<str>>(quick_cache::sync::Cache<K, V, ByLength>);

/// A rendered content's size in bytes, what [`Rendered`] is bounded by.
pub trait Weight {
    fn bytes(&self) -> u64;
}

impl Weight for Arc<str> {
    fn bytes(&self) -> u64 {
        self.len() as u64
    }
}

impl<K: Eq + Hash + Clone, V: Weight + Clone> Rendered<K, V> {
    /// A cache of at most `bytes` of HTML, sized for about `entries` contents.
    pub fn new(entries: usize, bytes: u64) -> Rendered<K, V> {
        Rendered(quick_cache::sync::Cache::with_weighter(
            entries, bytes, ByLength,
        ))
    }

    /// The kept content of `key`, or `render`'s, kept when `keep` (a content with form errors
    /// or of an unvouched version is rendered and not kept). Requests that miss the same key
    /// together wait for one rendering (a club's change followed by 200 open pages fetching
    /// themselves renders the page once); if that rendering fails, the next waiter renders.
    pub async fn get_or_render<E, F>(&self, key: K, keep: bool, render: F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        if keep {
            self.0.get_or_insert_async(&key, render).await
        } else {
            render.await
        }
    }

    /// How many contents are kept (for tests).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An entry weighs its [`Weight`] (and at least 1).
#[derive(Clone)]
pub struct ByLength;

impl<K, V: Weight> quick_cache::Weighter<K, V> for ByLength {
    fn weight(&self, _key: &K, body: &V) -> u64 {
        body.bytes().max(1)
    }
}
