//! An account's own tools beside its page: the charts (balance over time, money in and out by
//! month; `sync::history` → `chart`) and the balance watch (`balance_watch`).

use super::{Chrome, render, render_status};
use crate::audit::Actor;
use crate::balance_watch::{self, Draft, Saved, Watch, Watched};
use crate::chart::{self, Pair, Point};
use crate::db::tenant::TenantTx;
use crate::sync::history::{Charts, MonthEnd};
use crate::sync::views::{self, AccountSummary, MonthFlow};
use crate::team::{ManageMoney, ViewClub};
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

fn account_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound)
}

fn account_href(access: &ClubAccess<impl crate::team::Capability>, id: Uuid) -> String {
    format!(
        "{}/accounts/{id}",
        crate::web::paths::club(access.tenant.key())
    )
}

/// "11/26": a month as the charts label it.
fn month_label(month: time::Date) -> String {
    format!("{}/{:02}", u8::from(month.month()), month.year() % 100)
}

/// An amount as the form shows it again, the way people type it: `5 000`, `1 200,50`, `-300`.
fn form_amount(minor: i64) -> String {
    let abs = minor.unsigned_abs();
    let digits = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    let sign = if minor < 0 { "-" } else { "" };
    match abs % 100 {
        0 => format!("{sign}{grouped}"),
        cents => format!("{sign}{grouped},{cents:02}"),
    }
}

#[derive(Template)]
#[template(path = "account_charts.html")]
struct ChartsPage {
    c: Chrome,
    account: AccountSummary,
    account_href: String,
    balances: Vec<MonthEnd>,
    months: Vec<MonthFlow>,
    balance_svg: String,
    flows_svg: String,
}

impl ChartsPage {
    fn day(&self, day: &time::Date) -> String {
        crate::i18n::format_day(*day, self.c.lang)
    }

    fn month_name(&self, month: &time::Date) -> String {
        crate::i18n::format_day(*month, self.c.lang)
            .split_once(' ')
            .map(|(_, rest)| rest.trim().to_owned())
            .unwrap_or_else(|| month_label(*month))
    }
}

/// The balance chart's points: a month's end each, its value labelled in `currency`.
fn balance_points(balances: &[MonthEnd], currency: &str, lang: crate::i18n::Lang) -> Vec<Point> {
    let point = |b: &MonthEnd| Point {
        label: month_label(b.month),
        value: b.balance_minor,
        value_label: crate::i18n::format_money(b.balance_minor, currency, lang),
    };
    balances.iter().map(point).collect()
}

/// The money-flow chart's bars: income and expenses of a month each.
fn flow_pairs(months: &[MonthFlow]) -> Vec<Pair> {
    let pair = |m: &MonthFlow| Pair {
        label: month_label(m.month),
        income: m.income_minor,
        expenses: m.expenses_minor,
    };
    months.iter().map(pair).collect()
}

/// `GET /t/{club}/accounts/{account}/charts`: the balance at each month's end and the money in
/// and out by month over the last two years, as SVG and as tables (any teammate).
pub async fn charts(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Path((_club, account)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = account_id(&account)?;
    let today = crate::i18n::to_prague(state.now()).date();
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let account = views::account(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let Charts { balances, months } = crate::sync::history::charts(&mut tx, id, today).await?;
    tx.commit().await?;
    let lang = access.ctx.lang();
    let balance_svg = chart::line(
        &lang.t("charts.balance.title"),
        &balance_points(&balances, &account.currency, lang),
    );
    let flows_svg = chart::bars(&lang.t("charts.flows.title"), &flow_pairs(&months));
    render(&ChartsPage {
        c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
        account_href: account_href(&access, id),
        account,
        balances,
        months,
        balance_svg,
        flows_svg,
    })
}

#[derive(Template)]
#[template(path = "account_watch.html")]
struct WatchPage {
    c: Chrome,
    account: AccountSummary,
    account_href: String,
    action: String,
    watch: Option<Watch>,
    threshold: String,
    balance: Watched,
    errors: FieldErrors,
}

/// The balance watch form as posted.
#[derive(Debug, Deserialize)]
pub struct WatchForm {
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    balance: String,
}

async fn watch_page(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    id: Uuid,
    status: StatusCode,
    form: Option<(&WatchForm, FieldErrors)>,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let account = views::account(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let watch = balance_watch::of_account(&mut tx, id).await?;
    tx.commit().await?;
    let lang = access.ctx.lang();
    let (threshold, balance, errors) = match form {
        Some((form, errors)) => (
            form.threshold.clone(),
            if form.balance == "booked" {
                Watched::Booked
            } else {
                Watched::Available
            },
            errors,
        ),
        None => (
            watch
                .as_ref()
                .map(|w| form_amount(w.threshold_minor))
                .unwrap_or_default(),
            watch.as_ref().map_or(Watched::Available, |w| w.balance),
            FieldErrors::new(lang),
        ),
    };
    render_status(
        status,
        &WatchPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            action: format!("{}/watch", account_href(access, id)),
            account_href: account_href(access, id),
            account,
            watch,
            threshold,
            balance,
            errors,
        },
    )
}

/// `GET /t/{club}/accounts/{account}/watch`: the account's balance watch and its form (owners
/// and treasurers).
pub async fn watch_form(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, account)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = account_id(&account)?;
    watch_page(&state, &access, id, StatusCode::OK, None).await
}

/// `POST /t/{club}/accounts/{account}/watch`: sets the threshold and the balance watched; a bad
/// amount re-renders the form with the field's message (422).
pub async fn save_watch(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, account)): Path<(String, String)>,
    axum::Form(form): axum::Form<WatchForm>,
) -> Result<Response, AppError> {
    let id = account_id(&account)?;
    let draft = Draft {
        threshold: form.threshold.clone(),
        balance: form.balance.clone(),
    };
    let saved = balance_watch::save(
        &state.pool,
        &access.tenant,
        &Actor::person(&access.user),
        id,
        &draft,
        state.now(),
    )
    .await;
    match saved {
        Ok(Saved::Saved(_)) => {
            access.ctx.flash("watch.flash.saved").await;
            Ok(Redirect::to(&crate::web::paths::club(access.tenant.key())).into_response())
        }
        Ok(Saved::Refused(problems)) => {
            let mut errors = FieldErrors::new(access.ctx.lang());
            for (field, key) in problems {
                errors.add(field, key);
            }
            watch_page(
                &state,
                &access,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((&form, errors)),
            )
            .await
        }
        Err(balance_watch::Error::NotFound) => Err(AppError::NotFound),
        Err(balance_watch::Error::Db(e)) => Err(e.into()),
    }
}

/// `POST /t/{club}/accounts/{account}/watch/remove`: the account is no longer watched.
pub async fn remove_watch(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, account)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = account_id(&account)?;
    let removed = balance_watch::remove(
        &state.pool,
        &access.tenant,
        &Actor::person(&access.user),
        id,
        state.now(),
    )
    .await;
    match removed {
        Ok(_) => {
            access.ctx.flash("watch.flash.removed").await;
            Ok(Redirect::to(&crate::web::paths::club(access.tenant.key())).into_response())
        }
        Err(balance_watch::Error::NotFound) => Err(AppError::NotFound),
        Err(balance_watch::Error::Db(e)) => Err(e.into()),
    }
}
