//! A club's own pages: the dashboard (bank connection, accounts, next step) and the audit log
//! (an account's pages are `accounts`).

use super::{Chrome, render, render_status};
use crate::audit::{self, Entry};
use crate::consent::ConnectionView;
use crate::db::tenant::TenantTx;
use crate::sync::views::{self, AccountSummary};
use crate::team::{Capability, Role, ViewClub};
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    club_name: String,
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

impl DashboardPage {
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
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let bank = state.consent.connection(&mut tx).await?;
    let connected = state.consent.connected_accounts(&mut tx).await?;
    let accounts = views::accounts(&mut tx).await?;
    let watches = crate::balance_watch::of_club(&mut tx).await?;
    let stamp = dashboard_stamp_of(&mut tx).await?;
    let today = crate::i18n::to_prague(state.now()).date();
    let fees = crate::payment::overview::month_summary(&mut tx, today).await?;
    tx.commit().await?;
    render_status(
        status,
        &DashboardPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            club_name: access.club_name.clone(),
            base: crate::web::paths::club(access.tenant.key()),
            email_confirmed: access.user.email_confirmed,
            can_manage_money: access.role >= Role::Treasurer,
            can_manage_team: access.role >= Role::Owner,
            team_href: crate::web::paths::team(access.tenant.key()),
            bank,
            accounts,
            connected,
            watches,
            stamp_url: format!(
                "{}/bank/stamp",
                crate::web::paths::club(access.tenant.key())
            ),
            stamp,
            fees,
            errors,
        },
    )
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
