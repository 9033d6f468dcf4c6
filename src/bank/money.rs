//! Exact money amounts. KB sends amounts as JSON numbers (`{"value": 26.57, "currency": "CZK"}`,
//! documented as `double`). They are never converted through `f64`: the number token's text is
//! captured with serde_json's `RawValue` (feature `raw_value`, additive, it changes nothing else in
//! the crate) and parsed digit by digit into `i64` minor units.
//!
//! Minor units follow ISO 4217: 2 decimals for CZK, EUR, USD and most currencies (HUF too, as
//! ISO 4217 says); 0 for e.g. JPY and KRW; 3 for BHD, IQD, JOD, KWD, LYD, OMR, TND (see
//! [`minor_unit_exponent`]). An amount with more significant decimals than its currency allows
//! (e.g. `10.005` CZK) is an error, never silently rounded.
//!
//! Deserialize from JSON text (`from_slice`, `from_str`, `from_reader`), as the client does: a
//! `serde_json::Value` has already stored the number as `f64`.

use std::fmt;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Why a decimal text could not be turned into minor units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a decimal number (`abc`, `1.`, `--1`, empty, ...).
    #[error("not a decimal number")]
    Malformed,
    /// More significant decimals than the currency has.
    #[error("more than {0} decimal places")]
    TooPrecise(u32),
    /// Does not fit into `i64` minor units.
    #[error("amount out of range")]
    OutOfRange,
}

/// Number of decimal places of a currency's minor unit (ISO 4217). Unknown codes default to 2.
pub fn minor_unit_exponent(currency: &str) -> u32 {
    const ZERO: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    let code = currency.trim().to_ascii_uppercase();
    if ZERO.contains(&code.as_str()) {
        0
    } else if THREE.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// Parses a JSON-number-like decimal text (`-12.5`, `1e2`, `0.10`, `1.5E-1`) into an integer
/// count of `10^-exponent` units, exactly. Fails when precision would be lost.
pub fn parse_minor_units(text: &str, exponent: u32) -> Result<i64, MoneyError> {
    decimal_to_units(text, exponent, false).map(|(units, _)| units)
}

/// Like [`parse_minor_units`], but rounds (half away from zero) instead of failing when the text
/// has more decimals than the currency: for informational amounts only (KB's `instructed`
/// amount arrives as float noise such as `27.279999999999998`, which is 27.28 EUR). Returns the
/// units and whether rounding changed anything.
pub fn round_minor_units(text: &str, exponent: u32) -> Result<(i64, bool), MoneyError> {
    decimal_to_units(text, exponent, true)
}

fn decimal_to_units(text: &str, exponent: u32, round: bool) -> Result<(i64, bool), MoneyError> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exp10) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let exp_text = &unsigned[at + 1..];
            let digits = exp_text
                .strip_prefix('+')
                .or_else(|| exp_text.strip_prefix('-'))
                .unwrap_or(exp_text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MoneyError::Malformed);
            }
            // Huge exponents only ever make sense for a zero mantissa; clamp to stay in range.
            let magnitude: i64 = digits.parse::<i64>().unwrap_or(i64::MAX).min(100_000);
            let exp = if exp_text.starts_with('-') {
                -magnitude
            } else {
                magnitude
            };
            (&unsigned[..at], exp)
        }
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((int_part, frac_part)) => {
            if frac_part.is_empty() {
                return Err(MoneyError::Malformed);
            }
            (int_part, frac_part)
        }
        None => (mantissa, ""),
    };
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(MoneyError::Malformed);
    }

    // value = digits * 10^(exp10 - frac_len); in minor units multiply by 10^exponent.
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok((0, false));
    }
    let frac_len = i64::try_from(frac_part.len()).map_err(|_| MoneyError::OutOfRange)?;
    let mut scale = exp10 - frac_len + i64::from(exponent);
    let mut significant = digits;
    let mut round_up = false;
    let mut rounded = false;
    while scale < 0 {
        match significant.strip_suffix('0') {
            Some(rest) => {
                significant = rest;
                scale += 1;
            }
            None if round => {
                // Cut every digit below the minor unit; the first cut digit decides.
                let cut = usize::try_from(-scale).map_err(|_| MoneyError::OutOfRange)?;
                let keep = significant.len().saturating_sub(cut);
                round_up = significant.as_bytes().get(keep).is_some_and(|d| *d >= b'5')
                    && cut <= significant.len();
                significant = &significant[..keep];
                scale = 0;
                rounded = true;
            }
            None => return Err(MoneyError::TooPrecise(exponent)),
        }
    }
    if significant.len() > 19 || scale > 19 {
        return Err(MoneyError::OutOfRange);
    }
    let base: i128 = if significant.is_empty() {
        0
    } else {
        significant.parse().map_err(|_| MoneyError::OutOfRange)?
    };
    let base = base + i128::from(round_up);
    let factor = 10_i128.pow(u32::try_from(scale).map_err(|_| MoneyError::OutOfRange)?);
    let magnitude = base.checked_mul(factor).ok_or(MoneyError::OutOfRange)?;
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed)
        .map(|units| (units, rounded))
        .map_err(|_| MoneyError::OutOfRange)
}

/// Formats minor units as a plain decimal (`-0.01`, `26.57`, `100`).
pub fn format_minor_units(minor_units: i64, exponent: u32) -> String {
    if exponent == 0 {
        return minor_units.to_string();
    }
    let sign = if minor_units < 0 { "-" } else { "" };
    let abs = minor_units.unsigned_abs();
    let divisor = 10_u64.pow(exponent);
    format!(
        "{sign}{}.{:0width$}",
        abs / divisor,
        abs % divisor,
        width = exponent as usize
    )
}

/// An amount with its ISO 4217 currency, as KB's `CurrencyAmount` (`{value, currency}`).
/// The value is exact, in minor units (hundredths for CZK/EUR). Its sign is whatever KB sent;
/// KB's amounts are absolute and the direction is in `creditDebitIndicator`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Money {
    /// Amount in minor units of `currency` (e.g. 2657 for 26.57 CZK).
    pub minor_units: i64,
    /// ISO 4217 code as sent by KB (e.g. `CZK`).
    pub currency: String,
}

impl Money {
    /// Decimal places of this amount's currency.
    pub fn exponent(&self) -> u32 {
        minor_unit_exponent(&self.currency)
    }

    /// Builds an amount from a decimal text and a currency, exactly.
    pub fn parse(value: &str, currency: &str) -> Result<Self, MoneyError> {
        let minor_units = parse_minor_units(value, minor_unit_exponent(currency))?;
        Ok(Self {
            minor_units,
            currency: currency.to_owned(),
        })
    }

    /// The amount as a plain decimal text without the currency (`26.57`).
    pub fn decimal_string(&self) -> String {
        format_minor_units(self.minor_units, self.exponent())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal_string(), self.currency)
    }
}

#[derive(Deserialize)]
struct MoneyWire {
    value: Box<RawValue>,
    currency: String,
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = MoneyWire::deserialize(deserializer)?;
        let raw = wire.value.get().trim();
        // A quoted decimal ("26.57") is tolerated; anything else must be a JSON number token.
        let text = raw
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(raw);
        Money::parse(text, &wire.currency)
            .map_err(|e| D::Error::custom(format!("amount in {}: {e}", wire.currency)))
    }
}

/// An informational amount (KB's `instructed`): never used for accounting, so an odd value
/// does not fail its transaction. Exact when KB sends it exactly; otherwise rounded half away
/// from zero to the currency's minor unit (`rounded`), or dropped when it cannot be read at all
/// (`unreadable`, `money` is `None`). Serializes as the [`Money`] it holds (or `null`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InformationalMoney {
    pub money: Option<Money>,
    /// KB sent more decimals than the currency has (float noise such as `27.279999999999998`).
    pub rounded: bool,
    /// KB sent something that is not an amount; it was dropped.
    pub unreadable: bool,
}

impl<'de> Deserialize<'de> for InformationalMoney {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let unreadable = InformationalMoney {
            money: None,
            rounded: false,
            unreadable: true,
        };
        let Ok(wire) = serde_json::from_str::<MoneyWire>(raw.get()) else {
            return Ok(unreadable);
        };
        let text = wire.value.get().trim();
        let text = text
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(text);
        Ok(
            match round_minor_units(text, minor_unit_exponent(&wire.currency)) {
                Ok((minor_units, rounded)) => InformationalMoney {
                    money: Some(Money {
                        minor_units,
                        currency: wire.currency,
                    }),
                    rounded,
                    unreadable: false,
                },
                Err(_) => unreadable,
            },
        )
    }
}

impl Serialize for InformationalMoney {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.money.serialize(serializer)
    }
}

#[derive(Serialize)]
struct MoneyWireOut<'a> {
    value: Box<RawValue>,
    currency: &'a str,
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = RawValue::from_string(self.decimal_string()).map_err(S::Error::custom)?;
        MoneyWireOut {
            value,
            currency: &self.currency,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn informational_amounts_round_to_the_minor_unit_with_a_flag() {
        assert_eq!(round_minor_units("27.279999999999998", 2), Ok((2728, true)));
        assert_eq!(round_minor_units("27.28", 2), Ok((2728, false)));
        assert_eq!(round_minor_units("0.005", 2), Ok((1, true)));
        assert_eq!(round_minor_units("0.00499", 2), Ok((0, true)));
        assert_eq!(round_minor_units("0.00001", 2), Ok((0, true)));
        assert_eq!(round_minor_units("-1.995", 2), Ok((-200, true)));
        assert_eq!(
            round_minor_units("2.7279999999999998e1", 2),
            Ok((2728, true))
        );
        assert_eq!(round_minor_units("1234.5678", 0), Ok((1235, true)));
        assert_eq!(round_minor_units("abc", 2), Err(MoneyError::Malformed));
        // Accounting amounts never round.
        assert_eq!(
            parse_minor_units("27.279999999999998", 2),
            Err(MoneyError::TooPrecise(2))
        );
    }

    fn czk(text: &str) -> Result<i64, MoneyError> {
        parse_minor_units(text, 2)
    }

    #[test]
    fn tricky_decimal_texts_parse_exactly() {
        assert_eq!(czk("0.1"), Ok(10));
        assert_eq!(czk("1e2"), Ok(10_000));
        assert_eq!(czk("1E+2"), Ok(10_000));
        assert_eq!(czk("123.45"), Ok(12_345));
        assert_eq!(czk("-0.01"), Ok(-1));
        assert_eq!(czk("26.57"), Ok(2657));
        assert_eq!(czk("4000.0"), Ok(400_000));
        assert_eq!(czk("500"), Ok(50_000));
        assert_eq!(czk("10.0000"), Ok(1000));
        assert_eq!(czk("1.5e-1"), Ok(15));
        assert_eq!(czk("1e-2"), Ok(1));
        assert_eq!(czk("0"), Ok(0));
        assert_eq!(czk("-0"), Ok(0));
        assert_eq!(czk("0e-99999"), Ok(0));
        assert_eq!(
            czk("0.30000000000000004000"),
            Err(MoneyError::TooPrecise(2))
        );
        assert_eq!(czk("92233720368547758.07"), Ok(i64::MAX));
        assert_eq!(czk("-92233720368547758.08"), Ok(i64::MIN));
    }

    #[test]
    fn precision_loss_and_garbage_are_errors() {
        assert_eq!(czk("10.005"), Err(MoneyError::TooPrecise(2)));
        assert_eq!(czk("10.0050"), Err(MoneyError::TooPrecise(2)));
        assert_eq!(czk("1e-3"), Err(MoneyError::TooPrecise(2)));
        assert_eq!(czk("92233720368547758.08"), Err(MoneyError::OutOfRange));
        assert_eq!(czk("1e30"), Err(MoneyError::OutOfRange));
        assert_eq!(czk("1e99999999999999999999"), Err(MoneyError::OutOfRange));
        for bad in [
            "", "-", "1.", ".5", "abc", "1e", "1e+", "--1", "1.2.3", "0x10", " 1",
        ] {
            assert_eq!(czk(bad), Err(MoneyError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn currency_exponents() {
        assert_eq!(minor_unit_exponent("CZK"), 2);
        assert_eq!(minor_unit_exponent("eur"), 2);
        assert_eq!(minor_unit_exponent("JPY"), 0);
        assert_eq!(minor_unit_exponent("BHD"), 3);
        assert_eq!(Money::parse("100.5", "JPY"), Err(MoneyError::TooPrecise(0)));
        assert_eq!(
            Money::parse("1.234", "KWD").map(|m| m.minor_units),
            Ok(1234)
        );
    }

    #[test]
    fn deserializes_from_the_number_token_not_from_f64() -> Result<(), serde_json::Error> {
        // 0.1 + 0.2 style values and long decimals would drift through f64.
        let m: Money = serde_json::from_str(r#"{"value": 26.57, "currency": "CZK"}"#)?;
        assert_eq!(m.minor_units, 2657);
        let m: Money = serde_json::from_str(r#"{"currency": "EUR", "value": 1e2}"#)?;
        assert_eq!(m.minor_units, 10_000);
        let m: Money =
            serde_json::from_str(r#"{"value": 12345678901234567.89, "currency": "CZK"}"#)?;
        assert_eq!(m.minor_units, 1_234_567_890_123_456_789);
        let m: Money = serde_json::from_str(r#"{"value": "681.81", "currency": "CZK"}"#)?;
        assert_eq!(m.minor_units, 68_181);
        assert!(serde_json::from_str::<Money>(r#"{"value": 10.005, "currency": "CZK"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"value": null, "currency": "CZK"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"value": 1}"#).is_err());
        Ok(())
    }

    #[test]
    fn formats_and_round_trips() -> Result<(), serde_json::Error> {
        assert_eq!(format_minor_units(-1, 2), "-0.01");
        assert_eq!(format_minor_units(2657, 2), "26.57");
        assert_eq!(format_minor_units(100, 0), "100");
        assert_eq!(format_minor_units(i64::MIN, 2), "-92233720368547758.08");
        let m = Money {
            minor_units: -1,
            currency: "CZK".into(),
        };
        assert_eq!(m.to_string(), "-0.01 CZK");
        let json = serde_json::to_string(&m)?;
        assert_eq!(json, r#"{"value":-0.01,"currency":"CZK"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json)?, m);
        Ok(())
    }
}
