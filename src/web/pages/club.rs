//! A club's own pages: the dashboard (bank connection, accounts, next step) and the audit log
//! (an account's pages are `accounts`).

use super::{Chrome, render, render_status};
use crate::audit::{self, Entry};
use crate::consent::ConnectionView;
use crate::db::schema::TenantKey;
use crate::db::tenant::TenantTx;
use crate::sync::views::{self, AccountSummary};
use crate::team::{Capability, Role, ViewClub};
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use crate::web::rendered::Rendered;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    club_name: String,
    /// The rendered [`DashboardBody`].
    body: Arc<str>,
}

/// The dashboard's content: everything but the chrome and the club's name, so that it depends
/// only on the club's data, the minute (the consent's state), the language, the roles and
/// whether the person's address is confirmed, and can be kept rendered
/// ([`RenderedDashboards`]) unless it shows form errors.
#[derive(Template)]
#[template(path = "dashboard_body.html")]
struct DashboardBody {
    /// The content's chrome ([`Chrome::for_content`]): language and club only.
    c: Chrome,
    base: String,
    email_confirmed: bool,
    can_manage_money: bool,
    can_manage_team: bool,
    team_href: String,
    bank: Option<ConnectionView>,
    accounts: Vec<AccountSummary>,
    /// The accounts a live connection exposes (the others are disconnected, history only).
    connected: Vec<Uuid>,
    /// The accounts' balance watches.
    watches: Vec<crate::balance_watch::Watch>,
    /// Where the open dashboard polls for changes, and the state it shows.
    stamp_url: String,
    stamp: String,
    /// "Expected this month vs received so far" (member fees).
    fees: crate::payment::overview::MonthSummary,
    errors: FieldErrors,
}

impl DashboardBody {
    fn is_connected(&self, account: &Uuid) -> bool {
        self.connected.contains(account)
    }

    /// Whether some account's history is kept without a live connection.
    fn has_disconnected(&self) -> bool {
        self.accounts
            .iter()
            .any(|a| !self.connected.contains(&a.id))
    }

    fn watch_of(&self, account: &Uuid) -> Option<&crate::balance_watch::Watch> {
        self.watches.iter().find(|w| w.account_id == *account)
    }

    /// "3 stránky" / "1 page": the first sync's page count with its plural.
    fn pages(&self, n: &i32) -> String {
        self.c.lang.t_count("bank.pages_count", i64::from(*n))
    }
}

/// What a [`DashboardBody`] is rendered from besides the club's data (at `version`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DashboardKey {
    club: TenantKey,
    version: u64,
    /// Minutes since the Unix epoch: the consent's state and the month move with the time.
    minute: i64,
    lang: crate::i18n::Lang,
    can_manage_money: bool,
    can_manage_team: bool,
    email_confirmed: bool,
}

/// Dashboards rendered per club version ([`crate::web::rendered`]).
pub type RenderedDashboards = Rendered<DashboardKey>;

/// An empty [`RenderedDashboards`]: at most 8 MB (a dashboard is a few KB).
pub fn rendered_dashboards() -> RenderedDashboards {
    Rendered::new(1024, 8 * 1024 * 1024)
}

/// The dashboard's change stamp: the accounts' ([`views::club_stamp`]) and the fee figures'
/// (`payment::stamp`).
async fn dashboard_stamp_of(tx: &mut TenantTx) -> Result<String, AppError> {
    let accounts = views::club_stamp(tx).await?;
    let fees = crate::payment::stamp(tx).await?;
    Ok(format!("{accounts}|{fees}"))
}

async fn dashboard_page<C: Capability>(
    state: &AppState,
    access: &ClubAccess<C>,
    status: StatusCode,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let club = access.tenant.key();
    let version = state.club_versions.current(club);
    let now = state.now();
    let key = DashboardKey {
        club,
        version: version.unwrap_or_default(),
        minute: now.unix_timestamp().div_euclid(60),
        lang: access.ctx.lang(),
        can_manage_money: access.role >= Role::Treasurer,
        can_manage_team: access.role >= Role::Owner,
        email_confirmed: access.user.email_confirmed,
    };
    let keep = version.is_some() && errors.is_empty();
    let body = state
        .rendered_dashboards
        .get_or_render(key.clone(), keep, async {
            dashboard_body(state, access, &key, errors)
                .await
                .map(Arc::from)
        })
        .await?;
    render_status(
        status,
        &DashboardPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            club_name: access.club_name.clone(),
            body,
        },
    )
}

/// Renders the dashboard's content for `key` from the club's data.
async fn dashboard_body<C: Capability>(
    state: &AppState,
    access: &ClubAccess<C>,
    key: &DashboardKey,
    errors: FieldErrors,
) -> Result<String, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let bank = state.consent.connection(&mut tx).await?;
    let connected = state.consent.connected_accounts(&mut tx).await?;
    let accounts = views::accounts(&mut tx).await?;
    let watches = crate::balance_watch::of_club(&mut tx).await?;
    let stamp = dashboard_stamp_of(&mut tx).await?;
    let today = crate::i18n::to_prague(state.now()).date();
    let fees = crate::payment::overview::month_summary(&mut tx, today).await?;
    tx.commit().await?;
    let base = crate::web::paths::club(key.club);
    Ok(DashboardBody {
        c: Chrome::for_content(key.lang, key.club),
        stamp_url: format!("{base}/bank/stamp"),
        base,
        email_confirmed: key.email_confirmed,
        can_manage_money: key.can_manage_money,
        can_manage_team: key.can_manage_team,
        team_href: crate::web::paths::team(key.club),
        bank,
        accounts,
        connected,
        watches,
        stamp,
        fees,
        errors,
    }
    .render()?)
}

/// `GET /t/{club}/bank/stamp`: the dashboard's change stamp, polled by the open dashboard so its
/// accounts (first-sync progress, freshness, balances, watches) and fee figures update by
/// themselves.
pub async fn dashboard_stamp(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let stamp = dashboard_stamp_of(&mut tx).await?;
    tx.commit().await?;
    Ok(super::stamp_response(stamp))
}

pub async fn dashboard(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
) -> Result<Response, AppError> {
    let errors = FieldErrors::new(access.ctx.lang());
    dashboard_page(&state, &access, StatusCode::OK, errors).await
}

/// The dashboard with an already translated message at the password field `field` of the
/// form that was sent (`connect_password`, `renew_password`, `disconnect_password`,
/// `delete_history_password`; status 422).
pub async fn dashboard_with_message<C: Capability>(
    state: &AppState,
    access: &ClubAccess<C>,
    field: &'static str,
    text: String,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::new(access.ctx.lang());
    errors.add_text(field, text);
    dashboard_page(state, access, StatusCode::UNPROCESSABLE_ENTITY, errors).await
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    club_name: String,
    entries: Vec<Entry>,
}

impl AuditPage {
    fn action_label(&self, action: &str) -> String {
        self.c.t(&format!("audit.action.{action}")).into_owned()
    }

    /// The entry's details in words (see [`super::audit_text`]).
    fn details(&self, entry: &Entry) -> String {
        super::audit_text::describe(&entry.action, &entry.details, self.c.lang)
    }

    /// Whether the entry stored any details.
    fn has_raw(&self, entry: &Entry) -> bool {
        entry.details.as_object().is_some_and(|o| !o.is_empty())
    }

    /// The details as stored (JSON), for the folded "technical details".
    fn raw(&self, entry: &Entry) -> String {
        entry.details.to_string()
    }
}

pub async fn audit(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let entries = audit::recent(&mut tx, 200).await?;
    tx.commit().await?;
    render(&AuditPage {
        c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
        club_name: access.club_name.clone(),
        entries,
    })
}
