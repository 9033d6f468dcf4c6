//! Payment pages: the queue of unmatched payments (best suggestion on top, one-click
//! assignment), recently decided payments with their explanation, and a person's actions on a
//! payment (assign, confirm, unmatch, irrelevant, restore, undo) and "re-run matching".

use super::{Chrome, render};
use crate::audit::Actor;
use crate::db::tenant::TenantTx;
use crate::payment::matching::{Evidence, Outcome, Rule};
use crate::payment::views::{self, DecidedLine, Named, QueueItem};
use crate::payment::{self, Action};
use crate::team::{ManageMoney, Role, ViewClub};
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The explanation of a decision or allocation: "VS 2026001 + částka", "zapamatovaný účet Jany
/// Nové", "přiřadil(a) eva@…".
pub fn explain(
    lang: crate::i18n::Lang,
    rule: Rule,
    evidence: &Evidence,
    who: Option<&Named>,
    by: Option<&str>,
) -> String {
    let name = who.map(|w| w.name.as_str()).unwrap_or("");
    let vs = evidence.vs.as_deref().unwrap_or("");
    let mut text = match rule {
        Rule::Vs => lang.t_with("payments.rule.vs", &[("vs", vs)]),
        Rule::VsInMessage => lang.t_with("payments.rule.vs_in_message", &[("vs", vs)]),
        Rule::RememberedAccount => lang.t_with(
            "payments.rule.remembered_account",
            &[("account", evidence.account.as_deref().unwrap_or(""))],
        ),
        Rule::Person => lang.t("payments.rule.person").into_owned(),
        Rule::Credit => lang.t_with(
            "payments.rule.credit",
            &[(
                "payment",
                &evidence.credit_from.unwrap_or_default().to_string(),
            )],
        ),
        Rule::Reversal => lang.t("payments.rule.reversal").into_owned(),
        Rule::None => lang.t("payments.rule.none").into_owned(),
    };
    if evidence.amount_equal {
        text.push_str(&lang.t("payments.rule.amount_equal"));
    }
    if !name.is_empty() && matches!(rule, Rule::RememberedAccount) {
        text = format!("{text} ({name})");
    }
    if let Some(by) = by {
        text.push_str(&lang.t_with("payments.rule.confirmed_by", &[("who", by)]));
    }
    text
}

#[derive(Template)]
#[template(path = "payments/queue.html")]
struct PaymentsPage {
    c: Chrome,
    base: String,
    queue: Vec<QueueItem>,
    recent: Vec<DecidedLine>,
    everyone: Vec<Named>,
    stamp: i64,
    can_manage: bool,
}

impl PaymentsPage {
    fn outcome_label(&self, o: &Outcome) -> String {
        self.c
            .t(&format!("payments.outcome.{}", o.as_str()))
            .into_owned()
    }

    fn explain(&self, d: &DecidedLine) -> String {
        let by = if d.by_person {
            d.decided_by_email
                .as_ref()
                .map(|e| format!("{e}, {}", self.c.date(&d.decided_at)))
        } else {
            None
        };
        explain(
            self.c.lang,
            d.rule,
            &d.evidence,
            d.who.as_ref(),
            by.as_deref(),
        )
    }

    fn has_target(&self, d: &DecidedLine) -> bool {
        d.who.is_some() && !matches!(d.outcome, Outcome::Reversed | Outcome::Reversal)
    }

    fn is_irrelevant(&self, d: &DecidedLine) -> bool {
        d.outcome == Outcome::Irrelevant
    }

    fn fmt_date(&self, d: &time::Date) -> String {
        crate::i18n::format_day(*d, self.c.lang)
    }
}

/// `GET /t/{club}/payments`.
pub async fn payments_page(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let queue = views::queue(&mut tx, 100).await?;
    let recent = views::recent(&mut tx, 100).await?;
    let everyone = views::Names::load(&mut tx).await?.all();
    let stamp = payment::stamp(&mut tx).await?;
    tx.commit().await?;
    render(&PaymentsPage {
        c: Chrome::build(&access.ctx, &state, Some(&access.tenant)).await?,
        base: crate::web::paths::club(access.tenant.key()),
        queue,
        recent,
        everyone,
        stamp,
        can_manage: access.role >= Role::Treasurer,
    })
}

/// An assignment form: `target` = `member:<uuid>` or `household:<uuid>`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AssignForm {
    pub target: String,
}

fn actor(access: &ClubAccess<ManageMoney>) -> Actor {
    Actor {
        user_id: Some(access.user.id),
        email: Some(access.user.email.to_string()),
    }
}

fn back(access: &ClubAccess<ManageMoney>) -> Response {
    Redirect::to(&format!(
        "{}/payments",
        crate::web::paths::club(access.tenant.key())
    ))
    .into_response()
}

/// Runs one action and answers with a redirect to the payments page and a flash message.
async fn run_action(
    state: &AppState,
    access: &ClubAccess<ManageMoney>,
    id: &str,
    action: Option<Action>,
) -> Result<Response, AppError> {
    let payment_id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let now = state.now();
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let result = match action {
        Some(action) => {
            let today = crate::i18n::to_prague(now).date();
            payment::act(&mut tx, &actor(access), payment_id, action, today, now)
                .await
                .map(|_| ())
        }
        None => payment::undo(&mut tx, &actor(access), payment_id, now).await,
    };
    let flash = match result {
        Ok(()) => {
            tx.commit().await?;
            match action {
                Some(Action::Assign(_)) => "payments.flash.assigned",
                Some(Action::Confirm) => "payments.flash.confirmed",
                Some(Action::Unmatch) => "payments.flash.unmatched",
                Some(Action::MarkIrrelevant) => "payments.flash.irrelevant",
                Some(Action::Restore) => "payments.flash.restored",
                None => "payments.flash.undone",
            }
        }
        Err(payment::Error::UnknownPayment) => return Err(AppError::NotFound),
        Err(payment::Error::UnknownTarget) => "payments.flash.unknown_target",
        Err(payment::Error::NotApplicable) => "payments.flash.not_applicable",
        Err(payment::Error::CannotUndo) => "payments.flash.cannot_undo",
        Err(payment::Error::Db(e)) => return Err(e.into()),
    };
    access.ctx.flash(flash).await;
    Ok(back(access))
}

/// `POST /t/{club}/payments/{id}/assign`.
pub async fn assign(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
    Form(form): Form<AssignForm>,
) -> Result<Response, AppError> {
    match views::parse_target(&form.target) {
        Some(target) => run_action(&state, &access, &id, Some(Action::Assign(target))).await,
        None => {
            access.ctx.flash("payments.flash.unknown_target").await;
            Ok(back(&access))
        }
    }
}

macro_rules! simple_action {
    ($(#[$doc:meta])* $name:ident, $action:expr) => {
        $(#[$doc])*
        pub async fn $name(
            State(state): State<AppState>,
            access: ClubAccess<ManageMoney>,
            Path((_club, id)): Path<(String, String)>,
        ) -> Result<Response, AppError> {
            run_action(&state, &access, &id, $action).await
        }
    };
}

simple_action!(
    /// `POST /t/{club}/payments/{id}/confirm`.
    confirm,
    Some(Action::Confirm)
);
simple_action!(
    /// `POST /t/{club}/payments/{id}/unmatch`.
    unmatch,
    Some(Action::Unmatch)
);
simple_action!(
    /// `POST /t/{club}/payments/{id}/irrelevant`.
    irrelevant,
    Some(Action::MarkIrrelevant)
);
simple_action!(
    /// `POST /t/{club}/payments/{id}/restore`.
    restore,
    Some(Action::Restore)
);
simple_action!(
    /// `POST /t/{club}/payments/{id}/undo`: undoes the latest action on the payment.
    undo,
    None
);

/// `POST /t/{club}/payments/rerun`: generates due charges and re-runs matching.
pub async fn rerun(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
) -> Result<Response, AppError> {
    let now = state.now();
    let today = crate::i18n::to_prague(now).date();
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    payment::rerun_by(&mut tx, &actor(&access), today, now).await?;
    tx.commit().await?;
    access.ctx.flash("payments.flash.rerun").await;
    Ok(back(&access))
}
