//! Czech business days and when a reminder step may go out (the booking lag).
//!
//! A payment sent on a charge's due date may take a few business days to be booked (Czech banks
//! book transfers between banks on the next business day; the club sets the lag, default 2). A
//! reminder of a charge due on day D may only go out once the club's accounts synced
//! successfully after the end of D plus the lag in business days: then every payment made by the
//! due date is in the data it was computed from. A step before the due date is a courtesy
//! notice: it needs a sync on its own day or later (nobody is late yet; the mail says up to when
//! payments are counted).

use time::{Date, Duration, Month, OffsetDateTime, Weekday};

/// Easter Sunday of `year` (Gregorian, the anonymous algorithm of Meeus/Jones/Butcher).
fn easter(year: i32) -> Option<Date> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

/// Czech public holidays (zákon č. 245/2000 Sb.): the fixed days, Good Friday and Easter Monday.
pub fn is_holiday(day: Date) -> bool {
    const FIXED: [(u8, u8); 11] = [
        (1, 1),
        (5, 1),
        (5, 8),
        (7, 5),
        (7, 6),
        (9, 28),
        (10, 28),
        (11, 17),
        (12, 24),
        (12, 25),
        (12, 26),
    ];
    if FIXED.contains(&(u8::from(day.month()), day.day())) {
        return true;
    }
    easter(day.year()).is_some_and(|sunday| {
        day == sunday - Duration::days(2) || day == sunday + Duration::days(1)
    })
}

/// Whether banks book on `day`: not a weekend, not a Czech public holiday.
pub fn is_business_day(day: Date) -> bool {
    !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) && !is_holiday(day)
}

/// The day `n` business days after `day` (`n = 0`: `day` itself).
pub fn add_business_days(day: Date, n: u32) -> Date {
    let mut out = day;
    let mut left = n;
    while left > 0 {
        out = out.next_day().unwrap_or(out);
        if is_business_day(out) {
            left -= 1;
        }
    }
    out
}

/// The instant at or after which a successful sync must have happened before the reminder
/// `step` (days from the due date) of a charge due on `due_on` may go out, with a booking lag of
/// `lag` business days: the end of `due_on` + `lag` business days (the next Prague midnight)
/// for steps on or after the due date, the start of the step's day before it.
pub fn synced_after(due_on: Date, step: i32, lag: u32) -> OffsetDateTime {
    if step < 0 {
        return crate::i18n::prague_day_start(due_on + Duration::days(i64::from(step)));
    }
    crate::i18n::prague_day_start(add_business_days(due_on, lag) + Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn easter_and_the_fixed_holidays_are_no_business_days() {
        assert_eq!(easter(2026), Some(date!(2026 - 04 - 05)));
        assert_eq!(easter(2027), Some(date!(2027 - 03 - 28)));
        for holiday in [
            date!(2026 - 04 - 03),
            date!(2026 - 04 - 06),
            date!(2026 - 05 - 08),
            date!(2026 - 12 - 24),
            date!(2026 - 10 - 28),
        ] {
            assert!(!is_business_day(holiday), "{holiday}");
        }
        assert!(is_business_day(date!(2026 - 04 - 07)));
        assert!(!is_business_day(date!(2026 - 11 - 28)), "a Saturday");
    }

    #[test]
    fn the_lag_counts_business_days_only() {
        // Friday 20 November + 2 → Tuesday 24 November.
        assert_eq!(
            add_business_days(date!(2026 - 11 - 20), 2),
            date!(2026 - 11 - 24)
        );
        // 16 November + 2 skips 17 November (a holiday) → 19 November.
        assert_eq!(
            add_business_days(date!(2026 - 11 - 16), 2),
            date!(2026 - 11 - 19)
        );
        // Wednesday 23 December + 1 → Monday 28 December.
        assert_eq!(
            add_business_days(date!(2026 - 12 - 23), 1),
            date!(2026 - 12 - 28)
        );
        assert_eq!(
            add_business_days(date!(2026 - 11 - 20), 0),
            date!(2026 - 11 - 20)
        );
    }

    #[test]
    fn a_reminder_waits_for_a_sync_after_the_due_date_and_the_lag() {
        // Due Friday 20 November, lag 2: a sync after the end of Tuesday 24 November (Prague).
        assert_eq!(
            synced_after(date!(2026 - 11 - 20), 0, 2),
            datetime!(2026 - 11 - 24 23:00 UTC)
        );
        assert_eq!(
            synced_after(date!(2026 - 11 - 20), 14, 2),
            datetime!(2026 - 11 - 24 23:00 UTC)
        );
        // A week before: a sync on that day (from its Prague midnight).
        assert_eq!(
            synced_after(date!(2026 - 11 - 20), -7, 2),
            datetime!(2026 - 11 - 12 23:00 UTC)
        );
    }
}
