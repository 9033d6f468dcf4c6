//! Read views of payments for the pages: the queue of unmatched payments with suggestions,
//! recently decided payments with their explanation, and a member's charges, payments and
//! balance. Amounts in minor units of CZK; `date` is the booking (else value) date.

use serde_json::Value;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::matching::{self, Evidence, Outcome, Rule, Target};
use crate::db::tenant::TenantTx;

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

/// The queue (ambiguous and unidentified incoming payments, newest first, at most `limit`),
/// each with up to three suggestions, best first.
pub async fn queue(tx: &mut TenantTx, limit: i64) -> Result<Vec<QueueItem>, sqlx::Error> {
    let rows: Vec<(i64, String, bool)> = sqlx::query_as(
        "SELECT d.transaction_id, d.outcome, \
                EXISTS (SELECT 1 FROM payment_actions x WHERE x.transaction_id = d.transaction_id \
                          AND x.undone_at IS NULL) \
           FROM payment_decisions d \
           JOIN transactions t ON t.id = d.transaction_id \
          WHERE d.outcome IN ('ambiguous', 'unidentified') \
          ORDER BY COALESCE(t.booking_date, t.value_date) DESC NULLS LAST, t.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let state = super::load_state(tx).await?;
    let names = Names::load(tx).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let lines = lines(tx, &ids).await?;
    let suggester = matching::Suggester::new(&state);
    let mut out = Vec::new();
    for (id, outcome, undoable) in rows {
        let (Some(p), Some(line)) = (
            state.payments.iter().find(|p| p.id == id),
            lines.iter().find(|l| l.id == id),
        ) else {
            continue;
        };
        let candidates = state
            .decisions
            .iter()
            .find(|d| d.payment_id == id)
            .map(|d| d.evidence.candidates.clone())
            .unwrap_or_default();
        let suggestions = suggester
            .suggest(p, 3)
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
        out.push(QueueItem {
            payment: line.clone(),
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Unidentified),
            suggestions,
            undoable,
        });
    }
    Ok(out)
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

/// Names of members and households, for explanations.
pub struct Names {
    members: Vec<(Uuid, String, String)>,
    households: Vec<(Uuid, String, Option<String>)>,
}

impl Names {
    pub async fn load(tx: &mut TenantTx) -> Result<Names, sqlx::Error> {
        Ok(Names {
            members: sqlx::query_as("SELECT id, name, variable_symbol FROM members")
                .fetch_all(&mut **tx)
                .await?,
            households: sqlx::query_as("SELECT id, name, variable_symbol FROM households")
                .fetch_all(&mut **tx)
                .await?,
        })
    }

    pub fn named(&self, target: Target) -> Option<Named> {
        match target {
            Target::Member(id) => self.members.iter().find(|m| m.0 == id).map(|m| Named {
                target,
                name: m.1.clone(),
                variable_symbol: Some(m.2.clone()),
            }),
            Target::Household(id) => self.households.iter().find(|h| h.0 == id).map(|h| Named {
                target,
                name: h.1.clone(),
                variable_symbol: h.2.clone(),
            }),
        }
    }

    /// Members and households to pick from when assigning by hand, by name.
    pub fn all(&self) -> Vec<Named> {
        let mut out: Vec<Named> = self
            .members
            .iter()
            .filter_map(|m| self.named(Target::Member(m.0)))
            .chain(
                self.households
                    .iter()
                    .filter_map(|h| self.named(Target::Household(h.0))),
            )
            .collect();
        out.sort_by_cached_key(|n| matching::normalize(&n.name));
        out
    }
}

#[derive(sqlx::FromRow)]
struct DecidedRow {
    #[sqlx(flatten)]
    decision: super::DecisionRow,
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
    let (credit,): (Option<i64>,) = sqlx::query_as(
        "SELECT sum(t.amount_minor - COALESCE((SELECT sum(a.amount_minor) FROM allocations a \
                                                WHERE a.transaction_id = t.id), 0))::int8 \
           FROM payment_decisions d JOIN transactions t ON t.id = d.transaction_id \
          WHERE d.target_member = $1 AND d.outcome IN ('matched', 'partly_paid', 'overpaid')",
    )
    .bind(member)
    .fetch_one(&mut **tx)
    .await?;
    let owed_minor = charges
        .iter()
        .filter(|c| c.due_on <= today)
        .map(|c| (c.amount_minor - c.paid_minor).max(0))
        .sum();
    let credit_minor = credit.unwrap_or(0).max(0);
    Ok(MemberLedger {
        charges,
        payments,
        allocations,
        credit_minor,
        owed_minor,
        balance_minor: credit_minor - owed_minor,
    })
}
