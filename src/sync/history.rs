//! An account's history for its charts: the balance at the end of each month and the money in
//! and out by month, over the last [`MONTHS`] months. Read-only; takes a [`TenantTx`].
//!
//! The balances are derived from the latest accounting balance KB reported and the booked
//! movements around it. `PREVIOUSLY_CLOSED_BOOK` valid on Prague day V is the balance after
//! everything booked before V, i.e. at the end of day A = V − 1 (as the reconciliation reads
//! it); the balance at the end of day D is that balance minus the movements booked after D up
//! to A, plus those booked after A up to D. (KB's balance history only starts with the first
//! sync; the movements go back two years.)

use super::views::MonthFlow;
use crate::db::tenant::TenantTx;
use std::collections::BTreeMap;
use time::{Date, Duration, Month, OffsetDateTime};
use uuid::Uuid;

/// How many months the charts cover (the current one included).
pub const MONTHS: u32 = 24;

/// The balance at the end of a month (or today, for the current month).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthEnd {
    /// The month's first day.
    pub month: Date,
    /// The day the balance is for: the month's last day, or today in the current month.
    pub day: Date,
    /// Minor units of the account's currency.
    pub balance_minor: i64,
}

/// What an account's charts show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charts {
    /// Month-end balances, oldest first; empty while KB has reported no booked balance.
    pub balances: Vec<MonthEnd>,
    /// Money in and out by booking month, every month of the range (zeros included), oldest
    /// first.
    pub months: Vec<MonthFlow>,
}

fn month_start(day: Date) -> Date {
    day.replace_day(1).unwrap_or(day)
}

fn next_month(first: Date) -> Date {
    let (year, month) = match first.month() {
        Month::December => (first.year() + 1, Month::January),
        m => (first.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1).unwrap_or(first)
}

/// The first days of the months from the one holding `first` (but at most [`MONTHS`] back) to
/// the one holding `today`.
fn months_until(first: Option<Date>, today: Date) -> Vec<Date> {
    let mut start = month_start(today);
    for _ in 1..MONTHS {
        match first {
            Some(f) if f < start => start = month_start(start - Duration::days(1)),
            _ => break,
        }
    }
    let mut out = Vec::new();
    let mut m = start;
    while m <= today {
        out.push(m);
        m = next_month(m);
    }
    out
}

/// The month-end balances of `months` (first days, oldest first) from the booked balance
/// `anchor` at the end of `anchor_day` and the booked movements per day (`daily`, any order).
/// The current month's point is for `today`.
pub fn month_end_balances(
    anchor_day: Date,
    anchor: i64,
    daily: &[(Date, i64)],
    months: &[Date],
    today: Date,
) -> Vec<MonthEnd> {
    let by_day: BTreeMap<Date, i64> = daily.iter().copied().collect();
    months
        .iter()
        .map(|&month| {
            let day = (next_month(month) - Duration::days(1)).min(today);
            let balance = if day <= anchor_day {
                anchor
                    - by_day
                        .range((
                            std::ops::Bound::Excluded(day),
                            std::ops::Bound::Included(anchor_day),
                        ))
                        .map(|(_, v)| v)
                        .sum::<i64>()
            } else {
                anchor
                    + by_day
                        .range((
                            std::ops::Bound::Excluded(anchor_day),
                            std::ops::Bound::Included(day),
                        ))
                        .map(|(_, v)| v)
                        .sum::<i64>()
            };
            MonthEnd {
                month,
                day,
                balance_minor: balance,
            }
        })
        .collect()
}

/// The account's charts as of `today` (a Prague date).
pub async fn charts(tx: &mut TenantTx, account: Uuid, today: Date) -> Result<Charts, sqlx::Error> {
    let daily: Vec<(Date, i64)> = sqlx::query_as(
        "SELECT booking_date, sum(amount_minor)::int8 FROM transactions \
          WHERE account_id = $1 AND status = 'booked' AND booking_date IS NOT NULL \
          GROUP BY booking_date ORDER BY booking_date",
    )
    .bind(account)
    .fetch_all(&mut **tx)
    .await?;
    let months = months_until(daily.first().map(|(d, _)| *d), today);
    let from = months.first().copied().unwrap_or(today);
    let flows: Vec<MonthFlow> = sqlx::query_as(
        "SELECT date_trunc('month', booking_date)::date AS month, \
                COALESCE(sum(amount_minor) FILTER (WHERE amount_minor > 0), 0)::int8 AS income_minor, \
                COALESCE(-sum(amount_minor) FILTER (WHERE amount_minor < 0), 0)::int8 AS expenses_minor \
           FROM transactions \
          WHERE account_id = $1 AND status = 'booked' AND booking_date BETWEEN $2 AND $3 \
          GROUP BY 1 ORDER BY 1",
    )
    .bind(account)
    .bind(from)
    .bind(today)
    .fetch_all(&mut **tx)
    .await?;
    let flows: BTreeMap<Date, MonthFlow> = flows.into_iter().map(|f| (f.month, f)).collect();
    let month_flows = months
        .iter()
        .map(|&month| {
            flows.get(&month).copied().unwrap_or(MonthFlow {
                month,
                income_minor: 0,
                expenses_minor: 0,
            })
        })
        .collect();
    let anchor: Option<(OffsetDateTime, i64)> = sqlx::query_as(
        "SELECT valid_at, amount_minor FROM balances \
          WHERE account_id = $1 AND balance_type = 'PREVIOUSLY_CLOSED_BOOK' \
          ORDER BY valid_at DESC, fetched_at DESC LIMIT 1",
    )
    .bind(account)
    .fetch_optional(&mut **tx)
    .await?;
    let balances = match anchor {
        Some((valid_at, amount)) => month_end_balances(
            crate::i18n::prague_date(valid_at) - Duration::days(1),
            amount,
            &daily,
            &months,
            today,
        ),
        None => Vec::new(),
    };
    Ok(Charts {
        balances,
        months: month_flows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_range_starts_at_the_first_movement_and_never_before_two_years() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(
            months_until(Some(date!(2026 - 09 - 15)), today),
            vec![
                date!(2026 - 09 - 01),
                date!(2026 - 10 - 01),
                date!(2026 - 11 - 01)
            ]
        );
        let all = months_until(Some(date!(2020 - 01 - 01)), today);
        assert_eq!(all.len(), MONTHS as usize);
        assert_eq!(all[0], date!(2024 - 12 - 01));
        assert_eq!(months_until(None, today), vec![date!(2026 - 11 - 01)]);
    }

    #[test]
    fn month_ends_are_counted_back_and_forward_from_the_booked_balance() {
        // 1 000 at the end of 10 Oct; +200 on 5 Sep, −300 on 20 Oct, +50 on 3 Nov.
        let daily = [
            (date!(2026 - 09 - 05), 200),
            (date!(2026 - 10 - 20), -300),
            (date!(2026 - 11 - 03), 50),
        ];
        let months = [
            date!(2026 - 09 - 01),
            date!(2026 - 10 - 01),
            date!(2026 - 11 - 01),
        ];
        let ends = month_end_balances(
            date!(2026 - 10 - 10),
            1000,
            &daily,
            &months,
            date!(2026 - 11 - 30),
        );
        let values: Vec<i64> = ends.iter().map(|e| e.balance_minor).collect();
        assert_eq!(values, vec![1000, 700, 750]);
        assert_eq!(ends[2].day, date!(2026 - 11 - 30));
    }
}
