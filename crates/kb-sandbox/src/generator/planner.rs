//! The planner: what to generate ([`GeneratorConfig`]), and one account's history planned as a
//! Czech club's year looks: member fees (by team, weighted towards the months fees fall due, with
//! the demo members' variable symbols), grants and sponsors, coaches, referees and suppliers,
//! card payments with holds that book days later, fees, cash, SEPA credits, month-end account
//! fee and interest, rent, and stornos of earlier rows; then an opening balance that keeps the
//! booked balance above 5 000 CZK. Deterministic: one `ChaCha8Rng` stream per account.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use time::OffsetDateTime;

use super::accounts::{BANKS, CzAccount, base64url, make_iban};
use super::catalogue::{
    CLUBS, MEMBER_KS, MERCHANTS, OTHER_INCOMING, PURPOSES, SEPA_MESSAGES, SEPA_PAYERS, SUPPLIERS,
    TEAMS,
};
use super::chance::{percent, pick};
use super::names::{Person, SURNAMES, ascii_fold};
use super::render::{
    BTC_CARD, BTC_DOMESTIC_IN, BTC_DOMESTIC_OUT, BTC_FEE, EntryStyle, Party, Refs, STORNO_PREFIX,
    Tx, hex16, mix64, render,
};
use crate::calendar::{
    DAY_US, HOUR_US, civil_from_days, days_from_civil, days_in_month, fmt_date_cz, local_day,
    local_hour, local_to_utc_us, to_micros,
};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Seed of all randomness; the same config always gives the same output.
    pub seed: u64,
    /// Number of accounts.
    pub accounts: usize,
    /// Exact number of transaction rows per account (pending and booked rows both count).
    pub transactions_per_account: usize,
    /// Length of the history window in days, ending at `end` (0 is treated as 1).
    pub days: u32,
    /// End of the history window; no row is later than this instant.
    pub end: OffsetDateTime,
}

/// One generated sandbox account with its history.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedAccount {
    /// Sandbox account id: unpadded base64url of `"<IBAN>:<CURRENCY>"` (spec §7.3).
    pub account_id: String,
    /// IBAN, `CZkk bbbb pppppp nnnnnnnnnn` without spaces.
    pub iban: String,
    /// National account number without bank code as printed: `[prefix-]number`, no leading zeros
    /// (e.g. `115-4933990227`, `2795161113`).
    pub number: String,
    /// Bank code, always `0100` (KB).
    pub bank_code: String,
    /// Account name (club and purpose).
    pub name: String,
    /// Account currency, always `CZK`.
    pub currency: String,
    /// Booked balance before the first generated row, in minor units (haléře).
    pub opening_balance_minor: i64,
    /// ADAA v2 `AccountTransaction` objects, oldest first.
    pub transactions: Vec<Value>,
}

/// The VS of the first club member in every generated account; member `n` pays with
/// `DEMO_MEMBER_VS_FIRST + n`. Kasa's demo member list (docs/demo-members.csv) holds the first
/// [`DEMO_MEMBER_COUNT`] of them, which covers the default sandbox (2 400 rows per account →
/// 200 members); the control page's default VS is the first.
pub const DEMO_MEMBER_VS_FIRST: u64 = 2_025_001;
/// How many demo members docs/demo-members.csv lists.
pub const DEMO_MEMBER_COUNT: u64 = 200;

/// Generates `cfg.accounts` accounts with `cfg.transactions_per_account` rows each.
pub fn generate(cfg: &GeneratorConfig) -> Vec<GeneratedAccount> {
    let mut used: HashSet<(u32, u64)> = HashSet::new();
    (0..cfg.accounts)
        .map(|index| generate_account(cfg, index as u64, &mut used))
        .collect()
}

/// Whole CZK in minor units.
const fn czk(whole: i64) -> i64 {
    whole * 100
}

#[derive(Debug, Clone)]
struct Member {
    payer: Party,
    /// Child's full name for youth members.
    child: Option<Person>,
    adult: Person,
    team: usize,
    vs: String,
}

#[derive(Debug, Clone)]
struct Supplier {
    party: Party,
    message: &'static str,
    min: i64,
    max: i64,
}

/// Per-account planning state.
struct Planner {
    rng: ChaCha8Rng,
    start_us: i64,
    end_us: i64,
    servicer_key: u64,
    servicer_counter: u64,
    members: Vec<Member>,
    suppliers: Vec<Supplier>,
    gym: Party,
    coach: Party,
    ks: Option<&'static str>,
    card_last4: u32,
}

impl Planner {
    fn next_servicer(&mut self) -> String {
        self.servicer_counter += 1;
        hex16(mix64(self.servicer_key.wrapping_add(self.servicer_counter)))
    }

    /// Uniform instant in the window, preferring Prague daytime (06–22 h).
    fn instant(&mut self) -> i64 {
        let span = self.end_us - self.start_us;
        if span <= 0 {
            return self.end_us;
        }
        let mut t = self.end_us;
        for _ in 0..8 {
            t = self.start_us + 1 + self.rng.gen_range(0..span);
            if (6..22).contains(&local_hour(t)) {
                break;
            }
        }
        t
    }

    /// Instant weighted towards the months when member fees are due.
    fn fee_instant(&mut self) -> i64 {
        const WEIGHTS: [u32; 12] = [3, 4, 3, 1, 1, 1, 1, 2, 5, 4, 1, 1];
        let mut t = self.instant();
        for _ in 0..10 {
            let (_, m, _) = civil_from_days(local_day(t));
            if self.rng.gen_range(0..5u32) < WEIGHTS[(m - 1) as usize] {
                break;
            }
            t = self.instant();
        }
        t
    }

    fn base_tx(&mut self, at_us: i64, tx_type: &'static str, credit: bool, amount: i64) -> Tx {
        Tx {
            at_us,
            value_us: at_us,
            pending: false,
            servicer: self.next_servicer(),
            entry_nonce: self.rng.r#gen(),
            entry_style: EntryStyle::Other,
            tx_type,
            btc: None,
            credit,
            amount,
            instructed: None,
            reversal: false,
            party: None,
            refs: Refs::default(),
            info: None,
            hold_expiry_day: None,
        }
    }

    fn member_fee(&mut self) -> Tx {
        let at = self.fee_instant();
        let (y, m, _) = civil_from_days(local_day(at));
        let member = self.members[self.rng.gen_range(0..self.members.len())].clone();
        let (team, yearly, _) = TEAMS[member.team];
        let who = member.child.unwrap_or(member.adult);
        let season = if m >= 8 {
            format!("{y}/{:02}", (y + 1) % 100)
        } else {
            format!("{}/{:02}", y - 1, y % 100)
        };
        let half = if m <= 7 { "jaro" } else { "podzim" };
        let mut amount = match self.rng.gen_range(0..20u32) {
            0..=7 => czk(yearly),
            8..=15 => czk(yearly / 2),
            16..=18 => czk((yearly / 10).max(100) / 10 * 10),
            _ => czk(yearly / 2 + 350),
        };
        let message = match self.rng.gen_range(0..12u32) {
            0..=2 => Some(format!("Členský příspěvek {y}")),
            3..=4 => Some(format!("Oddílový příspěvek – {team}")),
            5..=6 => Some(format!("Příspěvek {season} – {}", who.full())),
            7 => Some(format!("{} – příspěvek {half} {y}", who.full())),
            8 => {
                amount = czk(self.rng.gen_range(35..=55i64) * 100);
                Some(format!("Soustředění {y} – {}", who.first))
            }
            9 => Some(format!("ČP {y} {} {}", who.surname, who.first)),
            _ => None,
        };
        let message = message.map(|msg| {
            if percent(&mut self.rng, 15) {
                ascii_fold(&msg)
            } else {
                msg
            }
        });
        let mut tx = self.base_tx(at, "DOMESTIC", true, amount);
        tx.entry_style = EntryStyle::DomesticIn;
        tx.btc = Some(BTC_DOMESTIC_IN);
        tx.party = Some(member.payer);
        tx.refs = Refs {
            variable: (!percent(&mut self.rng, 6)).then_some(member.vs),
            constant: self
                .ks
                .filter(|_| percent(&mut self.rng, 80))
                .map(str::to_owned),
            specific: percent(&mut self.rng, 25).then(|| (member.team + 1).to_string()),
            receiver: message,
            e2e: None,
        };
        tx.info = Some(
            if percent(&mut self.rng, 50) {
                "Transfer credit"
            } else {
                "Ach deposit"
            }
            .to_owned(),
        );
        tx
    }

    fn other_incoming(&mut self) -> Tx {
        let at = self.instant();
        let (y, _, _) = civil_from_days(local_day(at));
        // Grants (the first two) are rare.
        let idx = if percent(&mut self.rng, 10) {
            self.rng.gen_range(0..2usize)
        } else {
            self.rng.gen_range(2..OTHER_INCOMING.len())
        };
        let (payer, template, min, max) = OTHER_INCOMING[idx];
        let amount = czk(self.rng.gen_range(min / 100..=max / 100) * 100);
        let invoice = format!("{y}{:04}", self.rng.gen_range(1..2_000u32));
        let mut tx = self.base_tx(at, "DOMESTIC", true, amount);
        tx.entry_style = EntryStyle::DomesticIn;
        tx.btc = Some(BTC_DOMESTIC_IN);
        tx.party = Some(Party::domestic(&mut self.rng, payer.to_owned()));
        tx.refs.variable = Some(invoice.clone());
        tx.refs.constant = (idx < 2).then(|| "0558".to_owned());
        tx.refs.receiver = Some(
            template
                .replace("{Y}", &y.to_string())
                .replace("{N}", &invoice),
        );
        tx.info = Some("Transfer credit".to_owned());
        tx
    }

    fn domestic_out(&mut self) -> Tx {
        let at = self.instant();
        let day = local_day(at);
        let (y, m, _) = civil_from_days(day);
        let mut tx = match self.rng.gen_range(0..10u32) {
            0..=1 => {
                let amount = czk(self.rng.gen_range(15..=60i64) * 100);
                let mut tx = self.base_tx(at, "DOMESTIC", false, amount);
                tx.party = Some(self.coach.clone());
                tx.refs.receiver = Some(format!("Trenérská odměna {m:02}/{y}"));
                tx
            }
            2 => {
                let female = percent(&mut self.rng, 30);
                let referee = Person::random(&mut self.rng, female);
                let amount = czk(self.rng.gen_range(3..=12i64) * 100);
                let mut tx = self.base_tx(at, "DOMESTIC", false, amount);
                tx.party = Some(Party::domestic(&mut self.rng, referee.full()));
                tx.refs.receiver = Some(format!("Odměna rozhodčí {}", fmt_date_cz(day)));
                tx
            }
            _ => {
                let supplier = self.suppliers[self.rng.gen_range(0..self.suppliers.len())].clone();
                let amount = czk(self.rng.gen_range(supplier.min..=supplier.max));
                let invoice = format!("{y}{:05}", self.rng.gen_range(1..100_000u32));
                let mut tx = self.base_tx(at, "DOMESTIC", false, amount);
                tx.party = Some(supplier.party);
                tx.refs.variable = Some(invoice.clone());
                tx.refs.constant = percent(&mut self.rng, 50).then(|| "0308".to_owned());
                tx.refs.receiver = Some(
                    supplier
                        .message
                        .replace("{Y}", &y.to_string())
                        .replace("{N}", &invoice),
                );
                tx
            }
        };
        tx.entry_style = EntryStyle::DomesticOut;
        tx.btc = Some(BTC_DOMESTIC_OUT);
        tx.info = Some("Transfer debit".to_owned());
        tx
    }

    /// A card payment; with `hold` it is the pending row (booked separately).
    fn card(&mut self, at: i64, hold: bool) -> Tx {
        let (merchant, min, max) = *pick(&mut self.rng, &MERCHANTS);
        let amount = self.rng.gen_range(min * 100..=max * 100) / 10 * 10;
        let mut tx = self.base_tx(at, "CARD", false, amount);
        tx.entry_style = EntryStyle::Card;
        tx.btc = Some(BTC_CARD);
        tx.party = Some(Party::name_only(merchant.to_owned()));
        tx.info = Some(format!(
            "Platba kartou {}, karta 5168 **** **** {:04}, {merchant}",
            fmt_date_cz(local_day(at)),
            self.card_last4
        ));
        if hold {
            tx.pending = true;
            tx.hold_expiry_day = Some(local_day(at) + 7);
        }
        tx
    }

    fn item_fee(&mut self) -> Tx {
        let at = self.instant();
        let (text, amount) = match self.rng.gen_range(0..3u32) {
            0 => ("POPLATEK ZA POLOŽKY".to_owned(), czk(6)),
            1 => ("POPLATEK OZNAMENI SMS:  1".to_owned(), czk(3)),
            _ => ("Poplatek za výpis z účtu".to_owned(), czk(18)),
        };
        let mut tx = self.base_tx(at, "FEE", false, amount);
        tx.entry_style = EntryStyle::Fee;
        tx.btc = Some(BTC_FEE);
        tx.refs.constant = Some("898".to_owned());
        tx.info = Some(text);
        tx
    }

    fn cash(&mut self) -> Tx {
        let at = self.instant();
        let deposit = percent(&mut self.rng, 60);
        let mut tx = if deposit {
            let amount = czk(self.rng.gen_range(20..=150i64) * 100);
            let mut tx = self.base_tx(at, "CASH", true, amount);
            tx.info = Some("Vklad hotovosti – příspěvky z tréninku".to_owned());
            tx
        } else {
            let amount = czk(self.rng.gen_range(5..=50i64) * 100);
            let mut tx = self.base_tx(at, "CASH", false, amount);
            tx.info = Some(format!(
                "Výběr z bankomatu, karta 5168 **** **** {:04}",
                self.card_last4
            ));
            tx
        };
        tx.entry_style = EntryStyle::Other;
        tx
    }

    fn sepa(&mut self) -> Tx {
        let at = self.instant();
        let (y, _, _) = civil_from_days(local_day(at));
        let (name, country, bic) = *pick(&mut self.rng, &SEPA_PAYERS);
        let bban = match country {
            "DE" => format!(
                "{:08}{:010}",
                self.rng.gen_range(10_000_000..100_000_000u64),
                self.rng.gen_range(0..10_000_000_000u64)
            ),
            "SK" => {
                let acc = CzAccount::random(&mut self.rng, BANKS[0]);
                format!("1100{}", acc.padded())
            }
            "AT" => format!(
                "{:05}{:011}",
                self.rng.gen_range(10_000..100_000u64),
                self.rng.gen_range(0..100_000_000_000u64)
            ),
            // The KB sandbox's own example counterparty.
            _ => "30003033000002054269605".to_owned(),
        };
        let iban = if country == "FR" {
            "FR7630003033000002054269605".to_owned()
        } else {
            make_iban(country, &bban)
        };
        let eur_cents = self.rng.gen_range(1_500..=50_000i64);
        // CZK per EUR with 3 decimals, e.g. 24993 = 24.993.
        let rate_milli = self.rng.gen_range(24_100..=25_600i64);
        let czk_minor = (eur_cents * rate_milli + 500) / 1_000;
        let mut tx = self.base_tx(at, "SEPA", true, czk_minor);
        tx.instructed = Some((eur_cents, "EUR"));
        tx.party = Some(Party {
            iban: Some(iban),
            name: name.to_owned(),
            account_no: None,
            bic: Some(bic),
            bank_code: None,
        });
        tx.refs.e2e = Some(format!("E2E-{:010X}", self.rng.gen_range(0..1u64 << 40)));
        tx.refs.receiver = Some(pick(&mut self.rng, &SEPA_MESSAGES).replace("{Y}", &y.to_string()));
        tx.info = Some(format!(
            "SEPA CREDIT TRANSFER {}.{:02} EUR KURZ {}.{:03} BIC: {bic}",
            eur_cents / 100,
            eur_cents % 100,
            rate_milli / 1_000,
            rate_milli % 1_000
        ));
        tx
    }

    fn account_fee(&mut self, at: i64) -> Tx {
        let mut tx = self.base_tx(at, "FEE", false, czk(99));
        tx.entry_style = EntryStyle::Fee;
        tx.btc = Some(BTC_FEE);
        tx.refs.constant = Some("898".to_owned());
        tx.info = Some("Poplatek za vedení účtu".to_owned());
        tx
    }

    fn interest(&mut self, at: i64) -> Tx {
        let amount = self.rng.gen_range(5..=999i64);
        let mut tx = self.base_tx(at, "INTEREST", true, amount);
        tx.info = Some("Připsaný úrok".to_owned());
        tx
    }

    fn rent(&mut self, at: i64) -> Tx {
        let (y, m, _) = civil_from_days(local_day(at));
        let amount = czk(self.rng.gen_range(40..=180i64) * 100);
        let mut tx = self.base_tx(at, "DOMESTIC", false, amount);
        tx.entry_style = EntryStyle::DomesticOut;
        tx.btc = Some(BTC_DOMESTIC_OUT);
        tx.party = Some(self.gym.clone());
        tx.refs.variable = Some(format!("{y}{m:02}{:03}", self.rng.gen_range(1..1_000u32)));
        tx.refs.constant = Some("0308".to_owned());
        tx.refs.receiver = Some(format!("Pronájem tělocvičny {m:02}/{y}"));
        tx.info = Some("Transfer debit".to_owned());
        tx
    }

    /// The reversal of `orig` at `at`.
    fn storno(&mut self, orig: &Tx, at: i64) -> Tx {
        let reason = match (orig.tx_type, orig.credit) {
            ("CARD", _) => "storno platby kartou",
            (_, false) => "vrácená platba, účet příjemce neexistuje",
            (_, true) => "storno chybně připsané platby",
        };
        let mut tx = orig.clone();
        tx.at_us = at;
        tx.value_us = at;
        tx.pending = false;
        tx.hold_expiry_day = None;
        tx.servicer = self.next_servicer();
        tx.entry_nonce = self.rng.r#gen();
        tx.entry_style = EntryStyle::Other;
        tx.credit = !orig.credit;
        tx.reversal = true;
        tx.info = Some(format!("{STORNO_PREFIX}{} – {reason}", orig.servicer));
        tx
    }
}

fn make_member(rng: &mut ChaCha8Rng, index: usize) -> Member {
    let team = rng.gen_range(0..TEAMS.len());
    let youth = TEAMS[team].2;
    let surname = *pick(rng, &SURNAMES);
    let female_member = match TEAMS[team].0 {
        "ženy" => true,
        "muži" => false,
        _ => percent(rng, 40),
    };
    let member = Person::with_surname(rng, female_member, surname);
    let (child, adult) = if youth {
        let mother = percent(rng, 60);
        let parent = Person::with_surname(rng, mother, surname);
        (Some(member), parent)
    } else {
        (None, member)
    };
    let name = adult.display(rng);
    // Member `index` pays with the demo list's VS (docs/demo-members.csv), in every account.
    let vs = (DEMO_MEMBER_VS_FIRST + index as u64).to_string();
    Member {
        payer: Party::domestic(rng, name),
        child,
        adult,
        team,
        vs,
    }
}

/// Calendar rows (month-end account fee and interest, rent around the 10th) in the window.
fn monthly_rows(p: &mut Planner, rows_budget: usize) -> Vec<Tx> {
    let first_month = civil_from_days(local_day(p.start_us));
    let last_month = civil_from_days(local_day(p.end_us));
    let mut months = Vec::new();
    let (mut y, mut m) = (first_month.0, first_month.1);
    while (y, m) <= (last_month.0, last_month.1) {
        months.push((y, m));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    let inside = |t: i64| t > p.start_us && t <= p.end_us;
    let mut slots = Vec::new();
    for &(y, m) in &months {
        let last = days_from_civil(y, m, days_in_month(y, m));
        slots.push((0u8, local_to_utc_us(last, 20, 15)));
        slots.push((1u8, local_to_utc_us(last, 21, 5)));
        slots.push((2u8, local_to_utc_us(days_from_civil(y, m, 10), 9, 40)));
    }
    slots.retain(|&(_, t)| inside(t));
    if slots.len() > rows_budget {
        slots.retain(|&(kind, _)| kind == 0);
    }
    if slots.len() > rows_budget {
        return Vec::new();
    }
    slots
        .into_iter()
        .map(|(kind, t)| match kind {
            0 => p.account_fee(t),
            1 => p.interest(t),
            _ => p.rent(t),
        })
        .collect()
}

fn generate_account(
    cfg: &GeneratorConfig,
    index: u64,
    used: &mut HashSet<(u32, u64)>,
) -> GeneratedAccount {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(index);

    let own = loop {
        let acc = CzAccount::random(&mut rng, BANKS[0]);
        if used.insert((acc.prefix, acc.number)) {
            break acc;
        }
    };
    let iban = own.iban();
    let currency = "CZK".to_owned();
    let account_id = base64url(format!("{iban}:{currency}").as_bytes());
    let (club, gym_owner) = *pick(&mut rng, &CLUBS);
    let purpose = PURPOSES[(index % PURPOSES.len() as u64) as usize];
    let name = format!("{club} – {purpose}");

    let n = cfg.transactions_per_account;
    let end_us = to_micros(cfg.end);
    let start_us = end_us - i64::from(cfg.days.max(1)) * DAY_US;
    let member_count = (n / 12).clamp(15, 600);
    let members = (0..member_count)
        .map(|i| make_member(&mut rng, i))
        .collect();
    let suppliers = SUPPLIERS
        .iter()
        .map(|&(name, message, min, max)| Supplier {
            party: Party::domestic(&mut rng, name.to_owned()),
            message,
            min,
            max,
        })
        .collect();
    let gym = Party::domestic(&mut rng, gym_owner.to_owned());
    let coach_female = percent(&mut rng, 30);
    let coach_person = Person::random(&mut rng, coach_female);
    let coach = Party::domestic(&mut rng, coach_person.full());
    let ks = {
        let k = rng.gen_range(0..=MEMBER_KS.len());
        MEMBER_KS.get(k).copied()
    };
    let card_last4 = rng.gen_range(0..10_000u32);
    let servicer_key = rng.r#gen();
    let opening_base = czk(rng.gen_range(150..=1_200i64) * 100);

    let mut p = Planner {
        rng,
        start_us,
        end_us,
        servicer_key,
        servicer_counter: 0,
        members,
        suppliers,
        gym,
        coach,
        ks,
        card_last4,
    };

    let mut txs: Vec<Tx> = Vec::with_capacity(n);
    if n > 0 {
        txs.extend(monthly_rows(&mut p, n / 3));
    }
    // Card holds of the last two days that are still pending.
    let tail = if n >= 20 { (n / 20).min(3) } else { 0 };
    for _ in 0..tail {
        let back = p
            .rng
            .gen_range(HOUR_US / 2..2 * DAY_US)
            .min(end_us - start_us);
        let tx = p.card(end_us - back, true);
        txs.push(tx);
    }
    let storno_budget = if n >= 30 { (n / 150).max(1) } else { 0 };
    let fill_to = n.saturating_sub(storno_budget);
    while txs.len() < fill_to {
        let roll = p.rng.gen_range(0..100u32);
        match roll {
            0..=45 => txs.push(p.member_fee()),
            46..=51 => txs.push(p.other_incoming()),
            52..=63 => txs.push(p.domestic_out()),
            64..=89 => {
                let at = p.instant();
                let room = fill_to - txs.len();
                if room >= 2 && percent(&mut p.rng, 70) {
                    let hold = p.card(at, true);
                    let book_at = at + p.rng.gen_range(18 * HOUR_US..72 * HOUR_US);
                    if book_at <= end_us {
                        let mut booked = hold.clone();
                        booked.pending = false;
                        booked.hold_expiry_day = None;
                        booked.at_us = book_at;
                        txs.push(hold);
                        txs.push(booked);
                    } else {
                        txs.push(hold);
                    }
                } else {
                    txs.push(p.card(at, false));
                }
            }
            90..=93 => txs.push(p.item_fee()),
            94..=97 => txs.push(p.cash()),
            _ => txs.push(p.sepa()),
        }
    }
    txs.sort_by_key(|t| t.at_us);

    // Stornos of earlier booked domestic and card rows; mostly of debits (returned payments,
    // card refunds), sometimes of a wrongly credited payment.
    let (mut debits, mut credits): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    for (i, t) in txs.iter().enumerate() {
        if !t.pending
            && !t.reversal
            && matches!(t.tx_type, "DOMESTIC" | "CARD")
            && t.at_us < end_us - HOUR_US
        {
            if t.credit { &mut credits } else { &mut debits }.push(i);
        }
    }
    let mut extra = Vec::with_capacity(storno_budget);
    for _ in 0..storno_budget {
        let prefer_debit = percent(&mut p.rng, 75);
        let pool = match (debits.is_empty(), credits.is_empty()) {
            (true, true) => None,
            (false, true) => Some(&mut debits),
            (true, false) => Some(&mut credits),
            (false, false) if prefer_debit => Some(&mut debits),
            (false, false) => Some(&mut credits),
        };
        let Some(pool) = pool else {
            extra.push(p.item_fee());
            continue;
        };
        let k = p.rng.gen_range(0..pool.len());
        let orig = txs[pool.swap_remove(k)].clone();
        let latest = (orig.at_us + 5 * DAY_US).min(end_us);
        let at = p.rng.gen_range(orig.at_us + 1..=latest);
        extra.push(p.storno(&orig, at));
    }
    txs.extend(extra);
    txs.sort_by_key(|t| t.at_us);

    // Opening balance so that the booked balance never drops below 5 000 CZK.
    let mut running = 0i64;
    let mut lowest = 0i64;
    for t in txs.iter().filter(|t| !t.pending) {
        running += if t.credit { t.amount } else { -t.amount };
        lowest = lowest.min(running);
    }
    let floor = czk(5_000);
    let opening_balance_minor = opening_base.max(floor - lowest);

    let transactions = txs.iter().map(|t| render(t, &iban, &currency)).collect();
    GeneratedAccount {
        account_id,
        iban,
        number: own.national(),
        bank_code: own.bank.code.to_owned(),
        name,
        currency,
        opening_balance_minor,
        transactions,
    }
}
