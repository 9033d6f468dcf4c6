//! The sandbox's calendar: Europe/Prague days and times through `jiff` and the IANA database
//! bundled into the binary (the same crate and database Kasa uses, but the sandbox's own
//! code: it imports nothing of Kasa). KB's `bookingDate`/`valueDate` are Prague business dates;
//! its instants (`lastUpdated`, `validAt`) are UTC.

use time::{Date, OffsetDateTime};

fn zone() -> &'static jiff::tz::TimeZone {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    ZONE.get_or_init(|| {
        jiff::tz::TimeZone::get("Europe/Prague")
            .unwrap_or_else(|_| jiff::tz::TimeZone::fixed(jiff::tz::offset(1)))
    })
}

/// Prague's UTC offset in seconds at the UTC instant `utc_s` (Unix seconds).
pub fn prague_offset_s(utc_s: i64) -> i64 {
    jiff::Timestamp::from_second(utc_s)
        .map(|ts| i64::from(zone().to_offset(ts).seconds()))
        .unwrap_or(3_600)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let date = jiff::civil::Date::new(
        i16::try_from(y).unwrap_or(1970),
        i8::try_from(m).unwrap_or(1),
        i8::try_from(d).unwrap_or(1),
    )
    .unwrap_or(jiff::civil::date(1970, 1, 1));
    i64::from(
        date.since(jiff::civil::date(1970, 1, 1))
            .map(|span| span.get_days())
            .unwrap_or(0),
    )
}

/// The civil date `(year, month, day)` of a day number (days since 1970-01-01).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let date = jiff::civil::date(1970, 1, 1)
        .checked_add(jiff::Span::new().days(z))
        .unwrap_or(jiff::civil::date(1970, 1, 1));
    (
        i64::from(date.year()),
        u32::try_from(date.month()).unwrap_or(1),
        u32::try_from(date.day()).unwrap_or(1),
    )
}

/// Days in a month.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    jiff::civil::Date::new(
        i16::try_from(y).unwrap_or(1970),
        i8::try_from(m).unwrap_or(1),
        1,
    )
    .map(|d| u32::try_from(d.days_in_month()).unwrap_or(30))
    .unwrap_or(30)
}

/// UTC instant (Unix seconds) of a Prague wall-clock time on day number `day`. A time that
/// does not exist (spring forward) moves forward; an ambiguous one (fall back) takes the first.
pub fn prague_to_utc_s(day: i64, hour: i64, minute: i64) -> i64 {
    let (y, m, d) = civil_from_days(day);
    let local = jiff::civil::DateTime::new(
        i16::try_from(y).unwrap_or(1970),
        i8::try_from(m).unwrap_or(1),
        i8::try_from(d).unwrap_or(1),
        i8::try_from(hour).unwrap_or(0),
        i8::try_from(minute).unwrap_or(0),
        0,
        0,
    );
    local
        .ok()
        .and_then(|dt| dt.to_zoned(zone().clone()).ok())
        .map(|z| z.timestamp().as_second())
        .unwrap_or(day * 86_400 + hour * 3_600 + minute * 60 - 3_600)
}

/// The Prague calendar day of an instant.
pub fn prague_date(at: OffsetDateTime) -> Date {
    let offset = prague_offset_s(at.unix_timestamp());
    let local = time::UtcOffset::from_whole_seconds(i32::try_from(offset).unwrap_or(3_600))
        .unwrap_or(time::UtcOffset::UTC);
    at.to_offset(local).date()
}

/// The instant a Prague calendar day starts.
pub fn prague_day_start(day: Date) -> OffsetDateTime {
    let days = day.to_julian_day() - time::macros::date!(1970 - 01 - 01).to_julian_day();
    OffsetDateTime::from_unix_timestamp(prague_to_utc_s(i64::from(days), 0, 0))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn prague_days_follow_the_iana_rules() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(
            prague_offset_s(datetime!(2026-03-29 00:59:59 UTC).unix_timestamp()),
            3_600
        );
        assert_eq!(
            prague_offset_s(datetime!(2026-03-29 01:00 UTC).unix_timestamp()),
            7_200
        );
        assert_eq!(
            prague_date(datetime!(2026-11-27 23:30 UTC)),
            date!(2026 - 11 - 28)
        );
        assert_eq!(
            prague_date(datetime!(2026-10-25 22:30 UTC)),
            date!(2026 - 10 - 25)
        );
        assert_eq!(
            prague_day_start(date!(2026 - 03 - 30)),
            datetime!(2026-03-29 22:00 UTC)
        );
        assert_eq!(
            prague_day_start(date!(2026 - 10 - 26)),
            datetime!(2026-10-25 23:00 UTC)
        );
    }
}
