//! Bank accounts as people read them: the one path every page takes to show a counter-account
//! or an IBAN (issue 10).
//!
//! A Czech account is written as Czech banks print it, `prefix-number/bank` with the prefix and
//! the leading zeros of both parts dropped (`19-2000145399/0800`, `2900000013/0100`), whatever
//! form KB stored it in (KB's 16 digits `0000192000145399` with the bank code beside it, a Czech
//! IBAN, or `prefix-number/bank` already), and the bank's name comes from the Czech National
//! Bank's list of bank codes bundled in `resources/cnb-bank-codes.csv` (see [`bank_name`]). A foreign
//! account is its IBAN in groups of four (`DE89 3704 0044 0532 0130 00`). Anything else is
//! shown as it was stored.

use crate::iban::split_prefix;

/// The ČNB list as bundled (`code;name;BIC`, a header line first: the columns of ČNB's own
/// `kody_bank_CR.csv`, in UTF-8). docs/decisions.md says how an operator updates it.
const BANK_CODES: &str = include_str!("../resources/cnb-bank-codes.csv");

/// The name of the Czech bank with the 4-digit `code` (`0800` → `Česká spořitelna, a.s.`), from
/// the bundled ČNB list; `None` for a code the list does not know.
pub fn bank_name(code: &str) -> Option<&'static str> {
    BANK_CODES
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(';');
            Some((fields.next()?, fields.next()?))
        })
        .find(|(c, _)| *c == code)
        .map(|(_, name)| name)
}

/// An account as shown: the number in its readable form and, for a Czech account of a bank the
/// ČNB list knows, the bank's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readable {
    /// `19-2000145399/0800`, `DE89 3704 0044 0532 0130 00`, or the stored text.
    pub number: String,
    /// The bank's name (Czech accounts only).
    pub bank: Option<&'static str>,
}

/// Digits without leading zeros (`"0"` for all zeros).
fn unpadded(digits: &str) -> &str {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() && !digits.is_empty() {
        "0"
    } else {
        trimmed
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `prefix-number/bank` the way Czech banks print it, from a prefix (0–6 digits), a number
/// (1–10 digits) and a bank code (4 digits), each maybe zero-padded; `None` for other shapes.
fn czech(prefix: &str, number: &str, bank: &str) -> Option<Readable> {
    let shape_ok = prefix.len() <= 6
        && (prefix.is_empty() || all_digits(prefix))
        && number.len() <= 10
        && all_digits(number)
        && bank.len() == 4
        && all_digits(bank);
    if !shape_ok {
        return None;
    }
    let prefix = if prefix.is_empty() {
        ""
    } else {
        unpadded(prefix)
    };
    let number = unpadded(number);
    let text = match prefix {
        "" | "0" => format!("{number}/{bank}"),
        p => format!("{p}-{number}/{bank}"),
    };
    Some(Readable {
        number: text,
        bank: bank_name(bank),
    })
}

/// An IBAN's capitals and digits in groups of four; `None` unless it looks like an IBAN (two
/// letters, two digits, letters and digits, 15–34 characters; not checked by mod 97: a
/// counter-account is shown as the bank reported it).
fn grouped_iban(text: &str) -> Option<(String, String)> {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let looks_like = (15..=34).contains(&compact.len())
        && compact.is_ascii()
        && compact[..2].bytes().all(|b| b.is_ascii_uppercase())
        && compact[2..4].bytes().all(|b| b.is_ascii_digit())
        && compact.bytes().all(|b| b.is_ascii_alphanumeric());
    if !looks_like {
        return None;
    }
    let groups = compact
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Some((compact, groups))
}

/// An IBAN as shown: a Czech one as `prefix-number/bank` with its bank (how Czech payers know
/// their accounts), any other in groups of four. `None` when `text` is no IBAN.
pub fn iban(text: &str) -> Option<Readable> {
    let (compact, groups) = grouped_iban(text)?;
    if compact.starts_with("CZ") && compact.len() == 24 && all_digits(&compact[4..]) {
        return czech(&compact[8..14], &compact[14..], &compact[4..8]);
    }
    Some(Readable {
        number: groups,
        bank: None,
    })
}

/// An IBAN in groups of four (`CZ65 0800 0000 1920 0014 5399`), for the places that print the
/// IBAN itself (a club's own account, a payment request); other text as it is.
pub fn iban_grouped(text: &str) -> String {
    grouped_iban(text).map_or_else(|| text.to_owned(), |(_, groups)| groups)
}

/// A counter-account from its stored parts (`transactions.counterparty_account`,
/// `counterparty_bank_code`, `counterparty_iban`): the Czech form when the account number and
/// bank code read as one (or the IBAN is Czech), else the IBAN in groups, else the account as
/// stored; `None` when nothing was stored.
pub fn counter_account(
    account: Option<&str>,
    bank_code: Option<&str>,
    iban_text: Option<&str>,
) -> Option<Readable> {
    let account = account.map(str::trim).filter(|a| !a.is_empty());
    let bank_code = bank_code.map(str::trim).filter(|b| !b.is_empty());
    if let Some(account) = account {
        let (number, bank) = match account.split_once('/') {
            Some((number, bank)) => (number.trim(), Some(bank.trim())),
            None => (account, bank_code),
        };
        if let Some(bank) = bank {
            let (prefix, number) = split_prefix(number);
            if let Some(readable) = czech(prefix, number, bank) {
                return Some(readable);
            }
        }
    }
    if let Some(readable) = iban_text.and_then(iban) {
        return Some(readable);
    }
    account.map(|a| Readable {
        number: match bank_code {
            Some(bank) => format!("{a}/{bank}"),
            None => a.to_owned(),
        },
        bank: None,
    })
}

/// Any stored account text as shown: an IBAN, `prefix-number/bank` (padded or not), or other
/// text as it is ([`counter_account`] of the text alone).
pub fn readable(text: &str) -> Readable {
    counter_account(Some(text), None, Some(text)).unwrap_or_else(|| Readable {
        number: text.to_owned(),
        bank: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn czech_accounts_drop_the_prefix_and_leading_zeros_as_banks_print_them() {
        for (account, bank, shown) in [
            ("0000192000145399", "0800", "19-2000145399/0800"),
            ("19-2000145399", "0800", "19-2000145399/0800"),
            ("000019-0002000145", "0800", "19-2000145/0800"),
            ("0000002900000013", "0100", "2900000013/0100"),
            ("0000000000000019", "5500", "19/5500"),
            ("2900000013", "0100", "2900000013/0100"),
        ] {
            let r = counter_account(Some(account), Some(bank), None).expect("shown");
            assert_eq!(r.number, shown, "{account}");
        }
        let r = counter_account(Some("19-2000145399/0800"), None, None).expect("shown");
        assert_eq!(r.number, "19-2000145399/0800");
        assert_eq!(r.bank, Some("Česká spořitelna, a.s."));
    }

    #[test]
    fn a_czech_iban_reads_as_the_czech_account_and_a_foreign_one_in_groups_of_four() {
        let cz = counter_account(None, None, Some("CZ6508000000192000145399")).expect("cz");
        assert_eq!(
            (cz.number.as_str(), cz.bank),
            ("19-2000145399/0800", Some("Česká spořitelna, a.s."))
        );
        let de = counter_account(None, None, Some("DE89370400440532013000")).expect("de");
        assert_eq!(
            (de.number.as_str(), de.bank),
            ("DE89 3704 0044 0532 0130 00", None)
        );
        assert_eq!(
            iban_grouped("CZ6508000000192000145399"),
            "CZ65 0800 0000 1920 0014 5399"
        );
        assert_eq!(
            readable("cz65 0800 0000 1920 0014 5399").number,
            "19-2000145399/0800"
        );
    }

    #[test]
    fn the_bundled_list_names_the_well_known_banks_and_not_unknown_codes() {
        for (code, name) in [
            ("0100", "Komerční banka, a.s."),
            ("0300", "Československá obchodní banka, a. s."),
            ("2010", "Fio banka, a.s."),
            ("3030", "Air Bank a.s."),
            ("6210", "mBank S.A., organizační složka"),
            ("6700", "Všeobecná úverová banka a.s., pobočka Praha"),
        ] {
            assert_eq!(bank_name(code), Some(name), "{code}");
        }
        assert_eq!(bank_name("9999"), None);
        assert_eq!(
            bank_name("Kód platebního styku"),
            None,
            "the header is no bank"
        );
        let r = counter_account(Some("123"), Some("9999"), None).expect("shown");
        assert_eq!((r.number.as_str(), r.bank), ("123/9999", None));
    }

    #[test]
    fn what_is_no_account_number_is_shown_as_stored() {
        assert_eq!(counter_account(None, None, None), None);
        let r = counter_account(Some("hotovost"), None, None).expect("shown");
        assert_eq!(r.number, "hotovost");
        let r = counter_account(Some("12/34/56"), None, Some("not an iban")).expect("shown");
        assert_eq!(r.number, "12/34/56");
    }
}
