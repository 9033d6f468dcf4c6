//! XLSX through `rust_xlsxwriter`: one worksheet in its constant-memory mode (each finished
//! row goes to a temporary file, not to memory), a bold header row kept in view, money as
//! numbers with two decimals (`#,##0.00`, shown with the reader's own separators), dates as
//! Excel dates (`d.m.yyyy`), text as text (so a VS keeps its leading zeros).
//!
//! The writer is synchronous, so it runs on a blocking thread: the rows come from the reading
//! task through a bounded channel, and once they are all written the workbook is zipped
//! straight into the response (`save_to_writer` streams the archive; nothing is kept whole).
//! A worksheet holds at most 1 048 576 rows (Excel's limit); a longer export stops with an
//! error instead of a truncated file.

use super::{CHUNK, Cell, Chunk, Error, RowSink};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};
use std::io::Write;
use tokio::sync::mpsc::{Receiver, Sender, channel};

/// Rows waiting for the writer thread at most.
const ROWS_IN_FLIGHT: usize = 1024;

/// Excel's format codes (locale-independent: Excel shows them with the reader's separators).
pub const MONEY_FORMAT: &str = "#,##0.00";
pub const DATE_FORMAT: &str = "d.m.yyyy";

enum Piece {
    Titles(Vec<String>),
    Row(Vec<Cell>),
}

/// Hands rows to the writer thread.
pub(crate) struct Sink {
    rows: Sender<Piece>,
    writer: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Sink {
    /// Starts the writer thread; the workbook's one sheet is called `sheet`.
    pub(crate) fn start(out: Sender<Chunk>, sheet: impl Into<String>) -> Sink {
        let (rows, received) = channel(ROWS_IN_FLIGHT);
        let sheet = sheet.into();
        let writer = tokio::task::spawn_blocking(move || write_workbook(received, out, &sheet));
        Sink { rows, writer }
    }

    async fn send(&mut self, piece: Piece) -> Result<(), Error> {
        match super::send_within(&self.rows, piece).await {
            Ok(()) => Ok(()),
            // The writer waits for a client that takes nothing: give up (its thread ends when
            // the connection closes).
            Err(Error::Stalled) => Err(Error::Stalled),
            // The writer stopped early: its own result says why.
            Err(_) => Err(writer_result(&mut self.writer)
                .await
                .err()
                .unwrap_or(Error::Abandoned)),
        }
    }
}

async fn writer_result(
    writer: &mut tokio::task::JoinHandle<Result<(), Error>>,
) -> Result<(), Error> {
    writer
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
}

impl RowSink for Sink {
    async fn titles(&mut self, titles: Vec<String>) -> Result<(), Error> {
        self.send(Piece::Titles(titles)).await
    }

    async fn row(&mut self, cells: Vec<Cell>) -> Result<(), Error> {
        self.send(Piece::Row(cells)).await
    }

    async fn finish(self) -> Result<(), Error> {
        let Sink { rows, mut writer } = self;
        drop(rows);
        writer_result(&mut writer).await
    }
}

/// The formats every sheet of Kasa uses.
pub struct Formats {
    pub title: Format,
    pub money: Format,
    pub date: Format,
}

impl Default for Formats {
    fn default() -> Formats {
        Formats {
            title: Format::new().set_bold(),
            money: Format::new().set_num_format(MONEY_FORMAT),
            date: Format::new().set_num_format(DATE_FORMAT),
        }
    }
}

/// Writes a bold title row at `row`.
pub fn write_titles(
    sheet: &mut Worksheet,
    formats: &Formats,
    row: u32,
    titles: &[String],
) -> Result<(), Error> {
    for (col, title) in (0u16..).zip(titles) {
        sheet.write_string_with_format(row, col, title, &formats.title)?;
    }
    Ok(())
}

/// Writes one row of cells at `row`: money and dates as real Excel numbers and dates.
pub fn write_cells(
    sheet: &mut Worksheet,
    formats: &Formats,
    row: u32,
    cells: &[Cell],
) -> Result<(), Error> {
    for (col, cell) in (0u16..).zip(cells) {
        match cell {
            Cell::Text(text) => {
                sheet.write_string(row, col, text)?;
            }
            Cell::Money(minor) => {
                sheet.write_number_with_format(row, col, *minor as f64 / 100.0, &formats.money)?;
            }
            Cell::Date(day) => {
                let date = ExcelDateTime::from_ymd(
                    u16::try_from(day.year()).unwrap_or(1900),
                    u8::from(day.month()),
                    day.day(),
                )?;
                sheet.write_datetime_with_format(row, col, &date, &formats.date)?;
            }
            Cell::Number(n) => {
                sheet.write_number(row, col, *n as f64)?;
            }
            Cell::Empty => {}
        }
    }
    Ok(())
}

/// Column widths from the titles (at least 12 characters), set before any row (the
/// constant-memory mode writes the column definitions first).
pub fn set_widths(sheet: &mut Worksheet, titles: &[String]) -> Result<(), Error> {
    for (col, title) in (0u16..).zip(titles) {
        let width = title.chars().count().max(12) as f64 + 2.0;
        sheet.set_column_width(col, width)?;
    }
    Ok(())
}

/// Excel's sheet names: at most 31 characters, none of `[]:*?/\`.
pub fn sheet_name(name: &str) -> String {
    name.chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect()
}

fn write_workbook(
    mut received: Receiver<Piece>,
    out: Sender<Chunk>,
    sheet: &str,
) -> Result<(), Error> {
    let mut workbook = Workbook::new();
    let formats = Formats::default();
    let worksheet = workbook.add_worksheet_with_constant_memory();
    worksheet.set_name(sheet_name(sheet))?;
    let mut row = 0u32;
    while let Some(piece) = received.blocking_recv() {
        match piece {
            Piece::Titles(titles) => {
                set_widths(worksheet, &titles)?;
                worksheet.set_freeze_panes(1, 0)?;
                write_titles(worksheet, &formats, row, &titles)?;
            }
            Piece::Row(cells) => write_cells(worksheet, &formats, row, &cells)?,
        }
        row += 1;
    }
    let mut writer = ChunkWriter {
        out,
        buffer: Vec::with_capacity(CHUNK),
        abandoned: false,
    };
    match workbook.save_to_writer(&mut writer) {
        Ok(()) => writer.send_rest(),
        Err(_) if writer.abandoned => Err(Error::Abandoned),
        Err(e) => Err(e.into()),
    }
}

/// Collects the zipped workbook into chunks and sends them from the blocking thread.
struct ChunkWriter {
    out: Sender<Chunk>,
    buffer: Vec<u8>,
    abandoned: bool,
}

impl ChunkWriter {
    fn send_buffer(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        if self.out.blocking_send(Ok(chunk)).is_err() {
            self.abandoned = true;
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        Ok(())
    }

    fn send_rest(mut self) -> Result<(), Error> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.send_buffer().map_err(|_| Error::Abandoned)
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send_buffer()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_follow_excels_rules() {
        assert_eq!(sheet_name("Platby [2026/11]"), "Platby 202611");
        assert_eq!(sheet_name(&"x".repeat(40)).len(), 31);
    }
}
