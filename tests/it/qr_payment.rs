//! QR payments read back as a phone reads them: the SVG Kasa serves is drawn into a bitmap and
//! decoded with `rqrr`, and what it says must be the payment string, byte for byte.

use kasa::iban::Iban;
use kasa::spayd::{self, Request};

/// The dark modules of an SVG made by `kasa::spayd::svg` (`M{left} {top}h{w}v{h}H{left}V{top}`
/// rects on a white background), drawn into a greyscale bitmap and decoded with `rqrr`.
pub(crate) fn decode_svg(svg: &str) -> String {
    let number_after = |key: &str| -> usize {
        let at = svg.find(key).expect(key) + key.len();
        svg[at..]
            .split('"')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number")
    };
    let (w, h) = (number_after("width=\""), number_after("height=\""));
    let mut dark = vec![false; w * h];
    let path = svg.split(" d=\"").nth(1).expect("path");
    let path = path.split('"').next().expect("path end");
    for rect in path.split('M').filter(|r| !r.is_empty()) {
        let nums: Vec<usize> = rect
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().expect("digits"))
            .collect();
        let (left, top, width, height) = (nums[0], nums[1], nums[2], nums[3]);
        for y in top..top + height {
            for x in left..left + width {
                dark[y * w + x] = true;
            }
        }
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(
            w,
            h,
            |x, y| {
                if dark[y * w + x] { 0 } else { 255 }
            },
        );
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().expect("decodes").1
}

#[test]
fn every_generated_qr_code_decodes_back_to_its_string() {
    let account = Iban::from_czech("1234567813/0100").expect("account");
    let cases = [
        (
            150_000,
            Some("2026001"),
            "Členský příspěvek 2026",
            "AM:1500.00",
        ),
        (1, Some("0024"), "*%+ ěščřžýáíé ♥", "AM:0.01"),
        (
            999_999_999,
            Some("0000000024"),
            "Žofie Nováková, oddíl atletiky, přípravka – členský příspěvek 2026",
            "AM:9999999.99",
        ),
        (50_000, None, "", "AM:500.00"),
    ];
    for (amount_minor, variable_symbol, message, am) in cases {
        let text = Request {
            account: &account,
            amount_minor,
            variable_symbol,
            message,
        }
        .to_spayd()
        .expect("spayd");
        assert!(text.contains(am), "{text}");
        let svg = spayd::svg(&text).expect("svg");
        assert_eq!(decode_svg(&svg), text);
    }
}
