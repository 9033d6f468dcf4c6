//! The sandbox's calendar: Europe/Prague days and times through `jiff` and the IANA database
//! bundled into the binary (the same crate and database Kasa uses, but the sandbox's own
//! code: it imports nothing of Kasa). KB's `bookingDate`/`valueDate` are Prague business dates;
//! its instants (`lastUpdated`, `validAt`) are UTC. The data generator counts in day numbers
//! (days since 1970-01-01) and UTC microseconds; their conversions and KB's text forms of dates
//! and instants are here too.

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

// ---------------------------------------------------------------------------------------------
// Instants as UTC microseconds and day numbers (the data generator's arithmetic), and KB's
// text forms of dates and instants.

/// Microseconds in a second.
pub(crate) const US: i64 = 1_000_000;
/// Seconds in a (UTC) day.
pub(crate) const DAY_S: i64 = 86_400;
/// Microseconds in an hour.
pub(crate) const HOUR_US: i64 = 3_600 * US;
/// Microseconds in a (UTC) day.
pub(crate) const DAY_US: i64 = DAY_S * US;

/// Prague local day number (days since 1970-01-01) of a UTC instant in µs.
pub(crate) fn local_day(us: i64) -> i64 {
    let s = us.div_euclid(US);
    (s + prague_offset_s(s)).div_euclid(DAY_S)
}

/// Prague local hour of a UTC instant in µs.
pub(crate) fn local_hour(us: i64) -> i64 {
    let s = us.div_euclid(US);
    (s + prague_offset_s(s)).rem_euclid(DAY_S) / 3_600
}

/// UTC instant (µs) of a Prague local wall-clock time.
pub(crate) fn local_to_utc_us(day: i64, hour: i64, minute: i64) -> i64 {
    prague_to_utc_s(day, hour, minute) * US
}

/// `yyyy-mm-dd` of a day number (KB's `bookingDate`/`valueDate`).
pub(crate) fn fmt_date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `dd.mm.yyyy` as used in Czech texts.
pub(crate) fn fmt_date_cz(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{d:02}.{m:02}.{y:04}")
}

/// ISO-8601 UTC with up to 6 fraction digits, trailing zeros trimmed (KB style).
pub(crate) fn fmt_utc(us: i64) -> String {
    let s = us.div_euclid(US);
    let micros = us.rem_euclid(US);
    let (y, m, d) = civil_from_days(s.div_euclid(DAY_S));
    let sod = s.rem_euclid(DAY_S);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3_600,
        sod % 3_600 / 60,
        sod % 60
    );
    if micros == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{micros:06}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// Parses the `lastUpdated` format written by [`fmt_utc`] (any RFC 3339 UTC time).
pub(crate) fn parse_utc_micros(s: &str) -> Option<i64> {
    let dt = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(to_micros(dt))
}

/// An instant as UTC microseconds since 1970.
pub(crate) fn to_micros(dt: OffsetDateTime) -> i64 {
    dt.unix_timestamp() * US + i64::from(dt.nanosecond() / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn prague_days_follow_the_iana_rules() {
        assert_eq!(days_in_month(2024, 2), 29);
        for (utc, day) in [
            (datetime!(2026-11-27 23:30 UTC), date!(2026 - 11 - 28)),
            (datetime!(2026-10-25 22:30 UTC), date!(2026 - 10 - 25)),
        ] {
            assert_eq!(prague_date(utc), day, "{utc}");
        }
        for (day, start) in [
            (date!(2026 - 03 - 30), datetime!(2026-03-29 22:00 UTC)),
            (date!(2026 - 10 - 26), datetime!(2026-10-25 23:00 UTC)),
        ] {
            assert_eq!(prague_day_start(day), start, "{day}");
        }
    }

    #[test]
    fn calendar_helpers() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        for (utc, text) in [
            (
                datetime!(2023-06-08 07:30:27.212470 UTC),
                "2023-06-08T07:30:27.21247Z",
            ),
            (datetime!(2019-06-05 11:34:00 UTC), "2019-06-05T11:34:00Z"),
        ] {
            assert_eq!(fmt_utc(to_micros(utc)), text);
        }
        // DST 2026: 29 March 01:00 UTC .. 25 October 01:00 UTC.
        for (utc, offset) in [
            (datetime!(2026-03-29 00:59:59 UTC), 3_600),
            (datetime!(2026-03-29 01:00:00 UTC), 7_200),
            (datetime!(2026-10-25 00:59:59 UTC), 7_200),
            (datetime!(2026-10-25 01:00:00 UTC), 3_600),
        ] {
            assert_eq!(prague_offset_s(utc.unix_timestamp()), offset, "{utc}");
        }
        for (utc, day) in [
            (datetime!(2026-06-30 22:30 UTC), "2026-07-01"),
            (datetime!(2026-01-31 22:30 UTC), "2026-01-31"),
        ] {
            assert_eq!(fmt_date(local_day(to_micros(utc))), day, "{utc}");
        }
        for y in 1990..2040 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m) {
                    let z = days_from_civil(y, m, d);
                    assert_eq!(civil_from_days(z), (y, m, d));
                    let date = time::Date::from_calendar_date(
                        y as i32,
                        time::Month::try_from(m as u8).expect("test data"),
                        d as u8,
                    )
                    .expect("test data");
                    assert_eq!(date.to_julian_day() as i64 - 2_440_588, z);
                }
            }
        }
    }
}
