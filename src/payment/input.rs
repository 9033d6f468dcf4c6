//! What one matching run reads: only what can change, never the whole booked history.
//!
//! - **New payments**: booked incoming CZK rows (and reversals) from the tracking start that
//!   have no decision, found by the per-account scan position (`payment_scan`: every row up to
//!   `scanned_through` has been considered; the position stays below the oldest incoming row
//!   that is not booked yet, which may still become a payment);
//! - **the queue the engine made** (ambiguous or unidentified, not by a person): all of it when
//!   the member directory changed since the last run, else only payments from the accounts of
//!   this run's payments (a new match of such an account may identify them);
//! - **credit**: identified payments with an unallocated remainder (`left_minor > 0`) whose
//!   member (or household) has an open charge, or a charge a new reversal reopens;
//! - **the payment a new reversal undoes** (same account, opposite amount, not later);
//! - **open charges** (`charges.paid_minor < amount_minor`, by index) of the members these
//!   payments may go to (`matching::Directory::possible_members`), the charges the loaded
//!   payments' allocations point at, and every allocation of those payments and charges;
//! - **remembered accounts**: rule-1 and a person's decisions whose counter-account
//!   (`payment_decisions.account_key`) is one of the loaded payments' accounts;
//! - the member directory (members and households; small, not history).
//!
//! The engine's result on this part equals its result on the whole club (see
//! `matching::State`), so runs stay deterministic and idempotent.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use time::Date;
use uuid::Uuid;

use super::matching::{self, Allocation, Decision, Outcome, Rule, State, Target};
use crate::db::tenant::TenantTx;

/// SQL: the payments matching reads (booked CZK, incoming or a reversal).
const PAYMENT: &str =
    "t.status = 'booked' AND t.currency = 'CZK' AND (t.amount_minor > 0 OR t.reversal)";

/// SQL: what `PaymentRow` reads of a transaction `t`.
const PAYMENT_COLUMNS: &str = "t.id, t.account_id, t.status = 'booked' AS booked, \
     t.amount_minor, t.reversal, COALESCE(t.booking_date, t.value_date) AS date, \
     t.variable_symbol, t.message, t.counterparty_name, t.counterparty_iban, \
     t.counterparty_account, t.counterparty_bank_code";

/// SQL: a stored decision that makes its account remembered (as `matching::remembers`).
const REMEMBERS: &str = "(d.by_person OR d.rule IN ('vs', 'vs_in_message')) \
     AND d.outcome IN ('matched', 'partly_paid', 'overpaid') \
     AND (d.target_member IS NOT NULL OR d.target_household IS NOT NULL)";

/// What to read besides what can change by itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// The tracking start (`fee::tracking`); `None`: no payment is read but `extra`.
    pub from: Option<Date>,
    /// Payments a person acts on, read whatever their date or decision.
    pub extra: Vec<i64>,
    /// Re-decide the whole queue the engine made (the member directory changed).
    pub whole_queue: bool,
}

/// The engine's input for `scope`, on top of the member `directory` ([`directory`]).
pub(crate) async fn load(
    tx: &mut TenantTx,
    scope: &Scope,
    directory: State,
) -> Result<State, sqlx::Error> {
    let mut state = directory;
    // New payments have no decision and so no allocation (allocations exist only beside a
    // decision): they are read whole in one query and never probed for either.
    let mut payments = match scope.from {
        Some(from) => new_payments(tx, from).await?,
        None => Vec::new(),
    };
    let fresh: BTreeSet<i64> = payments.iter().map(|p| p.id).collect();
    let extra: BTreeSet<i64> = scope
        .extra
        .iter()
        .copied()
        .filter(|id| !fresh.contains(id))
        .collect();
    payments.extend(payments_of(tx, &extra).await?);
    let ids: BTreeSet<i64> = fresh.iter().chain(extra.iter()).copied().collect();
    // The queue the engine made, and the originals of new reversals.
    let mut more: BTreeSet<i64> = BTreeSet::new();
    let mut originals = Vec::new();
    if scope.from.is_some() || !scope.extra.is_empty() {
        let keys: Vec<String> = payments
            .iter()
            .filter_map(|p| p.counterparty.clone())
            .collect();
        more.extend(queued(tx, scope.whole_queue, &keys).await?);
        let reversals: Vec<&matching::Payment> = payments
            .iter()
            .filter(|p| p.reversal && p.amount_minor < 0)
            .collect();
        originals = reversed_candidates(tx, &reversals, scope.from).await?;
        more.extend(originals.iter().copied());
    }
    // The members a reversal of this run reopens charges of.
    let reopened: BTreeSet<Uuid> = if originals.is_empty() {
        BTreeSet::new()
    } else {
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT DISTINCT member_id FROM allocations WHERE transaction_id = ANY($1)",
        )
        .bind(&originals)
        .fetch_all(&mut **tx)
        .await?;
        rows.into_iter().map(|(m,)| m).collect()
    };
    if scope.from.is_some() {
        more.extend(with_credit(tx, &state, &reopened).await?);
    }
    more.retain(|id| !ids.contains(id));
    payments.extend(payments_of(tx, &more).await?);
    if payments.is_empty() {
        // Nothing can change: no charge needs reading.
        return Ok(state);
    }
    let payment_ids: Vec<i64> = payments.iter().map(|p| p.id).collect();
    // The payments that may have a decision and allocations: all but the new ones.
    let known: Vec<i64> = payment_ids
        .iter()
        .copied()
        .filter(|id| !fresh.contains(id))
        .collect();
    let decisions: Vec<DecisionRow> = sqlx::query_as(
        "SELECT transaction_id, outcome, target_member, target_household, rule, evidence, \
                by_person FROM payment_decisions WHERE transaction_id = ANY($1)",
    )
    .bind(&known)
    .fetch_all(&mut **tx)
    .await?;
    let keys: Vec<String> = payments
        .iter()
        .filter_map(|p| p.counterparty.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    state.remembered = remembered(tx, &keys, &payment_ids).await?;
    state.payments = payments;
    state.decisions = decisions
        .into_iter()
        .map(DecisionRow::into_decision)
        .collect();

    // The open charges of every member the run may lay these payments onto.
    let members: Vec<Uuid> = {
        let dir = matching::Directory::new(&state);
        let mut members: BTreeSet<Uuid> = reopened;
        for p in &state.payments {
            members.extend(dir.possible_members(p));
        }
        for d in &state.decisions {
            if let Some(target) = d.target {
                members.extend(dir.members_of(target));
            }
        }
        members.into_iter().collect()
    };
    let mut allocations = allocations_where(tx, "transaction_id = ANY($1)", &known).await?;
    let mut charges: HashMap<Uuid, crate::fee::ChargeBalance> =
        crate::fee::open_charges_of(tx, &members)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    let pointed: Vec<Uuid> = allocations
        .iter()
        .map(|a| a.charge_id)
        .filter(|c| !charges.contains_key(c))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for c in crate::fee::charges_by_id(tx, &pointed).await? {
        charges.insert(c.id, c);
    }
    // Every allocation of the charges read (other payments' too), so open amounts are right.
    let paid: Vec<Uuid> = charges
        .values()
        .filter(|c| c.paid_minor > 0)
        .map(|c| c.id)
        .collect();
    if !paid.is_empty() {
        let rows: Vec<AllocationRow> = sqlx::query_as(
            "SELECT transaction_id, charge_id, member_id, amount_minor, rule, evidence \
               FROM allocations WHERE charge_id = ANY($1) AND transaction_id <> ALL($2)",
        )
        .bind(&paid)
        .bind(&payment_ids)
        .fetch_all(&mut **tx)
        .await?;
        allocations.extend(rows.into_iter().map(AllocationRow::into_allocation));
    }
    let mut charges: Vec<matching::Charge> = charges
        .into_values()
        .map(|c| matching::Charge {
            id: c.id,
            member: c.member_id,
            amount_minor: c.amount_minor,
            due_on: c.due_on,
        })
        .collect();
    charges.sort_by_key(|c| (c.due_on, c.member, c.id));
    state.charges = charges;
    state.allocations = allocations;
    Ok(state)
}

/// What suggestions for the payments `ids` need: the directory and those payments, and the
/// open charges whose open amount equals one of theirs, as (member, open amount).
pub(crate) async fn for_suggestions(
    tx: &mut TenantTx,
    ids: &[i64],
) -> Result<(State, Vec<(Uuid, i64)>), sqlx::Error> {
    let mut state = directory(tx).await?;
    state.payments = payments(tx, ids).await?;
    let amounts: Vec<i64> = state
        .payments
        .iter()
        .map(|p| p.amount_minor)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let open = crate::fee::open_amounts(tx, &amounts).await?;
    Ok((state, open))
}

/// The member directory: every member (archived too) and household.
pub(crate) async fn directory(tx: &mut TenantTx) -> Result<State, sqlx::Error> {
    let members = crate::member::matching_directory(tx).await?;
    let households = crate::member::matching_households(tx).await?;
    Ok(State {
        members: members
            .into_iter()
            .map(|m| matching::MemberRef {
                id: m.id.0,
                name: m.name,
                vs_key: m.vs_key,
                household: m.household_id.map(|h| h.0),
                archived: m.archived,
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
        ..State::default()
    })
}

/// A fingerprint of what identification depends on in the directory (members' and households'
/// VS, households, archive state, names): when it changes, the whole queue is decided again.
pub(crate) fn directory_key(state: &State) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for m in &state.members {
        hash.update(format!(
            "m|{}|{}|{}|{:?}|{}\n",
            m.id, m.name, m.vs_key, m.household, m.archived
        ));
    }
    for h in &state.households {
        hash.update(format!("h|{}|{}|{:?}\n", h.id, h.name, h.vs_key));
    }
    hex::encode(hash.finalize())
}

/// Where the scan of each account stands: (account, scanned through), and the lowest position
/// (0 when an account was never scanned).
async fn scan_positions(tx: &mut TenantTx) -> Result<(HashMap<Uuid, i64>, i64), sqlx::Error> {
    let rows: Vec<(Uuid, Option<i64>)> = sqlx::query_as(
        "SELECT b.id, s.scanned_through FROM bank_accounts b \
           LEFT JOIN payment_scan s ON s.account_id = b.id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let floor = rows.iter().map(|r| r.1.unwrap_or(0)).min().unwrap_or(0);
    Ok((
        rows.into_iter()
            .filter_map(|(a, s)| s.map(|s| (a, s)))
            .collect(),
        floor,
    ))
}

/// Undecided payments from `from` beyond each account's scan position, whole (as
/// [`payments`] reads them), by date and id.
async fn new_payments(
    tx: &mut TenantTx,
    from: Date,
) -> Result<Vec<matching::Payment>, sqlx::Error> {
    let (_, floor) = scan_positions(tx).await?;
    let rows: Vec<PaymentRow> = sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM transactions t \
          WHERE t.id > $1 \
            AND t.id > COALESCE((SELECT s.scanned_through FROM payment_scan s \
                                  WHERE s.account_id = t.account_id), 0) \
            AND {PAYMENT} AND COALESCE(t.booking_date, t.value_date) >= $2 \
            AND NOT EXISTS (SELECT 1 FROM payment_decisions d WHERE d.transaction_id = t.id) \
          ORDER BY date, t.id"
    ))
    .bind(floor)
    .bind(from)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(PaymentRow::into_payment).collect())
}

/// Moves each account's scan position past what this run considered, but never past an
/// incoming row that is not booked yet. Writes only positions that move.
pub(crate) async fn advance_scan(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    let (positions, _) = scan_positions(tx).await?;
    // Per account: its newest row (a backward walk of the primary key) and its oldest incoming
    // row not booked yet (`transactions_unbooked_idx`). Not a range from the lowest position:
    // a pending row far back (the first sync writes in KB's order, newest first) kept that
    // range at most of the table, 120 ms on every notification sync of 100 000 rows.
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT b.id, LEAST(top.id, COALESCE(hold.below, top.id)) \
           FROM bank_accounts b \
           CROSS JOIN LATERAL (SELECT max(t.id) AS id FROM transactions t \
                                WHERE t.account_id = b.id) top \
           LEFT JOIN LATERAL (SELECT min(t.id) - 1 AS below FROM transactions t \
                               WHERE t.account_id = b.id AND t.status <> 'booked' \
                                 AND (t.amount_minor > 0 OR t.reversal)) hold ON true \
          WHERE top.id IS NOT NULL",
    )
    .fetch_all(&mut **tx)
    .await?;
    let moved: Vec<(Uuid, i64)> = rows
        .into_iter()
        .filter(|(account, to)| positions.get(account).is_none_or(|at| to > at))
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO payment_scan (account_id, scanned_through) \
         SELECT * FROM UNNEST($1::uuid[], $2::int8[]) \
         ON CONFLICT (account_id) DO UPDATE SET scanned_through = excluded.scanned_through",
    )
    .bind(moved.iter().map(|m| m.0).collect::<Vec<_>>())
    .bind(moved.iter().map(|m| m.1).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets every scan position: the next run reads every payment from the tracking start.
pub(crate) async fn reset_scan(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM payment_scan")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Payments in the queue the engine made: all, or those from `accounts`.
async fn queued(
    tx: &mut TenantTx,
    whole: bool,
    accounts: &[String],
) -> Result<Vec<i64>, sqlx::Error> {
    if !whole && accounts.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT transaction_id FROM payment_decisions \
          WHERE outcome IN ('ambiguous', 'unidentified') AND NOT by_person \
            AND ($1 OR account_key = ANY($2))",
    )
    .bind(whole)
    .bind(accounts)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids(rows))
}

/// Booked incoming payments a reversal among `reversals` may undo: the same account, the
/// opposite amount, not later; from the tracking start or decided by a person.
async fn reversed_candidates(
    tx: &mut TenantTx,
    reversals: &[&matching::Payment],
    from: Option<Date>,
) -> Result<Vec<i64>, sqlx::Error> {
    if reversals.is_empty() {
        return Ok(Vec::new());
    }
    // One probe per account and amount, with its latest reversal's day: the candidates of the
    // earlier ones are among those (a first sync has many reversals of the same amount).
    let mut latest: std::collections::BTreeMap<(Uuid, i64), Option<Date>> = Default::default();
    for r in reversals {
        let day = latest
            .entry((r.account_id, r.amount_minor))
            .or_insert(r.date);
        *day = (*day).max(r.date);
    }
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT DISTINCT t.id FROM transactions t \
           JOIN UNNEST($1::uuid[], $2::int8[], $3::date[]) AS r(account, amount, day) \
             ON t.account_id = r.account AND t.amount_minor = -r.amount \
          WHERE t.status = 'booked' AND t.currency = 'CZK' AND NOT t.reversal \
            AND COALESCE(t.booking_date, t.value_date) <= r.day \
            AND (COALESCE(t.booking_date, t.value_date) >= $4 \
                 OR EXISTS (SELECT 1 FROM payment_decisions d \
                             WHERE d.transaction_id = t.id AND d.by_person))",
    )
    .bind(latest.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(latest.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(latest.values().copied().collect::<Vec<_>>())
    .bind(from)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids(rows))
}

/// Identified payments with a remainder whose member (or a member of whose household) has an
/// open charge or is among `reopened` (a reversal of this run reopens their charges).
async fn with_credit(
    tx: &mut TenantTx,
    directory: &State,
    reopened: &BTreeSet<Uuid>,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64, Option<Uuid>, Option<Uuid>)> = sqlx::query_as(
        "SELECT transaction_id, target_member, target_household FROM payment_decisions \
          WHERE left_minor > 0 AND (target_member IS NOT NULL OR target_household IS NOT NULL)",
    )
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let members: BTreeSet<Uuid> = rows.iter().filter_map(|r| r.1).collect();
    let households: BTreeSet<Uuid> = rows.iter().filter_map(|r| r.2).collect();
    let candidates: Vec<Uuid> = directory
        .members
        .iter()
        .filter(|m| members.contains(&m.id) || m.household.is_some_and(|h| households.contains(&h)))
        .map(|m| m.id)
        .collect();
    let mut owing: BTreeSet<Uuid> = crate::fee::members_owing(tx, &candidates)
        .await?
        .into_iter()
        .collect();
    owing.extend(reopened.iter().copied());
    let household_owes: BTreeSet<Uuid> = directory
        .members
        .iter()
        .filter(|m| owing.contains(&m.id))
        .filter_map(|m| m.household)
        .collect();
    Ok(rows
        .into_iter()
        .filter(|(_, member, household)| {
            member.is_some_and(|m| owing.contains(&m))
                || household.is_some_and(|h| household_owes.contains(&h))
        })
        .map(|(id, _, _)| id)
        .collect())
}

/// Counter-accounts remembered for `keys` by decisions about payments other than `loaded`
/// (whose decisions the engine reads itself, and may change: a reversal): (key, target).
async fn remembered(
    tx: &mut TenantTx,
    keys: &[String],
    loaded: &[i64],
) -> Result<Vec<(String, Target)>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, Option<Uuid>, Option<Uuid>)> = sqlx::query_as(&format!(
        "SELECT DISTINCT d.account_key, d.target_member, d.target_household \
           FROM payment_decisions d \
          WHERE d.account_key = ANY($1) AND d.transaction_id <> ALL($2) AND {REMEMBERS}"
    ))
    .bind(keys)
    .bind(loaded)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, m, h)| super::target_of(m, h).map(|t| (key, t)))
        .collect())
}

/// Fills `payment_decisions.account_key` of decisions stored before it existed (once).
pub(crate) async fn key_unkeyed_decisions(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    /// (decision, IBAN, account number, bank code).
    type Unkeyed = (i64, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Unkeyed> = sqlx::query_as(
        "SELECT d.transaction_id, t.counterparty_iban, t.counterparty_account, \
                t.counterparty_bank_code \
           FROM payment_decisions d JOIN transactions t ON t.id = d.transaction_id \
          WHERE d.account_key IS NULL",
    )
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = rows
        .iter()
        .map(|(_, iban, account, bank)| {
            matching::account_key(iban.as_deref(), account.as_deref(), bank.as_deref())
                .unwrap_or_default()
        })
        .collect();
    sqlx::query(
        "UPDATE payment_decisions d SET account_key = u.k \
           FROM UNNEST($1::int8[], $2::text[]) AS u(id, k) WHERE d.transaction_id = u.id",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(&keys)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn ids(rows: Vec<(i64,)>) -> Vec<i64> {
    rows.into_iter().map(|(id,)| id).collect()
}

async fn payments_of(
    tx: &mut TenantTx,
    ids: &BTreeSet<i64>,
) -> Result<Vec<matching::Payment>, sqlx::Error> {
    payments(tx, &ids.iter().copied().collect::<Vec<_>>()).await
}

/// The payments with these ids (booked CZK incoming rows or reversals), by date and id.
pub(crate) async fn payments(
    tx: &mut TenantTx,
    ids: &[i64],
) -> Result<Vec<matching::Payment>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<PaymentRow> = sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLUMNS} \
           FROM transactions t WHERE t.id = ANY($1) AND {PAYMENT} ORDER BY date, t.id"
    ))
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(PaymentRow::into_payment).collect())
}

async fn allocations_where(
    tx: &mut TenantTx,
    condition: &str,
    ids: &[i64],
) -> Result<Vec<Allocation>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<AllocationRow> = sqlx::query_as(&format!(
        "SELECT transaction_id, charge_id, member_id, amount_minor, rule, evidence \
           FROM allocations WHERE {condition} ORDER BY id"
    ))
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(AllocationRow::into_allocation)
        .collect())
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
    pub(crate) transaction_id: i64,
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
            target: super::target_of(self.target_member, self.target_household),
            rule: Rule::parse(&self.rule).unwrap_or(Rule::None),
            evidence: serde_json::from_value(self.evidence).unwrap_or_default(),
            by_person: self.by_person,
        }
    }
}
