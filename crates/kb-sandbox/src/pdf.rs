//! A hand-written minimal, valid PDF (one page, Helvetica, ASCII text) for statements.

/// Replaces anything outside printable ASCII and escapes PDF string delimiters.
fn pdf_text(s: &str) -> String {
    const FROM: &str = "áäčďéěíĺľňóôöŕřšťúůüýžÁÄČĎÉĚÍĹĽŇÓÔÖŔŘŠŤÚŮÜÝŽ";
    const TO: &str = "aacdeeillnooorrstuuuyzAACDEEILLNOOORRSTUUUYZ";
    let mut out = String::new();
    for c in s.chars() {
        let c = FROM
            .chars()
            .position(|f| f == c)
            .and_then(|i| TO.chars().nth(i))
            .unwrap_or(c);
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// Builds a one-page PDF with a title and up to 45 lines.
pub fn statement(title: &str, lines: &[String]) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 40 800 Td 14 TL\n");
    content.push_str(&format!("({}) Tj T*\n/F1 9 Tf T*\n", pdf_text(title)));
    for l in lines.iter().take(45) {
        content.push_str(&format!("({}) Tj T*\n", pdf_text(l)));
    }
    if lines.len() > 45 {
        content.push_str(&format!(
            "(... {} dalsich pohybu) Tj T*\n",
            lines.len() - 45
        ));
    }
    content.push_str("ET\n");

    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{}endstream", content.len(), content),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{}\nendobj\n", i + 1, obj).as_bytes());
    }
    let xref = out.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        tail.push_str(&format!("{o:010} 00000 n \n"));
    }
    tail.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.extend_from_slice(tail.as_bytes());
    out
}
