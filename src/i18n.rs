//! Languages and Czech formats. Texts live in `locales/app.yml` (rust-i18n); this module adds
//! the language type and the formatting of dates and money the Czech way.

use std::borrow::Cow;
use time::OffsetDateTime;

/// A language of the user interface. Czech is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
        let mut text = self.t(key).into_owned();
        for (name, value) in args {
            text = text.replace(&format!("%{{{name}}}"), value);
        }
        text
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

const PRAGUE_WINTER: time::UtcOffset = time::macros::offset!(+1);
const PRAGUE_SUMMER: time::UtcOffset = time::macros::offset!(+2);

/// Converts an instant to Prague local time (CET/CEST, EU rules: summer time from the last
/// Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC).
pub fn to_prague(at: OffsetDateTime) -> OffsetDateTime {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let year = utc.year();
    let last_sunday = |month: time::Month| {
        let mut day = time::Date::from_calendar_date(year, month, 31).unwrap_or(time::Date::MIN);
        while day.weekday() != time::Weekday::Sunday {
            day = day.previous_day().unwrap_or(day);
        }
        day.with_hms(1, 0, 0).map(|d| d.assume_utc()).unwrap_or(utc)
    };
    let summer = utc >= last_sunday(time::Month::March) && utc < last_sunday(time::Month::October);
    utc.to_offset(if summer { PRAGUE_SUMMER } else { PRAGUE_WINTER })
}

/// `27. 11. 2026` (cs) or `27 Nov 2026` (en), the Prague date of an instant.
pub fn format_date(at: OffsetDateTime, lang: Lang) -> String {
    format_day(to_prague(at).date(), lang)
}

/// A calendar date (a Prague date such as a birth date): `1. 2. 2010` (cs) or `1 Feb 2010` (en).
pub fn format_day(day: time::Date, lang: Lang) -> String {
    match lang {
        Lang::Cs => format!("{}. {}. {}", day.day(), u8::from(day.month()), day.year()),
        Lang::En => {
            let month = &day.month().to_string()[..3];
            format!("{} {} {}", day.day(), month, day.year())
        }
    }
}

/// `27. 11. 2026 14:05` (cs) or `27 Nov 2026 14:05` (en), Prague time.
pub fn format_datetime(at: OffsetDateTime, lang: Lang) -> String {
    let local = to_prague(at);
    format!(
        "{} {:02}:{:02}",
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

#[cfg(test)]
mod tests {
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
            "28. 11. 2026"
        );
        assert_eq!(
            format_datetime(datetime!(2026-07-01 10:00 UTC), Lang::Cs),
            "1. 7. 2026 12:00"
        );
        assert_eq!(
            format_date(datetime!(2026-11-27 10:00 UTC), Lang::En),
            "27 Nov 2026"
        );
    }

    #[test]
    fn accept_language_picks_a_supported_language() {
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_accept_language("de-DE, cs;q=0.5"), Lang::Cs);
        assert_eq!(Lang::from_accept_language("de"), Lang::Cs);
    }
}
