//! `/operator`: the software statement and certificate expiry, and every club's consent and
//! sync health. Only for the configured operator addresses; everyone else gets 404.

use super::{Chrome, render};
use crate::consent::ConnectionState;
use crate::consent::operator::{self, ClubHealth, Overview};
use crate::web::AppState;
use crate::web::context::SignedIn;
use crate::web::error::AppError;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use time::OffsetDateTime;

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
        match &club.connection_status {
            None => "—".to_owned(),
            Some(status) => self
                .c
                .t(ConnectionState::derive(status, club.consent_expires_at, self.now).label_key())
                .into_owned(),
        }
    }
}

pub async fn operator_page(
    State(state): State<AppState>,
    s: SignedIn,
) -> Result<Response, AppError> {
    if !state.operator_emails.contains(&s.user.email) {
        return Err(AppError::NotFound);
    }
    let overview = operator::overview(&state.pool, state.kb_identity.as_ref()).await?;
    render(&OperatorPage {
        c: Chrome::build(&s.ctx, &state, None).await?,
        overview,
        now: state.now(),
    })
}
