//! The matching rules and outcomes as tables (issue 8, "Tests"), and a property test.

use super::*;
use time::macros::date;

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

const ACCOUNT: Uuid = Uuid::from_u128(0xacc);

/// A small club: Jana Nová (VS 2026001), Petr Svoboda (VS 0024 → key 24), and the Dvořák
/// siblings Adam and Bára (VS 2026010, 2026011) in household "Dvořákovi" (VS 2026900).
fn club() -> State {
    let dvorak = uuid(100);
    State {
        members: vec![
            member(1, "Jana Nová", "2026001", None),
            member(2, "Petr Svoboda", "0024", None),
            member(3, "Adam Dvořák", "2026010", Some(dvorak)),
            member(4, "Bára Dvořáková", "2026011", Some(dvorak)),
        ],
        households: vec![HouseholdRef {
            id: dvorak,
            name: "Dvořákovi".into(),
            vs_key: Some("2026900".into()),
        }],
        ..State::default()
    }
}

fn member(n: u128, name: &str, vs: &str, household: Option<Uuid>) -> MemberRef {
    MemberRef {
        id: uuid(n),
        name: name.into(),
        vs_key: vs_key(vs).unwrap_or_default(),
        household,
        archived: false,
    }
}

fn charge(n: u128, member: u128, amount: i64, due_on: Date) -> Charge {
    Charge {
        id: uuid(1000 + n),
        member: uuid(member),
        amount_minor: amount,
        due_on,
    }
}

fn pay(id: i64, amount: i64, vs: Option<&str>, message: Option<&str>) -> Payment {
    Payment {
        id,
        account_id: ACCOUNT,
        booked: true,
        amount_minor: amount,
        reversal: false,
        date: Some(date!(2026 - 01 - 10)),
        variable_symbol: vs.map(str::to_owned),
        message: message.map(str::to_owned),
        counterparty_name: None,
        counterparty: None,
    }
}

fn from(mut p: Payment, account: &str) -> Payment {
    p.counterparty = Some(account.to_owned());
    p
}

/// Applies a plan the way `payment::apply_plan` writes it.
fn apply(state: &mut State, plan: &Plan) {
    state
        .allocations
        .retain(|a| !plan.cleared.contains(&a.payment_id));
    for d in &plan.decisions {
        state.decisions.retain(|x| x.payment_id != d.payment_id);
        state.decisions.push(d.clone());
    }
    state.allocations.extend(plan.allocations.iter().cloned());
}

/// Runs until nothing changes (asserting the second run is empty) and returns the state.
fn settle(mut state: State) -> State {
    let plan = run(&state);
    apply(&mut state, &plan);
    assert_eq!(run(&state), Plan::default(), "a second run changes nothing");
    state
}

fn decision(state: &State, payment: i64) -> &Decision {
    state
        .decisions
        .iter()
        .find(|d| d.payment_id == payment)
        .unwrap_or_else(|| panic!("payment {payment} has a decision"))
}

fn paid(state: &State, charge_n: u128) -> i64 {
    state
        .allocations
        .iter()
        .filter(|a| a.charge_id == uuid(1000 + charge_n))
        .map(|a| a.amount_minor)
        .sum()
}

#[test]
fn variable_symbols_compare_numerically() {
    let cases = [
        ("0012345", Some("12345")),
        ("12345", Some("12345")),
        ("0000000024", Some("24")),
        ("123450", Some("123450")),
        (" 2026001 ", Some("2026001")),
        ("0000000000", None),
        ("", None),
        ("12a45", None),
        ("12345678901", None),
    ];
    for (raw, key) in cases {
        assert_eq!(vs_key(raw).as_deref(), key, "{raw:?}");
    }
}

#[test]
fn message_tokens_that_look_like_a_variable_symbol() {
    let cases: [(&str, &[&str]); 7] = [
        (
            "Mitgliedsbeitrag 2026 VS2026004 Mueller",
            &["2026", "2026004"],
        ),
        ("clenske VS: 2026004", &["2026004"]),
        ("vs.0024 Svoboda", &["24"]),
        ("za 2 deti", &[]),
        ("ABC2026004", &[]),
        ("2026004X", &[]),
        ("VS 12, VS 13", &["12", "13"]),
    ];
    for (message, keys) in cases {
        assert_eq!(message_vs_keys(message), keys, "{message:?}");
    }
}

#[test]
fn both_forms_of_a_czech_account_are_one_account() {
    let iban = account_key(Some("CZ65 0800 0000 1920 0014 5399"), None, None);
    assert_eq!(iban.as_deref(), Some("CZ6508000000192000145399"));
    assert_eq!(account_key(None, Some("19-2000145399/0800"), None), iban);
    assert_eq!(account_key(None, Some("19-2000145399"), Some("0800")), iban);
    assert_eq!(
        account_key(None, Some("0000192000145399"), Some("0800")),
        iban
    );
    assert_eq!(account_key(None, None, Some("0800")), None);
}

/// One row: charges, payments, and what each payment's decision and each charge's paid sum
/// must be afterwards.
struct Case {
    name: &'static str,
    charges: Vec<Charge>,
    payments: Vec<Payment>,
    decisions: Vec<Decision>,
    outcomes: Vec<(i64, Outcome, Option<Target>, Rule)>,
    paid: Vec<(u128, i64)>,
}

fn d(payment_id: i64, outcome: Outcome, target: Option<Target>, rule: Rule) -> Decision {
    Decision {
        payment_id,
        outcome,
        target,
        rule,
        evidence: Evidence::default(),
        by_person: true,
    }
}

#[test]
fn matching_rules_and_outcomes() {
    let jan = date!(2026 - 01 - 15);
    let feb = date!(2026 - 02 - 15);
    let jana = Some(Target::Member(uuid(1)));
    let petr = Some(Target::Member(uuid(2)));
    let dvorak = Some(Target::Household(uuid(100)));
    let cases = vec![
        Case {
            name: "VS field equal to the member's VS, amount equal: matched",
            charges: vec![charge(1, 1, 150_000, jan)],
            payments: vec![pay(1, 150_000, Some("2026001"), None)],
            decisions: vec![],
            outcomes: vec![(1, Outcome::Matched, jana, Rule::Vs)],
            paid: vec![(1, 150_000)],
        },
        Case {
            name: "the bank padded the VS with leading zeros",
            charges: vec![charge(1, 2, 50_000, jan)],
            payments: vec![pay(1, 50_000, Some("0000000024"), None)],
            decisions: vec![],
            outcomes: vec![(1, Outcome::Matched, petr, Rule::Vs)],
            paid: vec![(1, 50_000)],
        },
        Case {
            name: "the bank dropped the member's leading zeros",
            charges: vec![charge(1, 2, 50_000, jan)],
            payments: vec![pay(1, 50_000, Some("24"), None)],
            decisions: vec![],
            outcomes: vec![(1, Outcome::Matched, petr, Rule::Vs)],
            paid: vec![(1, 50_000)],
        },
        Case {
            name: "a trailing zero is significant: 240 is not 24",
            charges: vec![charge(1, 2, 50_000, jan)],
            payments: vec![pay(1, 50_000, Some("240"), None)],
            decisions: vec![],
            outcomes: vec![(1, Outcome::Unidentified, None, Rule::None)],
            paid: vec![(1, 0)],
        },
        Case {
            name: "VS only in the message",
            charges: vec![charge(1, 1, 150_000, jan)],
            payments: vec![pay(1, 150_000, None, Some("clenske VS: 2026001"))],
            decisions: vec![],
            outcomes: vec![(1, Outcome::Matched, jana, Rule::VsInMessage)],
            paid: vec![(1, 150_000)],
        },
        Case {
            name: "a SEPA payment without a VS field (field case 13)",
            charges: vec![charge(1, 1, 123_750, jan)],
            payments: vec![pay(
                1,
                123_750,
                None,
                Some("Mitgliedsbeitrag 2026 VS2026001 Mueller"),
            )],
            decisions: vec![],
            outcomes: vec![(1, Outcome::Matched, jana, Rule::VsInMessage)],
            paid: vec![(1, 123_750)],
        },
        Case {
            name: "a partial payment, then the completing one",
            charges: vec![charge(1, 1, 150_000, jan)],
            payments: vec![
                pay(1, 100_000, Some("2026001"), None),
                pay(2, 50_000, Some("2026001"), None),
            ],
            decisions: vec![],
            outcomes: vec![
                (1, Outcome::PartlyPaid, jana, Rule::Vs),
                (2, Outcome::Matched, jana, Rule::Vs),
            ],
            paid: vec![(1, 150_000)],
        },
        Case {
            name: "an overpayment is a credit that settles the next period",
            charges: vec![charge(1, 1, 100_000, jan), charge(2, 1, 100_000, feb)],
            payments: vec![pay(1, 150_000, Some("2026001"), None)],
            decisions: vec![],
            outcomes: vec![(1, Outcome::PartlyPaid, jana, Rule::Vs)],
            paid: vec![(1, 100_000), (2, 50_000)],
        },
        Case {
            name: "an overpayment without a next charge stays a credit",
            charges: vec![charge(1, 1, 100_000, jan)],
            payments: vec![pay(1, 150_000, Some("2026001"), None)],
            decisions: vec![],
            outcomes: vec![(1, Outcome::Overpaid, jana, Rule::Vs)],
            paid: vec![(1, 100_000)],
        },
        Case {
            name: "a household transfer is split across the siblings, oldest due first",
            charges: vec![
                charge(1, 3, 100_000, feb),
                charge(2, 4, 100_000, jan),
                charge(3, 4, 100_000, feb),
            ],
            payments: vec![pay(1, 250_000, Some("2026900"), None)],
            decisions: vec![],
            outcomes: vec![(1, Outcome::PartlyPaid, dvorak, Rule::Vs)],
            paid: vec![(2, 100_000), (1, 100_000), (3, 50_000)],
        },
        Case {
            name: "two members' VS in one message: ambiguous, nothing allocated",
            charges: vec![charge(1, 1, 100_000, jan), charge(2, 2, 100_000, jan)],
            payments: vec![pay(1, 100_000, None, Some("VS 2026001 a VS 0024"))],
            decisions: vec![],
            outcomes: vec![(1, Outcome::Ambiguous, None, Rule::None)],
            paid: vec![(1, 0), (2, 0)],
        },
        Case {
            name: "no evidence at all: unidentified",
            charges: vec![charge(1, 1, 100_000, jan)],
            payments: vec![pay(1, 100_000, None, Some("clenske"))],
            decisions: vec![],
            outcomes: vec![(1, Outcome::Unidentified, None, Rule::None)],
            paid: vec![(1, 0)],
        },
        Case {
            name: "the account remembered from a VS match identifies a payment without VS",
            charges: vec![charge(1, 1, 100_000, jan), charge(2, 1, 100_000, feb)],
            payments: vec![
                from(pay(1, 100_000, Some("2026001"), None), "CZ01"),
                from(pay(2, 100_000, None, Some("unor")), "CZ01"),
            ],
            decisions: vec![],
            outcomes: vec![
                (1, Outcome::Matched, jana, Rule::Vs),
                (2, Outcome::Matched, jana, Rule::RememberedAccount),
            ],
            paid: vec![(1, 100_000), (2, 100_000)],
        },
        Case {
            name: "a guardian's account remembered for two siblings pays for the household",
            charges: vec![
                charge(1, 3, 100_000, jan),
                charge(2, 4, 100_000, jan),
                charge(3, 3, 100_000, feb),
                charge(4, 4, 100_000, feb),
            ],
            payments: vec![
                from(pay(1, 100_000, None, None), "CZ09"),
                from(pay(2, 100_000, None, None), "CZ09"),
                from(pay(3, 200_000, None, None), "CZ09"),
            ],
            decisions: vec![
                d(
                    1,
                    Outcome::Matched,
                    Some(Target::Member(uuid(3))),
                    Rule::Person,
                ),
                d(
                    2,
                    Outcome::Matched,
                    Some(Target::Member(uuid(4))),
                    Rule::Person,
                ),
            ],
            outcomes: vec![(3, Outcome::Matched, dvorak, Rule::RememberedAccount)],
            paid: vec![(1, 100_000), (2, 100_000), (3, 100_000), (4, 100_000)],
        },
        Case {
            name: "one account remembered for two unrelated members: ambiguous",
            charges: vec![charge(1, 1, 100_000, jan), charge(2, 1, 100_000, feb)],
            payments: vec![
                from(pay(1, 100_000, None, None), "CZ07"),
                from(pay(2, 100_000, None, None), "CZ07"),
                from(pay(3, 100_000, None, None), "CZ07"),
            ],
            decisions: vec![
                d(1, Outcome::Matched, jana, Rule::Person),
                d(2, Outcome::Matched, petr, Rule::Person),
            ],
            outcomes: vec![(3, Outcome::Ambiguous, None, Rule::None)],
            paid: vec![(1, 100_000), (2, 0)],
        },
        Case {
            name: "a person's irrelevant mark stays",
            charges: vec![charge(1, 1, 100_000, jan)],
            payments: vec![pay(1, 100_000, Some("2026001"), None)],
            decisions: vec![d(1, Outcome::Irrelevant, None, Rule::Person)],
            outcomes: vec![(1, Outcome::Irrelevant, None, Rule::Person)],
            paid: vec![(1, 0)],
        },
        Case {
            name: "a person's assignment is laid onto the member's charges",
            charges: vec![charge(1, 2, 100_000, jan)],
            payments: vec![pay(1, 100_000, None, Some("za Petra"))],
            decisions: vec![d(1, Outcome::Matched, petr, Rule::Person)],
            outcomes: vec![(1, Outcome::Matched, petr, Rule::Person)],
            paid: vec![(1, 100_000)],
        },
        Case {
            name: "pending and outgoing payments settle nothing",
            charges: vec![charge(1, 1, 100_000, jan)],
            payments: vec![
                Payment {
                    booked: false,
                    ..pay(1, 100_000, Some("2026001"), None)
                },
                pay(2, -100_000, Some("2026001"), None),
            ],
            decisions: vec![],
            outcomes: vec![],
            paid: vec![(1, 0)],
        },
    ];
    for case in cases {
        let mut state = club();
        state.charges = case.charges;
        state.payments = case.payments;
        state.decisions = case.decisions;
        let state = settle(state);
        for &(payment, outcome, target, rule) in &case.outcomes {
            let d = decision(&state, payment);
            assert_eq!(
                (d.outcome, d.target, d.rule),
                (outcome, target, rule),
                "{}: payment {payment}",
                case.name
            );
        }
        for (charge_n, amount) in case.paid {
            assert_eq!(
                paid(&state, charge_n),
                amount,
                "{}: charge {charge_n}",
                case.name
            );
        }
        if case.outcomes.is_empty() {
            assert!(state.decisions.is_empty(), "{}", case.name);
        }
    }
}

#[test]
fn evidence_records_the_vs_and_an_equal_amount() {
    let mut state = club();
    state.charges = vec![charge(1, 1, 150_000, date!(2026 - 01 - 15))];
    state.payments = vec![pay(1, 150_000, Some("002026001"), None)];
    let state = settle(state);
    let d = decision(&state, 1);
    assert_eq!(d.evidence.vs.as_deref(), Some("2026001"));
    assert!(d.evidence.amount_equal);
    assert!(!d.by_person);
}

#[test]
fn a_credit_settles_a_charge_created_later() {
    let mut state = club();
    state.charges = vec![charge(1, 1, 100_000, date!(2026 - 01 - 15))];
    state.payments = vec![pay(1, 250_000, Some("2026001"), None)];
    let mut state = settle(state);
    assert_eq!(decision(&state, 1).outcome, Outcome::Overpaid);
    // The next period's charge is generated; the next run lays the credit onto it.
    state
        .charges
        .push(charge(2, 1, 100_000, date!(2026 - 02 - 15)));
    let state = settle(state);
    assert_eq!(paid(&state, 2), 100_000);
    let credit = state
        .allocations
        .iter()
        .find(|a| a.charge_id == uuid(1002))
        .map(|a| (a.rule, a.evidence.credit_from));
    assert_eq!(credit, Some((Rule::Credit, Some(1))));
}

#[test]
fn a_reversal_undoes_the_allocation_of_the_payment_it_reverses() {
    let mut state = club();
    state.charges = vec![charge(1, 1, 100_000, date!(2026 - 01 - 15))];
    state.payments = vec![from(pay(1, 100_000, Some("2026001"), None), "CZ01")];
    let mut state = settle(state);
    assert_eq!(paid(&state, 1), 100_000);
    state.payments.push(Payment {
        reversal: true,
        date: Some(date!(2026 - 01 - 12)),
        ..from(pay(2, -100_000, Some("2026001"), None), "CZ01")
    });
    let state = settle(state);
    assert_eq!(paid(&state, 1), 0, "the charge is open again");
    assert_eq!(decision(&state, 1).outcome, Outcome::Reversed);
    assert_eq!(decision(&state, 1).evidence.reversed_by, Some(2));
    assert_eq!(decision(&state, 2).outcome, Outcome::Reversal);
}

#[test]
fn a_new_member_with_the_vs_moves_a_payment_out_of_the_queue() {
    let mut state = club();
    state.payments = vec![pay(1, 100_000, Some("2026077"), None)];
    let mut state = settle(state);
    assert_eq!(decision(&state, 1).outcome, Outcome::Unidentified);
    // Re-run after a member change.
    state.members.push(member(9, "Eva Malá", "2026077", None));
    state.charges = vec![charge(9, 9, 100_000, date!(2026 - 01 - 15))];
    let state = settle(state);
    assert_eq!(decision(&state, 1).outcome, Outcome::Matched);
    assert_eq!(paid(&state, 9), 100_000);
}

#[test]
fn suggestions_put_the_best_fit_on_top() {
    let mut state = club();
    state.charges = vec![
        charge(1, 1, 100_000, date!(2026 - 01 - 15)),
        charge(2, 2, 100_000, date!(2026 - 01 - 15)),
    ];
    let mut p = pay(1, 100_000, None, Some("prispevek"));
    p.counterparty_name = Some("NOVA JANA".into());
    let s = suggest(&state, &p, 5);
    assert_eq!(s[0].target, Target::Member(uuid(1)));
    assert!(s[0].name_found && s[0].amount_equal);
    assert_eq!(s[1].target, Target::Member(uuid(2)));
    assert!(!s[1].name_found && s[1].amount_equal);
}

mod property {
    use super::*;
    use proptest::prelude::*;

    fn arb_state() -> impl Strategy<Value = State> {
        (
            2usize..8,
            prop::collection::vec((0usize..8, 1i64..5, 0i64..90), 0..16),
            prop::collection::vec(
                (0usize..12, 1i64..6, prop::bool::ANY, 0usize..3, -1i64..60),
                0..16,
            ),
        )
            .prop_map(|(n_members, charges, payments)| {
                let households = vec![HouseholdRef {
                    id: uuid(100),
                    name: "H".into(),
                    vs_key: Some("900".into()),
                }];
                let members: Vec<MemberRef> = (0..n_members)
                    .map(|i| MemberRef {
                        id: uuid(i as u128 + 1),
                        name: format!("M{i}"),
                        vs_key: format!("{}", i + 1),
                        household: (i % 3 == 0).then_some(uuid(100)),
                        archived: false,
                    })
                    .collect();
                let base = date!(2026 - 01 - 01);
                let charges = charges
                    .into_iter()
                    .enumerate()
                    .map(|(i, (m, amount, day))| Charge {
                        id: uuid(1000 + i as u128),
                        member: uuid((m % n_members) as u128 + 1),
                        amount_minor: amount * 50_000,
                        due_on: base + time::Duration::days(day),
                    })
                    .collect();
                let payments = payments
                    .into_iter()
                    .enumerate()
                    .map(|(i, (vs, amount, in_message, account, day))| {
                        // VS 1..=n are members, 9 is nobody, 10 is the household (as "900").
                        let vs = match vs {
                            9 => "77".to_owned(),
                            10 | 11 => "0900".to_owned(),
                            v => format!("{:03}", v + 1),
                        };
                        let (field, message) = if in_message {
                            (None, Some(format!("VS {vs}")))
                        } else {
                            (Some(vs), None)
                        };
                        Payment {
                            id: i as i64 + 1,
                            account_id: ACCOUNT,
                            booked: day >= 0,
                            amount_minor: amount * 40_000,
                            reversal: false,
                            date: Some(base + time::Duration::days(day.max(0))),
                            variable_symbol: field,
                            message,
                            counterparty_name: None,
                            counterparty: Some(format!("ACC{account}")),
                        }
                    })
                    .collect();
                State {
                    members,
                    households,
                    charges,
                    payments,
                    ..State::default()
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn allocations_stay_within_payments_and_targets_and_a_second_run_is_empty(
            state in arb_state()
        ) {
            let mut state = state;
            let plan = run(&state);
            apply(&mut state, &plan);
            prop_assert_eq!(run(&state), Plan::default());

            let members: HashMap<Uuid, Option<Uuid>> =
                state.members.iter().map(|m| (m.id, m.household)).collect();
            let charges: HashMap<Uuid, &Charge> =
                state.charges.iter().map(|c| (c.id, c)).collect();
            for p in &state.payments {
                let allocated: i64 = state
                    .allocations
                    .iter()
                    .filter(|a| a.payment_id == p.id)
                    .map(|a| a.amount_minor)
                    .sum();
                prop_assert!(allocated <= p.amount_minor.max(0));
                if !p.settles() {
                    prop_assert_eq!(allocated, 0);
                }
            }
            for c in &state.charges {
                let paid: i64 = state
                    .allocations
                    .iter()
                    .filter(|a| a.charge_id == c.id)
                    .map(|a| a.amount_minor)
                    .sum();
                prop_assert!(paid <= c.amount_minor);
            }
            for a in &state.allocations {
                prop_assert!(a.amount_minor > 0);
                let charge = charges.get(&a.charge_id).copied();
                prop_assert!(charge.is_some());
                let charge = charge.expect("checked");
                prop_assert_eq!(charge.member, a.member);
                let target = state
                    .decisions
                    .iter()
                    .find(|d| d.payment_id == a.payment_id)
                    .and_then(|d| d.target);
                match target {
                    Some(Target::Member(m)) => prop_assert_eq!(m, a.member),
                    Some(Target::Household(h)) => {
                        prop_assert_eq!(members.get(&a.member).copied().flatten(), Some(h))
                    }
                    None => prop_assert!(false, "allocation without a target"),
                }
            }
        }
    }

    /// The part of a settled club a run needs, as `payment::input` loads it from the schema:
    /// payments without a decision or that a person just acted on (`extra`), the originals a
    /// new reversal may undo, the engine's queue from the accounts of those payments,
    /// identified payments with credit whose member has an open charge or one such a reversal
    /// reopens; the open charges of the members the payments may go to and the charges the
    /// loaded payments' allocations point at; every allocation of those payments and charges;
    /// the accounts remembered from the other decisions for the loaded payments' accounts.
    fn part(state: &State, extra: &[i64]) -> State {
        let decided: HashMap<i64, &Decision> =
            state.decisions.iter().map(|d| (d.payment_id, d)).collect();
        let by_id: HashMap<i64, &Payment> = state.payments.iter().map(|p| (p.id, p)).collect();
        let paid_of = |charge: Uuid| -> i64 {
            state
                .allocations
                .iter()
                .filter(|a| a.charge_id == charge)
                .map(|a| a.amount_minor)
                .sum()
        };
        let open: Vec<&Charge> = state
            .charges
            .iter()
            .filter(|c| paid_of(c.id) < c.amount_minor)
            .collect();
        let matters = |p: &&Payment| p.booked && (p.amount_minor > 0 || p.reversal);
        let new: Vec<&Payment> = state
            .payments
            .iter()
            .filter(matters)
            .filter(|p| !decided.contains_key(&p.id) || extra.contains(&p.id))
            .collect();
        let originals: BTreeSet<i64> = new
            .iter()
            .filter(|p| p.reversal && p.amount_minor < 0)
            .flat_map(|r| {
                state.payments.iter().filter(|p| {
                    p.booked
                        && !p.reversal
                        && p.account_id == r.account_id
                        && p.amount_minor == -r.amount_minor
                        && p.date <= r.date
                })
            })
            .map(|p| p.id)
            .collect();
        // Credit goes to open charges and to the charges a reversal in this run reopens.
        let mut owing: BTreeSet<Uuid> = open.iter().map(|c| c.member).collect();
        owing.extend(
            state
                .allocations
                .iter()
                .filter(|a| originals.contains(&a.payment_id))
                .map(|a| a.member),
        );
        let households_owing: BTreeSet<Uuid> = state
            .members
            .iter()
            .filter(|m| owing.contains(&m.id))
            .filter_map(|m| m.household)
            .collect();
        let keys: BTreeSet<&String> = new.iter().filter_map(|p| p.counterparty.as_ref()).collect();
        let mut ids: BTreeSet<i64> = new.iter().map(|p| p.id).collect();
        for d in &state.decisions {
            let p = by_id[&d.payment_id];
            let queued = d.outcome.in_queue()
                && !d.by_person
                && p.counterparty.as_ref().is_some_and(|k| keys.contains(k));
            let allocated: i64 = state
                .allocations
                .iter()
                .filter(|a| a.payment_id == p.id)
                .map(|a| a.amount_minor)
                .sum();
            let credit = matches!(
                d.outcome,
                Outcome::Matched | Outcome::PartlyPaid | Outcome::Overpaid
            ) && allocated < p.amount_minor
                && match d.target {
                    Some(Target::Member(m)) => owing.contains(&m),
                    Some(Target::Household(h)) => households_owing.contains(&h),
                    None => false,
                };
            if queued || credit {
                ids.insert(p.id);
            }
        }
        ids.extend(originals.iter().copied());
        let payments: Vec<Payment> = state
            .payments
            .iter()
            .filter(|p| ids.contains(&p.id))
            .cloned()
            .collect();
        let loaded_keys: BTreeSet<&String> = payments
            .iter()
            .filter_map(|p| p.counterparty.as_ref())
            .collect();
        let mut part = State {
            members: state.members.clone(),
            households: state.households.clone(),
            decisions: state
                .decisions
                .iter()
                .filter(|d| ids.contains(&d.payment_id))
                .cloned()
                .collect(),
            remembered: state
                .decisions
                .iter()
                .filter(|d| !ids.contains(&d.payment_id) && remembers(d))
                .filter_map(|d| {
                    let key = by_id[&d.payment_id].counterparty.as_ref()?;
                    Some((key.clone(), d.target?))
                })
                .filter(|(key, _)| loaded_keys.contains(key))
                .collect(),
            payments,
            ..State::default()
        };
        if part.payments.is_empty() {
            return part;
        }
        // Open charges only of the members the payments may go to, and what they point at.
        let mut members: BTreeSet<Uuid> = state
            .allocations
            .iter()
            .filter(|a| originals.contains(&a.payment_id))
            .map(|a| a.member)
            .collect();
        {
            let dir = Directory::new(&part);
            for p in &part.payments {
                members.extend(dir.possible_members(p));
            }
            for d in &part.decisions {
                if let Some(t) = d.target {
                    members.extend(dir.members_of(t));
                }
            }
        }
        let mut charge_ids: BTreeSet<Uuid> = open
            .iter()
            .filter(|c| members.contains(&c.member))
            .map(|c| c.id)
            .collect();
        charge_ids.extend(
            state
                .allocations
                .iter()
                .filter(|a| ids.contains(&a.payment_id))
                .map(|a| a.charge_id),
        );
        part.charges = state
            .charges
            .iter()
            .filter(|c| charge_ids.contains(&c.id))
            .cloned()
            .collect();
        part.allocations = state
            .allocations
            .iter()
            .filter(|a| ids.contains(&a.payment_id) || charge_ids.contains(&a.charge_id))
            .cloned()
            .collect();
        part
    }

    /// Payments arriving after a first run: ids from 100, days 30-89, some without a VS, and a
    /// reversal of one of the first payments when `reverse` names one.
    fn later(
        state: &State,
        arrivals: Vec<(usize, i64, usize, i64)>,
        reverse: Option<usize>,
    ) -> Vec<Payment> {
        let base = date!(2026 - 01 - 01);
        let mut out: Vec<Payment> = arrivals
            .into_iter()
            .enumerate()
            .map(|(i, (vs, amount, account, day))| Payment {
                id: 100 + i as i64,
                account_id: ACCOUNT,
                booked: true,
                amount_minor: amount * 40_000,
                reversal: false,
                date: Some(base + time::Duration::days(30 + day)),
                variable_symbol: (vs < 9).then(|| format!("{}", vs + 1)),
                message: None,
                counterparty_name: None,
                counterparty: Some(format!("ACC{account}")),
            })
            .collect();
        let settled: Vec<&Payment> = state.payments.iter().filter(|p| p.settles()).collect();
        if let Some(p) = reverse.and_then(|i| settled.get(i % settled.len().max(1))) {
            out.push(Payment {
                id: 200,
                amount_minor: -p.amount_minor,
                reversal: true,
                date: Some(base + time::Duration::days(95)),
                ..(*p).clone()
            });
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn a_run_over_the_part_that_can_change_plans_what_a_run_over_the_whole_club_plans(
            state in arb_state(),
            arrivals in prop::collection::vec((0usize..12, 1i64..6, 0usize..4, 0i64..60), 0..8),
            reverse in prop::option::of(0usize..16),
            more_charges in prop::collection::vec((0usize..8, 1i64..5, 60i64..120), 0..6),
            assigned in prop::option::of((0usize..16, 0usize..8)),
        ) {
            let mut state = state;
            let plan = run(&state);
            apply(&mut state, &plan);
            // A person assigns one payment of the queue (not laid onto charges yet).
            let queued: Vec<i64> = state
                .decisions
                .iter()
                .filter(|d| d.outcome.in_queue())
                .map(|d| d.payment_id)
                .collect();
            let mut acted_on = Vec::new();
            if let Some((i, m)) = assigned
                && let Some(&payment) = queued.get(i % queued.len().max(1))
            {
                acted_on.push(payment);
                let member = uuid((m % state.members.len()) as u128 + 1);
                state.decisions.retain(|d| d.payment_id != payment);
                state.decisions.push(d(
                    payment,
                    Outcome::Matched,
                    Some(Target::Member(member)),
                    Rule::Person,
                ));
            }
            // Later: new payments (maybe a reversal) and the next periods' charges.
            let arriving = later(&state, arrivals, reverse);
            state.payments.extend(arriving);
            let n_members = state.members.len();
            let base = date!(2026 - 01 - 01);
            for (i, (m, amount, day)) in more_charges.into_iter().enumerate() {
                state.charges.push(Charge {
                    id: uuid(5000 + i as u128),
                    member: uuid((m % n_members) as u128 + 1),
                    amount_minor: amount * 50_000,
                    due_on: base + time::Duration::days(day),
                });
            }
            let whole = run(&state);
            prop_assert_eq!(run(&part(&state, &acted_on)), whole.clone());
            // And after that run, the part plans nothing, as the whole does.
            apply(&mut state, &whole);
            prop_assert_eq!(run(&part(&state, &[])), Plan::default());
            prop_assert_eq!(run(&state), Plan::default());
        }
    }
}

#[test]
fn a_payment_of_exactly_one_charges_open_amount_settles_that_charge_first() {
    // Jana owes a yearly 1 500 Kč (due in January) and November's 150 Kč; she pays 150 Kč.
    let mut state = club();
    state.charges = vec![
        charge(1, 1, 150_000, date!(2026 - 01 - 15)),
        charge(2, 1, 15_000, date!(2026 - 11 - 15)),
    ];
    state.payments = vec![pay(1, 15_000, Some("2026001"), None)];
    let state = settle(state);
    assert_eq!((paid(&state, 1), paid(&state, 2)), (0, 15_000));
    assert_eq!(decision(&state, 1).outcome, Outcome::Matched);

    // Two charges open for the amount (two months of 500 Kč): the oldest first, as before.
    let mut state = club();
    state.charges = vec![
        charge(1, 1, 50_000, date!(2026 - 01 - 15)),
        charge(2, 1, 50_000, date!(2026 - 02 - 15)),
    ];
    state.payments = vec![pay(1, 50_000, Some("2026001"), None)];
    let state = settle(state);
    assert_eq!((paid(&state, 1), paid(&state, 2)), (50_000, 0));

    // More than one charge's worth: oldest first, then the rest.
    let mut state = club();
    state.charges = vec![
        charge(1, 1, 150_000, date!(2026 - 01 - 15)),
        charge(2, 1, 15_000, date!(2026 - 11 - 15)),
    ];
    state.payments = vec![pay(1, 160_000, Some("2026001"), None)];
    let state = settle(state);
    assert_eq!((paid(&state, 1), paid(&state, 2)), (150_000, 10_000));
}
