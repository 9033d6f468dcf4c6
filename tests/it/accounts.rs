//! One bank account for its whole life (reconnect resumes it, deleting deletes all of it, old
//! duplicates are merged), the balance watch and the account's charts (issue 10).

use crate::consent::{confirmed_club, connect};
use crate::fee_sync::{Club, incoming, kb_transaction};
use crate::fees::{month_start, monthly_schedule};
use crate::helpers::*;
use kasa::db::tenant::TenantTx;
use uuid::Uuid;

/// Every table that refers to a bank account, in the club's schema: (table, SQL counting the
/// rows of `$account`).
const TENANT_TABLES: &[(&str, &str)] = &[
    (
        "bank_accounts",
        "SELECT count(*) FROM bank_accounts WHERE id = $1",
    ),
    (
        "transactions",
        "SELECT count(*) FROM transactions WHERE account_id = $1",
    ),
    (
        "balances",
        "SELECT count(*) FROM balances WHERE account_id = $1",
    ),
    (
        "sync_runs",
        "SELECT count(*) FROM sync_runs WHERE account_id = $1",
    ),
    (
        "unreadable_transactions",
        "SELECT count(*) FROM unreadable_transactions WHERE account_id = $1",
    ),
    (
        "payment_scan",
        "SELECT count(*) FROM payment_scan WHERE account_id = $1",
    ),
    (
        "balance_watches",
        "SELECT count(*) FROM balance_watches WHERE account_id = $1",
    ),
    // Rows whose transaction is gone cannot be told apart by account: count them all.
    (
        "payment_decisions",
        "SELECT count(*) FROM payment_decisions WHERE $1::uuid IS NOT NULL",
    ),
    (
        "allocations",
        "SELECT count(*) FROM allocations WHERE $1::uuid IS NOT NULL",
    ),
    (
        "payment_actions",
        "SELECT count(*) FROM payment_actions WHERE $1::uuid IS NOT NULL",
    ),
    (
        "received_payments",
        "SELECT count(*) FROM received_payments WHERE $1::uuid IS NOT NULL",
    ),
];

/// The same in the control plane.
const APP_TABLES: &[(&str, &str)] = &[
    (
        "app.bank_accounts",
        "SELECT count(*) FROM app.bank_accounts WHERE id = $1",
    ),
    (
        "app.sync_jobs",
        "SELECT count(*) FROM app.sync_jobs WHERE account_id = $1",
    ),
    (
        "app.event_subscriptions",
        "SELECT count(*) FROM app.event_subscriptions WHERE account_id = $1",
    ),
];

/// Rows per table that refer to `account`.
async fn rows_of(club: &Club, account: Uuid) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    for (table, sql) in TENANT_TABLES {
        let (n,): (i64,) = sqlx::query_as(sql)
            .bind(account)
            .fetch_one(&mut *tx)
            .await
            .expect(sql);
        out.push((*table, n));
    }
    tx.commit().await.expect("commit");
    for (table, sql) in APP_TABLES {
        let (n,): (i64,) = sqlx::query_as(sql)
            .bind(account)
            .fetch_one(&club.app.pool)
            .await
            .expect(sql);
        out.push((*table, n));
    }
    out
}

async fn disconnect(club: &Club, delete_history: bool) {
    let mut form = vec![("password", PASSWORD)];
    if delete_history {
        form.push(("delete_history", "yes"));
    }
    let response = club
        .client
        .post_form(&format!("{}/bank/disconnect", club.dashboard), &form)
        .await;
    assert_eq!(response.status(), 303);
}

/// A club whose member paid last month's fee with a VS, synced and matched.
async fn club_with_a_matched_payment() -> (Club, Uuid, String) {
    let club = Club::new().await;
    // The treasurer wants a "payment received" e-mail for each (so that is noted, too).
    let response = club
        .client
        .post_form(
            &format!("{}/reminders/notices", club.dashboard),
            &[("mode", "each")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let member = club.member("Jana Nová", "2026001").await;
    let last_month = month_start(&club.app, 1);
    monthly_schedule(&club.client, &club.dashboard, &last_month).await;
    club.book(incoming(
        "fee-1",
        500,
        &club.today().to_string(),
        Some("2026001"),
    ))
    .await;
    club.sync().await;
    assert_eq!(club.paid(member, &last_month).await, 50_000);
    (club, member, last_month)
}

#[tokio::test]
async fn reconnecting_resumes_the_same_account_with_its_history_and_matches() {
    let (club, member, last_month) = club_with_a_matched_payment().await;
    let before = rows_of(&club, club.account).await;

    disconnect(&club, false).await;
    // The history stays reachable from the dashboard, marked as disconnected.
    let (_, page) = club.client.get_text(&club.dashboard).await;
    assert!(page.contains("Historie odpojených účtů"), "{page}");
    assert!(page.contains("odpojený"));
    assert!(page.contains(&format!("/accounts/{}", club.account)));
    assert!(
        !page.contains("Aktuální k"),
        "not \"fresh as of\" while disconnected"
    );

    connect(&club.app, &club.client, &club.dashboard).await;
    assert_eq!(
        club.app
            .count("SELECT count(*) FROM app.bank_accounts")
            .await,
        1
    );
    assert_eq!(club.count("SELECT count(*) FROM bank_accounts").await, 1);
    let (id, enabled): (Uuid, bool) = sqlx::query_as(
        "SELECT a.id, j.enabled FROM app.bank_accounts a JOIN app.sync_jobs j ON j.account_id = a.id",
    )
    .fetch_one(&club.app.pool)
    .await
    .expect("account");
    assert_eq!(
        (id, enabled),
        (club.account, true),
        "the same account, syncing again"
    );
    let (live,): (String,) = sqlx::query_as(
        "SELECT c.status FROM app.bank_accounts a JOIN app.bank_connections c ON c.id = a.connection_id",
    )
    .fetch_one(&club.app.pool)
    .await
    .expect("connection");
    assert_eq!(live, "active", "the account belongs to the new connection");

    // The next sync re-reads the overlap and duplicates nothing; the match stays.
    club.sync().await;
    let after = rows_of(&club, club.account).await;
    let count = |rows: &[(&str, i64)], table: &str| {
        rows.iter()
            .find(|(t, _)| *t == table)
            .map_or(-1, |(_, n)| *n)
    };
    for table in [
        "transactions",
        "payment_decisions",
        "allocations",
        "bank_accounts",
    ] {
        assert_eq!(count(&after, table), count(&before, table), "{table}");
    }
    assert_eq!(club.paid(member, &last_month).await, 50_000);
    assert_eq!(
        club.decision("fee-1").await,
        Some(("matched".to_owned(), "vs".to_owned()))
    );
    let (_, page) = club.client.get_text(&club.dashboard).await;
    assert_eq!(
        page.matches(&format!("/accounts/{}\"", club.account))
            .count(),
        1,
        "the dashboard lists the account once"
    );
    assert!(!page.contains("Historie odpojených účtů"));
    club.assert_bookkeeping().await;
}

#[tokio::test]
async fn deleting_the_history_deletes_everything_of_the_account_and_reopens_its_charges() {
    let (club, member, last_month) = club_with_a_matched_payment().await;
    // A person's action and a watch also refer to the account.
    let (status, _) = club
        .client
        .post_text(
            &format!("{}/accounts/{}/watch", club.dashboard, club.account),
            &[("threshold", "100"), ("balance", "available")],
        )
        .await;
    assert_eq!(status, 303);
    disconnect(&club, false).await;
    connect(&club.app, &club.client, &club.dashboard).await;
    assert!(
        rows_of(&club, club.account)
            .await
            .iter()
            .all(|(table, n)| *n > 0
                || matches!(*table, "unreadable_transactions" | "payment_actions")),
        "the fixture fills the tables"
    );

    disconnect(&club, true).await;
    for (table, n) in rows_of(&club, club.account).await {
        assert_eq!(n, 0, "{table} still refers to the deleted account");
    }
    assert_eq!(club.count("SELECT count(*) FROM bank_accounts").await, 0);
    assert_eq!(
        club.app
            .count("SELECT count(*) FROM app.bank_accounts")
            .await,
        0
    );
    assert_eq!(
        club.paid(member, &last_month).await,
        0,
        "the charge is open again"
    );
    club.assert_bookkeeping().await;

    // Connecting again starts a new account from scratch (no old copy comes back).
    connect(&club.app, &club.client, &club.dashboard).await;
    assert_eq!(
        club.app
            .count("SELECT count(*) FROM app.bank_accounts")
            .await,
        1
    );
    let (_, page) = club.client.get_text(&club.dashboard).await;
    assert!(!page.contains(&club.account.to_string()));
}

#[tokio::test]
async fn the_history_kept_at_disconnect_can_be_deleted_later_by_a_treasurer_only() {
    let (club, member, last_month) = club_with_a_matched_payment().await;
    disconnect(&club, false).await;
    let delete = format!("{}/bank/history/delete", club.dashboard);
    let viewer = club
        .app
        .teammate(&club.client, &club.dashboard, "divak@oddil.cz", "viewer")
        .await;
    assert_eq!(
        viewer
            .post_form(&delete, &[("password", PASSWORD)])
            .await
            .status(),
        403
    );
    let (other, _) = confirmed_club(&club.app, "cizi@jiny.cz", ICO_B).await;
    assert_eq!(
        other
            .post_form(&delete, &[("password", PASSWORD)])
            .await
            .status(),
        404
    );
    // The wrong password: the dashboard with the field's message, nothing deleted.
    let (status, _) = club
        .client
        .post_text(&delete, &[("password", "špatné heslo")])
        .await;
    assert_eq!(status, 422);
    assert_eq!(club.count("SELECT count(*) FROM bank_accounts").await, 1);

    let response = club
        .client
        .post_form(&delete, &[("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), 303);
    for (table, n) in rows_of(&club, club.account).await {
        assert_eq!(n, 0, "{table} still refers to the deleted account");
    }
    assert_eq!(
        club.paid(member, &last_month).await,
        0,
        "the charge is open again"
    );
    club.assert_bookkeeping().await;
    let (_, page) = club.client.get_text(&club.dashboard).await;
    assert!(
        page.contains("Historie odpojených účtů je smazaná"),
        "the flash"
    );
    assert!(
        !page.contains(&club.account.to_string()),
        "the account is gone"
    );
    let (_, audit) = club
        .client
        .get_text(&format!("{}/audit", club.dashboard))
        .await;
    assert!(audit.contains("Smazána historie odpojených účtů"));
}

#[tokio::test]
async fn the_migration_merges_a_copy_an_earlier_reconnect_made() {
    let (club, member, last_month) = club_with_a_matched_payment().await;
    let tenant = club.tenant.id();
    let old = Uuid::now_v7();
    // What reconnecting used to leave: an older copy of the same account under a disconnected
    // connection, with the same movement (its own row, undecided) and one only it has.
    let old_connection = Uuid::now_v7();
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    sqlx::query("DROP INDEX bank_accounts_identity_key")
        .execute(&mut *tx)
        .await
        .expect("drop");
    sqlx::query(
        "INSERT INTO app.bank_connections (id, tenant_id, status, created_at, updated_at, disconnected_at) \
         VALUES ($1, $2, 'disconnected', now() - interval '60 days', now() - interval '30 days', now() - interval '30 days')",
    )
    .bind(old_connection)
    .bind(tenant)
    .execute(&mut *tx)
    .await
    .expect("old connection");
    sqlx::query(
        "INSERT INTO app.bank_accounts (id, tenant_id, connection_id, kb_account_id, iban, currency, created_at) \
         SELECT $1, tenant_id, $2, 'old-' || kb_account_id, iban, currency, created_at - interval '60 days' \
           FROM app.bank_accounts WHERE id = $3",
    )
    .bind(old)
    .bind(old_connection)
    .bind(club.account)
    .execute(&mut *tx)
    .await
    .expect("old app row");
    sqlx::query(
        "INSERT INTO app.sync_jobs (account_id, tenant_id, enabled, due_at) VALUES ($1, $2, false, now())",
    )
    .bind(old)
    .bind(tenant)
    .execute(&mut *tx)
    .await
    .expect("old job");
    sqlx::query(
        "INSERT INTO bank_accounts (id, kb_account_id, iban, currency, name, history_complete, created_at) \
         SELECT $1, 'old-' || kb_account_id, iban, currency, name, true, created_at - interval '60 days' \
           FROM bank_accounts WHERE id = $2",
    )
    .bind(old)
    .bind(club.account)
    .execute(&mut *tx)
    .await
    .expect("old copy");
    sqlx::query(
        "INSERT INTO transactions (account_id, bank_key, status, amount_minor, currency, booking_date, \
            last_updated, first_seen_at) \
         SELECT $1, bank_key, status, amount_minor, currency, booking_date, last_updated, first_seen_at \
           FROM transactions WHERE account_id = $2 \
         UNION ALL SELECT $1, 'as:only-old', 'booked', -12300, 'CZK', current_date - 100, now(), now()",
    )
    .bind(old)
    .bind(club.account)
    .execute(&mut *tx)
    .await
    .expect("old movements");
    tx.commit().await.expect("commit");
    let transactions_before = club.count("SELECT count(*) FROM transactions").await;

    // The club's schema as it was before migration 0014: the migrations run again from there
    // (the balance watch's table of 0015 is made again too).
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    sqlx::query("DROP TABLE balance_watches")
        .execute(&mut *tx)
        .await
        .expect("drop 0015");
    tx.commit().await.expect("commit");
    sqlx::query("UPDATE app.tenants SET schema_version = 13 WHERE id = $1")
        .bind(tenant)
        .execute(&club.app.pool)
        .await
        .expect("version 13");
    let report = kasa::db::migrate::migrate_tenants(&club.app.pool)
        .await
        .expect("migrate");
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.migrated, 1);

    // One account: the oldest id, the live connection and KB id, its job enabled.
    assert_eq!(club.count("SELECT count(*) FROM bank_accounts").await, 1);
    let (id, kb, enabled, status): (Uuid, String, bool, String) = sqlx::query_as(
        "SELECT a.id, a.kb_account_id, j.enabled, c.status FROM app.bank_accounts a \
           JOIN app.sync_jobs j ON j.account_id = a.id \
           JOIN app.bank_connections c ON c.id = a.connection_id",
    )
    .fetch_one(&club.app.pool)
    .await
    .expect("merged");
    assert_eq!(
        (id, kb.as_str(), enabled, status.as_str()),
        (old, club.kb_account.as_str(), true, "active")
    );
    assert_eq!(
        club.app.count("SELECT count(*) FROM app.event_subscriptions WHERE account_id = (SELECT id FROM app.bank_accounts)").await,
        club.app.count("SELECT count(*) FROM app.event_subscriptions").await
    );
    // Movements deduplicated by bank_key: the duplicates went, the old-only one stayed.
    let after = club.count("SELECT count(*) FROM transactions").await;
    assert_eq!(
        after,
        (transactions_before - 1) / 2 + 1,
        "{transactions_before} → {after}"
    );
    assert_eq!(
        club.count("SELECT count(*) - count(DISTINCT bank_key) FROM transactions")
            .await,
        0
    );
    assert_eq!(
        club.count("SELECT count(*) FROM transactions WHERE bank_key = 'as:only-old'")
            .await,
        1
    );
    assert_eq!(
        club.count(
            "SELECT count(*) FROM bank_accounts a \
              WHERE a.movements <> (SELECT count(*) FROM transactions t WHERE t.account_id = a.id)"
        )
        .await,
        0,
        "the account's movement count"
    );
    // The match moved to the surviving row of the payment.
    assert_eq!(
        club.decision("fee-1").await,
        Some(("matched".to_owned(), "vs".to_owned()))
    );
    assert_eq!(club.paid(member, &last_month).await, 50_000);
    club.assert_bookkeeping().await;

    // The merged account syncs on; nothing is duplicated.
    club.sync().await;
    assert_eq!(club.count("SELECT count(*) FROM bank_accounts").await, 1);
    assert_eq!(
        club.count("SELECT count(*) - count(DISTINCT bank_key) FROM transactions")
            .await,
        0
    );
    assert_eq!(club.paid(member, &last_month).await, 50_000);
    club.assert_bookkeeping().await;
}

/// Books an outgoing payment of `kc` today.
fn outgoing(servicer: &str, kc: i64, day: &str) -> serde_json::Value {
    kb_transaction(servicer, "DEBIT", kc, day, None, "0000001234567821")
}

async fn available(club: &Club) -> i64 {
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    let (minor,): (i64,) = sqlx::query_as(
        "SELECT amount_minor FROM balances WHERE account_id = $1 AND balance_type = 'CLOSING_AVAILABLE' \
          ORDER BY valid_at DESC, fetched_at DESC LIMIT 1",
    )
    .bind(club.account)
    .fetch_one(&mut *tx)
    .await
    .expect("available balance");
    tx.commit().await.expect("commit");
    minor
}

async fn watch_mails(club: &Club) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT recipient, subject FROM app.outbox WHERE dedup_key LIKE 'balance-watch:%' ORDER BY id",
    )
    .fetch_all(&club.app.pool)
    .await
    .expect("mails")
}

#[tokio::test]
async fn a_low_balance_is_announced_once_per_crossing() {
    let club = Club::new().await;
    club.sync().await;
    let start = available(&club).await;
    let today = club.today().to_string();
    let watch = format!("{}/accounts/{}/watch", club.dashboard, club.account);

    // A bad amount: the form again with the field's message, nothing saved.
    let (status, page) = club
        .client
        .post_text(
            &watch,
            &[("threshold", "pět tisíc"), ("balance", "available")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Tohle není částka") && page.contains("aria-describedby=\"threshold-error\"")
    );
    assert_eq!(club.count("SELECT count(*) FROM balance_watches").await, 0);

    // The threshold 1 000 Kč under today's balance, typed the Czech way.
    let threshold = start - 100_000;
    let typed = format!("{},{:02}", threshold / 100, threshold % 100);
    let response = club
        .client
        .post_form(&watch, &[("threshold", &typed), ("balance", "available")])
        .await;
    assert_eq!(response.status(), 303);
    club.sync().await;
    assert!(watch_mails(&club).await.is_empty(), "above the threshold");

    // Down below: one mail; staying below through more syncs sends nothing more.
    club.book(outgoing("out-1", 1_500, &today)).await;
    club.sync().await;
    let mails = watch_mails(&club).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].1.contains("klesl pod"), "{mails:?}");
    let (_, page) = club.client.get_text(&club.dashboard).await;
    assert!(page.contains("Zůstatek je pod hranicí"));
    for (n, servicer) in ["out-2", "out-3"].iter().enumerate() {
        club.book(outgoing(servicer, 10 + n as i64, &today)).await;
        club.sync().await;
    }
    assert_eq!(watch_mails(&club).await.len(), 1, "still the same crossing");

    // Back above re-arms the watch; the next drop is a second mail.
    club.book(incoming("in-1", 3_000, &today, None)).await;
    club.sync().await;
    assert_eq!(watch_mails(&club).await.len(), 1);
    let (_, page) = club.client.get_text(&club.dashboard).await;
    assert!(page.contains("Hlídá se hranice"));
    club.book(outgoing("out-4", 3_000, &today)).await;
    club.sync().await;
    assert_eq!(watch_mails(&club).await.len(), 2);

    // Removing the watch: audited, nothing watched any more.
    let response = club.client.post_form(&format!("{watch}/remove"), &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(club.count("SELECT count(*) FROM balance_watches").await, 0);
    let (_, audit) = club
        .client
        .get_text(&format!("{}/audit", club.dashboard))
        .await;
    assert!(
        audit.contains("Nastaveno hlídání zůstatku") && audit.contains("Zrušeno hlídání zůstatku")
    );
    assert!(
        audit.contains("hranice ") && audit.contains("disponibilní zůstatek"),
        "the details in words"
    );
}

#[tokio::test]
async fn only_the_clubs_owners_and_treasurers_set_a_watch_and_anyone_in_the_club_sees_the_charts() {
    let club = Club::new().await;
    let watch = format!("{}/accounts/{}/watch", club.dashboard, club.account);
    let charts = format!("{}/accounts/{}/charts", club.dashboard, club.account);
    let viewer = club
        .app
        .teammate(&club.client, &club.dashboard, "divak@oddil.cz", "viewer")
        .await;
    let form = [("threshold", "100"), ("balance", "available")];
    assert_eq!(viewer.post_form(&watch, &form).await.status(), 403);
    assert_eq!(
        viewer
            .post_form(&format!("{watch}/remove"), &[])
            .await
            .status(),
        403
    );
    assert_eq!(viewer.get_text(&watch).await.0, 403);
    assert_eq!(viewer.get_text(&charts).await.0, 200);

    let (other, other_dashboard) = confirmed_club(&club.app, "cizi@jiny.cz", ICO_B).await;
    assert_eq!(other.post_form(&watch, &form).await.status(), 404);
    assert_eq!(
        other
            .post_form(&format!("{watch}/remove"), &[])
            .await
            .status(),
        404
    );
    assert_eq!(other.get_text(&watch).await.0, 404);
    assert_eq!(other.get_text(&charts).await.0, 404);
    assert_eq!(
        other
            .get_text(&format!("{}/bank/stamp", club.dashboard))
            .await
            .0,
        404
    );
    // This club's account under the other club's own address: not there either.
    let foreign = format!("{other_dashboard}/accounts/{}", club.account);
    assert_eq!(other.get_text(&format!("{foreign}/charts")).await.0, 404);
    assert_eq!(other.get_text(&format!("{foreign}/watch")).await.0, 404);
    assert_eq!(
        other
            .post_form(&format!("{foreign}/watch"), &form)
            .await
            .status(),
        404
    );
    assert_eq!(club.count("SELECT count(*) FROM balance_watches").await, 0);
}

#[tokio::test]
async fn the_charts_show_every_month_and_the_tables_carry_the_same_numbers() {
    let club = Club::new().await;
    let months: Vec<String> = (0..3)
        .rev()
        .map(|back| month_start(&club.app, back))
        .collect();
    // Two months ago: +1 000 and −250; last month: nothing; this month: +400.
    club.book(incoming(
        "c-1",
        1_000,
        &format!("{}05", &months[0][..8]),
        None,
    ))
    .await;
    club.book(outgoing("c-2", 250, &format!("{}06", &months[0][..8])))
        .await;
    club.book(incoming("c-3", 400, &club.today().to_string(), None))
        .await;
    club.sync().await;

    let (status, page) = club
        .client
        .get_text(&format!(
            "{}/accounts/{}/charts",
            club.dashboard, club.account
        ))
        .await;
    assert_eq!(status, 200);
    let flows = page
        .split("id=\"flows-chart\"")
        .nth(1)
        .expect("flows section");
    assert_eq!(
        flows.matches("class=\"bar income\"").count(),
        3,
        "three months"
    );
    assert_eq!(flows.matches("class=\"bar expenses\"").count(), 3);
    let table = flows.split("id=\"flows-table\"").nth(1).expect("table");
    assert_eq!(table.matches("<tr><th scope=\"row\">").count(), 3);
    for amount in ["1\u{a0}000,00\u{a0}Kč", "250,00\u{a0}Kč", "400,00\u{a0}Kč"] {
        assert!(table.contains(amount), "{amount} in {table}");
    }
    let balance = page
        .split("id=\"balance-chart\"")
        .nth(1)
        .and_then(|s| s.split("id=\"flows-chart\"").next())
        .expect("balance section");
    assert_eq!(balance.matches("<circle class=\"point\"").count(), 3);
    let table = balance.split("id=\"balance-table\"").nth(1).expect("table");
    let rows: Vec<&str> = table.split("<tr><th scope=\"row\">").skip(1).collect();
    assert_eq!(rows.len(), 3, "one table row per point");
    // The month ends: the opening balance +1 000 −250 twice, then +400 today (KB's available
    // balance counts every movement, today's too).
    let now = available(&club).await;
    let money = |minor: i64| kasa::i18n::format_money(minor, "CZK", kasa::i18n::Lang::Cs);
    for (row, expected) in rows.iter().zip([now - 40_000, now - 40_000, now]) {
        assert!(
            row.contains(&money(expected)),
            "{} in {row}",
            money(expected)
        );
    }
    // The highest balance is written on the line, as the table has it.
    assert!(balance.contains("class=\"value\""));
    assert!(balance.contains(&money(now)));
    assert!(!page.contains("style="), "no inline style");

    // The same page in English.
    club.client.get("/lang/en?next=/").await;
    let (_, page) = club
        .client
        .get_text(&format!(
            "{}/accounts/{}/charts",
            club.dashboard, club.account
        ))
        .await;
    assert!(page.contains("Income and expenses by month"));
    assert!(page.contains("CZK\u{a0}1,000.00"));
}

#[tokio::test]
async fn the_dashboards_first_sync_line_reaches_complete_without_a_reload_in_the_browser() {
    use crate::browser::{browser, expect_text, journey, log_in};
    // No background worker: the test runs the first sync while the dashboard is open.
    let app = TestApp::spawn_with_sandbox_and(|_| {}, |c| c.run_sync_worker = false).await;
    let email = "pokladni@oddil.cz";
    let (client, dashboard) = confirmed_club(&app, email, ICO_A).await;
    connect(&app, &client, &dashboard).await;
    let state = app.state.clone().expect("state");
    let worker = kasa::app::sync_worker(&state, kasa::sync::worker::SyncSettings::default());
    let b = browser().await;
    let c = &b.client;
    journey("dashboard-live", &b, async {
        c.goto(&app.url("/login")).await?;
        log_in(c, email).await?;
        c.goto(&app.url(&dashboard)).await?;
        expect_text(c, "Stahuje se historie").await?;
        c.execute("window.kasaNotReloaded = true;", vec![]).await?;
        sync_due(&app, &worker).await;
        expect_text(c, "Aktuální k").await?;
        let source = c.source().await?;
        if source.contains("Stahuje se historie") {
            return Err("the progress line is still shown".into());
        }
        let same_page = c
            .execute("return window.kasaNotReloaded === true;", vec![])
            .await?;
        if same_page != serde_json::Value::Bool(true) {
            return Err("the dashboard was reloaded".into());
        }
        Ok(())
    })
    .await;
    let _ = b.client.clone().close().await;
}

#[tokio::test]
async fn a_disconnected_accounts_page_says_disconnected_not_fresh_as_of_in_both_languages() {
    let club = Club::new().await;
    club.sync().await;
    let page_url = format!("{}/accounts/{}", club.dashboard, club.account);
    let (_, page) = club.client.get_text(&page_url).await;
    assert!(page.contains("Aktuální k"), "connected: fresh as of");
    assert!(!page.contains("id=\"disconnected\""));

    disconnect(&club, false).await;
    let (status, page) = club.client.get_text(&page_url).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"disconnected\""), "{page}");
    assert!(page.contains("odpojený") && page.contains("Účet je odpojený"));
    assert!(!page.contains("Aktuální k"), "{page}");

    club.client.get("/lang/en").await;
    let (_, page) = club.client.get_text(&page_url).await;
    assert!(page.contains("The account is disconnected"), "{page}");
    assert!(!page.contains("Fresh as of"), "{page}");
}

#[tokio::test]
async fn a_bad_threshold_or_a_wrong_password_re_renders_with_that_field_marked() {
    let club = Club::new().await;
    club.sync().await;
    let watch = format!("{}/accounts/{}/watch", club.dashboard, club.account);
    let (status, page) = club
        .client
        .post_text(&watch, &[("threshold", "hodně"), ("balance", "available")])
        .await;
    assert_eq!(status, 422);
    assert!(
        page.contains(
            "name=\"threshold\" inputmode=\"decimal\" value=\"hodně\" required aria-invalid=\"true\" aria-describedby=\"threshold-error\""
        ),
        "{page}"
    );
    assert!(page.contains("id=\"threshold-error\""));
    assert!(
        !page.contains("<fieldset aria-"),
        "the balance choice is fine"
    );

    // A wrong password in the dashboard's disconnect form marks that form's field only.
    let (status, page) = club
        .client
        .post_text(
            &format!("{}/bank/disconnect", club.dashboard),
            &[("password", "not the password")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        page.contains(
            "id=\"disconnect-password\" name=\"password\" type=\"password\" required autocomplete=\"current-password\" aria-invalid=\"true\" aria-describedby=\"disconnect-password-error\""
        ),
        "{page}"
    );
    assert!(page.contains("<p class=\"field-error\" id=\"disconnect-password-error\">Heslo k vašemu účtu v Kase nesouhlasí"));
    assert_eq!(page.matches("aria-invalid=\"true\"").count(), 1, "{page}");
    assert_eq!(
        club.app
            .count("SELECT count(*) FROM app.bank_connections WHERE status = 'active'")
            .await,
        1,
        "still connected"
    );
}

#[tokio::test]
async fn viewers_see_the_watch_state_but_not_its_link_and_may_not_change_it() {
    let club = Club::new().await;
    club.sync().await;
    let page_url = format!("{}/accounts/{}", club.dashboard, club.account);
    let watch = format!("{page_url}/watch");
    let response = club
        .client
        .post_form(&watch, &[("threshold", "1"), ("balance", "available")])
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = club.client.get_text(&page_url).await;
    assert!(page.contains("id=\"watch-link\""), "the treasurer's link");

    let viewer = club
        .app
        .teammate(&club.client, &club.dashboard, "divak@oddil.cz", "viewer")
        .await;
    let (status, page) = viewer.get_text(&page_url).await;
    assert_eq!(status, 200);
    assert!(!page.contains("id=\"watch-link\""), "{page}");
    assert!(!page.contains("/watch\""), "no link to the form at all");
    let (_, dashboard) = viewer.get_text(&club.dashboard).await;
    assert!(
        dashboard.contains("class=\"watch-state") && dashboard.contains("Hlídá se hranice"),
        "the viewer sees the state: {dashboard}"
    );
    assert_eq!(viewer.get_text(&watch).await.0, 403);
    let form = [("threshold", "100"), ("balance", "booked")];
    assert_eq!(viewer.post_form(&watch, &form).await.status(), 403);
    assert_eq!(
        club.count("SELECT count(*) FROM balance_watches WHERE threshold_minor = 100 AND balance = 'available'")
            .await,
        1,
        "unchanged"
    );
}
