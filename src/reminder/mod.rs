//! Reminders to members (issue 9, item 3): who is due for which reminder now (the preview), the
//! batch the treasurer sends from it, the club's reminder settings, members who want none, and
//! the thank-you to a member who paid after a reminder.
//!
//! Owns the tenant tables `reminder_settings`, `reminder_opt_outs`, `reminder_batches`,
//! `reminders_sent` and `reminder_thanks` (migrations/tenant/0010_reminders.sql); reads (never
//! writes) the schedules' reminder columns, charges, members and households.
//!
//! The rules:
//! - A schedule's steps are days from a charge's due date (`fee_schedules.reminder_steps`,
//!   default a week before, on the day, two weeks after); a schedule or a member can be switched
//!   off. Only open charges of active members are reminded, only the latest step reached, and
//!   each step of a charge happens at most once: the `reminders_sent` row (sent, excluded, or
//!   overtaken by a later step) is inserted in the transaction that queues the e-mail, under a
//!   per-club lock, so two sends (two clicks, two instances) never send a step twice.
//! - Nobody is reminded until the club's accounts synced successfully after the due date plus
//!   the booking lag ([`calendar::synced_after`]); until then the preview lists them as
//!   waiting and says why. The e-mail says up to when payments are counted.
//! - One e-mail per payer, as the member's own page works (`pay_link`): a member, or a
//!   household with its own VS (to its guardian, for the household's total), to every address
//!   of the addressee (one e-mail each, as `pay_link::send` does). It lists the open
//!   charges due so far, the total after credit, the account and VS, the QR payment as an
//!   inline PNG, and a fresh link to the member's page (issued per batch: the raw token exists
//!   only when issued; the earlier link of that member stops working, docs/decisions.md).
//! - Payers without an e-mail address are listed as "cannot be reminded".
//! - A member who joined after a charge's due date has its steps counted from the day they
//!   joined ([`counted_from`]); a step whose day fell before that is never offered.

pub mod calendar;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::json;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::auth::Email;
use crate::db::tenant::{Tenant, TenantTx};
use crate::form_token::FormToken;
use crate::i18n::{self, Lang};
use crate::iban::Iban;
use crate::mail::{self, Mailer, outbox::Attachment};
use crate::payment::matching::Target;
use crate::payment::views::{self as payment_views, Received};

/// The language of e-mails to members (members have no language setting; the club is Czech).
pub const MEMBER_LANG: Lang = Lang::Cs;
/// The inline QR image's file name and Content-ID.
pub const QR_FILE: &str = "qr-platba.png";
const QR_CONTENT_ID: &str = "qr-platba@kasa";

/// Why a reminder change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The member is not in this club.
    #[error("no such member")]
    NotFound,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<crate::pay_link::Error> for Error {
    fn from(e: crate::pay_link::Error) -> Self {
        match e {
            crate::pay_link::Error::NotFound => Error::NotFound,
            crate::pay_link::Error::Db(e) => Error::Db(e),
        }
    }
}

/// The club's reminder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Settings {
    /// Business days a payment may take to be booked (0-10, default 2).
    pub booking_lag_days: i32,
    /// Thank a member who pays after a reminder (default off).
    pub thank_you: bool,
}

/// The booking lag as typed: a whole number of business days, 0-10.
pub fn parse_lag(text: &str) -> Option<i32> {
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|d| (0..=10).contains(d))
}

pub async fn settings(tx: &mut TenantTx) -> Result<Settings, sqlx::Error> {
    sqlx::query_as("SELECT booking_lag_days, thank_you FROM reminder_settings")
        .fetch_one(&mut **tx)
        .await
}

/// Saves the settings; audited as `reminder.settings_saved`.
pub async fn save_settings(
    tx: &mut TenantTx,
    actor: &Actor,
    settings: Settings,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE reminder_settings SET booking_lag_days = $1, thank_you = $2")
        .bind(settings.booking_lag_days)
        .bind(settings.thank_you)
        .execute(&mut **tx)
        .await?;
    audit::record(
        tx,
        actor,
        "reminder.settings_saved",
        json!({ "booking_lag_days": settings.booking_lag_days, "thank_you": settings.thank_you }),
        now,
    )
    .await
}

/// Whether the member gets reminders (not switched off on the member's page).
pub async fn member_reminded(tx: &mut TenantTx, member: Uuid) -> Result<bool, sqlx::Error> {
    let off: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM reminder_opt_outs WHERE member_id = $1")
            .bind(member)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(off.is_none())
}

/// Switches the member's reminders on or off; audited as `reminder.member_switched` when it
/// changed. Errors: [`Error::NotFound`].
pub async fn set_member_reminded(
    tx: &mut TenantTx,
    actor: &Actor,
    member: Uuid,
    on: bool,
    now: OffsetDateTime,
) -> Result<(), Error> {
    crate::member::get(tx, crate::member::MemberId(member))
        .await?
        .ok_or(Error::NotFound)?;
    let changed = if on {
        sqlx::query("DELETE FROM reminder_opt_outs WHERE member_id = $1")
            .bind(member)
            .execute(&mut **tx)
            .await?
    } else {
        sqlx::query(
            "INSERT INTO reminder_opt_outs (member_id, since) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(member)
        .bind(now)
        .execute(&mut **tx)
        .await?
    }
    .rows_affected()
        > 0;
    if changed {
        audit::record(
            tx,
            actor,
            "reminder.member_switched",
            json!({ "member": member, "on": on }),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Who a reminder goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Payer {
    Member(Uuid),
    /// A household with its own VS: one reminder for the household's total.
    Household(Uuid),
}

impl Payer {
    /// `m:<uuid>` or `h:<uuid>`, as the preview form carries it.
    pub fn key(&self) -> String {
        match self {
            Payer::Member(id) => format!("m:{id}"),
            Payer::Household(id) => format!("h:{id}"),
        }
    }

    pub fn parse(text: &str) -> Option<Payer> {
        let (kind, id) = text.trim().split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "m" => Some(Payer::Member(id)),
            "h" => Some(Payer::Household(id)),
            _ => None,
        }
    }
}

/// A reminder step due now for one charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDue {
    pub charge_id: Uuid,
    pub member_id: Uuid,
    pub member_name: String,
    pub schedule_name: String,
    pub period: (Date, Date),
    pub due_on: Date,
    /// The day the steps count from ([`counted_from`]): `due_on`, or the later day the
    /// member could first know of the charge.
    pub counted_from: Date,
    /// Still open (amount − paid), minor units.
    pub open_minor: i64,
    /// Days from `counted_from`.
    pub step: i32,
    /// Earlier steps never sent: recorded as overtaken when this one goes.
    pub overtaken: Vec<i32>,
    /// A successful sync at or after this instant is needed first.
    pub needs_sync_after: OffsetDateTime,
}

/// An open charge counted in a reminder's total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCharge {
    pub member_name: String,
    pub schedule_name: String,
    pub period: (Date, Date),
    pub due_on: Date,
    pub open_minor: i64,
}

/// One payer's reminder as the preview shows it and the batch sends it.
#[derive(Debug, Clone)]
pub struct Item {
    pub payer: Payer,
    /// The member's or household's name.
    pub name: String,
    /// Where the e-mail goes: every address of the payer's addressee (the member, or the
    /// household's guardian), one e-mail each, as the member's link is sent
    /// (`pay_link::send`); empty: cannot be reminded (nobody has an address).
    pub emails: Vec<Email>,
    /// The member whose own page the e-mail links to (for a household: the guardian if they
    /// belong to it, else its first member).
    pub link_member: Uuid,
    /// The VS to pay with (the household's for a household), as written.
    pub variable_symbol: String,
    /// The steps due now.
    pub steps: Vec<StepDue>,
    /// The open charges counted (due up to today or the latest reminded due date).
    pub open: Vec<OpenCharge>,
    /// Credit deducted (members' and the household's), minor units.
    pub credit_minor: i64,
    /// What to pay: Σ open − credit, minor units, positive.
    pub to_pay_minor: i64,
}

impl Item {
    /// Something is due or overdue (a step on or after the due date), not only ahead.
    pub fn overdue(&self) -> bool {
        self.steps.iter().any(|s| s.step >= 0)
    }

    /// The latest step of the item (what the preview names).
    pub fn step(&self) -> i32 {
        self.steps.iter().map(|s| s.step).max().unwrap_or(0)
    }
}

/// Who would get which reminder now.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    /// Payments booked up to this instant are counted (the oldest last successful sync of the
    /// club's CZK accounts); `None`: no account, or one never synced.
    pub fresh_as_of: Option<OffsetDateTime>,
    /// The club's receiving account (its first CZK account).
    pub account: Option<Iban>,
    pub settings: Option<Settings>,
    /// Would be reminded now.
    pub ready: Vec<Item>,
    /// Due, but nobody has an e-mail address.
    pub unreachable: Vec<Item>,
    /// Due, but the accounts have not synced after the due date plus the booking lag yet.
    pub waiting: Vec<Item>,
}

impl Preview {
    /// The latest sync instant the waiting items need (a successful sync after it releases all).
    pub fn waiting_for(&self) -> Option<OffsetDateTime> {
        self.waiting
            .iter()
            .flat_map(|i| i.steps.iter().map(|s| s.needs_sync_after))
            .max()
    }
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    charge_id: Uuid,
    member_id: Uuid,
    member_name: String,
    household_id: Option<Uuid>,
    due_on: Date,
    /// The first day the member could know of the charge: the day they joined (`joined_on`,
    /// else the day they were added).
    known_on: Date,
    period_start: Date,
    period_end: Date,
    open_minor: i64,
    schedule_name: String,
    steps: Vec<i32>,
    handled: Vec<i32>,
}

/// The day a charge's reminder steps count from: its due date, or, for a member who joined
/// after it, the day they joined (`known_on`). Nobody is reminded of a date that passed
/// before they could pay. (A charge Kasa created late, for a schedule entered late, keeps its
/// due date: the club announced the fee before Kasa knew of it, docs/decisions.md.)
pub fn counted_from(due_on: Date, known_on: Date) -> Date {
    due_on.max(known_on)
}

/// The step of a charge that is due `today`, its steps counting from `from`
/// ([`counted_from`]): the latest step reached whose day is not before `known_on` (a step
/// that fell before the member could know of the charge is never offered), unless it or a
/// later one was handled; with the earlier steps never handled (overtaken).
fn step_due(
    steps: &[i32],
    handled: &[i32],
    (from, known_on): (Date, Date),
    today: Date,
) -> Option<(i32, Vec<i32>)> {
    let day = |s: i32| from + time::Duration::days(i64::from(s));
    let reached = steps
        .iter()
        .copied()
        .filter(|s| day(*s) <= today && day(*s) >= known_on)
        .max()?;
    if handled.iter().any(|h| *h >= reached) {
        return None;
    }
    let overtaken = steps
        .iter()
        .copied()
        .filter(|s| *s < reached && !handled.contains(s))
        .collect();
    Some((reached, overtaken))
}

#[derive(sqlx::FromRow)]
struct Person {
    id: Uuid,
    name: String,
    variable_symbol: String,
    emails: Vec<String>,
    household_id: Option<Uuid>,
}

/// Every valid address of a person, in their order, without repeats.
fn addresses(emails: &[String]) -> Vec<Email> {
    let mut found: Vec<Email> = Vec::new();
    for email in emails.iter().filter_map(|e| Email::parse(e)) {
        if !found.iter().any(|f| f.as_str() == email.as_str()) {
            found.push(email);
        }
    }
    found
}

/// The payer's members (active), VS, name, addresses and linked member.
struct PayerFacts {
    name: String,
    variable_symbol: String,
    members: Vec<Uuid>,
    emails: Vec<Email>,
    link_member: Uuid,
}

async fn payer_facts(tx: &mut TenantTx, payer: Payer) -> Result<Option<PayerFacts>, sqlx::Error> {
    match payer {
        Payer::Member(id) => {
            let person: Option<Person> = sqlx::query_as(
                "SELECT id, name, variable_symbol, emails, household_id FROM members \
                  WHERE id = $1 AND archived_at IS NULL",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
            Ok(person.map(|p| PayerFacts {
                emails: addresses(&p.emails),
                name: p.name,
                variable_symbol: p.variable_symbol,
                members: vec![p.id],
                link_member: p.id,
            }))
        }
        Payer::Household(id) => {
            let household: Option<(String, Option<String>, Option<Uuid>)> = sqlx::query_as(
                "SELECT name, variable_symbol, guardian_member_id FROM households WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
            let Some((name, Some(variable_symbol), guardian)) = household else {
                return Ok(None);
            };
            let people: Vec<Person> = sqlx::query_as(
                "SELECT id, name, variable_symbol, emails, household_id FROM members \
                  WHERE (household_id = $1 AND archived_at IS NULL) OR id = $2 \
                  ORDER BY lower(name), id",
            )
            .bind(id)
            .bind(guardian)
            .fetch_all(&mut **tx)
            .await?;
            let guardian = people.iter().find(|p| Some(p.id) == guardian);
            let members: Vec<&Person> = people
                .iter()
                .filter(|p| p.household_id == Some(id))
                .collect();
            let Some(first) = members.first() else {
                return Ok(None);
            };
            // The guardian's addresses, else those of the first member who has any.
            let emails = guardian
                .map(|g| addresses(&g.emails))
                .filter(|e| !e.is_empty())
                .or_else(|| {
                    members
                        .iter()
                        .map(|m| addresses(&m.emails))
                        .find(|e| !e.is_empty())
                })
                .unwrap_or_default();
            let link_member = guardian
                .filter(|g| g.household_id == Some(id))
                .map_or(first.id, |g| g.id);
            Ok(Some(PayerFacts {
                name,
                variable_symbol,
                members: members.iter().map(|m| m.id).collect(),
                emails,
                link_member,
            }))
        }
    }
}

/// Who is due for which reminder at `now` (`today`: its Prague date), with the facts each
/// e-mail needs. Reads only; [`send`] computes it again inside its lock.
pub async fn preview(tx: &mut TenantTx, now: OffsetDateTime) -> Result<Preview, sqlx::Error> {
    let today = i18n::prague_date(now);
    let settings = settings(tx).await?;
    let accounts: Vec<_> = crate::sync::views::accounts(tx)
        .await?
        .into_iter()
        .filter(|a| a.currency == "CZK")
        .collect();
    let account = accounts.first().and_then(|a| Iban::parse(&a.iban).ok());
    let fresh_as_of = if accounts.is_empty() {
        None
    } else {
        accounts
            .iter()
            .map(|a| a.fresh_as_of)
            .collect::<Option<Vec<_>>>()
            .and_then(|f| f.into_iter().min())
    };
    let rows: Vec<CandidateRow> = sqlx::query_as(
        "SELECT c.id AS charge_id, c.member_id, m.name AS member_name, m.household_id, c.due_on, \
                COALESCE(m.joined_on, (m.created_at AT TIME ZONE 'Europe/Prague')::date) \
                    AS known_on, \
                c.period_start, c.period_end, c.amount_minor - c.paid_minor AS open_minor, \
                s.name AS schedule_name, s.reminder_steps AS steps, \
                ARRAY(SELECT r.step FROM reminders_sent r WHERE r.charge_id = c.id) AS handled \
           FROM charges c JOIN fee_schedules s ON s.id = c.schedule_id \
           JOIN members m ON m.id = c.member_id \
          WHERE c.paid_minor < c.amount_minor AND s.reminders_on AND s.archived_at IS NULL \
            AND m.archived_at IS NULL AND cardinality(s.reminder_steps) > 0 \
            AND c.due_on + s.reminder_steps[1] <= $1 \
            AND NOT EXISTS (SELECT 1 FROM reminder_opt_outs o WHERE o.member_id = m.id) \
          ORDER BY c.due_on, c.id",
    )
    .bind(today)
    .fetch_all(&mut **tx)
    .await?;
    let households_with_vs: BTreeSet<Uuid> = crate::member::households(tx)
        .await?
        .into_iter()
        .filter(|h| h.variable_symbol.is_some())
        .map(|h| h.id.0)
        .collect();
    let lag = u32::try_from(settings.booking_lag_days).unwrap_or(0);
    let mut by_payer: BTreeMap<Payer, Vec<StepDue>> = BTreeMap::new();
    for row in rows {
        let from = counted_from(row.due_on, row.known_on);
        let Some((step, overtaken)) =
            step_due(&row.steps, &row.handled, (from, row.known_on), today)
        else {
            continue;
        };
        let payer = match row.household_id {
            Some(h) if households_with_vs.contains(&h) => Payer::Household(h),
            _ => Payer::Member(row.member_id),
        };
        by_payer.entry(payer).or_default().push(StepDue {
            charge_id: row.charge_id,
            member_id: row.member_id,
            member_name: row.member_name,
            schedule_name: row.schedule_name,
            period: (row.period_start, row.period_end),
            due_on: row.due_on,
            counted_from: from,
            open_minor: row.open_minor,
            step,
            overtaken,
            needs_sync_after: calendar::synced_after(from, step, lag),
        });
    }
    let mut preview = Preview {
        fresh_as_of,
        account,
        settings: Some(settings),
        ..Preview::default()
    };
    for (payer, steps) in by_payer {
        let Some(facts) = payer_facts(tx, payer).await? else {
            continue;
        };
        let horizon = steps
            .iter()
            .map(|s| s.due_on)
            .max()
            .unwrap_or(today)
            .max(today);
        let open = open_charges(tx, &facts.members, horizon).await?;
        let mut to_pay = 0;
        let mut credit_minor = 0;
        for member in &facts.members {
            let owed: i64 = open
                .iter()
                .filter(|(m, _)| m == member)
                .map(|(_, c)| c.open_minor)
                .sum();
            let credit = payment_views::credit(tx, Target::Member(*member)).await?;
            credit_minor += credit.min(owed);
            to_pay += (owed - credit).max(0);
        }
        if let Payer::Household(h) = payer {
            let credit = payment_views::credit(tx, Target::Household(h)).await?;
            credit_minor += credit.min(to_pay);
            to_pay = (to_pay - credit).max(0);
        }
        if to_pay <= 0 {
            continue;
        }
        let released =
            fresh_as_of.is_some_and(|fresh| steps.iter().all(|s| fresh >= s.needs_sync_after));
        let item = Item {
            payer,
            name: facts.name,
            emails: facts.emails,
            link_member: facts.link_member,
            variable_symbol: facts.variable_symbol,
            steps,
            open: open.into_iter().map(|(_, c)| c).collect(),
            credit_minor,
            to_pay_minor: to_pay,
        };
        if !released {
            preview.waiting.push(item);
        } else if item.emails.is_empty() {
            preview.unreachable.push(item);
        } else {
            preview.ready.push(item);
        }
    }
    for list in [
        &mut preview.ready,
        &mut preview.unreachable,
        &mut preview.waiting,
    ] {
        list.sort_by_key(|a| i18n::fold(&a.name));
    }
    Ok(preview)
}

/// The members' open charges due up to `horizon`, oldest first, with their member.
async fn open_charges(
    tx: &mut TenantTx,
    members: &[Uuid],
    horizon: Date,
) -> Result<Vec<(Uuid, OpenCharge)>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, Date, Date, Date, i64)> = sqlx::query_as(
        "SELECT c.member_id, m.name, s.name, c.period_start, c.period_end, c.due_on, \
                c.amount_minor - c.paid_minor \
           FROM charges c JOIN fee_schedules s ON s.id = c.schedule_id \
           JOIN members m ON m.id = c.member_id \
          WHERE c.member_id = ANY($1) AND c.paid_minor < c.amount_minor AND c.due_on <= $2 \
          ORDER BY c.due_on, lower(m.name), c.id",
    )
    .bind(members)
    .bind(horizon)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(member, member_name, schedule_name, start, end, due_on, open_minor)| {
                (
                    member,
                    OpenCharge {
                        member_name,
                        schedule_name,
                        period: (start, end),
                        due_on,
                        open_minor,
                    },
                )
            },
        )
        .collect())
}

/// `Členský příspěvek 2026`, `… 11/2026`, `… 1. 1. 2026 – 30. 6. 2026`: a charge as e-mails name
/// it.
pub fn charge_label(lang: Lang, schedule: &str, (start, end): (Date, Date)) -> String {
    let whole_year = start.month() == time::Month::January
        && start.day() == 1
        && end.month() == time::Month::December
        && end.day() == 31
        && start.year() == end.year();
    let period = if whole_year {
        start.year().to_string()
    } else if start.month() == end.month() && start.year() == end.year() {
        format!("{}/{}", u8::from(start.month()), start.year())
    } else {
        format!(
            "{} – {}",
            i18n::format_day(start, lang),
            i18n::format_day(end, lang)
        )
    };
    format!("{schedule} {period}")
}

/// The treasurer's choice on the preview: the payers the page listed (`seen`), those unticked
/// (`excluded`, a subset), and the form's one-time token.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub seen: Vec<Payer>,
    pub excluded: Vec<Payer>,
    pub form_token: Option<FormToken>,
}

/// What [`send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// A batch: e-mails queued, payers excluded (their steps are recorded as excluded).
    Batch { mails: usize, excluded: usize },
    /// This form was submitted before: nothing more was sent.
    Earlier,
}

/// Sends the reminders of the preview the treasurer saw: to every payer in `choice.seen` that
/// is still due now (recomputed inside a per-club lock), except `choice.excluded`, whose
/// steps are recorded as excluded; payers due now that the page did not list wait for the
/// next preview. Each e-mail carries a fresh link to the member's page and the QR payment.
/// One transaction: the steps, pay links, e-mails, the batch and its audit entry
/// (`reminder.batch_sent`); then the mailer is woken. Errors: the database's.
#[tracing::instrument(name = "reminder_batch", skip_all, fields(club = %tenant.key()))]
pub async fn send(
    mailer: &Mailer,
    tenant: &Tenant,
    actor: &Actor,
    choice: &Choice,
    now: OffsetDateTime,
) -> Result<Sent, Error> {
    let mut tx = TenantTx::begin(mailer.pool(), tenant).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), 9)")
        .execute(&mut *tx)
        .await?;
    if let Some(token) = &choice.form_token {
        let earlier: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM reminder_batches WHERE form_token = $1")
                .bind(token.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if earlier.is_some() {
            return Ok(Sent::Earlier);
        }
    }
    let preview = preview(&mut tx, now).await?;
    let batch = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO reminder_batches (id, form_token, sent_at, sent_by, mails, fresh_as_of) \
         VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(batch)
    .bind(choice.form_token.as_ref().map(FormToken::as_str))
    .bind(now)
    .bind(actor.user_id)
    .bind(preview.fresh_as_of)
    .execute(&mut *tx)
    .await?;
    let club: String = sqlx::query_scalar("SELECT name FROM app.tenants WHERE id = $1")
        .bind(tx.tenant_id())
        .fetch_one(&mut *tx)
        .await?;
    let seen: BTreeSet<Payer> = choice.seen.iter().copied().collect();
    let excluded: BTreeSet<Payer> = choice.excluded.iter().copied().collect();
    let (mut mails, mut skipped) = (0, 0);
    for item in &preview.ready {
        if !seen.contains(&item.payer) {
            continue;
        }
        let outcome = if excluded.contains(&item.payer) {
            "excluded"
        } else {
            "sent"
        };
        if record_steps(&mut tx, batch, &item.steps, outcome, now).await? < item.steps.len() {
            // Another send recorded these steps first (cannot happen under the lock).
            continue;
        }
        if outcome == "excluded" {
            skipped += 1;
            continue;
        }
        if item.emails.is_empty() {
            continue;
        }
        let token = crate::pay_link::issue_for_reminder(
            &mut tx,
            crate::member::MemberId(item.link_member),
            now,
        )
        .await?;
        let (message, attachments) = reminder_mail(
            &club,
            item,
            preview.account.as_ref(),
            &mailer.links().pay_page(token.as_str()),
            preview.fresh_as_of.unwrap_or(now),
        );
        // One e-mail per address (the step is recorded once, above).
        for to in &item.emails {
            mail::outbox::enqueue_with(&mut tx, &message, &attachments, to, None, now).await?;
            mails += 1;
        }
    }
    sqlx::query("UPDATE reminder_batches SET mails = $2 WHERE id = $1")
        .bind(batch)
        .bind(i32::try_from(mails).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "reminder.batch_sent",
        json!({ "batch": batch, "mails": mails, "excluded": skipped,
                "fresh_as_of": preview.fresh_as_of.and_then(|at| {
                    at.format(&time::format_description::well_known::Rfc3339).ok()
                }) }),
        now,
    )
    .await?;
    tx.commit().await?;
    if mails > 0 {
        mailer.wake();
    }
    Ok(Sent::Batch {
        mails,
        excluded: skipped,
    })
}

/// Records the steps (and the earlier steps they overtake) of a batch; returns how many of
/// `steps` were new.
async fn record_steps(
    tx: &mut TenantTx,
    batch: Uuid,
    steps: &[StepDue],
    outcome: &str,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO reminders_sent (charge_id, step, outcome, batch_id, member_id, at) \
         SELECT u.c, u.s, $3, $4, u.m, $5 FROM UNNEST($1::uuid[], $2::int4[], $6::uuid[]) \
                AS u(c, s, m) \
         ON CONFLICT DO NOTHING RETURNING charge_id",
    )
    .bind(steps.iter().map(|s| s.charge_id).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.step).collect::<Vec<_>>())
    .bind(outcome)
    .bind(batch)
    .bind(now)
    .bind(steps.iter().map(|s| s.member_id).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let overtaken: Vec<(Uuid, i32, Uuid)> = steps
        .iter()
        .flat_map(|s| s.overtaken.iter().map(|o| (s.charge_id, *o, s.member_id)))
        .collect();
    if !overtaken.is_empty() {
        sqlx::query(
            "INSERT INTO reminders_sent (charge_id, step, outcome, batch_id, member_id, at) \
             SELECT u.c, u.s, 'overtaken', $3, u.m, $4 \
               FROM UNNEST($1::uuid[], $2::int4[], $5::uuid[]) AS u(c, s, m) \
             ON CONFLICT DO NOTHING",
        )
        .bind(overtaken.iter().map(|o| o.0).collect::<Vec<_>>())
        .bind(overtaken.iter().map(|o| o.1).collect::<Vec<_>>())
        .bind(batch)
        .bind(now)
        .bind(overtaken.iter().map(|o| o.2).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(inserted.len())
}

/// The e-mail of one reminder and its inline QR image (none without an account).
fn reminder_mail(
    club: &str,
    item: &Item,
    account: Option<&Iban>,
    link: &str,
    counted_until: OffsetDateTime,
) -> (mail::Message, Vec<Attachment>) {
    let lang = MEMBER_LANG;
    let money = |minor: i64| i18n::format_money(minor, "CZK", lang);
    let several = item
        .open
        .iter()
        .any(|c| c.member_name != item.open[0].member_name);
    let lines: Vec<(String, String, String)> = item
        .open
        .iter()
        .map(|c| {
            let mut what = charge_label(lang, &c.schedule_name, c.period);
            if several {
                what = format!("{what} ({})", c.member_name);
            }
            (what, money(c.open_minor), i18n::format_day(c.due_on, lang))
        })
        .collect();
    let credit = (item.credit_minor > 0).then(|| money(item.credit_minor));
    let total = money(item.to_pay_minor);
    let account_text = account.map(Iban::grouped).unwrap_or_default();
    let message = mail::templates::fee_reminder(
        lang,
        &mail::templates::FeeReminder {
            club,
            payer: &item.name,
            overdue: item.overdue(),
            lines: &lines,
            credit: credit.as_deref(),
            total: &total,
            account: &account_text,
            variable_symbol: &item.variable_symbol,
            link,
            counted_until: &i18n::format_datetime(counted_until, lang),
        },
    );
    let qr = account.and_then(|account| {
        let text = crate::spayd::Request {
            account,
            amount_minor: item.to_pay_minor,
            variable_symbol: Some(&item.variable_symbol),
            message: &item.name,
        }
        .to_spayd()
        .ok()?;
        crate::spayd::png(&text).ok()
    });
    let attachments = qr
        .map(|png| Attachment::inline(QR_FILE, "image/png", &png, QR_CONTENT_ID))
        .into_iter()
        .collect();
    (message, attachments)
}

/// The outbox key of a thank-you for `payment` (from its start: every thank-you of the
/// payment; with the payer: those to that payer; with the address too: one e-mail), so a
/// thank-you is queued at most once per payment, payer and address, and one still unsent can
/// be withdrawn when the payment turns out to be someone else's.
pub fn thanks_key(tenant: Uuid, payment: i64, payer: Option<Payer>, to: Option<&Email>) -> String {
    let mut key = format!("payment-thanks:{tenant}:{payment}:");
    if let Some(payer) = payer {
        key.push_str(&payer.key());
        key.push(':');
        if let Some(to) = to {
            key.push_str(to.as_str());
        }
    }
    key
}

impl From<Target> for Payer {
    fn from(target: Target) -> Payer {
        match target {
            Target::Member(m) => Payer::Member(m),
            Target::Household(h) => Payer::Household(h),
        }
    }
}

/// Thanks the payers of `payments` (just matched by a sync or assigned by a person) who were
/// reminded of a charge the payment paid, when the club wants it ([`Settings::thank_you`]):
/// one e-mail per payment to every address of the payer (as reminders go), at most once per
/// payment and payer (`reminder_thanks`, which the caller clears for a payment that became
/// someone else's), in the caller's transaction, not sent before `send_after` (a person's
/// undo window). Returns how many e-mails were queued.
pub async fn thank(
    tx: &mut TenantTx,
    payments: &[Received],
    now: OffsetDateTime,
    send_after: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    if payments.is_empty() || !settings(tx).await?.thank_you {
        return Ok(0);
    }
    let ids: Vec<i64> = payments.iter().map(|p| p.payment_id).collect();
    let reminded: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT a.transaction_id FROM allocations a \
           JOIN reminders_sent r ON r.charge_id = a.charge_id AND r.outcome = 'sent' \
          WHERE a.transaction_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let reminded: BTreeSet<i64> = reminded.into_iter().collect();
    let mut club: Option<String> = None;
    let mut queued = 0;
    let mut recipients: HashMap<Payer, Vec<Email>> = HashMap::new();
    let tenant = tx.tenant_id();
    for payment in payments.iter().filter(|p| reminded.contains(&p.payment_id)) {
        let payer = Payer::from(payment.target);
        let emails = match recipients.get(&payer) {
            Some(emails) => emails.clone(),
            None => {
                let emails = payer_facts(tx, payer)
                    .await?
                    .map(|f| f.emails)
                    .unwrap_or_default();
                recipients.insert(payer, emails.clone());
                emails
            }
        };
        if emails.is_empty() {
            continue;
        }
        let new: Option<i64> = sqlx::query_scalar(
            "INSERT INTO reminder_thanks (transaction_id, payer, at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING transaction_id",
        )
        .bind(payment.payment_id)
        .bind(payer.key())
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        if new.is_none() {
            continue;
        }
        let club = match &club {
            Some(club) => club.clone(),
            None => {
                let name: String = sqlx::query_scalar("SELECT name FROM app.tenants WHERE id = $1")
                    .bind(tx.tenant_id())
                    .fetch_one(&mut **tx)
                    .await?;
                club = Some(name.clone());
                name
            }
        };
        let lang = MEMBER_LANG;
        let message = mail::templates::fee_thank_you(
            lang,
            &club,
            &i18n::format_money(payment.amount_minor, "CZK", lang),
            &payment
                .date
                .map(|d| i18n::format_day(d, lang))
                .unwrap_or_default(),
        );
        for to in &emails {
            let key = thanks_key(tenant, payment.payment_id, Some(payer), Some(to));
            if mail::outbox::enqueue_held(tx, &message, to, &key, now, send_after).await? {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn only_the_latest_step_reached_is_due_once_and_earlier_ones_are_overtaken() {
        let steps = [-7, 0, 14];
        let due = date!(2026 - 11 - 20);
        let due = (due, date!(2026 - 01 - 01));
        assert_eq!(step_due(&steps, &[], due, date!(2026 - 11 - 12)), None);
        assert_eq!(
            step_due(&steps, &[], due, date!(2026 - 11 - 13)),
            Some((-7, vec![]))
        );
        assert_eq!(step_due(&steps, &[-7], due, date!(2026 - 11 - 19)), None);
        assert_eq!(
            step_due(&steps, &[-7], due, date!(2026 - 11 - 20)),
            Some((0, vec![]))
        );
        // Nothing was sent before: 14 days after, only the last step goes.
        assert_eq!(
            step_due(&steps, &[], due, date!(2026 - 12 - 10)),
            Some((14, vec![-7, 0]))
        );
        assert_eq!(step_due(&steps, &[14], due, date!(2027 - 01 - 10)), None);
        assert_eq!(step_due(&[], &[], due, date!(2027 - 01 - 10)), None);
    }

    #[test]
    fn a_member_who_joined_after_the_due_date_is_never_reminded_of_a_date_before_joining() {
        let steps = [-7, 0, 14];
        let (due, joined) = (date!(2026 - 11 - 01), date!(2026 - 11 - 30));
        let from = counted_from(due, joined);
        assert_eq!(from, joined, "the steps count from the day they joined");
        // On the day they join: the "on the day" notice, not "14 days after"; the step a
        // week before fell before they joined and is never offered.
        assert_eq!(
            step_due(&steps, &[], (from, joined), date!(2026 - 11 - 30)),
            Some((0, vec![-7]))
        );
        assert_eq!(
            step_due(&steps, &[-7, 0], (from, joined), date!(2026 - 12 - 13)),
            None
        );
        assert_eq!(
            step_due(&steps, &[-7, 0], (from, joined), date!(2026 - 12 - 14)),
            Some((14, vec![]))
        );
        // Joined three days before the due date: no "a week before", the due date stays.
        let joined = date!(2026 - 10 - 29);
        assert_eq!(counted_from(due, joined), due);
        assert_eq!(
            step_due(&steps, &[], (due, joined), date!(2026 - 10 - 30)),
            None
        );
        assert_eq!(
            step_due(&steps, &[], (due, joined), due),
            Some((0, vec![-7]))
        );
    }

    #[test]
    fn a_payer_key_reads_back() {
        let id = Uuid::now_v7();
        for payer in [Payer::Member(id), Payer::Household(id)] {
            assert_eq!(Payer::parse(&payer.key()), Some(payer));
        }
        assert_eq!(Payer::parse("x:1"), None);
        assert_eq!(Payer::parse("m:nope"), None);
    }

    #[test]
    fn charges_are_named_by_schedule_and_period() {
        let lang = Lang::Cs;
        assert_eq!(
            charge_label(
                lang,
                "Příspěvek",
                (date!(2026 - 01 - 01), date!(2026 - 12 - 31))
            ),
            "Příspěvek 2026"
        );
        assert_eq!(
            charge_label(
                lang,
                "Příspěvek",
                (date!(2026 - 11 - 01), date!(2026 - 11 - 30))
            ),
            "Příspěvek 11/2026"
        );
        assert!(
            charge_label(
                lang,
                "Příspěvek",
                (date!(2026 - 01 - 01), date!(2026 - 06 - 30))
            )
            .contains(" – ")
        );
    }
}
