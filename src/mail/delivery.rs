//! Delivers queued e-mails over SMTP with lettre.
//!
//! Runs as a background task of `kasa serve` when `SMTP_URL` is set. Each round claims due
//! messages (several instances never send the same one), sends them, and records the outcome;
//! failures are retried with backoff, never dropped. [`super::Mailer::wake`] wakes the worker as
//! soon as something is queued, otherwise it polls every few seconds.

use super::{Mailer, outbox};
use crate::clock::SharedClock;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::PgPool;
use std::time::Duration;

/// SMTP delivery settings.
pub struct Delivery {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// The delivery settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SMTP_URL is not a valid SMTP URL: {0}")]
    Url(String),
    #[error("KASA_MAIL_FROM is not a valid sender address: {0}")]
    From(String),
}

impl Delivery {
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, Error> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| Error::Url(e.to_string()))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|e: lettre::address::AddressError| Error::From(e.to_string()))?;
        Ok(Self { transport, from })
    }

    async fn send(&self, mail: &outbox::Queued) -> Result<(), String> {
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e: lettre::address::AddressError| e.to_string())?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Sends everything due now; returns how many were sent.
    pub async fn run_once(&self, pool: &PgPool, clock: &SharedClock) -> Result<usize, sqlx::Error> {
        let mut sent = 0;
        loop {
            let batch = outbox::claim_due(pool, 20, clock.now()).await?;
            if batch.is_empty() {
                return Ok(sent);
            }
            for mail in batch {
                match self.send(&mail).await {
                    Ok(()) => {
                        outbox::mark_sent(pool, mail.id, clock.now()).await?;
                        sent += 1;
                    }
                    Err(error) => {
                        tracing::warn!(mail_id = mail.id, %error, "e-mail delivery failed; will retry");
                        outbox::mark_failed(pool, mail.id, mail.attempts, &error, clock.now())
                            .await?;
                    }
                }
            }
        }
    }

    /// The background loop; ends when `shutdown` fires.
    pub async fn run(
        self,
        mailer: Mailer,
        clock: SharedClock,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if let Err(error) = self.run_once(mailer.pool(), &clock).await {
                tracing::warn!(%error, "outbox round failed");
            }
            tokio::select! {
                _ = mailer.woken() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
