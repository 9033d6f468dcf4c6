//! CSV for Czech Excel: UTF-8 with a byte-order mark (without it Excel reads the file as
//! windows-1250 and garbles "Příjmení"), `;` between cells (the list separator of the Czech
//! locale, which Excel expects when the file is opened by a double click), CRLF line ends,
//! quoting where a cell needs it (the `csv` crate's rules).
//!
//! Cells: money as a plain number with a decimal comma and no grouping (`1500,00`, `-0,50`),
//! which Czech Excel reads as a number; dates as ISO `2026-11-30`, which Excel reads as a date
//! in every locale; text as it is. The choice is in docs/decisions.md ("Exports").

use super::{CHUNK, Cell, Chunk, Error, RowSink, send};
use tokio::sync::mpsc::Sender;

/// The byte-order mark that tells Excel the file is UTF-8.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `1500,00`, `-0,50`: minor units as a number with a decimal comma, no grouping.
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

/// The text of a cell.
pub fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => inert(text),
        Cell::Money(minor) => money(*minor),
        Cell::Date(day) => day.to_string(),
        Cell::Number(n) => n.to_string(),
        Cell::Empty => String::new(),
    }
}

/// `text` as a cell Excel shows and never runs: text that starts like a formula (`=`, `+`, `-`,
/// `@`, a tab or a carriage return) gets a leading apostrophe, as OWASP's "CSV injection" advice
/// says. Names and messages come from payers (a payment's message is whatever its sender typed),
/// so `=HYPERLINK(…)` must not become a live formula on the treasurer's computer. The XLSX
/// export writes text cells as strings and needs no such mark.
pub fn inert(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// Encodes rows into chunks of about [`CHUNK`] bytes and sends them to the body.
pub(crate) struct Sink {
    writer: ::csv::Writer<Vec<u8>>,
    out: Sender<Chunk>,
}

/// A writer of Excel's dialect into `buffer`.
fn writer(buffer: Vec<u8>) -> ::csv::Writer<Vec<u8>> {
    ::csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(::csv::Terminator::CRLF)
        .from_writer(buffer)
}

impl Sink {
    pub(crate) fn new(out: Sender<Chunk>) -> Sink {
        let mut buffer = Vec::with_capacity(CHUNK + 4096);
        buffer.extend_from_slice(BOM);
        Sink {
            writer: writer(buffer),
            out,
        }
    }

    async fn write(&mut self, record: Vec<String>) -> Result<(), Error> {
        self.writer.write_record(&record)?;
        self.writer.flush()?;
        if self.writer.get_ref().len() >= CHUNK {
            self.send_buffered().await?;
        }
        Ok(())
    }

    async fn send_buffered(&mut self) -> Result<(), Error> {
        let full = std::mem::replace(&mut self.writer, writer(Vec::with_capacity(CHUNK + 4096)));
        let chunk = full
            .into_inner()
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        send(&self.out, chunk).await
    }
}

impl RowSink for Sink {
    async fn titles(&mut self, titles: Vec<String>) -> Result<(), Error> {
        self.write(titles).await
    }

    async fn row(&mut self, cells: Vec<Cell>) -> Result<(), Error> {
        self.write(cells.iter().map(cell_text).collect()).await
    }

    async fn finish(mut self) -> Result<(), Error> {
        self.writer.flush()?;
        if !self.writer.get_ref().is_empty() {
            self.send_buffered().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_starts_like_a_formula_is_shown_not_run() {
        for (text, expected) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+420 777 123 456", "'+420 777 123 456"),
            ("-1+1", "'-1+1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("Jana Nová", "Jana Nová"),
            ("2026001", "2026001"),
            ("", ""),
        ] {
            assert_eq!(inert(text), expected, "{text:?}");
            assert_eq!(cell_text(&Cell::Text(text.to_owned())), expected);
        }
        // Money and dates are not text: a negative amount stays a number.
        assert_eq!(cell_text(&Cell::Money(-50)), "-0,50");
    }

    #[test]
    fn money_has_a_decimal_comma_and_no_grouping() {
        assert_eq!(money(150000), "1500,00");
        assert_eq!(money(1), "0,01");
        assert_eq!(money(-50), "-0,50");
        assert_eq!(money(-123456789), "-1234567,89");
        assert_eq!(money(0), "0,00");
    }
}
