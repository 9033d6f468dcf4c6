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
        fill(&self.t(key), args)
    }
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

/// `27. 11. 2026` (cs) or `27 Nov 2026` (en).
pub fn format_date(at: OffsetDateTime, lang: Lang) -> String {
    let local = to_prague(at);
    match lang {
        Lang::Cs => format!(
            "{}. {}. {}",
            local.day(),
            u8::from(local.month()),
            local.year()
        ),
        Lang::En => {
            let month = &local.month().to_string()[..3];
            format!("{} {} {}", local.day(), month, local.year())
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
    fn accept_language_picks_a_supported_language() {
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_accept_language("de-DE, cs;q=0.5"), Lang::Cs);
        assert_eq!(Lang::from_accept_language("de"), Lang::Cs);
    }
}
