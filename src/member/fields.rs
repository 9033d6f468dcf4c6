//! Parsing the fields of a member as people type them or Czech Excel writes them: names, e-mails,
//! phones, Czech and ISO dates, variable symbols. Shared by the form and the CSV import, so both
//! accept and refuse the same things.

use super::vs::VariableSymbol;
use time::{Date, Month};

/// The longest text kept in one field (a note); longer cells are refused, not cut.
pub const MAX_TEXT: usize = 2_000;

/// What is wrong with a field; `key()` is its translation key in `locales/members.yml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Required,
    /// Longer than `max` characters.
    TooLong {
        max: usize,
    },
    /// More than five e-mail addresses.
    TooManyEmails,
    BadVs,
    VsTooLong,
    BadEmail,
    BadPhone,
    /// A number Excel turned into scientific notation (`4,20777E+11`): the digits are lost.
    ExcelMangled,
    BadDate,
    /// Written as a date, but no such day exists (`31. 2. 2010`).
    NoSuchDate,
    /// The member joined before they were born.
    JoinedBeforeBirth,
    BadAmount,
    /// A control character (NUL, escape, …) that no person types into a text field.
    Unprintable,
}

impl Problem {
    pub fn key(self) -> &'static str {
        match self {
            Problem::Required => "members.err.required",
            Problem::TooLong { .. } => "members.err.too_long",
            Problem::TooManyEmails => "members.err.too_many_emails",
            Problem::BadVs => "members.err.bad_vs",
            Problem::VsTooLong => "members.err.vs_too_long",
            Problem::BadEmail => "members.err.bad_email",
            Problem::BadPhone => "members.err.bad_phone",
            Problem::ExcelMangled => "members.err.excel_mangled",
            Problem::BadDate => "members.err.bad_date",
            Problem::NoSuchDate => "members.err.no_such_date",
            Problem::JoinedBeforeBirth => "members.err.joined_before_birth",
            Problem::BadAmount => "members.err.bad_amount",
            Problem::Unprintable => "members.err.unprintable",
        }
    }

    /// The limit a [`Problem::TooLong`] names, in characters.
    pub fn max(self) -> Option<usize> {
        match self {
            Problem::TooLong { max } => Some(max),
            _ => None,
        }
    }

    /// The message in `lang`: "Text je příliš dlouhý (nejvýše 200 znaků)." with the Czech
    /// plural of the limit.
    pub fn message(self, lang: crate::i18n::Lang) -> String {
        match self.max() {
            Some(max) => lang.t_count(self.key(), i64::try_from(max).unwrap_or(i64::MAX)),
            None => lang.t(self.key()).into_owned(),
        }
    }
}

/// A member's name: trimmed, 1-200 characters, no control characters.
pub fn name(input: &str) -> Result<String, Problem> {
    let name = input.trim();
    if name.is_empty() {
        return Err(Problem::Required);
    }
    if name.chars().count() > 200 {
        return Err(Problem::TooLong { max: 200 });
    }
    if name.chars().any(char::is_control) {
        return Err(Problem::Required);
    }
    Ok(name.to_owned())
}

/// An optional VS (empty → `None`, assigned by the club's scheme later).
pub fn vs(input: &str) -> Result<Option<VariableSymbol>, Problem> {
    if looks_excel_mangled(input) {
        return Err(Problem::ExcelMangled);
    }
    VariableSymbol::parse(input).map_err(|e| match e {
        super::vs::Error::NotDigits => Problem::BadVs,
        super::vs::Error::TooLong => Problem::VsTooLong,
    })
}

/// E-mails separated by `,`, `;` or spaces; each must look like `a@b.c`. Lowercased.
pub fn emails(input: &str) -> Result<Vec<String>, Problem> {
    let mut out: Vec<String> = Vec::new();
    for part in input.split([',', ';', ' ', '\t']).filter(|p| !p.is_empty()) {
        let email = crate::auth::Email::parse(part).ok_or(Problem::BadEmail)?;
        let email = email.as_str().to_owned();
        if !out.contains(&email) {
            out.push(email);
        }
    }
    if out.len() > 5 {
        return Err(Problem::TooManyEmails);
    }
    Ok(out)
}

/// A phone number as written (`+420 777 123 456`, `777123456`): digits with spaces, `+`, `-`,
/// `/`, `(`, `)`; 9 to 15 digits. A number in scientific notation is [`Problem::ExcelMangled`].
pub fn phone(input: &str) -> Result<Option<String>, Problem> {
    let text = input.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if looks_excel_mangled(text) {
        return Err(Problem::ExcelMangled);
    }
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '/' | '(' | ')');
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if !text.chars().all(allowed) || !(9..=15).contains(&digits) {
        return Err(Problem::BadPhone);
    }
    Ok(Some(text.split_whitespace().collect::<Vec<_>>().join(" ")))
}

/// An optional date: Czech `1.2.2010`, `01.02.2010`, `1. 2. 2010`, or ISO `2010-02-01`. A
/// date written right but not in the calendar (`31. 2. 2010`) is [`Problem::NoSuchDate`].
pub fn date(input: &str) -> Result<Option<Date>, Problem> {
    let text = input.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match parse_date(text) {
        Ok(date) => Ok(Some(date)),
        Err(DateError::Form) => Err(Problem::BadDate),
        Err(DateError::Calendar) => Err(Problem::NoSuchDate),
    }
}

/// Why [`parse_date`] failed: not written as a date, or no such day.
enum DateError {
    Form,
    Calendar,
}

fn parse_date(text: &str) -> Result<Date, DateError> {
    let (y, m, d) = date_parts(text).ok_or(DateError::Form)?;
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or(DateError::Calendar)?;
    let year = i32::try_from(y).map_err(|_| DateError::Form)?;
    let day = u8::try_from(d).map_err(|_| DateError::Calendar)?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| DateError::Calendar)?;
    if (1900..=2100).contains(&date.year()) {
        Ok(date)
    } else {
        Err(DateError::Form)
    }
}

/// Year, month and day numbers of a date written the Czech or ISO way, unchecked.
fn date_parts(text: &str) -> Option<(u32, u32, u32)> {
    let number = |s: &str| -> Option<u32> {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (y, m, d) = if let Some((y, rest)) = text.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        if y.trim().len() != 4 {
            return None;
        }
        (number(y)?, number(m)?, number(d)?)
    } else {
        let mut parts = text.split('.');
        let d = number(parts.next()?)?;
        let m = number(parts.next()?)?;
        let y_text = parts.next()?;
        if parts.next().is_some() || y_text.trim().len() != 4 {
            return None;
        }
        (number(y_text)?, m, d)
    };
    Some((y, m, d))
}

/// Whether `text` holds a control character other than the line breaks and tabs of a note.
/// PostgreSQL refuses NUL in text, and the others are never typed by a person.
pub fn has_unprintable(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Search text as typed into a search box: control characters dropped, at most 200 characters.
/// Never an error: a search for nonsense simply finds nothing.
pub fn search(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Free text (a note, a group name): trimmed, at most [`MAX_TEXT`] characters, no control
/// characters but line breaks and tabs ([`Problem::Unprintable`]).
pub fn text(input: &str) -> Result<Option<String>, Problem> {
    let text = input.trim();
    if text.chars().count() > MAX_TEXT {
        return Err(Problem::TooLong { max: MAX_TEXT });
    }
    if has_unprintable(text) {
        return Err(Problem::Unprintable);
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// Group names separated by `,` or `;` (`žáci, dospělí`), each at most 100 characters.
pub fn groups(input: &str) -> Result<Vec<String>, Problem> {
    let mut out: Vec<String> = Vec::new();
    for part in input
        .split([',', ';'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if part.chars().count() > 100 {
            return Err(Problem::TooLong { max: 100 });
        }
        if part.chars().any(char::is_control) {
            return Err(Problem::Unprintable);
        }
        if !out.iter().any(|g| g.to_lowercase() == part.to_lowercase()) {
            out.push(part.to_owned());
        }
    }
    Ok(out)
}

/// An amount in CZK as Czech Excel writes it, in minor units (haléře): decimal comma or point,
/// grouping by spaces (also non-breaking) or by dots before a decimal comma (`1 200,50`,
/// `1.200,50`, `1200.5`, `-350`); at most two decimals. Scientific notation is
/// [`Problem::ExcelMangled`]; anything else unreadable is [`Problem::BadAmount`]. For import
/// columns with money (fees, discounts).
pub fn amount_minor(input: &str) -> Result<Option<i64>, Problem> {
    let text: String = input
        .trim()
        .trim_end_matches("Kč")
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
        .collect();
    if text.is_empty() {
        return Ok(None);
    }
    if looks_excel_mangled(&text) {
        return Err(Problem::ExcelMangled);
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    // With a comma present, it is the decimal separator and dots group thousands.
    let (whole, fraction) = match digits.rsplit_once(',') {
        Some((w, f)) => (w.replace('.', ""), f.to_owned()),
        None => match digits.rsplit_once('.') {
            Some((w, f)) => (w.to_owned(), f.to_owned()),
            None => (digits.to_owned(), String::new()),
        },
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(&whole) || !all_digits(&fraction) || fraction.len() > 2 {
        return Err(Problem::BadAmount);
    }
    let whole: i64 = whole.parse().map_err(|_| Problem::BadAmount)?;
    let cents: i64 = format!("{fraction:0<2}")
        .parse()
        .map_err(|_| Problem::BadAmount)?;
    let minor = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .ok_or(Problem::BadAmount)?;
    Ok(Some(if negative { -minor } else { minor }))
}

/// Whether a cell is a number Excel wrote in scientific notation (`4,20777E+11`, `4.2E11`):
/// the digits beyond the mantissa are gone, so it must never be imported as a number.
pub fn looks_excel_mangled(input: &str) -> bool {
    let text = input.trim();
    let Some((mantissa, exponent)) = text.split_once(['E', 'e']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
        && mantissa.chars().any(|c| c.is_ascii_digit())
        && !exponent.is_empty()
        && exponent.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn czech_and_iso_dates_are_read_and_impossible_ones_refused() {
        for (text, expected) in [
            ("1.2.2010", date!(2010 - 02 - 01)),
            ("01.02.2010", date!(2010 - 02 - 01)),
            ("1. 2. 2010", date!(2010 - 02 - 01)),
            ("29.02.2008", date!(2008 - 02 - 29)),
            ("2010-02-01", date!(2010 - 02 - 01)),
        ] {
            assert_eq!(date(text), Ok(Some(expected)), "{text}");
        }
        // Written right, but no such day: said so, not "write it like 1. 2. 2010".
        for impossible in [
            "29.02.2009",
            "31.2.2010",
            "32.1.2010",
            "1.13.2010",
            "2010-04-31",
        ] {
            assert_eq!(date(impossible), Err(Problem::NoSuchDate), "{impossible}");
        }
        for bad in ["1.2.10", "2010/02/01", "zítra", "1.2.1800"] {
            assert_eq!(date(bad), Err(Problem::BadDate), "{bad}");
        }
        assert_eq!(date("  "), Ok(None));
    }

    #[test]
    fn a_text_too_long_names_its_limit_with_the_czech_plural() {
        let long = "x".repeat(201);
        let problem = name(&long).expect_err("too long");
        assert_eq!(problem, Problem::TooLong { max: 200 });
        assert_eq!(
            problem.message(crate::i18n::Lang::Cs),
            "Text je příliš dlouhý, nejvýše 200 znaků."
        );
        assert_eq!(
            Problem::TooLong { max: 2 }.message(crate::i18n::Lang::Cs),
            "Text je příliš dlouhý, nejvýše 2 znaky."
        );
        assert_eq!(
            text(&"y".repeat(MAX_TEXT + 1)),
            Err(Problem::TooLong { max: MAX_TEXT })
        );
    }

    #[test]
    fn excel_scientific_numbers_are_flagged_in_phones_and_vs() {
        assert!(looks_excel_mangled("4,20777E+11"));
        assert!(looks_excel_mangled("4.2E11"));
        assert!(!looks_excel_mangled("Eva"));
        assert_eq!(phone("4,20777E+11"), Err(Problem::ExcelMangled));
        assert_eq!(vs("2,02601E+06"), Err(Problem::ExcelMangled));
        assert_eq!(
            phone(" +420  777 123 456 "),
            Ok(Some("+420 777 123 456".to_owned()))
        );
        assert_eq!(phone("777"), Err(Problem::BadPhone));
    }

    #[test]
    fn amounts_read_decimal_commas_and_grouping_spaces_and_flag_excel_notation() {
        for (text, minor) in [
            ("1 200,50", 120_050),
            ("1\u{a0}200,50 Kč", 120_050),
            ("1.200,50", 120_050),
            ("1200.5", 120_050),
            ("350", 35_000),
            ("-350,00", -35_000),
            ("0,01", 1),
        ] {
            assert_eq!(amount_minor(text), Ok(Some(minor)), "{text}");
        }
        assert_eq!(amount_minor(""), Ok(None));
        assert_eq!(amount_minor("1,2E+03"), Err(Problem::ExcelMangled));
        for bad in ["1,234", "12,3,4", "abc", ",50"] {
            let result = amount_minor(bad);
            assert!(result.is_err() || bad == "1,234", "{bad}");
        }
        assert_eq!(
            amount_minor("1,234"),
            Err(Problem::BadAmount),
            "three decimals"
        );
    }

    #[test]
    fn emails_are_split_checked_and_deduplicated() {
        assert_eq!(
            emails("Eva@Example.cz; eva@example.cz, petr@example.cz"),
            Ok(vec![
                "eva@example.cz".to_owned(),
                "petr@example.cz".to_owned()
            ])
        );
        assert_eq!(emails("not-an-email"), Err(Problem::BadEmail));
        assert_eq!(
            groups("žáci, Dospělí; žáci"),
            Ok(vec!["žáci".into(), "Dospělí".into()])
        );
    }
}
