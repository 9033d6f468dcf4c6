//! The dashboard and the account page are kept rendered per club version (`web::rendered`):
//! rendered once per change of the club, and again as soon as anything they show changes,
//! whoever changed it (this process, another one, the sync worker, a write in SQL).

use crate::fee_sync::{Club, incoming};
use kasa::db::tenant::TenantTx;
use kasa::i18n::{Lang, format_money};
use std::time::Duration;

/// Runs `sql` in the club's schema with `trigger` on `table` switched off: a change nobody
/// hears of.
async fn unheard(club: &Club, table: &str, trigger: &str, sql: &str) {
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("tx");
    for statement in [
        format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}"),
        sql.to_owned(),
        format!("ALTER TABLE {table} ENABLE TRIGGER {trigger}"),
    ] {
        sqlx::query(&statement)
            .execute(&mut *tx)
            .await
            .expect(&statement);
    }
    tx.commit().await.expect("commit");
}

/// Runs `sql` in the club's schema, as another process would (its triggers notify).
async fn elsewhere(club: &Club, sql: &str) {
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("tx");
    sqlx::query(sql).execute(&mut *tx).await.expect(sql);
    tx.commit().await.expect("commit");
}

/// Asks for `path` until it contains `text` (for at most two seconds); whether it did.
async fn shows_soon(club: &Club, path: &str, text: &str) -> bool {
    for _ in 0..40 {
        let (status, page) = club.client.get_text(path).await;
        assert_eq!(status, 200, "{path}");
        if page.contains(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn synced_club_with_a_payment() -> (Club, String) {
    let club = Club::new().await;
    let today = club.today().to_string();
    club.book(incoming("kept-1", 700, &today, Some("4242")))
        .await;
    club.sync().await;
    let account_page = format!("{}/accounts/{}", club.dashboard, club.account);
    (club, account_page)
}

#[tokio::test]
async fn the_pages_are_rendered_once_per_change_of_the_club_and_again_on_its_notification() {
    let (club, account_page) = synced_club_with_a_payment().await;
    let (_, dashboard) = club.client.get_text(&club.dashboard).await;
    let (_, account) = club.client.get_text(&account_page).await;
    assert!(!dashboard.contains("Provozní účet") && !account.contains("Provozní účet"));

    // A change nobody hears of: both pages are served as they were rendered.
    unheard(
        &club,
        "bank_accounts",
        "bank_accounts_live_notify",
        "UPDATE bank_accounts SET name = 'Provozní účet'",
    )
    .await;
    for path in [&club.dashboard, &account_page] {
        let (status, page) = club.client.get_text(path).await;
        assert_eq!(status, 200);
        assert!(!page.contains("Provozní účet"), "{path} was rendered again");
    }

    // The club's notification: both are rendered again, with the change.
    let schema = club.tenant.schema().as_str().to_owned();
    sqlx::query("SELECT pg_notify('kasa_live', 'club:' || $1)")
        .bind(&schema)
        .execute(&club.app.pool)
        .await
        .expect("notify");
    assert!(shows_soon(&club, &club.dashboard, "Provozní účet").await);
    assert!(shows_soon(&club, &account_page, "Provozní účet").await);
}

#[tokio::test]
async fn what_another_process_writes_to_anything_the_pages_show_reaches_them_within_moments() {
    let (club, account_page) = synced_club_with_a_payment().await;
    club.client.get_text(&club.dashboard).await;
    club.client.get_text(&account_page).await;

    // A movement's counter-party (the account page's list).
    elsewhere(
        &club,
        "UPDATE transactions SET counterparty_name = 'Jarmila Kouřilová'",
    )
    .await;
    assert!(shows_soon(&club, &account_page, "Jarmila Kouřilová").await);

    // The available balance (both pages).
    elsewhere(
        &club,
        "UPDATE balances SET amount_minor = 123456789 WHERE balance_type = 'CLOSING_AVAILABLE'",
    )
    .await;
    let money = format_money(123_456_789, "CZK", Lang::Cs);
    assert!(shows_soon(&club, &club.dashboard, &money).await, "{money}");
    assert!(shows_soon(&club, &account_page, &money).await, "{money}");

    // A balance watch (the dashboard).
    elsewhere(
        &club,
        &format!(
            "INSERT INTO balance_watches (account_id, threshold_minor, balance, updated_at) \
             VALUES ('{}', 100, 'available', now())",
            club.account
        ),
    )
    .await;
    assert!(shows_soon(&club, &club.dashboard, "watch-state").await);

    // The consent, in the control plane (the worker hears KB say it is gone).
    sqlx::query(
        "UPDATE app.bank_connections SET status = 'broken', broken_reason = 'zrušeno v KB' \
          WHERE tenant_id = $1",
    )
    .bind(club.tenant.id())
    .execute(&club.app.pool)
    .await
    .expect("broken");
    assert!(shows_soon(&club, &club.dashboard, "zrušeno v KB").await);
}

#[tokio::test]
async fn a_treasurers_own_change_shows_on_the_very_next_page() {
    let (club, account_page) = synced_club_with_a_payment().await;
    let (_, before) = club.client.get_text(&club.dashboard).await;
    assert!(!before.contains("watch-state"));
    let response = club
        .client
        .post_form(
            &format!("{account_page}/watch"),
            &[("threshold", "100"), ("balance", "available")],
        )
        .await;
    assert_eq!(response.status(), 303);
    // No waiting for the notification: this process forgot the club's pages itself.
    let (_, after) = club.client.get_text(&club.dashboard).await;
    assert!(after.contains("watch-state"));
}

#[tokio::test]
async fn a_page_with_form_errors_is_not_kept_and_each_person_sees_their_own_roles() {
    let (club, account_page) = synced_club_with_a_payment().await;
    // A filter with a problem re-renders with its message (422); the same page with a good
    // filter afterwards has none.
    let bad = format!("{account_page}?amount=hodne");
    let (status, page) = club.client.get_text(&bad).await;
    assert_eq!(status, 422);
    assert!(page.contains("field-error"));
    let (status, page) = club.client.get_text(&account_page).await;
    assert_eq!(status, 200);
    assert!(!page.contains("amount-error"));

    // A viewer of the same club, at the same version, gets the viewer's page, not the owner's
    // kept one: no watch form, no bank actions.
    let (_, owners) = club.client.get_text(&club.dashboard).await;
    assert!(owners.contains("bank-actions"));
    let viewer = club
        .app
        .teammate(&club.client, &club.dashboard, "clen@oddil.cz", "viewer")
        .await;
    let (status, viewers) = viewer.get_text(&club.dashboard).await;
    assert_eq!(status, 200);
    assert!(!viewers.contains("bank-actions"), "the owner's kept page");
    let (_, viewers_account) = viewer.get_text(&account_page).await;
    assert!(!viewers_account.contains("watch-link"));
}
