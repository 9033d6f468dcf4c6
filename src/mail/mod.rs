//! E-mail: what Kasa sends (`templates`), the outbox table it is queued in (`outbox`) and the
//! worker that delivers it over SMTP (`delivery`).
//!
//! Mail is written to `app.outbox` inside the transaction of the change that causes it, so a
//! rolled-back change sends nothing and a committed one is never forgotten. With no SMTP server
//! configured, nothing is delivered: the local mailbox page shows the outbox instead.
//!
//! Domain code reaches all of this through a [`Mailer`]: it queues in its own transaction,
//! commits, and then calls [`Mailer::wake`], so the web layer never touches the worker.

pub mod delivery;
pub mod outbox;
pub mod templates;

use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::Notify;
use url::Url;

/// The handle through which domain code sends mail: the database the outbox lives in, the links
/// mails carry, and the wake-up of the delivery worker ([`delivery::Delivery::run`]). Cheap to
/// clone; every clone wakes the same worker.
#[derive(Debug, Clone)]
pub struct Mailer {
    pool: PgPool,
    links: Links,
    wake: Arc<Notify>,
}

impl Mailer {
    pub fn new(pool: PgPool, links: Links) -> Self {
        Self {
            pool,
            links,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The database of the outbox (and of the change a mail belongs to).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Absolute links for the mails.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// Tells the delivery worker that mail was queued. Call it after the commit: a worker woken
    /// before would not see the rows yet.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Completes when [`Mailer::wake`] was called (at once if it was called meanwhile).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// An e-mail ready to queue.
#[derive(Debug, Clone)]
pub struct Message {
    pub subject: String,
    pub body: String,
}

/// Absolute links put into e-mails, built from the public address of Kasa.
#[derive(Debug, Clone)]
pub struct Links {
    base: Url,
}

impl Links {
    pub fn new(base: Url) -> Self {
        Self { base }
    }

    fn with(&self, path: &str, token: &str) -> String {
        let mut url = self.base.clone();
        url.set_path(path);
        url.query_pairs_mut().clear().append_pair("token", token);
        url.to_string()
    }

    pub fn confirm_email(&self, token: &str) -> String {
        self.with("/confirm-email", token)
    }

    pub fn reset_password(&self, token: &str) -> String {
        self.with("/reset-password", token)
    }

    pub fn invitation(&self, token: &str) -> String {
        self.with("/invitation", token)
    }

    pub fn home(&self) -> String {
        self.base.to_string()
    }

    /// A member's own page, `/pay/<token>` (`pay_link`).
    pub fn pay_page(&self, token: &str) -> String {
        let mut url = self.base.clone();
        url.set_path(&format!("/pay/{token}"));
        url.set_query(None);
        url.to_string()
    }

    /// A page of Kasa by its path (e.g. a club's payments page).
    pub fn page(&self, path: &str) -> String {
        let mut url = self.base.clone();
        url.set_path(path);
        url.set_query(None);
        url.to_string()
    }
}
