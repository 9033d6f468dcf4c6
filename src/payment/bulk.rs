//! One person's action on several payments at once (the queue's "Není příspěvek" for the
//! selected payments): [`super::act`] per payment inside the caller's one transaction, so each
//! payment gets its own audit entry and undo, and either all of them change or none.

use time::{Date, OffsetDateTime};

use super::{Action, Error, act};
use crate::audit::Actor;
use crate::db::tenant::TenantTx;

/// What a bulk action did: `done` payments changed; `skipped` ones no longer fitted the action
/// (already decided otherwise, e.g. by a second click or a colleague) and were left as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bulk {
    pub done: usize,
    pub skipped: usize,
}

/// Marks every payment in `payments` (transaction ids, duplicates ignored) as not a fee
/// payment. Errors: [`Error::NoChoice`] (nothing selected), [`Error::UnknownPayment`] (an id
/// that is not an incoming booked payment of this club: the caller rolls everything back),
/// [`Error::Db`].
pub async fn mark_irrelevant(
    tx: &mut TenantTx,
    actor: &Actor,
    payments: &[i64],
    today: Date,
    now: OffsetDateTime,
) -> Result<Bulk, Error> {
    let mut ids = payments.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(Error::NoChoice);
    }
    let mut bulk = Bulk::default();
    for id in ids {
        match act(tx, actor, id, Action::MarkIrrelevant, today, now).await {
            Ok(_) => bulk.done += 1,
            Err(Error::NotApplicable) => bulk.skipped += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(bulk)
}
