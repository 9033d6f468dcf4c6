//! Pages of a signed-in person that belong to no club: the club list, a new club, the account
//! (password change, e-mail confirmation).

use super::public::MessagePage;
use super::{Chrome, render, render_status};
use crate::auth::account::{self, PasswordChange};
use crate::auth::login::Checked;
use crate::auth::recovery;
use crate::club::{self, ClubName, ClubSummary, Ico};
use crate::web::context::{ClientIp, SignedIn};
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use crate::web::{AppState, paths};
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "clubs.html")]
struct ClubsPage {
    c: Chrome,
    clubs: Vec<(ClubSummary, String)>,
}

pub async fn clubs(State(state): State<AppState>, s: SignedIn) -> Result<Response, AppError> {
    let clubs = s
        .ctx
        .viewer
        .clubs
        .iter()
        .map(|c| (c.clone(), paths::club(c.tenant.key())))
        .collect();
    render(&ClubsPage {
        c: Chrome::build(&s.ctx, &state, None).await?,
        clubs,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewClubForm {
    pub club_name: String,
    pub ico: String,
}

#[derive(Template)]
#[template(path = "club_new.html")]
struct NewClubPage {
    c: Chrome,
    form: NewClubForm,
    errors: FieldErrors,
}

pub async fn new_club_form(
    State(state): State<AppState>,
    s: SignedIn,
) -> Result<Response, AppError> {
    render(&NewClubPage {
        c: Chrome::build(&s.ctx, &state, None).await?,
        form: NewClubForm::default(),
        errors: FieldErrors::new(s.ctx.lang()),
    })
}

pub async fn new_club(
    State(state): State<AppState>,
    s: SignedIn,
    Form(form): Form<NewClubForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::new(s.ctx.lang());
    let name = ClubName::parse(&form.club_name);
    if name.is_none() {
        errors.add("club_name", "errors.club_name");
    }
    let ico = Ico::parse(&form.ico);
    if ico.is_none() {
        errors.add("ico", "errors.ico");
    }
    let (Some(name), Some(ico)) = (name, ico) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewClubPage {
                c: Chrome::build(&s.ctx, &state, None).await?,
                form,
                errors,
            },
        );
    };
    let problem =
        match club::create_additional(&state.pool, &s.user, &name, &ico, state.now()).await {
            Ok(tenant) => {
                s.ctx.flash("flash.club_created").await;
                return Ok(Redirect::to(&paths::club(tenant.key())).into_response());
            }
            Err(club::Error::EmailNotConfirmed) => "errors.club_needs_confirmed_email",
            Err(club::Error::TooMany) => "errors.too_many_clubs",
            Err(error) => return Err(error.into()),
        };
    errors.add("club_name", problem);
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &NewClubPage {
            c: Chrome::build(&s.ctx, &state, None).await?,
            form,
            errors,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    pub current: String,
    pub password: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    email: String,
    confirmed: bool,
    errors: FieldErrors,
}

async fn account(
    state: &AppState,
    s: &SignedIn,
    status: StatusCode,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    render_status(
        status,
        &AccountPage {
            c: Chrome::build(&s.ctx, state, None).await?,
            email: s.user.email.to_string(),
            confirmed: s.user.email_confirmed,
            errors,
        },
    )
}

pub async fn account_page(
    State(state): State<AppState>,
    s: SignedIn,
) -> Result<Response, AppError> {
    let errors = FieldErrors::new(s.ctx.lang());
    account(&state, &s, StatusCode::OK, errors).await
}

/// Changes the password (the current one is required); every other session of the person ends,
/// this one continues under a new id.
pub async fn change_password(
    State(state): State<AppState>,
    s: SignedIn,
    ClientIp(ip): ClientIp,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let now = state.now();
    let change = account::change_password(
        &state.mailer,
        &s.user,
        &form.current,
        &form.password,
        ip.as_deref(),
        now,
    )
    .await?;
    match change {
        PasswordChange::Changed(user) => {
            crate::web::context::sign_in(&s.ctx.session, &user, now).await?;
            s.ctx.flash("flash.password_changed").await;
            Ok(Redirect::to("/account").into_response())
        }
        PasswordChange::Refused { current, password } => {
            let mut errors = FieldErrors::new(s.ctx.lang());
            match current {
                Checked::Ok(()) => {}
                Checked::Wrong => errors.add("current", "errors.current_password"),
                Checked::Throttled(wait) => errors.add_text(
                    "current",
                    super::public::throttled_text(s.ctx.lang(), "errors.reauth_throttled", wait),
                ),
            }
            if let Some(problem) = password {
                errors.add("password", problem.message_key());
            }
            account(&state, &s, StatusCode::UNPROCESSABLE_ENTITY, errors).await
        }
    }
}

/// Sends a fresh confirmation link (limited per person; the page is the same either way).
pub async fn resend_confirmation(
    State(state): State<AppState>,
    s: SignedIn,
) -> Result<Response, AppError> {
    recovery::resend_confirmation(&state.mailer, &s.user, state.now()).await?;
    render(&MessagePage {
        c: Chrome::build(&s.ctx, &state, None).await?,
        title: s.ctx.t("confirm.resent.title").into_owned(),
        text: s.ctx.t("confirm.resent.text").into_owned(),
        link: Some(("/".to_owned(), s.ctx.t("confirm.continue").into_owned())),
    })
}
