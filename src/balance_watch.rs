//! Balance watch: a threshold per bank account, set by an owner or treasurer. When the watched
//! balance (KB's available balance or the accounting one, the club's choice per account) drops
//! below it, owners and treasurers get one e-mail for that crossing; the watch re-arms when the
//! balance is back at or above the threshold.
//!
//! Owns the tenant table `balance_watches` (migrations/tenant/0015_balance_watch.sql). It is
//! evaluated after every sync inside the sync's tenant transaction ([`AfterSync`], a
//! `sync::AfterLedgerApply` hook wired in `app`): the crossing state in the watch's row and the
//! queued mail commit together (the row is locked, the mail's `dedup_key` names the crossing), so
//! several instances never announce one crossing twice.

use crate::audit::{self, Actor};
use crate::auth::Email;
use crate::db::tenant::{Tenant, TenantTx};
use crate::i18n::{self, Lang};
use crate::mail::{self, Links};
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// Which balance a watch compares (`balance_watches.balance`, a checked column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Watched {
    /// KB's available balance (`CLOSING_AVAILABLE`: with card holds and overdraft limits).
    Available,
    /// The accounting balance (the latest booked balance KB reports).
    Booked,
}

impl Watched {
    /// The form's value.
    pub fn code(self) -> &'static str {
        match self {
            Watched::Available => "available",
            Watched::Booked => "booked",
        }
    }

    /// Translation key of the balance's name.
    pub fn label_key(self) -> &'static str {
        match self {
            Watched::Available => "bank.available",
            Watched::Booked => "bank.booked",
        }
    }

    fn parse(text: &str) -> Option<Watched> {
        match text {
            "available" => Some(Watched::Available),
            "booked" => Some(Watched::Booked),
            _ => None,
        }
    }
}

/// An account's watch as pages show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Watch {
    pub account_id: Uuid,
    /// Minor units of the account's currency.
    pub threshold_minor: i64,
    pub balance: Watched,
    /// The balance is below the threshold (this crossing was announced).
    pub below: bool,
    /// When the balance last went below the threshold, and what it was then (minor units).
    pub crossed_at: Option<OffsetDateTime>,
    pub crossed_minor: Option<i64>,
}

/// Why a watch could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The club has no such account (another club's id, or deleted).
    #[error("no such account")]
    NotFound,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The watch form as typed: the threshold in Czech notation (`5 000`, `1 200,50`, `-300`) and
/// which balance (`available` or `booked`).
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub threshold: String,
    pub balance: String,
}

/// A problem with one field of the form: (field, translation key).
pub type FieldProblem = (&'static str, &'static str);

/// What saving a draft did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Saved(Watch),
    /// Nothing written; the problems by field.
    Refused(Vec<FieldProblem>),
}

impl Draft {
    /// The draft read: threshold in minor units and the balance, or the problems by field.
    pub fn check(&self) -> Result<(i64, Watched), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let threshold = match crate::member::fields::amount_minor(&self.threshold) {
            Ok(Some(minor)) if minor.abs() <= 100_000_000_000 => Some(minor),
            Ok(Some(_)) => {
                problems.push(("threshold", "watch.error.too_large"));
                None
            }
            Ok(None) => {
                problems.push(("threshold", "watch.error.required"));
                None
            }
            Err(_) => {
                problems.push(("threshold", "watch.error.amount"));
                None
            }
        };
        let balance = Watched::parse(&self.balance);
        if balance.is_none() {
            problems.push(("balance", "watch.error.balance"));
        }
        match (threshold, balance) {
            (Some(t), Some(b)) if problems.is_empty() => Ok((t, b)),
            _ => Err(problems),
        }
    }
}

const COLUMNS: &str = "account_id, threshold_minor, balance, below, crossed_at, crossed_minor";

/// Every watch of the club.
pub async fn of_club(tx: &mut TenantTx) -> Result<Vec<Watch>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM balance_watches"))
        .fetch_all(&mut **tx)
        .await
}

/// The account's watch, if it has one.
pub async fn of_account(tx: &mut TenantTx, account: Uuid) -> Result<Option<Watch>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM balance_watches WHERE account_id = $1"
    ))
    .bind(account)
    .fetch_optional(&mut **tx)
    .await
}

/// Whether the club has the account (ids of other clubs' accounts are simply not there).
async fn exists(tx: &mut TenantTx, account: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM bank_accounts WHERE id = $1")
        .bind(account)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

/// Sets (or changes) the account's watch from the form, audited, in one transaction of the
/// club; a refused draft writes nothing. A changed threshold or balance is evaluated afresh at
/// the next sync: the watch starts armed (not below), so a balance already below the new
/// threshold is announced once.
///
/// Errors: [`Error::NotFound`] when the club has no such account.
pub async fn save(
    pool: &PgPool,
    tenant: &Tenant,
    actor: &Actor,
    account: Uuid,
    draft: &Draft,
    now: OffsetDateTime,
) -> Result<Saved, Error> {
    let mut owned = TenantTx::begin(pool, tenant).await?;
    if !exists(&mut owned, account).await? {
        return Err(Error::NotFound);
    }
    let (threshold, balance) = match draft.check() {
        Ok(valid) => valid,
        Err(problems) => return Ok(Saved::Refused(problems)),
    };
    let tx = &mut owned;
    let watch: Watch = sqlx::query_as(&format!(
        "INSERT INTO balance_watches (account_id, threshold_minor, balance, set_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (account_id) DO UPDATE SET threshold_minor = excluded.threshold_minor, \
            balance = excluded.balance, set_by = excluded.set_by, updated_at = excluded.updated_at, \
            below = CASE WHEN balance_watches.threshold_minor = excluded.threshold_minor \
                          AND balance_watches.balance = excluded.balance \
                         THEN balance_watches.below ELSE false END \
         RETURNING {COLUMNS}"
    ))
    .bind(account)
    .bind(threshold)
    .bind(balance)
    .bind(actor.user_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        tx,
        actor,
        "bank.watch_set",
        json!({ "account": account, "amount_minor": threshold, "balance": balance.code() }),
        now,
    )
    .await?;
    owned.commit().await?;
    Ok(Saved::Saved(watch))
}

/// Removes the account's watch (audited), in one transaction of the club. Returns whether there
/// was one.
///
/// Errors: [`Error::NotFound`] when the club has no such account.
pub async fn remove(
    pool: &PgPool,
    tenant: &Tenant,
    actor: &Actor,
    account: Uuid,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let mut owned = TenantTx::begin(pool, tenant).await?;
    if !exists(&mut owned, account).await? {
        return Err(Error::NotFound);
    }
    let tx = &mut owned;
    let gone = sqlx::query("DELETE FROM balance_watches WHERE account_id = $1")
        .bind(account)
        .execute(&mut **tx)
        .await?
        .rows_affected()
        == 1;
    if gone {
        audit::record(
            tx,
            actor,
            "bank.watch_removed",
            json!({ "account": account }),
            now,
        )
        .await?;
    }
    owned.commit().await?;
    Ok(gone)
}

/// What one evaluation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// No watch, or no balance of the watched kind yet.
    Nothing,
    /// At or above the threshold (re-armed if it was below).
    Above,
    /// Still below: announced before, nothing sent.
    StillBelow,
    /// Went below now: the mail was queued for owners and treasurers.
    Crossed,
}

/// A watch with the latest balance of its kind and the account it watches.
#[derive(sqlx::FromRow)]
struct Evaluated {
    threshold_minor: i64,
    watched: Watched,
    below: bool,
    crossings: i32,
    /// Minor units; `None` before KB reported a balance of this kind.
    balance: Option<i64>,
    currency: String,
    iban: String,
    name: Option<String>,
}

/// Compares the account's latest watched balance with its threshold, under a lock on the
/// watch's row; on a crossing queues one mail per owner and treasurer (their own language) in
/// `tx`, with a `dedup_key` naming the account and the crossing's number.
pub async fn evaluate(
    tx: &mut TenantTx,
    links: &Links,
    account: Uuid,
    now: OffsetDateTime,
) -> Result<Evaluation, sqlx::Error> {
    let row: Option<Evaluated> = sqlx::query_as(
        "SELECT w.threshold_minor, w.balance AS watched, w.below, w.crossings, \
                (SELECT b.amount_minor FROM balances b WHERE b.account_id = w.account_id \
                    AND (b.balance_type = 'CLOSING_AVAILABLE') = (w.balance = 'available') \
                  ORDER BY b.valid_at DESC, b.fetched_at DESC LIMIT 1) AS balance, \
                a.currency, a.iban, a.name \
               FROM balance_watches w JOIN bank_accounts a ON a.id = w.account_id \
              WHERE w.account_id = $1 FOR UPDATE OF w",
    )
    .bind(account)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(Evaluated {
        threshold_minor: threshold,
        watched,
        below,
        crossings,
        balance: Some(balance),
        currency,
        iban,
        name,
    }) = row
    else {
        return Ok(Evaluation::Nothing);
    };
    if balance >= threshold {
        if below {
            sqlx::query("UPDATE balance_watches SET below = false WHERE account_id = $1")
                .bind(account)
                .execute(&mut **tx)
                .await?;
        }
        return Ok(Evaluation::Above);
    }
    if below {
        return Ok(Evaluation::StillBelow);
    }
    let crossing = crossings + 1;
    sqlx::query(
        "UPDATE balance_watches SET below = true, crossings = $2, crossed_at = $3, \
            crossed_minor = $4 WHERE account_id = $1",
    )
    .bind(account)
    .bind(crossing)
    .bind(now)
    .bind(balance)
    .execute(&mut **tx)
    .await?;
    let (club, recipients) = recipients(tx).await?;
    let club = mail::templates::inert(&club);
    let account_name = name.unwrap_or_else(|| iban.clone());
    let account_name = mail::templates::inert(&account_name);
    let link = format!("{}t/{}/accounts/{account}", links.home(), tx.key());
    for (email, locale) in recipients {
        let lang = Lang::from_code(&locale).unwrap_or_default();
        let balance_text = i18n::format_money(balance, &currency, lang);
        let threshold_text = i18n::format_money(threshold, &currency, lang);
        let kind = lang.t(watched.label_key()).into_owned();
        let args = [
            ("club", club.as_str()),
            ("account", account_name.as_str()),
            ("balance", balance_text.as_str()),
            ("threshold", threshold_text.as_str()),
            ("kind", kind.as_str()),
            ("link", link.as_str()),
        ];
        let message = mail::Message {
            subject: lang.t_with("mail.balance_low.subject", &args),
            body: lang.t_with("mail.balance_low.body", &args),
        };
        let dedup = format!("balance-watch:{account}:{crossing}:{email}");
        mail::outbox::enqueue(tx, &message, &Email::from_stored(email), Some(&dedup), now).await?;
    }
    Ok(Evaluation::Crossed)
}

/// The club's name and its owners' and treasurers' addresses with their languages.
async fn recipients(tx: &mut TenantTx) -> Result<(String, Vec<(String, String)>), sqlx::Error> {
    let tenant = tx.tenant_id();
    let (club,): (String,) = sqlx::query_as("SELECT name FROM app.tenants WHERE id = $1")
        .bind(tenant)
        .fetch_one(&mut **tx)
        .await?;
    let people = sqlx::query_as(
        "SELECT u.email, u.locale FROM app.memberships m JOIN app.users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 AND m.role IN ('owner', 'treasurer') ORDER BY u.email",
    )
    .bind(tenant)
    .fetch_all(&mut **tx)
    .await?;
    Ok((club, people))
}

/// The sync hook: the balance watch of the synced account, in the sync's transaction.
#[derive(Clone)]
pub struct AfterSync {
    /// Links the mail carries (Kasa's public address).
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
            evaluate(tx, &self.links, account_id, now).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(threshold: &str, balance: &str) -> Draft {
        Draft {
            threshold: threshold.into(),
            balance: balance.into(),
        }
    }

    #[test]
    fn thresholds_are_read_the_czech_way() {
        assert_eq!(
            draft("5 000", "available").check(),
            Ok((500_000, Watched::Available))
        );
        assert_eq!(
            draft("1 200,50 Kč", "booked").check(),
            Ok((120_050, Watched::Booked))
        );
        assert_eq!(
            draft("-300", "booked").check(),
            Ok((-30_000, Watched::Booked))
        );
    }

    #[test]
    fn a_bad_draft_names_each_field() {
        assert_eq!(
            draft("", "x").check(),
            Err(vec![
                ("threshold", "watch.error.required"),
                ("balance", "watch.error.balance")
            ])
        );
        assert_eq!(
            draft("pět", "available").check(),
            Err(vec![("threshold", "watch.error.amount")])
        );
        assert_eq!(
            draft("99999999999", "available").check(),
            Err(vec![("threshold", "watch.error.too_large")])
        );
    }
}
