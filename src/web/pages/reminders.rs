//! The reminders page (`/t/{club}/reminders`): who would get which reminder now, who cannot be
//! reminded and who waits for a fresher sync; the Send button (`reminder::send`), the club's
//! reminder settings, a teammate's own "payment received" e-mails (`payment_notice`), and the
//! member's switch on the member's page.

use super::{Chrome, render_status};
use crate::audit::Actor;
use crate::db::tenant::TenantTx;
use crate::form_token::FormToken;
use crate::payment_notice::{self, Mode};
use crate::reminder::{self, Choice, Item, Payer, Preview, Sent, Settings};
use crate::team::{ManageMoney, Role, ViewClub};
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use crate::web::forms::FieldErrors;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::BTreeSet;
use uuid::Uuid;

fn base(access: &ClubAccess<impl crate::team::Capability>) -> String {
    crate::web::paths::club(access.tenant.key())
}

#[derive(Template)]
#[template(path = "reminders/preview.html")]
struct RemindersPage {
    c: Chrome,
    base: String,
    preview: Preview,
    settings: Settings,
    /// The lag field as typed (or stored).
    lag: String,
    errors: FieldErrors,
    notice_mode: Mode,
    form_token: String,
    can_manage: bool,
    /// "Sent: 3 reminders" after a send.
    sent: Option<String>,
}

impl RemindersPage {
    fn money(&self, minor: &i64) -> String {
        crate::i18n::format_money(*minor, "CZK", self.c.lang)
    }

    /// "Payments received up to 24. 11. 2026 14:05 are counted."
    fn fresh_text(&self) -> String {
        match &self.preview.fresh_as_of {
            Some(at) => self.c.lang.t_with(
                "reminders.preview.fresh",
                &[("at", &crate::i18n::format_datetime(*at, self.c.lang))],
            ),
            None => self.c.t("reminders.preview.not_synced").into_owned(),
        }
    }

    /// "7 dní před splatností", "v den splatnosti", "14 dní po splatnosti".
    fn step_label(&self, item: &Item) -> String {
        let step = item.step();
        match step {
            0 => self.c.t("reminders.step.on_due").into_owned(),
            s if s < 0 => self.c.lang.t_count("reminders.step.before", -i64::from(s)),
            s => self.c.lang.t_count("reminders.step.after", i64::from(s)),
        }
    }

    /// The charges reminded, by name and period.
    fn charges(&self, item: &Item) -> String {
        item.steps
            .iter()
            .map(|s| reminder::charge_label(self.c.lang, &s.schedule_name, s.period))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn email(&self, item: &Item) -> String {
        item.emails
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn ready_count(&self) -> String {
        self.c
            .lang
            .t_count("reminders.preview.count", self.preview.ready.len() as i64)
    }

    /// The notice choices: (value, label, chosen).
    fn modes(&self) -> Vec<(&'static str, String, bool)> {
        Mode::ALL
            .into_iter()
            .map(|mode| {
                (
                    mode.as_str(),
                    self.c
                        .t(&format!("reminders.notices.{}", mode.as_str()))
                        .into_owned(),
                    mode == self.notice_mode,
                )
            })
            .collect()
    }

    /// Why nobody can be reminded yet, if that is so.
    fn blocked(&self) -> Option<String> {
        if self.preview.waiting.is_empty() {
            return None;
        }
        let lang = self.c.lang;
        let needed = self
            .preview
            .waiting_for()
            .map(|at| crate::i18n::format_datetime(at, lang))
            .unwrap_or_default();
        Some(match &self.preview.fresh_as_of {
            Some(fresh) => lang.t_with(
                "reminders.blocked.stale",
                &[
                    ("fresh", &crate::i18n::format_datetime(*fresh, lang)),
                    ("needed", &needed),
                ],
            ),
            None => self.c.t("reminders.blocked.no_sync").into_owned(),
        })
    }
}

/// The page's query: how many reminders the last send queued.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    pub sent: Option<u32>,
    pub excluded: Option<u32>,
    pub earlier: Option<String>,
}

async fn page(
    state: &AppState,
    access: &ClubAccess<impl crate::team::Capability>,
    lag: Option<String>,
    errors: FieldErrors,
    sent: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let preview = reminder::preview(&mut tx, state.now()).await?;
    tx.commit().await?;
    let settings = preview.settings.unwrap_or(Settings {
        booking_lag_days: 2,
        thank_you: false,
    });
    let notice_mode = payment_notice::mode(&state.pool, &access.tenant, access.user.id).await?;
    render_status(
        status,
        &RemindersPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            base: base(access),
            lag: lag.unwrap_or_else(|| settings.booking_lag_days.to_string()),
            preview,
            settings,
            errors,
            notice_mode,
            form_token: FormToken::new().as_str().to_owned(),
            can_manage: access.role >= Role::Treasurer,
            sent,
        },
    )
}

/// `GET /t/{club}/reminders`: the preview (any teammate; the Send button for treasurers).
pub async fn preview(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let lang = access.ctx.lang();
    let sent = match (query.sent, query.earlier) {
        (_, Some(_)) => Some(lang.t("reminders.flash.earlier").into_owned()),
        (Some(n), None) => {
            let mut text = lang.t_count("reminders.flash.sent", i64::from(n));
            if let Some(x) = query.excluded.filter(|x| *x > 0) {
                text.push(' ');
                text.push_str(&lang.t_count("reminders.flash.excluded", i64::from(x)));
            }
            Some(text)
        }
        (None, None) => None,
    };
    page(
        &state,
        &access,
        None,
        FieldErrors::new(lang),
        sent,
        StatusCode::OK,
    )
    .await
}

fn actor(access: &ClubAccess<impl crate::team::Capability>) -> Actor {
    Actor::person(&access.user)
}

/// `POST /t/{club}/reminders/send`: sends the batch the page showed: `seen` names every payer
/// listed, `send` those left ticked, `form_token` the page's one-time token (a second submit
/// sends nothing more). Audited; back to the page with the count.
pub async fn send(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let mut seen = Vec::new();
    let mut ticked = BTreeSet::new();
    let mut form_token = None;
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "seen" => seen.extend(Payer::parse(&value)),
            "send" => ticked.extend(Payer::parse(&value)),
            "form_token" => form_token = FormToken::parse(&value),
            _ => {}
        }
    }
    let choice = Choice {
        excluded: seen
            .iter()
            .filter(|p| !ticked.contains(*p))
            .copied()
            .collect(),
        seen,
        form_token,
    };
    let sent = reminder::send(
        &state.mailer,
        &access.tenant,
        &actor(&access),
        &choice,
        state.now(),
    )
    .await?;
    let query = match sent {
        Sent::Batch { mails, excluded } => format!("sent={mails}&excluded={excluded}"),
        Sent::Earlier => "earlier=1".to_owned(),
    };
    Ok(Redirect::to(&format!("{}/reminders?{query}", base(&access))).into_response())
}

/// The settings form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    pub booking_lag_days: String,
    /// A checkbox: present (`on`) or absent.
    pub thank_you: Option<String>,
}

/// `POST /t/{club}/reminders/settings`: the booking lag and the thank-you switch (audited); a
/// bad lag → 422 with the message at the field.
pub async fn save_settings(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    axum::Form(form): axum::Form<SettingsForm>,
) -> Result<Response, AppError> {
    let Some(booking_lag_days) = reminder::parse_lag(&form.booking_lag_days) else {
        let mut errors = FieldErrors::new(access.ctx.lang());
        errors.add("booking_lag_days", "reminders.error.lag");
        return page(
            &state,
            &access,
            Some(form.booking_lag_days),
            errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let settings = Settings {
        booking_lag_days,
        thank_you: form.thank_you.is_some(),
    };
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    reminder::save_settings(&mut tx, &actor(&access), settings, state.now()).await?;
    tx.commit().await?;
    access.ctx.flash("reminders.flash.settings_saved").await;
    Ok(Redirect::to(&format!("{}/reminders", base(&access))).into_response())
}

/// The notices form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NoticesForm {
    pub mode: String,
}

/// `POST /t/{club}/reminders/notices`: the signed-in teammate's own "payment received"
/// e-mails (any role: it changes only what they receive). An unknown mode is 422.
pub async fn save_notices(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    axum::Form(form): axum::Form<NoticesForm>,
) -> Result<Response, AppError> {
    let Some(mode) = Mode::parse(&form.mode) else {
        let mut errors = FieldErrors::new(access.ctx.lang());
        errors.add("mode", "reminders.error.mode");
        return page(
            &state,
            &access,
            None,
            errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    payment_notice::set_mode(
        &state.pool,
        &access.tenant,
        access.user.id,
        mode,
        state.now(),
    )
    .await?;
    access.ctx.flash("reminders.flash.notices_saved").await;
    Ok(Redirect::to(&format!("{}/reminders", base(&access))).into_response())
}

/// The member's switch.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MemberForm {
    /// `on` or `off`.
    pub reminders: String,
}

/// `POST /t/{club}/members/{id}/reminders`: switches the member's reminders on or off
/// (audited); back to the member's page.
pub async fn switch_member(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
    axum::Form(form): axum::Form<MemberForm>,
) -> Result<Response, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    let on = match form.reminders.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(AppError::NotFound),
    };
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    reminder::set_member_reminded(&mut tx, &actor(&access), id, on, state.now()).await?;
    tx.commit().await?;
    access.ctx.flash("reminders.flash.member_saved").await;
    Ok(Redirect::to(&crate::web::paths::member(
        access.tenant.key(),
        crate::member::MemberId(id),
    ))
    .into_response())
}
