//! The variable symbol (VS): how Czech payments say who paid.

use std::fmt;

/// A variable symbol as the club wrote it: 1 to 10 ASCII digits, not all zeros.
///
/// Kept as entered (`0024` stays `0024`, for QR codes and display) and compared by
/// [`VariableSymbol::key`], its numeric form: banks pad a VS to 10 digits or drop its leading
/// zeros on the way, so only leading zeros are insignificant; a trailing zero is significant.
/// Rules from `docs` of issue 8 and the field cases in `tests/field-cases/07-vs-zero-padding.csv`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VariableSymbol {
    text: String,
}

/// Why a text is not a variable symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Something other than digits (an inner space, a letter, `4,2E+11`).
    #[error("not digits")]
    NotDigits,
    /// More than 10 digits (never truncated).
    #[error("too long")]
    TooLong,
}

impl VariableSymbol {
    /// Parses a VS: surrounding spaces trimmed; empty or all zeros → `Ok(None)` ("no VS");
    /// 1-10 ASCII digits → `Ok(Some)`; anything else is an error, never repaired.
    pub fn parse(input: &str) -> Result<Option<VariableSymbol>, Error> {
        let text = input.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::NotDigits);
        }
        if text.len() > 10 {
            return Err(Error::TooLong);
        }
        if text.bytes().all(|b| b == b'0') {
            return Ok(None);
        }
        Ok(Some(VariableSymbol {
            text: text.to_owned(),
        }))
    }

    /// The VS of a number (no leading zeros), for numbers assigned by a scheme.
    /// `None` for 0 or more than 10 digits.
    pub fn from_number(n: u64) -> Option<VariableSymbol> {
        (1..=9_999_999_999).contains(&n).then(|| VariableSymbol {
            text: n.to_string(),
        })
    }

    /// The VS exactly as entered, leading zeros kept.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The numeric form: leading zeros stripped, trailing zeros kept (`0024` → `24`).
    pub fn key(&self) -> &str {
        self.text.trim_start_matches('0')
    }

    /// The numeric value (at most 10 digits, so it fits).
    pub fn number(&self) -> u64 {
        self.key().parse().unwrap_or(0)
    }

    /// Whether two texts denote the same VS (both valid and numerically equal).
    pub fn same(a: &str, b: &str) -> bool {
        match (VariableSymbol::parse(a), VariableSymbol::parse(b)) {
            (Ok(Some(a)), Ok(Some(b))) => a.key() == b.key(),
            _ => false,
        }
    }
}

impl fmt::Display for VariableSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for VariableSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VS({})", self.text)
    }
}

/// The numeric form of a variable symbol: ASCII digits only (spaces around are trimmed),
/// 1-10 digits, leading zeros stripped. `None` for an empty, all-zero or non-numeric VS.
/// `0012345` → `12345`, `123450` stays `123450` (trailing zeros are significant).
pub fn vs_key(raw: &str) -> Option<String> {
    match VariableSymbol::parse(raw) {
        Ok(Some(vs)) => Some(vs.key().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field case 07: real pairs of a bank's VS and a member's VS, and whether they match.
    #[test]
    fn field_case_07_vs_zero_padding_decides_every_row() {
        let table = include_str!("../../tests/field-cases/07-vs-zero-padding.csv");
        let mut rows = 0;
        for line in table.lines().skip(1).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.splitn(4, ';').collect();
            let (bank, member, expected, why) = (cols[0], cols[1], cols[2], cols[3]);
            assert_eq!(
                VariableSymbol::same(bank, member),
                expected == "yes",
                "{bank:?} vs {member:?}: {why}"
            );
            rows += 1;
        }
        assert_eq!(rows, 12);
    }

    #[test]
    fn a_vs_keeps_its_leading_zeros_as_entered_and_compares_without_them() {
        let vs = VariableSymbol::parse(" 0024 ")
            .expect("valid")
            .expect("some");
        assert_eq!(vs.as_str(), "0024");
        assert_eq!(vs.key(), "24");
        assert_eq!(vs.number(), 24);
        let trailing = VariableSymbol::parse("20260010")
            .expect("valid")
            .expect("some");
        assert_eq!(trailing.key(), "20260010");
    }

    #[test]
    fn empty_and_all_zero_are_no_vs_and_bad_text_is_refused_not_repaired() {
        assert_eq!(VariableSymbol::parse(""), Ok(None));
        assert_eq!(VariableSymbol::parse("0000000000"), Ok(None));
        assert_eq!(VariableSymbol::parse("2026 001"), Err(Error::NotDigits));
        assert_eq!(VariableSymbol::parse("4,20777E+11"), Err(Error::NotDigits));
        assert_eq!(VariableSymbol::parse("12345678901"), Err(Error::TooLong));
        assert_eq!(VariableSymbol::from_number(0), None);
        assert_eq!(VariableSymbol::from_number(10_000_000_000), None);
    }
}
