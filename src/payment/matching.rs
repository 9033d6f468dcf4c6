//! The matching engine: which member (or household) a bank payment belongs to, and which of
//! their charges it settles. Pure: no database, no clock; [`run`] takes the club's state and
//! returns a [`Plan`] of changes, which `payment::apply_plan` writes in the tenant transaction.
//!
//! Rules, in order (the project's member-fees background notes §2, "Matching: order and outcomes"; issue 8):
//! 1. the variable symbol compared numerically ([`vs_key`]: leading zeros insignificant,
//!    trailing ones significant) from the VS field, else an unambiguous VS-like token in the
//!    message ([`message_vs_keys`]; SEPA payments have no VS field);
//! 2. the counter-account remembered from an earlier match by rule 1 or by a person
//!    ([`account_key`]);
//! 3. suggestions for a person ([`suggest`]): never applied automatically.
//!
//! Only booked incoming payments (`amount > 0`, not a reversal) settle charges. A payment's
//! amount goes to its target's open charges, oldest due first (a household's across all its
//! members), except that the one charge open for exactly the amount paid, if there is exactly
//! one, goes first; what is left is the target's **credit**, and every later run lays it onto charges
//! that appear (the next period's). A booked reversal (negative, `reversal = true`) of a payment
//! removes that payment's allocations.
//!
//! Idempotent: a second run over the state the first one produced returns an empty plan. Rule 1
//! never depends on remembered accounts, and rule 2 only remembers rule-1 and human matches, so
//! identification is a fixpoint after one pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use time::Date;
use uuid::Uuid;

use crate::i18n::fold;

pub use crate::member::vs_key;

/// VS-like tokens of a payment message, as [`vs_key`]s: digit runs of 1-10 digits written right
/// after `VS` (`VS2026004`, `VS: 2026004`, `vs.2026004`), and standalone digit runs of 4-10
/// digits (bounded by non-alphanumerics). Shorter bare numbers ("2 děti", a day of a date) are
/// too likely to be something else. Returned sorted and deduplicated.
pub fn message_vs_keys(message: &str) -> Vec<String> {
    let chars: Vec<char> = message.chars().collect();
    let mut keys = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let digits: String = chars[start..i].iter().collect();
        let after_ok = i >= chars.len() || !chars[i].is_alphanumeric();
        // Look back over separators for a "VS" prefix.
        let mut j = start;
        while j > 0 && matches!(chars[j - 1], ' ' | ':' | '.' | '-' | '=' | '#') {
            j -= 1;
        }
        let prefixed = j >= 2
            && chars[j - 2..j]
                .iter()
                .collect::<String>()
                .eq_ignore_ascii_case("vs")
            && (j == 2 || !chars[j - 3].is_alphanumeric());
        let before_ok = start == 0 || !chars[start - 1].is_alphanumeric();
        let standalone = before_ok && after_ok && digits.len() >= 4;
        if after_ok
            && (prefixed || standalone)
            && let Some(key) = vs_key(&digits)
        {
            keys.insert(key);
        }
    }
    keys.into_iter().collect()
}

/// A counter-account in one comparable form: the IBAN without spaces in capitals; a Czech
/// `prefix-number/bank` (or separate number and bank code) becomes its IBAN, so the two forms
/// of one account meet. `None` when nothing identifies the account.
pub fn account_key(
    iban: Option<&str>,
    account: Option<&str>,
    bank: Option<&str>,
) -> Option<String> {
    if let Some(iban) = iban {
        let iban: String = iban
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        if !iban.is_empty() {
            return Some(iban);
        }
    }
    let account = account?.trim();
    let (number, bank) = match (account.split_once('/'), bank) {
        (Some((n, b)), _) => (n.trim(), b.trim()),
        (None, Some(b)) => (account, b.trim()),
        (None, None) => return (!account.is_empty()).then(|| account.to_owned()),
    };
    let (prefix, number) = crate::iban::split_prefix(number);
    Some(
        crate::iban::czech_unchecked(prefix, number, bank)
            .unwrap_or_else(|| format!("{number}/{bank}")),
    )
}

/// Whom a payment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    Member(Uuid),
    /// Split across the household's members' open charges.
    Household(Uuid),
}

/// What became of a payment. Stored in `payment_decisions.outcome` (the snake-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Settled charges exactly.
    Matched,
    /// Identified, but the charge it went to is still not fully paid.
    PartlyPaid,
    /// Identified, and something is left over: a credit for the next charges.
    Overpaid,
    /// Two or more members fit: a person decides (queue).
    Ambiguous,
    /// Nobody fits: a person decides (queue).
    Unidentified,
    /// Not a fee payment (marked by a person; restorable).
    Irrelevant,
    /// Reversed (storno) by a later booked reversal; its allocations are gone.
    Reversed,
    /// The reversal row itself.
    Reversal,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "matched",
            Outcome::PartlyPaid => "partly_paid",
            Outcome::Overpaid => "overpaid",
            Outcome::Ambiguous => "ambiguous",
            Outcome::Unidentified => "unidentified",
            Outcome::Irrelevant => "irrelevant",
            Outcome::Reversed => "reversed",
            Outcome::Reversal => "reversal",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Matched,
            Outcome::PartlyPaid,
            Outcome::Overpaid,
            Outcome::Ambiguous,
            Outcome::Unidentified,
            Outcome::Irrelevant,
            Outcome::Reversed,
            Outcome::Reversal,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// Waits for a person in the queue of unmatched payments.
    pub fn in_queue(self) -> bool {
        matches!(self, Outcome::Ambiguous | Outcome::Unidentified)
    }
}

/// Which rule decided (stored as its snake-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The VS field.
    Vs,
    /// A VS-like token in the message.
    VsInMessage,
    /// A counter-account remembered from an earlier match.
    RememberedAccount,
    /// A person assigned it.
    Person,
    /// A later run laid a payment's left-over credit onto a new charge.
    Credit,
    /// A reversal undid the payment.
    Reversal,
    /// Nothing fitted.
    None,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Vs => "vs",
            Rule::VsInMessage => "vs_in_message",
            Rule::RememberedAccount => "remembered_account",
            Rule::Person => "person",
            Rule::Credit => "credit",
            Rule::Reversal => "reversal",
            Rule::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Rule> {
        [
            Rule::Vs,
            Rule::VsInMessage,
            Rule::RememberedAccount,
            Rule::Person,
            Rule::Credit,
            Rule::Reversal,
            Rule::None,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// The facts a decision rests on (stored as JSON; shown as "VS 2026001 + částka").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The VS key that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs: Option<String>,
    /// The amount equalled the target's open amount.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub amount_equal: bool,
    /// The remembered counter-account and whose it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The members (or households) that fitted an ambiguous payment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Target>,
    /// The payment this reversal undid / the reversal that undid this payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverses: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversed_by: Option<i64>,
    /// The payment whose credit settled the charge (rule `credit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_from: Option<i64>,
}

/// A club member as matching sees it.
#[derive(Debug, Clone)]
pub struct MemberRef {
    pub id: Uuid,
    pub name: String,
    /// [`vs_key`] of the member's VS.
    pub vs_key: String,
    pub household: Option<Uuid>,
    /// Archived: still matched by VS (old charges), never suggested to a person.
    pub archived: bool,
}

/// A household (siblings under one guardian).
#[derive(Debug, Clone)]
pub struct HouseholdRef {
    pub id: Uuid,
    pub name: String,
    pub vs_key: Option<String>,
}

/// A charge (whatever its state); open amount = amount − its allocations.
#[derive(Debug, Clone)]
pub struct Charge {
    pub id: Uuid,
    pub member: Uuid,
    /// Minor units (haléře), > 0.
    pub amount_minor: i64,
    /// Prague date.
    pub due_on: Date,
}

/// A bank transaction as matching sees it.
#[derive(Debug, Clone)]
pub struct Payment {
    /// `transactions.id`.
    pub id: i64,
    pub account_id: Uuid,
    pub booked: bool,
    /// Signed minor units (credits > 0).
    pub amount_minor: i64,
    pub reversal: bool,
    pub date: Option<Date>,
    pub variable_symbol: Option<String>,
    pub message: Option<String>,
    pub counterparty_name: Option<String>,
    /// [`account_key`] of the counter-account.
    pub counterparty: Option<String>,
}

impl Payment {
    /// Booked, incoming, not a reversal: the only payments that settle charges.
    pub fn settles(&self) -> bool {
        self.booked && self.amount_minor > 0 && !self.reversal
    }
}

/// The decision about one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub payment_id: i64,
    pub outcome: Outcome,
    pub target: Option<Target>,
    pub rule: Rule,
    pub evidence: Evidence,
    /// Made (or confirmed) by a person: the engine never changes it.
    pub by_person: bool,
}

/// Part of a payment settling a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub payment_id: i64,
    pub charge_id: Uuid,
    pub member: Uuid,
    /// Minor units, > 0.
    pub amount_minor: i64,
    pub rule: Rule,
    pub evidence: Evidence,
}

/// The club's state, as far as one run needs it. It may be a part of the club (the payments
/// that can change, the charges still open): then `allocations` must hold every allocation of
/// the payments and charges given, and `remembered` the accounts remembered from decisions of
/// payments not given (`payment::input` loads it so).
#[derive(Debug, Clone, Default)]
pub struct State {
    pub members: Vec<MemberRef>,
    pub households: Vec<HouseholdRef>,
    pub charges: Vec<Charge>,
    pub payments: Vec<Payment>,
    pub allocations: Vec<Allocation>,
    pub decisions: Vec<Decision>,
    /// Counter-accounts ([`account_key`]) remembered from rule-1 or a person's decisions about
    /// payments outside `payments`, with whom they identify.
    pub remembered: Vec<(String, Target)>,
}

/// What a run changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Payments whose allocations are all removed (reversed ones), applied first.
    pub cleared: Vec<i64>,
    /// New or replaced decisions (keyed by payment).
    pub decisions: Vec<Decision>,
    pub allocations: Vec<Allocation>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.cleared.is_empty() && self.decisions.is_empty() && self.allocations.is_empty()
    }
}

/// How a payment was identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identification {
    Found {
        target: Target,
        rule: Rule,
        evidence: Evidence,
    },
    Ambiguous(Vec<Target>),
    Unknown,
}

/// Whether a decision makes its payment's counter-account remembered (rule 2): identified by
/// rule 1 or by a person, and not reversed. (`payment::input` asks the same of stored
/// decisions in SQL.)
pub fn remembers(d: &Decision) -> bool {
    (d.by_person || matches!(d.rule, Rule::Vs | Rule::VsInMessage))
        && d.target.is_some()
        && matches!(
            d.outcome,
            Outcome::Matched | Outcome::PartlyPaid | Outcome::Overpaid
        )
}

/// Lookup tables built once per run.
pub struct Directory<'a> {
    by_vs: HashMap<&'a str, Target>,
    members: HashMap<Uuid, &'a MemberRef>,
    households: HashMap<Uuid, &'a HouseholdRef>,
    remembered: HashMap<String, BTreeSet<Target>>,
}

impl<'a> Directory<'a> {
    /// Indexes members and households by VS key, and remembers the counter-accounts of payments
    /// decided by rule 1 or by a person (not by rule 2, so memory never feeds itself).
    pub fn new(state: &'a State) -> Directory<'a> {
        Directory::with_decisions(state, &state.decisions)
    }

    /// [`Directory::new`] with `decisions` in place of the state's own (a run's, after its
    /// reversals: a reversed payment's account is no longer remembered).
    fn with_decisions<'d>(
        state: &'a State,
        decisions: impl IntoIterator<Item = &'d Decision>,
    ) -> Directory<'a> {
        let mut by_vs = HashMap::new();
        for h in &state.households {
            if let Some(key) = &h.vs_key {
                by_vs.insert(key.as_str(), Target::Household(h.id));
            }
        }
        for m in &state.members {
            by_vs.insert(m.vs_key.as_str(), Target::Member(m.id));
        }
        let mut dir = Directory {
            by_vs,
            members: state.members.iter().map(|m| (m.id, m)).collect(),
            households: state.households.iter().map(|h| (h.id, h)).collect(),
            remembered: HashMap::new(),
        };
        let payments: HashMap<i64, &Payment> = state.payments.iter().map(|p| (p.id, p)).collect();
        for d in decisions {
            if let Some(p) = payments.get(&d.payment_id) {
                dir.remember(d, p);
            }
        }
        for (account, target) in &state.remembered {
            dir.remembered
                .entry(account.clone())
                .or_default()
                .insert(*target);
        }
        dir
    }

    fn remember(&mut self, d: &Decision, p: &Payment) {
        if let (true, Some(target), Some(account)) = (remembers(d), d.target, &p.counterparty) {
            self.remembered
                .entry(account.clone())
                .or_default()
                .insert(target);
        }
    }

    pub fn member(&self, id: Uuid) -> Option<&'a MemberRef> {
        self.members.get(&id).copied()
    }

    /// The display name of a target.
    pub fn name(&self, target: Target) -> String {
        match target {
            Target::Member(id) => self.members.get(&id).map(|m| m.name.clone()),
            Target::Household(id) => self.households.get(&id).map(|h| h.name.clone()),
        }
        .unwrap_or_default()
    }

    /// The household a target belongs to (itself for a household).
    fn household_of(&self, target: Target) -> Option<Uuid> {
        match target {
            Target::Household(id) => Some(id),
            Target::Member(id) => self.members.get(&id).and_then(|m| m.household),
        }
    }

    /// Rules 1 and 2 for one payment.
    pub fn identify(&self, p: &Payment) -> Identification {
        self.by_vs(p).unwrap_or_else(|| self.by_account(p))
    }

    /// Rule 1: the VS field, else VS-like tokens of the message. `None`: no VS fits anybody.
    fn by_vs(&self, p: &Payment) -> Option<Identification> {
        if let Some(key) = p.variable_symbol.as_deref().and_then(vs_key)
            && let Some(&target) = self.by_vs.get(key.as_str())
        {
            return Some(Identification::Found {
                target,
                rule: Rule::Vs,
                evidence: Evidence {
                    vs: Some(key),
                    ..Evidence::default()
                },
            });
        }
        let found: BTreeMap<Target, String> = p
            .message
            .as_deref()
            .map(message_vs_keys)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|key| self.by_vs.get(key.as_str()).map(|t| (*t, key)))
            .collect();
        if found.len() > 1 {
            return Some(Identification::Ambiguous(found.into_keys().collect()));
        }
        let (target, key) = found.into_iter().next()?;
        Some(Identification::Found {
            target,
            rule: Rule::VsInMessage,
            evidence: Evidence {
                vs: Some(key),
                ..Evidence::default()
            },
        })
    }

    /// Rule 2: the counter-account remembered from rule-1 or a person's matches.
    fn by_account(&self, p: &Payment) -> Identification {
        let Some(account) = &p.counterparty else {
            return Identification::Unknown;
        };
        let Some(targets) = self.remembered.get(account) else {
            return Identification::Unknown;
        };
        let target = if targets.len() == 1 {
            targets.iter().next().copied()
        } else {
            // One guardian paying for several siblings: the household, if they share one.
            let households: BTreeSet<Option<Uuid>> =
                targets.iter().map(|t| self.household_of(*t)).collect();
            match households.into_iter().collect::<Vec<_>>()[..] {
                [Some(h)] => Some(Target::Household(h)),
                _ => None,
            }
        };
        match target {
            Some(target) => Identification::Found {
                target,
                rule: Rule::RememberedAccount,
                evidence: Evidence {
                    account: Some(account.clone()),
                    ..Evidence::default()
                },
            },
            None => Identification::Ambiguous(targets.iter().copied().collect()),
        }
    }

    /// Every member whose charges a run may lay `p` onto, or more: the members of any VS in
    /// its field or message and of any account remembered for its counter-account, each with
    /// the rest of their household (a guardian's account remembered for siblings identifies
    /// the household). A run also remembers this run's rule-1 matches: those are VS targets of
    /// other payments, so the union over a run's payments covers them. Loading the open charges
    /// of these members is enough to decide the run's payments.
    pub fn possible_members(&self, p: &Payment) -> BTreeSet<Uuid> {
        let mut keys: Vec<String> = p
            .variable_symbol
            .as_deref()
            .and_then(vs_key)
            .into_iter()
            .collect();
        keys.extend(
            p.message
                .as_deref()
                .map(message_vs_keys)
                .unwrap_or_default(),
        );
        let mut targets: BTreeSet<Target> = keys
            .iter()
            .filter_map(|k| self.by_vs.get(k.as_str()).copied())
            .collect();
        if let Some(remembered) = p.counterparty.as_ref().and_then(|a| self.remembered.get(a)) {
            targets.extend(remembered.iter().copied());
        }
        let households: Vec<Target> = targets
            .iter()
            .filter_map(|t| self.household_of(*t))
            .map(Target::Household)
            .collect();
        targets.extend(households);
        targets
            .into_iter()
            .flat_map(|t| self.members_of(t))
            .collect()
    }

    /// The members whose charges a target's payment settles.
    pub fn members_of(&self, target: Target) -> Vec<Uuid> {
        match target {
            Target::Member(id) => vec![id],
            Target::Household(h) => {
                let mut ids: Vec<(&str, Uuid)> = self
                    .members
                    .values()
                    .filter(|m| m.household == Some(h))
                    .map(|m| (m.name.as_str(), m.id))
                    .collect();
                ids.sort();
                ids.into_iter().map(|(_, id)| id).collect()
            }
        }
    }
}

/// Open amounts of charges, updated as a run allocates.
struct Ledger<'a> {
    /// Oldest due first.
    charges: Vec<&'a Charge>,
    /// Indexes into `charges` per member, in the same order.
    by_member: HashMap<Uuid, Vec<usize>>,
    open: HashMap<Uuid, i64>,
    allocated_of_payment: HashMap<i64, i64>,
}

impl<'a> Ledger<'a> {
    fn new(state: &'a State) -> Ledger<'a> {
        let mut open: HashMap<Uuid, i64> = state
            .charges
            .iter()
            .map(|c| (c.id, c.amount_minor))
            .collect();
        let mut allocated_of_payment: HashMap<i64, i64> = HashMap::new();
        for a in &state.allocations {
            if let Some(o) = open.get_mut(&a.charge_id) {
                *o -= a.amount_minor;
            }
            *allocated_of_payment.entry(a.payment_id).or_default() += a.amount_minor;
        }
        let mut charges: Vec<&Charge> = state.charges.iter().collect();
        charges.sort_by_key(|c| (c.due_on, c.member, c.id));
        let mut by_member: HashMap<Uuid, Vec<usize>> = HashMap::new();
        for (i, c) in charges.iter().enumerate() {
            by_member.entry(c.member).or_default().push(i);
        }
        Ledger {
            charges,
            by_member,
            open,
            allocated_of_payment,
        }
    }

    /// The members' charges, oldest due first.
    fn charges_of(&self, members: &[Uuid]) -> Vec<&'a Charge> {
        let mut idx: Vec<usize> = members
            .iter()
            .filter_map(|m| self.by_member.get(m))
            .flatten()
            .copied()
            .collect();
        idx.sort_unstable();
        idx.into_iter().map(|i| self.charges[i]).collect()
    }

    fn open_of(&self, members: &[Uuid]) -> i64 {
        self.charges_of(members)
            .iter()
            .map(|c| self.open.get(&c.id).copied().unwrap_or(0).max(0))
            .sum()
    }

    /// Lays `amount` onto the members' open charges, oldest due first — except that when
    /// exactly one open charge is open for exactly `amount`, that one goes first (a month's
    /// 150 Kč paid while a yearly 1 500 Kč is also open settles the month, not a tenth of the
    /// year). Returns the allocations and whether the last charge touched stays partly paid.
    fn allocate(
        &mut self,
        payment_id: i64,
        members: &[Uuid],
        mut amount: i64,
        rule: Rule,
        evidence: &Evidence,
    ) -> (Vec<Allocation>, bool) {
        let mut out = Vec::new();
        let mut partly = false;
        let mut charges = self.charges_of(members);
        let open_for = |c: &&Charge| self.open.get(&c.id).copied().unwrap_or(0);
        let mut exact = charges.iter().filter(|c| open_for(c) == amount);
        if let (Some(first), None) = (exact.next(), exact.next()) {
            let first = first.id;
            charges.sort_by_key(|c| c.id != first);
        }
        for c in charges {
            if amount <= 0 {
                break;
            }
            let open = self.open.get(&c.id).copied().unwrap_or(0);
            if open <= 0 {
                continue;
            }
            let take = open.min(amount);
            amount -= take;
            self.open.insert(c.id, open - take);
            partly = open - take > 0;
            out.push(Allocation {
                payment_id,
                charge_id: c.id,
                member: c.member,
                amount_minor: take,
                rule,
                evidence: evidence.clone(),
            });
        }
        *self.allocated_of_payment.entry(payment_id).or_default() +=
            out.iter().map(|a| a.amount_minor).sum::<i64>();
        (out, partly)
    }
}

/// Matches everything that can be matched (see the module documentation). Deterministic:
/// payments in (date, id) order, charges oldest due first.
pub fn run(state: &State) -> Plan {
    let mut ledger = Ledger::new(state);
    let mut plan = Plan::default();
    let mut decisions: HashMap<i64, Decision> = state
        .decisions
        .iter()
        .map(|d| (d.payment_id, d.clone()))
        .collect();
    let mut payments: Vec<&Payment> = state.payments.iter().filter(|p| p.booked).collect();
    payments.sort_by_key(|p| (p.date, p.id));

    // Reversals first: they free charges that the rest of the run may settle again.
    let mut reversed_now: BTreeSet<i64> = BTreeSet::new();
    for r in payments.iter().filter(|p| p.reversal && p.amount_minor < 0) {
        if decisions.contains_key(&r.id) {
            continue;
        }
        let original = payments
            .iter()
            .filter(|p| {
                p.settles()
                    && p.account_id == r.account_id
                    && p.amount_minor == -r.amount_minor
                    && p.date <= r.date
                    && !reversed_now.contains(&p.id)
                    && decisions
                        .get(&p.id)
                        .is_none_or(|d| d.outcome != Outcome::Reversed)
                    && same_party(p, r)
            })
            .max_by_key(|p| (p.date, p.id));
        let Some(original) = original else { continue };
        reversed_now.insert(original.id);
        let freed: Vec<&Allocation> = state
            .allocations
            .iter()
            .filter(|a| a.payment_id == original.id)
            .collect();
        for a in freed {
            if let Some(o) = ledger.open.get_mut(&a.charge_id) {
                *o += a.amount_minor;
            }
        }
        ledger.allocated_of_payment.remove(&original.id);
        plan.cleared.push(original.id);
        let target = decisions.get(&original.id).and_then(|d| d.target);
        let reversed = Decision {
            payment_id: original.id,
            outcome: Outcome::Reversed,
            target,
            rule: Rule::Reversal,
            evidence: Evidence {
                reversed_by: Some(r.id),
                ..Evidence::default()
            },
            by_person: false,
        };
        let reversal = Decision {
            payment_id: r.id,
            outcome: Outcome::Reversal,
            target,
            rule: Rule::Reversal,
            evidence: Evidence {
                reverses: Some(original.id),
                ..Evidence::default()
            },
            by_person: false,
        };
        for d in [reversed, reversal] {
            decisions.insert(d.payment_id, d.clone());
            plan.decisions.push(d);
        }
    }

    // Remembered accounts as the reversals left them (a reversed payment's account is
    // forgotten now, not only in the next run).
    let mut dir = Directory::with_decisions(state, decisions.values());
    let redecide = |d: Option<&Decision>| d.is_none_or(|d| !d.by_person && d.outcome.in_queue());
    // Rule 1 first for every payment to decide, so that rule 2 remembers the accounts of this
    // run's VS matches too, whatever their order (a second run then finds nothing new).
    for p in payments.iter().filter(|p| p.settles()) {
        if redecide(decisions.get(&p.id))
            && let Some(Identification::Found { target, rule, .. }) = dir.by_vs(p)
        {
            let d = Decision {
                payment_id: p.id,
                outcome: Outcome::Matched,
                target: Some(target),
                rule,
                evidence: Evidence::default(),
                by_person: false,
            };
            dir.remember(&d, p);
        }
    }

    for p in payments.iter().filter(|p| p.settles()) {
        let existing = decisions.get(&p.id).cloned();
        if redecide(existing.as_ref()) {
            let decision = match dir.identify(p) {
                Identification::Found {
                    target,
                    rule,
                    mut evidence,
                } => {
                    let members = dir.members_of(target);
                    evidence.amount_equal = ledger.open_of(&members) == p.amount_minor;
                    let (allocs, partly) =
                        ledger.allocate(p.id, &members, p.amount_minor, rule, &evidence);
                    let used: i64 = allocs.iter().map(|a| a.amount_minor).sum();
                    plan.allocations.extend(allocs);
                    Decision {
                        payment_id: p.id,
                        outcome: if used < p.amount_minor {
                            Outcome::Overpaid
                        } else if partly {
                            Outcome::PartlyPaid
                        } else {
                            Outcome::Matched
                        },
                        target: Some(target),
                        rule,
                        evidence,
                        by_person: false,
                    }
                }
                Identification::Ambiguous(candidates) => Decision {
                    payment_id: p.id,
                    outcome: Outcome::Ambiguous,
                    target: None,
                    rule: Rule::None,
                    evidence: Evidence {
                        candidates,
                        ..Evidence::default()
                    },
                    by_person: false,
                },
                Identification::Unknown => Decision {
                    payment_id: p.id,
                    outcome: Outcome::Unidentified,
                    target: None,
                    rule: Rule::None,
                    evidence: Evidence::default(),
                    by_person: false,
                },
            };
            if existing.as_ref() != Some(&decision) {
                decisions.insert(p.id, decision.clone());
                plan.decisions.push(decision);
            }
            continue;
        }
        // Decided before: lay any left-over (credit) onto charges that are open now.
        let Some(d) = existing else { continue };
        let Some(target) = d.target else { continue };
        if !matches!(
            d.outcome,
            Outcome::Matched | Outcome::PartlyPaid | Outcome::Overpaid
        ) {
            continue;
        }
        let allocated = ledger.allocated_of_payment.get(&p.id).copied().unwrap_or(0);
        let left = p.amount_minor - allocated;
        if left <= 0 {
            continue;
        }
        let members = dir.members_of(target);
        let (rule, evidence) = if allocated == 0 {
            // A person's assignment (or a cleared one) not yet laid onto charges.
            (d.rule, d.evidence.clone())
        } else {
            (
                Rule::Credit,
                Evidence {
                    credit_from: Some(p.id),
                    ..Evidence::default()
                },
            )
        };
        let (allocs, _) = ledger.allocate(p.id, &members, left, rule, &evidence);
        plan.allocations.extend(allocs);
    }
    plan
}

fn same_party(p: &Payment, r: &Payment) -> bool {
    match (&p.counterparty, &r.counterparty) {
        (Some(a), Some(b)) => a == b,
        _ => {
            let (a, b) = (
                p.variable_symbol.as_deref().and_then(vs_key),
                r.variable_symbol.as_deref().and_then(vs_key),
            );
            a == b
        }
    }
}

/// A suggestion for a person, best first in [`suggest`]'s result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub target: Target,
    /// Higher is better: 2 per name hit, 1 per amount equal to an open charge.
    pub score: u32,
    pub name_found: bool,
    pub amount_equal: bool,
}

/// Rule 3: members whose name appears in the counter-party name or the message, or who have
/// an open charge of exactly the payment's amount; plus the members or households rules 1 and
/// 2 fit (an ambiguous payment's candidates). Archived members are never suggested. Best first
/// (score, then name); at most `limit`.
pub fn suggest(state: &State, payment: &Payment, limit: usize) -> Vec<Suggestion> {
    Suggester::new(state).suggest(payment, &[], limit)
}

/// [`suggest`] for many payments: the directory, an index of the members' name words and an
/// index of open charges by amount are built once, so each payment costs lookups, not a pass
/// over the club.
pub struct Suggester<'a> {
    dir: Directory<'a>,
    /// A normalised name word (3 characters or more) → the active members whose name has it.
    by_word: HashMap<String, Vec<Uuid>>,
    /// How many distinct such words each active member's name has.
    words_of: HashMap<Uuid, usize>,
    /// The open amount of a charge → the active members with such a charge.
    by_open_amount: HashMap<i64, BTreeSet<Uuid>>,
}

/// The distinct normalised words of a name that count for suggestions (3 characters or more).
fn name_words(name: &str) -> BTreeSet<String> {
    fold(name)
        .split_whitespace()
        .filter(|w| w.len() >= 3)
        .map(str::to_owned)
        .collect()
}

impl<'a> Suggester<'a> {
    /// With the open amounts of the state's charges (less their allocations).
    pub fn new(state: &'a State) -> Suggester<'a> {
        let ledger = Ledger::new(state);
        let open: Vec<(Uuid, i64)> = state
            .charges
            .iter()
            .map(|c| (c.member, ledger.open.get(&c.id).copied().unwrap_or(0)))
            .collect();
        Suggester::with_open(state, open)
    }

    /// With open charges given as (member, open amount in minor units), e.g. only those
    /// whose open amount equals one of the payments to suggest for.
    pub fn with_open(
        state: &'a State,
        open: impl IntoIterator<Item = (Uuid, i64)>,
    ) -> Suggester<'a> {
        let mut by_word: HashMap<String, Vec<Uuid>> = HashMap::new();
        let mut words_of = HashMap::new();
        for m in state.members.iter().filter(|m| !m.archived) {
            let words = name_words(&m.name);
            words_of.insert(m.id, words.len());
            for w in words {
                by_word.entry(w).or_default().push(m.id);
            }
        }
        let active: HashMap<Uuid, bool> =
            state.members.iter().map(|m| (m.id, !m.archived)).collect();
        let mut by_open_amount: HashMap<i64, BTreeSet<Uuid>> = HashMap::new();
        for (member, open) in open {
            if open > 0 && active.get(&member).copied().unwrap_or(false) {
                by_open_amount.entry(open).or_default().insert(member);
            }
        }
        Suggester {
            dir: Directory::new(state),
            by_word,
            words_of,
            by_open_amount,
        }
    }

    /// See [`suggest`]; `candidates` adds targets known to fit (a stored ambiguous decision's).
    pub fn suggest(
        &self,
        payment: &Payment,
        candidates: &[Target],
        limit: usize,
    ) -> Vec<Suggestion> {
        let haystack = fold(&format!(
            "{} {}",
            payment.counterparty_name.as_deref().unwrap_or(""),
            payment.message.as_deref().unwrap_or("")
        ));
        let words: BTreeSet<&str> = haystack.split_whitespace().collect();
        let mut candidates: BTreeSet<Target> = candidates.iter().copied().collect();
        match self.dir.identify(payment) {
            Identification::Ambiguous(c) => candidates.extend(c),
            Identification::Found { target, .. } => {
                candidates.insert(target);
            }
            Identification::Unknown => {}
        }
        let mut hits: HashMap<Uuid, usize> = HashMap::new();
        for w in &words {
            for m in self.by_word.get(*w).into_iter().flatten() {
                *hits.entry(*m).or_default() += 1;
            }
        }
        let amount_equal: BTreeSet<Uuid> = self
            .by_open_amount
            .get(&payment.amount_minor)
            .cloned()
            .unwrap_or_default();
        let mut members: BTreeSet<Uuid> = hits.keys().copied().collect();
        members.extend(amount_equal.iter().copied());
        members.extend(candidates.iter().filter_map(|t| match t {
            Target::Member(m) => Some(*m),
            Target::Household(_) => None,
        }));
        let mut out: Vec<(Suggestion, String)> = Vec::new();
        for id in members {
            let Some(m) = self.dir.member(id).filter(|m| !m.archived) else {
                continue;
            };
            let name_found = self
                .words_of
                .get(&id)
                .is_some_and(|n| *n > 0 && hits.get(&id) == Some(n));
            let amount_equal = amount_equal.contains(&id);
            let candidate = candidates.contains(&Target::Member(id));
            let score =
                u32::from(name_found) * 2 + u32::from(amount_equal) + u32::from(candidate) * 3;
            if score > 0 {
                out.push((
                    Suggestion {
                        target: Target::Member(id),
                        score,
                        name_found,
                        amount_equal,
                    },
                    m.name.clone(),
                ));
            }
        }
        for t in &candidates {
            if let Target::Household(_) = t {
                out.push((
                    Suggestion {
                        target: *t,
                        score: 3,
                        name_found: false,
                        amount_equal: false,
                    },
                    self.dir.name(*t),
                ));
            }
        }
        out.sort_by(|(a, an), (b, bn)| {
            b.score
                .cmp(&a.score)
                .then_with(|| an.cmp(bn))
                .then_with(|| a.target.cmp(&b.target))
        });
        out.into_iter().take(limit).map(|(s, _)| s).collect()
    }
}

#[cfg(test)]
mod tests;
