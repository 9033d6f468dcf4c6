//! Czech bank accounts as the generator makes them: national numbers with valid mod-11 check
//! digits (prefix and base number), the banks club members use (code, BIC, how common), IBANs
//! with their MOD 97-10 check digits, and the sandbox's account ids (unpadded base64url of
//! `"<IBAN>:<CURRENCY>"`, spec §7.3). [`valid_czech_account`] and [`valid_iban`] check what others
//! produce.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Checks a Czech account number: `prefix` (0–6 digits, may be empty) and `number` (2–10
/// digits, at least two of them non-zero) must both pass the mod-11 weighted checksum
/// (weights 10,5,8,4,2,1 and 6,3,7,9,10,5,8,4,2,1, from the left, for full-length parts).
pub fn valid_czech_account(prefix: &str, number: &str) -> bool {
    let digits_ok = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok(prefix, 6) || !digits_ok(number, 10) || number.len() < 2 {
        return false;
    }
    if number.bytes().filter(|&b| b != b'0').count() < 2 {
        return false;
    }
    mod11_sum(prefix).is_multiple_of(11) && mod11_sum(number).is_multiple_of(11)
}

/// Checks an IBAN (spaces allowed): country letters, two check digits, alphanumeric BBAN of a
/// plausible length and the ISO 7064 MOD 97-10 check. Czech IBANs must also be 24 characters of
/// digits after `CZ` (`CZkk bbbb pppppp nnnnnnnnnn`).
pub fn valid_iban(iban: &str) -> bool {
    let compact: Vec<u8> = iban.bytes().filter(|&b| b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, bban) = compact.split_at(4);
    if !head[..2].iter().all(u8::is_ascii_uppercase) || !head[2..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !bban
        .iter()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return false;
    }
    if &head[..2] == b"CZ" && (compact.len() != 24 || !bban.iter().all(u8::is_ascii_digit)) {
        return false;
    }
    let rearranged = bban.iter().chain(head.iter());
    mod97(rearranged.copied()) == Some(1)
}

/// Weights of Czech account number digits, from the rightmost digit leftwards.
const MOD11_WEIGHTS: [u32; 10] = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6];

fn mod11_sum(digits: &str) -> u32 {
    digits
        .bytes()
        .rev()
        .zip(MOD11_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum()
}

/// MOD 97 of the digit string obtained by replacing letters with 10..35; `None` on other bytes.
fn mod97(chars: impl Iterator<Item = u8>) -> Option<u32> {
    let mut rem = 0u32;
    for c in chars {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    Some(rem)
}

/// Full IBAN for `country` and `bban` with computed check digits.
pub(super) fn make_iban(country: &str, bban: &str) -> String {
    let chars = bban.bytes().chain(country.bytes()).chain(*b"00");
    let check = 98 - mod97(chars).unwrap_or(0);
    format!("{country}{check:02}{bban}")
}

/// Random digits of a Czech account part of `len` digits (`len` ≤ 10) whose last digit is
/// the mod-11 check digit; the first `zeros` digits are zero and the next one non-zero.
fn czech_part(rng: &mut ChaCha8Rng, len: usize, zeros: usize) -> u64 {
    loop {
        let mut digits = Vec::with_capacity(len);
        for i in 0..len - 1 {
            let d = match i.cmp(&zeros) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => rng.gen_range(1..10u32),
                std::cmp::Ordering::Greater => rng.gen_range(0..10u32),
            };
            digits.push(d);
        }
        let sum: u32 = digits
            .iter()
            .rev()
            .zip(MOD11_WEIGHTS[1..].iter())
            .map(|(d, w)| d * w)
            .sum();
        let check = (11 - sum % 11) % 11;
        if check == 10 {
            continue;
        }
        digits.push(check);
        if digits.iter().filter(|&&d| d != 0).count() < 2 {
            continue;
        }
        return digits.iter().fold(0u64, |acc, &d| acc * 10 + u64::from(d));
    }
}

/// A Czech bank.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bank {
    pub(super) code: &'static str,
    pub(super) bic: &'static str,
    /// Relative frequency among club members.
    pub(super) weight: u32,
}

pub(super) const BANKS: [Bank; 7] = [
    Bank {
        code: "0100",
        bic: "KOMBCZPPXXX",
        weight: 20,
    },
    Bank {
        code: "0800",
        bic: "GIBACZPXXXX",
        weight: 25,
    },
    Bank {
        code: "0300",
        bic: "CEKOCZPPXXX",
        weight: 15,
    },
    Bank {
        code: "2010",
        bic: "FIOBCZPPXXX",
        weight: 15,
    },
    Bank {
        code: "3030",
        bic: "AIRACZPPXXX",
        weight: 10,
    },
    Bank {
        code: "0600",
        bic: "AGBACZPPXXX",
        weight: 8,
    },
    Bank {
        code: "5500",
        bic: "RZBCCZPPXXX",
        weight: 7,
    },
];

/// A Czech account: prefix, base number and bank.
#[derive(Debug, Clone, Copy)]
pub(super) struct CzAccount {
    pub(super) prefix: u32,
    pub(super) number: u64,
    pub(super) bank: Bank,
}

impl CzAccount {
    pub(super) fn random(rng: &mut ChaCha8Rng, bank: Bank) -> Self {
        let prefix = if rng.gen_range(0..2u32) == 0 {
            0
        } else {
            let len = rng.gen_range(2..=6usize);
            // A prefix has at most 6 digits, which always fits u32.
            u32::try_from(czech_part(rng, len, 0)).unwrap_or(0)
        };
        let zeros = rng.gen_range(0..=3usize);
        let number = czech_part(rng, 10, zeros);
        Self {
            prefix,
            number,
            bank,
        }
    }

    pub(super) fn random_bank(rng: &mut ChaCha8Rng) -> Self {
        let total: u32 = BANKS.iter().map(|b| b.weight).sum();
        let mut pick = rng.gen_range(0..total);
        let mut bank = BANKS[0];
        for b in BANKS {
            if pick < b.weight {
                bank = b;
                break;
            }
            pick -= b.weight;
        }
        Self::random(rng, bank)
    }

    /// Zero-padded 16-digit national form used in `counterParty.accountNo`.
    pub(super) fn padded(&self) -> String {
        format!("{:06}{:010}", self.prefix, self.number)
    }

    /// `[prefix-]number` without leading zeros.
    pub(super) fn national(&self) -> String {
        if self.prefix == 0 {
            self.number.to_string()
        } else {
            format!("{}-{}", self.prefix, self.number)
        }
    }

    pub(super) fn iban(&self) -> String {
        make_iban("CZ", &format!("{}{}", self.bank.code, self.padded()))
    }
}

/// Unpadded base64url.
pub(super) fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for s in sextets.iter().take(chunk.len() + 1) {
            out.push(char::from(ALPHABET[(s & 63) as usize]));
        }
    }
    out
}
