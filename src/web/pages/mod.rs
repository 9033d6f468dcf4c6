//! Page handlers, one module per area, and the chrome every page shares.

pub mod account;
pub mod account_tools;
pub mod accounts;
mod audit_text;
pub mod bank;
pub mod club;
pub mod error;
pub mod exports;
pub mod fees;
pub mod health;
pub mod live;
pub mod mailbox;
pub mod members;
pub mod operator;
pub mod pay;
pub mod payments;
pub mod public;
pub mod reminders;
pub mod sync_log;
pub mod team;

use super::AppState;
use super::context::{Ctx, Viewer};
use super::error::AppError;
use crate::db::tenant::Tenant;
use crate::i18n::{self, Lang};
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::borrow::Cow;
use time::OffsetDateTime;

/// A club in the navigation.
#[derive(Debug, Clone)]
pub struct NavClub {
    pub name: String,
    pub href: String,
    pub team_href: String,
    pub members_href: String,
    pub audit_href: String,
    pub current: bool,
}

/// What the shared layout shows: language, the signed-in person, their clubs, a flash message.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub lang: Lang,
    pub user_email: Option<String>,
    pub clubs: Vec<NavClub>,
    pub club: Option<NavClub>,
    pub flash: Option<String>,
    pub path: String,
    pub mailbox: bool,
    /// The built-in KB sandbox's control page, when Kasa runs against it.
    pub kb_sandbox: Option<String>,
    /// The operator's contact, if configured.
    pub contact: Option<String>,
    /// The privacy notice: the operator's, or Kasa's own `/privacy`.
    pub privacy_href: String,
    /// A member's own page (no login): the layout shows only this club name (empty: none) and
    /// the language switch — no sign-in, no clubs, no developer footer.
    pub member: Option<String>,
}

impl Chrome {
    /// The chrome without anything that needs the database (error pages).
    pub fn bare(viewer: &Viewer) -> Chrome {
        Chrome {
            lang: viewer.lang,
            user_email: viewer.user.as_ref().map(|u| u.email.to_string()),
            clubs: Vec::new(),
            club: None,
            flash: None,
            path: viewer.path.clone(),
            mailbox: false,
            kb_sandbox: None,
            contact: None,
            privacy_href: "/privacy".to_owned(),
            member: None,
        }
    }

    /// The minimal chrome of a member's own page: the club's name (empty on a page that has no
    /// club, such as a link that no longer works) and the language switch.
    pub fn for_member(viewer: &Viewer, club_name: &str) -> Chrome {
        Chrome {
            member: Some(club_name.to_owned()),
            ..Chrome::bare(viewer)
        }
    }

    /// What a kept content (`web::rendered`) is rendered with: its language, and its club for
    /// [`Chrome::live_href`]; nothing of the person or the session.
    pub fn for_content(lang: Lang, club: crate::db::schema::TenantKey) -> Chrome {
        let href = super::paths::club(club);
        Chrome {
            lang,
            user_email: None,
            clubs: Vec::new(),
            club: Some(NavClub {
                name: String::new(),
                team_href: String::new(),
                members_href: String::new(),
                audit_href: String::new(),
                current: true,
                href,
            }),
            flash: None,
            path: String::new(),
            mailbox: false,
            kb_sandbox: None,
            contact: None,
            privacy_href: String::new(),
            member: None,
        }
    }

    /// The full chrome; `current` marks the club the page belongs to.
    pub async fn build(
        ctx: &Ctx,
        state: &AppState,
        current: Option<&Tenant>,
    ) -> Result<Chrome, AppError> {
        let mut chrome = Chrome::bare(&ctx.viewer);
        chrome.mailbox = state.mailbox_enabled;
        chrome.kb_sandbox = state
            .kb_sandbox_url
            .as_ref()
            .map(|u| format!("{u}/control"));
        chrome.flash = ctx.take_flash().await;
        chrome.contact = state.footer.contact.clone();
        if let Some(url) = &state.footer.privacy_url {
            chrome.privacy_href = url.to_string();
        }
        if ctx.user().is_some() {
            chrome.clubs = ctx
                .viewer
                .clubs
                .iter()
                .map(|c| NavClub {
                    name: c.name.clone(),
                    href: super::paths::club(c.tenant.key()),
                    team_href: super::paths::team(c.tenant.key()),
                    members_href: super::paths::members(c.tenant.key()),
                    audit_href: super::paths::audit(c.tenant.key()),
                    current: Some(&c.tenant) == current,
                })
                .collect();
            chrome.club = chrome.clubs.iter().find(|c| c.current).cloned();
        }
        Ok(chrome)
    }

    pub fn t(&self, key: &str) -> Cow<'static, str> {
        self.lang.t(key)
    }

    /// The club's stream of changes (`GET /t/{club}/live`) that open live pages listen to;
    /// empty outside a club.
    pub fn live_href(&self) -> String {
        self.club
            .as_ref()
            .map(|club| format!("{}/live", club.href))
            .unwrap_or_default()
    }

    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }

    /// Link that switches to `code` and comes back here.
    pub fn lang_href(&self, code: &str) -> String {
        format!(
            "/lang/{code}?next={}",
            url::form_urlencoded::byte_serialize(self.path.as_bytes()).collect::<String>()
        )
    }

    pub fn date(&self, at: &OffsetDateTime) -> String {
        i18n::format_date(*at, self.lang)
    }

    pub fn datetime(&self, at: &OffsetDateTime) -> String {
        i18n::format_datetime(*at, self.lang)
    }

    pub fn money(&self, minor: &i64, currency: &str) -> String {
        i18n::format_money(*minor, currency, self.lang)
    }

    /// A calendar day as every page shows it (`i18n::format_day`: `29. 11. 2026`, never
    /// wrapped).
    pub fn day(&self, day: &time::Date) -> String {
        i18n::format_day(*day, self.lang)
    }

    /// `key.<plural>` for `n` with the count filled in (`Lang::t_count`).
    pub fn count(&self, key: &str, n: &i64) -> String {
        self.lang.t_count(key, *n)
    }

    /// A stored account text (an IBAN, `prefix-number/bank`, KB's 16 digits with the bank) as
    /// people read it (`account_number::readable`).
    pub fn account(&self, text: &str) -> crate::account_number::Readable {
        crate::account_number::readable(text)
    }
}

/// Renders a page with status 200.
pub fn render<T: Template>(page: &T) -> Result<Response, AppError> {
    render_status(StatusCode::OK, page)
}

/// Renders a page with the given status (422 for forms with field errors).
pub fn render_status<T: Template>(status: StatusCode, page: &T) -> Result<Response, AppError> {
    Ok((status, Html(page.render()?)).into_response())
}

/// A page's change stamp for the open page that polls it: plain text, never cached.
pub fn stamp_response(stamp: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, stamp).into_response()
}

/// One place in a pager: a page number (the current one or a link) or a gap of skipped numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagerItem {
    /// The 1-based page number (0 for a gap).
    pub page: usize,
    pub current: bool,
    pub gap: bool,
}

/// What a pager shows for page `current` of `pages` (1-based): the first, the last and two
/// either side of `current`, in order, with gaps between (at most 9 places however many pages).
pub(crate) fn page_window(current: usize, pages: usize) -> Vec<PagerItem> {
    let mut out = Vec::new();
    let mut last = 0;
    for page in 1..=pages {
        if page == 1 || page == pages || page.abs_diff(current) <= 2 {
            if page > last + 1 {
                out.push(PagerItem {
                    page: 0,
                    current: false,
                    gap: true,
                });
            }
            out.push(PagerItem {
                page,
                current: page == current,
                gap: false,
            });
            last = page;
        }
    }
    out
}

#[cfg(test)]
mod pager_tests {
    use super::page_window;

    /// The pager as text: `[n]` current, `n` a link, `…` a gap.
    fn shown(current: usize, pages: usize) -> String {
        page_window(current, pages)
            .iter()
            .map(|i| match (i.gap, i.current) {
                (true, _) => "…".to_owned(),
                (false, true) => format!("[{}]", i.page),
                (false, false) => i.page.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_pager_links_the_ends_and_the_neighbourhood_with_gaps_between() {
        assert_eq!(shown(1, 1), "[1]");
        assert_eq!(shown(1, 40), "[1] 2 3 … 40");
        assert_eq!(shown(20, 40), "1 … 18 19 [20] 21 22 … 40");
        assert_eq!(shown(40, 40), "1 … 38 39 [40]");
        assert_eq!(shown(4, 5), "1 2 3 [4] 5");
    }
}
