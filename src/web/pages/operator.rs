//! `/operator`: the software statement and certificate expiry, and every club's consent and
//! sync health. Only for operators (`kasa operator add`, see `auth::operators`) with a confirmed
//! address, and only within [`FRESH_CHECK`] of re-entering their password on this page; everyone
//! else gets 404.

use super::{Chrome, render, render_status};
use crate::auth::login::{self, Checked};
use crate::auth::operators;
use crate::consent::operator::{self, ClubHealth, Overview};
use crate::web::AppState;
use crate::web::context::{ClientIp, SignedIn};
use crate::web::error::AppError;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

/// How long a password check on this page lasts.
pub const FRESH_CHECK: Duration = Duration::minutes(15);
const KEY_OPERATOR_AT: &str = "operator_at";

#[derive(Template)]
#[template(path = "operator.html")]
struct OperatorPage {
    c: Chrome,
    overview: Overview,
    now: OffsetDateTime,
}

impl OperatorPage {
    fn warn(&self, at: &Option<OffsetDateTime>) -> bool {
        Overview::warn(*at, self.now)
    }

    fn state(&self, club: &ClubHealth) -> String {
        match club.connection_state(self.now) {
            None => "—".to_owned(),
            Some(state) => self.c.t(state.label_key()).into_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "operator_unlock.html")]
struct UnlockPage {
    c: Chrome,
    error: Option<String>,
}

/// 404 unless the person is an operator with a confirmed address.
async fn require_operator(state: &AppState, s: &SignedIn) -> Result<(), AppError> {
    if operators::is_operator(&state.pool, &s.user).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

pub async fn operator_page(
    State(state): State<AppState>,
    s: SignedIn,
) -> Result<Response, AppError> {
    require_operator(&state, &s).await?;
    let checked_at: Option<i64> = s.ctx.session.get(KEY_OPERATOR_AT).await.ok().flatten();
    let fresh = checked_at
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .is_some_and(|t| state.now() - t < FRESH_CHECK);
    if !fresh {
        return render(&UnlockPage {
            c: Chrome::build(&s.ctx, &state, None).await?,
            error: None,
        });
    }
    let overview = operator::overview(&state.pool, state.kb_identity.as_ref()).await?;
    render(&OperatorPage {
        c: Chrome::build(&s.ctx, &state, None).await?,
        overview,
        now: state.now(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UnlockForm {
    pub password: String,
}

/// `POST /operator`: the password again (throttled like a login), then the overview.
pub async fn unlock(
    State(state): State<AppState>,
    s: SignedIn,
    ClientIp(ip): ClientIp,
    Form(form): Form<UnlockForm>,
) -> Result<Response, AppError> {
    require_operator(&state, &s).await?;
    let now = state.now();
    let checked =
        login::reauthenticate(&state.pool, s.user.id, &form.password, ip.as_deref(), now).await?;
    let error = match checked {
        Checked::Ok(()) => {
            s.ctx
                .session
                .insert(KEY_OPERATOR_AT, now.unix_timestamp())
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            return Ok(Redirect::to("/operator").into_response());
        }
        Checked::Wrong => s.ctx.t("errors.kasa_password").into_owned(),
        Checked::Throttled(wait) => {
            super::public::throttled_text(s.ctx.lang(), "errors.reauth_throttled", wait)
        }
    };
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &UnlockPage {
            c: Chrome::build(&s.ctx, &state, None).await?,
            error: Some(error),
        },
    )
}
