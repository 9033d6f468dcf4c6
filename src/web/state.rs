//! [`AppState`]: what every handler can reach. Its own module, so that the pages and extractors
//! depend on it and not on the router that uses them.

use crate::clock::SharedClock;
use crate::mail::Mailer;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::Notify;
use url::Url;

/// The operator's contact and privacy notice, shown in every page's footer
/// (`KASA_CONTACT`, `KASA_PRIVACY_URL`). Without a privacy address the footer links Kasa's own
/// notice (`/privacy`).
#[derive(Debug, Clone, Default)]
pub struct Footer {
    /// How to reach the operator (an e-mail address or a short text), if given.
    pub contact: Option<String>,
    /// The operator's own privacy notice, if given.
    pub privacy_url: Option<url::Url>,
}

/// What every handler can reach: a cheap handle (one `Arc`) on [`Shared`], cloned by every
/// extractor of every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub pool: PgPool,
    pub clock: SharedClock,
    /// Queues mail with links to this Kasa and wakes the delivery worker (domain calls take it).
    pub mailer: Mailer,
    pub public_url: Url,
    /// Whether the local mailbox page exists (no SMTP configured).
    pub mailbox_enabled: bool,
    /// Wakes the sync worker when a KB notification made an account due.
    pub sync_wake: Arc<Notify>,
    pub trust_proxy: bool,
    /// Extra recipients of the operator's expiry warnings (`KASA_OPERATOR_EMAILS`). They grant
    /// no access: `/operator` is for `auth::operators` only.
    pub operator_emails: Arc<Vec<crate::auth::Email>>,
    /// The KB client identity (for the certificate's expiry on the operator page).
    pub kb_identity: Option<crate::bank::ClientIdentity>,
    /// The bank-consent journeys and token store.
    pub consent: crate::consent::Consent,
    /// The KB API client (one process-wide HTTP client with the operator's identity).
    pub kb: Arc<crate::bank::KbClient>,
    /// The built-in KB sandbox's pages, when Kasa runs against it (shown in the footer).
    pub kb_sandbox_url: Option<String>,
    /// Fee overview periods computed at the club's current payment stamp.
    pub fee_overviews: Arc<crate::payment::overview::Cache>,
    /// Clubs' payment stamps, kept (`fees::keep_payment_stamps`).
    pub payment_stamps: Arc<crate::live::Kept<crate::db::schema::TenantKey, i64>>,
    /// Fee overviews rendered per club stamp, language, role and query.
    pub rendered_overviews: crate::web::pages::fees::RenderedOverviews,
    /// Clubs' content versions: what kept dashboards and account pages are rendered at.
    pub club_versions: crate::web::rendered::ClubVersions,
    /// Dashboards rendered per club version (`pages::club`).
    pub rendered_dashboards: crate::web::pages::club::RenderedDashboards,
    /// Account pages rendered per club version (`pages::accounts`).
    pub rendered_accounts: crate::web::pages::accounts::RenderedAccounts,
    /// The exports that may run at once (`export::Slots`).
    pub exports: crate::export::Slots,
    /// The operator's contact and privacy notice in the footer.
    pub footer: Arc<Footer>,
    /// Whether this process hears other processes' changes (`live::Listener`), and the copies
    /// it keeps because it does.
    pub live: crate::live::Live,
    /// Signed-in people with their clubs and roles, kept (`context::keep_people`).
    pub people: Arc<crate::live::Kept<crate::auth::UserId, super::context::Person>>,
    /// The session store the session layer uses: open pages' streams read their session
    /// through it again when it may have ended (`web::pages::live`).
    pub sessions: super::sessions::KeptSessions,
}

impl Shared {
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }
}
