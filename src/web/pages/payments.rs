//! Payment pages: the queue of unmatched payments (best suggestion on top, one-click
//! assignment), recently decided payments with their explanation, and a person's actions on a
//! payment (assign, confirm, unmatch, irrelevant, restore, undo) and "re-run matching".

use super::{Chrome, render_status};
use crate::audit::Actor;
use crate::db::tenant::TenantTx;
use crate::payment::matching::{Evidence, Outcome, Rule};
use crate::payment::views::{self, DecidedLine, Named, PaymentsView};
use crate::payment::{self, Action, Choice};
use crate::payment_notice;
use crate::team::{ManageMoney, Role, ViewClub};
use crate::web::AppState;
use crate::web::access::ClubAccess;
use crate::web::error::AppError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The explanation of a decision or allocation: "VS 2026001 + částka", "zapamatovaný účet Jany
/// Nové", "přiřadil(a) eva@…". `credit`: the date and amount (minor CZK) of the payment whose
/// overpayment paid this (rule [`Rule::Credit`]), named that way — never by its internal id.
pub fn explain(
    lang: crate::i18n::Lang,
    rule: Rule,
    evidence: &Evidence,
    who: Option<&Named>,
    by: Option<&str>,
    credit: Option<(Option<time::Date>, i64)>,
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
        Rule::Credit => match credit {
            Some((date, amount)) => lang.t_with(
                "payments.rule.credit",
                &[
                    (
                        "date",
                        &date
                            .map(|d| crate::i18n::format_day(d, lang))
                            .unwrap_or_default(),
                    ),
                    ("amount", &crate::i18n::format_money(amount, "CZK", lang)),
                ],
            ),
            None => lang.t("payments.rule.credit_earlier").into_owned(),
        },
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
    view: PaymentsView,
    /// An assignment that could not be made: the payment, the message and what was typed.
    problem: Option<AssignProblem>,
    can_manage: bool,
}

/// Why an assignment from the queue was refused (shown at that payment, status 422), with
/// whom the typed text may mean when it fits several (each a one-click button).
struct AssignProblem {
    payment: i64,
    message: String,
    typed: String,
    candidates: Vec<Named>,
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
            None,
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

    /// "3 platby čekají", with the Czech plural.
    fn queue_total(&self) -> String {
        self.c
            .lang
            .t_count("payments.queue.total", self.view.queue.total)
    }

    /// "Strana 2 z 5".
    fn page_of(&self) -> String {
        self.c.lang.t_with(
            "payments.queue.page",
            &[
                ("page", &self.view.queue.page.to_string()),
                ("pages", &self.view.queue.pages.to_string()),
            ],
        )
    }

    /// The tracking note: "Platby se počítají od 1. 11. 2026; 812 starších plateb …".
    fn tracking_note(&self) -> String {
        match self.view.tracking.from {
            Some(from) => self.c.lang.t_with(
                "payments.tracking.from",
                &[
                    ("date", &crate::i18n::format_day(from, self.c.lang)),
                    (
                        "before",
                        &self
                            .c
                            .lang
                            .t_count("payments.tracking.before", self.view.tracking.before),
                    ),
                ],
            ),
            None => self.c.t("payments.tracking.none").into_owned(),
        }
    }

    fn problem_at(&self, payment: &i64) -> Option<&AssignProblem> {
        self.problem.as_ref().filter(|p| p.payment == *payment)
    }
}

/// An ambiguous assignment names whom the typed text fits ("Novák" → every Novák), so the
/// person picks one with a click instead of being told nobody fits.
fn with_candidates(
    mut problem: AssignProblem,
    choices: &[Named],
    lang: crate::i18n::Lang,
) -> AssignProblem {
    let candidates = views::candidates(choices, &problem.typed);
    if !candidates.is_empty() {
        problem.message = lang.t_count("payments.error.candidates", candidates.len() as i64);
        problem.candidates = candidates;
    }
    problem
}

/// The payments page's query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    pub page: String,
}

fn page_number(text: &str) -> i64 {
    text.trim().parse::<i64>().unwrap_or(1).max(1)
}

async fn payments_page_with(
    state: &AppState,
    access: &ClubAccess<impl crate::team::Capability>,
    page: i64,
    problem: Option<AssignProblem>,
) -> Result<Response, AppError> {
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let view = views::payments_view(&mut tx, page).await?;
    tx.commit().await?;
    let problem = problem.map(|p| with_candidates(p, &view.choices, access.ctx.lang()));
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render_status(
        status,
        &PaymentsPage {
            c: Chrome::build(&access.ctx, state, Some(&access.tenant)).await?,
            base: crate::web::paths::club(access.tenant.key()),
            view,
            problem,
            can_manage: access.role >= Role::Treasurer,
        },
    )
}

/// `GET /t/{club}/payments?page=N`: a page of the queue (the true total above it), recently
/// decided payments, one shared list of members to assign to.
pub async fn payments_page(
    State(state): State<AppState>,
    access: ClubAccess<ViewClub>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    payments_page_with(&state, &access, page_number(&query.page), None).await
}

/// An assignment form: `target` = `member:<uuid>` or `household:<uuid>` (a suggestion's
/// button), else `who` as typed into the shared list; `page` is the queue page to return to.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AssignForm {
    pub target: String,
    pub who: String,
    pub page: String,
}

fn actor(access: &ClubAccess<ManageMoney>) -> Actor {
    Actor {
        user_id: Some(access.user.id),
        email: Some(access.user.email.to_string()),
    }
}

fn back(access: &ClubAccess<ManageMoney>, page: i64) -> Response {
    let base = crate::web::paths::club(access.tenant.key());
    let to = if page > 1 {
        format!("{base}/payments?page={page}")
    } else {
        format!("{base}/payments")
    };
    Redirect::to(&to).into_response()
}

fn flash_of(action: Option<Action>) -> &'static str {
    match action {
        Some(Action::Assign(_)) => "payments.flash.assigned",
        Some(Action::Confirm) => "payments.flash.confirmed",
        Some(Action::Unmatch) => "payments.flash.unmatched",
        Some(Action::MarkIrrelevant) => "payments.flash.irrelevant",
        Some(Action::Restore) => "payments.flash.restored",
        None => "payments.flash.undone",
    }
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
    let today = crate::i18n::to_prague(now).date();
    let links = state.mailer.links();
    let result = payment_notice::act(
        &mut tx,
        links,
        &actor(access),
        payment_id,
        action,
        today,
        now,
    )
    .await;
    let flash = match result {
        Ok(()) => {
            tx.commit().await?;
            flash_of(action)
        }
        Err(payment::Error::UnknownPayment) => return Err(AppError::NotFound),
        Err(payment::Error::NotApplicable) => "payments.flash.not_applicable",
        Err(payment::Error::CannotUndo) => "payments.flash.cannot_undo",
        Err(payment::Error::Db(e)) => return Err(e.into()),
        Err(_) => "payments.flash.unknown_target",
    };
    access.ctx.flash(flash).await;
    Ok(back(access, 1))
}

/// `POST /t/{club}/payments/{id}/assign`: one click on a suggestion, or the member typed into
/// the shared list. Nobody chosen, nobody fitting, or an archived member → the page again
/// (422) with the message at that payment.
pub async fn assign(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Path((_club, id)): Path<(String, String)>,
    Form(form): Form<AssignForm>,
) -> Result<Response, AppError> {
    let payment_id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let page = page_number(&form.page);
    let choice = match form.target.trim() {
        "" => Ok(Choice::Typed(form.who.clone())),
        value => views::parse_target(value)
            .map(Choice::Target)
            .ok_or(payment::Error::UnknownTarget),
    };
    let now = state.now();
    let today = crate::i18n::to_prague(now).date();
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let result = match choice {
        Ok(choice) => {
            let links = state.mailer.links();
            payment_notice::assign(
                &mut tx,
                links,
                &actor(&access),
                payment_id,
                &choice,
                today,
                now,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let key = match result {
        Ok(_) => {
            tx.commit().await?;
            access.ctx.flash("payments.flash.assigned").await;
            return Ok(back(&access, page));
        }
        Err(payment::Error::UnknownPayment) => return Err(AppError::NotFound),
        Err(payment::Error::Db(e)) => return Err(e.into()),
        Err(payment::Error::NotApplicable | payment::Error::CannotUndo) => {
            tx.rollback().await?;
            access.ctx.flash("payments.flash.not_applicable").await;
            return Ok(back(&access, page));
        }
        Err(payment::Error::NoChoice) => "payments.error.no_choice",
        Err(payment::Error::UnknownTarget) => "payments.error.unknown_target",
        Err(payment::Error::AmbiguousChoice) => "payments.error.ambiguous",
        Err(payment::Error::ArchivedTarget) => "payments.error.archived",
    };
    tx.rollback().await?;
    let problem = AssignProblem {
        payment: payment_id,
        message: access.ctx.t(key).into_owned(),
        typed: form.who,
        candidates: Vec::new(),
    };
    payments_page_with(&state, &access, page, Some(problem)).await
}

/// The bulk form of the queue: every ticked payment's id under `payment`.
fn selected(form: &[(String, String)]) -> Result<Vec<i64>, AppError> {
    form.iter()
        .filter(|(k, _)| k == "payment")
        .map(|(_, v)| v.trim().parse().map_err(|_| AppError::NotFound))
        .collect()
}

/// `POST /t/{club}/payments/irrelevant`: "Není příspěvek" for every ticked payment of the
/// queue at once (grants, donations), each audited and undoable on its own; all or nothing.
/// A payment of another club (or none) → 404 and nothing changes; nothing ticked → a flash.
pub async fn irrelevant_selected(
    State(state): State<AppState>,
    access: ClubAccess<ManageMoney>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let ids = selected(&form)?;
    let page = form
        .iter()
        .find(|(k, _)| k == "page")
        .map_or(1, |(_, v)| page_number(v));
    let now = state.now();
    let today = crate::i18n::to_prague(now).date();
    let mut tx = TenantTx::begin(&state.pool, &access.tenant).await?;
    let flash = match payment_notice::mark_irrelevant(
        &mut tx,
        state.mailer.links(),
        &actor(&access),
        &ids,
        today,
        now,
    )
    .await
    {
        Ok(bulk) => {
            tx.commit().await?;
            if bulk.skipped > 0 {
                "payments.flash.irrelevant_some"
            } else {
                "payments.flash.irrelevant_many"
            }
        }
        Err(payment::Error::NoChoice) => "payments.flash.none_selected",
        Err(payment::Error::Db(e)) => return Err(e.into()),
        Err(_) => return Err(AppError::NotFound),
    };
    access.ctx.flash(flash).await;
    Ok(back(&access, page))
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
    Ok(back(&access, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn a_credit_names_the_paying_payment_by_date_and_amount_never_by_its_id() {
        let evidence = Evidence {
            credit_from: Some(1261),
            ..Evidence::default()
        };
        let date = time::macros::date!(2026 - 02 - 03);
        let text = explain(
            Lang::Cs,
            Rule::Credit,
            &evidence,
            None,
            None,
            Some((Some(date), 624_000)),
        );
        assert_eq!(
            text,
            "přeplatek platby z 3.\u{a0}2.\u{a0}2026 (6\u{a0}240,00\u{a0}Kč)"
        );
        let unknown = explain(Lang::Cs, Rule::Credit, &evidence, None, None, None);
        assert!(!unknown.contains("1261"), "{unknown}");
    }
}
