//! IBANs, and Czech account numbers turned into IBANs (field case 12).
//!
//! A Czech account is `prefix-number/bank`: a prefix of up to 6 digits (optional), a number of
//! up to 10 digits and a 4-digit bank code. Prefix and number each pass the Czech weighted
//! mod-11 check (weights 10, 5, 8, 4, 2, 1 for the prefix padded to 6 digits; 6, 3, 7, 9, 10,
//! 5, 8, 4, 2, 1 for the number padded to 10). Its IBAN is `CZkk` + bank (4) + prefix (6,
//! zero-padded) + number (10, zero-padded), `kk` by ISO 7064 mod 97-10. KB's 16-digit form
//! (`0000352900000005`: prefix padded to 6, number padded to 10) is read as well.

use std::fmt;

/// A checked IBAN: capitals and digits, no spaces; mod 97 = 1; a Czech one (`CZ…`) also has
/// 24 characters and a prefix and number that pass the mod-11 checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iban(String);

/// Why a text is not an account Kasa can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not of the form `[prefix-]number/bank` (or an IBAN's letters and digits).
    #[error("not an account number")]
    Format,
    /// The prefix fails the Czech mod-11 check.
    #[error("the account prefix fails its check")]
    PrefixCheck,
    /// The number fails the Czech mod-11 check (or is all zeros).
    #[error("the account number fails its check")]
    NumberCheck,
    /// The IBAN's check digits are wrong.
    #[error("the IBAN's check digits are wrong")]
    IbanCheck,
}

const PREFIX_WEIGHTS: [u32; 6] = [10, 5, 8, 4, 2, 1];
const NUMBER_WEIGHTS: [u32; 10] = [6, 3, 7, 9, 10, 5, 8, 4, 2, 1];

/// The Czech weighted mod-11 check of zero-padded digits.
fn mod11_ok(digits: &str, weights: &[u32]) -> bool {
    digits
        .bytes()
        .zip(weights)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum::<u32>()
        % 11
        == 0
}

/// ISO 7064 mod 97-10 of an IBAN (country and check digits moved to the end, letters as
/// 10…35). A valid IBAN gives 1.
fn mod97(iban: &str) -> u32 {
    let (head, tail) = iban.split_at(4);
    tail.chars().chain(head.chars()).fold(0u32, |r, c| match c {
        '0'..='9' => (r * 10 + (c as u32 - '0' as u32)) % 97,
        // Letters are two digits (A = 10 … Z = 35).
        _ => (r * 100 + (c as u32 - 'A' as u32 + 10)) % 97,
    })
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// A Czech account number's prefix and number: `prefix-number`, KB's 16 digits (prefix padded
/// to 6, number padded to 10), or a number without prefix (`""`).
pub fn split_prefix(account: &str) -> (&str, &str) {
    match account.split_once('-') {
        Some(parts) => parts,
        None if account.len() == 16 && account.is_ascii() => account.split_at(6),
        None => ("", account),
    }
}

/// Prefix (6) and number (10) zero-padded, when bank (4), prefix (0-6) and number (1-10) are
/// digits.
fn padded(prefix: &str, number: &str, bank: &str) -> Option<(String, String)> {
    let shape_ok = bank.len() == 4
        && prefix.len() <= 6
        && !number.is_empty()
        && number.len() <= 10
        && all_digits(prefix)
        && all_digits(number)
        && all_digits(bank);
    shape_ok.then(|| (format!("{prefix:0>6}"), format!("{number:0>10}")))
}

/// `CZkk` + bank + padded prefix + padded number, `kk` by mod 97-10.
fn czech_iban(bank: &str, prefix: &str, number: &str) -> String {
    let bban = format!("{bank}{prefix}{number}");
    let check = 98 - mod97(&format!("CZ00{bban}"));
    format!("CZ{check:02}{bban}")
}

/// The IBAN text of a Czech account's parts *without* the mod-11 checks, for comparing
/// counter-accounts as banks report them (`payment::matching::account_key`); `None` when the
/// parts are not digits of the right lengths. A payment request uses [`Iban::from_parts`].
pub fn czech_unchecked(prefix: &str, number: &str, bank: &str) -> Option<String> {
    let (prefix, number) = padded(prefix, number, bank)?;
    Some(czech_iban(bank, &prefix, &number))
}

impl Iban {
    /// The IBAN of a Czech account given as `prefix-number/bank`, `number/bank` or KB's
    /// 16 digits `/bank`. Errors: [`Error::Format`], [`Error::PrefixCheck`],
    /// [`Error::NumberCheck`].
    pub fn from_czech(account: &str) -> Result<Iban, Error> {
        let (number, bank) = account.trim().split_once('/').ok_or(Error::Format)?;
        let (prefix, number) = split_prefix(number.trim());
        Iban::from_parts(prefix, number, bank.trim())
    }

    /// The IBAN of a Czech account given by its parts (the prefix may be empty).
    pub fn from_parts(prefix: &str, number: &str, bank: &str) -> Result<Iban, Error> {
        let (prefix, number) = padded(prefix, number, bank).ok_or(Error::Format)?;
        if !mod11_ok(&prefix, &PREFIX_WEIGHTS) {
            return Err(Error::PrefixCheck);
        }
        if number.bytes().all(|b| b == b'0') || !mod11_ok(&number, &NUMBER_WEIGHTS) {
            return Err(Error::NumberCheck);
        }
        Ok(Iban(czech_iban(bank, &prefix, &number)))
    }

    /// An IBAN as written (spaces allowed, any case), checked: see [`Iban`]. Errors:
    /// [`Error::Format`], [`Error::IbanCheck`], and for a Czech IBAN [`Error::PrefixCheck`] /
    /// [`Error::NumberCheck`].
    pub fn parse(text: &str) -> Result<Iban, Error> {
        let iban: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let shape_ok = (15..=34).contains(&iban.len())
            && iban.is_ascii()
            && iban[..2].bytes().all(|b| b.is_ascii_uppercase())
            && all_digits(&iban[2..4])
            && iban.bytes().all(|b| b.is_ascii_alphanumeric());
        if !shape_ok {
            return Err(Error::Format);
        }
        if mod97(&iban) != 1 {
            return Err(Error::IbanCheck);
        }
        if iban.starts_with("CZ") {
            if iban.len() != 24 || !all_digits(&iban[4..]) {
                return Err(Error::Format);
            }
            let czech = Iban::from_parts(&iban[8..14], &iban[14..], &iban[4..8])?;
            debug_assert_eq!(czech.0, iban);
        }
        Ok(Iban(iban))
    }

    /// The IBAN without spaces, in capitals.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The IBAN in groups of four, as people read it (`CZ65 0800 0000 …`).
    pub fn grouped(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        chars
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn czech_accounts_become_the_ibans_of_field_case_12() {
        for (account, iban) in [
            ("35-2900000005/0100", "CZ4201000000352900000005"),
            ("0000352900000005/0100", "CZ4201000000352900000005"),
            ("2900000013/0100", "CZ5601000000002900000013"),
            ("1234567821/2010", "CZ4120100000001234567821"),
            ("1234567821/6210", "CZ9262100000001234567821"),
            ("19-123/0800", "CZ2408000000190000000123"),
            ("19/5500", "CZ9755000000000000000019"),
            ("19-2000145399/0800", "CZ6508000000192000145399"),
        ] {
            assert_eq!(
                Iban::from_czech(account).map(|i| i.0),
                Ok(iban.to_owned()),
                "{account}"
            );
            assert_eq!(Iban::parse(iban).map(|i| i.0), Ok(iban.to_owned()));
        }
    }

    #[test]
    fn a_number_or_prefix_failing_the_mod_11_check_is_refused() {
        assert_eq!(
            Iban::from_czech("35-2900000006/0100"),
            Err(Error::NumberCheck)
        );
        assert_eq!(
            Iban::from_czech("36-2900000005/0100"),
            Err(Error::PrefixCheck)
        );
        assert_eq!(Iban::from_czech("0/0100"), Err(Error::NumberCheck));
        for bad in [
            "2900000013",
            "29000000x3/0100",
            "2900000013/100",
            "1-2-3/0100",
        ] {
            assert_eq!(Iban::from_czech(bad), Err(Error::Format), "{bad}");
        }
    }

    #[test]
    fn an_iban_is_checked_by_mod_97_and_a_czech_one_by_mod_11_too() {
        assert_eq!(
            Iban::parse("cz65 0800 0000 1920 0014 5399").map(|i| i.grouped()),
            Ok("CZ65 0800 0000 1920 0014 5399".to_owned())
        );
        assert_eq!(
            Iban::parse("DE89 3704 0044 0532 0130 00").map(|i| i.0),
            Ok("DE89370400440532013000".to_owned())
        );
        assert_eq!(
            Iban::parse("CZ6608000000192000145399"),
            Err(Error::IbanCheck)
        );
        assert_eq!(Iban::parse("DE88370400440532013000"), Err(Error::IbanCheck));
        // Check digits right, but the number fails mod 11 (a valid-looking IBAN of no account).
        let bban = "01000000352900000006";
        let fake = format!("CZ{:02}{}", 98 - mod97(&format!("CZ00{bban}")), bban);
        assert_eq!(Iban::parse(&fake), Err(Error::NumberCheck));
        assert_eq!(Iban::parse("CZ"), Err(Error::Format));
        assert_eq!(Iban::parse("CZ65 0800 ☠"), Err(Error::Format));
    }
}
