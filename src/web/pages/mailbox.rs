//! The local mailbox: with no SMTP server configured, this page shows every e-mail Kasa would
//! have sent, so sign-up works offline. The route does not exist when SMTP is configured.

use super::{Chrome, render};
use crate::mail::outbox::{self, Queued};
use crate::web::AppState;
use crate::web::context::Ctx;
use crate::web::error::AppError;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

#[derive(Template)]
#[template(path = "mailbox.html")]
struct MailboxPage {
    c: Chrome,
    mails: Vec<Queued>,
}

impl MailboxPage {
    /// The links in a mail body, to make them clickable.
    fn links(&self, body: &str) -> Vec<String> {
        body.split_whitespace()
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(str::to_owned)
            .collect()
    }
}

pub async fn mailbox(State(state): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let mails = outbox::latest(&state.pool, 50).await?;
    render(&MailboxPage {
        c: Chrome::build(&ctx, &state, None).await?,
        mails,
    })
}
