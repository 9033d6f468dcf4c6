//! The exports page (`/t/{club}/exports`: what, which format, which dates) and the download
//! it submits to (`/t/{club}/exports/download`), and the board report of a fee period
//! (`/t/{club}/fees/report`, printable, and the same as XLSX). Everyone in the club may read
//! them, viewers included (docs/decisions.md, "Exports").

use super::{Chrome, render, render_status};
use crate::db::tenant::TenantTx;
use crate::export::{self, Dataset, Draft, Format};
use crate::fee::{self, Schedule};
use crate::payment;
use crate::report::{self, BoardReport};
use crate::team::ViewClub;
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use askama::Template;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::Date;
use uuid::Uuid;

fn base(access: &ClubAccess<ViewClub>) -> String {
    crate::web::paths::club(access.tenant.key())
}

fn today(state: &AppState) -> Date {
    crate::i18n::to_prague(state.now()).date()
}

#[derive(Template)]
#[template(path = "exports.html")]
struct ExportsPage {
    c: Chrome,
    base: String,
    form: Draft,
    errors: FieldErrors,
}

impl ExportsPage {
    fn datasets(&self) -> Vec<(&'static str, String)> {
        Dataset::ALL
            .iter()
            .map(|d| {
                let label = self.c.t(&format!("export.dataset.{}", d.as_str()));
                (d.as_str(), label.into_owned())
            })
            .collect()
    }

    fn formats(&self) -> Vec<(&'static str, String)> {
        Format::ALL
            .iter()
            .map(|f| {
                let label = self.c.t(&format!("export.format.{}", f.as_str()));
                (f.as_str(), label.into_owned())
            })
            .collect()
    }

    fn is(&self, value: &str, chosen: &str) -> bool {
        value == chosen
    }
}

async fn exports_page(
    state: &AppState,
    access: &ClubAccess<ViewClub>,
    form: Draft,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<Response, AppError> {
    render_status(
        status,
        &ExportsPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            base: base(access),
            form,
            errors,
        },
    )
}

/// `GET /t/{club}/exports`: the export form (bank transactions as CSV from 1 January by
/// default).
pub async fn exports(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
) -> Result<Response, AppError> {
    let form = Draft::default_for(today(&state));
    let errors = FieldErrors::new(access.ctx.lang());
    exports_page(&state, &access, form, errors, StatusCode::OK).await
}

/// `GET /t/{club}/exports/download?dataset=…&format=…&from=…&to=…`: the file, streamed; a bad
/// form re-renders the page with field messages (422).
pub async fn download(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Query(form): Query<Draft>,
) -> Result<Response, AppError> {
    let request = match form.parse() {
        Ok(request) => request,
        Err(problems) => {
            let mut errors = FieldErrors::new(access.ctx.lang());
            for (field, key) in problems {
                errors.add(field, key);
            }
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return exports_page(&state, &access, form, errors, status).await;
        }
    };
    let lang = access.ctx.lang();
    let tenant = access.tenant.clone();
    let Ok(body) = export::stream(state.pool.clone(), tenant, request, lang, &state.exports) else {
        let mut errors = FieldErrors::new(lang);
        errors.add("dataset", "export.error.busy");
        let status = StatusCode::SERVICE_UNAVAILABLE;
        return exports_page(&state, &access, form, errors, status).await;
    };
    Ok(attachment(
        request.format.content_type(),
        &request.file_name(lang),
        Body::from_stream(body),
    ))
}

/// A download response: type, `attachment` with the (ASCII) file name, never cached.
fn attachment(content_type: &str, file_name: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// The report's query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportQuery {
    pub schedule: String,
    pub period: String,
}

#[derive(Template)]
#[template(path = "fees/report.html")]
struct ReportPage {
    c: Chrome,
    base: String,
    schedules: Vec<Schedule>,
    report: Option<BoardReport>,
}

impl ReportPage {
    fn period_label(&self, p: &(Date, Date)) -> String {
        report::period_label(self.c.lang, *p)
    }

    fn day(&self, d: &Date) -> String {
        crate::i18n::format_day(*d, self.c.lang)
    }

    fn month(&self, d: &Date) -> String {
        format!("{}/{}", u8::from(d.month()), d.year())
    }

    fn days(&self, n: &i64) -> String {
        self.c.lang.t_count("report.days", *n)
    }

    fn group_name(&self, name: &Option<String>) -> String {
        name.clone()
            .unwrap_or_else(|| self.c.t("report.no_group").into_owned())
    }

    fn net(&self, m: &crate::sync::views::MonthFlow) -> String {
        self.c.money(&(m.income_minor - m.expenses_minor), "CZK")
    }

    fn xlsx_href(&self, r: &BoardReport) -> String {
        format!(
            "{}/fees/report.xlsx?schedule={}&period={}",
            self.base, r.schedule.id, r.period.0
        )
    }
}

/// The report asked for: the schedule (default: the first) and period (default: the
/// overview's), and every schedule for the chooser.
async fn load_report(
    state: &AppState,
    access: &ClubAccess<ViewClub>,
    query: &ReportQuery,
) -> Result<(Vec<Schedule>, Option<BoardReport>), AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let schedules = fee::schedules(&mut tx).await?;
    let chosen = Uuid::parse_str(&query.schedule)
        .ok()
        .filter(|id| schedules.iter().any(|s| s.id == *id))
        .or_else(|| schedules.first().map(|s| s.id));
    let report = match chosen {
        Some(id) => {
            let stamp = payment::stamp(&mut tx).await?;
            let period = fee::parse_date(&query.period);
            let cache = &state.fee_overviews;
            report::board(&mut tx, cache, stamp, id, period, today(state)).await?
        }
        None => None,
    };
    tx.commit().await?;
    Ok((schedules, report))
}

/// `GET /t/{club}/fees/report`: the board report of a schedule's period, printable.
pub async fn report_page(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let (schedules, report) = load_report(&state, &access, &query).await?;
    render(&ReportPage {
        c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
        base: base(&access),
        schedules,
        report,
    })
}

/// `GET /t/{club}/fees/report.xlsx`: the same report as a workbook (404 without schedules).
pub async fn report_xlsx(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let (_, report) = load_report(&state, &access, &query).await?;
    let report = report.ok_or(AppError::NotFound)?;
    let lang = access.ctx.lang();
    let name = format!("kasa-{}-{}.xlsx", lang.t("report.file"), report.period.0);
    let bytes = tokio::task::spawn_blocking(move || report::xlsx(&report, lang))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?
        .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    Ok(attachment(
        Format::Xlsx.content_type(),
        &name,
        Body::from(bytes),
    ))
}
