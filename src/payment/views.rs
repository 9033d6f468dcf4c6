//! Read views of payments for the pages: the queue of unmatched payments with suggestions,
//! recently decided payments with their explanation, and a member's charges, payments and
//! balance. Amounts in minor units of CZK; `date` is the booking (else value) date.

use std::collections::HashMap;

use serde_json::Value;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::Error;
use super::matching::{self, Evidence, Outcome, Rule, Target};
use crate::db::tenant::TenantTx;
use crate::member::{Payer, PayerId};

/// A payment as the pages show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentLine {
    pub id: i64,
    pub date: Option<Date>,
    pub amount_minor: i64,
    pub variable_symbol: Option<String>,
    pub message: Option<String>,
    pub counterparty_name: Option<String>,
    pub counterparty_account: Option<String>,
}

/// Whom a suggestion or decision points at, with a name to show.
#[derive(Debug, Clone)]
pub struct Named {
    pub target: Target,
    pub name: String,
    /// The member's (or household's) VS as entered.
    pub variable_symbol: Option<String>,
}

impl Named {
    /// `member:<uuid>` / `household:<uuid>`, the form value of an assignment.
    pub fn form_value(&self) -> String {
        target_form_value(self.target)
    }

    /// `Jana Nová (2026001)`: how the shared list of members and households offers it (and
    /// what [`resolve_choice`] reads back).
    pub fn label(&self) -> String {
        match &self.variable_symbol {
            Some(vs) => format!("{} ({vs})", self.name),
            None => self.name.clone(),
        }
    }
}

fn target_of_payer(id: PayerId) -> Target {
    match id {
        PayerId::Member(m) => Target::Member(m.0),
        PayerId::Household(h) => Target::Household(h.0),
    }
}

/// The member or household typed into the shared list: a `Name (VS)` label as the list offers
/// it, a VS (numerically), or a name exactly one of them has (case and diacritics aside).
/// Errors: [`Error::NoChoice`] (nothing typed), [`Error::UnknownTarget`],
/// [`Error::AmbiguousChoice`] (several fit, or only a part of a name was typed — a surname:
/// [`candidates`] lists whom it fits), [`Error::ArchivedTarget`].
pub fn resolve_choice(payers: &[Payer], text: &str) -> Result<Target, Error> {
    if text.trim().is_empty() {
        return Err(Error::NoChoice);
    }
    let (fits, exact) = fitting(
        payers,
        |p| p.name.as_str(),
        |p| p.variable_symbol.as_deref(),
        text,
    );
    match fits[..] {
        [] => Err(Error::UnknownTarget),
        [p] if exact && p.archived => Err(Error::ArchivedTarget),
        [p] if exact => Ok(target_of_payer(p.id)),
        _ => Err(Error::AmbiguousChoice),
    }
}

/// Whom a typed text that [`resolve_choice`] found ambiguous may mean, among `choices` (the
/// page's list of active members and households): everyone whose label, VS or name fits, or
/// whose name contains every typed word ("Novák" → "Jan Novák", "Eva Nováková" not).
pub fn candidates(choices: &[Named], text: &str) -> Vec<Named> {
    fitting(
        choices,
        |n| n.name.as_str(),
        |n| n.variable_symbol.as_deref(),
        text,
    )
    .0
    .into_iter()
    .cloned()
    .collect()
}

/// Those of `items` that `text` names, and whether they fit exactly (a whole label, VS or name)
/// or only by words of their names.
fn fitting<'a, T>(
    items: &'a [T],
    name: impl Fn(&T) -> &str,
    vs: impl Fn(&T) -> Option<&str>,
    text: &str,
) -> (Vec<&'a T>, bool) {
    let text = text.trim();
    let normal = |s: &str| {
        crate::i18n::fold(s)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let wanted = normal(text);
    let label = |item: &T| match vs(item) {
        Some(v) => format!("{} ({v})", name(item)),
        None => name(item).to_owned(),
    };
    let exact: Vec<&T> = {
        let by_label: Vec<&T> = items
            .iter()
            .filter(|i| normal(&label(i)) == wanted)
            .collect();
        if !by_label.is_empty() {
            by_label
        } else if let Some(key) = matching::vs_key(text) {
            items
                .iter()
                .filter(|i| vs(i).and_then(matching::vs_key).as_deref() == Some(key.as_str()))
                .collect()
        } else {
            items.iter().filter(|i| normal(name(i)) == wanted).collect()
        }
    };
    if !exact.is_empty() || wanted.is_empty() {
        return (exact, true);
    }
    let words: Vec<&str> = wanted.split(' ').collect();
    let partial = items
        .iter()
        .filter(|i| {
            let own = normal(name(i));
            let own: Vec<&str> = own.split(' ').collect();
            words.iter().all(|w| own.contains(w))
        })
        .collect();
    (partial, false)
}

/// `member:<uuid>` / `household:<uuid>`.
pub fn target_form_value(target: Target) -> String {
    match target {
        Target::Member(id) => format!("member:{id}"),
        Target::Household(id) => format!("household:{id}"),
    }
}

/// Parses [`target_form_value`]'s form.
pub fn parse_target(value: &str) -> Option<Target> {
    let (kind, id) = value.split_once(':')?;
    let id = Uuid::parse_str(id.trim()).ok()?;
    match kind {
        "member" => Some(Target::Member(id)),
        "household" => Some(Target::Household(id)),
        _ => None,
    }
}

/// A suggestion with what speaks for it.
#[derive(Debug, Clone)]
pub struct SuggestionLine {
    pub who: Named,
    pub name_found: bool,
    pub amount_equal: bool,
    /// It fitted an ambiguous rule (VS or remembered account) together with others.
    pub candidate: bool,
}

/// A payment waiting for a person.
#[derive(Debug, Clone)]
pub struct QueueItem {
    pub payment: PaymentLine,
    pub outcome: Outcome,
    /// Best first.
    pub suggestions: Vec<SuggestionLine>,
    /// A person put it here (unmatched it); that can be undone.
    pub undoable: bool,
}

/// A decided payment with its explanation.
#[derive(Debug, Clone)]
pub struct DecidedLine {
    pub payment: PaymentLine,
    pub outcome: Outcome,
    pub who: Option<Named>,
    pub rule: Rule,
    pub evidence: Evidence,
    pub by_person: bool,
    pub decided_by_email: Option<String>,
    pub decided_at: OffsetDateTime,
    /// The latest action of a person on it can still be undone.
    pub undoable: bool,
}

/// Queue items per page.
pub const QUEUE_PAGE: i64 = 50;

/// One page of the queue, and how many wait in all.
#[derive(Debug, Clone, Default)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// Every payment waiting in the queue (not only this page's): the same number as
    /// [`queue_count`].
    pub total: i64,
    /// 1-based.
    pub page: i64,
    pub pages: i64,
}

/// SQL: a decision that waits in the queue.
const IN_QUEUE: &str = "d.outcome IN ('ambiguous', 'unidentified')";

/// How many payments wait in the queue (ambiguous or unidentified): the one count the payments
/// page, the fee overview and the dashboard show.
pub async fn queue_count(tx: &mut TenantTx) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) FROM payment_decisions d WHERE {IN_QUEUE}"
    ))
    .fetch_one(&mut **tx)
    .await?;
    Ok(n)
}

/// Page `page` (1-based, clamped) of the queue, named by `names` (ambiguous and unidentified incoming payments,
/// newest first, [`QUEUE_PAGE`] a page), each with up to three suggestions, best first. The
/// suggestions come from indexes built once for the page ([`matching::Suggester`]).
pub async fn queue(tx: &mut TenantTx, page: i64, names: &Names) -> Result<QueuePage, sqlx::Error> {
    let total = queue_count(tx).await?;
    let pages = ((total + QUEUE_PAGE - 1) / QUEUE_PAGE).max(1);
    let page = page.clamp(1, pages);
    let rows: Vec<(i64, String, bool, Value)> = sqlx::query_as(&format!(
        "SELECT d.transaction_id, d.outcome, \
                EXISTS (SELECT 1 FROM payment_actions x WHERE x.transaction_id = d.transaction_id \
                          AND x.undone_at IS NULL), d.evidence \
           FROM payment_decisions d \
           JOIN transactions t ON t.id = d.transaction_id \
          WHERE {IN_QUEUE} \
          ORDER BY COALESCE(t.booking_date, t.value_date) DESC NULLS LAST, t.id DESC \
          LIMIT $1 OFFSET $2"
    ))
    .bind(QUEUE_PAGE)
    .bind((page - 1) * QUEUE_PAGE)
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(QueuePage {
            items: Vec::new(),
            total,
            page,
            pages,
        });
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let (state, open) = super::input::for_suggestions(tx, &ids).await?;
    let lines = lines(tx, &ids).await?;
    let suggester = matching::Suggester::with_open(&state, open);
    let mut items = Vec::new();
    for (id, outcome, undoable, evidence) in rows {
        let (Some(p), Some(line)) = (
            state.payments.iter().find(|p| p.id == id),
            lines.iter().find(|l| l.id == id),
        ) else {
            continue;
        };
        let candidates = serde_json::from_value::<Evidence>(evidence)
            .unwrap_or_default()
            .candidates;
        let suggestions = suggester
            .suggest(p, &candidates, 3)
            .into_iter()
            .filter_map(|s| {
                Some(SuggestionLine {
                    who: names.named(s.target)?,
                    name_found: s.name_found,
                    amount_equal: s.amount_equal,
                    candidate: candidates.contains(&s.target),
                })
            })
            .collect();
        items.push(QueueItem {
            payment: line.clone(),
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Unidentified),
            suggestions,
            undoable,
        });
    }
    Ok(QueuePage {
        items,
        total,
        page,
        pages,
    })
}

/// Fee tracking as the payments page explains it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tracking {
    /// Payments count from this Prague date (`fee::tracking`); `None` before any schedule.
    pub from: Option<Date>,
    /// Incoming booked payments before it: in the bank ledger, not used for fees.
    pub before: i64,
}

/// The tracking start and how many incoming payments are before it.
pub async fn tracking(tx: &mut TenantTx) -> Result<Tracking, sqlx::Error> {
    let from = crate::fee::tracking::payments_from(tx).await?.effective();
    let (before,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM transactions \
          WHERE status = 'booked' AND currency = 'CZK' AND amount_minor > 0 AND NOT reversal \
            AND ($1::date IS NULL OR COALESCE(booking_date, value_date) < $1)",
    )
    .bind(from)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Tracking { from, before })
}

/// Everything the payments page shows: a page of the queue, recently decided payments, the
/// members and households to choose from, the stamp and fee tracking.
#[derive(Debug, Clone)]
pub struct PaymentsView {
    pub queue: QueuePage,
    pub recent: Vec<DecidedLine>,
    /// Active members and households, for the one shared list of the page.
    pub choices: Vec<Named>,
    pub stamp: i64,
    pub tracking: Tracking,
}

/// The payments page's data (`page`: the queue's page, 1-based).
pub async fn payments_view(tx: &mut TenantTx, page: i64) -> Result<PaymentsView, sqlx::Error> {
    let names = Names::load(tx).await?;
    let queue = queue(tx, page, &names).await?;
    let recent = recent(tx, 100).await?;
    let choices = names.choices();
    let stamp = super::stamp(tx).await?;
    let tracking = tracking(tx).await?;
    Ok(PaymentsView {
        queue,
        recent,
        choices,
        stamp,
        tracking,
    })
}

async fn lines(tx: &mut TenantTx, ids: &[i64]) -> Result<Vec<PaymentLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, COALESCE(booking_date, value_date) AS date, amount_minor, variable_symbol, \
                message, counterparty_name, \
                COALESCE(counterparty_iban, counterparty_account || COALESCE('/' || counterparty_bank_code, '')) \
                    AS counterparty_account \
           FROM transactions WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
}

/// Names of members and households, for explanations and the shared list.
pub struct Names {
    payers: Vec<Payer>,
    by_target: HashMap<Target, usize>,
}

impl Names {
    /// Every member (archived too) and household, through the member registry.
    pub async fn load(tx: &mut TenantTx) -> Result<Names, sqlx::Error> {
        Ok(Names::of(crate::member::payers(tx).await?))
    }

    fn of(payers: Vec<Payer>) -> Names {
        let by_target = payers
            .iter()
            .enumerate()
            .map(|(i, p)| (target_of_payer(p.id), i))
            .collect();
        Names { payers, by_target }
    }

    pub fn named(&self, target: Target) -> Option<Named> {
        let p = &self.payers[*self.by_target.get(&target)?];
        Some(Named {
            target,
            name: p.name.clone(),
            variable_symbol: p.variable_symbol.clone(),
        })
    }

    /// Members and households a person can assign to (not archived), in list order.
    pub fn choices(&self) -> Vec<Named> {
        self.payers
            .iter()
            .filter(|p| !p.archived)
            .filter_map(|p| self.named(target_of_payer(p.id)))
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct DecidedRow {
    #[sqlx(flatten)]
    decision: super::input::DecisionRow,
    decided_by_email: Option<String>,
    decided_at: OffsetDateTime,
    undoable: bool,
}

async fn decided_where(
    tx: &mut TenantTx,
    condition: &str,
    member: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DecidedLine>, sqlx::Error> {
    let sql = format!(
        "SELECT d.transaction_id, d.outcome, d.target_member, d.target_household, d.rule, \
                d.evidence, d.by_person, d.decided_by_email, d.decided_at, \
                EXISTS (SELECT 1 FROM payment_actions x WHERE x.transaction_id = d.transaction_id \
                          AND x.undone_at IS NULL) AS undoable \
           FROM payment_decisions d JOIN transactions t ON t.id = d.transaction_id \
          WHERE {condition} \
          ORDER BY COALESCE(t.booking_date, t.value_date) DESC NULLS LAST, t.id DESC LIMIT $2"
    );
    let rows: Vec<DecidedRow> = sqlx::query_as(&sql)
        .bind(member)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    let names = Names::load(tx).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.decision.transaction_id).collect();
    let lines = lines(tx, &ids).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let d = r.decision.into_decision();
            let payment = lines.iter().find(|l| l.id == d.payment_id)?.clone();
            Some(DecidedLine {
                payment,
                outcome: d.outcome,
                who: d.target.and_then(|t| names.named(t)),
                rule: d.rule,
                evidence: d.evidence,
                by_person: d.by_person,
                decided_by_email: r.decided_by_email,
                decided_at: r.decided_at,
                undoable: r.undoable,
            })
        })
        .collect())
}

/// Recently decided payments outside the queue (matched, irrelevant, reversed…), newest first.
pub async fn recent(tx: &mut TenantTx, limit: i64) -> Result<Vec<DecidedLine>, sqlx::Error> {
    decided_where(
        tx,
        "$1::uuid IS NULL AND d.outcome NOT IN ('ambiguous', 'unidentified', 'reversal')",
        None,
        limit,
    )
    .await
}

/// One charge of a member, with what is paid.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChargeLine {
    pub id: Uuid,
    pub schedule_name: String,
    pub period_start: Date,
    pub period_end: Date,
    pub amount_minor: i64,
    pub paid_minor: i64,
    pub due_on: Date,
    pub grace_until: Date,
}

/// An allocation of a member's charge with its explanation.
#[derive(Debug, Clone)]
pub struct AllocationLine {
    pub payment_id: i64,
    pub payment_date: Option<Date>,
    pub charge_id: Uuid,
    pub schedule_name: String,
    pub period_start: Date,
    pub amount_minor: i64,
    pub rule: Rule,
    pub evidence: Evidence,
    pub by_person: bool,
    pub decided_by_email: Option<String>,
    pub decided_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct AllocationRow {
    payment_id: i64,
    payment_date: Option<Date>,
    charge_id: Uuid,
    schedule_name: String,
    period_start: Date,
    amount_minor: i64,
    rule: String,
    evidence: Value,
    by_person: bool,
    decided_by_email: Option<String>,
    decided_at: Option<OffsetDateTime>,
}

/// A member's fees: charges, payments (decided for the member or their household),
/// allocations, and the balance (credit − still owed of charges due, minor units).
#[derive(Debug, Clone)]
pub struct MemberLedger {
    pub charges: Vec<ChargeLine>,
    pub payments: Vec<DecidedLine>,
    pub allocations: Vec<AllocationLine>,
    pub credit_minor: i64,
    /// Still owed of charges already due (`due_on ≤ today`).
    pub owed_minor: i64,
    /// credit − owed: positive, the member is ahead; negative, owes.
    pub balance_minor: i64,
}

/// The fee ledger of one member (see [`MemberLedger`]); `today` is a Prague date.
pub async fn member_ledger(
    tx: &mut TenantTx,
    member: Uuid,
    today: Date,
) -> Result<MemberLedger, sqlx::Error> {
    let charges: Vec<ChargeLine> = sqlx::query_as(
        "SELECT c.id, s.name AS schedule_name, c.period_start, c.period_end, c.amount_minor, \
                COALESCE((SELECT sum(a.amount_minor) FROM allocations a \
                           WHERE a.charge_id = c.id), 0)::int8 AS paid_minor, \
                c.due_on, c.grace_until \
           FROM charges c JOIN fee_schedules s ON s.id = c.schedule_id \
          WHERE c.member_id = $1 ORDER BY c.due_on DESC, s.name",
    )
    .bind(member)
    .fetch_all(&mut **tx)
    .await?;
    let payments = decided_where(
        tx,
        "d.target_member = $1 OR d.target_household = \
            (SELECT household_id FROM members WHERE id = $1) \
         OR d.transaction_id IN (SELECT transaction_id FROM allocations WHERE member_id = $1)",
        Some(member),
        200,
    )
    .await?;
    let rows: Vec<AllocationRow> = sqlx::query_as(
        "SELECT a.transaction_id AS payment_id, \
                COALESCE(t.booking_date, t.value_date) AS payment_date, a.charge_id, \
                s.name AS schedule_name, c.period_start, a.amount_minor, a.rule, a.evidence, \
                COALESCE(d.by_person, false) AS by_person, d.decided_by_email, d.decided_at \
           FROM allocations a JOIN charges c ON c.id = a.charge_id \
           JOIN fee_schedules s ON s.id = c.schedule_id \
           JOIN transactions t ON t.id = a.transaction_id \
           LEFT JOIN payment_decisions d ON d.transaction_id = a.transaction_id \
          WHERE a.member_id = $1 ORDER BY c.due_on DESC, a.id DESC",
    )
    .bind(member)
    .fetch_all(&mut **tx)
    .await?;
    let allocations = rows
        .into_iter()
        .map(|r| AllocationLine {
            payment_id: r.payment_id,
            payment_date: r.payment_date,
            charge_id: r.charge_id,
            schedule_name: r.schedule_name,
            period_start: r.period_start,
            amount_minor: r.amount_minor,
            rule: Rule::parse(&r.rule).unwrap_or(Rule::None),
            evidence: serde_json::from_value(r.evidence).unwrap_or_default(),
            by_person: r.by_person,
            decided_by_email: r.decided_by_email,
            decided_at: r.decided_at,
        })
        .collect();
    let credit = credit(tx, Target::Member(member)).await?;
    let owed_minor = charges
        .iter()
        .filter(|c| c.due_on <= today)
        .map(|c| (c.amount_minor - c.paid_minor).max(0))
        .sum();
    let credit_minor = credit;
    Ok(MemberLedger {
        charges,
        payments,
        allocations,
        credit_minor,
        owed_minor,
        balance_minor: credit_minor - owed_minor,
    })
}

/// The credit of a member or household: what its identified payments (matched, partly paid,
/// overpaid) brought beyond their allocations, in minor units, never negative. A household's
/// credit is its own (payments to the household), not its members'.
pub async fn credit(tx: &mut TenantTx, target: Target) -> Result<i64, sqlx::Error> {
    let (column, id) = match target {
        Target::Member(id) => ("target_member", id),
        Target::Household(id) => ("target_household", id),
    };
    let (credit,): (Option<i64>,) = sqlx::query_as(&format!(
        "SELECT sum(t.amount_minor - COALESCE((SELECT sum(a.amount_minor) FROM allocations a \
                                                WHERE a.transaction_id = t.id), 0))::int8 \
           FROM payment_decisions d JOIN transactions t ON t.id = d.transaction_id \
          WHERE d.{column} = $1 AND d.outcome IN ('matched', 'partly_paid', 'overpaid')"
    ))
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(credit.unwrap_or(0).max(0))
}

/// An identified incoming payment as the "payment received" notices and thank-you mails
/// describe it: amount (minor units), booking (else value) date, who (member or household,
/// with the name) and what it paid (schedule name, period first and last day per allocation,
/// oldest first; empty when it all went to credit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub payment_id: i64,
    pub amount_minor: i64,
    pub date: Option<Date>,
    pub target: Target,
    pub name: String,
    pub paid_for: Vec<(String, Date, Date)>,
}

/// The payments matching decided at exactly `at` (a run's instant, which every decision it
/// writes carries) without a person, to a member or household: what one sync just matched.
pub async fn matched_at(tx: &mut TenantTx, at: OffsetDateTime) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT transaction_id FROM payment_decisions \
          WHERE decided_at = $1 AND NOT by_person \
            AND outcome IN ('matched', 'partly_paid', 'overpaid') \
            AND (target_member IS NOT NULL OR target_household IS NOT NULL) \
          ORDER BY transaction_id",
    )
    .bind(at)
    .fetch_all(&mut **tx)
    .await
}

/// [`Received`] for these identified payments (others are left out), by payment id.
pub async fn received(tx: &mut TenantTx, payments: &[i64]) -> Result<Vec<Received>, sqlx::Error> {
    if payments.is_empty() {
        return Ok(Vec::new());
    }
    type Row = (
        i64,
        i64,
        Option<Date>,
        Option<Uuid>,
        Option<Uuid>,
        Option<String>,
        Vec<String>,
        Vec<Date>,
        Vec<Date>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.transaction_id, t.amount_minor, COALESCE(t.booking_date, t.value_date), \
                d.target_member, d.target_household, COALESCE(m.name, h.name), \
                ARRAY(SELECT s.name FROM allocations a JOIN charges c ON c.id = a.charge_id \
                        JOIN fee_schedules s ON s.id = c.schedule_id \
                       WHERE a.transaction_id = d.transaction_id ORDER BY c.period_start, a.id), \
                ARRAY(SELECT c.period_start FROM allocations a JOIN charges c ON c.id = a.charge_id \
                       WHERE a.transaction_id = d.transaction_id ORDER BY c.period_start, a.id), \
                ARRAY(SELECT c.period_end FROM allocations a JOIN charges c ON c.id = a.charge_id \
                       WHERE a.transaction_id = d.transaction_id ORDER BY c.period_start, a.id) \
           FROM payment_decisions d JOIN transactions t ON t.id = d.transaction_id \
           LEFT JOIN members m ON m.id = d.target_member \
           LEFT JOIN households h ON h.id = d.target_household \
          WHERE d.transaction_id = ANY($1) \
            AND d.outcome IN ('matched', 'partly_paid', 'overpaid') \
          ORDER BY d.transaction_id",
    )
    .bind(payments)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(payment_id, amount_minor, date, member, household, name, names, starts, ends)| {
                Some(Received {
                    payment_id,
                    amount_minor,
                    date,
                    target: super::target_of(member, household)?,
                    name: name.unwrap_or_default(),
                    paid_for: names
                        .into_iter()
                        .zip(starts)
                        .zip(ends)
                        .map(|((n, s), e)| (n, s, e))
                        .collect(),
                })
            },
        )
        .collect())
}

#[cfg(test)]
mod choice_tests {
    use super::*;
    use crate::member::{HouseholdId, MemberId};

    fn payer(name: &str, vs: &str) -> Payer {
        Payer {
            id: PayerId::Member(MemberId(Uuid::now_v7())),
            name: name.to_owned(),
            variable_symbol: Some(vs.to_owned()),
            archived: false,
        }
    }

    #[test]
    fn a_surname_several_members_share_is_ambiguous_and_lists_them_all() {
        let payers = vec![
            payer("Jan Novák", "1"),
            payer("Petr Novák", "2"),
            payer("Eva Nováková", "3"),
        ];
        assert!(matches!(
            resolve_choice(&payers, "novák"),
            Err(Error::AmbiguousChoice)
        ));
        let choices: Vec<Named> = payers
            .iter()
            .map(|p| Named {
                target: target_of_payer(p.id),
                name: p.name.clone(),
                variable_symbol: p.variable_symbol.clone(),
            })
            .collect();
        let names: Vec<String> = candidates(&choices, " Novák ")
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, ["Jan Novák", "Petr Novák"]);
    }

    #[test]
    fn a_whole_name_or_label_still_resolves_and_a_stranger_is_unknown() {
        let household = Payer {
            id: PayerId::Household(HouseholdId(Uuid::now_v7())),
            name: "Rodina Svobodova".to_owned(),
            variable_symbol: None,
            archived: false,
        };
        let payers = vec![payer("Jan Novák", "1"), household];
        assert!(resolve_choice(&payers, "jan novak").is_ok());
        assert!(resolve_choice(&payers, "Jan Novák (1)").is_ok());
        assert!(matches!(
            resolve_choice(&payers, "Karel"),
            Err(Error::UnknownTarget)
        ));
        // Only part of a name: never assigned by a guess, offered to confirm instead.
        assert!(matches!(
            resolve_choice(&payers, "Svobodova"),
            Err(Error::AmbiguousChoice)
        ));
    }
}
