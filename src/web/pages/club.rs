//! A club's own pages: the dashboard (what to do next) and the audit log.

use super::{Chrome, render};
use crate::audit::{self, Entry};
use crate::db::tenant::TenantTx;
use crate::team::{Role, ViewClub};
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    club_name: String,
    email_confirmed: bool,
    can_manage_money: bool,
    can_manage_team: bool,
    team_href: String,
}

pub async fn dashboard(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
) -> Result<Response, AppError> {
    render(&DashboardPage {
        c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
        club_name: access.club_name.clone(),
        email_confirmed: access.user.email_confirmed,
        can_manage_money: access.role >= Role::Treasurer,
        can_manage_team: access.role >= Role::Owner,
        team_href: crate::web::paths::team(access.tenant.key()),
    })
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

    fn details(&self, entry: &Entry) -> String {
        entry
            .details
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| match v.as_str() {
                        Some(s) => format!("{k}: {s}"),
                        None => format!("{k}: {v}"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
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
