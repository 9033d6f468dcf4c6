//! Delivers queued e-mails over SMTP with lettre.
//!
//! Runs as a background task of `kasa serve` when `SMTP_URL` is set. Each round claims due
//! messages (several instances never send the same one), sends them, and records the outcome;
//! failures are retried with backoff, never dropped. [`super::Mailer::wake`] wakes the worker as
//! soon as something is queued, otherwise it polls every few seconds.

use super::{Mailer, outbox};
use crate::clock::SharedClock;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::PgPool;
use std::time::Duration;

/// The e-mail of a queued message: plain text, or `multipart/mixed` (the text, then each
/// attachment) when it has attachments. With inline images (attachments with a `content_id`)
/// the text part becomes `multipart/related`: `multipart/alternative` (the text and the same
/// text as HTML with the images after it, `<img src="cid:…">`) plus the images, so clients that
/// show HTML display the images in the message and the others list them as files. Errors: a
/// bad recipient, content type or attachment.
pub fn compose(from: &Mailbox, mail: &outbox::Queued) -> Result<lettre::Message, String> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e: lettre::address::AddressError| e.to_string())?;
    let builder = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&mail.subject);
    if mail.attachments.is_empty() {
        return builder
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string());
    }
    let part = |file: &outbox::Attachment| -> Result<SinglePart, String> {
        let content_type = ContentType::parse(&file.content_type).map_err(|e| e.to_string())?;
        let content = file
            .content()
            .ok_or_else(|| format!("attachment {} is not base64", file.filename))?;
        let attachment = match &file.content_id {
            Some(id) => Attachment::new_inline_with_name(id.clone(), file.filename.clone()),
            None => Attachment::new(file.filename.clone()),
        };
        Ok(attachment.body(content, content_type))
    };
    let (inline, attached): (Vec<_>, Vec<_>) = mail
        .attachments
        .iter()
        .partition(|file| file.content_id.is_some());
    let mut parts = if inline.is_empty() {
        MultiPart::mixed().singlepart(SinglePart::plain(mail.body.clone()))
    } else {
        let ids: Vec<(&str, &str)> = inline
            .iter()
            .filter_map(|f| Some((f.content_id.as_deref()?, f.filename.as_str())))
            .collect();
        let mut related = MultiPart::related().multipart(MultiPart::alternative_plain_html(
            mail.body.clone(),
            html_of(&mail.body, &ids),
        ));
        for file in &inline {
            related = related.singlepart(part(file)?);
        }
        MultiPart::mixed().multipart(related)
    };
    for file in attached {
        parts = parts.singlepart(part(file)?);
    }
    builder.multipart(parts).map_err(|e| e.to_string())
}

/// The plain text as HTML: escaped, lines and spaces kept, web addresses as links, then the
/// inline images (`(content id, file name)`).
fn html_of(text: &str, images: &[(&str, &str)]) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut body = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            body.push('\n');
        }
        for (j, word) in line.split(' ').enumerate() {
            if j > 0 {
                body.push(' ');
            }
            let word = escape(word);
            if word.starts_with("https://") || word.starts_with("http://") {
                body.push_str(&format!("<a href=\"{word}\">{word}</a>"));
            } else {
                body.push_str(&word);
            }
        }
    }
    let mut html = format!(
        "<!DOCTYPE html><html><body><div style=\"white-space:pre-wrap;font-family:sans-serif\">{body}</div>"
    );
    for (id, name) in images {
        html.push_str(&format!(
            "<p><img src=\"cid:{}\" alt=\"{}\" width=\"240\" height=\"240\"></p>",
            escape(id),
            escape(name)
        ));
    }
    html.push_str("</body></html>");
    html
}

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
        let message = compose(&self.from, mail)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::types::Json;

    #[test]
    fn a_message_with_an_attachment_is_multipart_mixed_with_the_file() {
        let queued = |attachments| outbox::Queued {
            id: 1,
            recipient: "pokladnik@sokol.cz".into(),
            subject: "Souhlas vyprší".into(),
            body: "Dobrý den".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            sent_at: None,
            attempts: 0,
            last_error: None,
            attachments: Json(attachments),
        };
        let from: Mailbox = "Kasa <kasa@kasa.example>".parse().expect("from");
        let plain = compose(&from, &queued(Vec::new())).expect("plain");
        let plain = String::from_utf8(plain.formatted()).expect("utf-8");
        assert!(plain.contains("Content-Type: text/plain"), "{plain}");
        assert!(!plain.contains("multipart"), "{plain}");

        let ics = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
        let file =
            outbox::Attachment::new("kasa.ics", "text/calendar; charset=utf-8", ics.as_bytes());
        let mixed = compose(&from, &queued(vec![file])).expect("mixed");
        let mixed = String::from_utf8(mixed.formatted()).expect("utf-8");
        for wanted in [
            "Content-Type: multipart/mixed",
            "Content-Type: text/plain",
            "Content-Type: text/calendar; charset=utf-8",
            "Content-Disposition: attachment; filename=\"kasa.ics\"",
            "BEGIN:VCALENDAR",
        ] {
            assert!(mixed.contains(wanted), "{wanted} in {mixed}");
        }

        let broken = outbox::Attachment {
            content_base64: "***".into(),
            ..outbox::Attachment::new("x.ics", "text/calendar", b"x")
        };
        assert!(compose(&from, &queued(vec![broken])).is_err());

        let png = outbox::Attachment::inline("qr.png", "image/png", b"\x89PNG", "qr@kasa");
        let related = compose(&from, &queued(vec![png])).expect("related");
        let related = String::from_utf8(related.formatted()).expect("utf-8");
        for wanted in [
            "Content-Type: multipart/mixed",
            "Content-Type: multipart/related",
            "Content-Type: multipart/alternative",
            "Content-Type: text/html",
            "Content-Type: image/png",
            "Content-ID: <qr@kasa>",
            "Content-Disposition: inline",
        ] {
            assert!(related.contains(wanted), "{wanted} in {related}");
        }
    }

    #[test]
    fn the_html_version_is_the_escaped_text_with_links_and_the_images() {
        let html = html_of(
            "Dobrý den <b>\nodkaz: https://kasa.example/pay/abc?x=1&y=2",
            &[("qr@kasa", "qr.png")],
        );
        assert!(html.contains("Dobrý den &lt;b&gt;\nodkaz: "), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://kasa.example/pay/abc?x=1&amp;y=2\">https://kasa.example/pay/abc?x=1&amp;y=2</a>"
            ),
            "{html}"
        );
        assert!(html.contains("<img src=\"cid:qr@kasa\""), "{html}");
    }
}
