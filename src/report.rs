//! The board report of one fee schedule's period: expected, received and outstanding (in
//! total and by group), the debtors with what they owe and for how many days, and the money in
//! and out of the club's accounts by month. Read-only; amounts in minor units of CZK, Prague
//! dates.
//!
//! The balances are not derived again: the members' rows come from the fee overview's
//! computation (`payment::overview::period_rows`, the same cache and statuses), the months
//! from the bank ledger (`sync::views::monthly_flows`). [`xlsx`] writes the same report as a
//! workbook.

use time::{Date, Month};
use uuid::Uuid;

use crate::db::tenant::TenantTx;
use crate::export::{self, Cell};
use crate::fee::Schedule;
use crate::i18n::{self, Lang};
use crate::payment::overview::{self, Cache};
use crate::sync::views::MonthFlow;

/// Members, expected, received (at most each charge's amount) and outstanding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub members: i64,
    pub expected_minor: i64,
    pub received_minor: i64,
    pub outstanding_minor: i64,
}

impl Sums {
    fn add(&mut self, row: &overview::Row) {
        self.members += 1;
        self.expected_minor += row.amount_minor;
        self.received_minor += row.paid_minor.min(row.amount_minor);
        self.outstanding_minor += row.owed_minor();
    }
}

/// One group's sums; `name: None` is the members in no group. A member in two groups counts
/// in both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSums {
    pub name: Option<String>,
    pub sums: Sums,
}

/// A member who still owes after the grace days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debtor {
    pub member_id: Uuid,
    pub name: String,
    pub variable_symbol: String,
    pub amount_minor: i64,
    pub paid_minor: i64,
    pub owed_minor: i64,
    pub due_on: Date,
    /// Days since the due date (the grace days included).
    pub days_overdue: i64,
}

/// The report of one schedule's period.
#[derive(Debug, Clone)]
pub struct BoardReport {
    pub schedule: Schedule,
    pub period: (Date, Date),
    /// Every charged period of the schedule, newest first (for choosing another).
    pub periods: Vec<(Date, Date)>,
    pub total: Sums,
    /// Named groups by name, then the members in no group (when there are any).
    pub groups: Vec<GroupSums>,
    /// Most days overdue first, then most owed, then by name.
    pub debtors: Vec<Debtor>,
    /// Every month of the period up to today's, with the booked movements (zero when none).
    pub months: Vec<MonthFlow>,
}

/// The board report of `schedule`'s period starting `period` (default: the fee overview's
/// default period); `None` when the schedule does not exist. `stamp` is the club's payment
/// stamp read in `tx` (`payment::stamp`).
pub async fn board(
    tx: &mut TenantTx,
    cache: &Cache,
    stamp: i64,
    schedule: Uuid,
    period: Option<Date>,
    today: Date,
) -> Result<Option<BoardReport>, sqlx::Error> {
    let Some(rows) = overview::period_rows(tx, cache, stamp, schedule, period, today).await? else {
        return Ok(None);
    };
    let groups = crate::fee::groups(tx).await?;
    let (start, end) = rows.period;
    let last = end.min(today);
    let flows = if start <= last {
        crate::sync::views::monthly_flows(tx, start, last).await?
    } else {
        Vec::new()
    };
    Ok(Some(BoardReport {
        total: total(&rows.rows),
        groups: by_group(&rows.rows, &groups),
        debtors: debtors(&rows.rows, today),
        months: months(start, last, &flows),
        schedule: rows.schedule,
        period: rows.period,
        periods: rows.periods,
    }))
}

fn total(rows: &[(overview::Row, Vec<Uuid>)]) -> Sums {
    let mut sums = Sums::default();
    for (row, _) in rows {
        sums.add(row);
    }
    sums
}

fn by_group(rows: &[(overview::Row, Vec<Uuid>)], groups: &[(Uuid, String)]) -> Vec<GroupSums> {
    let mut named: Vec<GroupSums> = groups
        .iter()
        .map(|(id, name)| {
            let mut sums = Sums::default();
            for (row, _) in rows.iter().filter(|(_, g)| g.contains(id)) {
                sums.add(row);
            }
            GroupSums {
                name: Some(name.clone()),
                sums,
            }
        })
        .filter(|g| g.sums.members > 0)
        .collect();
    let mut none = Sums::default();
    for (row, _) in rows.iter().filter(|(_, g)| g.is_empty()) {
        none.add(row);
    }
    if none.members > 0 {
        named.push(GroupSums {
            name: None,
            sums: none,
        });
    }
    named
}

fn debtors(rows: &[(overview::Row, Vec<Uuid>)], today: Date) -> Vec<Debtor> {
    let mut debtors: Vec<Debtor> = rows
        .iter()
        .filter(|(row, _)| row.owed_minor() > 0 && today > row.grace_until)
        .map(|(row, _)| Debtor {
            member_id: row.member_id,
            name: row.name.clone(),
            variable_symbol: row.variable_symbol.clone(),
            amount_minor: row.amount_minor,
            paid_minor: row.paid_minor,
            owed_minor: row.owed_minor(),
            due_on: row.due_on,
            days_overdue: (today - row.due_on).whole_days(),
        })
        .collect();
    // The rows come sorted by name; a stable sort keeps that among equals.
    debtors.sort_by_key(|d| {
        (
            std::cmp::Reverse(d.days_overdue),
            std::cmp::Reverse(d.owed_minor),
        )
    });
    debtors
}

/// The first day of every month from `from`'s to `to`'s, with the flows found (zero else).
fn months(from: Date, to: Date, flows: &[MonthFlow]) -> Vec<MonthFlow> {
    let mut out = Vec::new();
    let Ok(mut month) = Date::from_calendar_date(from.year(), from.month(), 1) else {
        return out;
    };
    while month <= to {
        out.push(
            flows
                .iter()
                .find(|f| f.month == month)
                .copied()
                .unwrap_or(MonthFlow {
                    month,
                    income_minor: 0,
                    expenses_minor: 0,
                }),
        );
        let (year, next) = match month.month() {
            Month::December => (month.year() + 1, Month::January),
            m => (month.year(), m.next()),
        };
        let Ok(next) = Date::from_calendar_date(year, next, 1) else {
            break;
        };
        month = next;
    }
    out
}

/// `1. 1. 2026 – 31. 12. 2026`.
pub fn period_label(lang: Lang, (start, end): (Date, Date)) -> String {
    format!(
        "{} – {}",
        i18n::format_day(start, lang),
        i18n::format_day(end, lang)
    )
}

/// The report as an XLSX workbook: a summary sheet (the schedule, the period, the sums in
/// total and by group), the debtors, and the months; money and dates as real cells.
pub fn xlsx(report: &BoardReport, lang: Lang) -> Result<Vec<u8>, export::Error> {
    use export::xlsx::{Formats, set_widths, sheet_name, write_cells, write_titles};
    let t = |key: &str| lang.t(key).into_owned();
    let formats = Formats::default();
    let mut workbook = rust_xlsxwriter::Workbook::new();

    let summary = workbook.add_worksheet();
    summary.set_name(sheet_name(&t("report.sheet.summary")))?;
    let titles = vec![
        t("report.group"),
        t("report.members"),
        t("report.expected"),
        t("report.received"),
        t("report.outstanding"),
    ];
    set_widths(summary, &titles)?;
    summary.set_column_width(0, 30)?;
    summary.write_string_with_format(0, 0, t("report.title"), &formats.title)?;
    write_cells(
        summary,
        &formats,
        1,
        &[
            Cell::Text(report.schedule.name.clone()),
            Cell::Text(period_label(lang, report.period)),
        ],
    )?;
    write_titles(summary, &formats, 3, &titles)?;
    let sums_row = |label: String, s: &Sums| {
        vec![
            Cell::Text(label),
            Cell::Number(s.members),
            Cell::Money(s.expected_minor),
            Cell::Money(s.received_minor),
            Cell::Money(s.outstanding_minor),
        ]
    };
    let mut row = 4;
    for group in &report.groups {
        let label = group.name.clone().unwrap_or_else(|| t("report.no_group"));
        write_cells(summary, &formats, row, &sums_row(label, &group.sums))?;
        row += 1;
    }
    write_cells(
        summary,
        &formats,
        row,
        &sums_row(t("report.total"), &report.total),
    )?;

    let sheet = workbook.add_worksheet();
    sheet.set_name(sheet_name(&t("report.sheet.debtors")))?;
    let titles = vec![
        t("report.debtor"),
        t("export.col.vs"),
        t("export.col.amount"),
        t("export.col.paid"),
        t("export.col.owed"),
        t("export.col.due_on"),
        t("report.days_overdue"),
    ];
    set_widths(sheet, &titles)?;
    sheet.set_column_width(0, 30)?;
    write_titles(sheet, &formats, 0, &titles)?;
    for (row, d) in (1u32..).zip(&report.debtors) {
        let cells = [
            Cell::Text(d.name.clone()),
            Cell::Text(d.variable_symbol.clone()),
            Cell::Money(d.amount_minor),
            Cell::Money(d.paid_minor),
            Cell::Money(d.owed_minor),
            Cell::Date(d.due_on),
            Cell::Number(d.days_overdue),
        ];
        write_cells(sheet, &formats, row, &cells)?;
    }

    let sheet = workbook.add_worksheet();
    sheet.set_name(sheet_name(&t("report.sheet.months")))?;
    let titles = vec![
        t("report.month"),
        t("report.income"),
        t("report.expenses"),
        t("report.net"),
    ];
    set_widths(sheet, &titles)?;
    write_titles(sheet, &formats, 0, &titles)?;
    let month_format = rust_xlsxwriter::Format::new().set_num_format("m/yyyy");
    for (row, m) in (1u32..).zip(&report.months) {
        let cells = [
            Cell::Empty,
            Cell::Money(m.income_minor),
            Cell::Money(m.expenses_minor),
            Cell::Money(m.income_minor - m.expenses_minor),
        ];
        write_cells(sheet, &formats, row, &cells)?;
        let month = rust_xlsxwriter::ExcelDateTime::from_ymd(
            u16::try_from(m.month.year()).unwrap_or(1900),
            u8::from(m.month.month()),
            1,
        )?;
        sheet.write_datetime_with_format(row, 0, &month, &month_format)?;
    }
    Ok(workbook.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::overview::Row;
    use time::macros::date;

    fn row(name: &str, amount: i64, paid: i64, due: Date, grace: Date) -> Row {
        Row {
            member_id: Uuid::now_v7(),
            name: name.into(),
            variable_symbol: "1".into(),
            amount_minor: amount,
            paid_minor: paid,
            credit_minor: 0,
            on_the_way_minor: 0,
            due_on: due,
            grace_until: grace,
            status: None,
        }
    }

    #[test]
    fn sums_by_group_count_a_member_in_each_of_their_groups_and_the_ungrouped_apart() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let due = date!(2026 - 01 - 15);
        let rows = vec![
            (row("Anna", 1000, 1000, due, due), vec![a, b]),
            (row("Bára", 1000, 400, due, due), vec![a]),
            (row("Cyril", 1000, 1500, due, due), vec![]),
        ];
        let groups = vec![
            (a, "Dorost".to_owned()),
            (b, "Muži".to_owned()),
            (Uuid::now_v7(), "Prázdná".to_owned()),
        ];
        let sums = by_group(&rows, &groups);
        assert_eq!(sums.len(), 3, "the empty group is left out");
        assert_eq!(sums[0].name.as_deref(), Some("Dorost"));
        assert_eq!(
            sums[0].sums,
            Sums {
                members: 2,
                expected_minor: 2000,
                received_minor: 1400,
                outstanding_minor: 600
            }
        );
        assert_eq!(sums[1].sums.members, 1);
        assert_eq!(sums[2].name, None);
        assert_eq!(sums[2].sums.received_minor, 1000, "overpayment not counted");
        assert_eq!(total(&rows).outstanding_minor, 600);
    }

    #[test]
    fn debtors_are_those_past_grace_most_overdue_first() {
        let today = date!(2026 - 03 - 01);
        let rows = vec![
            (
                row(
                    "Anna",
                    1000,
                    0,
                    date!(2026 - 02 - 01),
                    date!(2026 - 02 - 15),
                ),
                vec![],
            ),
            (
                row(
                    "Bára",
                    1000,
                    500,
                    date!(2026 - 01 - 01),
                    date!(2026 - 01 - 15),
                ),
                vec![],
            ),
            (
                row(
                    "Cyril",
                    1000,
                    0,
                    date!(2026 - 02 - 20),
                    date!(2026 - 03 - 05),
                ),
                vec![],
            ),
            (
                row(
                    "Dana",
                    1000,
                    1000,
                    date!(2026 - 01 - 01),
                    date!(2026 - 01 - 15),
                ),
                vec![],
            ),
        ];
        let list = debtors(&rows, today);
        let names: Vec<(&str, i64, i64)> = list
            .iter()
            .map(|d| (d.name.as_str(), d.owed_minor, d.days_overdue))
            .collect();
        assert_eq!(names, vec![("Bára", 500, 59), ("Anna", 1000, 28)]);
    }

    #[test]
    fn every_month_of_the_period_is_listed_up_to_the_last_day() {
        let flows = [MonthFlow {
            month: date!(2026 - 02 - 01),
            income_minor: 500,
            expenses_minor: 100,
        }];
        let list = months(date!(2025 - 12 - 01), date!(2026 - 03 - 10), &flows);
        let got: Vec<(Date, i64)> = list.iter().map(|m| (m.month, m.income_minor)).collect();
        assert_eq!(
            got,
            vec![
                (date!(2025 - 12 - 01), 0),
                (date!(2026 - 01 - 01), 0),
                (date!(2026 - 02 - 01), 500),
                (date!(2026 - 03 - 01), 0),
            ]
        );
    }
}
