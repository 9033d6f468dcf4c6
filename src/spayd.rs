//! Czech QR payments ("QR Platba", SPAYD 1.0): the payment string and its QR code as SVG
//! (the member-fees notes, §4, and field cases 10 and 11).
//!
//! The string is `SPD*1.0*ACC:<IBAN>*AM:<amount>*CC:CZK*X-VS:<vs>*MSG:<text>`:
//! - `AM` is the amount with a dot and two decimals, no grouping, at most 10 characters
//!   (`1500.00`, `0.01`, `9999999.99`), never the pages' `1 500,00 Kč`; a request for zero or
//!   less is refused (there is nothing to pay, so there is no QR code).
//! - `X-VS` is the variable symbol exactly as the club wrote it, leading zeros kept.
//! - `MSG` is plain text of at most 60 characters. Kasa's policy (docs/decisions.md): the text
//!   is transliterated to ASCII capitals (`Příspěvek` → `PRISPEVEK`; diacritics are a suspected
//!   cause of codes refused by KB's internet banking), cut to 60 characters, and only then are
//!   `*` (the separator), `%` and `+` percent-encoded (`%2A`, `%25`, `%2B`), so a cut never
//!   falls inside a `%XX`.

use crate::iban::Iban;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The most characters of `MSG` (before percent-encoding).
pub const MESSAGE_MAX: usize = 60;
/// The largest amount `AM` can carry (`9999999.99`, 10 characters), in minor units.
pub const AMOUNT_MAX_MINOR: i64 = 999_999_999;

/// What a QR payment asks for: to the `account`, `amount_minor` hellers (CZK), with the
/// variable symbol and a message for the payee.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub account: &'a Iban,
    pub amount_minor: i64,
    /// 1-10 digits as entered (leading zeros kept); `None` sends none.
    pub variable_symbol: Option<&'a str>,
    /// Any text; transliterated, cut and escaped as the module docs say.
    pub message: &'a str,
}

/// Why no payment string can be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Zero or negative: a payment request is never for nothing or a credit.
    #[error("the amount is not positive")]
    NotPositive,
    /// More than `9999999.99`.
    #[error("the amount is too large for a QR payment")]
    TooLarge,
    /// The variable symbol is not 1-10 digits.
    #[error("the variable symbol is not 1-10 digits")]
    VariableSymbol,
    /// The text does not fit into a QR code.
    #[error("the text does not fit into a QR code")]
    TooLong,
}

/// `AM`: minor units as `1500.00`. Errors: [`Error::NotPositive`], [`Error::TooLarge`].
pub fn amount(minor: i64) -> Result<String, Error> {
    if minor <= 0 {
        return Err(Error::NotPositive);
    }
    if minor > AMOUNT_MAX_MINOR {
        return Err(Error::TooLarge);
    }
    Ok(format!("{}.{:02}", minor / 100, minor % 100))
}

/// One character in ASCII: letters with diacritics lose them (Czech, Slovak, German and the
/// rest of Latin-1 and Latin Extended-A that clubs meet), dashes and quotes become their ASCII
/// forms, anything else becomes a space.
fn ascii(c: char) -> &'static str {
    const TABLE: &[(&str, &str)] = &[
        ("áàâäãåāăą", "A"),
        ("ÁÀÂÄÃÅĀĂĄ", "A"),
        ("çćĉċč", "C"),
        ("ÇĆĈĊČ", "C"),
        ("ďđ", "D"),
        ("ĎĐ", "D"),
        ("éèêëēĕėęě", "E"),
        ("ÉÈÊËĒĔĖĘĚ", "E"),
        ("ĝğġģ", "G"),
        ("ĜĞĠĢ", "G"),
        ("ĥħ", "H"),
        ("ĤĦ", "H"),
        ("íìîïĩīĭįı", "I"),
        ("ÍÌÎÏĨĪĬĮİ", "I"),
        ("ĵ", "J"),
        ("Ĵ", "J"),
        ("ķ", "K"),
        ("Ķ", "K"),
        ("ĺļľŀł", "L"),
        ("ĹĻĽĿŁ", "L"),
        ("ñńņňŉ", "N"),
        ("ÑŃŅŇ", "N"),
        ("óòôöõøōŏő", "O"),
        ("ÓÒÔÖÕØŌŎŐ", "O"),
        ("ŕŗř", "R"),
        ("ŔŖŘ", "R"),
        ("śŝşš", "S"),
        ("ŚŜŞŠ", "S"),
        ("ţťŧ", "T"),
        ("ŢŤŦ", "T"),
        ("úùûüũūŭůűų", "U"),
        ("ÚÙÛÜŨŪŬŮŰŲ", "U"),
        ("ŵ", "W"),
        ("Ŵ", "W"),
        ("ýÿŷ", "Y"),
        ("ÝŸŶ", "Y"),
        ("źżž", "Z"),
        ("ŹŻŽ", "Z"),
        ("ß", "SS"),
        ("æ", "AE"),
        ("Æ", "AE"),
        ("œ", "OE"),
        ("Œ", "OE"),
        ("‐‑‒–—―−", "-"),
        ("‘’‚‛′", "'"),
        ("“”„‟″«»", "\""),
    ];
    TABLE
        .iter()
        .find(|(from, _)| from.contains(c))
        .map(|(_, to)| *to)
        .unwrap_or(" ")
}

/// `MSG`: the text transliterated to ASCII capitals (control characters and unknown symbols
/// become spaces, runs of spaces one), trimmed, cut to [`MESSAGE_MAX`] characters, then `*`,
/// `%` and `+` percent-encoded.
pub fn message(text: &str) -> String {
    let mut plain = String::new();
    for c in text.chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            plain.push(c.to_ascii_uppercase());
        } else if c.is_ascii() {
            plain.push(' ');
        } else {
            plain.push_str(ascii(c));
        }
    }
    let plain = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    for c in plain.chars().take(MESSAGE_MAX) {
        match c {
            '*' => out.push_str("%2A"),
            '%' => out.push_str("%25"),
            '+' => out.push_str("%2B"),
            c => out.push(c),
        }
    }
    out
}

impl Request<'_> {
    /// The SPAYD string. Errors: [`Error::NotPositive`], [`Error::TooLarge`],
    /// [`Error::VariableSymbol`].
    pub fn to_spayd(&self) -> Result<String, Error> {
        let mut out = format!(
            "SPD*1.0*ACC:{}*AM:{}*CC:CZK",
            self.account,
            amount(self.amount_minor)?
        );
        if let Some(vs) = self.variable_symbol {
            if vs.is_empty() || vs.len() > 10 || !vs.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::VariableSymbol);
            }
            out.push_str("*X-VS:");
            out.push_str(vs);
        }
        let msg = message(self.message);
        if !msg.is_empty() {
            out.push_str("*MSG:");
            out.push_str(&msg);
        }
        Ok(out)
    }
}

/// Pixels per QR module in [`svg`]'s drawing (the SVG scales; this sets its natural size).
pub const MODULE_PX: u32 = 6;

/// `text` as a QR code (error correction M, quiet zone of 4 modules) in an `<svg>` element
/// without the XML declaration, ready to put into a page: black `M x y h w v h H x V y` rects
/// on a white background, [`MODULE_PX`] units per module. Errors: [`Error::TooLong`].
pub fn svg(text: &str) -> Result<String, Error> {
    let code = QrCode::with_error_correction_level(text, EcLevel::M).map_err(|_| Error::TooLong)?;
    let image = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(MODULE_PX, MODULE_PX)
        .build();
    Ok(match image.find("<svg") {
        Some(start) => image[start..].to_owned(),
        None => image,
    })
}

/// Pixels per QR module in [`png`]'s image (45 modules of a typical payment code → 360 px).
pub const PNG_MODULE_PX: usize = 8;

/// `text` as a QR code (error correction M, quiet zone of 4 modules) in a greyscale PNG, for
/// e-mails: most mail clients show a PNG but not an SVG. [`PNG_MODULE_PX`] pixels per module.
/// Errors: [`Error::TooLong`].
pub fn png(text: &str) -> Result<Vec<u8>, Error> {
    const QUIET: usize = 4;
    let code = QrCode::with_error_correction_level(text, EcLevel::M).map_err(|_| Error::TooLong)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * PNG_MODULE_PX;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (x0, y0) = (
            (i % modules + QUIET) * PNG_MODULE_PX,
            (i / modules + QUIET) * PNG_MODULE_PX,
        );
        for y in y0..y0 + PNG_MODULE_PX {
            pixels[y * side + x0..y * side + x0 + PNG_MODULE_PX].fill(0);
        }
    }
    let side = u32::try_from(side).map_err(|_| Error::TooLong)?;
    let mut out = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut out, side, side);
    encoder.set_color(::png::ColorType::Grayscale);
    encoder.set_depth(::png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| {
            writer.write_image_data(&pixels)?;
            writer.finish()
        })
        .map_err(|_| Error::TooLong)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Iban {
        Iban::from_czech("1234567813/0100").expect("account")
    }

    fn spayd(amount_minor: i64, vs: Option<&str>, message: &str) -> Result<String, Error> {
        Request {
            account: &account(),
            amount_minor,
            variable_symbol: vs,
            message,
        }
        .to_spayd()
    }

    #[test]
    fn amounts_have_a_dot_and_two_decimals_and_nothing_else() {
        for (minor, am) in [
            (150_000, "1500.00"),
            (150_050, "1500.50"),
            (1, "0.01"),
            (999_999_999, "9999999.99"),
        ] {
            assert_eq!(amount(minor).as_deref(), Ok(am));
            let text = spayd(minor, Some("2026001"), "").expect("spayd");
            assert_eq!(
                text,
                format!("SPD*1.0*ACC:CZ8901000000001234567813*AM:{am}*CC:CZK*X-VS:2026001")
            );
            for forbidden in [",", " ", "E"] {
                assert!(
                    !text["SPD*1.0*ACC:".len() + 24..].contains(forbidden),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn zero_negative_and_too_large_amounts_are_refused() {
        assert_eq!(spayd(0, None, "x"), Err(Error::NotPositive));
        assert_eq!(spayd(-50_000, None, "x"), Err(Error::NotPositive));
        assert_eq!(spayd(1_000_000_000, None, "x"), Err(Error::TooLarge));
    }

    #[test]
    fn the_variable_symbol_keeps_its_leading_zeros_and_must_be_digits() {
        assert_eq!(
            spayd(50_000, Some("0024"), "").as_deref(),
            Ok("SPD*1.0*ACC:CZ8901000000001234567813*AM:500.00*CC:CZK*X-VS:0024")
        );
        assert_eq!(
            spayd(50_000, Some("0000000024"), "").map(|s| s.ends_with("*X-VS:0000000024")),
            Ok(true)
        );
        for bad in ["", "12345678901", "12a4", "-1"] {
            assert_eq!(
                spayd(50_000, Some(bad), ""),
                Err(Error::VariableSymbol),
                "{bad}"
            );
        }
    }

    #[test]
    fn messages_are_ascii_capitals_with_star_percent_and_plus_encoded() {
        // Field case 10, transliterated policy.
        assert_eq!(
            message("Příspěvek *2026* Nováková + 50% sleva"),
            "PRISPEVEK %2A2026%2A NOVAKOVA %2B 50%25 SLEVA"
        );
        assert_eq!(
            message("TJ Sokol Horní Počernice*"),
            "TJ SOKOL HORNI POCERNICE%2A"
        );
        assert_eq!(
            message("Žluťoučký kůň úpěl ďábelské ódy"),
            "ZLUTOUCKY KUN UPEL DABELSKE ODY"
        );
        assert_eq!(
            message("abc  123♥☠**123\tabc-%20"),
            "ABC 123 %2A%2A123 ABC-%2520"
        );
        // The full example of field case 10.
        assert_eq!(
            spayd(150_000, Some("2026001"), "Clenske 2026 *Novakova*").as_deref(),
            Ok(
                "SPD*1.0*ACC:CZ8901000000001234567813*AM:1500.00*CC:CZK*X-VS:2026001\
                 *MSG:CLENSKE 2026 %2ANOVAKOVA%2A"
            )
        );
    }

    #[test]
    fn a_long_message_is_cut_to_60_characters_before_escaping() {
        let long = "Členský příspěvek na rok 2026 – Žofie Nováková, oddíl atletiky, přípravka";
        let msg = message(long);
        assert_eq!(
            msg,
            "CLENSKY PRISPEVEK NA ROK 2026 - ZOFIE NOVAKOVA, ODDIL ATLETI"
        );
        assert_eq!(msg.chars().count(), MESSAGE_MAX);
        // 59 letters and a star: the star is encoded whole after the cut, never cut itself.
        let starred = format!("{}**", "A".repeat(59));
        assert_eq!(message(&starred), format!("{}%2A", "A".repeat(59)));
        let percent = format!("{}%%", "B".repeat(58));
        assert_eq!(message(&percent), format!("{}%25%25", "B".repeat(58)));
        // Nothing raw remains that would split the string or start an escape.
        let text = spayd(100, None, &"*%".repeat(40)).expect("spayd");
        let msg = text.split("*MSG:").nth(1).expect("msg");
        assert!(!msg.contains('*'));
        assert_eq!(msg.matches('%').count(), MESSAGE_MAX);
    }

    #[test]
    fn the_svg_is_an_element_without_the_xml_declaration() {
        let image = svg("SPD*1.0*AM:1.00").expect("svg");
        assert!(
            image.starts_with("<svg") && image.ends_with("</svg>"),
            "{image}"
        );
        assert_eq!(svg(&"9".repeat(8000)), Err(Error::TooLong));
    }

    #[test]
    fn the_png_decodes_back_to_the_payment_string() {
        let text = spayd(150_000, Some("0024"), "Jana Nováková").expect("spayd");
        let image = png(&text).expect("png");
        let mut reader = ::png::Decoder::new(std::io::Cursor::new(image))
            .read_info()
            .expect("a PNG");
        let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut pixels).expect("frame");
        assert_eq!(info.color_type, ::png::ColorType::Grayscale);
        let (w, h) = (info.width as usize, info.height as usize);
        let mut prepared =
            rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().expect("decodes");
        assert_eq!(content, text);
        assert_eq!(png(&"9".repeat(8000)), Err(Error::TooLong));
    }
}
