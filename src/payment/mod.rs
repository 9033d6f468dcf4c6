//! Payments of member fees: the club's decisions about bank payments (`payment_decisions`), the
//! allocations of payments to charges (`allocations`), people's changes with undo
//! (`payment_actions`) and the change stamp fee pages poll (`payment_stamp`).
//!
//! The rules live in the pure [`matching`] engine; this module loads its input from the tenant
//! schema, writes its [`matching::Plan`] in the caller's transaction ([`rerun`]), and runs after
//! every sync through [`AfterSync`] (the `sync::AfterLedgerApply` hook, wired in `app`).
//! A person's action ([`act`]) stores the payment's decision and allocations before and after,
//! writes the audit log, and can be undone ([`undo`]) while nothing else changed that payment.

pub mod matching;
pub mod views;

use serde_json::{Value, json};
use std::collections::HashMap;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::db::tenant::TenantTx;
use matching::{Allocation, Decision, Evidence, Outcome, Plan, Rule, State, Target};

/// Why a payment action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such incoming booked payment in this club.
    #[error("no such payment")]
    UnknownPayment,
    /// The member or household assigned to does not exist in this club.
    #[error("no such member or household")]
    UnknownTarget,
    /// The action does not apply to the payment's current state (e.g. confirming an
    /// unidentified payment, restoring one that is not irrelevant).
    #[error("the action does not apply to this payment now")]
    NotApplicable,
    /// Nothing to undo, or the payment changed since the action (undo would lose that change).
    #[error("nothing to undo, or the payment changed since")]
    CannotUndo,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Loads everything the engine needs from the tenant schema.
///
/// Payments: booked CZK rows that are incoming or reversals (outgoing payments never settle
/// fees). Members include archived ones (they may still pay old charges).
pub async fn load_state(tx: &mut TenantTx) -> Result<State, sqlx::Error> {
    let members = crate::member::matching_directory(tx).await?;
    let households = crate::member::matching_households(tx).await?;
    let charges: Vec<(Uuid, Uuid, i64, Date)> =
        sqlx::query_as("SELECT id, member_id, amount_minor, due_on FROM charges")
            .fetch_all(&mut **tx)
            .await?;
    let payments: Vec<PaymentRow> = sqlx::query_as(
        "SELECT id, account_id, status = 'booked' AS booked, amount_minor, reversal, \
                COALESCE(booking_date, value_date) AS date, variable_symbol, message, \
                counterparty_name, counterparty_iban, counterparty_account, counterparty_bank_code \
           FROM transactions \
          WHERE status = 'booked' AND currency = 'CZK' AND (amount_minor > 0 OR reversal)",
    )
    .fetch_all(&mut **tx)
    .await?;
    let allocations: Vec<AllocationRow> = sqlx::query_as(
        "SELECT transaction_id, charge_id, member_id, amount_minor, rule, evidence FROM allocations",
    )
    .fetch_all(&mut **tx)
    .await?;
    let decisions: Vec<DecisionRow> = sqlx::query_as(
        "SELECT transaction_id, outcome, target_member, target_household, rule, evidence, \
                by_person FROM payment_decisions",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(State {
        members: members
            .into_iter()
            .map(|m| matching::MemberRef {
                id: m.id.0,
                name: m.name,
                vs_key: m.vs_key,
                household: m.household_id.map(|h| h.0),
            })
            .collect(),
        households: households
            .into_iter()
            .map(|h| matching::HouseholdRef {
                id: h.id.0,
                name: h.name,
                vs_key: h.vs_key,
            })
            .collect(),
        charges: charges
            .into_iter()
            .map(|(id, member, amount_minor, due_on)| matching::Charge {
                id,
                member,
                amount_minor,
                due_on,
            })
            .collect(),
        payments: payments.into_iter().map(PaymentRow::into_payment).collect(),
        allocations: allocations
            .into_iter()
            .map(AllocationRow::into_allocation)
            .collect(),
        decisions: decisions
            .into_iter()
            .map(DecisionRow::into_decision)
            .collect(),
    })
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: i64,
    account_id: Uuid,
    booked: bool,
    amount_minor: i64,
    reversal: bool,
    date: Option<Date>,
    variable_symbol: Option<String>,
    message: Option<String>,
    counterparty_name: Option<String>,
    counterparty_iban: Option<String>,
    counterparty_account: Option<String>,
    counterparty_bank_code: Option<String>,
}

impl PaymentRow {
    fn into_payment(self) -> matching::Payment {
        let counterparty = matching::account_key(
            self.counterparty_iban.as_deref(),
            self.counterparty_account.as_deref(),
            self.counterparty_bank_code.as_deref(),
        );
        matching::Payment {
            id: self.id,
            account_id: self.account_id,
            booked: self.booked,
            amount_minor: self.amount_minor,
            reversal: self.reversal,
            date: self.date,
            variable_symbol: self.variable_symbol,
            message: self.message,
            counterparty_name: self.counterparty_name,
            counterparty,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AllocationRow {
    transaction_id: i64,
    charge_id: Uuid,
    member_id: Uuid,
    amount_minor: i64,
    rule: String,
    evidence: Value,
}

impl AllocationRow {
    fn into_allocation(self) -> Allocation {
        Allocation {
            payment_id: self.transaction_id,
            charge_id: self.charge_id,
            member: self.member_id,
            amount_minor: self.amount_minor,
            rule: Rule::parse(&self.rule).unwrap_or(Rule::None),
            evidence: serde_json::from_value(self.evidence).unwrap_or_default(),
        }
    }
}

/// A `payment_decisions` row (also the head of the pages' decided rows).
#[derive(sqlx::FromRow)]
pub(crate) struct DecisionRow {
    transaction_id: i64,
    outcome: String,
    target_member: Option<Uuid>,
    target_household: Option<Uuid>,
    rule: String,
    evidence: Value,
    by_person: bool,
}

impl DecisionRow {
    pub(crate) fn into_decision(self) -> Decision {
        Decision {
            payment_id: self.transaction_id,
            outcome: Outcome::parse(&self.outcome).unwrap_or(Outcome::Unidentified),
            target: target_of(self.target_member, self.target_household),
            rule: Rule::parse(&self.rule).unwrap_or(Rule::None),
            evidence: serde_json::from_value(self.evidence).unwrap_or_default(),
            by_person: self.by_person,
        }
    }
}

fn target_of(member: Option<Uuid>, household: Option<Uuid>) -> Option<Target> {
    match (member, household) {
        (Some(m), _) => Some(Target::Member(m)),
        (None, Some(h)) => Some(Target::Household(h)),
        (None, None) => None,
    }
}

fn split_target(target: Option<Target>) -> (Option<Uuid>, Option<Uuid>) {
    match target {
        Some(Target::Member(m)) => (Some(m), None),
        Some(Target::Household(h)) => (None, Some(h)),
        None => (None, None),
    }
}

/// Who decided, for `payment_decisions.decided_by*`.
fn decider(actor: Option<&Actor>) -> (Option<Uuid>, Option<String>) {
    actor.map_or((None, None), |a| (a.user_id, a.email.clone()))
}

async fn upsert_decision(
    tx: &mut TenantTx,
    d: &Decision,
    actor: Option<&Actor>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    upsert_decisions(tx, std::slice::from_ref(d), actor, now).await
}

/// Inserts or replaces the decisions of several payments in one statement (a first sync
/// decides tens of thousands), all decided by `actor` (`None`: the engine) at `now`.
async fn upsert_decisions(
    tx: &mut TenantTx,
    decisions: &[Decision],
    actor: Option<&Actor>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let (members, households): (Vec<Option<Uuid>>, Vec<Option<Uuid>>) =
        decisions.iter().map(|d| split_target(d.target)).unzip();
    let (user, email) = decider(actor);
    sqlx::query(
        "INSERT INTO payment_decisions (transaction_id, outcome, target_member, target_household, \
                rule, evidence, by_person, decided_by, decided_by_email, decided_at) \
         SELECT u.t, u.o, u.m, u.h, u.r, u.e, u.p, $8, $9, $10 \
           FROM UNNEST($1::int8[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], \
                       $7::bool[]) AS u(t, o, m, h, r, e, p) \
         ON CONFLICT (transaction_id) DO UPDATE SET outcome = excluded.outcome, \
                target_member = excluded.target_member, \
                target_household = excluded.target_household, rule = excluded.rule, \
                evidence = excluded.evidence, by_person = excluded.by_person, \
                decided_by = excluded.decided_by, decided_by_email = excluded.decided_by_email, \
                decided_at = excluded.decided_at",
    )
    .bind(decisions.iter().map(|d| d.payment_id).collect::<Vec<_>>())
    .bind(
        decisions
            .iter()
            .map(|d| d.outcome.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(members)
    .bind(households)
    .bind(
        decisions
            .iter()
            .map(|d| d.rule.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        decisions
            .iter()
            .map(|d| serde_json::to_value(&d.evidence).unwrap_or_default())
            .collect::<Vec<_>>(),
    )
    .bind(decisions.iter().map(|d| d.by_person).collect::<Vec<_>>())
    .bind(user)
    .bind(email)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes a plan: clears reversed payments' allocations, upserts decisions and inserts
/// allocations (one statement each), and moves the stamp when anything changed.
pub async fn apply_plan(
    tx: &mut TenantTx,
    plan: &Plan,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    if plan.is_empty() {
        return Ok(());
    }
    if !plan.cleared.is_empty() {
        sqlx::query("DELETE FROM allocations WHERE transaction_id = ANY($1)")
            .bind(&plan.cleared)
            .execute(&mut **tx)
            .await?;
    }
    if !plan.decisions.is_empty() {
        upsert_decisions(tx, &plan.decisions, None, now).await?;
    }
    if !plan.allocations.is_empty() {
        let a = &plan.allocations;
        sqlx::query(
            "INSERT INTO allocations (transaction_id, charge_id, member_id, amount_minor, rule, \
                                      evidence, created_at) \
             SELECT u.t, u.c, u.m, u.a, u.r, u.e, $7 \
               FROM UNNEST($1::int8[], $2::uuid[], $3::uuid[], $4::int8[], $5::text[], \
                           $6::jsonb[]) AS u(t, c, m, a, r, e)",
        )
        .bind(a.iter().map(|x| x.payment_id).collect::<Vec<_>>())
        .bind(a.iter().map(|x| x.charge_id).collect::<Vec<_>>())
        .bind(a.iter().map(|x| x.member).collect::<Vec<_>>())
        .bind(a.iter().map(|x| x.amount_minor).collect::<Vec<_>>())
        .bind(a.iter().map(|x| x.rule.as_str()).collect::<Vec<_>>())
        .bind(
            a.iter()
                .map(|x| serde_json::to_value(&x.evidence).unwrap_or_default())
                .collect::<Vec<_>>(),
        )
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    bump_stamp(tx).await
}

/// Moves the club's payment stamp (open fee pages reload their live sections).
pub async fn bump_stamp(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payment_stamp SET version = version + 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The club's payment stamp: a number that moves whenever decisions or allocations change.
pub async fn stamp(tx: &mut TenantTx) -> Result<i64, sqlx::Error> {
    let (v,): (i64,) = sqlx::query_as("SELECT version FROM payment_stamp")
        .fetch_one(&mut **tx)
        .await?;
    Ok(v)
}

/// What a run changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub charges_created: u64,
    pub decisions: usize,
    pub allocations: usize,
}

/// Generates due charges (`fee::generate_charges` up to `today`, a Prague date) and runs the
/// matching engine over the club, writing its plan in `tx`. Running it twice changes nothing
/// the second time.
pub async fn rerun(
    tx: &mut TenantTx,
    today: Date,
    now: OffsetDateTime,
) -> Result<RunReport, sqlx::Error> {
    let charges_created = crate::fee::generate_charges(tx, today, now).await?;
    let state = load_state(tx).await?;
    let plan = matching::run(&state);
    apply_plan(tx, &plan, now).await?;
    if charges_created > 0 && plan.is_empty() {
        bump_stamp(tx).await?;
    }
    Ok(RunReport {
        charges_created,
        decisions: plan.decisions.len(),
        allocations: plan.allocations.len(),
    })
}

/// `rerun` on demand, by a person: also writes the audit log.
pub async fn rerun_by(
    tx: &mut TenantTx,
    actor: &Actor,
    today: Date,
    now: OffsetDateTime,
) -> Result<RunReport, sqlx::Error> {
    let report = rerun(tx, today, now).await?;
    audit::record(
        tx,
        actor,
        "payment.rerun",
        json!({ "decisions": report.decisions, "allocations": report.allocations,
                "charges": report.charges_created }),
        now,
    )
    .await?;
    Ok(report)
}

/// The sync hook: matching inside the sync's tenant transaction, right after the ledger write.
#[derive(Debug, Clone, Copy, Default)]
pub struct AfterSync;

impl crate::sync::AfterLedgerApply for AfterSync {
    fn after_apply<'a>(
        &'a self,
        tx: &'a mut TenantTx,
        _account_id: Uuid,
        now: OffsetDateTime,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let today = crate::i18n::to_prague(now).date();
            rerun(tx, today, now).await.map(|_| ())
        })
    }
}

/// A person's change to one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Assign (or reassign) to a member or household: its allocations are laid anew.
    Assign(Target),
    /// Confirm the automatic match as it is (its account is remembered from now on).
    Confirm,
    /// Remove the match: back to the queue as unidentified, decided by a person.
    Unmatch,
    /// Not a fee payment: out of the queue, restorable.
    MarkIrrelevant,
    /// Undo "irrelevant": the engine decides again.
    Restore,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Assign(_) => "payment.assign",
            Action::Confirm => "payment.confirm",
            Action::Unmatch => "payment.unmatch",
            Action::MarkIrrelevant => "payment.irrelevant",
            Action::Restore => "payment.restore",
        }
    }
}

/// The decision and allocations of one payment, as JSON (without ids), for undo.
async fn snapshot(tx: &mut TenantTx, payment: i64) -> Result<Value, sqlx::Error> {
    let (v,): (Value,) = sqlx::query_as(
        "SELECT jsonb_build_object( \
            'decision', (SELECT to_jsonb(d) - 'transaction_id' FROM payment_decisions d \
                          WHERE d.transaction_id = $1), \
            'allocations', COALESCE((SELECT jsonb_agg(to_jsonb(a) - 'id' - 'transaction_id' \
                                               ORDER BY a.charge_id, a.amount_minor, a.rule) \
                                       FROM allocations a WHERE a.transaction_id = $1), \
                                    '[]'::jsonb))",
    )
    .bind(payment)
    .fetch_one(&mut **tx)
    .await?;
    Ok(v)
}

async fn restore_snapshot(
    tx: &mut TenantTx,
    payment: i64,
    snap: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM allocations WHERE transaction_id = $1")
        .bind(payment)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM payment_decisions WHERE transaction_id = $1")
        .bind(payment)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO payment_decisions \
         SELECT * FROM jsonb_populate_record(NULL::payment_decisions, \
                 ($2::jsonb -> 'decision') || jsonb_build_object('transaction_id', $1::int8)) \
          WHERE jsonb_typeof($2::jsonb -> 'decision') = 'object'",
    )
    .bind(payment)
    .bind(snap)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO allocations (transaction_id, charge_id, member_id, amount_minor, rule, \
                                  evidence, created_at) \
         SELECT $1, charge_id, member_id, amount_minor, rule, evidence, created_at \
           FROM jsonb_populate_recordset(NULL::allocations, $2::jsonb -> 'allocations')",
    )
    .bind(payment)
    .bind(snap)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn clear_allocations(tx: &mut TenantTx, payment: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM allocations WHERE transaction_id = $1")
        .bind(payment)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Does a person's action on an incoming booked payment (see [`Action`]), then re-runs matching
/// so the payment's allocations follow, records the before/after state for [`undo`] and writes
/// the audit log — all in `tx`. Returns the action's id.
///
/// Errors: [`Error::UnknownPayment`], [`Error::UnknownTarget`], [`Error::NotApplicable`].
pub async fn act(
    tx: &mut TenantTx,
    actor: &Actor,
    payment: i64,
    action: Action,
    today: Date,
    now: OffsetDateTime,
) -> Result<i64, Error> {
    let state = load_state(tx).await?;
    let p = state
        .payments
        .iter()
        .find(|p| p.id == payment && p.settles())
        .ok_or(Error::UnknownPayment)?;
    let current = state.decisions.iter().find(|d| d.payment_id == payment);
    let before = snapshot(tx, payment).await?;
    let person = |outcome, target, rule, evidence| Decision {
        payment_id: p.id,
        outcome,
        target,
        rule,
        evidence,
        by_person: true,
    };
    match action {
        Action::Assign(target) => {
            let exists = match target {
                Target::Member(id) => state.members.iter().any(|m| m.id == id),
                Target::Household(id) => state.households.iter().any(|h| h.id == id),
            };
            if !exists {
                return Err(Error::UnknownTarget);
            }
            if current.is_some_and(|d| d.outcome == Outcome::Reversed) {
                return Err(Error::NotApplicable);
            }
            clear_allocations(tx, payment).await?;
            // The outcome is settled by the allocation below; "matched" until then.
            let d = person(
                Outcome::Matched,
                Some(target),
                Rule::Person,
                Evidence::default(),
            );
            upsert_decision(tx, &d, Some(actor), now).await?;
        }
        Action::Confirm => {
            let d = current
                .filter(|d| d.target.is_some() && !d.by_person)
                .ok_or(Error::NotApplicable)?;
            let d = Decision {
                by_person: true,
                ..d.clone()
            };
            upsert_decision(tx, &d, Some(actor), now).await?;
        }
        Action::Unmatch => {
            if current.is_none_or(|d| d.target.is_none() || d.outcome == Outcome::Reversed) {
                return Err(Error::NotApplicable);
            }
            clear_allocations(tx, payment).await?;
            let d = person(
                Outcome::Unidentified,
                None,
                Rule::Person,
                Evidence::default(),
            );
            upsert_decision(tx, &d, Some(actor), now).await?;
        }
        Action::MarkIrrelevant => {
            if current.is_some_and(|d| matches!(d.outcome, Outcome::Irrelevant | Outcome::Reversed))
            {
                return Err(Error::NotApplicable);
            }
            clear_allocations(tx, payment).await?;
            let d = person(Outcome::Irrelevant, None, Rule::Person, Evidence::default());
            upsert_decision(tx, &d, Some(actor), now).await?;
        }
        Action::Restore => {
            if current.is_none_or(|d| d.outcome != Outcome::Irrelevant) {
                return Err(Error::NotApplicable);
            }
            sqlx::query("DELETE FROM payment_decisions WHERE transaction_id = $1")
                .bind(payment)
                .execute(&mut **tx)
                .await?;
        }
    }
    // Lay the assignment onto charges (and let the engine decide a restored payment).
    let state = load_state(tx).await?;
    let plan = matching::run(&state);
    apply_plan(tx, &plan, now).await?;
    settle_person_outcome(tx, &state, &plan, payment).await?;
    bump_stamp(tx).await?;
    let after = snapshot(tx, payment).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO payment_actions (transaction_id, action, before, after, actor_user_id, \
                                      actor_email, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(payment)
    .bind(action.name())
    .bind(&before)
    .bind(&after)
    .bind(actor.user_id)
    .bind(&actor.email)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let target = match action {
        Action::Assign(Target::Member(id)) => json!({ "member": id }),
        Action::Assign(Target::Household(id)) => json!({ "household": id }),
        _ => json!({}),
    };
    audit::record(
        tx,
        actor,
        action.name(),
        json!({ "payment": payment, "amount_minor": p.amount_minor, "target": target,
                "today": today.to_string() }),
        now,
    )
    .await?;
    Ok(id)
}

/// A person's assignment is stored as "matched"; once allocated, it says what it really is
/// (partly paid, overpaid), like an automatic match.
async fn settle_person_outcome(
    tx: &mut TenantTx,
    before_run: &State,
    plan: &Plan,
    payment: i64,
) -> Result<(), sqlx::Error> {
    let Some(p) = before_run.payments.iter().find(|p| p.id == payment) else {
        return Ok(());
    };
    let Some(d) = before_run
        .decisions
        .iter()
        .find(|d| d.payment_id == payment && d.by_person && d.rule == Rule::Person)
    else {
        return Ok(());
    };
    if d.target.is_none() {
        return Ok(());
    }
    let mine: Vec<&Allocation> = plan
        .allocations
        .iter()
        .filter(|a| a.payment_id == payment)
        .collect();
    let used: i64 = mine.iter().map(|a| a.amount_minor).sum();
    let mut open: HashMap<Uuid, i64> = before_run
        .charges
        .iter()
        .map(|c| (c.id, c.amount_minor))
        .collect();
    for a in before_run.allocations.iter().chain(plan.allocations.iter()) {
        if let Some(o) = open.get_mut(&a.charge_id) {
            *o -= a.amount_minor;
        }
    }
    let partly = mine
        .last()
        .is_some_and(|a| open.get(&a.charge_id).copied().unwrap_or(0) > 0);
    let outcome = if used < p.amount_minor {
        Outcome::Overpaid
    } else if partly {
        Outcome::PartlyPaid
    } else {
        Outcome::Matched
    };
    if outcome != d.outcome {
        sqlx::query("UPDATE payment_decisions SET outcome = $2 WHERE transaction_id = $1")
            .bind(payment)
            .bind(outcome.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Undoes the latest not-yet-undone action on a payment, if the payment is still exactly as the
/// action left it; records the undo in the audit log. Errors: [`Error::CannotUndo`].
pub async fn undo(
    tx: &mut TenantTx,
    actor: &Actor,
    payment: i64,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let last: Option<(i64, String, Value, Value)> = sqlx::query_as(
        "SELECT id, action, before, after FROM payment_actions \
          WHERE transaction_id = $1 AND undone_at IS NULL ORDER BY id DESC LIMIT 1 FOR UPDATE",
    )
    .bind(payment)
    .fetch_optional(&mut **tx)
    .await?;
    let (id, action, before, after) = last.ok_or(Error::CannotUndo)?;
    if snapshot(tx, payment).await? != after {
        return Err(Error::CannotUndo);
    }
    restore_snapshot(tx, payment, &before).await?;
    // Meanwhile another payment may have settled a charge this one paid before: then the old
    // state cannot come back without paying a charge twice.
    let (overpaid,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM charges c \
                          JOIN (SELECT charge_id, sum(amount_minor) AS paid FROM allocations \
                                 WHERE charge_id IN (SELECT charge_id FROM allocations \
                                                      WHERE transaction_id = $1) \
                                 GROUP BY charge_id) s ON s.charge_id = c.id \
                         WHERE s.paid > c.amount_minor)",
    )
    .bind(payment)
    .fetch_one(&mut **tx)
    .await?;
    if overpaid {
        return Err(Error::CannotUndo);
    }
    sqlx::query("UPDATE payment_actions SET undone_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    bump_stamp(tx).await?;
    audit::record(
        tx,
        actor,
        "payment.undo",
        json!({ "payment": payment, "undone": action }),
        now,
    )
    .await?;
    Ok(())
}
