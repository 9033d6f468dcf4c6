//! Importing a member list from CSV, with a preview: upload → column mapping → preview with
//! per-row errors → confirm. Nothing touches `members` before the treasurer confirms.
//!
//! The upload is decoded (UTF-8 with or without BOM, else windows-1250, via `encoding_rs`),
//! checked as a whole (per-file errors: encoding, size, empty, malformed CSV) and stored as
//! text in the tenant table `member_imports` with an expiry ([`PENDING_LIFETIME`]). The preview
//! and the confirmation parse that text again with the chosen mapping, so what is confirmed is
//! exactly what was previewed. Confirmation writes every row in the caller's transaction, or
//! none: it refuses while any row has an error. Re-importing updates members found by VS
//! (numerically), then by an e-mail that exactly one member has, instead of duplicating them.

use super::{Error, GroupId, MemberForm, MemberId, NewMember, VariableSymbol, lock_vs};
use crate::audit::{self, Actor};
use crate::db::tenant::TenantTx;
use serde_json::json;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The largest file accepted (2 MiB: about 20 000 rows of a typical member list).
pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;
/// The most data rows in one import.
pub const MAX_ROWS: usize = 10_000;
/// How long an upload waits for its confirmation.
pub const PENDING_LIFETIME: Duration = Duration::hours(2);

/// A pending import (row of `member_imports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Deserialize)]
#[sqlx(transparent)]
pub struct ImportId(pub Uuid);

impl std::fmt::Display for ImportId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a whole file is refused (nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("empty file")]
    Empty,
    #[error("file too large")]
    TooLarge,
    /// Neither UTF-8 nor windows-1250 text (e.g. UTF-16, a spreadsheet, an image).
    #[error("unknown encoding")]
    Encoding,
    /// Quotes do not close, or the CSV cannot be read from `line` on.
    #[error("malformed CSV at line {line}")]
    Malformed { line: u64 },
    /// A header row but no member rows.
    #[error("no rows")]
    NoRows,
    #[error("too many rows")]
    TooManyRows,
}

impl FileError {
    /// Translation key of the message.
    pub fn key(&self) -> &'static str {
        match self {
            FileError::Empty => "members.import.err.empty",
            FileError::TooLarge => "members.import.err.too_large",
            FileError::Encoding => "members.import.err.encoding",
            FileError::Malformed { .. } => "members.import.err.malformed",
            FileError::NoRows => "members.import.err.no_rows",
            FileError::TooManyRows => "members.import.err.too_many_rows",
        }
    }
}

/// The text encoding a file was detected as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Windows1250,
}

impl TextEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Utf8Bom => "utf-8-bom",
            TextEncoding::Windows1250 => "windows-1250",
        }
    }
}

/// Decodes an uploaded file: UTF-8 (a BOM is removed), else windows-1250 (what Czech Excel
/// writes). UTF-16 and binary files, and windows-1250 text with undefined bytes, are refused.
pub fn decode(bytes: &[u8]) -> Result<(String, TextEncoding), FileError> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(FileError::TooLarge);
    }
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        if encoding != encoding_rs::UTF_8 {
            return Err(FileError::Encoding);
        }
        let text = std::str::from_utf8(&bytes[bom_len..]).map_err(|_| FileError::Encoding)?;
        return check_text(text.to_owned(), TextEncoding::Utf8Bom);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return check_text(text.to_owned(), TextEncoding::Utf8);
    }
    let text = encoding_rs::WINDOWS_1250
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or(FileError::Encoding)?;
    check_text(text.into_owned(), TextEncoding::Windows1250)
}

/// Text files have no control characters other than tab and line breaks (a NUL is UTF-16 or
/// binary; C1 controls are windows-1250's undefined bytes).
fn check_text(text: String, encoding: TextEncoding) -> Result<(String, TextEncoding), FileError> {
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return Err(FileError::Encoding);
    }
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    Ok((text, encoding))
}

/// `;` (Czech Excel) or `,`: whichever occurs more often in the header line (`;` on a tie).
pub fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let count = |c: char| header.chars().filter(|&x| x == c).count();
    if count(',') > count(';') { b',' } else { b';' }
}

/// A table read from CSV: the header and the data rows with their row numbers.
#[derive(Debug, Clone)]
pub struct Table {
    pub headers: Vec<String>,
    /// (the spreadsheet's row number: the header is row 1, the first data row 2; a cell with
    /// line breaks does not shift the rows after it; cells); fully empty rows are skipped but
    /// counted.
    pub rows: Vec<(u64, Vec<String>)>,
}

/// Reads CSV text (quoted fields, doubled quotes, `;` inside quotes, CRLF).
pub fn read_table(text: &str, delimiter: u8) -> Result<Table, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| FileError::Malformed {
            line: e.position().map_or(0, csv::Position::line),
        })?;
        let line = index as u64 + 1;
        let cells: Vec<String> = record.iter().map(|c| c.trim().to_owned()).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        if headers.is_none() {
            headers = Some(cells);
        } else {
            if rows.len() >= MAX_ROWS {
                return Err(FileError::TooManyRows);
            }
            rows.push((line, cells));
        }
    }
    let headers = headers.ok_or(FileError::Empty)?;
    if rows.is_empty() {
        return Err(FileError::NoRows);
    }
    Ok(Table { headers, rows })
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Ignore,
    /// The full name.
    Name,
    FirstName,
    LastName,
    Vs,
    Emails,
    Phone,
    BirthDate,
    JoinedOn,
    Groups,
    Note,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::Ignore,
        Field::Name,
        Field::FirstName,
        Field::LastName,
        Field::Vs,
        Field::Emails,
        Field::Phone,
        Field::BirthDate,
        Field::JoinedOn,
        Field::Groups,
        Field::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Ignore => "ignore",
            Field::Name => "name",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Vs => "variable_symbol",
            Field::Emails => "emails",
            Field::Phone => "phone",
            Field::BirthDate => "birth_date",
            Field::JoinedOn => "joined_on",
            Field::Groups => "groups",
            Field::Note => "note",
        }
    }

    pub fn parse(text: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// Translation key of the field's name.
    pub fn label_key(self) -> String {
        format!("members.field.{}", self.as_str())
    }

    /// Guesses a column from its Czech or English header (`Jméno`, `Příjmení`, `E-mail`, `VS`,
    /// `Datum narození`, `Skupina`, …); accents, case and punctuation are ignored.
    pub fn guess(header: &str) -> Field {
        let h: String = crate::i18n::fold(header)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        match h.as_str() {
            "jmenoaprijmeni" | "jmenoprijmeni" | "prijmeniajmeno" | "prijmenijmeno" | "name"
            | "fullname" | "clen" | "member" | "membername" | "celejmeno" => Field::Name,
            "jmeno" | "krestnijmeno" | "firstname" | "givenname" => Field::FirstName,
            "prijmeni" | "lastname" | "surname" | "familyname" => Field::LastName,
            "vs" | "variabilnisymbol" | "variablesymbol" | "varsymbol" | "vsymbol" => Field::Vs,
            "email" | "emaily" | "emails" | "mail" | "emailovaadresa" => Field::Emails,
            "telefon" | "tel" | "telefonnicislo" | "mobil" | "phone" | "mobile" => Field::Phone,
            "datumnarozeni" | "narozeni" | "narozen" | "birthdate" | "dateofbirth" | "dob"
            | "birthday" => Field::BirthDate,
            "clenemod" | "datumvstupu" | "vstup" | "joined" | "joinedon" | "membersince" => {
                Field::JoinedOn
            }
            "skupina" | "skupiny" | "oddil" | "kategorie" | "group" | "groups" | "team" => {
                Field::Groups
            }
            "poznamka" | "poznamky" | "note" | "notes" => Field::Note,
            _ => Field::Ignore,
        }
    }
}

/// The mapping guessed from headers: a lone "Jméno" (no "Příjmení") is the full name.
pub fn guess_mapping(headers: &[String]) -> Vec<Field> {
    let mut mapping: Vec<Field> = headers.iter().map(|h| Field::guess(h)).collect();
    if !mapping.contains(&Field::LastName) {
        for f in &mut mapping {
            if *f == Field::FirstName && !mapping_has_name(headers) {
                *f = Field::Name;
            }
        }
    }
    mapping
}

fn mapping_has_name(headers: &[String]) -> bool {
    headers.iter().any(|h| Field::guess(h) == Field::Name)
}

/// A problem with the mapping as a whole (shown on the mapping step; confirm is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingProblem {
    /// No column for the name (neither a full name nor first + last name).
    MissingName,
    /// Two columns are mapped to the same field.
    Duplicate(Field),
}

impl MappingProblem {
    pub fn key(&self) -> &'static str {
        match self {
            MappingProblem::MissingName => "members.import.err.missing_name",
            MappingProblem::Duplicate(_) => "members.import.err.duplicate_column",
        }
    }
}

/// Checks a mapping: a name is mapped, no field twice.
pub fn check_mapping(mapping: &[Field]) -> Vec<MappingProblem> {
    let mut problems = Vec::new();
    let has = |f: Field| mapping.contains(&f);
    let named = has(Field::Name) || (has(Field::FirstName) && has(Field::LastName));
    if !named {
        problems.push(MappingProblem::MissingName);
    }
    for field in Field::ALL.into_iter().filter(|f| *f != Field::Ignore) {
        if mapping.iter().filter(|f| **f == field).count() > 1 {
            problems.push(MappingProblem::Duplicate(field));
        }
    }
    problems
}

/// What confirming would do with a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowAction {
    Create,
    /// Update this existing member (found by VS, else by e-mail).
    Update {
        id: MemberId,
        name: String,
    },
    /// The row matches this existing member and would change nothing (see [`would_change`]).
    Unchanged {
        id: MemberId,
        name: String,
    },
    /// The row has errors and blocks the import.
    Invalid,
}

/// A row problem: the field and the translation key; `other_line` names the conflicting row
/// (`%{line}` of the message), `max` the limit of a text too long (`%{count}`, plural forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub field: &'static str,
    pub key: &'static str,
    pub other_line: Option<u64>,
    pub max: Option<usize>,
}

impl RowProblem {
    /// The message in `lang`, a full sentence.
    pub fn message(&self, lang: crate::i18n::Lang) -> String {
        match (self.max, self.other_line) {
            (Some(max), _) => lang.t_count(self.key, i64::try_from(max).unwrap_or(i64::MAX)),
            (None, Some(line)) => lang.t_with(self.key, &[("line", &line.to_string())]),
            (None, None) => lang.t(self.key).into_owned(),
        }
    }
}

/// One row of the preview.
#[derive(Debug, Clone)]
pub struct PreviewRow {
    /// The spreadsheet's row number (the header is row 1, the first data row 2).
    pub line: u64,
    pub name: String,
    /// The VS as in the file (may be empty: assigned on import by the club's scheme).
    pub variable_symbol: String,
    pub emails: String,
    pub groups: String,
    pub action: RowAction,
    pub problems: Vec<RowProblem>,
    member: Option<NewMember>,
}

/// Everything the preview page shows.
#[derive(Debug, Clone)]
pub struct Preview {
    pub id: ImportId,
    pub file_name: String,
    pub encoding: String,
    pub delimiter: String,
    pub headers: Vec<String>,
    pub mapping: Vec<Field>,
    pub mapping_problems: Vec<MappingProblem>,
    pub rows: Vec<PreviewRow>,
    pub creates: usize,
    pub updates: usize,
    /// Rows of existing members that would stay exactly as stored.
    pub unchanged: usize,
    pub invalid: usize,
    pub expires_at: OffsetDateTime,
}

impl Preview {
    /// Whether confirming would import (no mapping problem, no row error).
    pub fn can_confirm(&self) -> bool {
        self.mapping_problems.is_empty() && self.invalid == 0
    }
}

#[derive(Debug, sqlx::FromRow)]
struct PendingRow {
    id: ImportId,
    file_name: String,
    encoding: String,
    delimiter: String,
    content: String,
    mapping: serde_json::Value,
    expires_at: OffsetDateTime,
}

/// Stores an upload for preview (after deleting the club's expired uploads) and guesses the
/// mapping. Per-file problems return [`FileError`] and store nothing.
pub async fn upload(
    tx: &mut TenantTx,
    actor: &Actor,
    file_name: &str,
    bytes: &[u8],
    now: OffsetDateTime,
) -> Result<ImportId, UploadError> {
    let (text, encoding) = decode(bytes)?;
    let delimiter = detect_delimiter(&text);
    let table = read_table(&text, delimiter)?;
    let mapping = guess_mapping(&table.headers);
    sqlx::query("DELETE FROM member_imports WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let id = ImportId(Uuid::now_v7());
    let file_name: String = file_name.chars().take(200).collect();
    sqlx::query(
        "INSERT INTO member_imports (id, created_by, file_name, encoding, delimiter, content, mapping, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(actor.user_id)
    .bind(&file_name)
    .bind(encoding.as_str())
    .bind(char::from(delimiter).to_string())
    .bind(&text)
    .bind(mapping_json(&mapping))
    .bind(now)
    .bind(now + PENDING_LIFETIME)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Errors of [`upload`].
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn mapping_json(mapping: &[Field]) -> serde_json::Value {
    json!(mapping.iter().map(|f| f.as_str()).collect::<Vec<_>>())
}

fn mapping_from_json(value: &serde_json::Value, columns: usize) -> Vec<Field> {
    let mut mapping: Vec<Field> = value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().and_then(Field::parse).unwrap_or(Field::Ignore))
                .collect()
        })
        .unwrap_or_default();
    mapping.resize(columns, Field::Ignore);
    mapping
}

async fn load_pending(
    tx: &mut TenantTx,
    id: ImportId,
    now: OffsetDateTime,
) -> Result<Option<PendingRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, file_name, encoding, delimiter, content, mapping, expires_at \
         FROM member_imports WHERE id = $1 AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
}

/// Sets the column mapping of a pending import (`fields` by column, unknown names ignored).
/// `false` when the import is unknown or expired.
pub async fn set_mapping(
    tx: &mut TenantTx,
    id: ImportId,
    fields: &[String],
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let mapping: Vec<Field> = fields
        .iter()
        .map(|f| Field::parse(f).unwrap_or(Field::Ignore))
        .collect();
    let done =
        sqlx::query("UPDATE member_imports SET mapping = $2 WHERE id = $1 AND expires_at > $3")
            .bind(id)
            .bind(mapping_json(&mapping))
            .bind(now)
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// The preview of a pending import, or `None` when it is unknown or expired.
pub async fn preview(
    tx: &mut TenantTx,
    id: ImportId,
    now: OffsetDateTime,
) -> Result<Option<Preview>, sqlx::Error> {
    let Some(pending) = load_pending(tx, id, now).await? else {
        return Ok(None);
    };
    build_preview(tx, pending).await.map(Some)
}

/// The club's members as re-import matching needs them.
struct Existing {
    /// Every member as stored, for telling updates from unchanged rows.
    members: HashMap<MemberId, super::Member>,
    by_vs: HashMap<String, (MemberId, String)>,
    /// e-mail → members having it.
    by_email: HashMap<String, Vec<(MemberId, String)>>,
    household_vs: std::collections::HashSet<String>,
    scheme: super::VsScheme,
}

async fn existing(tx: &mut TenantTx) -> Result<Existing, sqlx::Error> {
    let rows: Vec<(MemberId, String, String, Vec<String>)> =
        sqlx::query_as("SELECT id, name, vs_key, emails FROM members")
            .fetch_all(&mut **tx)
            .await?;
    let stored: Vec<super::Member> = sqlx::query_as(super::MEMBER_SELECT)
        .fetch_all(&mut **tx)
        .await?;
    let mut out = Existing {
        members: stored.into_iter().map(|m| (m.id, m)).collect(),
        by_vs: HashMap::new(),
        by_email: HashMap::new(),
        household_vs: std::collections::HashSet::new(),
        scheme: super::vs_scheme(tx).await?,
    };
    for (id, name, key, emails) in rows {
        for e in emails {
            out.by_email.entry(e).or_default().push((id, name.clone()));
        }
        out.by_vs.insert(key, (id, name));
    }
    let households: Vec<(String,)> =
        sqlx::query_as("SELECT vs_key FROM households WHERE vs_key IS NOT NULL")
            .fetch_all(&mut **tx)
            .await?;
    out.household_vs = households.into_iter().map(|(k,)| k).collect();
    Ok(out)
}

/// Whether importing `row` over `stored` would change anything, by the rules of
/// [`update_from_import`]: empty cells keep what is stored, groups are only added
/// (case-insensitively).
fn would_change(stored: &super::Member, row: &NewMember) -> bool {
    fn differs<T: PartialEq>(new: Option<T>, old: Option<T>) -> bool {
        new.is_some() && new != old
    }
    let has_group = |g: &String| {
        stored
            .groups
            .iter()
            .any(|s| s.to_lowercase() == g.to_lowercase())
    };
    stored.name != row.name
        || differs(
            row.variable_symbol.as_ref().map(VariableSymbol::as_str),
            Some(stored.variable_symbol.as_str()),
        )
        || (!row.emails.is_empty() && row.emails != stored.emails)
        || differs(row.phone.as_deref(), stored.phone.as_deref())
        || differs(row.birth_date, stored.birth_date)
        || differs(row.joined_on, stored.joined_on)
        || differs(row.note.as_deref(), stored.note.as_deref())
        || !row.groups.iter().all(has_group)
}

fn cell<'a>(cells: &'a [String], mapping: &[Field], field: Field) -> &'a str {
    mapping
        .iter()
        .position(|f| *f == field)
        .and_then(|i| cells.get(i))
        .map_or("", String::as_str)
}

async fn build_preview(tx: &mut TenantTx, pending: PendingRow) -> Result<Preview, sqlx::Error> {
    let delimiter = pending.delimiter.bytes().next().unwrap_or(b';');
    // The text was read at upload; it reads the same way now.
    let table = read_table(&pending.content, delimiter).unwrap_or(Table {
        headers: Vec::new(),
        rows: Vec::new(),
    });
    let mapping = mapping_from_json(&pending.mapping, table.headers.len());
    let mapping_problems = check_mapping(&mapping);
    let existing = existing(tx).await?;
    let mut rows = Vec::with_capacity(table.rows.len());
    let mut seen_vs: HashMap<String, u64> = HashMap::new();
    let mut seen_member: HashMap<MemberId, u64> = HashMap::new();
    for (line, cells) in &table.rows {
        let get = |f: Field| cell(cells, &mapping, f);
        let name = if mapping.contains(&Field::Name) {
            get(Field::Name).to_owned()
        } else {
            format!("{} {}", get(Field::FirstName), get(Field::LastName))
                .trim()
                .to_owned()
        };
        let form = MemberForm {
            name: name.clone(),
            variable_symbol: get(Field::Vs).to_owned(),
            emails: get(Field::Emails).to_owned(),
            phone: get(Field::Phone).to_owned(),
            birth_date: get(Field::BirthDate).to_owned(),
            joined_on: get(Field::JoinedOn).to_owned(),
            note: get(Field::Note).to_owned(),
            groups: get(Field::Groups).to_owned(),
            household_id: String::new(),
            form_token: String::new(),
        };
        let mut problems: Vec<RowProblem> = Vec::new();
        let problem =
            |field: &'static str, key: &'static str, other_line: Option<u64>| RowProblem {
                field,
                key,
                other_line,
                max: None,
            };
        let member = match NewMember::parse(&form) {
            Ok(m) => Some(m),
            Err(list) => {
                problems.extend(list.into_iter().map(|(f, p)| RowProblem {
                    max: p.max(),
                    ..problem(f, p.key(), None)
                }));
                None
            }
        };
        let mut action = RowAction::Invalid;
        if let Some(m) = &member {
            let key = m.variable_symbol.as_ref().map(|v| v.key().to_owned());
            if let Some(key) = &key {
                if let Some(first) = seen_vs.insert(key.clone(), *line) {
                    problems.push(problem(
                        "variable_symbol",
                        "members.import.err.duplicate_vs",
                        Some(first),
                    ));
                }
                if existing.household_vs.contains(key) {
                    problems.push(problem(
                        "variable_symbol",
                        "members.err.vs_taken_household",
                        None,
                    ));
                }
            }
            let found = key
                .as_ref()
                .and_then(|k| existing.by_vs.get(k).cloned())
                .or_else(|| {
                    m.emails
                        .iter()
                        .find_map(|e| match existing.by_email.get(e) {
                            Some(list) if list.len() == 1 => Some(list[0].clone()),
                            _ => None,
                        })
                });
            match found {
                Some((id, name)) => {
                    if let Some(first) = seen_member.insert(id, *line) {
                        problems.push(problem(
                            "name",
                            "members.import.err.same_member",
                            Some(first),
                        ));
                    }
                    action = match existing.members.get(&id) {
                        Some(stored) if !would_change(stored, m) => {
                            RowAction::Unchanged { id, name }
                        }
                        _ => RowAction::Update { id, name },
                    };
                }
                None => {
                    if key.is_none() && existing.scheme == super::VsScheme::Imported {
                        problems.push(problem("variable_symbol", "members.err.vs_required", None));
                    }
                    action = RowAction::Create;
                }
            }
        }
        if !problems.is_empty() {
            action = RowAction::Invalid;
        }
        rows.push(PreviewRow {
            line: *line,
            name,
            variable_symbol: form.variable_symbol,
            emails: form.emails,
            groups: form.groups,
            action,
            problems,
            member,
        });
    }
    let count = |pred: fn(&RowAction) -> bool| rows.iter().filter(|r| pred(&r.action)).count();
    Ok(Preview {
        id: pending.id,
        file_name: pending.file_name,
        encoding: pending.encoding,
        delimiter: pending.delimiter,
        headers: table.headers,
        creates: count(|a| *a == RowAction::Create),
        updates: count(|a| matches!(a, RowAction::Update { .. })),
        unchanged: count(|a| matches!(a, RowAction::Unchanged { .. })),
        invalid: count(|a| *a == RowAction::Invalid),
        mapping,
        mapping_problems,
        rows,
        expires_at: pending.expires_at,
    })
}

/// Errors of [`confirm`]; in every case nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Unknown or expired upload.
    #[error("import not found")]
    NotFound,
    /// The mapping or some rows have errors (fix the file or the mapping first).
    #[error("the import has errors")]
    HasErrors,
    #[error(transparent)]
    Member(#[from] Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    /// Rows of existing members that changed nothing (not written).
    pub unchanged: usize,
}

/// Imports every row of a pending upload in the caller's transaction (the caller commits), then
/// deletes the upload. Refuses with [`ConfirmError::HasErrors`] while the preview shows any
/// error. One audit entry `member.imported` records the file and the counts.
pub async fn confirm(
    tx: &mut TenantTx,
    actor: &Actor,
    id: ImportId,
    now: OffsetDateTime,
) -> Result<ImportSummary, ConfirmError> {
    lock_vs(tx).await?;
    let pending = load_pending(tx, id, now)
        .await?
        .ok_or(ConfirmError::NotFound)?;
    let preview = build_preview(tx, pending).await?;
    if !preview.can_confirm() {
        return Err(ConfirmError::HasErrors);
    }
    let mut groups: HashMap<String, GroupId> = {
        let rows: Vec<(GroupId, String)> = sqlx::query_as("SELECT id, name FROM member_groups")
            .fetch_all(&mut **tx)
            .await?;
        rows.into_iter()
            .map(|(id, name)| (name.to_lowercase(), id))
            .collect()
    };
    let today = crate::i18n::to_prague(now).date();
    let mut summary = ImportSummary {
        created: 0,
        updated: 0,
        unchanged: 0,
    };
    // Rows with a VS first, so a scheme's numbers never take a VS a later row brings.
    let mut rows: Vec<&PreviewRow> = preview.rows.iter().collect();
    rows.sort_by_key(|r| {
        r.member
            .as_ref()
            .is_none_or(|m| m.variable_symbol.is_none())
    });
    for row in rows {
        let Some(member) = &row.member else {
            return Err(ConfirmError::HasErrors);
        };
        let id = match &row.action {
            RowAction::Create => {
                let vs = match &member.variable_symbol {
                    Some(vs) => vs.clone(),
                    None => super::next_vs(tx, today).await?,
                };
                summary.created += 1;
                super::insert(tx, member, &vs, None, now).await?
            }
            RowAction::Unchanged { .. } => {
                summary.unchanged += 1;
                continue;
            }
            RowAction::Update { id, .. } => {
                summary.updated += 1;
                update_from_import(tx, *id, member, now).await?;
                *id
            }
            RowAction::Invalid => return Err(ConfirmError::HasErrors),
        };
        super::link_groups(tx, id, &member.groups, &mut groups).await?;
    }
    sqlx::query("DELETE FROM member_imports WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    audit::record(
        tx,
        actor,
        "member.imported",
        json!({ "file": preview.file_name, "created": summary.created, "updated": summary.updated, "unchanged": summary.unchanged }),
        now,
    )
    .await?;
    Ok(summary)
}

/// A re-imported row updates only the fields the file has (empty cells keep what is stored);
/// groups from the file are added to the member's groups.
async fn update_from_import(
    tx: &mut TenantTx,
    id: MemberId,
    m: &NewMember,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let query = sqlx::query(
        "UPDATE members SET name = $2, \
           variable_symbol = COALESCE($3, variable_symbol), vs_key = COALESCE($4, vs_key), \
           emails = CASE WHEN cardinality($5::text[]) = 0 THEN emails ELSE $5 END, \
           phone = COALESCE($6, phone), birth_date = COALESCE($7, birth_date), \
           joined_on = COALESCE($8, joined_on), note = COALESCE($9, note), updated_at = $10 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(&m.name)
    .bind(m.variable_symbol.as_ref().map(VariableSymbol::as_str))
    .bind(m.variable_symbol.as_ref().map(VariableSymbol::key));
    super::bind_details(query, m)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Drops a pending upload. `false` when it did not exist.
pub async fn discard(tx: &mut TenantTx, id: ImportId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM member_imports WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The demo member list (docs/demo-members.csv), whose VS are the ones the built-in KB
/// sandbox pays with (`kb_sandbox::generator`, member VS `2025001` + n, and the control page's
/// default `2025001`).
pub const DEMO_CSV: &[u8] = include_bytes!("../../docs/demo-members.csv");

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Příjmení;Jméno;VS;E-mail;Telefon;Datum narození;Skupina;Poznámka\r\n\
        Nováková;Eva;0024;eva@example.cz;+420 777 123 456;1.2.2010;žáci;\"Platí; za sestru\"\r\n\
        Dvořák;Petr;2026001;petr@example.cz;4,20777E+11;29.02.2008;dospělí;\"Řekl \"\"ano\"\"\"\r\n\
        ;;;;;;;\r\n";

    #[test]
    fn the_same_list_as_utf8_with_bom_and_as_windows_1250_reads_the_same() {
        let utf8: Vec<u8> = [&[0xEF, 0xBB, 0xBF][..], SAMPLE.as_bytes()].concat();
        let (cp1250, _, unmappable) = encoding_rs::WINDOWS_1250.encode(SAMPLE);
        assert!(!unmappable);
        let (a, enc_a) = decode(&utf8).expect("utf-8");
        let (b, enc_b) = decode(&cp1250).expect("windows-1250");
        assert_eq!(enc_a, TextEncoding::Utf8Bom);
        assert_eq!(enc_b, TextEncoding::Windows1250);
        assert_eq!(a, b);
        let table = read_table(&a, detect_delimiter(&a)).expect("table");
        assert_eq!(table.rows.len(), 2, "the empty trailing row is skipped");
        assert_eq!(table.rows[0].1[7], "Platí; za sestru");
        assert_eq!(table.rows[1].1[7], "Řekl \"ano\"");
    }

    #[test]
    fn czech_and_english_headers_are_mapped_and_a_lone_jmeno_is_the_full_name() {
        let headers: Vec<String> = [
            "Příjmení",
            "Jméno",
            "VS",
            "E-mail",
            "Telefon",
            "Datum narození",
            "Skupina",
            "Poznámka",
            "Něco",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            guess_mapping(&headers),
            [
                Field::LastName,
                Field::FirstName,
                Field::Vs,
                Field::Emails,
                Field::Phone,
                Field::BirthDate,
                Field::Groups,
                Field::Note,
                Field::Ignore
            ]
        );
        let lone: Vec<String> = vec!["Jméno".into(), "Variabilní symbol".into(), "Email".into()];
        assert_eq!(
            guess_mapping(&lone),
            [Field::Name, Field::Vs, Field::Emails]
        );
        let english: Vec<String> = vec![
            "First name".into(),
            "Last name".into(),
            "Date of birth".into(),
        ];
        assert_eq!(
            guess_mapping(&english),
            [Field::FirstName, Field::LastName, Field::BirthDate]
        );
    }

    #[test]
    fn rows_are_numbered_as_the_spreadsheet_shows_them_from_2_under_the_header() {
        let table = read_table(
            "Jméno;VS\r\nJana;1\r\n\"Petr\r\nNovák\";2\r\n;\r\nEva;3\r\n",
            b';',
        )
        .expect("table");
        let rows: Vec<u64> = table.rows.iter().map(|(row, _)| *row).collect();
        assert_eq!(rows, [2, 3, 5], "a cell with a line break is one row");
        let problem = RowProblem {
            field: "variable_symbol",
            key: "members.import.err.duplicate_vs",
            other_line: Some(2),
            max: None,
        };
        assert_eq!(
            problem.message(crate::i18n::Lang::Cs),
            "Stejný VS je v souboru vícekrát (viz řádek 2)."
        );
    }

    #[test]
    fn broken_files_are_refused_as_a_whole() {
        assert_eq!(decode(b"").map(|_| ()), Err(FileError::Empty));
        assert_eq!(decode(b" \r\n").map(|_| ()), Err(FileError::Empty));
        // UTF-16 with a BOM, and binary.
        assert_eq!(
            decode(&[0xFF, 0xFE, b'a', 0]).map(|_| ()),
            Err(FileError::Encoding)
        );
        assert_eq!(
            decode(&[b'a', 0, b'b', 0]).map(|_| ()),
            Err(FileError::Encoding)
        );
        // 0x98 is undefined in windows-1250.
        assert_eq!(
            decode(&[b'a', 0x98, b'b']).map(|_| ()),
            Err(FileError::Encoding)
        );
        assert_eq!(
            decode(&vec![b'a'; MAX_UPLOAD_BYTES + 1]).map(|_| ()),
            Err(FileError::TooLarge)
        );
        assert_eq!(
            read_table("Jméno;VS\r\n", b';').map(|_| ()),
            Err(FileError::NoRows)
        );
        assert!(matches!(
            read_table("Jméno;VS\r\n\"Eva;1\r\n", b';'),
            Err(FileError::Malformed { .. }) | Ok(_)
        ));
        assert_eq!(detect_delimiter("name,vs,email\n"), b',');
        assert_eq!(detect_delimiter("Jméno;VS\n"), b';');
    }

    #[test]
    fn a_mapping_needs_a_name_and_no_field_twice() {
        assert_eq!(check_mapping(&[Field::Vs]), [MappingProblem::MissingName]);
        assert_eq!(
            check_mapping(&[Field::Name, Field::Emails, Field::Emails]),
            [MappingProblem::Duplicate(Field::Emails)]
        );
        assert!(
            check_mapping(&[
                Field::FirstName,
                Field::LastName,
                Field::Ignore,
                Field::Ignore
            ])
            .is_empty()
        );
    }

    #[test]
    fn czech_member_texts_decline_kasa_after_prepositions() {
        let texts = include_str!("../../locales/members.yml");
        for wrong in [
            "v Kasa", "do Kasa", "z Kasa", "ze Kasa", "ke Kasa", "s Kasa", "o Kasa", "na Kasa",
        ] {
            assert!(
                !texts.contains(wrong),
                "“{wrong}”: v Kase, do Kasy, s Kasou…"
            );
        }
        assert!(texts.contains("v Kase jsou"));
    }

    #[test]
    fn the_demo_list_is_plain_utf8_with_the_sandbox_vs() {
        let (text, encoding) = decode(DEMO_CSV).expect("demo decodes");
        assert_eq!(encoding, TextEncoding::Utf8);
        let table = read_table(&text, detect_delimiter(&text)).expect("demo reads");
        let mapping = guess_mapping(&table.headers);
        assert!(check_mapping(&mapping).is_empty());
        let vs_col = mapping
            .iter()
            .position(|f| *f == Field::Vs)
            .expect("VS column");
        let vs: Vec<&str> = table.rows.iter().map(|(_, c)| c[vs_col].as_str()).collect();
        use kb_sandbox::generator::{DEMO_MEMBER_COUNT, DEMO_MEMBER_VS_FIRST};
        let expected: Vec<String> = (0..DEMO_MEMBER_COUNT)
            .map(|n| (DEMO_MEMBER_VS_FIRST + n).to_string())
            .collect();
        assert_eq!(
            vs, expected,
            "member n of every sandbox account pays with VS 2025001 + n"
        );
        assert!(vs.contains(&"2025001"), "the control page's default VS");
    }
}
