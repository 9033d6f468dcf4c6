//! "Payments count from": the day fee tracking starts (`fee_settings.payments_from`). Incoming
//! payments booked before it are not used for fee matching at all (neither allocated, nor
//! credit, nor in the queue); they stay in the bank ledger. Unset, it is the first day of the
//! earliest fee schedule's first period; with no schedule and no date, nothing is matched yet.

use serde_json::json;
use time::{Date, OffsetDateTime};

use super::{Period, first_of, parse_date};
use crate::audit::{self, Actor};
use crate::db::tenant::TenantTx;

/// The club's tracking start: what the treasurer chose and the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaymentsFrom {
    /// Set on the fee settings; `None` uses [`PaymentsFrom::default`].
    pub chosen: Option<Date>,
    /// The first day of the earliest fee schedule's first period (archived schedules too);
    /// `None` without schedules.
    pub default: Option<Date>,
}

impl PaymentsFrom {
    /// The day from which incoming payments count (a Prague date), `None` when fees are not
    /// tracked yet (no schedule and no date chosen).
    pub fn effective(&self) -> Option<Date> {
        self.chosen.or(self.default)
    }
}

/// The club's [`PaymentsFrom`].
pub async fn payments_from(tx: &mut TenantTx) -> Result<PaymentsFrom, sqlx::Error> {
    let (chosen,): (Option<Date>,) = sqlx::query_as("SELECT payments_from FROM fee_settings")
        .fetch_one(&mut **tx)
        .await?;
    let schedules: Vec<(String, Date)> =
        sqlx::query_as("SELECT period, starts_on FROM fee_schedules")
            .fetch_all(&mut **tx)
            .await?;
    let default = schedules
        .iter()
        .map(|(period, starts_on)| first_period_start(Period::parse(period), *starts_on))
        .min();
    Ok(PaymentsFrom { chosen, default })
}

/// The first day of a schedule's first period (a one-off's month).
fn first_period_start(period: Option<Period>, starts_on: Date) -> Date {
    match period {
        Some(Period::OneOff) | None => first_of(starts_on.year(), u8::from(starts_on.month())),
        Some(p) => p.containing(starts_on).0,
    }
}

/// The days the treasurer may choose, for `today` (a Prague date): from 1 January two years
/// back (KB keeps two years of history; earlier counts advance payments of the year before a
/// schedule) up to two years ahead.
pub fn range(today: Date) -> std::ops::RangeInclusive<Date> {
    let earliest = first_of(today.year() - 2, 1);
    let latest = today
        .replace_year(today.year() + 2)
        .unwrap_or_else(|_| first_of(today.year() + 2, 3));
    earliest..=latest
}

/// Reads the settings form's date: empty → `Ok(None)` (the default); a Czech (`1. 9. 2026`)
/// or ISO date within [`range`] → `Ok(Some)`. Errors: the message key of the field error.
pub fn parse(text: &str, today: Date) -> Result<Option<Date>, &'static str> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let date = parse_date(text).ok_or("fees.error.payments_from")?;
    if range(today).contains(&date) {
        Ok(Some(date))
    } else {
        Err("fees.error.payments_from_range")
    }
}

/// Sets (or with `None` clears) the chosen date and writes the audit log. The caller re-runs
/// matching (`payment::set_payments_from` does both).
pub async fn set_payments_from(
    tx: &mut TenantTx,
    actor: &Actor,
    chosen: Option<Date>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let (before,): (Option<Date>,) =
        sqlx::query_as("SELECT payments_from FROM fee_settings FOR UPDATE")
            .fetch_one(&mut **tx)
            .await?;
    sqlx::query("UPDATE fee_settings SET payments_from = $1")
        .bind(chosen)
        .execute(&mut **tx)
        .await?;
    audit::record(
        tx,
        actor,
        "fee.payments_from_changed",
        json!({ "from": before.map(|d| d.to_string()), "to": chosen.map(|d| d.to_string()) }),
        now,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_default_is_the_first_day_of_the_earliest_first_period() {
        let cases = [
            (
                Some(Period::Year),
                date!(2026 - 11 - 01),
                date!(2026 - 01 - 01),
            ),
            (
                Some(Period::HalfYear),
                date!(2026 - 11 - 01),
                date!(2026 - 07 - 01),
            ),
            (
                Some(Period::Quarter),
                date!(2026 - 11 - 20),
                date!(2026 - 10 - 01),
            ),
            (
                Some(Period::Month),
                date!(2026 - 11 - 20),
                date!(2026 - 11 - 01),
            ),
            (
                Some(Period::OneOff),
                date!(2026 - 09 - 05),
                date!(2026 - 09 - 01),
            ),
        ];
        for (period, starts_on, first) in cases {
            assert_eq!(first_period_start(period, starts_on), first, "{period:?}");
        }
        let from = PaymentsFrom {
            chosen: None,
            default: Some(date!(2026 - 01 - 01)),
        };
        assert_eq!(from.effective(), Some(date!(2026 - 01 - 01)));
        let moved = PaymentsFrom {
            chosen: Some(date!(2025 - 12 - 01)),
            ..from
        };
        assert_eq!(moved.effective(), Some(date!(2025 - 12 - 01)));
        assert_eq!(PaymentsFrom::default().effective(), None);
    }

    #[test]
    fn the_chosen_date_is_czech_or_iso_within_two_years_either_way() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(parse("", today), Ok(None));
        assert_eq!(parse("1. 12. 2025", today), Ok(Some(date!(2025 - 12 - 01))));
        assert_eq!(parse("2025-12-01", today), Ok(Some(date!(2025 - 12 - 01))));
        assert_eq!(parse("1. 1. 2024", today), Ok(Some(date!(2024 - 01 - 01))));
        assert_eq!(
            parse("31. 12. 2023", today),
            Err("fees.error.payments_from_range")
        );
        assert_eq!(
            parse("1. 1. 2029", today),
            Err("fees.error.payments_from_range")
        );
        assert_eq!(parse("31. 2. 2026", today), Err("fees.error.payments_from"));
        assert_eq!(parse("zítra", today), Err("fees.error.payments_from"));
    }
}
