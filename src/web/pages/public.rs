//! Pages anyone can open: landing, sign-up, log-in, log-out, e-mail confirmation, forgotten
//! password, language switch.

use super::{Chrome, render, render_status};
use crate::auth::login::{self, Checked};
use crate::auth::password::NewPassword;
use crate::auth::recovery::{self, Reset};
use crate::auth::tokens::Rejected;
use crate::auth::{Email, users};
use crate::club::{self, ClubName, Ico, SignUp};
use crate::i18n::Lang;
use crate::web::context::{self, ClientIp, Ctx};
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
#[template(path = "landing.html")]
struct LandingPage {
    c: Chrome,
}

/// `/`: the landing page, or the signed-in person's club.
pub async fn home(State(state): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    if ctx.user().is_some() {
        return Ok(match &*ctx.viewer.clubs {
            [only] => Redirect::to(&paths::club(only.tenant.key())).into_response(),
            _ => Redirect::to("/clubs").into_response(),
        });
    }
    render(&LandingPage {
        c: Chrome::build(&ctx, &state, None).await?,
    })
}

#[derive(Template)]
#[template(path = "help.html")]
struct HelpPage {
    c: Chrome,
}

/// `/help`: what the consent is, why the bank asks for the password again, what the two
/// balances mean, what the sandbox is.
pub async fn help(State(state): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    render(&HelpPage {
        c: Chrome::build(&ctx, &state, None).await?,
    })
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    c: Chrome,
}

/// `/privacy`: Kasa's own privacy notice (an operator may link theirs instead).
pub async fn privacy(State(state): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    render(&PrivacyPage {
        c: Chrome::build(&ctx, &state, None).await?,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignupForm {
    pub club_name: String,
    pub ico: String,
    pub email: String,
    pub password: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    c: Chrome,
    form: SignupForm,
    errors: FieldErrors,
}

pub async fn signup_form(State(state): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    render(&SignupPage {
        c: Chrome::build(&ctx, &state, None).await?,
        form: SignupForm::default(),
        errors: FieldErrors::new(ctx.lang()),
    })
}

pub async fn signup(
    State(state): State<AppState>,
    ctx: Ctx,
    ClientIp(ip): ClientIp,
    Form(form): Form<SignupForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::new(ctx.lang());
    let club_name = ClubName::parse(&form.club_name);
    if club_name.is_none() {
        errors.add("club_name", "errors.club_name");
    }
    let ico = Ico::parse(&form.ico);
    if ico.is_none() {
        errors.add("ico", "errors.ico");
    }
    let email = Email::parse(&form.email);
    if email.is_none() {
        errors.add("email", "errors.email");
    }
    let password = NewPassword::parse(&form.password, email.as_ref().map(Email::as_str));
    if let Err(problem) = &password {
        errors.add("password", problem.message_key());
    }
    let (Some(club_name), Some(ico), Some(email), Ok(password)) = (club_name, ico, email, password)
    else {
        return signup_again(&state, &ctx, form, errors).await;
    };
    let input = SignUp {
        club: club_name,
        ico,
        email,
        password,
        lang: ctx.lang(),
        client: ip,
    };
    match club::sign_up(&state.mailer, input, state.now()).await {
        Ok(done) => {
            context::sign_in(&ctx.session, &done.user, state.now()).await?;
            ctx.flash(if done.ico_shared {
                "flash.signed_up_ico_shared"
            } else {
                "flash.signed_up"
            })
            .await;
            Ok(Redirect::to(&paths::club(done.tenant.key())).into_response())
        }
        Err(club::Error::EmailTaken) => {
            errors.add("email", "errors.email_taken");
            signup_again(&state, &ctx, form, errors).await
        }
        Err(club::Error::TooMany) => {
            errors.add("email", "errors.too_many_signups");
            signup_again(&state, &ctx, form, errors).await
        }
        Err(error) => Err(error.into()),
    }
}

async fn signup_again(
    state: &AppState,
    ctx: &Ctx,
    mut form: SignupForm,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    // A password that passed its own checks is kept, so an error elsewhere does not make the
    // person type it again (the page is `no-store`); a refused one is cleared.
    if errors.msg("password").is_some() {
        form.password.clear();
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &SignupPage {
            c: Chrome::build(ctx, state, None).await?,
            form,
            errors,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    pub email: String,
    pub password: String,
    pub next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NextQuery {
    pub next: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    email: String,
    next: String,
    error: Option<String>,
}

pub async fn login_form(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    render(&LoginPage {
        c: Chrome::build(&ctx, &state, None).await?,
        email: String::new(),
        next: paths::safe_next(&q.next).unwrap_or("").to_owned(),
        error: None,
    })
}

pub async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let next = paths::safe_next(&form.next).unwrap_or("").to_owned();
    let outcome = login::log_in(
        &state.pool,
        &form.email,
        &form.password,
        ip.as_deref(),
        state.now(),
    )
    .await?;
    let error = match outcome {
        Checked::Ok(user) => {
            context::sign_in(&ctx.session, &user, state.now()).await?;
            let target = if next.is_empty() { "/" } else { next.as_str() };
            return Ok(Redirect::to(target).into_response());
        }
        Checked::Throttled(wait) => throttled_text(ctx.lang(), "errors.login_throttled", wait),
        Checked::Wrong => ctx.t("errors.login_failed").into_owned(),
    };
    // Only a bounded, printable echo of what was typed.
    let email: String = form
        .email
        .chars()
        .filter(|c| !c.is_control())
        .take(254)
        .collect();
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &LoginPage {
            c: Chrome::build(&ctx, &state, None).await?,
            email,
            next,
            error: Some(error),
        },
    )
}

/// "Too many attempts, try again in N min" with `key`'s text (placeholder `%{minutes}`).
pub(crate) fn throttled_text(lang: Lang, key: &str, wait: time::Duration) -> String {
    let minutes = (wait.whole_seconds() + 59) / 60;
    lang.t_with(key, &[("minutes", &minutes.max(1).to_string())])
}

pub async fn logout(ctx: Ctx) -> Result<Response, AppError> {
    ctx.session
        .flush()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(Redirect::to("/").into_response())
}

#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage {
    pub c: Chrome,
    pub title: String,
    pub text: String,
    pub link: Option<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenQuery {
    pub token: String,
}

/// `GET /confirm-email?token=…`: the link from the confirmation e-mail.
pub async fn confirm_email(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let outcome = recovery::confirm_email(&state.pool, &q.token, state.now()).await?;
    let c = Chrome::build(&ctx, &state, None).await?;
    let (status, title, text) = match outcome {
        Ok(_) => (StatusCode::OK, "confirm.done.title", "confirm.done.text"),
        Err(Rejected::Expired) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirm.expired.title",
            "confirm.expired.text",
        ),
        Err(Rejected::Unknown) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirm.invalid.title",
            "confirm.invalid.text",
        ),
    };
    let link = if ctx.user().is_some() {
        Some(("/".to_owned(), ctx.t("confirm.continue").into_owned()))
    } else {
        Some(("/login".to_owned(), ctx.t("nav.login").into_owned()))
    };
    let mut response = render_status(
        status,
        &MessagePage {
            c,
            title: ctx.t(title).into_owned(),
            text: ctx.t(text).into_owned(),
            link,
        },
    )?;
    response.extensions_mut().insert(context::PersonChanged);
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ForgotForm {
    pub email: String,
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    c: Chrome,
}

pub async fn forgot_form(State(state): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    render(&ForgotPage {
        c: Chrome::build(&ctx, &state, None).await?,
    })
}

/// Sends a reset link if the address belongs to an account. The page answers at once and the
/// work (lookup, limits, token, mail) runs afterwards, so neither the answer nor its timing tells
/// whether the account exists.
pub async fn forgot(
    State(state): State<AppState>,
    ctx: Ctx,
    ClientIp(ip): ClientIp,
    Form(form): Form<ForgotForm>,
) -> Result<Response, AppError> {
    let mailer = state.mailer.clone();
    let now = state.now();
    tokio::spawn(async move {
        if let Err(error) = recovery::request_reset(&mailer, &form.email, ip.as_deref(), now).await
        {
            tracing::warn!(%error, "could not queue a password reset");
        }
    });
    render(&MessagePage {
        c: Chrome::build(&ctx, &state, None).await?,
        title: ctx.t("forgot.sent.title").into_owned(),
        text: ctx.t("forgot.sent.text").into_owned(),
        link: Some(("/login".to_owned(), ctx.t("nav.login").into_owned())),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResetForm {
    pub token: String,
    pub password: String,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    c: Chrome,
    token: String,
    errors: FieldErrors,
}

pub async fn reset_form(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let check = recovery::check_reset_link(&state.pool, &q.token, state.now()).await?;
    let mut errors = FieldErrors::new(ctx.lang());
    let status = match check {
        Ok(_) => StatusCode::OK,
        Err(_) => {
            errors.add("token", "errors.reset_link_invalid");
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    render_status(
        status,
        &ResetPage {
            c: Chrome::build(&ctx, &state, None).await?,
            token: q.token,
            errors,
        },
    )
}

/// Sets a new password from a reset link; every session of the account ends.
pub async fn reset(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<ResetForm>,
) -> Result<Response, AppError> {
    match recovery::reset_password(&state.mailer, &form.token, &form.password, state.now()).await? {
        Reset::Done => {
            ctx.session
                .flush()
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            ctx.flash("flash.password_reset").await;
            Ok(Redirect::to("/login").into_response())
        }
        Reset::Refused { link, password } => {
            let mut errors = FieldErrors::new(ctx.lang());
            if link.is_some() {
                errors.add("token", "errors.reset_link_invalid");
            }
            if let Some(problem) = password {
                errors.add("password", problem.message_key());
            }
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ResetPage {
                    c: Chrome::build(&ctx, &state, None).await?,
                    token: form.token,
                    errors,
                },
            )
        }
    }
}

/// `GET /lang/{code}?next=…`: switches the language and goes back.
pub async fn switch_lang(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let lang = Lang::from_code(&code).ok_or(AppError::NotFound)?;
    ctx.session
        .insert(context::KEY_LANG, lang.code())
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    if let Some(user) = ctx.user() {
        users::set_lang(&state.pool, user.id, lang).await?;
    }
    let mut response = Redirect::to(paths::safe_next(&q.next).unwrap_or("/")).into_response();
    response.extensions_mut().insert(context::PersonChanged);
    Ok(response)
}
