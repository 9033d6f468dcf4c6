//! E-mail delivery over real SMTP, to a small SMTP server the test starts itself.

use crate::helpers::*;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A minimal SMTP server that accepts every message and hands over its DATA section.
async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            let _ = tx.send(std::mem::take(body));
                            data = None;
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn the_confirmation_email_is_delivered_over_smtp_and_marked_sent() {
    let (port, mut received) = smtp_sink().await;
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = Some(kasa::config::Secret::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
        c.mail_from = "Kasa <kasa@kasa.example>".to_owned();
    })
    .await;
    app.sign_up(&app.client(), "Spolek", ICO_A, "smtp@spolek.cz")
        .await;
    let message = tokio::time::timeout(Duration::from_secs(20), received.recv())
        .await
        .expect("a mail within 20 s")
        .expect("sink open");
    assert!(message.contains("To: smtp@spolek.cz"), "{message}");
    assert!(
        message.contains("From: Kasa <kasa@kasa.example>"),
        "{message}"
    );
    assert!(message.contains("Subject:"), "{message}");
    assert!(message.contains("/confirm-email?token="), "{message}");
    // The outbox row is marked sent (poll: the worker marks it right after the SMTP reply).
    let mut sent = 0;
    for _ in 0..100 {
        sent = app
            .count("SELECT count(*) FROM app.outbox WHERE sent_at IS NOT NULL")
            .await;
        if sent == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sent, 1);
    // With SMTP configured, the local mailbox page does not exist.
    assert_eq!(app.client().get("/dev/mailbox").await.status(), 404);
}

#[tokio::test]
async fn an_unreachable_smtp_server_keeps_the_mail_queued_with_the_error() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = Some(kasa::config::Secret::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
    })
    .await;
    app.sign_up(&app.client(), "Spolek", ICO_A, "queued@spolek.cz")
        .await;
    let mut failed = 0;
    for _ in 0..200 {
        failed = app
            .count(
                "SELECT count(*) FROM app.outbox WHERE sent_at IS NULL AND last_error IS NOT NULL",
            )
            .await;
        if failed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        failed, 1,
        "the failure is recorded and the mail stays for a retry"
    );
}
