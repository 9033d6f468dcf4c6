//! The member's own page (`/pay/{token}`, no login) and the treasurer's buttons that issue and
//! revoke its link on the member's page (`pay_link`).

use super::{Chrome, render_status};
use crate::audit::Actor;
use crate::db::tenant::TenantTx;
use crate::pay_link::{self, MemberPage, Opened};
use crate::team::ManageMoney;
use crate::web::access::ClubAccess;
use crate::web::context::{ClientIp, Ctx};
use crate::web::error::AppError;
use crate::web::{AppState, paths};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

fn member_id(raw: &str) -> Result<crate::member::MemberId, AppError> {
    Uuid::parse_str(raw)
        .map(crate::member::MemberId)
        .map_err(|_| AppError::NotFound)
}

/// A change to the link of the member in the path (`raw`, not an id → 404): the member, a
/// transaction in the club and the signed-in person as the actor.
async fn link_change(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    raw: &str,
) -> Result<(crate::member::MemberId, TenantTx, Actor), AppError> {
    let id = member_id(raw)?;
    let tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    Ok((id, tx, Actor::person(&access.user)))
}

/// `POST /t/{club}/members/{id}/pay-link`: issues the member's link (an earlier one stops
/// working) and shows the member's page with it, once.
pub async fn issue_link(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (id, mut tx, actor) = link_change(&state, &access, &id).await?;
    let token = pay_link::issue(&mut tx, &actor, id, state.now()).await?;
    tx.commit().await?;
    let mut link = state.public_url.clone();
    link.set_path(&paths::pay(token.as_str()));
    link.set_query(None);
    super::members::detail_page(&state, &access, id, Some(link.to_string())).await
}

/// `POST /t/{club}/members/{id}/pay-link/revoke`: the member's link opens nothing any more.
pub async fn revoke_link(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (id, mut tx, actor) = link_change(&state, &access, &id).await?;
    pay_link::revoke(&mut tx, &actor, id, state.now()).await?;
    tx.commit().await?;
    access.ctx.flash("pay.link.revoked").await;
    Ok(Redirect::to(&paths::member(access.tenant.key(), id)).into_response())
}

/// The "send by e-mail" form: the link just shown to the treasurer.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct SendForm {
    pub link: String,
}

/// `POST /t/{club}/members/{id}/pay-link/send`: e-mails the link just issued (sent back by the
/// form) to the member, through the outbox (audited). A link that is no longer the member's
/// current one, or a member without an e-mail → a flash saying so; another club's member → 404.
pub async fn send_link(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
    axum::Form(form): axum::Form<SendForm>,
) -> Result<Response, AppError> {
    let (id, mut tx, actor) = link_change(&state, &access, &id).await?;
    let token = form.link.trim().rsplit('/').next().unwrap_or_default();
    let sent = pay_link::send(
        &mut tx,
        &actor,
        id,
        token,
        state.mailer.links(),
        access.ctx.lang(),
        state.now(),
    )
    .await?;
    let flash = match sent {
        pay_link::Sent::To(_) => {
            tx.commit().await?;
            state.mailer.wake();
            "pay.link.sent"
        }
        pay_link::Sent::Stale => "pay.link.stale",
        pay_link::Sent::NoEmail => "pay.link.no_email",
        pay_link::Sent::Earlier => "pay.link.sent_earlier",
    };
    access.ctx.flash(flash).await;
    Ok(Redirect::to(&paths::member(access.tenant.key(), id)).into_response())
}

#[derive(Template)]
#[template(path = "pay/member.html")]
struct PayPage {
    c: Chrome,
    page: MemberPage,
}

impl PayPage {
    fn money(&self, minor: &i64) -> String {
        crate::i18n::format_money(*minor, "CZK", self.c.lang)
    }

    fn day(&self, d: &time::Date) -> String {
        crate::i18n::format_day(*d, self.c.lang)
    }

    fn period(&self, start: &time::Date, end: &time::Date) -> String {
        super::fees::period_label(self.c.lang, (*start, *end))
    }

    /// "Payments received up to 24. 11. 2026 14:05 are included."
    fn freshness(&self) -> String {
        match &self.page.fresh_as_of {
            Some(at) => self.c.lang.t_with(
                "pay.page.fresh",
                &[("at", &crate::i18n::format_datetime(*at, self.c.lang))],
            ),
            None => self.c.t("pay.page.not_synced").into_owned(),
        }
    }
}

/// A message in a member's chrome that names no club: `<key>.title` and `<key>.text`.
fn member_message(ctx: &Ctx, status: StatusCode, key: &str) -> Result<Response, AppError> {
    let c = Chrome::for_member(&ctx.viewer, "");
    render_status(
        status,
        &super::public::MessagePage {
            title: c.t(&format!("{key}.title")).into_owned(),
            text: c.t(&format!("{key}.text")).into_owned(),
            link: None,
            c,
        },
    )
}

/// `X-Robots-Tag: noindex`: no search engine keeps a member's page.
const ROBOTS: (&str, &str) = ("x-robots-tag", "noindex");

/// `GET /pay/{token}`: the member's own page in the minimal chrome. Wrong, revoked and other
/// clubs' links are 404 with a friendly "this link no longer works" page (noindex like every
/// answer here); too many openings from one address are 429.
pub async fn member_page(
    State(state): State<AppState>,
    ctx: Ctx,
    ClientIp(client): ClientIp,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let opened = pay_link::open(&state.pool, client.as_deref(), &token, state.now()).await?;
    let response = match opened {
        Opened::Page(page) => {
            let c = Chrome::for_member(&ctx.viewer, &page.club_name);
            render_status(StatusCode::OK, &PayPage { c, page: *page })?
        }
        Opened::NotFound => member_message(&ctx, StatusCode::NOT_FOUND, "pay.gone")?,
        Opened::Limited => member_message(&ctx, StatusCode::TOO_MANY_REQUESTS, "pay.limited")?,
    };
    Ok(([ROBOTS], response).into_response())
}
