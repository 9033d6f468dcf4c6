//! The club's members: list with search and filters, create/edit, the member's page,
//! archive/restore, households, the VS scheme, and the CSV import (upload → columns and
//! preview → confirm). Viewers read; changes need [`ManageMoney`] (owner or treasurer).

use super::{Chrome, render, render_status};
use crate::audit::Actor;
use crate::db::tenant::TenantTx;
use crate::form_token::FormToken;
use crate::i18n::Lang;
use crate::member::import::{self, ConfirmError, Field, ImportId, Preview, RowAction, UploadError};
use crate::member::{
    self, Filter, Group, GroupId, Household, Member, MemberDetail, MemberForm, MemberId,
    NewHousehold, NewMember, StatusFilter, VsScheme,
};
use crate::team::{ManageMoney, Role, ViewClub};
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use crate::web::{AppState, paths};
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

fn actor(access: &ClubAccess<impl crate::team::Capability>) -> Actor {
    Actor {
        user_id: Some(access.user.id),
        email: Some(access.user.email.to_string()),
    }
}

fn member_id(raw: &str) -> Result<MemberId, AppError> {
    Uuid::parse_str(raw)
        .map(MemberId)
        .map_err(|_| AppError::NotFound)
}

fn import_id(raw: &str) -> Result<ImportId, AppError> {
    Uuid::parse_str(raw)
        .map(ImportId)
        .map_err(|_| AppError::NotFound)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub q: String,
    pub group: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "members/list.html")]
struct ListPage {
    c: Chrome,
    club_name: String,
    base: String,
    members: Vec<Member>,
    groups: Vec<Group>,
    households: Vec<Household>,
    query: String,
    group: String,
    status: String,
    active_count: i64,
    archived_count: i64,
    can_manage: bool,
    show_demo: bool,
    scheme: VsScheme,
    schemes: Vec<(&'static str, String)>,
    statuses: Vec<(&'static str, String)>,
    household_errors: FieldErrors,
    household_form: HouseholdForm,
}

impl ListPage {
    fn count(&self, key: &str, n: &i64) -> String {
        self.c.lang.t_count(key, *n)
    }
}

/// The member list: search by name, VS or e-mail; filter by group and status.
pub async fn list(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    list_with(
        &state,
        &access,
        query,
        StatusCode::OK,
        HouseholdForm::default(),
        FieldErrors::new(access.ctx.lang()),
    )
    .await
}

async fn list_with(
    state: &AppState,
    access: &ClubAccess<impl crate::team::Capability>,
    query: ListQuery,
    status: StatusCode,
    household_form: HouseholdForm,
    household_errors: FieldErrors,
) -> Result<Response, AppError> {
    let filter = Filter {
        query: member::fields::search(&query.q),
        group: Uuid::parse_str(&query.group).ok().map(GroupId),
        status: StatusFilter::parse(&query.status),
    };
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let overview = member::overview(&mut tx, &filter).await?;
    tx.commit().await?;
    let (active_count, archived_count) = (overview.active_count, overview.archived_count);
    let lang = access.ctx.lang();
    render_status(
        status,
        &ListPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            club_name: access.club_name.clone(),
            base: paths::members(access.tenant.key()),
            members: overview.members,
            groups: overview.groups,
            households: overview.households,
            query: query.q,
            group: query.group,
            status: filter.status.as_str().to_owned(),
            active_count,
            archived_count,
            can_manage: access.role >= Role::Treasurer,
            show_demo: state.kb_sandbox_url.is_some() || active_count + archived_count == 0,
            scheme: overview.scheme,
            schemes: VsScheme::ALL
                .iter()
                .map(|s| (s.as_str(), lang.t(s.label_key()).into_owned()))
                .collect(),
            statuses: [
                StatusFilter::Active,
                StatusFilter::Archived,
                StatusFilter::All,
            ]
            .iter()
            .map(|s| {
                let key = format!("members.status.{}", s.as_str());
                (s.as_str(), lang.t(&key).into_owned())
            })
            .collect(),
            household_errors,
            household_form,
        },
    )
}

#[derive(Template)]
#[template(path = "members/form.html")]
struct FormPage {
    c: Chrome,
    club_name: String,
    base: String,
    /// `None` for a new member.
    id: Option<MemberId>,
    form: MemberForm,
    errors: FieldErrors,
    households: Vec<Household>,
}

async fn form_page(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    id: Option<MemberId>,
    form: MemberForm,
    status: StatusCode,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let households = member::households(&mut tx).await?;
    tx.commit().await?;
    render_status(
        status,
        &FormPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            club_name: access.club_name.clone(),
            base: paths::members(access.tenant.key()),
            id,
            form,
            errors,
            households,
        },
    )
}

pub async fn new_form(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
) -> Result<Response, AppError> {
    let errors = FieldErrors::new(access.ctx.lang());
    let form = MemberForm {
        form_token: FormToken::new().as_str().to_owned(),
        ..MemberForm::default()
    };
    form_page(&state, &access, None, form, StatusCode::OK, errors).await
}

pub async fn edit_form(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = member_id(&id)?;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let found = member::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let errors = FieldErrors::new(access.ctx.lang());
    form_page(
        &state,
        &access,
        Some(id),
        found.to_form(),
        StatusCode::OK,
        errors,
    )
    .await
}

fn problems_to_errors(lang: Lang, problems: &member::FieldProblems) -> FieldErrors {
    let mut errors = FieldErrors::new(lang);
    for (field, problem) in problems {
        errors.add_text(field, problem.message(lang));
    }
    errors
}

/// Creates (`id` = `None`) or updates a member; 422 with field errors on bad input. A create
/// whose form token was already used (a double submit) shows the member it created then.
async fn save(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    id: Option<MemberId>,
    form: MemberForm,
) -> Result<Response, AppError> {
    let lang = access.ctx.lang();
    let input = match NewMember::parse(&form) {
        Ok(input) => input,
        Err(problems) => {
            let errors = problems_to_errors(lang, &problems);
            return form_page(
                state,
                access,
                id,
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
            )
            .await;
        }
    };
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let result = match id {
        None => {
            let token = FormToken::parse(&form.form_token);
            member::create(&mut tx, &actor(access), &input, token.as_ref(), state.now())
                .await
                .map(member::Created::id)
        }
        Some(id) => member::update(&mut tx, &actor(access), id, &input, state.now())
            .await
            .map(|()| id),
    };
    match result {
        Ok(saved) => {
            charge_as_changed(&mut tx, state).await?;
            tx.commit().await?;
            access.ctx.flash("members.saved").await;
            Ok(Redirect::to(&paths::member(access.tenant.key(), saved)).into_response())
        }
        Err(member::Error::NotFound) => Err(AppError::NotFound),
        Err(member::Error::Db(e)) => Err(e.into()),
        Err(e) => {
            tx.rollback().await?;
            let mut errors = FieldErrors::new(lang);
            if let Some((field, key)) = e.field_problem() {
                errors.add(field, key);
            }
            form_page(
                state,
                access,
                id,
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
            )
            .await
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Form(form): Form<MemberForm>,
) -> Result<Response, AppError> {
    save(&state, &access, None, form).await
}

pub async fn update(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
    Form(form): Form<MemberForm>,
) -> Result<Response, AppError> {
    let id = member_id(&id)?;
    save(&state, &access, Some(id), form).await
}

/// The member's-link part of a member's page (`templates/members/pay_link.html`).
pub struct LinkSection {
    pub lang: crate::i18n::Lang,
    /// Where "issue" posts (and, with `/revoke`, "revoke").
    pub action: String,
    pub issued_at: Option<time::OffsetDateTime>,
    /// The link just issued: shown once, never stored.
    pub new_link: Option<String>,
    /// The member has an e-mail address ("Poslat e-mailem" is offered with a new link).
    pub has_email: bool,
}

impl LinkSection {
    pub fn t(&self, key: &str) -> std::borrow::Cow<'static, str> {
        self.lang.t(key)
    }

    pub fn datetime(&self, at: &time::OffsetDateTime) -> String {
        crate::i18n::format_datetime(*at, self.lang)
    }
}

#[derive(Template)]
#[template(path = "members/detail.html")]
struct DetailPage {
    c: Chrome,
    club_name: String,
    base: String,
    detail: MemberDetail,
    can_manage: bool,
    /// Charges, payments, allocations and balance (`templates/payments/member_section.html`).
    fees: super::fees::FeeSection,
    /// The member's own page (`templates/members/pay_link.html`).
    pay_link: LinkSection,
    /// Whether the member gets fee reminders (`templates/members/reminders.html`).
    reminded: bool,
}

impl DetailPage {
    fn day(&self, d: &time::Date) -> String {
        crate::i18n::format_day(*d, self.c.lang)
    }
}

/// A member's page, with the member's fees (charges, payments, allocations, balance).
pub async fn detail(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = member_id(&id)?;
    detail_page(&state, &access, id, None).await
}

/// The member's page; `new_link` is the member's own link just issued (shown once).
pub(super) async fn detail_page(
    state: &AppState,
    access: &ClubAccess<impl crate::team::Capability>,
    id: MemberId,
    new_link: Option<String>,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let detail = member::detail(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let today = crate::i18n::to_prague(state.now()).date();
    let fees = super::fees::FeeSection::load(&mut tx, access.ctx.lang(), id.0, today).await?;
    let issued_at = crate::pay_link::issued_at(&mut tx, id).await?;
    let reminded = crate::reminder::member_reminded(&mut tx, id.0).await?;
    tx.commit().await?;
    let base = paths::members(access.tenant.key());
    render(&DetailPage {
        c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
        club_name: access.club_name.clone(),
        pay_link: LinkSection {
            lang: access.ctx.lang(),
            action: format!("{base}/{id}/pay-link"),
            issued_at,
            new_link,
            has_email: !detail.member.emails.is_empty(),
        },
        base,
        detail,
        can_manage: access.role >= Role::Treasurer,
        fees,
        reminded,
    })
}

/// A member change shows on the fee pages at once: the charges it calls for (the current
/// period's of a new, restored or re-grouped member) are created before the change commits
/// (`fee::generate_charges`, idempotent). Matching payments to them follows with the next sync
/// or "re-run matching".
async fn charge_as_changed(tx: &mut TenantTx, state: &AppState) -> Result<(), sqlx::Error> {
    let now = state.now();
    crate::fee::generate_charges(tx, crate::i18n::prague_date(now), now)
        .await
        .map(|_| ())
}

async fn set_archived(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    id: &str,
    archive: bool,
) -> Result<Response, AppError> {
    let id = member_id(id)?;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let result = if archive {
        member::archive(&mut tx, &actor(access), id, state.now()).await
    } else {
        member::restore(&mut tx, &actor(access), id, state.now()).await
    };
    match result {
        Ok(()) => {
            charge_as_changed(&mut tx, state).await?;
            tx.commit().await?;
            access
                .ctx
                .flash(if archive {
                    "members.archived_flash"
                } else {
                    "members.restored_flash"
                })
                .await;
            Ok(Redirect::to(&paths::member(access.tenant.key(), id)).into_response())
        }
        Err(member::Error::Db(e)) => Err(e.into()),
        Err(_) => Err(AppError::NotFound),
    }
}

pub async fn archive(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    set_archived(&state, &access, &id, true).await
}

pub async fn restore(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    set_archived(&state, &access, &id, false).await
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct HouseholdForm {
    pub name: String,
    pub variable_symbol: String,
    pub guardian_name: String,
}

/// Adds a household (name, optional shared VS, who pays).
pub async fn create_household(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Form(form): Form<HouseholdForm>,
) -> Result<Response, AppError> {
    let lang = access.ctx.lang();
    let mut errors = FieldErrors::new(lang);
    let name = member::fields::name(&form.name);
    let vs = member::fields::vs(&form.variable_symbol);
    let guardian = member::fields::text(&form.guardian_name);
    let mut input = NewHousehold::default();
    match (&name, &vs, &guardian) {
        (Ok(n), Ok(v), Ok(g)) => {
            input.name = n.clone();
            input.variable_symbol = v.clone();
            input.guardian_name = g.clone();
        }
        _ => {
            if let Err(p) = &name {
                errors.add("household_name", p.key());
            }
            if let Err(p) = &vs {
                errors.add("household_vs", p.key());
            }
            if let Err(p) = &guardian {
                errors.add("guardian_name", p.key());
            }
        }
    }
    if errors.is_empty() {
        let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
        match member::create_household(&mut tx, &actor(&access), &input, state.now()).await {
            Ok(_) => {
                tx.commit().await?;
                access.ctx.flash("members.saved").await;
                return Ok(Redirect::to(&paths::members(access.tenant.key())).into_response());
            }
            Err(member::Error::Db(e)) => return Err(e.into()),
            Err(e) => {
                tx.rollback().await?;
                if let Some((_, key)) = e.field_problem() {
                    errors.add("household_vs", key);
                }
            }
        }
    }
    list_with(
        &state,
        &access,
        ListQuery::default(),
        StatusCode::UNPROCESSABLE_ENTITY,
        form,
        errors,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SchemeForm {
    pub scheme: String,
}

/// Sets how VS are assigned to members entered without one.
pub async fn set_scheme(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Form(form): Form<SchemeForm>,
) -> Result<Response, AppError> {
    let Some(scheme) = VsScheme::parse(&form.scheme) else {
        return Err(AppError::NotFound);
    };
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    member::set_vs_scheme(&mut tx, &actor(&access), scheme, state.now()).await?;
    tx.commit().await?;
    access.ctx.flash("members.scheme_saved").await;
    Ok(Redirect::to(&paths::members(access.tenant.key())).into_response())
}

#[derive(Template)]
#[template(path = "members/import.html")]
struct UploadPage {
    c: Chrome,
    club_name: String,
    base: String,
    error: Option<String>,
}

async fn upload_page(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, AppError> {
    render_status(
        status,
        &UploadPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            club_name: access.club_name.clone(),
            base: paths::members(access.tenant.key()),
            error: error.map(|k| access.ctx.t(k).into_owned()),
        },
    )
}

pub async fn import_form(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
) -> Result<Response, AppError> {
    upload_page(&state, &access, StatusCode::OK, None).await
}

/// The request body limit of the upload route: the file limit plus room for the form's
/// framing, so a too-large file gets a clear message instead of a bare 413.
pub const UPLOAD_BODY_LIMIT: usize = import::MAX_UPLOAD_BYTES * 4;

/// Stores an uploaded CSV for preview (nothing is imported yet).
pub async fn upload(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut too_large = false;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("members.csv").to_owned();
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > import::MAX_UPLOAD_BYTES {
                        too_large = true;
                        break;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(_) => {
                    too_large = true;
                    break;
                }
            }
        }
        file = Some((name, bytes));
        break;
    }
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    if too_large {
        return upload_page(
            &state,
            &access,
            unprocessable,
            Some("members.import.err.too_large"),
        )
        .await;
    }
    let Some((name, bytes)) = file.filter(|(n, b)| !(n.is_empty() && b.is_empty())) else {
        return upload_page(
            &state,
            &access,
            unprocessable,
            Some("members.import.err.no_file"),
        )
        .await;
    };
    store_upload(&state, &access, &name, &bytes).await
}

async fn store_upload(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    name: &str,
    bytes: &[u8],
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    match import::upload(&mut tx, &actor(access), name, bytes, state.now()).await {
        Ok(id) => {
            tx.commit().await?;
            Ok(Redirect::to(&paths::member_import(access.tenant.key(), id)).into_response())
        }
        Err(UploadError::File(e)) => {
            tx.rollback().await?;
            upload_page(
                state,
                access,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(e.key()),
            )
            .await
        }
        Err(UploadError::Db(e)) => Err(e.into()),
    }
}

/// Loads the demo member list (docs/demo-members.csv) into a preview, to confirm like any import.
pub async fn demo(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
) -> Result<Response, AppError> {
    store_upload(&state, &access, "demo-members.csv", import::DEMO_CSV).await
}

#[derive(Template)]
#[template(path = "members/preview.html")]
struct PreviewPage {
    c: Chrome,
    club_name: String,
    base: String,
    preview: Preview,
    /// Rows shown: every row with an error, and the first rows without.
    shown: Vec<usize>,
    hidden_ok: i64,
    fields: Vec<(&'static str, String)>,
}

impl PreviewPage {
    fn count(&self, key: &str, n: &usize) -> String {
        self.c
            .lang
            .t_count(key, i64::try_from(*n).unwrap_or(i64::MAX))
    }

    fn more_rows(&self) -> String {
        self.c
            .lang
            .t_count("members.import.more_rows", self.hidden_ok)
    }

    fn selected(&self, col: &&usize, value: &str) -> bool {
        self.preview.mapping.get(**col).map(|f| f.as_str()) == Some(value)
    }

    fn field_label(&self, field: &str) -> String {
        self.c.t(&format!("members.field.{field}")).into_owned()
    }

    fn problem_text(&self, problem: &crate::member::import::RowProblem) -> String {
        problem.message(self.c.lang)
    }

    fn short(&self, text: &str) -> String {
        if text.chars().count() > 80 {
            format!("{}…", text.chars().take(80).collect::<String>())
        } else {
            text.to_owned()
        }
    }
}

/// Rows without errors shown in a preview (every row with an error is shown).
const PREVIEW_OK_ROWS: usize = 50;

async fn preview_page(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    id: ImportId,
    status: StatusCode,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let preview = import::preview(&mut tx, id, state.now()).await?;
    tx.commit().await?;
    let Some(preview) = preview else {
        return upload_page(
            state,
            access,
            StatusCode::NOT_FOUND,
            Some("members.import.expired"),
        )
        .await;
    };
    let mut shown = Vec::new();
    let mut ok_shown = 0;
    let mut hidden_ok = 0i64;
    for (i, row) in preview.rows.iter().enumerate() {
        if !row.problems.is_empty() {
            shown.push(i);
        } else if ok_shown < PREVIEW_OK_ROWS {
            shown.push(i);
            ok_shown += 1;
        } else {
            hidden_ok += 1;
        }
    }
    let lang = access.ctx.lang();
    render_status(
        status,
        &PreviewPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            club_name: access.club_name.clone(),
            base: paths::members(access.tenant.key()),
            preview,
            shown,
            hidden_ok,
            fields: Field::ALL
                .iter()
                .map(|f| (f.as_str(), lang.t(&f.label_key()).into_owned()))
                .collect(),
        },
    )
}

/// The mapping step and the preview with per-row errors.
pub async fn preview(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = import_id(&id)?;
    preview_page(&state, &access, id, StatusCode::OK).await
}

/// Sets the columns' meaning (`col` fields in column order) and shows the preview again.
pub async fn set_mapping(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let id = import_id(&id)?;
    let fields: Vec<String> = form
        .into_iter()
        .filter(|(k, _)| k == "col")
        .map(|(_, v)| v)
        .collect();
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let found = import::set_mapping(&mut tx, id, &fields, state.now()).await?;
    tx.commit().await?;
    if !found {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&paths::member_import(access.tenant.key(), id)).into_response())
}

/// Imports every row in one transaction, or nothing (422 with the preview while rows have errors).
pub async fn confirm(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = import_id(&id)?;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    match import::confirm(&mut tx, &actor(&access), id, state.now()).await {
        Ok(_summary) => {
            charge_as_changed(&mut tx, &state).await?;
            tx.commit().await?;
            access.ctx.flash("members.import.done").await;
            Ok(Redirect::to(&paths::members(access.tenant.key())).into_response())
        }
        Err(ConfirmError::NotFound) => Err(AppError::NotFound),
        Err(ConfirmError::Db(e)) | Err(ConfirmError::Member(member::Error::Db(e))) => Err(e.into()),
        Err(ConfirmError::HasErrors) | Err(ConfirmError::Member(_)) => {
            tx.rollback().await?;
            preview_page(&state, &access, id, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// Drops a pending upload.
pub async fn discard(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = import_id(&id)?;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let found = import::discard(&mut tx, id).await?;
    tx.commit().await?;
    if !found {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&paths::members(access.tenant.key())).into_response())
}
