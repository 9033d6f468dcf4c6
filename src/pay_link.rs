//! A member's own page: the link to it and what it shows (issue 9, item 2).
//!
//! Owns `app.pay_links`. A link is `/pay/<token>`: 256 random bits (base64url), naming neither
//! the club nor the member; only the token's SHA-256 is stored, with the club and the member it
//! opens. A treasurer issues it (a new link replaces the old one) or revokes it; both are in the
//! club's audit log. Opening it needs no login: [`page`] finds the club and member by the
//! token's hash and gathers what the member sees: their charges, the payments received and
//! when, what is still owed after partial payments and credits (`payment::views`), the QR
//! payment for exactly that amount (`spayd`) to the club's CZK account, and how fresh the bank
//! data is. A member of a household with its own VS sees the whole household (the siblings, one
//! QR for the total with the household's VS). An unknown, revoked or malformed token is `None`.

use crate::audit::{self, Actor};
use crate::db::tenant::{Tenant, TenantTx};
use crate::iban::Iban;
use crate::limits;
use crate::member::{self, MemberId};
use crate::payment::matching::Target;
use crate::payment::views::{self, MemberLedger};
use crate::spayd;
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// A link's secret part, as it goes into the URL (43 base64url characters, 256 bits). Kasa
/// never stores it; show it once, right after [`issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    fn random() -> Token {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Token(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a token's text, the stored form.
fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The member is not in this club.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such member")]
    NotFound,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

async fn ensure_member(tx: &mut TenantTx, member: MemberId) -> Result<(), Error> {
    member::get(tx, member)
        .await?
        .map(|_| ())
        .ok_or(Error::NotFound)
}

/// When the member's current link was issued, if there is one.
pub async fn issued_at(
    tx: &mut TenantTx,
    member: MemberId,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT issued_at FROM app.pay_links \
          WHERE tenant_id = $1 AND member_id = $2 AND kind = 'treasurer'",
    )
    .bind(tx.tenant_id())
    .bind(member)
    .fetch_optional(&mut **tx)
    .await
}

/// Issues the member's link; an earlier link of the member stops working. Audited as
/// `member.pay_link_issued`. Errors: [`Error::NotFound`].
pub async fn issue(
    tx: &mut TenantTx,
    actor: &Actor,
    member: MemberId,
    now: OffsetDateTime,
) -> Result<Token, Error> {
    ensure_member(tx, member).await?;
    let token = Token::random();
    let replaced: Option<bool> = sqlx::query_scalar(
        "INSERT INTO app.pay_links (token_hash, tenant_id, member_id, issued_at, issued_by) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, member_id) WHERE kind = 'treasurer' DO UPDATE \
            SET token_hash = EXCLUDED.token_hash, issued_at = EXCLUDED.issued_at, \
                issued_by = EXCLUDED.issued_by \
         RETURNING (xmax <> 0)",
    )
    .bind(hash(token.as_str()))
    .bind(tx.tenant_id())
    .bind(member)
    .bind(now)
    .bind(actor.user_id)
    .fetch_optional(&mut **tx)
    .await?;
    audit::record(
        tx,
        actor,
        "member.pay_link_issued",
        json!({ "member": member, "replaced": replaced.unwrap_or(false) }),
        now,
    )
    .await?;
    Ok(token)
}

/// A link of the member's own for one reminder e-mail (`kind = 'reminder'`): it works beside
/// the treasurer's link and the earlier reminders' links until [`revoke`] ends them all. Not
/// audited one by one (the reminder batch is). Errors: [`Error::NotFound`].
pub async fn issue_for_reminder(
    tx: &mut TenantTx,
    member: MemberId,
    now: OffsetDateTime,
) -> Result<Token, Error> {
    ensure_member(tx, member).await?;
    let token = Token::random();
    sqlx::query(
        "INSERT INTO app.pay_links (token_hash, tenant_id, member_id, issued_at, kind) \
         VALUES ($1, $2, $3, $4, 'reminder')",
    )
    .bind(hash(token.as_str()))
    .bind(tx.tenant_id())
    .bind(member)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

/// Revokes the member's links, the treasurer's and the reminders' (they open nothing any
/// more); `false` when there was none.
/// Audited as `member.pay_link_revoked`. Errors: [`Error::NotFound`].
pub async fn revoke(
    tx: &mut TenantTx,
    actor: &Actor,
    member: MemberId,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    ensure_member(tx, member).await?;
    let revoked = sqlx::query("DELETE FROM app.pay_links WHERE tenant_id = $1 AND member_id = $2")
        .bind(tx.tenant_id())
        .bind(member)
        .execute(&mut **tx)
        .await?
        .rows_affected()
        > 0;
    if revoked {
        audit::record(
            tx,
            actor,
            "member.pay_link_revoked",
            json!({ "member": member }),
            now,
        )
        .await?;
    }
    Ok(revoked)
}

/// What [`send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Queued to this many addresses.
    To(usize),
    /// The link sent back is not the member's current one (reissued or revoked since).
    Stale,
    /// The member has no e-mail address to send the link to.
    NoEmail,
    /// This link was e-mailed already (a second click, a replayed request): nothing queued.
    Earlier,
}

/// E-mails the member's link, just issued and shown to the treasurer (`token`, as in the
/// link), to every address of the member, through the outbox in `tx`, once per link; audited
/// as `member.pay_link_sent` with the number of recipients (see [`Sent`]).
/// Errors: [`Error::NotFound`].
pub async fn send(
    tx: &mut TenantTx,
    actor: &Actor,
    member: MemberId,
    token: &str,
    links: &crate::mail::Links,
    lang: crate::i18n::Lang,
    now: OffsetDateTime,
) -> Result<Sent, Error> {
    let found = member::get(tx, member).await?.ok_or(Error::NotFound)?;
    let current: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT token_hash FROM app.pay_links \
          WHERE tenant_id = $1 AND member_id = $2 AND kind = 'treasurer'",
    )
    .bind(tx.tenant_id())
    .bind(member)
    .fetch_optional(&mut **tx)
    .await?;
    if current.as_deref() != Some(hash(token).as_slice()) {
        return Ok(Sent::Stale);
    }
    let recipients: Vec<crate::auth::Email> = found
        .emails
        .iter()
        .filter_map(|e| crate::auth::Email::parse(e))
        .collect();
    if recipients.is_empty() {
        return Ok(Sent::NoEmail);
    }
    // Once per link, whoever sends at the same moment: the row is marked in this transaction.
    let first = sqlx::query(
        "UPDATE app.pay_links SET sent_at = $2 WHERE token_hash = $1 AND sent_at IS NULL",
    )
    .bind(hash(token))
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !first {
        return Ok(Sent::Earlier);
    }
    let club: String = sqlx::query_scalar("SELECT name FROM app.tenants WHERE id = $1")
        .bind(tx.tenant_id())
        .fetch_one(&mut **tx)
        .await?;
    let message =
        crate::mail::templates::pay_link(lang, &club, &found.name, &links.pay_page(token));
    for to in &recipients {
        crate::mail::outbox::enqueue(tx, &message, to, None, now).await?;
    }
    audit::record(
        tx,
        actor,
        "member.pay_link_sent",
        json!({ "member": member, "recipients": recipients.len() }),
        now,
    )
    .await?;
    Ok(Sent::To(recipients.len()))
}

/// The club (active only) and member a token opens, with the club's name.
async fn resolve(
    pool: &PgPool,
    token: &str,
) -> Result<Option<(Tenant, String, MemberId)>, sqlx::Error> {
    if token.len() != 43 {
        return Ok(None);
    }
    let row: Option<(Uuid, String, MemberId)> = sqlx::query_as(
        "SELECT l.tenant_id, t.name, l.member_id FROM app.pay_links l \
           JOIN app.tenants t ON t.id = l.tenant_id \
          WHERE l.token_hash = $1 AND t.status = 'active'",
    )
    .bind(hash(token))
    .fetch_optional(pool)
    .await?;
    let Some((tenant, club, member)) = row else {
        return Ok(None);
    };
    Ok(Tenant::load(pool, tenant)
        .await?
        .map(|tenant| (tenant, club, member)))
}

/// One person on the page.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    /// As the club wrote it.
    pub variable_symbol: String,
    pub ledger: MemberLedger,
    /// Still owed after the person's own credit: `max(0, owed − credit)`.
    pub to_pay_minor: i64,
}

/// The QR payment of the page.
#[derive(Debug, Clone)]
pub struct QrPayment {
    /// The SPAYD string the code carries.
    pub spayd: String,
    /// The code as an `<svg>` element (`spayd::svg`).
    pub svg: String,
}

/// What a member's own page shows.
#[derive(Debug, Clone)]
pub struct MemberPage {
    pub club_name: String,
    /// The member, or every member of the household (the member first, archived siblings left
    /// out).
    pub people: Vec<Person>,
    /// The household's name when the page covers a household.
    pub household: Option<String>,
    /// The household's own credit (payments to the household not yet laid onto charges).
    pub household_credit_minor: i64,
    /// What to pay now, minor units of CZK: Σ of the people's `to_pay_minor` − the household's
    /// credit, never negative.
    pub to_pay_minor: i64,
    /// The VS to pay with (the household's for a household).
    pub variable_symbol: String,
    /// The club's receiving account (its first CZK account connected through KB).
    pub account: Option<Iban>,
    /// The QR payment for exactly `to_pay_minor`; `None` when nothing is owed or the club has
    /// no account.
    pub payment: Option<QrPayment>,
    /// Payments booked up to this instant are counted (the account's last successful sync).
    pub fresh_as_of: Option<OffsetDateTime>,
}

/// What opening a link gives.
#[derive(Debug, Clone)]
pub enum Opened {
    Page(Box<MemberPage>),
    /// Malformed, unknown or revoked, or the club is not active: nothing to reveal.
    NotFound,
    /// Too many pages opened from this client address recently (`limits`).
    Limited,
}

/// Opens a link from `client` (the client's address; every opening counts, found or not,
/// against [`limits::Action::PayPageFromClient`]) at `now`.
pub async fn open(
    pool: &PgPool,
    client: Option<&str>,
    token: &str,
    now: OffsetDateTime,
) -> Result<Opened, sqlx::Error> {
    if let Some(client) = client {
        let mut tx = pool.begin().await?;
        let allowed = limits::reserve(&mut tx, limits::Action::PayPageFromClient, client, now)
            .await?
            .is_ok();
        tx.commit().await?;
        if !allowed {
            return Ok(Opened::Limited);
        }
    }
    Ok(match page(pool, token, now).await? {
        Some(page) => Opened::Page(Box::new(page)),
        None => Opened::NotFound,
    })
}

/// The page a token opens at `now`, or `None` for a malformed, unknown or revoked token (or a
/// club that is not active).
#[tracing::instrument(name = "pay_page", skip_all)]
pub async fn page(
    pool: &PgPool,
    token: &str,
    now: OffsetDateTime,
) -> Result<Option<MemberPage>, sqlx::Error> {
    let Some((tenant, club_name, member_id)) = resolve(pool, token).await? else {
        return Ok(None);
    };
    let today = crate::i18n::prague_date(now);
    let mut tx = TenantTx::begin(pool, &tenant).await?;
    let Some(detail) = member::detail(&mut tx, member_id).await? else {
        return Ok(None);
    };
    let household = detail
        .household
        .filter(|h| h.variable_symbol.is_some() && !detail.household_members.is_empty());
    let mut members = vec![detail.member];
    if household.is_some() {
        for (id, _) in &detail.household_members {
            if let Some(sibling) = member::get(&mut tx, *id).await?
                && !sibling.archived()
            {
                members.push(sibling);
            }
        }
    }
    let mut people = Vec::new();
    for m in members {
        let ledger = views::member_ledger(&mut tx, m.id.0, today).await?;
        people.push(Person {
            name: m.name,
            variable_symbol: m.variable_symbol,
            to_pay_minor: (ledger.owed_minor - ledger.credit_minor).max(0),
            ledger,
        });
    }
    let household_credit_minor = match &household {
        Some(h) => views::credit(&mut tx, Target::Household(h.id.0)).await?,
        None => 0,
    };
    let accounts = crate::sync::views::accounts(&mut tx).await?;
    tx.commit().await?;
    let receiving = accounts.into_iter().find(|a| a.currency == "CZK");
    let account = receiving.as_ref().and_then(|a| Iban::parse(&a.iban).ok());
    let fresh_as_of = receiving.and_then(|a| a.fresh_as_of);
    let to_pay_minor =
        (people.iter().map(|p| p.to_pay_minor).sum::<i64>() - household_credit_minor).max(0);
    let (variable_symbol, message) = match &household {
        Some(h) => (
            h.variable_symbol.clone().unwrap_or_default(),
            h.name.clone(),
        ),
        None => (people[0].variable_symbol.clone(), people[0].name.clone()),
    };
    let payment = account.as_ref().and_then(|account| {
        let spayd = spayd::Request {
            account,
            amount_minor: to_pay_minor,
            variable_symbol: Some(&variable_symbol),
            message: &message,
        }
        .to_spayd()
        .ok()?;
        let svg = spayd::svg(&spayd).ok()?;
        Some(QrPayment { spayd, svg })
    });
    Ok(Some(MemberPage {
        club_name,
        people,
        household: household.map(|h| h.name),
        household_credit_minor,
        to_pay_minor,
        variable_symbol,
        account,
        payment,
        fresh_as_of,
    }))
}
