//! Payments of member fees: the club's decisions about bank payments (`payment_decisions`), the
//! allocations of payments to charges (`allocations`), people's changes with undo
//! (`payment_actions`), the change stamp fee pages poll and the scan bookkeeping
//! (`payment_stamp`, `payment_scan`).
//!
//! The rules live in the pure [`matching`] engine; [`input`] loads only what a run can change,
//! this module writes the engine's [`matching::Plan`] in the caller's transaction ([`rerun`]),
//! and runs after every sync through [`AfterSync`] (the `sync::AfterLedgerApply` hook, wired in
//! `app`). Incoming payments booked before the club's tracking start (`fee::tracking`) are not
//! used at all. A person's action ([`act`], [`assign`]) stores the payment's decision and
//! allocations before and after, writes the audit log, and can be undone ([`undo`]) while
//! nothing else changed that payment. Runs of one club are serialised (an advisory lock), so
//! two syncs never pay one charge twice.

pub mod bulk;
mod input;
pub mod matching;
pub mod overview;
pub mod views;

use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::db::tenant::{Tenant, TenantTx};
use input::Scope;
use matching::{Allocation, Decision, Evidence, Outcome, Plan, Rule, State, Target};

/// Why a payment action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such incoming booked payment in this club.
    #[error("no such payment")]
    UnknownPayment,
    /// Nobody was chosen to assign the payment to.
    #[error("nobody chosen")]
    NoChoice,
    /// The member or household assigned to does not exist in this club.
    #[error("no such member or household")]
    UnknownTarget,
    /// The typed name fits several members or households.
    #[error("several members fit")]
    AmbiguousChoice,
    /// The member is archived: restore them first.
    #[error("the member is archived")]
    ArchivedTarget,
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

pub(crate) fn target_of(member: Option<Uuid>, household: Option<Uuid>) -> Option<Target> {
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

/// Serialises matching within the club until the transaction ends (syncs of two accounts, a
/// person's action): runs never see each other's half-made allocations.
async fn lock_matching(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), 8)")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A person's decision about one payment (`account_key`: its counter-account, '' for none).
async fn upsert_decision(
    tx: &mut TenantTx,
    d: &Decision,
    account_key: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let (member, household) = split_target(d.target);
    sqlx::query(
        "INSERT INTO payment_decisions (transaction_id, outcome, target_member, target_household, \
                rule, evidence, by_person, decided_by, decided_by_email, decided_at, account_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (transaction_id) DO UPDATE SET outcome = excluded.outcome, \
                target_member = excluded.target_member, \
                target_household = excluded.target_household, rule = excluded.rule, \
                evidence = excluded.evidence, by_person = excluded.by_person, \
                decided_by = excluded.decided_by, decided_by_email = excluded.decided_by_email, \
                decided_at = excluded.decided_at, account_key = excluded.account_key",
    )
    .bind(d.payment_id)
    .bind(d.outcome.as_str())
    .bind(member)
    .bind(household)
    .bind(d.rule.as_str())
    .bind(serde_json::to_value(&d.evidence).unwrap_or_default())
    .bind(d.by_person)
    .bind(actor.user_id)
    .bind(&actor.email)
    .bind(now)
    .bind(account_key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Recomputes what the allocations of `payments` and `charges` imply: each decision's
/// unallocated remainder (`left_minor`, only for identified payments) and each charge's paid
/// sum (`fee::set_paid`). Called after every change of allocations.
async fn refresh(tx: &mut TenantTx, payments: &[i64], charges: &[Uuid]) -> Result<(), sqlx::Error> {
    if !payments.is_empty() {
        sqlx::query(
            "UPDATE payment_decisions d SET left_minor = v.left_minor FROM ( \
                SELECT d2.transaction_id, \
                       CASE WHEN d2.outcome IN ('matched', 'partly_paid', 'overpaid') \
                             AND (d2.target_member IS NOT NULL OR d2.target_household IS NOT NULL) \
                            THEN GREATEST(t.amount_minor - COALESCE( \
                                   (SELECT sum(a.amount_minor) FROM allocations a \
                                     WHERE a.transaction_id = d2.transaction_id), 0), 0) \
                            ELSE 0 END AS left_minor \
                  FROM payment_decisions d2 JOIN transactions t ON t.id = d2.transaction_id \
                 WHERE d2.transaction_id = ANY($1)) v \
             WHERE d.transaction_id = v.transaction_id AND d.left_minor <> v.left_minor",
        )
        .bind(payments)
        .execute(&mut **tx)
        .await?;
    }
    if !charges.is_empty() {
        let paid: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT c.id, COALESCE(sum(a.amount_minor), 0)::int8 \
               FROM UNNEST($1::uuid[]) AS c(id) LEFT JOIN allocations a ON a.charge_id = c.id \
              GROUP BY c.id",
        )
        .bind(charges)
        .fetch_all(&mut **tx)
        .await?;
        crate::fee::set_paid(tx, &paid).await?;
    }
    Ok(())
}

/// Removes every allocation of `payments`; returns the charges they paid (still to refresh).
async fn delete_allocations(tx: &mut TenantTx, payments: &[i64]) -> Result<Vec<Uuid>, sqlx::Error> {
    if payments.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "DELETE FROM allocations WHERE transaction_id = ANY($1) RETURNING charge_id",
    )
    .bind(payments)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(c,)| c)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

/// Writes a plan over `state` (the input it was made from): clears reversed payments'
/// allocations, upserts decisions and inserts allocations (one statement each), refreshes
/// remainders and paid sums, and moves the stamp when anything changed.
pub(crate) async fn apply_plan(
    tx: &mut TenantTx,
    state: &State,
    plan: &Plan,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    if plan.is_empty() {
        return Ok(());
    }
    let mut charges: BTreeSet<Uuid> = delete_allocations(tx, &plan.cleared)
        .await?
        .into_iter()
        .collect();
    charges.extend(plan.allocations.iter().map(|x| x.charge_id));
    // What the plan leaves, known before writing: each decision is written with its payment's
    // remainder, so a first sync writes every decision row once, not twice.
    let Effects { left, paid } = effects(state, plan, &charges);
    let left: HashMap<i64, i64> = left.into_iter().collect();
    // One decision per payment (the last one wins), as the engine means it.
    let mut decisions: HashMap<i64, &Decision> = HashMap::new();
    for d in &plan.decisions {
        decisions.insert(d.payment_id, d);
    }
    let mut decisions: Vec<&Decision> = decisions.into_values().collect();
    decisions.sort_by_key(|d| d.payment_id);
    if !decisions.is_empty() {
        let accounts: HashMap<i64, &str> = state
            .payments
            .iter()
            .map(|p| (p.id, p.counterparty.as_deref().unwrap_or("")))
            .collect();
        // Payments the state holds no decision for have no row (new payments; a rebuild
        // deleted the others before loading): a plain insert, which costs half an upsert.
        let decided: BTreeSet<i64> = state.decisions.iter().map(|d| d.payment_id).collect();
        let (again, first): (Vec<&Decision>, Vec<&Decision>) = decisions
            .iter()
            .copied()
            .partition(|d| decided.contains(&d.payment_id));
        let rows = DecisionRows {
            accounts: &accounts,
            left: &left,
            now,
        };
        rows.write(tx, &first, false).await?;
        rows.write(tx, &again, true).await?;
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
    // The remainders of payments the plan touched without deciding them again.
    let decided: BTreeSet<i64> = decisions.iter().map(|d| d.payment_id).collect();
    let rest: Vec<(i64, i64)> = left
        .into_iter()
        .filter(|(id, _)| !decided.contains(id))
        .collect();
    if !rest.is_empty() {
        sqlx::query(
            "UPDATE payment_decisions d SET left_minor = u.left_minor \
               FROM UNNEST($1::int8[], $2::int8[]) AS u(id, left_minor) \
              WHERE d.transaction_id = u.id AND d.left_minor <> u.left_minor",
        )
        .bind(rest.iter().map(|l| l.0).collect::<Vec<_>>())
        .bind(rest.iter().map(|l| l.1).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    crate::fee::set_paid(tx, &paid).await?;
    bump_stamp(tx).await
}

/// How [`apply_plan`] writes decisions: each with its payment's counter-account key and
/// remainder (minor units), decided at `now`.
struct DecisionRows<'a> {
    accounts: &'a HashMap<i64, &'a str>,
    left: &'a HashMap<i64, i64>,
    now: OffsetDateTime,
}

impl DecisionRows<'_> {
    /// Inserts `decisions` in one statement; with `upsert`, a payment's existing decision is
    /// replaced (and its person cleared), else the rows must be new.
    async fn write(
        &self,
        tx: &mut TenantTx,
        decisions: &[&Decision],
        upsert: bool,
    ) -> Result<(), sqlx::Error> {
        if decisions.is_empty() {
            return Ok(());
        }
        let targets: Vec<(Option<Uuid>, Option<Uuid>)> =
            decisions.iter().map(|d| split_target(d.target)).collect();
        let conflict = if upsert {
            " ON CONFLICT (transaction_id) DO UPDATE SET outcome = excluded.outcome, \
                    target_member = excluded.target_member, \
                    target_household = excluded.target_household, rule = excluded.rule, \
                    evidence = excluded.evidence, by_person = excluded.by_person, \
                    decided_by = NULL, decided_by_email = NULL, \
                    decided_at = excluded.decided_at, account_key = excluded.account_key, \
                    left_minor = excluded.left_minor"
        } else {
            ""
        };
        sqlx::query(&format!(
            "INSERT INTO payment_decisions (transaction_id, outcome, target_member, \
                    target_household, rule, evidence, by_person, account_key, left_minor, \
                    decided_at) \
             SELECT u.t, u.o, u.m, u.h, u.r, u.e, u.p, u.k, u.l, $10 \
               FROM UNNEST($1::int8[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], \
                           $6::jsonb[], $7::bool[], $8::text[], $9::int8[]) \
                    AS u(t, o, m, h, r, e, p, k, l){conflict}"
        ))
        .bind(decisions.iter().map(|d| d.payment_id).collect::<Vec<_>>())
        .bind(
            decisions
                .iter()
                .map(|d| d.outcome.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(targets.iter().map(|t| t.0).collect::<Vec<_>>())
        .bind(targets.iter().map(|t| t.1).collect::<Vec<_>>())
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
        .bind(
            decisions
                .iter()
                .map(|d| self.accounts.get(&d.payment_id).copied().unwrap_or(""))
                .collect::<Vec<_>>(),
        )
        .bind(
            decisions
                .iter()
                .map(|d| self.left.get(&d.payment_id).copied().unwrap_or(0))
                .collect::<Vec<_>>(),
        )
        .bind(self.now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// What a plan leaves (the numbers [`refresh`] reads back from the tables, without reading
/// them), in minor units.
struct Effects {
    /// (payment, remainder): each payment the plan touches (identified ones; others 0).
    left: Vec<(i64, i64)>,
    /// (charge, paid sum).
    paid: Vec<(Uuid, i64)>,
}

/// [`Effects`] of `plan` over the state it was made from (which holds every allocation of its
/// payments and charges), for the charges in `charges`.
fn effects(state: &State, plan: &Plan, charges: &BTreeSet<Uuid>) -> Effects {
    let cleared: BTreeSet<i64> = plan.cleared.iter().copied().collect();
    let standing = state
        .allocations
        .iter()
        .filter(|a| !cleared.contains(&a.payment_id))
        .chain(plan.allocations.iter());
    let mut of_payment: HashMap<i64, i64> = HashMap::new();
    let mut of_charge: HashMap<Uuid, i64> = HashMap::new();
    for a in standing {
        *of_payment.entry(a.payment_id).or_default() += a.amount_minor;
        *of_charge.entry(a.charge_id).or_default() += a.amount_minor;
    }
    let mut decisions: HashMap<i64, &Decision> =
        state.decisions.iter().map(|d| (d.payment_id, d)).collect();
    for d in &plan.decisions {
        decisions.insert(d.payment_id, d);
    }
    let touched: BTreeSet<i64> = plan
        .cleared
        .iter()
        .copied()
        .chain(plan.decisions.iter().map(|d| d.payment_id))
        .chain(plan.allocations.iter().map(|a| a.payment_id))
        .collect();
    let left = state
        .payments
        .iter()
        .filter(|p| touched.contains(&p.id))
        .map(|p| {
            let identified = decisions.get(&p.id).is_some_and(|d| {
                d.target.is_some()
                    && matches!(
                        d.outcome,
                        Outcome::Matched | Outcome::PartlyPaid | Outcome::Overpaid
                    )
            });
            let left = if identified {
                (p.amount_minor - of_payment.get(&p.id).copied().unwrap_or(0)).max(0)
            } else {
                0
            };
            (p.id, left)
        })
        .collect();
    let paid = charges
        .iter()
        .map(|c| (*c, of_charge.get(c).copied().unwrap_or(0)))
        .collect();
    Effects { left, paid }
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

/// The club's payment stamp read outside any transaction, in one round trip (as [`stamp`]):
/// what open fee pages poll, and the fee overview's first step.
pub async fn current_stamp(pool: &sqlx::PgPool, tenant: &Tenant) -> Result<i64, sqlx::Error> {
    let (v,): (i64,) = sqlx::query_as(&format!(
        "SELECT version FROM {}",
        tenant.table("payment_stamp")
    ))
    .fetch_one(pool)
    .await?;
    Ok(v)
}

/// What a run changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub charges_created: u64,
    pub decisions: usize,
    pub allocations: usize,
    /// The tracking start differed from the last run's: every automatic decision was made anew.
    pub rebuilt: bool,
}

/// Removes every automatic decision (not a person's) with its allocations, before the whole
/// history from the tracking start is decided again.
async fn forget_automatic(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "WITH gone AS (DELETE FROM payment_decisions WHERE NOT by_person \
                        RETURNING transaction_id) \
         DELETE FROM allocations a USING gone WHERE a.transaction_id = gone.transaction_id \
         RETURNING a.charge_id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let charges: Vec<Uuid> = rows
        .into_iter()
        .map(|(c,)| c)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    refresh(tx, &[], &charges).await
}

/// Generates due charges (`fee::generate_charges` up to `today`, a Prague date) and runs the
/// matching engine over what can change (see [`input`]), writing its plan in `tx`.
///
/// Only incoming payments from the club's tracking start count (`fee::tracking`; none before
/// the first schedule). When that start differs from the last run's, every automatic decision
/// and its allocations are removed and the payments from the start are decided again (a
/// person's decisions stay). Running it twice writes nothing the second time.
#[tracing::instrument(name = "matching", skip_all, fields(club = %tx.key()))]
pub async fn rerun(
    tx: &mut TenantTx,
    today: Date,
    now: OffsetDateTime,
) -> Result<RunReport, sqlx::Error> {
    let started = std::time::Instant::now();
    lock_matching(tx).await?;
    let charges_created = crate::fee::generate_charges(tx, today, now).await?;
    let from = crate::fee::tracking::payments_from(tx).await?.effective();
    let directory = input::directory(tx).await?;
    let scan_key = from.map_or_else(|| "none".to_owned(), |d| d.to_string());
    let directory_key = input::directory_key(&directory);
    let (seen_scan, seen_directory): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT scan_key, directory_key FROM payment_stamp")
            .fetch_one(&mut **tx)
            .await?;
    let rebuilt = seen_scan.as_deref() != Some(scan_key.as_str());
    if rebuilt {
        forget_automatic(tx).await?;
        input::reset_scan(tx).await?;
    }
    input::key_unkeyed_decisions(tx).await?;
    let whole_queue = rebuilt || seen_directory.as_deref() != Some(directory_key.as_str());
    let scope = Scope {
        from,
        extra: Vec::new(),
        whole_queue,
    };
    let prepared = started.elapsed();
    let state = input::load(tx, &scope, directory).await?;
    let loaded = started.elapsed();
    let plan = matching::run(&state);
    let planned = started.elapsed();
    apply_plan(tx, &state, &plan, now).await?;
    let applied = started.elapsed();
    if from.is_some() {
        input::advance_scan(tx).await?;
    }
    if whole_queue {
        sqlx::query("UPDATE payment_stamp SET scan_key = $1, directory_key = $2")
            .bind(&scan_key)
            .bind(&directory_key)
            .execute(&mut **tx)
            .await?;
    }
    if (charges_created > 0 || rebuilt) && plan.is_empty() {
        bump_stamp(tx).await?;
    }
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    tracing::debug!(
        prepare_ms = ms(prepared),
        load_ms = ms(loaded - prepared),
        plan_ms = ms(planned - loaded),
        apply_ms = ms(applied - planned),
        total_ms = ms(started.elapsed()),
        payments = state.payments.len(),
        decisions = plan.decisions.len(),
        "matching timing"
    );
    Ok(RunReport {
        charges_created,
        decisions: plan.decisions.len(),
        allocations: plan.allocations.len(),
        rebuilt,
    })
}

/// Creates (`id = None`) or updates a fee schedule ([`crate::fee::save_schedule`]) and, when
/// anything was saved, re-runs matching in `tx` ([`rerun`]): the new charges exist and settle at
/// once, and the first schedule starts fee tracking. `today` is a Prague date.
///
/// Errors: those of [`crate::fee::save_schedule`].
pub async fn save_schedule(
    tx: &mut TenantTx,
    actor: &Actor,
    id: Option<Uuid>,
    input: &crate::fee::ScheduleInput,
    today: Date,
    now: OffsetDateTime,
) -> Result<crate::fee::Saved, crate::fee::Error> {
    let saved = crate::fee::save_schedule(tx, actor, id, input, today, now).await?;
    if let crate::fee::Saved::Saved(_) = saved {
        rerun(tx, today, now).await?;
    }
    Ok(saved)
}

/// Sets (or with `None` clears) the club's "payments count from" date
/// ([`crate::fee::tracking::set_payments_from`]) and re-runs matching in `tx`: automatic
/// decisions are made again from the new date; a person's stay. `today` is a Prague date.
pub async fn set_payments_from(
    tx: &mut TenantTx,
    actor: &Actor,
    chosen: Option<Date>,
    today: Date,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    crate::fee::tracking::set_payments_from(tx, actor, chosen, now).await?;
    rerun(tx, today, now).await?;
    Ok(())
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

    /// Removes the allocations of the account's payments and refreshes the paid sums of the
    /// charges they paid (the cascade would leave those sums behind), and forgets the
    /// account's scan position; the decisions and actions go with the transactions.
    fn before_account_deleted<'a>(
        &'a self,
        tx: &'a mut TenantTx,
        account_id: Uuid,
    ) -> futures::future::BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let payments: Vec<i64> =
                sqlx::query_scalar("SELECT id FROM transactions WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_all(&mut **tx)
                    .await?;
            let charges = delete_allocations(tx, &payments).await?;
            refresh(tx, &[], &charges).await?;
            sqlx::query("DELETE FROM payment_scan WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut **tx)
                .await?;
            bump_stamp(tx).await
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

/// The decision and allocations of one payment, as JSON (without ids and the bookkeeping
/// columns, which are recomputed), for undo.
async fn snapshot(tx: &mut TenantTx, payment: i64) -> Result<Value, sqlx::Error> {
    let (v,): (Value,) = sqlx::query_as(
        "SELECT jsonb_build_object( \
            'decision', (SELECT to_jsonb(d) - 'transaction_id' - 'left_minor' - 'account_key' \
                           FROM payment_decisions d WHERE d.transaction_id = $1), \
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

/// Puts a payment's decision and allocations back as `snap` holds them; returns the charges
/// touched before and after (still to refresh).
async fn restore_snapshot(
    tx: &mut TenantTx,
    payment: i64,
    snap: &Value,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut charges = delete_allocations(tx, &[payment]).await?;
    sqlx::query("DELETE FROM payment_decisions WHERE transaction_id = $1")
        .bind(payment)
        .execute(&mut **tx)
        .await?;
    let account_key = input::payments(tx, &[payment])
        .await?
        .into_iter()
        .next()
        .and_then(|p| p.counterparty)
        .unwrap_or_default();
    sqlx::query(
        "INSERT INTO payment_decisions \
         SELECT * FROM jsonb_populate_record(NULL::payment_decisions, \
                 ($2::jsonb -> 'decision') \
                 || jsonb_build_object('transaction_id', $1::int8, 'account_key', $3::text, \
                                       'left_minor', 0)) \
          WHERE jsonb_typeof($2::jsonb -> 'decision') = 'object'",
    )
    .bind(payment)
    .bind(snap)
    .bind(&account_key)
    .execute(&mut **tx)
    .await?;
    let restored: Vec<(Uuid,)> = sqlx::query_as(
        "INSERT INTO allocations (transaction_id, charge_id, member_id, amount_minor, rule, \
                                  evidence, created_at) \
         SELECT $1, charge_id, member_id, amount_minor, rule, evidence, created_at \
           FROM jsonb_populate_recordset(NULL::allocations, $2::jsonb -> 'allocations') \
         RETURNING charge_id",
    )
    .bind(payment)
    .bind(snap)
    .fetch_all(&mut **tx)
    .await?;
    charges.extend(restored.into_iter().map(|(c,)| c));
    Ok(charges)
}

/// Removes a payment's allocations and refreshes what they paid.
async fn clear_allocations(tx: &mut TenantTx, payment: i64) -> Result<(), sqlx::Error> {
    let charges = delete_allocations(tx, &[payment]).await?;
    refresh(tx, &[payment], &charges).await
}

/// Whom a person assigns a payment to: a target from a suggestion (one click), or a name,
/// `Name (VS)` label or VS typed into the shared list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Target(Target),
    Typed(String),
}

/// Assigns a payment to whom `choice` names ([`act`] with [`Action::Assign`]). Errors:
/// [`Error::NoChoice`] (nothing typed), [`Error::UnknownTarget`] (nobody fits),
/// [`Error::AmbiguousChoice`] (a name several have), [`Error::ArchivedTarget`], and those of
/// [`act`].
pub async fn assign(
    tx: &mut TenantTx,
    actor: &Actor,
    payment: i64,
    choice: &Choice,
    today: Date,
    now: OffsetDateTime,
) -> Result<i64, Error> {
    let target = match choice {
        Choice::Target(t) => *t,
        Choice::Typed(text) => {
            let payers = crate::member::payers(tx).await?;
            views::resolve_choice(&payers, text)?
        }
    };
    act(tx, actor, payment, Action::Assign(target), today, now).await
}

/// Does a person's action on an incoming booked payment (see [`Action`]), then re-runs matching
/// so the payment's allocations follow, records the before/after state for [`undo`] and writes
/// the audit log — all in `tx`. Returns the action's id.
///
/// Errors: [`Error::UnknownPayment`], [`Error::UnknownTarget`], [`Error::ArchivedTarget`]
/// (assigning to an archived member), [`Error::NotApplicable`].
#[tracing::instrument(skip_all, fields(club = %tx.key(), payment = payment, user_id = ?actor.user_id))]
pub async fn act(
    tx: &mut TenantTx,
    actor: &Actor,
    payment: i64,
    action: Action,
    today: Date,
    now: OffsetDateTime,
) -> Result<i64, Error> {
    lock_matching(tx).await?;
    let scope = Scope {
        from: crate::fee::tracking::payments_from(tx).await?.effective(),
        extra: vec![payment],
        whole_queue: false,
    };
    let directory = input::directory(tx).await?;
    let state = input::load(tx, &scope, directory.clone()).await?;
    let p = state
        .payments
        .iter()
        .find(|p| p.id == payment && p.settles())
        .ok_or(Error::UnknownPayment)?;
    let account_key = p.counterparty.clone().unwrap_or_default();
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
            match target {
                Target::Member(id) => {
                    let m = state
                        .members
                        .iter()
                        .find(|m| m.id == id)
                        .ok_or(Error::UnknownTarget)?;
                    if m.archived {
                        return Err(Error::ArchivedTarget);
                    }
                }
                Target::Household(id) => {
                    if !state.households.iter().any(|h| h.id == id) {
                        return Err(Error::UnknownTarget);
                    }
                }
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
            upsert_decision(tx, &d, &account_key, actor, now).await?;
        }
        Action::Confirm => {
            let d = current
                .filter(|d| d.target.is_some() && !d.by_person)
                .ok_or(Error::NotApplicable)?;
            let d = Decision {
                by_person: true,
                ..d.clone()
            };
            upsert_decision(tx, &d, &account_key, actor, now).await?;
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
            upsert_decision(tx, &d, &account_key, actor, now).await?;
        }
        Action::MarkIrrelevant => {
            if current.is_some_and(|d| matches!(d.outcome, Outcome::Irrelevant | Outcome::Reversed))
            {
                return Err(Error::NotApplicable);
            }
            clear_allocations(tx, payment).await?;
            let d = person(Outcome::Irrelevant, None, Rule::Person, Evidence::default());
            upsert_decision(tx, &d, &account_key, actor, now).await?;
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
    let amount_minor = p.amount_minor;
    // A restored payment from before the tracking start stays undecided, as it was.
    let before_tracking = scope
        .from
        .is_none_or(|from| p.date.is_none_or(|d| d < from));
    let scope = if action == Action::Restore && before_tracking {
        Scope {
            extra: Vec::new(),
            ..scope
        }
    } else {
        scope
    };
    // Lay the assignment onto charges (and let the engine decide a restored payment).
    let state = input::load(tx, &scope, directory).await?;
    let plan = matching::run(&state);
    apply_plan(tx, &state, &plan, now).await?;
    settle_person_outcome(tx, &state, &plan, payment).await?;
    refresh(tx, &[payment], &[]).await?;
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
        json!({ "payment": payment, "amount_minor": amount_minor, "target": target,
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
/// action left it; records the undo in the audit log. Errors: [`Error::UnknownPayment`] (no incoming payment
/// with that id in this club), [`Error::CannotUndo`].
#[tracing::instrument(skip_all, fields(club = %tx.key(), payment = payment, user_id = ?actor.user_id))]
pub async fn undo(
    tx: &mut TenantTx,
    actor: &Actor,
    payment: i64,
    now: OffsetDateTime,
) -> Result<(), Error> {
    lock_matching(tx).await?;
    // A payment of another club (or none) is unknown here, as for the other actions.
    let (known,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM transactions WHERE id = $1 AND amount_minor > 0)",
    )
    .bind(payment)
    .fetch_one(&mut **tx)
    .await?;
    if !known {
        return Err(Error::UnknownPayment);
    }
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
    let charges = restore_snapshot(tx, payment, &before).await?;
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
    refresh(tx, &[payment], &charges).await?;
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
