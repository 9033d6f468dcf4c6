//! Exports of a club's data for the accountant and the board: members, charges, payments with
//! their allocations, and booked bank transactions, for any range of Prague days; as CSV for
//! Czech Excel ([`csv`]), as XLSX with real number and date cells ([`xlsx`]), and bank
//! transactions also as ABO/GPC, the fixed-width statement Czech accounting software imports
//! ([`gpc`]).
//!
//! **Streamed in constant memory.** [`stream`] returns the file as a stream of chunks while a
//! spawned task reads the rows from PostgreSQL (`fetch`, row by row) inside one read-only,
//! repeatable-read [`TenantTx`] that the task owns for as long as the stream runs: the club's
//! `search_path` is `SET LOCAL` to that transaction and dies with it, and when the download is
//! abandoned (the stream dropped) the task stops at its next send and the transaction rolls
//! back. CSV and GPC are encoded on the fly into chunks of [`CHUNK`] bytes, at most
//! [`IN_FLIGHT`] chunks waiting; XLSX rows go to a blocking thread that writes a
//! `rust_xlsxwriter` worksheet in its constant-memory mode (rows go to a temporary file), and
//! the zipped workbook is then streamed out as it is compressed. Memory does not grow with the
//! number of rows (docs/benchmarks.md).
//!
//! The queries are read-only views over the tables of `member`, `fee`, `payment` and `sync`
//! (like the fee overview); they write nothing.

pub mod csv;
pub mod gpc;
mod rows;
pub mod xlsx;

use futures::Stream;
use sqlx::PgPool;
use time::{Date, Month};

use crate::db::tenant::{Tenant, TenantTx};
use crate::i18n::Lang;

/// Bytes encoded before a chunk is handed to the response body.
pub const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the client at most (backpressure beyond this).
pub const IN_FLIGHT: usize = 4;

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    /// Every member, archived ones included (the date range does not apply).
    Members,
    /// Charges due within the range.
    Charges,
    /// Payments Kasa decided about (booked within the range), one row per allocation to a
    /// charge (a payment without allocations has one row with the allocation cells empty).
    Payments,
    /// Booked bank transactions of every account, by booking date within the range.
    Transactions,
}

impl Dataset {
    pub const ALL: [Dataset; 4] = [
        Dataset::Members,
        Dataset::Charges,
        Dataset::Payments,
        Dataset::Transactions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::Members => "members",
            Dataset::Charges => "charges",
            Dataset::Payments => "payments",
            Dataset::Transactions => "transactions",
        }
    }

    pub fn parse(s: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Whether the date range applies (members are exported whole).
    pub fn uses_range(self) -> bool {
        self != Dataset::Members
    }
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 with BOM, `;`-separated, CRLF (see [`csv`]).
    Csv,
    /// Office Open XML workbook (see [`xlsx`]).
    Xlsx,
    /// ABO/GPC bank statement, bank transactions only (see [`gpc`]).
    Gpc,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Csv, Format::Xlsx, Format::Gpc];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Gpc => "gpc",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Gpc => "application/octet-stream",
        }
    }
}

/// A valid export request: dataset, format and the inclusive range of Prague days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub dataset: Dataset,
    pub format: Format,
    pub from: Date,
    pub to: Date,
}

/// The export form as typed (`from`/`to`: Czech `1. 1. 2026` or ISO dates).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct Draft {
    pub dataset: String,
    pub format: String,
    pub from: String,
    pub to: String,
}

impl Draft {
    /// The default form: bank transactions as CSV from 1 January of `today`'s year to `today`.
    pub fn default_for(today: Date) -> Draft {
        let first = Date::from_calendar_date(today.year(), Month::January, 1).unwrap_or(today);
        Draft {
            dataset: Dataset::Transactions.as_str().to_owned(),
            format: Format::Csv.as_str().to_owned(),
            from: crate::i18n::input_day(first),
            to: crate::i18n::input_day(today),
        }
    }

    /// The request, or every problem as `(field, translation key)`: an unknown dataset or
    /// format, GPC for anything but bank transactions, a missing or unreadable date, `from`
    /// after `to`.
    pub fn parse(&self) -> Result<Request, Vec<(&'static str, &'static str)>> {
        let mut problems = Vec::new();
        let dataset = Dataset::parse(&self.dataset);
        let format = Format::parse(&self.format);
        if dataset.is_none() {
            problems.push(("dataset", "export.error.dataset"));
        }
        if format.is_none() {
            problems.push(("format", "export.error.format"));
        }
        if format == Some(Format::Gpc) && dataset.is_some_and(|d| d != Dataset::Transactions) {
            problems.push(("format", "export.error.gpc_transactions_only"));
        }
        let date = |text: &str, field: &'static str, problems: &mut Vec<_>| {
            let parsed = crate::fee::parse_date(text);
            if parsed.is_none() {
                problems.push((field, "export.error.date"));
            }
            parsed
        };
        let from = date(&self.from, "from", &mut problems);
        let to = date(&self.to, "to", &mut problems);
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            problems.push(("to", "export.error.range"));
        }
        match (dataset, format, from, to) {
            (Some(dataset), Some(format), Some(from), Some(to)) if problems.is_empty() => {
                Ok(Request {
                    dataset,
                    format,
                    from,
                    to,
                })
            }
            _ => Err(problems),
        }
    }
}

impl Request {
    /// `kasa-transakce-2026-01-01-2026-11-30.csv` (names in `lang`, ASCII only).
    pub fn file_name(&self, lang: Lang) -> String {
        let name = lang.t(&format!("export.file.{}", self.dataset.as_str()));
        if self.dataset.uses_range() {
            format!(
                "kasa-{name}-{}-{}.{}",
                self.from,
                self.to,
                self.format.as_str()
            )
        } else {
            format!("kasa-{name}.{}", self.format.as_str())
        }
    }
}

/// One cell of an exported row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// Minor units (haléře) of the row's currency.
    Money(i64),
    Date(Date),
    /// A whole number (a count of days).
    Number(i64),
    Empty,
}

impl Cell {
    pub fn text(value: Option<String>) -> Cell {
        value.map_or(Cell::Empty, Cell::Text)
    }

    pub fn date(value: Option<Date>) -> Cell {
        value.map_or(Cell::Empty, Cell::Date)
    }
}

/// Why an export stopped before its end (the response is then cut off, never completed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("spreadsheet error: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("csv error: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A value that the fixed-width format cannot hold (an amount over 12 digits).
    #[error("value does not fit the format: {0}")]
    DoesNotFit(String),
    /// The client went away: nothing to report.
    #[error("download abandoned")]
    Abandoned,
    /// The client took no data for [`STALL`]: the export gave up, releasing its transaction.
    #[error("download stalled")]
    Stalled,
}

/// How long a download may take no data before its export gives up: each export holds a pooled
/// connection and its transaction while it waits for the client.
pub const STALL: std::time::Duration = std::time::Duration::from_secs(20);

/// The exports that may run at once: a quarter of the database pool, at least one. Each running
/// export holds one pooled connection for as long as its client reads, so stalled or slow
/// downloads (anyone in a club may export, viewers too) can never take the connections that
/// pages and the sync need.
#[derive(Debug, Clone)]
pub struct Slots(std::sync::Arc<tokio::sync::Semaphore>);

impl Slots {
    /// Slots for a pool of `max_connections`.
    pub fn for_pool(max_connections: u32) -> Slots {
        let slots = (max_connections / 4).max(1) as usize;
        Slots(std::sync::Arc::new(tokio::sync::Semaphore::new(slots)))
    }
}

/// Every export slot is taken: the client should try again in a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// A chunk of the file, or the error that cut it short.
pub type Chunk = Result<Vec<u8>, std::io::Error>;

/// Where encoded rows go: the CSV encoder or the XLSX writer's thread.
pub(crate) trait RowSink: Send {
    /// The header row (column titles in the request's language).
    fn titles(&mut self, titles: Vec<String>) -> impl Future<Output = Result<(), Error>> + Send;
    fn row(&mut self, cells: Vec<Cell>) -> impl Future<Output = Result<(), Error>> + Send;
    fn finish(self) -> impl Future<Output = Result<(), Error>> + Send;
}

/// The export as a stream of chunks (see the module documentation). The rows are read in a
/// tenant transaction of `tenant` begun by the spawned task; an error after the first chunk
/// ends the stream with an `Err` (the response is cut off, so a broken file never looks
/// complete).
pub fn stream(
    pool: PgPool,
    tenant: Tenant,
    request: Request,
    lang: Lang,
    slots: &Slots,
) -> Result<impl Stream<Item = Chunk> + Send + 'static, Busy> {
    let slot = slots.0.clone().try_acquire_owned().map_err(|_| Busy)?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Chunk>(IN_FLIGHT);
    tokio::spawn(async move {
        let _slot = slot;
        let out = sender.clone();
        match produce(pool, tenant, request, lang, out).await {
            Ok(()) | Err(Error::Abandoned) => {}
            Err(Error::Stalled) => {
                tracing::info!(
                    dataset = request.dataset.as_str(),
                    "export stalled: given up"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, dataset = request.dataset.as_str(), "export failed");
                let _ = sender.send(Err(std::io::Error::other(e.to_string()))).await;
            }
        }
    });
    Ok(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|chunk| (chunk, receiver)) },
    ))
}

/// Sends `item` on `out` within [`STALL`]; a dropped receiver means the client went away.
pub(crate) async fn send_within<T>(
    out: &tokio::sync::mpsc::Sender<T>,
    item: T,
) -> Result<(), Error> {
    match tokio::time::timeout(STALL, out.send(item)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Error::Abandoned),
        Err(_) => Err(Error::Stalled),
    }
}

/// Sends a chunk to the body (see [`send_within`]).
pub(crate) async fn send(
    out: &tokio::sync::mpsc::Sender<Chunk>,
    bytes: Vec<u8>,
) -> Result<(), Error> {
    send_within(out, Ok(bytes)).await
}

async fn produce(
    pool: PgPool,
    tenant: Tenant,
    request: Request,
    lang: Lang,
    out: tokio::sync::mpsc::Sender<Chunk>,
) -> Result<(), Error> {
    let mut tx = TenantTx::begin(&pool, &tenant).await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    match request.format {
        Format::Gpc => gpc::write(&mut tx, &request, &out).await?,
        Format::Csv => {
            let mut sink = csv::Sink::new(out);
            rows::write(&mut tx, &request, lang, &mut sink).await?;
            sink.finish().await?;
        }
        Format::Xlsx => {
            let mut sink = xlsx::Sink::start(
                out,
                lang.t(&format!("export.sheet.{}", request.dataset.as_str())),
            );
            rows::write(&mut tx, &request, lang, &mut sink).await?;
            sink.finish().await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn draft(dataset: &str, format: &str, from: &str, to: &str) -> Draft {
        Draft {
            dataset: dataset.into(),
            format: format.into(),
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn a_draft_with_czech_or_iso_dates_is_a_request() {
        let request = draft("transactions", "gpc", "1. 1. 2026", "2026-11-30")
            .parse()
            .expect("valid");
        assert_eq!(
            request,
            Request {
                dataset: Dataset::Transactions,
                format: Format::Gpc,
                from: date!(2026 - 01 - 01),
                to: date!(2026 - 11 - 30),
            }
        );
        assert_eq!(
            request.file_name(Lang::Cs),
            "kasa-transakce-2026-01-01-2026-11-30.gpc"
        );
    }

    #[test]
    fn every_problem_of_a_draft_is_named_at_its_field() {
        let problems = draft("nope", "pdf", "32. 1. 2026", "")
            .parse()
            .expect_err("invalid");
        assert_eq!(
            problems,
            vec![
                ("dataset", "export.error.dataset"),
                ("format", "export.error.format"),
                ("from", "export.error.date"),
                ("to", "export.error.date"),
            ]
        );
        let problems = draft("members", "gpc", "2. 1. 2026", "1. 1. 2026")
            .parse()
            .expect_err("invalid");
        assert_eq!(
            problems,
            vec![
                ("format", "export.error.gpc_transactions_only"),
                ("to", "export.error.range"),
            ]
        );
    }
}
