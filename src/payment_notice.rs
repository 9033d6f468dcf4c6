//! "Payment received" e-mails to teammates (issue 9, item 4) and the sync hook that queues
//! them, with the reminders' thank-you, right after matching.
//!
//! Owns `app.payment_notice_subscriptions` (a teammate's choice per club: each payment, a daily
//! digest, or none, the default) and the tenant tables `received_payments` and
//! `payment_digests`. The sync never waits for mail: [`AfterSync`] runs matching
//! (`payment::AfterSync`) and then, in the same tenant transaction, only inserts rows: the
//! payments that run matched (once each, `received_payments`), an outbox row per payment for
//! teammates who want each one, and the thank-you mails (`reminder::thank`). With nobody
//! subscribed and no thank-you wanted it reads two tiny tables and nothing else. The daily
//! digest is assembled by the hourly task ([`queue_digests`]): one per teammate and Prague
//! day, once (`payment_digests`), for the day before.
//!
//! A person's actions on payments ([`act`], [`assign`], [`mark_irrelevant`], which wrap
//! `payment`'s and are what the payments page calls) announce a payment whose payer they
//! changed the same way, with the e-mails held in the outbox for [`HOLD`] (the undo window),
//! and withdraw the unsent notices and thank-yous of a payment no longer matched to the payer
//! they were about. Every e-mail has an outbox key per payment, payer and recipient: at most
//! once each, whoever matched the payment.

use std::collections::BTreeMap;

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::auth::{Email, UserId};
use crate::db::tenant::{Tenant, TenantTx};
use crate::i18n::{self, Lang};
use crate::mail::{self, Links};
use crate::payment::views::{self as payment_views, Received};
use crate::reminder::Payer;

/// What a teammate wants to hear about matched payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    None,
    /// An e-mail per matched payment.
    Each,
    /// One e-mail a day listing the payments matched the day before.
    Daily,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::None, Mode::Each, Mode::Daily];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Each => "each",
            Mode::Daily => "daily",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == text.trim())
    }
}

/// The teammate's choice in this club.
pub async fn mode(pool: &sqlx::PgPool, tenant: &Tenant, user: UserId) -> Result<Mode, sqlx::Error> {
    let mode: Option<String> = sqlx::query_scalar(
        "SELECT mode FROM app.payment_notice_subscriptions WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant.id())
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(mode.as_deref().and_then(Mode::parse).unwrap_or_default())
}

/// Sets the teammate's choice in this club (the caller checked they are a teammate).
pub async fn set_mode(
    pool: &sqlx::PgPool,
    tenant: &Tenant,
    user: UserId,
    mode: Mode,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    match mode {
        Mode::None => {
            sqlx::query(
                "DELETE FROM app.payment_notice_subscriptions WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant.id())
            .bind(user)
            .execute(pool)
            .await?;
        }
        Mode::Each | Mode::Daily => {
            sqlx::query(
                "INSERT INTO app.payment_notice_subscriptions (tenant_id, user_id, mode, since) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, user_id) DO UPDATE SET mode = EXCLUDED.mode, \
                        since = EXCLUDED.since",
            )
            .bind(tenant.id())
            .bind(user)
            .bind(mode.as_str())
            .bind(now)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// A subscribed teammate (still a teammate of the club).
#[derive(Debug, sqlx::FromRow)]
struct Subscriber {
    user_id: Uuid,
    mode: String,
    email: String,
    locale: String,
}

impl Subscriber {
    fn lang(&self) -> Lang {
        Lang::from_code(&self.locale).unwrap_or_default()
    }
}

async fn subscribers(
    conn: &mut sqlx::PgConnection,
    tenant: Uuid,
) -> Result<Vec<Subscriber>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.user_id, s.mode, u.email, u.locale FROM app.payment_notice_subscriptions s \
           JOIN app.users u ON u.id = s.user_id \
           JOIN app.memberships m ON m.tenant_id = s.tenant_id AND m.user_id = s.user_id \
          WHERE s.tenant_id = $1 ORDER BY u.email",
    )
    .bind(tenant)
    .fetch_all(conn)
    .await
}

async fn club_name(tx: &mut TenantTx) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM app.tenants WHERE id = $1")
        .bind(tx.tenant_id())
        .fetch_one(&mut **tx)
        .await
}

/// One payment as a line of a notice: "Jan Novák zaplatil(a) 1 500,00 Kč za Příspěvek 2026
/// (24. 11. 2026)".
fn line(lang: Lang, payment: &Received) -> String {
    let paid_for: Vec<String> = payment
        .paid_for
        .iter()
        .map(|(schedule, start, end)| crate::reminder::charge_label(lang, schedule, (*start, *end)))
        .collect();
    let paid_for = (!paid_for.is_empty()).then(|| paid_for.join(", "));
    mail::templates::payment_line(
        lang,
        &payment.name,
        &i18n::format_money(payment.amount_minor, "CZK", lang),
        paid_for.as_deref(),
        &payment
            .date
            .map(|d| i18n::format_day(d, lang))
            .unwrap_or_default(),
    )
}

/// The club's payments page, where a notice links.
fn payments_link(links: &Links, tx: &TenantTx) -> String {
    links.page(&format!("/t/{}/payments", tx.key()))
}

/// How long a notice or thank-you a person's action on a payment caused waits in the outbox:
/// the action's undo window. An undo (or a reassignment) within it withdraws the mail.
pub const HOLD: time::Duration = time::Duration::minutes(5);

/// The outbox key of a notice of `payment` (from its start: every notice of the payment; with
/// the payer: those about that payer; with the teammate too: one e-mail), so a notice is
/// queued at most once per payment, payer and teammate.
fn notice_key(tenant: Uuid, payment: i64, payer: Option<Payer>, user: Option<Uuid>) -> String {
    let mut key = format!("payment-received:{tenant}:{payment}:");
    if let Some(payer) = payer {
        key.push_str(&payer.key());
        key.push(':');
        if let Some(user) = user {
            key.push_str(&user.to_string());
        }
    }
    key
}

/// Who wants to hear of matched payments: the subscribed teammates, and whether payers who
/// were reminded get a thank-you. `None`: nobody.
struct Wants {
    subscribed: Vec<Subscriber>,
}

impl Wants {
    async fn load(tx: &mut TenantTx) -> Result<Option<Wants>, sqlx::Error> {
        let tenant = tx.tenant_id();
        let subscribed = subscribers(tx, tenant).await?;
        let thank_you = crate::reminder::settings(tx).await?.thank_you;
        Ok((!subscribed.is_empty() || thank_you).then_some(Wants { subscribed }))
    }
}

/// After matching in a sync's transaction (at `now`, the run's instant): records the payments
/// it matched for subscribed teammates, queues a notice per payment for those who want each
/// one, and the reminders' thank-you mails. Only inserts; returns how many e-mails it queued.
pub async fn after_matching(
    tx: &mut TenantTx,
    links: &Links,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let Some(wants) = Wants::load(tx).await? else {
        return Ok(0);
    };
    let matched = payment_views::matched_at(tx, now).await?;
    let received = payment_views::received(tx, &matched).await?;
    announce(tx, links, &wants, &received, now, now).await
}

/// Queues what `received` (payments just matched, as they are now) calls for, not sent before
/// `send_after`: the thank-yous, the payments recorded once per payer (`received_payments`,
/// what the digests list) and a notice per newly recorded payment for teammates who want
/// each one. A payment recorded for another payer must have been forgotten first
/// ([`forget_changed`]). Returns how many e-mails were queued.
async fn announce(
    tx: &mut TenantTx,
    links: &Links,
    wants: &Wants,
    received: &[Received],
    now: OffsetDateTime,
    send_after: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    if received.is_empty() {
        return Ok(0);
    }
    let mut queued = crate::reminder::thank(tx, received, now, send_after).await?;
    if wants.subscribed.is_empty() {
        return Ok(queued);
    }
    let new: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO received_payments (transaction_id, payer, matched_at, matched_day) \
         SELECT u.id, u.payer, $3, $4 FROM UNNEST($1::int8[], $2::text[]) AS u(id, payer) \
         ON CONFLICT DO NOTHING RETURNING transaction_id",
    )
    .bind(received.iter().map(|r| r.payment_id).collect::<Vec<_>>())
    .bind(
        received
            .iter()
            .map(|r| Payer::from(r.target).key())
            .collect::<Vec<_>>(),
    )
    .bind(now)
    .bind(i18n::prague_date(now))
    .fetch_all(&mut **tx)
    .await?;
    let each: Vec<&Subscriber> = wants
        .subscribed
        .iter()
        .filter(|s| Mode::parse(&s.mode) == Some(Mode::Each))
        .collect();
    if new.is_empty() || each.is_empty() {
        return Ok(queued);
    }
    let club = club_name(tx).await?;
    let link = payments_link(links, tx);
    let tenant = tx.tenant_id();
    for payment in received.iter().filter(|r| new.contains(&r.payment_id)) {
        let payer = Payer::from(payment.target);
        for subscriber in &each {
            let lang = subscriber.lang();
            let message =
                mail::templates::payment_received(lang, &club, &line(lang, payment), &link);
            let key = notice_key(
                tenant,
                payment.payment_id,
                Some(payer),
                Some(subscriber.user_id),
            );
            let to = Email::from_stored(subscriber.email.clone());
            if mail::outbox::enqueue_held(tx, &message, &to, &key, now, send_after).await? {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// Forgets the notices and thank-yous of those of `payments` that are no longer matched to
/// the payer they were about (`now`: their payer, `None` when unmatched): withdraws their
/// e-mails still in the outbox and their records, so the digest and a later match see them as
/// never announced. E-mails already sent stay sent (docs/decisions.md).
async fn forget_changed(
    tx: &mut TenantTx,
    payments: &[(i64, Option<Payer>)],
) -> Result<(), sqlx::Error> {
    if payments.is_empty() {
        return Ok(());
    }
    let tenant = tx.tenant_id();
    let mut withdraw: Vec<(String, Option<String>)> = Vec::new();
    for (payment, payer) in payments {
        withdraw.push((
            notice_key(tenant, *payment, None, None),
            payer.map(|p| notice_key(tenant, *payment, Some(p), None)),
        ));
        withdraw.push((
            crate::reminder::thanks_key(tenant, *payment, None, None),
            payer.map(|p| crate::reminder::thanks_key(tenant, *payment, Some(p), None)),
        ));
    }
    mail::outbox::withdraw(tx, &withdraw).await?;
    let ids: Vec<i64> = payments.iter().map(|(id, _)| *id).collect();
    let payers: Vec<Option<String>> = payments.iter().map(|(_, p)| p.map(|p| p.key())).collect();
    for table in ["received_payments", "reminder_thanks"] {
        sqlx::query(&format!(
            "DELETE FROM {table} r USING UNNEST($1::int8[], $2::text[]) AS u(id, payer) \
              WHERE r.transaction_id = u.id AND r.payer IS DISTINCT FROM u.payer"
        ))
        .bind(&ids)
        .bind(&payers)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The payer each of `payments` is matched to now (`None`: not matched to anyone).
async fn payers_of(
    tx: &mut TenantTx,
    payments: &[i64],
) -> Result<BTreeMap<i64, Option<Payer>>, sqlx::Error> {
    let rows: Vec<(i64, Option<Uuid>, Option<Uuid>)> = sqlx::query_as(
        "SELECT transaction_id, target_member, target_household FROM payment_decisions \
          WHERE transaction_id = ANY($1) AND outcome IN ('matched', 'partly_paid', 'overpaid')",
    )
    .bind(payments)
    .fetch_all(&mut **tx)
    .await?;
    let mut payers: BTreeMap<i64, Option<Payer>> = payments.iter().map(|p| (*p, None)).collect();
    for (id, member, household) in rows {
        payers.insert(
            id,
            crate::payment::target_of(member, household).map(Payer::from),
        );
    }
    Ok(payers)
}

/// After a person changed `payments` (their payers before the change: `before`), in the
/// action's transaction: a payment now matched to someone else (or no one) loses its unsent
/// notices and thank-yous; one now matched to a new payer is announced as a sync's match
/// would be, held back for [`HOLD`] (the undo window). A payment whose payer did not change
/// (a confirmation) announces nothing. Returns how many e-mails were queued.
async fn after_person(
    tx: &mut TenantTx,
    links: &Links,
    before: &BTreeMap<i64, Option<Payer>>,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let ids: Vec<i64> = before.keys().copied().collect();
    let after = payers_of(tx, &ids).await?;
    let changed: Vec<(i64, Option<Payer>)> = after
        .into_iter()
        .filter(|(id, payer)| before.get(id) != Some(payer))
        .collect();
    forget_changed(tx, &changed).await?;
    let Some(wants) = Wants::load(tx).await? else {
        return Ok(0);
    };
    let matched: Vec<i64> = changed
        .iter()
        .filter(|(_, payer)| payer.is_some())
        .map(|(id, _)| *id)
        .collect();
    let received = payment_views::received(tx, &matched).await?;
    announce(tx, links, &wants, &received, now, now + HOLD).await
}

/// A person's action on a payment from the payments page ([`crate::payment::act`], or
/// [`crate::payment::undo`] for `None`), then its notices brought in line
/// (see [`after_person`]), in `tx`. Errors: those of the action.
pub async fn act(
    tx: &mut TenantTx,
    links: &Links,
    actor: &crate::audit::Actor,
    payment: i64,
    action: Option<crate::payment::Action>,
    today: Date,
    now: OffsetDateTime,
) -> Result<(), crate::payment::Error> {
    let before = payers_of(tx, &[payment]).await?;
    match action {
        Some(action) => crate::payment::act(tx, actor, payment, action, today, now)
            .await
            .map(|_| ())?,
        None => crate::payment::undo(tx, actor, payment, now).await?,
    }
    after_person(tx, links, &before, now).await?;
    Ok(())
}

/// [`crate::payment::assign`] (one click in the queue, or a member typed), then the payment's
/// notices brought in line (see [`after_person`]): the new payer is announced, an unsent
/// notice about an earlier payer is withdrawn. Returns the action's id; errors: those of
/// `payment::assign`.
pub async fn assign(
    tx: &mut TenantTx,
    links: &Links,
    actor: &crate::audit::Actor,
    payment: i64,
    choice: &crate::payment::Choice,
    today: Date,
    now: OffsetDateTime,
) -> Result<i64, crate::payment::Error> {
    let before = payers_of(tx, &[payment]).await?;
    let id = crate::payment::assign(tx, actor, payment, choice, today, now).await?;
    after_person(tx, links, &before, now).await?;
    Ok(id)
}

/// [`crate::payment::bulk::mark_irrelevant`], then the payments' unsent notices withdrawn
/// (see [`after_person`]). Errors: those of the bulk action.
pub async fn mark_irrelevant(
    tx: &mut TenantTx,
    links: &Links,
    actor: &crate::audit::Actor,
    payments: &[i64],
    today: Date,
    now: OffsetDateTime,
) -> Result<crate::payment::bulk::Bulk, crate::payment::Error> {
    let before = payers_of(tx, payments).await?;
    let bulk = crate::payment::bulk::mark_irrelevant(tx, actor, payments, today, now).await?;
    after_person(tx, links, &before, now).await?;
    Ok(bulk)
}

/// The sync hook: matching (`payment::AfterSync`), then [`after_matching`], in the sync's
/// transaction. Wired in `app::sync_worker`.
#[derive(Debug, Clone)]
pub struct AfterSync {
    pub links: Links,
}

impl crate::sync::AfterLedgerApply for AfterSync {
    fn after_apply<'a>(
        &'a self,
        tx: &'a mut TenantTx,
        account_id: Uuid,
        now: OffsetDateTime,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            crate::payment::AfterSync
                .after_apply(tx, account_id, now)
                .await?;
            after_matching(tx, &self.links, now).await.map(|_| ())
        })
    }

    /// Forgets which of the account's payments were announced (`received_payments` has no
    /// foreign key), then matching forgets their allocations and the account's scan position.
    fn before_account_deleted<'a>(
        &'a self,
        tx: &'a mut TenantTx,
        account_id: Uuid,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query(
                "DELETE FROM received_payments r USING transactions t \
                  WHERE t.id = r.transaction_id AND t.account_id = $1",
            )
            .bind(account_id)
            .execute(&mut **tx)
            .await?;
            crate::payment::AfterSync
                .before_account_deleted(tx, account_id)
                .await
        })
    }
}

/// Queues the daily digests of `now`'s previous Prague day: for every club with a teammate who
/// wants one and payments matched that day, one e-mail per such teammate, once
/// (`payment_digests`, in the transaction that queues it: several instances send one).
/// Returns how many were queued.
#[tracing::instrument(name = "payment_digests", skip_all)]
pub async fn queue_digests(
    pool: &sqlx::PgPool,
    links: &Links,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let Some(day) = i18n::prague_date(now).previous_day() else {
        return Ok(0);
    };
    let tenants: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT s.tenant_id FROM app.payment_notice_subscriptions s \
           JOIN app.tenants t ON t.id = s.tenant_id \
          WHERE s.mode = 'daily' AND t.status = 'active' ORDER BY s.tenant_id",
    )
    .fetch_all(pool)
    .await?;
    let mut queued = 0;
    for id in tenants {
        let Some(tenant) = Tenant::load(pool, id).await? else {
            continue;
        };
        let mut tx = TenantTx::begin(pool, &tenant).await?;
        queued += digests_of(&mut tx, links, day, now).await?;
        tx.commit().await?;
    }
    Ok(queued)
}

async fn digests_of(
    tx: &mut TenantTx,
    links: &Links,
    day: Date,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT transaction_id FROM received_payments WHERE matched_day = $1 \
          ORDER BY matched_at, transaction_id",
    )
    .bind(day)
    .fetch_all(&mut **tx)
    .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let mut received: BTreeMap<i64, Received> = payment_views::received(tx, &ids)
        .await?
        .into_iter()
        .map(|r| (r.payment_id, r))
        .collect();
    let received: Vec<Received> = ids.iter().filter_map(|id| received.remove(id)).collect();
    if received.is_empty() {
        return Ok(0);
    }
    let tenant = tx.tenant_id();
    let daily: Vec<Subscriber> = subscribers(tx, tenant)
        .await?
        .into_iter()
        .filter(|s| Mode::parse(&s.mode) == Some(Mode::Daily))
        .collect();
    let club = club_name(tx).await?;
    let link = payments_link(links, tx);
    let total: i64 = received.iter().map(|r| r.amount_minor).sum();
    let mut queued = 0;
    for subscriber in daily {
        let first: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO payment_digests (user_id, day, sent_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING user_id",
        )
        .bind(subscriber.user_id)
        .bind(day)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        if first.is_none() {
            continue;
        }
        let lang = subscriber.lang();
        let lines: Vec<String> = received.iter().map(|r| line(lang, r)).collect();
        let message = mail::templates::payment_digest(
            lang,
            &club,
            &i18n::format_day(day, lang),
            &lines,
            &i18n::format_money(total, "CZK", lang),
            &link,
        );
        mail::outbox::enqueue(
            tx,
            &message,
            &Email::from_stored(subscriber.email),
            None,
            now,
        )
        .await?;
        queued += 1;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_reads_back_and_none_is_the_default() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(Mode::parse("weekly"), None);
        assert_eq!(Mode::default(), Mode::None);
    }
}
