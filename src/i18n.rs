//! Languages and Czech formats. Texts live in `locales/app.yml` (rust-i18n); this module adds
//! the language type and the formatting of dates and money the Czech way.

use std::borrow::Cow;
use time::OffsetDateTime;

/// A language of the user interface. Czech is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    Cs,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Cs, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Cs => "cs",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "cs" => Some(Lang::Cs),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first supported language of an `Accept-Language` header, or Czech.
    pub fn from_accept_language(header: &str) -> Lang {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .map(|tag| tag.trim().to_ascii_lowercase())
            .find_map(|tag| Lang::from_code(tag.split('-').next().unwrap_or("")))
            .unwrap_or_default()
    }

    /// The translated text of `key`.
    pub fn t(self, key: &str) -> Cow<'static, str> {
        Cow::Owned(rust_i18n::t!(key, locale = self.code()).into_owned())
    }

    /// The translated text of `key` with `%{name}` placeholders filled in.
    pub fn t_with(self, key: &str, args: &[(&str, &str)]) -> String {
        fill(&self.t(key), args)
    }

    /// The CLDR plural category of the integer `n` in this language (CLDR 46 rules, integers
    /// only, so `v = 0`): Czech `one` (1), `few` (2-4), `other` (0, 5+; `many` is for
    /// fractions only); English `one` (1), `other`.
    pub fn plural_category(self, n: i64) -> &'static str {
        let i = n.unsigned_abs();
        match self {
            Lang::Cs => match i {
                1 => "one",
                2..=4 => "few",
                _ => "other",
            },
            Lang::En => {
                if i == 1 {
                    "one"
                } else {
                    "other"
                }
            }
        }
    }

    /// The text of `key.<category>` for the count `n` (see [`Lang::plural_category`]) with
    /// `%{count}` filled in: `t_count("members.count", 3)` → `3 členové`. Every count shown to
    /// people goes through here so Czech gets its three forms right.
    pub fn t_count(self, key: &str, n: i64) -> String {
        let count = format_count(n, self);
        self.t_with(
            &format!("{key}.{}", self.plural_category(n)),
            &[("count", &count)],
        )
    }
}

/// An integer with grouping: `12 345` (cs, non-breaking space; four digits stay together as
/// Czech typography writes them) or `1,234` (en).
pub fn format_count(n: i64, lang: Lang) -> String {
    let digits = n.unsigned_abs().to_string();
    let sep = match lang {
        Lang::Cs => '\u{a0}',
        Lang::En => ',',
    };
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) && (lang == Lang::En || digits.len() > 4) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// Fills `%{name}` placeholders of `template` in one pass over the template: a value is copied
/// as it is and never scanned again, so a value containing `%{…}` (a club name, say) stays
/// literal text. Placeholders without a value are left as they are.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match args.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 2 + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The club's time zone. Every business day in Kasa (bank dates, balance days, reconciliation
/// windows, sync windows, due dates, reminders) is a calendar day of this zone.
pub const BUSINESS_TIME_ZONE: &str = "Europe/Prague";

/// Europe/Prague from the IANA time-zone database bundled into the binary by `jiff`
/// (`tzdb-bundle-always`), so no system tzdata is needed and every machine agrees. This is the
/// project's one time-zone path; the `time` crate's values are converted at this boundary.
fn prague_zone() -> &'static jiff::tz::TimeZone {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    ZONE.get_or_init(|| {
        // The bundled database always holds Europe/Prague; fixed CET is only a last resort
        // that a test (`the_bundled_database_knows_prague`) rules out.
        jiff::tz::TimeZone::get(BUSINESS_TIME_ZONE)
            .unwrap_or_else(|_| jiff::tz::TimeZone::fixed(jiff::tz::offset(1)))
    })
}

/// Prague's UTC offset at an instant (+01:00 in winter, +02:00 in summer).
fn prague_offset(at: OffsetDateTime) -> time::UtcOffset {
    let seconds = at.unix_timestamp();
    let offset = jiff::Timestamp::from_second(seconds)
        .map(|ts| prague_zone().to_offset(ts).seconds())
        .unwrap_or(3_600);
    time::UtcOffset::from_whole_seconds(offset).unwrap_or(time::UtcOffset::UTC)
}

/// Converts an instant to Prague local time (the IANA rules for Europe/Prague, including both
/// daylight-saving changes). The instant is unchanged; only its offset becomes Prague's.
pub fn to_prague(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(prague_offset(at))
}

/// The Prague calendar day of an instant ("today" for business rules: `prague_date(clock.now())`).
pub fn prague_date(at: OffsetDateTime) -> time::Date {
    to_prague(at).date()
}

/// The instant a Prague calendar day starts (local midnight; 23:00 or 22:00 UTC the day before).
pub fn prague_day_start(day: time::Date) -> OffsetDateTime {
    let civil = jiff::civil::date(
        i16::try_from(day.year()).unwrap_or(2000),
        i8::try_from(u8::from(day.month())).unwrap_or(1),
        i8::try_from(day.day()).unwrap_or(1),
    );
    let seconds = civil
        .to_zoned(prague_zone().clone())
        .map(|zoned| zoned.timestamp().as_second())
        // Outside jiff's range (never for bank dates): assume winter time.
        .unwrap_or_else(|_| day.midnight().assume_utc().unix_timestamp() - 3_600);
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The last instant of a Prague calendar day (the next day's start minus a nanosecond).
pub fn prague_day_end(day: time::Date) -> OffsetDateTime {
    match day.next_day() {
        Some(next) => prague_day_start(next) - time::Duration::NANOSECOND,
        None => prague_day_start(day) + time::Duration::days(1),
    }
}

/// `27. 11. 2026` (cs) or `27 Nov 2026` (en), the Prague date of an instant (non-breaking
/// spaces, see [`format_day`]).
pub fn format_date(at: OffsetDateTime, lang: Lang) -> String {
    format_day(to_prague(at).date(), lang)
}

/// A calendar date as shown: `1. 2. 2010` (cs) or `1 Feb 2010` (en), with non-breaking spaces
/// so a date never wraps over two lines. The one path of every date shown to people (pages,
/// mails, exports' text); a date put into a form field for people to edit is [`input_day`].
pub fn format_day(day: time::Date, lang: Lang) -> String {
    match lang {
        Lang::Cs => format!(
            "{}.\u{a0}{}.\u{a0}{}",
            day.day(),
            u8::from(day.month()),
            day.year()
        ),
        Lang::En => {
            let month = &day.month().to_string()[..3];
            format!("{}\u{a0}{month}\u{a0}{}", day.day(), day.year())
        }
    }
}

/// A date as a form field's value, `1. 2. 2010` with ordinary spaces (what people type; the
/// date parsers read it back).
pub fn input_day(day: time::Date) -> String {
    format!("{}. {}. {}", day.day(), u8::from(day.month()), day.year())
}

/// `27. 11. 2026 14:05` (cs) or `27 Nov 2026 14:05` (en), Prague time, non-breaking spaces.
pub fn format_datetime(at: OffsetDateTime, lang: Lang) -> String {
    let local = to_prague(at);
    format!(
        "{}\u{a0}{:02}:{:02}",
        format_date(at, lang),
        local.hour(),
        local.minute()
    )
}

/// Money from minor units: `1 234,50 Kč` (cs) or `CZK 1,234.50` (en). Non-breaking spaces.
pub fn format_money(minor: i64, currency: &str, lang: Lang) -> String {
    let negative = minor < 0;
    let abs = minor.unsigned_abs();
    let (whole, cents) = (abs / 100, abs % 100);
    let digits = whole.to_string();
    let (group_sep, decimal_sep) = match lang {
        Lang::Cs => ('\u{a0}', ','),
        Lang::En => (',', '.'),
    };
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(group_sep);
        }
        grouped.push(c);
    }
    let sign = if negative { "−" } else { "" };
    let number = format!("{sign}{grouped}{decimal_sep}{cents:02}");
    match (lang, currency) {
        (Lang::Cs, "CZK") => format!("{number}\u{a0}Kč"),
        (Lang::Cs, other) => format!("{number}\u{a0}{other}"),
        (Lang::En, other) => format!("{other}\u{a0}{number}"),
    }
}

/// Lower case without Czech diacritics (nor ä, ë, ö, ü), each character but letters and digits
/// a space: "Nová, Jana" → "nova  jana" (split on whitespace for the words). How names, payment
/// messages and import column headers are compared, whatever accents and punctuation people
/// typed.
pub fn fold(text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_lowercase().next().unwrap_or(c);
            match c {
                'á' | 'ä' => 'a',
                'č' => 'c',
                'ď' => 'd',
                'é' | 'ě' | 'ë' => 'e',
                'í' => 'i',
                'ň' => 'n',
                'ó' | 'ö' => 'o',
                'ř' => 'r',
                'š' => 's',
                'ť' => 't',
                'ú' | 'ů' | 'ü' => 'u',
                'ý' => 'y',
                'ž' => 'z',
                c if c.is_alphanumeric() => c,
                _ => ' ',
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn folding_drops_accents_case_and_punctuation() {
        assert_eq!(super::fold("Nová, Jana"), "nova  jana");
        assert_eq!(super::fold("Příjmení"), "prijmeni");
        assert_eq!(super::fold("ŽLUŤOUČKÝ kůň"), "zlutoucky kun");
        assert_eq!(super::fold("Müller-Čech 7"), "muller cech 7");
    }

    #[test]
    fn counts_take_the_czech_plural_forms_one_few_and_other() {
        use super::Lang;
        let cs: Vec<&str> = [0, 1, 2, 4, 5, 11, 21, 22, 100, -1, -3]
            .iter()
            .map(|&n| Lang::Cs.plural_category(n))
            .collect();
        assert_eq!(
            cs,
            [
                "other", "one", "few", "few", "other", "other", "other", "other", "other", "one",
                "few"
            ]
        );
        assert_eq!(Lang::En.plural_category(1), "one");
        assert_eq!(Lang::En.plural_category(2), "other");
        assert_eq!(Lang::En.plural_category(0), "other");
        assert_eq!(Lang::Cs.t_count("members.count", 1), "1 člen");
        assert_eq!(Lang::Cs.t_count("members.count", 3), "3 členové");
        assert_eq!(Lang::Cs.t_count("members.count", 5), "5 členů");
        assert_eq!(
            Lang::Cs.t_count("members.count", 12345),
            "12\u{a0}345 členů"
        );
        assert_eq!(Lang::En.t_count("members.count", 1), "1 member");
        assert_eq!(Lang::En.t_count("members.count", 1234), "1,234 members");
    }

    use super::*;
    use time::macros::datetime;

    #[test]
    fn money_is_written_the_czech_way() {
        assert_eq!(
            format_money(123_450, "CZK", Lang::Cs),
            "1\u{a0}234,50\u{a0}Kč"
        );
        assert_eq!(format_money(-5, "CZK", Lang::Cs), "−0,05\u{a0}Kč");
        assert_eq!(
            format_money(100_000_000, "EUR", Lang::En),
            "EUR\u{a0}1,000,000.00"
        );
    }

    #[test]
    fn dates_are_shown_in_prague_time() {
        // 23:30 UTC in winter is already the next day in Prague.
        assert_eq!(
            format_date(datetime!(2026-11-27 23:30 UTC), Lang::Cs),
            "28.\u{a0}11.\u{a0}2026"
        );
        assert_eq!(
            format_datetime(datetime!(2026-07-01 10:00 UTC), Lang::Cs),
            "1.\u{a0}7.\u{a0}2026\u{a0}12:00"
        );
        assert_eq!(
            format_date(datetime!(2026-11-27 10:00 UTC), Lang::En),
            "27\u{a0}Nov\u{a0}2026"
        );
        assert_eq!(
            input_day(time::macros::date!(2026 - 11 - 29)),
            "29. 11. 2026"
        );
    }

    #[test]
    fn placeholders_inside_substituted_values_stay_literal() {
        assert_eq!(
            fill(
                "%{club}: %{link}",
                &[("club", "Klub %{link} 100%{"), ("link", "https://kasa")]
            ),
            "Klub %{link} 100%{: https://kasa"
        );
        assert_eq!(fill("%{unknown} %{", &[]), "%{unknown} %{");
        assert_eq!(fill("žluťoučký %{x}!", &[("x", "kůň")]), "žluťoučký kůň!");
    }

    #[test]
    fn the_bundled_database_knows_prague() {
        assert!(jiff::tz::TimeZone::get(BUSINESS_TIME_ZONE).is_ok());
    }

    #[test]
    fn prague_days_at_23_30_utc_and_00_30_prague_on_ordinary_and_dst_days() {
        use time::macros::date;
        for (utc, day) in [
            // Ordinary winter day: 23:30 UTC is 00:30 the next day in Prague.
            (datetime!(2026-11-27 23:30 UTC), date!(2026 - 11 - 28)),
            (datetime!(2026-11-27 22:59:59 UTC), date!(2026 - 11 - 27)),
            // Ordinary summer day: Prague is two hours ahead.
            (datetime!(2026-07-01 21:30 UTC), date!(2026 - 07 - 01)),
            (datetime!(2026-07-01 22:30 UTC), date!(2026 - 07 - 02)),
            (datetime!(2026-07-01 23:30 UTC), date!(2026 - 07 - 02)),
            // Spring forward (29 March 2026, 02:00 → 03:00 local): 23:30 UTC on the 29th is
            // already the 30th.
            (datetime!(2026-03-28 23:30 UTC), date!(2026 - 03 - 29)),
            (datetime!(2026-03-29 22:30 UTC), date!(2026 - 03 - 30)),
            // Fall back (25 October 2026, 03:00 → 02:00 local).
            (datetime!(2026-10-25 22:30 UTC), date!(2026 - 10 - 25)),
            (datetime!(2026-10-25 23:30 UTC), date!(2026 - 10 - 26)),
        ] {
            assert_eq!(prague_date(utc), day, "{utc}");
        }
        for (day, start) in [
            // Winter and summer.
            (date!(2026 - 11 - 28), datetime!(2026-11-27 23:00 UTC)),
            (date!(2026 - 07 - 02), datetime!(2026-07-01 22:00 UTC)),
            // Spring forward: the day starts at 23:00 UTC the day before, the next one at 22:00.
            (date!(2026 - 03 - 29), datetime!(2026-03-28 23:00 UTC)),
            (date!(2026 - 03 - 30), datetime!(2026-03-29 22:00 UTC)),
            // Fall back: the other way round.
            (date!(2026 - 10 - 25), datetime!(2026-10-24 22:00 UTC)),
            (date!(2026 - 10 - 26), datetime!(2026-10-25 23:00 UTC)),
            // Other years follow the database, not a hand-written rule (2027: 28 March).
            (date!(2027 - 03 - 29), datetime!(2027-03-28 22:00 UTC)),
        ] {
            assert_eq!(prague_day_start(day), start, "{day}");
        }
        // Spring forward skips 02:00–03:00 local.
        assert_eq!(to_prague(datetime!(2026-03-29 00:59:59 UTC)).hour(), 1);
        assert_eq!(to_prague(datetime!(2026-03-29 01:00 UTC)).hour(), 3);
        // Fall back makes a 25-hour day.
        assert_eq!(
            prague_day_end(date!(2026 - 10 - 25)) - prague_day_start(date!(2026 - 10 - 25)),
            time::Duration::hours(25) - time::Duration::NANOSECOND
        );
    }

    #[test]
    fn accept_language_picks_a_supported_language() {
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_accept_language("de-DE, cs;q=0.5"), Lang::Cs);
        assert_eq!(Lang::from_accept_language("de"), Lang::Cs);
    }
}
