//! Member fees: schedules (`fee_schedules` and their groups, individuals, discounts and
//! exemptions) and the charges generated from them (`charges`), one per schedule, member and
//! period, idempotently ([`generate_charges`]). Amounts are minor units of CZK; period and due
//! dates are Prague dates. The fee overview lives in [`overview`].
//!
//! Periods are calendar-aligned: a year from 1 January, half-years from January and July,
//! quarters from January, April, July and October, months from the 1st; a one-off schedule has
//! one period, the month of `starts_on`. A charge is due on `due_day` of its period's first
//! month (clamped to the month's length) and owed after `grace_days` more.

pub mod tracking;

use std::collections::BTreeSet;

use serde_json::json;
use time::{Date, Month, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::db::tenant::TenantTx;
use crate::form_token::FormToken;
use crate::member::{self, GroupId};

/// Why a schedule change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such fee schedule")]
    UnknownSchedule,
    /// A member named for a discount, exemption or as an individual is not in the club.
    #[error("no member with variable symbol {0}")]
    UnknownMember(String),
    /// A group the schedule applies to is not one of the club's groups.
    #[error("no such member group")]
    UnknownGroup,
    /// A new start outside [`starts_on_range`].
    #[error("the schedule starts too early or too late")]
    StartOutOfRange,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// How often a schedule charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Year,
    HalfYear,
    Quarter,
    Month,
    OneOff,
}

impl Period {
    pub const ALL: [Period; 5] = [
        Period::Year,
        Period::HalfYear,
        Period::Quarter,
        Period::Month,
        Period::OneOff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Year => "year",
            Period::HalfYear => "half_year",
            Period::Quarter => "quarter",
            Period::Month => "month",
            Period::OneOff => "one_off",
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Length in months (a one-off is one month long).
    fn months(self) -> u8 {
        match self {
            Period::Year => 12,
            Period::HalfYear => 6,
            Period::Quarter => 3,
            Period::Month | Period::OneOff => 1,
        }
    }

    /// The period containing `date`: its first and last day.
    pub fn containing(self, date: Date) -> (Date, Date) {
        let len = self.months();
        let first_month = (u8::from(date.month()) - 1) / len * len + 1;
        let start = first_of(date.year(), first_month);
        (start, end_of(start, len))
    }
}

fn first_of(year: i32, month: u8) -> Date {
    let month = Month::try_from(month).unwrap_or(Month::January);
    Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN)
}

/// The last day of the `len`-month period starting at `start`.
fn end_of(start: Date, len: u8) -> Date {
    let months = i32::from(u8::from(start.month())) - 1 + i32::from(len);
    let next = first_of(start.year() + months / 12, (months % 12) as u8 + 1);
    next.previous_day().unwrap_or(next)
}

/// The due date of a period starting at `start`: `due_day` of its first month, clamped.
pub fn due_on(start: Date, due_day: u8) -> Date {
    let last = start.month().length(start.year());
    start.replace_day(due_day.clamp(1, last)).unwrap_or(start)
}

/// The periods of a schedule from its start up to the period containing `today`.
pub fn periods_until(period: Period, starts_on: Date, today: Date) -> Vec<(Date, Date)> {
    if period == Period::OneOff {
        let start = first_of(starts_on.year(), u8::from(starts_on.month()));
        return if start <= today {
            vec![(start, end_of(start, 1))]
        } else {
            Vec::new()
        };
    }
    let mut out = Vec::new();
    let (mut start, mut end) = period.containing(starts_on);
    while start <= today {
        out.push((start, end));
        let next = end.next_day().unwrap_or(end);
        if next == end {
            break;
        }
        (start, end) = period.containing(next);
    }
    out
}

/// Who a schedule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliesTo {
    Everyone,
    Groups,
    Individuals,
}

impl AppliesTo {
    pub const ALL: [AppliesTo; 3] = [
        AppliesTo::Everyone,
        AppliesTo::Groups,
        AppliesTo::Individuals,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppliesTo::Everyone => "everyone",
            AppliesTo::Groups => "groups",
            AppliesTo::Individuals => "individuals",
        }
    }

    pub fn parse(s: &str) -> Option<AppliesTo> {
        AppliesTo::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A fee schedule as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Schedule {
    pub id: Uuid,
    pub name: String,
    /// Minor units of CZK.
    pub amount_minor: i64,
    pub period: String,
    pub due_day: i16,
    pub grace_days: i32,
    pub applies_to: String,
    /// First day of the first period charged (Prague date).
    pub starts_on: Date,
    pub archived_at: Option<OffsetDateTime>,
    /// Whether members are reminded of this schedule's charges (`reminder`).
    #[sqlx(default)]
    pub reminders_on: bool,
    /// Reminder steps in days from a charge's due date (negative: before), ascending.
    #[sqlx(default)]
    pub reminder_steps: Vec<i32>,
}

/// The reminder steps of a new schedule: a week before the due date, on it, two weeks after.
pub const DEFAULT_REMINDER_STEPS: [i32; 3] = [-7, 0, 14];
/// The earliest and latest reminder step, in days from the due date.
pub const REMINDER_STEP_RANGE: std::ops::RangeInclusive<i32> = -60..=365;

/// Reminder steps as typed: days from the due date separated by commas, semicolons or spaces
/// (`-7, 0, 14`; `+14` and a typographic minus `−7` too). Sorted, each once, at most 10, each
/// within [`REMINDER_STEP_RANGE`]; empty text is no steps. `None` for anything else.
pub fn parse_reminder_steps(text: &str) -> Option<Vec<i32>> {
    let mut steps = BTreeSet::new();
    for token in text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|t| !t.is_empty())
    {
        let token = token.replace('\u{2212}', "-");
        let token = token.strip_prefix('+').unwrap_or(&token);
        let step: i32 = token.parse().ok()?;
        if !REMINDER_STEP_RANGE.contains(&step) {
            return None;
        }
        steps.insert(step);
    }
    (steps.len() <= 10).then(|| steps.into_iter().collect())
}

/// Steps as the form shows them: `-7, 0, 14`.
pub fn format_reminder_steps(steps: &[i32]) -> String {
    steps
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Schedule {
    pub fn period(&self) -> Period {
        Period::parse(&self.period).unwrap_or(Period::OneOff)
    }
}

/// A per-member exception: a discount (minor units) or an exemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// The member's variable symbol as written in the form.
    pub vs: String,
    pub discount_minor: i64,
    pub exempt: bool,
}

/// A valid schedule, ready to store (the web form parses into this).
#[derive(Debug, Clone)]
pub struct ScheduleInput {
    pub name: String,
    pub amount_minor: i64,
    pub period: Period,
    pub due_day: u8,
    pub grace_days: u16,
    pub applies_to: AppliesTo,
    pub starts_on: Date,
    pub groups: Vec<Uuid>,
    /// Variable symbols of the individuals (applies_to = individuals).
    pub individuals: Vec<String>,
    pub adjustments: Vec<Adjustment>,
    /// Whether members are reminded of the charges, and when (days from the due date).
    pub reminders_on: bool,
    pub reminder_steps: Vec<i32>,
    /// The new-schedule form's one-time token: a second submit finds the first schedule.
    pub form_token: Option<FormToken>,
}

/// `1500`, `1 500`, `1 500,50`, `1500.5`, `1500 Kč` → minor units; `None` for anything else,
/// zero, negative or more than 10 000 000 Kč.
pub fn parse_amount(text: &str) -> Option<i64> {
    let t: String = text
        .trim()
        .trim_end_matches("Kč")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let t = t.replace(',', ".");
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if whole.is_empty()
        || whole.len() > 8
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    let minor = whole * 100 + frac;
    (minor > 0 && minor <= 1_000_000_000).then_some(minor)
}

/// A schedule as typed into the form (every field text; lists already split by the caller).
#[derive(Debug, Clone, Default)]
pub struct ScheduleDraft {
    pub name: String,
    pub amount: String,
    pub period: String,
    pub due_day: String,
    pub grace_days: String,
    pub applies_to: String,
    pub starts_on: String,
    pub groups: Vec<String>,
    /// Variable symbols separated by spaces, commas or new lines.
    pub individuals: String,
    /// One per line: `VS amount` (a discount in Kč) or `VS exempt` / `VS osvobozen`.
    pub adjustments: String,
    /// `on` or `off`; `None` (not in the form) keeps reminders on.
    pub reminders: Option<String>,
    /// [`parse_reminder_steps`]' text; `None` (not in the form) is [`DEFAULT_REMINDER_STEPS`].
    pub reminder_steps: Option<String>,
    /// The new-schedule form's one-time token ([`FormToken`]).
    pub form_token: String,
}

/// `2026-09-01` (ISO, from a date input) or `1. 9. 2026` / `1.9.2026`.
pub fn parse_date(text: &str) -> Option<Date> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let parts: Vec<&str> = if t.contains('-') {
        let mut p: Vec<&str> = t.split('-').collect();
        p.reverse();
        p
    } else {
        t.split('.').collect()
    };
    let [d, m, y] = parts[..] else { return None };
    let (d, m, y): (u8, u8, i32) = (d.parse().ok()?, m.parse().ok()?, y.parse().ok()?);
    if !(2000..=2100).contains(&y) {
        return None;
    }
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

impl ScheduleDraft {
    /// The discount lines (`VS amount` or `VS osvobozen`, blank lines skipped), or the number
    /// of the first line that is neither (1-based, as the person sees the text box).
    pub fn adjustment_lines(&self) -> Result<Vec<Adjustment>, usize> {
        let mut adjustments = Vec::new();
        for (index, line) in self.adjustments.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (vs, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            let exempt = matches!(
                rest.to_lowercase().as_str(),
                "exempt" | "osvobozen" | "osvobozena" | "osvobozeno"
            );
            let discount = if exempt { Some(0) } else { parse_amount(rest) };
            match (crate::member::vs_key(vs), discount) {
                (Some(_), Some(discount_minor)) => adjustments.push(Adjustment {
                    vs: vs.to_owned(),
                    discount_minor,
                    exempt,
                }),
                _ => return Err(index + 1),
            }
        }
        Ok(adjustments)
    }

    /// The form of an existing schedule.
    pub fn of(detail: &ScheduleDetail) -> ScheduleDraft {
        let s = &detail.schedule;
        ScheduleDraft {
            name: s.name.clone(),
            amount: format!("{},{:02}", s.amount_minor / 100, s.amount_minor % 100),
            period: s.period.clone(),
            due_day: s.due_day.to_string(),
            grace_days: s.grace_days.to_string(),
            applies_to: s.applies_to.clone(),
            starts_on: crate::i18n::input_day(s.starts_on),
            groups: detail.groups.iter().map(Uuid::to_string).collect(),
            individuals: detail.individuals.join(", "),
            adjustments: detail
                .adjustments
                .iter()
                .map(|a| {
                    if a.exempt {
                        format!("{} exempt", a.vs)
                    } else {
                        format!(
                            "{} {},{:02}",
                            a.vs,
                            a.discount_minor / 100,
                            a.discount_minor % 100
                        )
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            reminders: Some(if s.reminders_on { "on" } else { "off" }.to_owned()),
            reminder_steps: Some(format_reminder_steps(&s.reminder_steps)),
            form_token: String::new(),
        }
    }

    /// Checks every field (the start's bounds are [`save_schedule`]'s, which knows whether it
    /// changes). Errors: (field, message key) pairs, one per bad field.
    pub fn parse(&self) -> Result<ScheduleInput, Vec<(&'static str, &'static str)>> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            errors.push(("name", "fees.error.name"));
        }
        let amount = parse_amount(&self.amount);
        if amount.is_none() {
            errors.push(("amount", "fees.error.amount"));
        }
        let period = Period::parse(&self.period);
        if period.is_none() {
            errors.push(("period", "fees.error.period"));
        }
        let due_day = self
            .due_day
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|d| (1..=31).contains(d));
        if due_day.is_none() {
            errors.push(("due_day", "fees.error.due_day"));
        }
        let grace = if self.grace_days.trim().is_empty() {
            Some(0)
        } else {
            self.grace_days
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|g| *g <= 365)
        };
        if grace.is_none() {
            errors.push(("grace_days", "fees.error.grace_days"));
        }
        let applies_to = AppliesTo::parse(&self.applies_to);
        if applies_to.is_none() {
            errors.push(("applies_to", "fees.error.applies_to"));
        }
        let starts_on = parse_date(&self.starts_on);
        if starts_on.is_none() {
            errors.push(("starts_on", "fees.error.starts_on"));
        }
        let parsed: Vec<Uuid> = self
            .groups
            .iter()
            .filter_map(|g| Uuid::parse_str(g.trim()).ok())
            .collect();
        let unparsed = parsed.len() < self.groups.len();
        let groups: Vec<Uuid> = parsed
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if unparsed {
            errors.push(("groups", "fees.error.unknown_group"));
        } else if applies_to == Some(AppliesTo::Groups) && groups.is_empty() {
            errors.push(("groups", "fees.error.groups"));
        }
        let mut individuals = Vec::new();
        for token in self
            .individuals
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            if crate::member::vs_key(token).is_none() {
                errors.push(("individuals", "fees.error.vs"));
                break;
            }
            individuals.push(token.to_owned());
        }
        if applies_to == Some(AppliesTo::Individuals) && individuals.is_empty() {
            errors.push(("individuals", "fees.error.individuals"));
        }
        let adjustments = match self.adjustment_lines() {
            Ok(list) => list,
            Err(_) => {
                errors.push(("adjustments", "fees.error.adjustments"));
                Vec::new()
            }
        };
        let reminders_on = match self.reminders.as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => {
                errors.push(("reminders", "fees.error.reminders"));
                true
            }
        };
        let reminder_steps = match &self.reminder_steps {
            None => Some(DEFAULT_REMINDER_STEPS.to_vec()),
            Some(text) => parse_reminder_steps(text),
        };
        if reminder_steps.is_none() {
            errors.push(("reminder_steps", "fees.error.reminder_steps"));
        }
        match (
            amount,
            period,
            due_day,
            grace,
            applies_to,
            starts_on,
            reminder_steps,
        ) {
            (
                Some(amount_minor),
                Some(period),
                Some(due_day),
                Some(grace_days),
                Some(applies_to),
                Some(starts_on),
                Some(reminder_steps),
            ) if errors.is_empty() => Ok(ScheduleInput {
                name,
                amount_minor,
                period,
                due_day,
                grace_days,
                applies_to,
                starts_on,
                groups,
                individuals,
                adjustments,
                reminders_on,
                reminder_steps,
                form_token: FormToken::parse(&self.form_token),
            }),
            _ => Err(errors),
        }
    }
}

/// The days a schedule may start on, for `today` (a Prague date): from 1 January of the
/// previous year (older periods would charge for history KB no longer has, and one form
/// would create thousands of charges) up to two years ahead.
pub fn starts_on_range(today: Date) -> std::ops::RangeInclusive<Date> {
    let earliest = first_of(today.year() - 1, 1);
    let latest = today
        .replace_year(today.year() + 2)
        .unwrap_or_else(|_| first_of(today.year() + 2, 3));
    earliest..=latest
}

/// All schedules, active first, by name.
pub async fn schedules(tx: &mut TenantTx) -> Result<Vec<Schedule>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, amount_minor, period, due_day, grace_days, applies_to, starts_on, \
                archived_at, reminders_on, reminder_steps FROM fee_schedules ORDER BY archived_at IS NOT NULL, name, id",
    )
    .fetch_all(&mut **tx)
    .await
}

/// One schedule with its groups, individuals (VS) and adjustments.
#[derive(Debug, Clone)]
pub struct ScheduleDetail {
    pub schedule: Schedule,
    pub groups: Vec<Uuid>,
    pub individuals: Vec<String>,
    pub adjustments: Vec<Adjustment>,
}

pub async fn schedule(tx: &mut TenantTx, id: Uuid) -> Result<Option<ScheduleDetail>, sqlx::Error> {
    let schedule: Option<Schedule> = sqlx::query_as(
        "SELECT id, name, amount_minor, period, due_day, grace_days, applies_to, starts_on, \
                archived_at, reminders_on, reminder_steps FROM fee_schedules WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(schedule) = schedule else {
        return Ok(None);
    };
    let groups: Vec<(Uuid,)> =
        sqlx::query_as("SELECT group_id FROM fee_schedule_groups WHERE schedule_id = $1")
            .bind(id)
            .fetch_all(&mut **tx)
            .await?;
    let rows: Vec<(String, bool, i64, bool)> = sqlx::query_as(
        "SELECT m.variable_symbol, s.included, s.discount_minor, s.exempt \
           FROM fee_schedule_members s JOIN members m ON m.id = s.member_id \
          WHERE s.schedule_id = $1 ORDER BY m.vs_key",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(Some(ScheduleDetail {
        schedule,
        groups: groups.into_iter().map(|(g,)| g).collect(),
        individuals: rows.iter().filter(|r| r.1).map(|r| r.0.clone()).collect(),
        adjustments: rows
            .iter()
            .filter(|r| r.2 > 0 || r.3)
            .map(|r| Adjustment {
                vs: r.0.clone(),
                discount_minor: r.2,
                exempt: r.3,
            })
            .collect(),
    }))
}

/// The club's member groups (id, name), alphabetical, for schedule forms and overview filters
/// (the member registry's [`member::groups`]).
pub async fn groups(tx: &mut TenantTx) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    Ok(member::groups(tx)
        .await?
        .into_iter()
        .map(|g| (g.id.0, g.name))
        .collect())
}

/// The member with VS `vs` (numerically), through the member registry.
async fn member_by_vs(tx: &mut TenantTx, vs: &str) -> Result<Uuid, Error> {
    let unknown = || Error::UnknownMember(vs.to_owned());
    let vs = member::VariableSymbol::parse(vs)
        .ok()
        .flatten()
        .ok_or_else(unknown)?;
    let id = member::find_by_vs(tx, &vs).await?.ok_or_else(unknown)?;
    Ok(id.0)
}

type IdQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, (Uuid,), sqlx::postgres::PgArguments>;

/// Binds `$1` = `id`, `$2`…`$8` = the schedule's fields (name, amount, period, due day, grace
/// days, applies to, start) and `$9` = `now`.
fn with_fields<'q>(
    query: IdQuery<'q>,
    id: Uuid,
    input: &'q ScheduleInput,
    now: OffsetDateTime,
) -> IdQuery<'q> {
    query
        .bind(id)
        .bind(&input.name)
        .bind(input.amount_minor)
        .bind(input.period.as_str())
        .bind(i16::from(input.due_day))
        .bind(i32::from(input.grace_days))
        .bind(input.applies_to.as_str())
        .bind(input.starts_on)
        .bind(now)
}

/// What [`save_schedule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Created or updated this schedule.
    Saved(Uuid),
    /// The new-schedule form (its one-time token) was already submitted: the schedule it
    /// created then; nothing was changed.
    Earlier(Uuid),
}

/// Creates (`id = None`) or updates a schedule with its groups, individuals and adjustments,
/// writes the audit log and generates the charges due up to `today` (Prague date). Existing
/// charges keep their amounts (a price change applies to periods not yet charged). A create
/// whose form token an earlier submit already used changes nothing ([`Saved::Earlier`]).
///
/// Errors: [`Error::UnknownSchedule`], [`Error::UnknownMember`] (a VS nobody has),
/// [`Error::UnknownGroup`] (a group that is not the club's), [`Error::StartOutOfRange`] (a new
/// start outside [`starts_on_range`] of `today`; an edit may keep the start it has).
pub async fn save_schedule(
    tx: &mut TenantTx,
    actor: &Actor,
    id: Option<Uuid>,
    input: &ScheduleInput,
    today: Date,
    now: OffsetDateTime,
) -> Result<Saved, Error> {
    let kept: Option<(Date,)> = match id {
        Some(id) => {
            sqlx::query_as("SELECT starts_on FROM fee_schedules WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
        }
        None => None,
    };
    if id.is_some() && kept.is_none() {
        return Err(Error::UnknownSchedule);
    }
    if kept.map(|k| k.0) != Some(input.starts_on)
        && !starts_on_range(today).contains(&input.starts_on)
    {
        return Err(Error::StartOutOfRange);
    }
    let groups: Vec<GroupId> = input.groups.iter().copied().map(GroupId).collect();
    if member::existing_groups(tx, &groups).await?.len() != groups.len() {
        return Err(Error::UnknownGroup);
    }
    let id = match id {
        None => {
            let token = input.form_token.as_ref().map(FormToken::as_str);
            // A concurrent second submit waits on the first one's token, then inserts nothing.
            let inserted: Option<(Uuid,)> = with_fields(
                sqlx::query_as(
                    "INSERT INTO fee_schedules (id, name, amount_minor, period, due_day, \
                            grace_days, applies_to, starts_on, created_at, updated_at, \
                            reminders_on, reminder_steps, form_token) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12) \
                     ON CONFLICT (form_token) DO NOTHING RETURNING id",
                ),
                Uuid::now_v7(),
                input,
                now,
            )
            .bind(input.reminders_on)
            .bind(&input.reminder_steps)
            .bind(token)
            .fetch_optional(&mut **tx)
            .await?;
            match inserted {
                Some((id,)) => id,
                None => {
                    let (earlier,): (Uuid,) =
                        sqlx::query_as("SELECT id FROM fee_schedules WHERE form_token = $1")
                            .bind(token)
                            .fetch_one(&mut **tx)
                            .await?;
                    return Ok(Saved::Earlier(earlier));
                }
            }
        }
        Some(id) => {
            let updated: Option<(Uuid,)> = with_fields(
                sqlx::query_as(
                    "UPDATE fee_schedules SET name = $2, amount_minor = $3, period = $4, \
                            due_day = $5, grace_days = $6, applies_to = $7, starts_on = $8, \
                            updated_at = $9, reminders_on = $10, reminder_steps = $11 \
                      WHERE id = $1 RETURNING id",
                ),
                id,
                input,
                now,
            )
            .bind(input.reminders_on)
            .bind(&input.reminder_steps)
            .fetch_optional(&mut **tx)
            .await?;
            updated.ok_or(Error::UnknownSchedule)?.0
        }
    };
    sqlx::query("DELETE FROM fee_schedule_groups WHERE schedule_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO fee_schedule_groups (schedule_id, group_id) \
         SELECT $1, g FROM UNNEST($2::uuid[]) AS g",
    )
    .bind(id)
    .bind(&input.groups)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM fee_schedule_members WHERE schedule_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let mut seen = BTreeSet::new();
    let mut rows: Vec<(Uuid, bool, i64, bool)> = Vec::new();
    for vs in &input.individuals {
        let member = member_by_vs(tx, vs).await?;
        if seen.insert(member) {
            rows.push((member, true, 0, false));
        }
    }
    for a in &input.adjustments {
        let member = member_by_vs(tx, &a.vs).await?;
        match rows.iter_mut().find(|r| r.0 == member) {
            Some(r) => {
                r.2 = a.discount_minor;
                r.3 = a.exempt;
            }
            None => rows.push((member, false, a.discount_minor, a.exempt)),
        }
    }
    for (member, included, discount, exempt) in rows {
        sqlx::query(
            "INSERT INTO fee_schedule_members (schedule_id, member_id, included, discount_minor, \
                                               exempt) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(member)
        .bind(included)
        .bind(discount)
        .bind(exempt)
        .execute(&mut **tx)
        .await?;
    }
    audit::record(
        tx,
        actor,
        "fee.schedule_saved",
        json!({ "schedule": id, "name": input.name, "amount_minor": input.amount_minor,
                "period": input.period.as_str(), "reminders_on": input.reminders_on,
                "reminder_steps": input.reminder_steps }),
        now,
    )
    .await?;
    Ok(Saved::Saved(id))
}

/// What charge generation depends on: the day (which periods are due), the members
/// ([`member::change_mark`]) and the schedules with their groups, individuals and adjustments
/// (saved together, which moves `updated_at`).
async fn charges_key(tx: &mut TenantTx, today: Date) -> Result<String, sqlx::Error> {
    let members = member::change_mark(tx).await?;
    let (count, latest): (i64, Option<OffsetDateTime>) =
        sqlx::query_as("SELECT count(*), max(updated_at) FROM fee_schedules")
            .fetch_one(&mut **tx)
            .await?;
    Ok(format!(
        "{today}|{members}|{count}:{}",
        latest.map(|t| t.unix_timestamp_nanos()).unwrap_or(0)
    ))
}

/// Creates the charges due up to `today` (a Prague date) for every active schedule: one per
/// schedule, member and period, for members the schedule applies to who are not archived, not
/// exempt, and had joined by the period's end (`joined_on`, else the day they were added).
/// The amount is the schedule's minus the member's discount (no charge when nothing is left).
/// Idempotent: existing charges are kept as they are. Skipped (nothing read beyond a few
/// counters, nothing written) when neither the day nor the members nor the schedules changed
/// since the last generation. Returns how many were created.
pub async fn generate_charges(
    tx: &mut TenantTx,
    today: Date,
    now: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    let key = charges_key(tx, today).await?;
    let (done,): (Option<String>,) = sqlx::query_as("SELECT charges_key FROM fee_settings")
        .fetch_one(&mut **tx)
        .await?;
    if done.as_deref() == Some(key.as_str()) {
        return Ok(0);
    }
    let created = generate_all(tx, today, now).await?;
    sqlx::query("UPDATE fee_settings SET charges_key = $1")
        .bind(&key)
        .execute(&mut **tx)
        .await?;
    Ok(created)
}

async fn generate_all(
    tx: &mut TenantTx,
    today: Date,
    now: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    let schedules: Vec<Schedule> = sqlx::query_as(
        "SELECT id, name, amount_minor, period, due_day, grace_days, applies_to, starts_on, \
                archived_at, reminders_on, reminder_steps FROM fee_schedules WHERE archived_at IS NULL",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut created = 0;
    for s in schedules {
        let periods = periods_until(s.period(), s.starts_on, today);
        if periods.is_empty() {
            continue;
        }
        let due_day = u8::try_from(s.due_day).unwrap_or(1);
        let starts: Vec<Date> = periods.iter().map(|p| p.0).collect();
        let ends: Vec<Date> = periods.iter().map(|p| p.1).collect();
        let dues: Vec<Date> = periods.iter().map(|p| due_on(p.0, due_day)).collect();
        let graces: Vec<Date> = dues
            .iter()
            .map(|d| *d + time::Duration::days(i64::from(s.grace_days)))
            .collect();
        created += sqlx::query(
            "INSERT INTO charges (id, schedule_id, member_id, period_start, period_end, \
                                  amount_minor, due_on, grace_until, created_at) \
             SELECT gen_random_uuid(), s.id, m.id, p.start, p.end_, \
                    s.amount_minor - COALESCE(a.discount_minor, 0), p.due, p.grace, $6 \
               FROM fee_schedules s \
               CROSS JOIN UNNEST($2::date[], $3::date[], $4::date[], $5::date[]) \
                     AS p(start, end_, due, grace) \
               JOIN members m ON m.archived_at IS NULL \
               LEFT JOIN fee_schedule_members a ON a.schedule_id = s.id AND a.member_id = m.id \
              WHERE s.id = $1 \
                AND NOT COALESCE(a.exempt, false) \
                AND s.amount_minor - COALESCE(a.discount_minor, 0) > 0 \
                AND p.end_ >= COALESCE(m.joined_on, (m.created_at AT TIME ZONE 'Europe/Prague')::date) \
                AND (s.applies_to = 'everyone' \
                     OR (s.applies_to = 'individuals' AND COALESCE(a.included, false)) \
                     OR (s.applies_to = 'groups' AND EXISTS ( \
                           SELECT 1 FROM fee_schedule_groups g \
                             JOIN member_group_links l ON l.group_id = g.group_id \
                            WHERE g.schedule_id = s.id AND l.member_id = m.id))) \
             ON CONFLICT ON CONSTRAINT charges_once DO NOTHING",
        )
        .bind(s.id)
        .bind(&starts)
        .bind(&ends)
        .bind(&dues)
        .bind(&graces)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(created)
}

/// A charge as payment matching sees it: what it is and how much is paid (Σ allocations, kept
/// by [`set_paid`]). Minor units; `due_on` is a Prague date.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChargeBalance {
    pub id: Uuid,
    pub member_id: Uuid,
    pub amount_minor: i64,
    pub paid_minor: i64,
    pub due_on: Date,
}

/// Open charges whose open amount (amount − paid) is one of `amounts`, as (member, open
/// amount), each pair once (by index). Minor units.
pub async fn open_amounts(
    tx: &mut TenantTx,
    amounts: &[i64],
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    if amounts.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT DISTINCT member_id, amount_minor - paid_minor FROM charges \
          WHERE paid_minor < amount_minor AND amount_minor - paid_minor = ANY($1)",
    )
    .bind(amounts)
    .fetch_all(&mut **tx)
    .await
}

/// The members' charges not fully paid (by index), oldest due first.
pub async fn open_charges_of(
    tx: &mut TenantTx,
    members: &[Uuid],
) -> Result<Vec<ChargeBalance>, sqlx::Error> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT id, member_id, amount_minor, paid_minor, due_on FROM charges \
          WHERE member_id = ANY($1) AND paid_minor < amount_minor \
          ORDER BY due_on, member_id, id",
    )
    .bind(members)
    .fetch_all(&mut **tx)
    .await
}

/// Which of `members` have a charge not fully paid.
pub async fn members_owing(tx: &mut TenantTx, members: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT DISTINCT member_id FROM charges \
          WHERE member_id = ANY($1) AND paid_minor < amount_minor",
    )
    .bind(members)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(m,)| m).collect())
}

/// The charges with these ids, paid or not.
pub async fn charges_by_id(
    tx: &mut TenantTx,
    ids: &[Uuid],
) -> Result<Vec<ChargeBalance>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT id, member_id, amount_minor, paid_minor, due_on FROM charges \
          WHERE id = ANY($1) ORDER BY due_on, member_id, id",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
}

/// Records how much of each charge is paid: `(charge id, Σ of its allocations)` in minor
/// units, computed by `payment` whenever allocations change. Unchanged values are not written.
pub async fn set_paid(tx: &mut TenantTx, paid: &[(Uuid, i64)]) -> Result<(), sqlx::Error> {
    if paid.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE charges c SET paid_minor = u.paid \
           FROM UNNEST($1::uuid[], $2::int8[]) AS u(id, paid) \
          WHERE c.id = u.id AND c.paid_minor <> u.paid",
    )
    .bind(paid.iter().map(|p| p.0).collect::<Vec<_>>())
    .bind(paid.iter().map(|p| p.1).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn periods_are_calendar_aligned() {
        let d = date!(2026 - 08 - 17);
        assert_eq!(
            Period::Year.containing(d),
            (date!(2026 - 01 - 01), date!(2026 - 12 - 31))
        );
        assert_eq!(
            Period::HalfYear.containing(d),
            (date!(2026 - 07 - 01), date!(2026 - 12 - 31))
        );
        assert_eq!(
            Period::Quarter.containing(d),
            (date!(2026 - 07 - 01), date!(2026 - 09 - 30))
        );
        assert_eq!(
            Period::Month.containing(date!(2028 - 02 - 10)),
            (date!(2028 - 02 - 01), date!(2028 - 02 - 29))
        );
    }

    #[test]
    fn due_day_is_clamped_to_the_month() {
        assert_eq!(due_on(date!(2026 - 02 - 01), 31), date!(2026 - 02 - 28));
        assert_eq!(due_on(date!(2026 - 03 - 01), 15), date!(2026 - 03 - 15));
    }

    #[test]
    fn periods_run_from_the_start_to_today() {
        let months = periods_until(Period::Month, date!(2026 - 10 - 20), date!(2026 - 12 - 01));
        let starts: Vec<Date> = months.iter().map(|p| p.0).collect();
        assert_eq!(
            starts,
            [
                date!(2026 - 10 - 01),
                date!(2026 - 11 - 01),
                date!(2026 - 12 - 01)
            ]
        );
        assert_eq!(
            periods_until(Period::Year, date!(2027 - 01 - 01), date!(2026 - 12 - 31)),
            []
        );
        assert_eq!(
            periods_until(Period::OneOff, date!(2026 - 09 - 05), date!(2027 - 05 - 01)),
            [(date!(2026 - 09 - 01), date!(2026 - 09 - 30))]
        );
    }

    #[test]
    fn a_schedule_form_with_bad_fields_names_each_of_them() {
        let draft = ScheduleDraft {
            name: " ".into(),
            amount: "-5".into(),
            period: "weekly".into(),
            due_day: "32".into(),
            grace_days: "x".into(),
            applies_to: "groups".into(),
            starts_on: "31.2.2026".into(),
            adjustments: "2026001 lots".into(),
            ..ScheduleDraft::default()
        };
        let fields: Vec<&str> = draft
            .parse()
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "amount",
                "period",
                "due_day",
                "grace_days",
                "starts_on",
                "groups",
                "adjustments"
            ]
        );
        let good = ScheduleDraft {
            name: "Členský příspěvek".into(),
            amount: "1 500".into(),
            period: "year".into(),
            due_day: "15".into(),
            grace_days: "10".into(),
            applies_to: "everyone".into(),
            starts_on: "1. 1. 2026".into(),
            adjustments: "2026001 500\n0024 osvobozen".into(),
            ..ScheduleDraft::default()
        };
        let input = good.parse().expect("valid");
        assert_eq!(input.amount_minor, 150_000);
        assert_eq!(input.starts_on, date!(2026 - 01 - 01));
        assert_eq!(input.adjustments.len(), 2);
        assert!(input.adjustments[1].exempt);
        assert_eq!(
            input.form_token, None,
            "a form without a token is created as it is"
        );
    }

    #[test]
    fn a_schedule_starts_no_earlier_than_last_year_and_no_later_than_two_years_ahead() {
        let range = starts_on_range(date!(2026 - 11 - 30));
        for ok in [
            date!(2025 - 01 - 01),
            date!(2026 - 11 - 01),
            date!(2028 - 11 - 30),
        ] {
            assert!(range.contains(&ok), "{ok}");
        }
        for too_far in [
            date!(2000 - 01 - 01),
            date!(2024 - 12 - 31),
            date!(2028 - 12 - 01),
        ] {
            assert!(!range.contains(&too_far), "{too_far}");
        }
    }

    #[test]
    fn a_group_that_is_no_id_is_a_field_error() {
        let draft = ScheduleDraft {
            name: "Žáci".into(),
            amount: "500".into(),
            period: "month".into(),
            due_day: "15".into(),
            applies_to: "groups".into(),
            starts_on: "1. 11. 2026".into(),
            groups: vec!["not-a-group".into()],
            ..ScheduleDraft::default()
        };
        let fields = draft.parse().err().unwrap_or_default();
        assert_eq!(fields, [("groups", "fees.error.unknown_group")]);
    }

    #[test]
    fn amounts_are_read_the_czech_way() {
        let cases = [
            ("1500", Some(150_000)),
            ("1 500", Some(150_000)),
            ("1\u{a0}500,50", Some(150_050)),
            ("1500.5", Some(150_050)),
            ("1 500 Kč", Some(150_000)),
            ("0", None),
            ("-100", None),
            ("12,345", None),
            ("abc", None),
            ("", None),
        ];
        for (text, minor) in cases {
            assert_eq!(parse_amount(text), minor, "{text:?}");
        }
    }

    #[test]
    fn reminder_steps_are_days_from_the_due_date_sorted_and_once() {
        assert_eq!(parse_reminder_steps("14, -7, 0"), Some(vec![-7, 0, 14]));
        assert_eq!(
            parse_reminder_steps("\u{2212}7; +14 14"),
            Some(vec![-7, 14])
        );
        assert_eq!(parse_reminder_steps("  "), Some(vec![]));
        for bad in ["týden", "-61", "366", "1.5", "1 2 3 4 5 6 7 8 9 10 11"] {
            assert_eq!(parse_reminder_steps(bad), None, "{bad}");
        }
        let draft = ScheduleDraft {
            name: "Příspěvek".into(),
            amount: "500".into(),
            period: "year".into(),
            due_day: "15".into(),
            applies_to: "everyone".into(),
            starts_on: "1. 1. 2026".into(),
            ..ScheduleDraft::default()
        };
        let input = draft.clone().parse().expect("valid");
        assert!(input.reminders_on, "on unless switched off");
        assert_eq!(input.reminder_steps, DEFAULT_REMINDER_STEPS);
        let off = ScheduleDraft {
            reminders: Some("off".into()),
            reminder_steps: Some("3".into()),
            ..draft.clone()
        };
        let input = off.parse().expect("valid");
        assert!(!input.reminders_on);
        assert_eq!(input.reminder_steps, [3]);
        let wrong = ScheduleDraft {
            reminder_steps: Some("za týden".into()),
            ..draft
        };
        assert_eq!(
            wrong.parse().err().unwrap_or_default(),
            [("reminder_steps", "fees.error.reminder_steps")]
        );
    }
}
