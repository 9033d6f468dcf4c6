//! The team page (teammates, roles, invitations) and the invitation link.

use super::public::MessagePage;
use super::{Chrome, render_status};
use crate::auth::Email;
use crate::team::{
    self, Accept, Acceptance, Invite, ManageTeam, PendingInvitation, Role, Teammate, ViewClub,
    invitations,
};
use crate::web::access::ClubAccess;
use crate::web::context::{self, Ctx};
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use crate::web::{AppState, paths};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    c: Chrome,
    club_name: String,
    base: String,
    teammates: Vec<Teammate>,
    invitations: Vec<PendingInvitation>,
    can_manage: bool,
    me: crate::auth::UserId,
    form_email: String,
    form_role: String,
    errors: FieldErrors,
    roles: Vec<(&'static str, String)>,
}

async fn team_page_with(
    state: &AppState,
    access: &ClubAccess<impl team::Capability>,
    status: StatusCode,
    form_email: String,
    form_role: String,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let lang = access.ctx.lang();
    render_status(
        status,
        &TeamPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            club_name: access.club_name.clone(),
            base: paths::team(access.tenant.key()),
            teammates: team::teammates(&state.pool, &access.tenant).await?,
            invitations: team::pending_invitations(&state.pool, &access.tenant, state.now())
                .await?,
            can_manage: access.role >= Role::Owner,
            me: access.user.id,
            form_email,
            form_role,
            errors,
            roles: Role::ALL
                .iter()
                .map(|r| (r.as_str(), lang.t(r.label_key()).into_owned()))
                .collect(),
        },
    )
}

pub async fn team_page(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
) -> Result<Response, AppError> {
    let errors = FieldErrors::new(access.ctx.lang());
    team_page_with(
        &state,
        &access,
        StatusCode::OK,
        String::new(),
        "treasurer".into(),
        errors,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    pub email: String,
    pub role: String,
}

pub async fn invite(
    State(state): State<AppState>,
    access: ClubAccess<ManageTeam>,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::new(access.ctx.lang());
    let email = Email::parse(&form.email);
    if email.is_none() {
        errors.add("email", "errors.email");
    }
    let role = Role::parse(&form.role);
    if role.is_none() {
        errors.add("role", "errors.role");
    }
    if let (Some(email), Some(role)) = (email, role) {
        let invite = Invite {
            email,
            role,
            lang: access.ctx.lang(),
        };
        match team::invite(
            &state.mailer,
            &access.tenant,
            &access.club_name,
            &access.user,
            &invite,
            state.now(),
        )
        .await
        {
            Ok(()) => {
                access.ctx.flash("flash.invited").await;
                return Ok(Redirect::to(&paths::team(access.tenant.key())).into_response());
            }
            Err(team::Error::AlreadyMember) => errors.add("email", "errors.already_member"),
            Err(team::Error::TooMany(_)) => errors.add("email", "errors.too_many_invitations"),
            Err(error) => return Err(error.into()),
        }
    }
    team_page_with(
        &state,
        &access,
        StatusCode::UNPROCESSABLE_ENTITY,
        form.email,
        form.role,
        errors,
    )
    .await
}

fn team_change_outcome(
    access: &ClubAccess<ManageTeam>,
    result: Result<(), team::Error>,
) -> Result<(Redirect, Option<&'static str>), AppError> {
    let back = Redirect::to(&paths::team(access.tenant.key()));
    match result {
        Ok(()) => Ok((back, Some("flash.team_changed"))),
        Err(team::Error::LastOwner) => Ok((back, Some("flash.last_owner"))),
        Err(error) => Err(error.into()),
    }
}

async fn finish(
    access: &ClubAccess<ManageTeam>,
    result: Result<(), team::Error>,
) -> Result<Response, AppError> {
    let (redirect, flash) = team_change_outcome(access, result)?;
    if let Some(key) = flash {
        access.ctx.flash(key).await;
    }
    Ok(redirect.into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    access: ClubAccess<ManageTeam>,
    Path((_club, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let result =
        team::revoke_invitation(&state.pool, &access.tenant, &access.user, id, state.now()).await;
    finish(&access, result).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleForm {
    pub role: String,
}

pub async fn change_role(
    State(state): State<AppState>,
    access: ClubAccess<ManageTeam>,
    Path((_club, id)): Path<(String, i64)>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    let Some(role) = Role::parse(&form.role) else {
        let mut errors = FieldErrors::new(access.ctx.lang());
        errors.add("role", "errors.role");
        return team_page_with(
            &state,
            &access,
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            String::new(),
            errors,
        )
        .await;
    };
    let result = team::change_teammate(
        &state.pool,
        &access.tenant,
        &access.user,
        id,
        Some(role),
        state.now(),
    )
    .await;
    finish(&access, result).await
}

pub async fn remove(
    State(state): State<AppState>,
    access: ClubAccess<ManageTeam>,
    Path((_club, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let result = team::change_teammate(
        &state.pool,
        &access.tenant,
        &access.user,
        id,
        None,
        state.now(),
    )
    .await;
    finish(&access, result).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvitationQuery {
    pub token: String,
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    c: Chrome,
    token: String,
    club_name: String,
    email: String,
    role: String,
    /// Signed in as the invited address: one button to join.
    signed_in_as_invitee: bool,
    /// Signed in as someone else.
    signed_in_as_other: Option<String>,
    login_href: String,
    errors: FieldErrors,
}

async fn invitation_view(
    state: &AppState,
    ctx: &Ctx,
    token: String,
    status: StatusCode,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let now = state.now();
    let invitation = match team::find_invitation(&state.pool, &token, now).await? {
        Ok(invitation) => invitation,
        Err(rejected) => {
            let (title, text) = match rejected {
                invitations::Rejected::Expired => {
                    ("invitation.expired.title", "invitation.expired.text")
                }
                invitations::Rejected::Unknown => {
                    ("invitation.invalid.title", "invitation.invalid.text")
                }
            };
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &MessagePage {
                    c: Chrome::build(ctx, state, None).await?,
                    title: ctx.t(title).into_owned(),
                    text: ctx.t(text).into_owned(),
                    link: None,
                },
            );
        }
    };
    let signed_in = ctx.user().map(|u| u.email.clone());
    let page = InvitationPage {
        c: Chrome::build(ctx, state, None).await?,
        token: token.clone(),
        club_name: invitation.club_name.clone(),
        email: invitation.email.to_string(),
        role: ctx.t(invitation.role.label_key()).into_owned(),
        signed_in_as_invitee: signed_in.as_ref() == Some(&invitation.email),
        signed_in_as_other: signed_in
            .filter(|e| e != &invitation.email)
            .map(|e| e.to_string()),
        login_href: paths::login_then(&format!(
            "/invitation?token={}",
            url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
        )),
        errors,
    };
    render_status(status, &page)
}

pub async fn invitation_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<InvitationQuery>,
) -> Result<Response, AppError> {
    let errors = FieldErrors::new(ctx.lang());
    invitation_view(&state, &ctx, q.token, StatusCode::OK, errors).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AcceptForm {
    pub token: String,
    /// Only for a new account.
    pub password: String,
}

/// Accepts an invitation: a signed-in invitee joins; a new person creates an account and joins.
pub async fn accept_invitation(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<AcceptForm>,
) -> Result<Response, AppError> {
    let now = state.now();
    let input = Accept {
        token: &form.token,
        signed_in: ctx.user(),
        password: &form.password,
        lang: ctx.lang(),
    };
    let tenant = match team::accept(&state.pool, input, now).await? {
        Acceptance::Joined(tenant) => tenant,
        Acceptance::JoinedAsNew { user, tenant } => {
            context::sign_in(&ctx.session, &user, now).await?;
            tenant
        }
        Acceptance::OtherPerson => return Err(AppError::Forbidden),
        refused => {
            let mut errors = FieldErrors::new(ctx.lang());
            match refused {
                Acceptance::LogInFirst => errors.add("password", "errors.invitation_login_first"),
                Acceptance::Password(problem) => errors.add("password", problem.message_key()),
                _ => {}
            }
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return invitation_view(&state, &ctx, form.token, status, errors).await;
        }
    };
    ctx.flash("flash.joined").await;
    Ok(Redirect::to(&paths::club(tenant.key())).into_response())
}
