//! A bank account's pages (issue 10): the account page (both balances explained, the
//! movements with search, filters, sorting and keyset pages, all in the URL), one movement with
//! everything KB sent, and KB's monthly statements with their PDFs. Everyone in the club may
//! read them (viewers included); nothing here changes anything.

use super::{Chrome, render_status};
use crate::db::schema::TenantKey;
use crate::db::tenant::TenantTx;
use crate::sync::movements::{self, Cursor, Detail, FilterForm, Movement, Page, Position, Sort};
use crate::sync::standing::{self, Standing};
use crate::sync::statements;
use crate::sync::views::{self, AccountSummary, RunRow};
use crate::team::{Role, ViewClub};
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use crate::web::rendered::{Rendered, Weight};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use uuid::Uuid;

fn account_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|_| AppError::NotFound)
}

fn account_base(access: &ClubAccess<ViewClub>, id: Uuid) -> String {
    format!(
        "{}/accounts/{id}",
        crate::web::paths::club(access.tenant.key())
    )
}

/// The account's heading: its name and its number the Czech way.
pub struct Heading {
    pub name: Option<String>,
    /// `2900000013/0100` (or the IBAN in groups for a foreign account).
    pub number: String,
    /// The IBAN in groups of four.
    pub iban: String,
}

impl Heading {
    fn of(account: &AccountSummary) -> Heading {
        Heading {
            name: account.name.clone(),
            number: crate::account_number::readable(&account.iban).number,
            iban: crate::account_number::iban_grouped(&account.iban),
        }
    }

    /// The page title: the account's name and number (`Běžný účet 2900000013/0100`).
    pub fn title(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} {}", self.number),
            None => self.number.clone(),
        }
    }
}

/// A text field of the filter form.
struct TextField {
    name: &'static str,
    label: String,
    value: String,
    hint: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "bank_account.html")]
struct AccountPage {
    c: Chrome,
    content: Arc<AccountContent>,
}

/// An account page's rendered content ([`AccountBody`]) and the page's title.
pub struct AccountContent {
    title: String,
    html: String,
}

impl Weight for Arc<AccountContent> {
    fn bytes(&self) -> u64 {
        (self.title.len() + self.html.len()) as u64
    }
}

/// What an [`AccountBody`] is rendered from besides the club's data (at `version`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountKey {
    club: TenantKey,
    version: u64,
    /// Minutes since the Unix epoch.
    minute: i64,
    lang: crate::i18n::Lang,
    can_manage_money: bool,
    account: Uuid,
    /// The filter and position as typed.
    form: FilterForm,
}

/// Account pages rendered per club version ([`crate::web::rendered`]).
pub type RenderedAccounts = Rendered<AccountKey, Arc<AccountContent>>;

/// An empty [`RenderedAccounts`]: at most 32 MB (a page of movements is ≈ 40–110 KB).
pub fn rendered_accounts() -> RenderedAccounts {
    Rendered::new(512, 32 * 1024 * 1024)
}

/// The account page's content: everything but the chrome, so that it depends only on the
/// club's data, the language, the role and the filter, and can be kept rendered
/// ([`RenderedAccounts`]) unless the filter has problems.
#[derive(Template)]
#[template(path = "bank_account_body.html")]
struct AccountBody {
    /// The content's chrome ([`Chrome::for_content`]): language and club only.
    c: Chrome,
    base: String,
    heading: Heading,
    /// Where the page polls for changes, and the state it shows.
    stamp_url: String,
    stamp: String,
    account: AccountSummary,
    standing: Standing,
    form: FilterForm,
    errors: FieldErrors,
    /// `None` when the filter form has problems.
    page: Option<Page>,
    narrows: bool,
    sort: Sort,
    unreadable: Vec<movements::Unreadable>,
    runs: Vec<RunRow>,
    /// A live connection exposes the account; otherwise it is history only, marked
    /// disconnected instead of "fresh as of".
    connected: bool,
    /// Owners and treasurers: the balance watch's form is theirs (viewers see its state on
    /// the dashboard).
    can_manage_money: bool,
}

impl AccountBody {
    /// A sync run in words ([`super::sync_log`]).
    fn run_text(&self, run: &RunRow) -> super::sync_log::RunText {
        super::sync_log::describe(run, self.c.lang)
    }

    /// The list's URL with the form's filters and the page at `position`.
    fn href(&self, position: Position) -> String {
        let f = &self.form;
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("q", &f.q),
            ("symbol", &f.symbol),
            ("amount", &f.amount),
            ("amount_min", &f.amount_min),
            ("amount_max", &f.amount_max),
            ("direction", &f.direction),
            ("state", &f.state),
            ("from", &f.from),
            ("to", &f.to),
            ("sort", &f.sort),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(name, value.trim());
            }
        }
        match position {
            Position::After(c) => {
                query.append_pair("after", &c.to_param());
            }
            Position::Before(c) => {
                query.append_pair("before", &c.to_param());
            }
            Position::First => {}
        }
        let query = query.finish();
        if query.is_empty() {
            self.base.clone()
        } else {
            format!("{}?{query}", self.base)
        }
    }

    fn next_href(&self, c: &Cursor) -> String {
        self.href(Position::After(*c))
    }

    fn previous_href(&self, c: &Cursor) -> String {
        self.href(Position::Before(*c))
    }

    /// "Older" and "newer" under a date sort, "next" and "previous" under an amount sort.
    fn next_label(&self) -> String {
        self.c
            .t(match self.sort {
                Sort::DateDesc => "movements.older",
                Sort::DateAsc => "movements.newer_next",
                _ => "movements.next",
            })
            .into_owned()
    }

    fn previous_label(&self) -> String {
        self.c
            .t(match self.sort {
                Sort::DateDesc => "movements.newer",
                Sort::DateAsc => "movements.older_previous",
                _ => "movements.previous",
            })
            .into_owned()
    }

    fn available_help(&self, at: &time::OffsetDateTime) -> String {
        self.c.lang.t_with(
            "standing.available_help",
            &[("at", &crate::i18n::format_datetime(*at, self.c.lang))],
        )
    }

    fn with_day(&self, key: &str, day: &time::Date) -> String {
        self.c.lang.t_with(key, &[("day", &self.c.day(day))])
    }

    /// "3 stránky" of the first sync's progress.
    fn sync_pages(&self) -> String {
        self.c.lang.t_count(
            "movements.sync_pages",
            i64::from(self.account.progress_pages),
        )
    }

    /// The filter's text fields with their labels, values and messages.
    fn text_fields(&self) -> Vec<TextField> {
        let f = &self.form;
        let date_hint = || Some(self.c.t("movements.date_hint").into_owned());
        [
            ("q", &f.q, None),
            ("symbol", &f.symbol, None),
            ("amount", &f.amount, None),
            ("amount_min", &f.amount_min, None),
            ("amount_max", &f.amount_max, None),
            ("from", &f.from, date_hint()),
            ("to", &f.to, date_hint()),
        ]
        .into_iter()
        .map(|(name, value, hint)| TextField {
            name,
            label: self.c.t(&format!("movements.field.{name}")).into_owned(),
            value: value.clone(),
            hint,
            error: self.errors.msg(name).map(str::to_owned),
        })
        .collect()
    }

    /// The sort options: URL value and label.
    fn sorts(&self) -> Vec<(&'static str, String)> {
        [
            (Sort::DateDesc, "movements.sort.date"),
            (Sort::DateAsc, "movements.sort.date_asc"),
            (Sort::AmountDesc, "movements.sort.amount"),
            (Sort::AmountAsc, "movements.sort.amount_asc"),
        ]
        .into_iter()
        .map(|(sort, key)| (sort.as_str(), self.c.t(key).into_owned()))
        .collect()
    }

    fn detail_href(&self, m: &Movement) -> String {
        format!("{}/movements/{}", self.base, m.id)
    }

    fn selected(&self, field: &str, value: &str) -> bool {
        let f = &self.form;
        let current = match field {
            "direction" => &f.direction,
            "state" => &f.state,
            _ => &f.sort,
        };
        current == value || (field == "sort" && value.is_empty() && current == "date")
    }
}

/// `GET /t/{club}/accounts/{account}`: balances explained, the movements (filters in the
/// query), the sync's last runs. A bad filter re-renders with field messages (422).
pub async fn account_page(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Path((_club, account)): Path<(String, String)>,
    Query(form): Query<FilterForm>,
) -> Result<Response, AppError> {
    let id = account_id(&account)?;
    let club = access.tenant.key();
    let version = state.club_versions.current(club);
    let key = AccountKey {
        club,
        version: version.unwrap_or_default(),
        minute: state.now().unix_timestamp().div_euclid(60),
        lang: access.ctx.lang(),
        can_manage_money: access.role >= Role::Treasurer,
        account: id,
        form,
    };
    let parsed = key.form.parse();
    let valid = parsed.is_ok();
    let keep = version.is_some() && valid;
    let content = state
        .rendered_accounts
        .get_or_render(
            key.clone(),
            keep,
            account_content(&state, &access, &key, parsed),
        )
        .await?;
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_status(
        status,
        &AccountPage {
            c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
            content,
        },
    )
}

/// Renders the account page's content for `key` from the club's data; `NotFound` for an
/// account the club does not have.
async fn account_content(
    state: &AppState,
    access: &ClubAccess<ViewClub>,
    key: &AccountKey,
    parsed: Result<movements::Filter, Vec<(&'static str, &'static str)>>,
) -> Result<Arc<AccountContent>, AppError> {
    let id = key.account;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let account = views::account(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let standing = standing::standing(&mut tx, id).await?;
    let mut errors = FieldErrors::new(key.lang);
    let (page, narrows, sort, first) = match &parsed {
        Ok(filter) => (
            Some(movements::page(&mut tx, id, filter, Some(account.transactions)).await?),
            filter.narrows(),
            filter.sort,
            filter.position == Position::First,
        ),
        Err(problems) => {
            for (field, key) in problems {
                errors.add(field, key);
            }
            (None, true, Sort::default(), false)
        }
    };
    let unreadable = if first && !narrows {
        movements::unreadable(&mut tx, id).await?
    } else {
        Vec::new()
    };
    let runs = views::runs(&mut tx, id, 10).await?;
    let stamp = views::stamp(&mut tx, id).await?.unwrap_or_default();
    let connected = state
        .consent
        .connected_accounts(&mut tx)
        .await?
        .contains(&id);
    tx.commit().await?;
    let base = format!("{}/accounts/{id}", crate::web::paths::club(key.club));
    let heading = Heading::of(&account);
    let title = heading.title();
    let html = AccountBody {
        c: Chrome::for_content(key.lang, key.club),
        stamp_url: format!("{base}/stamp"),
        base,
        heading,
        stamp,
        account,
        standing,
        form: key.form.clone(),
        errors,
        page,
        narrows,
        sort,
        unreadable,
        runs,
        connected,
        can_manage_money: key.can_manage_money,
    }
    .render()?;
    Ok(Arc::new(AccountContent { title, html }))
}

/// `GET /t/{club}/accounts/{account}/stamp`: the account page's change stamp
/// ([`views::stamp`]), polled by the open page.
pub async fn account_stamp(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Path((_club, account)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = account_id(&account)?;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let stamp = views::stamp(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        stamp,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "movement.html")]
struct MovementPage {
    c: Chrome,
    base: String,
    heading: Heading,
    detail: Detail,
}

impl MovementPage {
    fn iban(&self, text: &str) -> String {
        crate::account_number::iban_grouped(text)
    }

    fn kb_json(&self) -> String {
        self.detail
            .kb
            .as_ref()
            .and_then(|v| serde_json::to_string_pretty(v).ok())
            .unwrap_or_default()
    }
}

/// `GET /t/{club}/accounts/{account}/movements/{id}`: one movement, every field.
pub async fn movement(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Path((_club, account, movement)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let id = account_id(&account)?;
    let movement: i64 = movement.parse().map_err(|_| AppError::NotFound)?;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let account = views::account(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let detail = movements::detail(&mut tx, id, movement)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    render_status(
        StatusCode::OK,
        &MovementPage {
            c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
            base: account_base(&access, id),
            heading: Heading::of(&account),
            detail,
        },
    )
}

#[derive(Template)]
#[template(path = "statements.html")]
struct StatementsPage {
    c: Chrome,
    base: String,
    heading: Heading,
    statements: Vec<crate::bank::wire::Statement>,
    /// Why the list is missing (a translation key), if it is.
    problem: Option<&'static str>,
}

/// `GET /t/{club}/accounts/{account}/statements`: KB's statements of the last two years.
pub async fn statements_page(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Path((_club, account)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = account_id(&account)?;
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let account = views::account(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let listed = statements::list(
        &state.pool,
        &state.kb,
        &state.consent,
        access.tenant.id(),
        id,
        state.now(),
    )
    .await;
    let (statements, problem, status) = match listed {
        Ok(list) => (list, None, StatusCode::OK),
        Err(statements::Error::NotFound) => return Err(AppError::NotFound),
        Err(statements::Error::NoConsent(_)) => {
            (Vec::new(), Some("statements.no_consent"), StatusCode::OK)
        }
        Err(statements::Error::Bank(error)) => {
            tracing::warn!(%error, "statements unavailable");
            (
                Vec::new(),
                Some("statements.unavailable"),
                StatusCode::SERVICE_UNAVAILABLE,
            )
        }
        Err(statements::Error::Db(error)) => return Err(error.into()),
    };
    render_status(
        status,
        &StatementsPage {
            c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
            base: account_base(&access, id),
            heading: Heading::of(&account),
            statements,
            problem,
        },
    )
}

/// `GET /t/{club}/accounts/{account}/statements/{statement}`: the statement's PDF from KB.
pub async fn statement_pdf(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Path((_club, account, statement)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let id = account_id(&account)?;
    let statement: i64 = statement.parse().map_err(|_| AppError::NotFound)?;
    let fetched = statements::pdf(
        &state.pool,
        &state.kb,
        &state.consent,
        access.tenant.id(),
        id,
        statement,
    )
    .await;
    match fetched {
        Ok((bytes, name)) => Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response()),
        Err(statements::Error::NotFound) => Err(AppError::NotFound),
        Err(statements::Error::Db(error)) => Err(error.into()),
        Err(error) => {
            tracing::warn!(%error, "statement download failed");
            let base = account_base(&access, id);
            Ok(axum::response::Redirect::to(&format!("{base}/statements")).into_response())
        }
    }
}
