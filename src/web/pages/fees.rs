//! Fee pages: schedules (list, create, edit), the fee overview of a period, a member's fees,
//! and the club's payment stamp the open overview polls.

use super::{Chrome, render, render_status};
use crate::audit::Actor;
use crate::db::tenant::{Tenant, TenantTx};
use crate::fee::tracking::PaymentsFrom;
use crate::fee::{self, AppliesTo, Period, Schedule, ScheduleDraft};
use crate::form_token::FormToken;
use crate::payment::overview::{self, Filter, Overview, Sort, Status};
use crate::payment::{self, views::MemberLedger};
use crate::team::{ManageMoney, Role, ViewClub};
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;
use time::Date;
use uuid::Uuid;

fn base(access: &ClubAccess<impl crate::team::Capability>) -> String {
    crate::web::paths::club(access.tenant.key())
}

fn actor(access: &ClubAccess<impl crate::team::Capability>) -> Actor {
    Actor {
        user_id: Some(access.user.id),
        email: Some(access.user.email.to_string()),
    }
}

/// Today in Prague.
fn today(state: &AppState) -> Date {
    crate::i18n::to_prague(state.now()).date()
}

/// The form body as pairs (repeated keys kept: group checkboxes).
fn pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn draft_of(body: &[u8]) -> ScheduleDraft {
    let mut d = ScheduleDraft::default();
    for (k, v) in pairs(body) {
        match k.as_str() {
            "name" => d.name = v,
            "amount" => d.amount = v,
            "period" => d.period = v,
            "due_day" => d.due_day = v,
            "grace_days" => d.grace_days = v,
            "applies_to" => d.applies_to = v,
            "starts_on" => d.starts_on = v,
            "group" => d.groups.push(v),
            "individuals" => d.individuals = v,
            "adjustments" => d.adjustments = v,
            "reminders" => d.reminders = Some(v),
            "reminder_steps" => d.reminder_steps = Some(v),
            "form_token" => d.form_token = v,
            _ => {}
        }
    }
    d
}

#[derive(Template)]
#[template(path = "fees/schedules.html")]
struct SchedulesPage {
    c: Chrome,
    base: String,
    schedules: Vec<Schedule>,
    /// "Payments count from": chosen and default.
    tracking: PaymentsFrom,
    /// The settings form's field as typed (or the chosen date, Czech).
    payments_from: String,
    errors: FieldErrors,
    can_manage: bool,
}

impl SchedulesPage {
    fn period_label(&self, s: &Schedule) -> String {
        self.c.t(&format!("fees.period.{}", s.period)).into_owned()
    }

    /// "15. den, tolerance 14 dní" / "day 15, 14 days' grace".
    fn due_label(&self, s: &Schedule) -> String {
        let grace = self
            .c
            .lang
            .t_count("fees.schedules.grace", i64::from(s.grace_days));
        self.c.lang.t_with(
            "fees.schedules.due",
            &[("day", &s.due_day.to_string()), ("grace", &grace)],
        )
    }

    fn day(&self, d: &Date) -> String {
        crate::i18n::format_day(*d, self.c.lang)
    }

    /// "výchozí (1. 1. 2026)", or "zatím nic" without schedules.
    fn default_label(&self) -> String {
        match self.tracking.default {
            Some(d) => self
                .c
                .lang
                .t_with("fees.tracking.default", &[("date", &self.day(&d))]),
            None => self.c.t("fees.tracking.none").into_owned(),
        }
    }
}

async fn schedules_page(
    state: &AppState,
    access: &ClubAccess<impl crate::team::Capability>,
    typed: Option<String>,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let schedules = fee::schedules(&mut tx).await?;
    let tracking = fee::tracking::payments_from(&mut tx).await?;
    tx.commit().await?;
    let payments_from = typed.unwrap_or_else(|| {
        tracking
            .chosen
            .map(crate::i18n::input_day)
            .unwrap_or_default()
    });
    render_status(
        status,
        &SchedulesPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            base: base(access),
            can_manage: access.role >= Role::Treasurer,
            schedules,
            tracking,
            payments_from,
            errors,
        },
    )
}

/// `GET /t/{club}/fees/schedules`: the schedules and the fee settings ("payments count from").
pub async fn schedules(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
) -> Result<Response, AppError> {
    let errors = FieldErrors::new(access.ctx.lang());
    schedules_page(&state, &access, None, errors, StatusCode::OK).await
}

/// The fee settings form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    /// A Czech or ISO date; empty for the default.
    pub payments_from: String,
}

/// `POST /t/{club}/fees/settings`: sets "payments count from" (audited) and matches again; a
/// bad date → 422 with the message at the field.
pub async fn save_settings(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    axum::Form(form): axum::Form<SettingsForm>,
) -> Result<Response, AppError> {
    let today = today(&state);
    let chosen = match fee::tracking::parse(&form.payments_from, today) {
        Ok(chosen) => chosen,
        Err(key) => {
            let mut errors = FieldErrors::new(access.ctx.lang());
            errors.add("payments_from", key);
            return schedules_page(
                &state,
                &access,
                Some(form.payments_from),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    payment::set_payments_from(&mut tx, &actor(&access), chosen, today, state.now()).await?;
    tx.commit().await?;
    access.ctx.flash("fees.flash.tracking_saved").await;
    Ok(Redirect::to(&format!("{}/fees/schedules", base(&access))).into_response())
}

#[derive(Template)]
#[template(path = "fees/schedule_form.html")]
struct ScheduleFormPage {
    c: Chrome,
    base: String,
    /// `None` for a new schedule.
    id: Option<Uuid>,
    form: ScheduleDraft,
    groups: Vec<(Uuid, String)>,
    errors: FieldErrors,
}

impl ScheduleFormPage {
    fn periods(&self) -> Vec<(&'static str, String)> {
        Period::ALL
            .iter()
            .map(|p| {
                (
                    p.as_str(),
                    self.c
                        .t(&format!("fees.period.{}", p.as_str()))
                        .into_owned(),
                )
            })
            .collect()
    }

    fn applies(&self) -> Vec<(&'static str, String)> {
        AppliesTo::ALL
            .iter()
            .map(|a| {
                (
                    a.as_str(),
                    self.c
                        .t(&format!("fees.applies.{}", a.as_str()))
                        .into_owned(),
                )
            })
            .collect()
    }

    fn reminders_on(&self) -> bool {
        self.form.reminders.as_deref() != Some("off")
    }

    /// The steps as typed, or the defaults for a form that never had them.
    fn reminder_steps(&self) -> String {
        self.form
            .reminder_steps
            .clone()
            .unwrap_or_else(|| fee::format_reminder_steps(&fee::DEFAULT_REMINDER_STEPS))
    }

    fn group_checked(&self, id: &Uuid) -> bool {
        self.form.groups.iter().any(|g| g == &id.to_string())
    }

    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("{}/fees/schedules/{id}", self.base),
            None => format!("{}/fees/schedules/new", self.base),
        }
    }
}

async fn form_page(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    id: Option<Uuid>,
    form: ScheduleDraft,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    // The form of a schedule this club does not have is not found, whatever was submitted.
    if let Some(id) = id
        && fee::schedule(&mut tx, id).await?.is_none()
    {
        return Err(AppError::NotFound);
    }
    let groups = fee::groups(&mut tx).await?;
    tx.commit().await?;
    render_status(
        status,
        &ScheduleFormPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            base: base(access),
            id,
            form,
            groups,
            errors,
        },
    )
}

/// `GET /t/{club}/fees/schedules/new`.
pub async fn new_schedule_form(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
) -> Result<Response, AppError> {
    let first = Period::Month.containing(today(&state)).0;
    let form = ScheduleDraft {
        period: "year".into(),
        due_day: "15".into(),
        grace_days: "14".into(),
        applies_to: "everyone".into(),
        starts_on: crate::i18n::input_day(first),
        form_token: FormToken::new().as_str().to_owned(),
        ..ScheduleDraft::default()
    };
    let errors = FieldErrors::new(access.ctx.lang());
    form_page(&state, &access, None, form, errors, StatusCode::OK).await
}

/// `GET /t/{club}/fees/schedules/{id}`.
pub async fn edit_schedule_form(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let detail = fee::schedule(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let errors = FieldErrors::new(access.ctx.lang());
    form_page(
        &state,
        &access,
        Some(id),
        ScheduleDraft::of(&detail),
        errors,
        StatusCode::OK,
    )
    .await
}

/// `POST /t/{club}/fees/schedules/new` and `POST /t/{club}/fees/schedules/{id}`: 422 with field
/// messages, else saved (charges generated) and back to the list.
async fn save(
    state: AppState,
    access: ClubAccess<ManageMoney>,
    id: Option<Uuid>,
    body: &[u8],
) -> Result<Response, AppError> {
    let form = draft_of(body);
    let mut errors = FieldErrors::new(access.ctx.lang());
    let input = match form.parse() {
        Ok(input) => input,
        Err(problems) => {
            if let Err(line) = form.adjustment_lines() {
                errors.add_text(
                    "adjustments",
                    access.ctx.lang().t_with(
                        "fees.error.adjustments_line",
                        &[("line", &line.to_string())],
                    ),
                );
            }
            for (field, key) in problems {
                errors.add(field, key);
            }
            return form_page(
                &state,
                &access,
                id,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    match payment::save_schedule(
        &mut tx,
        &actor(&access),
        id,
        &input,
        today(&state),
        state.now(),
    )
    .await
    {
        // A second submit of the same new-schedule form lands where the first one did.
        Ok(fee::Saved::Saved(_) | fee::Saved::Earlier(_)) => {
            tx.commit().await?;
            access.ctx.flash("fees.flash.saved").await;
            Ok(Redirect::to(&format!("{}/fees/schedules", base(&access))).into_response())
        }
        Err(fee::Error::UnknownSchedule) => Err(AppError::NotFound),
        Err(fee::Error::Db(e)) => Err(e.into()),
        Err(
            problem @ (fee::Error::UnknownGroup
            | fee::Error::UnknownMember(_)
            | fee::Error::StartOutOfRange),
        ) => {
            drop(tx);
            let (field, key) = match problem {
                fee::Error::UnknownGroup => ("groups", "fees.error.unknown_group"),
                fee::Error::StartOutOfRange => ("starts_on", "fees.error.starts_on_range"),
                _ if input.adjustments.is_empty() => ("individuals", "fees.error.unknown_vs"),
                _ => ("adjustments", "fees.error.unknown_vs"),
            };
            match &problem {
                fee::Error::UnknownMember(vs) => errors.add_text(
                    field,
                    access
                        .ctx
                        .lang()
                        .t_with("fees.error.unknown_vs_named", &[("vs", vs)]),
                ),
                _ => errors.add(field, key),
            }
            form_page(
                &state,
                &access,
                id,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub async fn create_schedule(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    save(state, access, None, &body).await
}

pub async fn update_schedule(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    save(state, access, Some(id), &body).await
}

/// The overview's query string.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(default)]
pub struct OverviewQuery {
    pub schedule: String,
    pub period: String,
    pub group: String,
    pub status: String,
    pub q: String,
    pub sort: String,
    pub page: String,
}

#[derive(Template)]
#[template(path = "fees/overview.html")]
struct OverviewPage {
    c: Chrome,
    /// The rendered [`OverviewBody`].
    body: Arc<str>,
}

/// The overview's content: everything but the chrome (navigation, flash, footer), so that it
/// depends only on the club's stamp, the day, the language, the role and the query, and can be
/// kept rendered ([`RenderedOverviews`]).
#[derive(Template)]
#[template(path = "fees/overview_body.html")]
struct OverviewBody {
    lang: crate::i18n::Lang,
    base: String,
    query: OverviewQuery,
    schedules: Vec<Schedule>,
    groups: Vec<(Uuid, String)>,
    overview: Option<Overview>,
    /// Payments waiting in the queue (the payments page's count).
    queued: i64,
    stamp: i64,
    can_manage: bool,
}

impl OverviewBody {
    fn t(&self, key: &str) -> std::borrow::Cow<'static, str> {
        self.lang.t(key)
    }

    fn money(&self, minor: &i64, currency: &str) -> String {
        crate::i18n::format_money(*minor, currency, self.lang)
    }

    fn status_label(&self, s: &Status) -> String {
        self.t(&format!("fees.status.{}", s.as_str())).into_owned()
    }

    fn row_status(&self, r: &overview::Row) -> String {
        self.status_label(&r.status())
    }

    fn statuses(&self) -> Vec<(&'static str, String)> {
        Status::ALL
            .iter()
            .map(|s| (s.as_str(), self.status_label(s)))
            .collect()
    }

    fn sorts(&self) -> Vec<(&'static str, String)> {
        Sort::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str(),
                    self.t(&format!("fees.sort.{}", s.as_str())).into_owned(),
                )
            })
            .collect()
    }

    fn period_label(&self, p: &(Date, Date)) -> String {
        period_label(self.lang, *p)
    }

    fn is(&self, value: &str, selected: &str) -> bool {
        value == selected
    }

    /// The pager's places (see [`super::page_window`]).
    fn page_window(&self, o: &Overview) -> Vec<super::PagerItem> {
        super::page_window(o.page, o.pages)
    }

    /// This overview's address (same schedule, period, filters and sorting) on `page`.
    fn page_href(&self, o: &Overview, page: impl std::borrow::Borrow<usize>) -> String {
        let page = page.borrow();
        let mut href = url::form_urlencoded::Serializer::new(String::new());
        href.append_pair("schedule", &o.schedule.id.to_string())
            .append_pair("period", &o.period.0.to_string())
            .append_pair("group", &self.query.group)
            .append_pair("status", &self.query.status)
            .append_pair("q", &self.query.q)
            .append_pair("sort", &self.query.sort)
            .append_pair("page", &page.to_string());
        format!("{}/fees?{}", self.base, href.finish())
    }

    /// "Zobrazeno 51–100 z 2 000" (the rows of this page among those matching).
    fn shown(&self, o: &Overview) -> String {
        let first = (o.page - 1) * overview::PAGE_SIZE + 1;
        let last = first + o.rows.len() - 1;
        let lang = self.lang;
        let count = |n: usize| crate::i18n::format_count(n as i64, lang);
        lang.t_with(
            "fees.overview.shown",
            &[
                ("first", &count(first)),
                ("last", &count(last)),
                ("count", &count(o.matching)),
            ],
        )
    }
}

/// What an [`OverviewBody`] is rendered from besides the club's data: kept apart per club,
/// stamp, Prague day, language, role and the query as typed (echoed in the filters and pager).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BodyKey {
    tenant: Uuid,
    stamp: i64,
    today: Date,
    lang: crate::i18n::Lang,
    can_manage: bool,
    query: OverviewQuery,
}

/// Rendered fee overviews ([`OverviewBody`]) by [`BodyKey`]: an open overview that every
/// board member reloads, or one served many times between two payments, is rendered once per
/// stamp.
pub type RenderedOverviews = crate::web::rendered::Rendered<BodyKey>;

/// At most this many bytes of rendered overviews (an overview of 50 rows is about 30 KB).
pub const RENDERED_OVERVIEW_BYTES: u64 = 16 * 1024 * 1024;

/// An empty [`RenderedOverviews`] of [`RENDERED_OVERVIEW_BYTES`].
pub fn rendered_overviews() -> RenderedOverviews {
    RenderedOverviews::new(512, RENDERED_OVERVIEW_BYTES)
}

/// Clubs' payment stamps ([`payment::current_stamp`]) kept while this process hears every
/// change to them (tenant migration 0018 notifies `club:<schema>` on each write to
/// `payment_stamp`), by club key. At most this many clubs; when full it starts again empty.
pub const STAMPS_KEPT: usize = 4096;

/// The kept payment stamps (`AppState::payment_stamps`): forgotten per club on its
/// notification, all of them when the listener is away or comes back.
pub fn keep_payment_stamps(
    live: &crate::live::Live,
) -> Arc<crate::live::Kept<crate::db::schema::TenantKey, i64>> {
    live.keep(STAMPS_KEPT, |change| match change {
        crate::live::Change::Club(schema) => crate::db::schema::key_of_schema(schema)
            .map_or(crate::live::Forget::Everything, crate::live::Forget::One),
        _ => crate::live::Forget::Nothing,
    })
}

/// The club's payment stamp: the kept copy if there is one, else read (and kept if nothing
/// about it was heard meanwhile). A request that may have written forgets its club's stamp
/// after its response (`web::context::load`), so its redirect never shows the older state.
async fn payment_stamp(state: &AppState, tenant: &Tenant) -> Result<i64, sqlx::Error> {
    let kept = &state.payment_stamps;
    if let Some(stamp) = kept.get(&tenant.key()) {
        return Ok(stamp);
    }
    let ticket = kept.ticket();
    let stamp = payment::current_stamp(&state.pool, tenant).await?;
    kept.put(ticket, tenant.key(), stamp);
    Ok(stamp)
}

/// `1. 1. 2026 – 31. 12. 2026`, or `11/2026` for a month.
pub(super) fn period_label(lang: crate::i18n::Lang, (start, end): (Date, Date)) -> String {
    if start.month() == end.month() && start.year() == end.year() {
        format!("{}/{}", u8::from(start.month()), start.year())
    } else {
        format!(
            "{} – {}",
            crate::i18n::format_day(start, lang),
            crate::i18n::format_day(end, lang)
        )
    }
}

/// `GET /t/{club}/fees`: the overview of a schedule's period (first schedule, current period by
/// default) with filters, search and sorting. Live: polls `/fees/stamp`.
pub async fn overview_page(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Query(query): Query<OverviewQuery>,
) -> Result<Response, AppError> {
    let today = today(&state);
    let stamp = payment_stamp(&state, &access.tenant).await?;
    let key = BodyKey {
        tenant: access.tenant.id(),
        stamp,
        today,
        lang: access.ctx.lang(),
        can_manage: access.role >= Role::Treasurer,
        query,
    };
    let body = state
        .rendered_overviews
        .get_or_render(key.clone(), true, async {
            overview_body(&state, &access, &key).await.map(Arc::from)
        })
        .await?;
    render(&OverviewPage {
        c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
        body,
    })
}

/// Renders the overview's content for `key` (its stamp read by the caller).
async fn overview_body(
    state: &AppState,
    access: &ClubAccess<ViewClub>,
    key: &BodyKey,
) -> Result<String, AppError> {
    let query = &key.query;
    let request = overview::PageRequest {
        schedule: Uuid::parse_str(&query.schedule).ok(),
        period: fee::parse_date(&query.period),
        filter: Filter {
            group: Uuid::parse_str(&query.group).ok(),
            status: Status::parse(&query.status),
            search: crate::member::fields::search(&query.q),
            sort: Sort::parse(&query.sort).unwrap_or_default(),
            page: query.page.parse().unwrap_or(1),
        },
    };
    let page = overview::page(
        &state.pool,
        &access.tenant,
        &state.fee_overviews,
        &request,
        key.stamp,
        key.today,
    )
    .await?;
    Ok(OverviewBody {
        lang: key.lang,
        base: base(access),
        query: query.clone(),
        schedules: page.facts.schedules.clone(),
        groups: page.facts.groups.clone(),
        overview: page.overview,
        queued: page.facts.queued,
        stamp: page.stamp,
        can_manage: key.can_manage,
    }
    .render()?)
}

/// `GET /t/{club}/fees/stamp`: the club's payment stamp, polled by open fee pages.
pub async fn stamp(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
) -> Result<Response, AppError> {
    let stamp = payment_stamp(&state, &access.tenant).await?;
    Ok(super::stamp_response(stamp.to_string()))
}

/// A member's fee section (`templates/payments/member_section.html`), ready to include in any
/// page as `fees`: the ledger plus the formatting it needs.
pub struct FeeSection {
    pub lang: crate::i18n::Lang,
    pub ledger: MemberLedger,
}

impl FeeSection {
    /// Loads a member's fee ledger (`today`: Prague date).
    pub async fn load(
        tx: &mut TenantTx,
        lang: crate::i18n::Lang,
        member: Uuid,
        today: Date,
    ) -> Result<FeeSection, sqlx::Error> {
        Ok(FeeSection {
            lang,
            ledger: payment::views::member_ledger(tx, member, today).await?,
        })
    }

    pub fn t(&self, key: &str) -> std::borrow::Cow<'static, str> {
        self.lang.t(key)
    }

    pub fn money(&self, minor: &i64) -> String {
        crate::i18n::format_money(*minor, "CZK", self.lang)
    }

    pub fn fmt_date(&self, d: &Date) -> String {
        crate::i18n::format_day(*d, self.lang)
    }

    pub fn period_label(&self, start: &Date, end: &Date) -> String {
        period_label(self.lang, (*start, *end))
    }

    pub fn explain(
        &self,
        rule: &crate::payment::matching::Rule,
        evidence: &crate::payment::matching::Evidence,
        by: &Option<String>,
    ) -> String {
        let credit = evidence.credit_from.and_then(|id| {
            self.ledger
                .payments
                .iter()
                .find(|p| p.payment.id == id)
                .map(|p| (p.payment.date, p.payment.amount_minor))
        });
        super::payments::explain(self.lang, *rule, evidence, None, by.as_deref(), credit)
    }

    /// The balance said once, with the word that fits: "Přeplatek 6 240,00 Kč", "Dluží
    /// 500,00 Kč", both when the member owes while a credit waits, or "Vyrovnáno".
    pub fn balance_parts(&self) -> Vec<(String, String)> {
        let l = &self.ledger;
        let mut parts = Vec::new();
        if l.owed_minor > 0 {
            parts.push((
                self.t("fees.member.owes").into_owned(),
                self.money(&l.owed_minor),
            ));
        }
        if l.credit_minor > 0 {
            parts.push((
                self.t("fees.member.credit").into_owned(),
                self.money(&l.credit_minor),
            ));
        }
        parts
    }

    pub fn outcome_label(&self, o: &crate::payment::matching::Outcome) -> String {
        self.lang
            .t(&format!("payments.outcome.{}", o.as_str()))
            .into_owned()
    }
}

#[derive(Template)]
#[template(path = "fees/member.html")]
struct MemberFeesPage {
    c: Chrome,
    base: String,
    name: String,
    fees: FeeSection,
    stamp: i64,
}

/// `GET /t/{club}/fees/members/{id}`: one member's charges, payments, allocations and balance
/// (the same section the member's page includes).
pub async fn member_fees(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let name = crate::member::get(&mut tx, crate::member::MemberId(id))
        .await?
        .ok_or(AppError::NotFound)?
        .name;
    let fees = FeeSection::load(&mut tx, access.ctx.lang(), id, today(&state)).await?;
    let stamp = payment::stamp(&mut tx).await?;
    tx.commit().await?;
    render(&MemberFeesPage {
        c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
        base: base(&access),
        name,
        fees,
        stamp,
    })
}
