//! The HTTP layer: routes, extractors, pages. It translates requests into calls of the domain
//! modules and their outcomes into pages; it owns no business rules and no SQL.
//!
//! All routes are declared in [`router`], grouped by who may call them: public pages, pages for
//! a signed-in person, club pages under `/t/{club}/…` (every handler takes a membership-checked
//! [`access::ClubAccess`]), and the local mailbox (only when no SMTP server is configured).

pub mod access;
pub mod assets;
pub mod context;
pub mod error;
pub mod forms;
pub mod pages;
pub mod paths;
pub mod rendered;
pub mod security;
pub mod sessions;
pub mod state;

pub use state::AppState;

use axum::Router;
use axum::routing::{get, post};

/// Every route of the application.
pub fn router(state: AppState, sessions: security::Sessions) -> Router {
    use pages::{
        account, account_tools, accounts, bank, club, exports, fees, health, live, mailbox,
        members, operator, pay, payments, public, reminders, team,
    };

    let public = Router::new()
        .route("/", get(public::home))
        .route("/help", get(public::help))
        .route("/privacy", get(public::privacy))
        .route("/signup", get(public::signup_form).post(public::signup))
        .route("/login", get(public::login_form).post(public::login))
        .route("/logout", post(public::logout))
        .route("/confirm-email", get(public::confirm_email))
        .route(
            "/forgot-password",
            get(public::forgot_form).post(public::forgot),
        )
        .route(
            "/reset-password",
            get(public::reset_form).post(public::reset),
        )
        .route("/lang/{code}", get(public::switch_lang))
        // A member's own page: no login, the token is the key (issue 9).
        .route("/pay/{token}", get(pay::member_page))
        .route(
            "/invitation",
            get(team::invitation_page).post(team::accept_invitation),
        );

    let signed_in = Router::new()
        .route("/clubs", get(account::clubs))
        .route(
            "/clubs/new",
            get(account::new_club_form).post(account::new_club),
        )
        .route("/account", get(account::account_page))
        .route("/account/password", post(account::change_password))
        .route(
            "/account/resend-confirmation",
            post(account::resend_confirmation),
        );

    let club = Router::new()
        .route("/t/{club}", get(club::dashboard))
        .route("/t/{club}/team", get(team::team_page))
        .route("/t/{club}/team/invite", post(team::invite))
        .route("/t/{club}/team/invitations/{id}/revoke", post(team::revoke))
        .route(
            "/t/{club}/team/teammates/{id}/role",
            post(team::change_role),
        )
        .route("/t/{club}/team/teammates/{id}/remove", post(team::remove))
        .route("/t/{club}/audit", get(club::audit))
        .route(
            "/t/{club}/members",
            get(members::list).post(members::create),
        )
        .route("/t/{club}/members/new", get(members::new_form))
        .route(
            "/t/{club}/members/households",
            post(members::create_household),
        )
        .route("/t/{club}/members/scheme", post(members::set_scheme))
        .route("/t/{club}/members/demo", post(members::demo))
        .route(
            "/t/{club}/members/import",
            get(members::import_form).post(members::upload).layer(
                axum::extract::DefaultBodyLimit::max(members::UPLOAD_BODY_LIMIT),
            ),
        )
        .route("/t/{club}/members/import/{id}", get(members::preview))
        .route(
            "/t/{club}/members/import/{id}/mapping",
            post(members::set_mapping),
        )
        .route(
            "/t/{club}/members/import/{id}/confirm",
            post(members::confirm),
        )
        .route(
            "/t/{club}/members/import/{id}/discard",
            post(members::discard),
        )
        .route(
            "/t/{club}/members/{id}",
            get(members::detail).post(members::update),
        )
        .route("/t/{club}/members/{id}/edit", get(members::edit_form))
        .route("/t/{club}/members/{id}/archive", post(members::archive))
        .route("/t/{club}/members/{id}/restore", post(members::restore))
        .route("/t/{club}/bank/connect", post(bank::connect))
        .route("/t/{club}/bank/renew", post(bank::renew))
        .route("/t/{club}/bank/disconnect", post(bank::disconnect))
        .route("/t/{club}/bank/history/delete", post(bank::delete_history))
        .route("/t/{club}/accounts/{account}", get(accounts::account_page))
        .route(
            "/t/{club}/accounts/{account}/movements/{movement}",
            get(accounts::movement),
        )
        .route(
            "/t/{club}/accounts/{account}/statements",
            get(accounts::statements_page),
        )
        .route(
            "/t/{club}/accounts/{account}/statements/{statement}",
            get(accounts::statement_pdf),
        )
        .route(
            "/t/{club}/accounts/{account}/charts",
            get(account_tools::charts),
        )
        .route(
            "/t/{club}/accounts/{account}/watch",
            get(account_tools::watch_form).post(account_tools::save_watch),
        )
        .route(
            "/t/{club}/accounts/{account}/watch/remove",
            post(account_tools::remove_watch),
        )
        .route("/t/{club}/fees", get(fees::overview_page))
        .route("/t/{club}/fees/schedules", get(fees::schedules))
        .route(
            "/t/{club}/fees/schedules/new",
            get(fees::new_schedule_form).post(fees::create_schedule),
        )
        .route(
            "/t/{club}/fees/schedules/{id}",
            get(fees::edit_schedule_form).post(fees::update_schedule),
        )
        .route("/t/{club}/fees/settings", post(fees::save_settings))
        .route("/t/{club}/fees/members/{id}", get(fees::member_fees))
        .route("/t/{club}/payments", get(payments::payments_page))
        .route("/t/{club}/payments/rerun", post(payments::rerun))
        .route(
            "/t/{club}/payments/irrelevant",
            post(payments::irrelevant_selected),
        )
        .route("/t/{club}/payments/{id}/assign", post(payments::assign))
        .route("/t/{club}/payments/{id}/confirm", post(payments::confirm))
        .route("/t/{club}/payments/{id}/unmatch", post(payments::unmatch))
        .route(
            "/t/{club}/payments/{id}/irrelevant",
            post(payments::irrelevant),
        )
        .route("/t/{club}/payments/{id}/restore", post(payments::restore))
        .route("/t/{club}/payments/{id}/undo", post(payments::undo))
        // Getting paid (issue 9): the member's own link, the consent on the calendar.
        .route("/t/{club}/members/{id}/pay-link", post(pay::issue_link))
        .route(
            "/t/{club}/members/{id}/pay-link/revoke",
            post(pay::revoke_link),
        )
        .route("/t/{club}/members/{id}/pay-link/send", post(pay::send_link))
        .route("/t/{club}/bank/consent.ics", get(bank::consent_ics))
        // Reminders to members and "payment received" e-mails (issue 9, items 3 and 4).
        .route("/t/{club}/reminders", get(reminders::preview))
        .route("/t/{club}/reminders/send", post(reminders::send))
        .route(
            "/t/{club}/reminders/settings",
            post(reminders::save_settings),
        )
        .route("/t/{club}/reminders/notices", post(reminders::save_notices))
        .route(
            "/t/{club}/members/{id}/reminders",
            post(reminders::switch_member),
        )
        // Exports and the board report (read-only: viewers too).
        .route("/t/{club}/exports", get(exports::exports))
        .route("/t/{club}/exports/download", get(exports::download))
        .route("/t/{club}/fees/report", get(exports::report_page))
        .route("/t/{club}/fees/report.xlsx", get(exports::report_xlsx))
        .route(
            "/operator",
            get(operator::operator_page).post(operator::unlock),
        );

    // Polled or streamed by open pages in the background: the same checks, but not counted as
    // activity (an open stream never slides the idle time-out).
    let polled = Router::new()
        .route("/t/{club}/live", get(live::stream))
        .route(
            "/t/{club}/accounts/{account}/stamp",
            get(accounts::account_stamp),
        )
        .route("/t/{club}/fees/stamp", get(fees::stamp))
        .route("/t/{club}/bank/stamp", get(club::dashboard_stamp));

    // Back from KB's pages (guarded by the one-time `state` bound to the session).
    let kb_callbacks = Router::new()
        .route("/kb/registered", get(bank::registered))
        .route("/kb/authorized", get(bank::authorized));

    let mut app = public.merge(signed_in).merge(club).merge(kb_callbacks);
    if state.mailbox_enabled {
        app = app.route("/dev/mailbox", get(mailbox::mailbox));
    }

    // Page requests are a signed-in person's activity (they slide the idle time-out); polls
    // are not. `record_activity` runs inside `load`, which it needs.
    let with_session = |router: Router<AppState>, activity: bool| {
        let router = router.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::error::render_errors,
        ));
        let router = if activity {
            router.layer(axum::middleware::from_fn_with_state(
                state.clone(),
                context::record_activity,
            ))
        } else {
            router
        };
        router
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                context::load,
            ))
            .layer(sessions.clone())
    };
    let pages =
        with_session(app.fallback(error::not_found), true).merge(with_session(polled, false));

    let public_url = state.public_url.clone();
    let endpoints = &state.kb.settings().endpoints;
    let form_targets: Vec<String> = [&endpoints.app_registration_ui, &endpoints.authorization]
        .into_iter()
        .filter_map(|u| security::origin_of(u))
        .collect();
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        // KB's Event API calls: no session, authenticated by the subscription's x-api-key.
        .route("/kb/events/version", get(bank::event_api_version))
        .route(
            "/kb/events/subscriptions/{id}/events",
            post(bank::event_notification),
        )
        .route("/static/{file}", get(assets::asset))
        .merge(pages)
        // Inside the router, so each request is measured by its route's pattern.
        .layer(axum::middleware::from_fn(crate::telemetry::track_http))
        .with_state(state);
    security::apply(router, &public_url, &form_targets)
}
