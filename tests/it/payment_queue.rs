//! The payments queue as a treasurer works it: honest labels, a surname several members share
//! offered as candidates, a stable form after an error, and "Není příspěvek" for many payments
//! at once (each audited and undoable; closed to viewers and other clubs).

use crate::consent::{confirmed_club, connect};
use crate::fees::{add_member, month_start, monthly_schedule, pay, tenant_count, tenant_of};
use crate::helpers::*;
use kasa::db::tenant::TenantTx;

#[tokio::test]
async fn the_queue_offers_namesakes_and_marks_many_payments_as_not_fees_at_once() {
    let app = TestApp::spawn_with_sandbox(|c| c.seed.transactions_per_account = 0).await;
    let (client, dashboard) = confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    let jan = add_member(&app, &tenant, "Jan Novák", "2026001", "2010-01-01").await;
    let petr = add_member(&app, &tenant, "Petr Novák", "2026002", "2010-01-01").await;
    monthly_schedule(&client, &dashboard, &month_start(&app, 0)).await;
    connect(&app, &client, &dashboard).await;
    let state = app.state.clone().expect("state");
    let worker = kasa::app::sync_worker(&state, kasa::sync::worker::SyncSettings::default());
    sync_due(&app, &worker).await;
    for (amount, message) in [(1_000_000, "dotace"), (20_000, "dar"), (30_000, "dar 2")] {
        pay(
            &app,
            &worker,
            serde_json::json!({"amount_minor": amount, "vs": "777", "message": message,
                               "payer_name": "Grantova agentura", "payer_account": "2400123456/2010"}),
        )
        .await;
    }
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let queued: Vec<(i64,)> = sqlx::query_as(
        "SELECT transaction_id FROM payment_decisions WHERE outcome = 'unidentified' \
          ORDER BY transaction_id",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("queue");
    tx.commit().await.expect("commit");
    let queued: Vec<String> = queued.into_iter().map(|(id,)| id.to_string()).collect();
    assert_eq!(queued.len(), 3);

    // No suggestion: the field says what it does, not "another member".
    let (_, page) = client.get_text(&format!("{dashboard}/payments")).await;
    assert!(page.contains("Přiřadit členovi"), "{page}");
    assert!(!page.contains("Jinému členovi"), "{page}");

    // A surname two members share: both offered, the field keeps its layout and error.
    let response = client
        .post_form(
            &format!("{dashboard}/payments/{}/assign", queued[0]),
            &[("who", "Novák")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(
        page.contains("Napsanému odpovídají 2 členové nebo domácnosti"),
        "{page}"
    );
    assert!(!page.contains("Takového člena"), "{page}");
    let offered = page
        .split(&format!("id=\"candidates-{}\"", queued[0]))
        .nth(1)
        .expect("candidates listed");
    assert!(
        offered.contains(&format!("member:{jan}")) && offered.contains(&format!("member:{petr}")),
        "{offered}"
    );
    assert!(
        page.contains(&format!(
            "<div class=\"assign-row\">\n      <input id=\"who-{}\"",
            queued[0]
        )),
        "the field and its button stay in one row, the error under them"
    );

    // Another club and a viewer cannot touch these payments.
    let stranger = app.client();
    let club_b = app.sign_up(&stranger, "Klub B", ICO_B, "bob@b.cz").await;
    let viewer = app
        .teammate(&client, &dashboard, "viewer@sokol.cz", "viewer")
        .await;
    let ticked: Vec<(&str, &str)> = queued[..2]
        .iter()
        .map(|id| ("payment", id.as_str()))
        .collect();
    for (who, path, status) in [
        (&stranger, format!("{dashboard}/payments/irrelevant"), 404),
        (&stranger, format!("{club_b}/payments/irrelevant"), 404),
        (&viewer, format!("{dashboard}/payments/irrelevant"), 403),
    ] {
        assert_eq!(
            who.post_form(&path, &ticked).await.status(),
            status,
            "{path}"
        );
    }
    let irrelevant = "SELECT count(*) FROM payment_decisions WHERE outcome = 'irrelevant'";
    assert_eq!(tenant_count(&app, &tenant, irrelevant).await, 0);

    // Two ticked payments: one POST, two audited actions, each undoable.
    let response = client
        .post_form(&format!("{dashboard}/payments/irrelevant"), &ticked)
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(tenant_count(&app, &tenant, irrelevant).await, 2);
    assert_eq!(
        tenant_count(
            &app,
            &tenant,
            "SELECT count(*) FROM audit_log WHERE action = 'payment.irrelevant'"
        )
        .await,
        2
    );
    let (_, page) = client.get_text(&format!("{dashboard}/payments")).await;
    assert!(
        page.contains("Vybrané platby jsou označeny jako nesouvisející s příspěvky."),
        "{page}"
    );
    let response = client
        .post_form(&format!("{dashboard}/payments/{}/undo", queued[1]), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(tenant_count(&app, &tenant, irrelevant).await, 1);
    // Sent again (a double click): nothing more changes, nothing fails.
    let response = client
        .post_form(&format!("{dashboard}/payments/irrelevant"), &ticked[..1])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(tenant_count(&app, &tenant, irrelevant).await, 1);
}
