//! E-mail: what Kasa sends (`templates`), the outbox table it is queued in (`outbox`) and the
//! worker that delivers it over SMTP (`delivery`).
//!
//! Mail is written to `app.outbox` inside the transaction of the change that causes it, so a
//! rolled-back change sends nothing and a committed one is never forgotten. With no SMTP server
//! configured, nothing is delivered: the local mailbox page shows the outbox instead.

pub mod delivery;
pub mod outbox;
pub mod templates;

use url::Url;

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
}
