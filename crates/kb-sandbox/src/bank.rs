//! The simulated bank's core: what may happen to its accounts, whoever asks. ADAA, the Event API
//! subscriptions, the control API and the "page shifts" fault call these functions and never
//! each other, so the handler modules form no import loop.
//!
//! - Who may see an account: [`granted`], [`with_account`], [`authorise_account`] (the accounts
//!   the KB user chose for the token's client at application registration).
//! - The ledger: [`new_payment`] (a generated payment, not yet booked), [`book`],
//!   [`book_pending`], [`withdraw`]. Every change moves the account's `version` on (so a new
//!   download is no longer "unchanged data") and counts one event for the account's
//!   subscriptions ([`record_events`]), which wakes the notifier.
//!
//! Nothing here knows HTTP; `gateway` turns a refused account into KB's error body.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::calendar::prague_date;
use super::context::Ctx;
use super::generator::payment;
use super::ledger;
use super::state::{AccountRecord, SubscriptionStatus, TokenRecord};

/// Accounts the token's client may see (chosen at application registration).
pub fn granted(ctx: &Ctx, token: &TokenRecord) -> Vec<String> {
    ctx.store
        .read()
        .client(&token.client_id)
        .map(|c| c.account_ids.clone())
        .unwrap_or_default()
}

/// Runs `f` on the account, under the store's lock (a ledger is never copied), if the token
/// grants it and it exists; `None` otherwise.
pub fn with_account<T>(
    ctx: &Ctx,
    token: &TokenRecord,
    account_id: &str,
    f: impl FnOnce(&AccountRecord) -> T,
) -> Option<T> {
    if granted(ctx, token).iter().any(|a| a == account_id)
        && let Some(account) = ctx.store.read().account(account_id)
    {
        return Some(f(account));
    }
    None
}

/// [`with_account`] as a check only: may the token's client see this account?
pub fn authorise_account(ctx: &Ctx, token: &TokenRecord, account_id: &str) -> bool {
    with_account(ctx, token, account_id, |_| ()).is_some()
}

/// A new incoming (or, negative, outgoing) payment for `account_id`, rendered by the generator
/// with an `accountServicer` the ledger does not hold yet (checked under the store's lock, the
/// ledger is not copied). Not booked yet: see [`book`]. `None` for an unknown account.
pub fn new_payment(
    ctx: &Ctx,
    account_id: &str,
    seed: u64,
    amount_minor: i64,
    texts: (Option<&str>, Option<&str>, Option<&str>),
    at: OffsetDateTime,
) -> Option<Value> {
    let st = ctx.store.read();
    let a = st.account(account_id)?;
    let is_used = |id: &str| {
        a.transactions
            .iter()
            .any(|t| t.servicer.as_deref() == Some(id))
    };
    Some(payment(
        seed,
        (&a.iban, &a.currency),
        &is_used,
        amount_minor,
        texts,
        at,
    ))
}

/// Books `tx` into the ledger (ordered by `lastUpdated`) and counts the payment (the control
/// API's payments draw their seed from that count). False for an unknown account.
pub fn book(ctx: &Ctx, account_id: &str, tx: Value) -> bool {
    ctx.store.update(|s| s.payment_counter += 1);
    let now = ctx.now();
    change_ledger(ctx, account_id, |a| {
        insert(ctx, a, tx, now);
        Some(())
    })
    .is_some()
}

/// Books the pending row with `references.accountServicer` = `servicer`, as KB does when a hold
/// settles: a new copy with status `BOOK`, today's Prague `bookingDate`, `lastUpdated` now and
/// no card details. The booked row, or `None` when the account has no such unbooked row.
pub fn book_pending(ctx: &Ctx, account_id: &str, servicer: &str) -> Option<Value> {
    let now = ctx.now();
    let today = prague_date(now).to_string();
    change_ledger(ctx, account_id, |a| {
        let mut tx = unbooked(ctx, a, servicer, now)?;
        tx["status"] = json!("BOOK");
        tx["bookingDate"] = json!(today);
        tx["lastUpdated"] = json!(now.format(&Rfc3339).unwrap_or_default());
        if let Some(o) = tx.as_object_mut() {
            o.remove("cardTransactionDetails");
        }
        insert(ctx, a, tx.clone(), now);
        Some(tx)
    })
}

/// Ends the unbooked row with `references.accountServicer` = `servicer`: with a final `status`
/// (`CNCL`, `RJCT`, …) KB lists a new copy with that status; without one it simply stops
/// listing it (a cancelled future-dated order, a released hold). False when the account has no
/// such unbooked row.
pub fn withdraw(ctx: &Ctx, account_id: &str, servicer: &str, status: Option<&str>) -> bool {
    let now = ctx.now();
    change_ledger(ctx, account_id, |a| {
        let mut tx = unbooked(ctx, a, servicer, now)?;
        match status {
            Some(status) => {
                tx["status"] = json!(status);
                tx["lastUpdated"] = json!(now.format(&Rfc3339).unwrap_or_default());
                insert(ctx, a, tx, now);
            }
            None => a
                .transactions
                .retain(|t| ledger::servicer(t) != Some(servicer)),
        }
        Some(())
    })
    .is_some()
}

/// Counts `n` new events for every live subscription of `account_id` and wakes the notifier.
pub fn record_events(ctx: &Ctx, account_id: &str, n: u32) {
    ctx.store.update(|s| {
        for sub in s
            .subscriptions
            .iter_mut()
            .filter(|x| x.account_id == account_id && x.status != SubscriptionStatus::Stopped)
        {
            sub.pending_events = sub.pending_events.saturating_add(n);
        }
    });
    ctx.notify.notify_one();
}

/// Changes `account_id`'s ledger with `change` under the store's lock; when it returns `Some`,
/// the ledger's version moves on and one event is counted.
fn change_ledger<T>(
    ctx: &Ctx,
    account_id: &str,
    change: impl FnOnce(&mut AccountRecord) -> Option<T>,
) -> Option<T> {
    let changed = ctx.store.update(|s| {
        let a = s.account_mut(account_id)?;
        let out = change(a)?;
        a.version += 1;
        Some(out)
    });
    if changed.is_some() {
        record_events(ctx, account_id, 1);
    }
    changed
}

/// Inserts `tx` into `a`'s ledger inside [`change_ledger`] (which moves the version on by one
/// afterwards), keeping the cached API view current instead of recomputing it.
fn insert(ctx: &Ctx, a: &mut AccountRecord, tx: Value, now: OffsetDateTime) {
    let pos = ledger::insert(&mut a.transactions, tx);
    ctx.view_inserted(a, a.version + 1, pos, now);
}

/// The row with `accountServicer` = `servicer` as the API lists it at `now`, if not booked.
fn unbooked(ctx: &Ctx, a: &AccountRecord, servicer: &str, now: OffsetDateTime) -> Option<Value> {
    ctx.view_order(a, now)
        .iter()
        .map(|i| &a.transactions[*i])
        .find(|t| t.servicer.as_deref() == Some(servicer) && !t.booked)
        .map(|t| (***t).clone())
}
