//! The club's members: the people who pay fees (not the teammates who run Kasa, see `team`).
//!
//! Owns the tenant tables `members`, `households`, `member_groups`, `member_group_links`,
//! `member_settings` and `member_imports` (migrations/tenant/0003_members.sql). Every function
//! takes the caller's [`TenantTx`]; every change writes the club's audit log in that transaction.
//! A member is never deleted, only archived, so payments and charges keep pointing at them.
//!
//! Variable symbols ([`VariableSymbol`]) are unique within the club *numerically* (`0024` and
//! `24` are the same VS), among members and household VS together (issue 8, "Members").

pub mod fields;
pub mod import;
pub mod vs;

pub use fields::Problem;
pub use vs::{VariableSymbol, vs_key};

use crate::audit::{self, Actor};
use crate::db::tenant::TenantTx;
use crate::form_token::FormToken;
use serde_json::json;
use std::collections::HashMap;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type, serde::Serialize, serde::Deserialize)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A member (row of `members`).
    MemberId
);
id_type!(
    /// A household: siblings linked by a guardian who pays for them (row of `households`).
    HouseholdId
);
id_type!(
    /// A group of members, e.g. "žáci", "dospělí" (row of `member_groups`).
    GroupId
);

/// Errors of member changes, by outcome.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such member (or household) in this club.
    #[error("not found")]
    NotFound,
    /// Another member already has this VS (numerically); `name` is theirs.
    #[error("variable symbol taken by {name}")]
    VsTaken { name: String },
    /// A household already has this VS.
    #[error("variable symbol taken by a household")]
    VsTakenByHousehold,
    /// The club's scheme is "imported": a VS must be entered.
    #[error("variable symbol required")]
    VsRequired,
    /// The scheme ran out of numbers (year + 999, or 10 digits).
    #[error("no free variable symbol")]
    VsExhausted,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Error {
    /// The form field and translation key of a user-facing error, `None` for database errors.
    pub fn field_problem(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Error::NotFound => None,
            Error::VsTaken { .. } => Some(("variable_symbol", "members.err.vs_taken")),
            Error::VsTakenByHousehold => {
                Some(("variable_symbol", "members.err.vs_taken_household"))
            }
            Error::VsRequired => Some(("variable_symbol", "members.err.vs_required")),
            Error::VsExhausted => Some(("variable_symbol", "members.err.vs_exhausted")),
            Error::Db(_) => None,
        }
    }
}

/// How the club gives a VS to a member entered without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VsScheme {
    /// The highest VS in use plus one (1, 2, 3, …).
    #[default]
    Sequential,
    /// The Prague year and a three-digit number: `2026001`, `2026002`, … (up to `2026999`).
    YearNumber,
    /// Only VS the club brings (imported or typed); none is assigned.
    Imported,
}

impl VsScheme {
    pub const ALL: [VsScheme; 3] = [
        VsScheme::Sequential,
        VsScheme::YearNumber,
        VsScheme::Imported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VsScheme::Sequential => "sequential",
            VsScheme::YearNumber => "year_number",
            VsScheme::Imported => "imported",
        }
    }

    pub fn parse(text: &str) -> Option<VsScheme> {
        VsScheme::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Translation key of the scheme's name.
    pub fn label_key(self) -> &'static str {
        match self {
            VsScheme::Sequential => "members.scheme.sequential",
            VsScheme::YearNumber => "members.scheme.year_number",
            VsScheme::Imported => "members.scheme.imported",
        }
    }
}

/// A member's fields as a form or an import row gives them, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewMember {
    pub name: String,
    /// `None`: assign one by the club's [`VsScheme`] (on create) or keep the current one (on edit).
    pub variable_symbol: Option<VariableSymbol>,
    /// Lowercased, deduplicated.
    pub emails: Vec<String>,
    pub phone: Option<String>,
    pub birth_date: Option<Date>,
    /// The date the member joined the club (Prague calendar date).
    pub joined_on: Option<Date>,
    pub note: Option<String>,
    /// Group names; groups that do not exist yet are created.
    pub groups: Vec<String>,
    pub household_id: Option<HouseholdId>,
}

/// The raw texts of a member form (or of one import row), as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct MemberForm {
    pub name: String,
    pub variable_symbol: String,
    pub emails: String,
    pub phone: String,
    pub birth_date: String,
    pub joined_on: String,
    pub note: String,
    pub groups: String,
    pub household_id: String,
    /// The new-member form's one-time token ([`FormToken`]); ignored on edits.
    pub form_token: String,
}

/// Problems per form field (`field`, [`Problem`]); empty when the form is fine.
pub type FieldProblems = Vec<(&'static str, Problem)>;

impl NewMember {
    /// Validates a form: every field is parsed by [`fields`], every problem reported at once.
    pub fn parse(form: &MemberForm) -> Result<NewMember, FieldProblems> {
        let mut problems = FieldProblems::new();
        let mut check = |field: &'static str, r: Result<(), Problem>| {
            if let Err(p) = r {
                problems.push((field, p));
            }
        };
        let mut out = NewMember::default();
        check("name", fields::name(&form.name).map(|v| out.name = v));
        check(
            "variable_symbol",
            fields::vs(&form.variable_symbol).map(|v| out.variable_symbol = v),
        );
        check(
            "emails",
            fields::emails(&form.emails).map(|v| out.emails = v),
        );
        check("phone", fields::phone(&form.phone).map(|v| out.phone = v));
        check(
            "birth_date",
            fields::date(&form.birth_date).map(|v| out.birth_date = v),
        );
        check(
            "joined_on",
            fields::date(&form.joined_on).map(|v| out.joined_on = v),
        );
        check("note", fields::text(&form.note).map(|v| out.note = v));
        check(
            "groups",
            fields::groups(&form.groups).map(|v| out.groups = v),
        );
        if let (Some(born), Some(joined)) = (out.birth_date, out.joined_on)
            && joined < born
        {
            problems.push(("joined_on", Problem::JoinedBeforeBirth));
        }
        let household = form.household_id.trim();
        if !household.is_empty() {
            match Uuid::parse_str(household) {
                Ok(id) => out.household_id = Some(HouseholdId(id)),
                Err(_) => problems.push(("household_id", Problem::Required)),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }
}

/// A member as stored, with group names and household.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    /// As entered (leading zeros kept).
    pub variable_symbol: String,
    pub household_id: Option<HouseholdId>,
    pub household_name: Option<String>,
    pub archived_at: Option<OffsetDateTime>,
    pub emails: Vec<String>,
    pub phone: Option<String>,
    pub birth_date: Option<Date>,
    pub joined_on: Option<Date>,
    pub note: Option<String>,
    /// Group names, alphabetical.
    pub groups: Vec<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Member {
    pub fn archived(&self) -> bool {
        self.archived_at.is_some()
    }

    /// The member's fields as a pre-filled form: dates Czech (`7. 10. 2015`, as the rest of
    /// the app shows them and [`fields::date`] reads them back), lists comma-separated.
    pub fn to_form(&self) -> MemberForm {
        let day = |d: Option<Date>| d.map(crate::i18n::input_day).unwrap_or_default();
        MemberForm {
            name: self.name.clone(),
            variable_symbol: self.variable_symbol.clone(),
            emails: self.emails.join(", "),
            phone: self.phone.clone().unwrap_or_default(),
            birth_date: day(self.birth_date),
            joined_on: day(self.joined_on),
            note: self.note.clone().unwrap_or_default(),
            groups: self.groups.join(", "),
            household_id: self.household_id.map(|h| h.to_string()).unwrap_or_default(),
            form_token: String::new(),
        }
    }
}

const MEMBER_SELECT: &str = "SELECT m.id, m.name, m.variable_symbol, m.household_id, \
     h.name AS household_name, m.archived_at, m.emails, m.phone, m.birth_date, m.joined_on, m.note, \
     COALESCE(ARRAY(SELECT g.name FROM member_group_links l JOIN member_groups g ON g.id = l.group_id \
       WHERE l.member_id = m.id ORDER BY lower(g.name)), '{}') AS groups, \
     m.created_at, m.updated_at \
     FROM members m LEFT JOIN households h ON h.id = m.household_id";

/// One member, or `None` if the id is not this club's.
pub async fn get(tx: &mut TenantTx, id: MemberId) -> Result<Option<Member>, sqlx::Error> {
    sqlx::query_as(&format!("{MEMBER_SELECT} WHERE m.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Which members a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Active,
    Archived,
    All,
}

impl StatusFilter {
    pub fn parse(text: &str) -> StatusFilter {
        match text {
            "archived" => StatusFilter::Archived,
            "all" => StatusFilter::All,
            _ => StatusFilter::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Active => "active",
            StatusFilter::Archived => "archived",
            StatusFilter::All => "all",
        }
    }
}

/// A search of the member list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Part of a name or an e-mail (case-insensitive), or a VS (numerically equal).
    pub query: String,
    pub group: Option<GroupId>,
    pub status: StatusFilter,
}

/// At most this many members are listed at once (the search narrows the rest).
pub const LIST_LIMIT: i64 = 1_000;

/// The order of member lists: by surname (the last word of the name), then the whole name, in
/// Czech collation (`ch` after `h`, `č` after `c`, accents otherwise secondary) via PostgreSQL's
/// ICU collation `cs-CZ-x-icu` (Debian's PostgreSQL is built with ICU).
const BY_SURNAME: &str = "regexp_replace(m.name, '^.*\\s', '') COLLATE \"cs-CZ-x-icu\", \
     m.name COLLATE \"cs-CZ-x-icu\"";

/// Members matching `filter`, by surname then name in Czech order ([`BY_SURNAME`]); at most
/// [`LIST_LIMIT`].
pub async fn list(tx: &mut TenantTx, filter: &Filter) -> Result<Vec<Member>, sqlx::Error> {
    let query = filter.query.trim();
    let like = format!(
        "%{}%",
        query
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let vs_key = VariableSymbol::parse(query)
        .ok()
        .flatten()
        .map(|v| v.key().to_owned());
    sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE ($1 = '' OR lower(m.name) LIKE $2 OR m.vs_key = $3 \
           OR EXISTS (SELECT 1 FROM unnest(m.emails) e WHERE e LIKE $2)) \
         AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM member_group_links l \
           WHERE l.member_id = m.id AND l.group_id = $4)) \
         AND ($5 = 'all' OR ($5 = 'active') = (m.archived_at IS NULL)) \
         ORDER BY {BY_SURNAME}, m.id LIMIT $6"
    ))
    .bind(query)
    .bind(like)
    .bind(vs_key)
    .bind(filter.group)
    .bind(filter.status.as_str())
    .bind(LIST_LIMIT)
    .fetch_all(&mut **tx)
    .await
}

/// Number of active and archived members.
pub async fn counts(tx: &mut TenantTx) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE archived_at IS NULL), count(*) FILTER (WHERE archived_at IS NOT NULL) FROM members",
    )
    .fetch_one(&mut **tx)
    .await
}

/// What the member list page shows: the filtered members, the groups and households, the
/// counts of active and archived members, and the VS scheme.
#[derive(Debug, Clone)]
pub struct Overview {
    pub members: Vec<Member>,
    pub groups: Vec<Group>,
    pub households: Vec<Household>,
    pub active_count: i64,
    pub archived_count: i64,
    pub scheme: VsScheme,
}

/// The member list page's data for `filter`.
pub async fn overview(tx: &mut TenantTx, filter: &Filter) -> Result<Overview, sqlx::Error> {
    let members = list(tx, filter).await?;
    let groups = groups(tx).await?;
    let households = households(tx).await?;
    let (active_count, archived_count) = counts(tx).await?;
    let scheme = vs_scheme(tx).await?;
    Ok(Overview {
        members,
        groups,
        households,
        active_count,
        archived_count,
        scheme,
    })
}

/// A group with its number of active members.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub active_members: i64,
}

/// The club's groups, alphabetical.
pub async fn groups(tx: &mut TenantTx) -> Result<Vec<Group>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id, g.name, count(m.id) AS active_members FROM member_groups g \
         LEFT JOIN member_group_links l ON l.group_id = g.id \
         LEFT JOIN members m ON m.id = l.member_id AND m.archived_at IS NULL \
         GROUP BY g.id, g.name ORDER BY lower(g.name)",
    )
    .fetch_all(&mut **tx)
    .await
}

/// A household as listed in the member form.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Household {
    pub id: HouseholdId,
    pub name: String,
    pub variable_symbol: Option<String>,
    pub guardian_member_id: Option<MemberId>,
    pub guardian_name: Option<String>,
}

/// The club's households, by name.
pub async fn households(tx: &mut TenantTx) -> Result<Vec<Household>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, variable_symbol, guardian_member_id, guardian_name FROM households \
         ORDER BY lower(name), id",
    )
    .fetch_all(&mut **tx)
    .await
}

/// A new household: siblings paid for together by a guardian.
#[derive(Debug, Clone, Default)]
pub struct NewHousehold {
    pub name: String,
    /// The VS the guardian pays with for everyone; unique against members' VS too.
    pub variable_symbol: Option<VariableSymbol>,
    /// The guardian when they are a member themselves.
    pub guardian_member_id: Option<MemberId>,
    /// The guardian's name when they are not a member.
    pub guardian_name: Option<String>,
}

/// Creates a household. Errors: [`Error::VsTaken`] / [`Error::VsTakenByHousehold`] when its VS
/// is in use, [`Error::NotFound`] for an unknown guardian.
pub async fn create_household(
    tx: &mut TenantTx,
    actor: &Actor,
    input: &NewHousehold,
    now: OffsetDateTime,
) -> Result<HouseholdId, Error> {
    lock_vs(tx).await?;
    if let Some(vs) = &input.variable_symbol {
        ensure_vs_free(tx, vs, None).await?;
    }
    if let Some(guardian) = input.guardian_member_id {
        get(tx, guardian).await?.ok_or(Error::NotFound)?;
    }
    let id = HouseholdId(Uuid::now_v7());
    sqlx::query(
        "INSERT INTO households (id, name, variable_symbol, vs_key, guardian_member_id, guardian_name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(&input.name)
    .bind(input.variable_symbol.as_ref().map(VariableSymbol::as_str))
    .bind(input.variable_symbol.as_ref().map(VariableSymbol::key))
    .bind(input.guardian_member_id)
    .bind(&input.guardian_name)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    audit::record(
        tx,
        actor,
        "member.household_created",
        json!({ "household": id, "name": input.name, "variable_symbol": input.variable_symbol.as_ref().map(VariableSymbol::as_str) }),
        now,
    )
    .await?;
    Ok(id)
}

/// The club's VS scheme.
pub async fn vs_scheme(tx: &mut TenantTx) -> Result<VsScheme, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT vs_scheme FROM member_settings")
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.and_then(|(s,)| VsScheme::parse(&s)).unwrap_or_default())
}

/// Changes the club's VS scheme (existing VS stay as they are).
pub async fn set_vs_scheme(
    tx: &mut TenantTx,
    actor: &Actor,
    scheme: VsScheme,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO member_settings (singleton, vs_scheme) VALUES (true, $1) \
         ON CONFLICT (singleton) DO UPDATE SET vs_scheme = EXCLUDED.vs_scheme",
    )
    .bind(scheme.as_str())
    .execute(&mut **tx)
    .await?;
    audit::record(
        tx,
        actor,
        "member.vs_scheme_changed",
        json!({ "scheme": scheme.as_str() }),
        now,
    )
    .await
}

/// Serialises VS assignment and uniqueness checks within the club (transaction-scoped lock).
async fn lock_vs(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), 3)")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Checks that no member other than `except` and no household uses `vs` (numerically).
async fn ensure_vs_free(
    tx: &mut TenantTx,
    vs: &VariableSymbol,
    except: Option<MemberId>,
) -> Result<(), Error> {
    let member: Option<(String,)> =
        sqlx::query_as("SELECT name FROM members WHERE vs_key = $1 AND id IS DISTINCT FROM $2")
            .bind(vs.key())
            .bind(except)
            .fetch_optional(&mut **tx)
            .await?;
    if let Some((name,)) = member {
        return Err(Error::VsTaken { name });
    }
    let household: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM households WHERE vs_key = $1")
        .bind(vs.key())
        .fetch_optional(&mut **tx)
        .await?;
    if household.is_some() {
        return Err(Error::VsTakenByHousehold);
    }
    Ok(())
}

/// The next free VS by the club's scheme, for a member entered without one.
/// `today` is the Prague calendar date (its year feeds [`VsScheme::YearNumber`]).
async fn next_vs(tx: &mut TenantTx, today: Date) -> Result<VariableSymbol, Error> {
    match vs_scheme(tx).await? {
        VsScheme::Imported => Err(Error::VsRequired),
        VsScheme::Sequential => {
            let (max,): (Option<i64>,) = sqlx::query_as(
                "SELECT max(k::bigint) FROM (SELECT vs_key AS k FROM members \
                 UNION ALL SELECT vs_key FROM households WHERE vs_key IS NOT NULL) s",
            )
            .fetch_one(&mut **tx)
            .await?;
            let next = u64::try_from(max.unwrap_or(0)).unwrap_or(0) + 1;
            VariableSymbol::from_number(next).ok_or(Error::VsExhausted)
        }
        VsScheme::YearNumber => {
            let year = u64::try_from(today.year()).unwrap_or(0);
            let (low, high) = (year * 1000 + 1, year * 1000 + 999);
            let (max,): (Option<i64>,) = sqlx::query_as(
                "SELECT max(k::bigint) FROM (SELECT vs_key AS k FROM members \
                 UNION ALL SELECT vs_key FROM households WHERE vs_key IS NOT NULL) s \
                 WHERE length(k) = 7 AND k::bigint BETWEEN $1 AND $2",
            )
            .bind(i64::try_from(low).unwrap_or(i64::MAX))
            .bind(i64::try_from(high).unwrap_or(i64::MAX))
            .fetch_one(&mut **tx)
            .await?;
            let next = max.map_or(low, |m| u64::try_from(m).unwrap_or(high) + 1);
            if next > high {
                return Err(Error::VsExhausted);
            }
            VariableSymbol::from_number(next).ok_or(Error::VsExhausted)
        }
    }
}

/// What [`create`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new member.
    New(MemberId),
    /// The form (its one-time token) was already submitted: the member it created then.
    Earlier(MemberId),
}

impl Created {
    pub fn id(self) -> MemberId {
        match self {
            Created::New(id) | Created::Earlier(id) => id,
        }
    }
}

/// Creates a member. Without a VS one is assigned by the club's scheme. With a form token that
/// an earlier submit already used, nothing is created and that member is returned
/// ([`Created::Earlier`]). Errors: [`Error::VsTaken`], [`Error::VsTakenByHousehold`],
/// [`Error::VsRequired`], [`Error::VsExhausted`], [`Error::NotFound`] (unknown household).
pub async fn create(
    tx: &mut TenantTx,
    actor: &Actor,
    input: &NewMember,
    form_token: Option<&FormToken>,
    now: OffsetDateTime,
) -> Result<Created, Error> {
    // The lock serialises creation in the club, so a concurrent second submit waits for the
    // first one's commit and then finds its row.
    lock_vs(tx).await?;
    if let Some(token) = form_token {
        let earlier: Option<(MemberId,)> =
            sqlx::query_as("SELECT id FROM members WHERE form_token = $1")
                .bind(token.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        if let Some((id,)) = earlier {
            return Ok(Created::Earlier(id));
        }
    }
    let vs = match &input.variable_symbol {
        Some(vs) => {
            ensure_vs_free(tx, vs, None).await?;
            vs.clone()
        }
        None => next_vs(tx, crate::i18n::to_prague(now).date()).await?,
    };
    ensure_household(tx, input.household_id).await?;
    let id = insert(tx, input, &vs, form_token, now).await?;
    set_groups(tx, id, &input.groups).await?;
    audit::record(
        tx,
        actor,
        "member.created",
        json!({ "member": id, "name": input.name, "variable_symbol": vs.as_str() }),
        now,
    )
    .await?;
    Ok(Created::New(id))
}

/// Inserts the member row with `vs` (checked free by the caller); groups are the caller's.
async fn insert(
    tx: &mut TenantTx,
    input: &NewMember,
    vs: &VariableSymbol,
    form_token: Option<&FormToken>,
    now: OffsetDateTime,
) -> Result<MemberId, sqlx::Error> {
    let id = MemberId(Uuid::now_v7());
    let query = sqlx::query(
        "INSERT INTO members (id, name, variable_symbol, vs_key, household_id, emails, phone, \
           birth_date, joined_on, note, created_at, updated_at, form_token) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
    )
    .bind(id)
    .bind(&input.name)
    .bind(vs.as_str())
    .bind(vs.key())
    .bind(input.household_id);
    bind_details(query, input)
        .bind(now)
        .bind(form_token.map(FormToken::as_str))
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// A statement on `members` under way.
type MemberQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the member's details (`emails`, `phone`, `birth_date`, `joined_on`, `note`) to the
/// next five parameters of `query`: the order every statement that writes them uses.
fn bind_details<'q>(query: MemberQuery<'q>, m: &'q NewMember) -> MemberQuery<'q> {
    query
        .bind(&m.emails)
        .bind(&m.phone)
        .bind(m.birth_date)
        .bind(m.joined_on)
        .bind(&m.note)
}

/// Changes a member's fields (a `None` VS keeps the current one). Errors as [`create`], and
/// [`Error::NotFound`] for an id that is not this club's.
pub async fn update(
    tx: &mut TenantTx,
    actor: &Actor,
    id: MemberId,
    input: &NewMember,
    now: OffsetDateTime,
) -> Result<(), Error> {
    lock_vs(tx).await?;
    let before = get(tx, id).await?.ok_or(Error::NotFound)?;
    let vs = match &input.variable_symbol {
        Some(vs) => {
            ensure_vs_free(tx, vs, Some(id)).await?;
            vs.as_str().to_owned()
        }
        None => before.variable_symbol.clone(),
    };
    let key = VariableSymbol::parse(&vs)
        .ok()
        .flatten()
        .map(|v| v.key().to_owned())
        .unwrap_or_default();
    ensure_household(tx, input.household_id).await?;
    let query = sqlx::query(
        "UPDATE members SET name = $2, variable_symbol = $3, vs_key = $4, household_id = $5, \
           emails = $6, phone = $7, birth_date = $8, joined_on = $9, note = $10, updated_at = $11 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(&input.name)
    .bind(&vs)
    .bind(&key)
    .bind(input.household_id);
    bind_details(query, input)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    set_groups(tx, id, &input.groups).await?;
    let changed = changed_fields(&before, input, &vs);
    // Old and new values only for what the log already holds elsewhere (name, VS, e-mails,
    // household); other fields are named, not copied.
    let mut values = serde_json::Map::new();
    if before.name != input.name {
        values.insert("name".into(), json!([before.name, input.name]));
    }
    if before.variable_symbol != vs {
        values.insert(
            "variable_symbol".into(),
            json!([before.variable_symbol, vs]),
        );
    }
    if before.emails != input.emails {
        values.insert("emails".into(), json!([before.emails, input.emails]));
    }
    if before.household_id != input.household_id {
        values.insert(
            "household".into(),
            json!([before.household_id, input.household_id]),
        );
    }
    let mut details = json!({ "member": id, "name": input.name, "changed": changed });
    if !values.is_empty() {
        details["values"] = serde_json::Value::Object(values);
    }
    audit::record(tx, actor, "member.updated", details, now).await?;
    Ok(())
}

/// The names of the fields (as in [`MemberForm`]) an edit changes, in form order; `vs` is the
/// VS the member will have. Groups compare case-insensitively and in any order.
fn changed_fields(before: &Member, input: &NewMember, vs: &str) -> Vec<&'static str> {
    let lower_sorted = |groups: &[String]| {
        let mut g: Vec<String> = groups.iter().map(|g| g.to_lowercase()).collect();
        g.sort();
        g
    };
    [
        ("name", before.name != input.name),
        ("variable_symbol", before.variable_symbol != vs),
        ("emails", before.emails != input.emails),
        ("phone", before.phone != input.phone),
        ("birth_date", before.birth_date != input.birth_date),
        ("joined_on", before.joined_on != input.joined_on),
        ("note", before.note != input.note),
        (
            "groups",
            lower_sorted(&before.groups) != lower_sorted(&input.groups),
        ),
        ("household_id", before.household_id != input.household_id),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}

async fn ensure_household(tx: &mut TenantTx, id: Option<HouseholdId>) -> Result<(), Error> {
    if let Some(id) = id {
        let found: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM households WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        found.ok_or(Error::NotFound)?;
    }
    Ok(())
}

/// Replaces a member's groups by `names`, creating groups that do not exist (case-insensitive).
async fn set_groups(tx: &mut TenantTx, id: MemberId, names: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM member_group_links WHERE member_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    link_groups(tx, id, names, &mut HashMap::new()).await
}

/// Adds member `id` to the groups named `names` (any case), creating the ones that do not exist
/// yet. `known`: groups already found, by lowercased name; those found or created here are added.
async fn link_groups(
    tx: &mut TenantTx,
    id: MemberId,
    names: &[String],
    known: &mut HashMap<String, GroupId>,
) -> Result<(), sqlx::Error> {
    for name in names {
        let group = match known.get(&name.to_lowercase()) {
            Some(g) => *g,
            None => {
                let g = group_named(tx, name).await?;
                known.insert(name.to_lowercase(), g);
                g
            }
        };
        sqlx::query(
            "INSERT INTO member_group_links (member_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(group)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The group called `name` (any case), created if there is none.
async fn group_named(tx: &mut TenantTx, name: &str) -> Result<GroupId, sqlx::Error> {
    let existing: Option<(GroupId,)> =
        sqlx::query_as("SELECT id FROM member_groups WHERE lower(name) = lower($1)")
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?;
    if let Some((g,)) = existing {
        return Ok(g);
    }
    let g = GroupId(Uuid::now_v7());
    sqlx::query("INSERT INTO member_groups (id, name) VALUES ($1, $2)")
        .bind(g)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(g)
}

/// Archives a member (kept with their VS and history; no new charges). Idempotent.
/// Error: [`Error::NotFound`].
pub async fn archive(
    tx: &mut TenantTx,
    actor: &Actor,
    id: MemberId,
    now: OffsetDateTime,
) -> Result<(), Error> {
    set_archived(tx, actor, id, Some(now), now).await
}

/// Restores an archived member. Idempotent. Error: [`Error::NotFound`].
pub async fn restore(
    tx: &mut TenantTx,
    actor: &Actor,
    id: MemberId,
    now: OffsetDateTime,
) -> Result<(), Error> {
    set_archived(tx, actor, id, None, now).await
}

async fn set_archived(
    tx: &mut TenantTx,
    actor: &Actor,
    id: MemberId,
    archived_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let row: Option<(String, Option<OffsetDateTime>)> =
        sqlx::query_as("SELECT name, archived_at FROM members WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    let (name, was) = row.ok_or(Error::NotFound)?;
    if was.is_some() == archived_at.is_some() {
        return Ok(());
    }
    sqlx::query("UPDATE members SET archived_at = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(archived_at)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let action = if archived_at.is_some() {
        "member.archived"
    } else {
        "member.restored"
    };
    audit::record(
        tx,
        actor,
        action,
        json!({ "member": id, "name": name }),
        now,
    )
    .await?;
    Ok(())
}

/// A member as the payment matching sees them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MatchableMember {
    pub id: MemberId,
    pub name: String,
    /// Numeric form of the VS (leading zeros stripped), see [`VariableSymbol::key`].
    pub vs_key: String,
    pub household_id: Option<HouseholdId>,
    pub archived: bool,
}

/// A household as the payment matching sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MatchableHousehold {
    pub id: HouseholdId,
    pub name: String,
    /// Numeric form of the household VS, if it has one.
    pub vs_key: Option<String>,
    pub guardian_member_id: Option<MemberId>,
}

/// Every member (archived too, flagged) for payment matching, ordered by id.
pub async fn matching_directory(tx: &mut TenantTx) -> Result<Vec<MatchableMember>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, vs_key, household_id, archived_at IS NOT NULL AS archived \
         FROM members ORDER BY id",
    )
    .fetch_all(&mut **tx)
    .await
}

/// Every household for payment matching, ordered by id.
pub async fn matching_households(
    tx: &mut TenantTx,
) -> Result<Vec<MatchableHousehold>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, vs_key, guardian_member_id FROM households ORDER BY id")
        .fetch_all(&mut **tx)
        .await
}

/// The member whose VS equals `vs` numerically (archived members too), if any.
pub async fn find_by_vs(
    tx: &mut TenantTx,
    vs: &VariableSymbol,
) -> Result<Option<MemberId>, sqlx::Error> {
    let row: Option<(MemberId,)> = sqlx::query_as("SELECT id FROM members WHERE vs_key = $1")
        .bind(vs.key())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|(id,)| id))
}

/// Which of `ids` are groups of this club (another club's or unknown ids are left out).
pub async fn existing_groups(
    tx: &mut TenantTx,
    ids: &[GroupId],
) -> Result<Vec<GroupId>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|g| g.0).collect();
    let rows: Vec<(GroupId,)> =
        sqlx::query_as("SELECT id FROM member_groups WHERE id = ANY($1) ORDER BY id")
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows.into_iter().map(|(g,)| g).collect())
}

/// Changes when anything about the members changes (one more member, an edit, an archive, a
/// restore, an import): `count:latest update`. Callers compare it to skip work.
pub async fn change_mark(tx: &mut TenantTx) -> Result<String, sqlx::Error> {
    let (count, latest): (i64, Option<OffsetDateTime>) =
        sqlx::query_as("SELECT count(*), max(updated_at) FROM members")
            .fetch_one(&mut **tx)
            .await?;
    Ok(format!(
        "{count}:{}",
        latest.map(|t| t.unix_timestamp_nanos()).unwrap_or(0)
    ))
}

/// Who a payment can be assigned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PayerId {
    Member(MemberId),
    Household(HouseholdId),
}

/// A member or household as the payment pages list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payer {
    pub id: PayerId,
    pub name: String,
    /// The VS as entered (a household may have none).
    pub variable_symbol: Option<String>,
    /// Archived members are listed (old payments name them) but cannot be assigned new ones.
    pub archived: bool,
}

/// Every member and household, by name in Czech order (members' surname first, as lists).
pub async fn payers(tx: &mut TenantTx) -> Result<Vec<Payer>, sqlx::Error> {
    let members: Vec<(MemberId, String, String, bool)> = sqlx::query_as(&format!(
        "SELECT m.id, m.name, m.variable_symbol, m.archived_at IS NOT NULL FROM members m \
         ORDER BY {BY_SURNAME}, m.id"
    ))
    .fetch_all(&mut **tx)
    .await?;
    let households: Vec<(HouseholdId, String, Option<String>)> = sqlx::query_as(
        "SELECT id, name, variable_symbol FROM households \
         ORDER BY name COLLATE \"cs-CZ-x-icu\", id",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(members
        .into_iter()
        .map(|(id, name, vs, archived)| Payer {
            id: PayerId::Member(id),
            name,
            variable_symbol: Some(vs),
            archived,
        })
        .chain(households.into_iter().map(|(id, name, vs)| Payer {
            id: PayerId::Household(id),
            name,
            variable_symbol: vs,
            archived: false,
        }))
        .collect())
}

/// What a member's page shows. The fees helper extends this struct (charges, payments,
/// allocations, balance) and fills it in [`detail`]; the page template has a block for it.
#[derive(Debug, Clone)]
pub struct MemberDetail {
    pub member: Member,
    pub household: Option<Household>,
    /// The other members of the household (siblings), by name.
    pub household_members: Vec<(MemberId, String)>,
    // FEES: add charges, payments, allocations and balance here.
}

/// A member's page, or `None` if the id is not this club's.
pub async fn detail(tx: &mut TenantTx, id: MemberId) -> Result<Option<MemberDetail>, sqlx::Error> {
    let Some(member) = get(tx, id).await? else {
        return Ok(None);
    };
    let (household, household_members) = match member.household_id {
        Some(h) => {
            let household: Option<Household> = sqlx::query_as(
                "SELECT id, name, variable_symbol, guardian_member_id, guardian_name \
                 FROM households WHERE id = $1",
            )
            .bind(h)
            .fetch_optional(&mut **tx)
            .await?;
            let others: Vec<(MemberId, String)> = sqlx::query_as(
                "SELECT id, name FROM members WHERE household_id = $1 AND id <> $2 \
                 ORDER BY lower(name)",
            )
            .bind(h)
            .bind(id)
            .fetch_all(&mut **tx)
            .await?;
            (household, others)
        }
        None => (None, Vec::new()),
    };
    Ok(Some(MemberDetail {
        member,
        household,
        household_members,
    }))
}
