//! Member fees end to end: charges generated once per member and period, payments matched by a
//! real sync against the sandbox, the queue with assignment and undo, and tenant isolation of
//! every fee and payment route.

use crate::consent::{confirmed_club, connect};
use crate::helpers::*;
use crate::members::form_token;
use kasa::db::tenant::{Tenant, TenantTx};
use uuid::Uuid;

/// The club at `dashboard` ([`TestApp::tenant`]; the fee, export and pay-page tests import it
/// from here).
pub(crate) async fn tenant_of(app: &TestApp, dashboard: &str) -> Tenant {
    app.tenant(dashboard).await
}

/// Adds a member straight into the club's schema (the member pages are another area's).
pub(crate) async fn add_member(
    app: &TestApp,
    tenant: &Tenant,
    name: &str,
    vs: &str,
    joined: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    let mut tx = TenantTx::begin(&app.pool, tenant).await.expect("begin");
    sqlx::query(
        "INSERT INTO members (id, name, variable_symbol, vs_key, joined_on, created_at, updated_at) \
         VALUES ($1, $2, $3, ltrim($3, '0'), $4::date, $5, $5)",
    )
    .bind(id)
    .bind(name)
    .bind(vs)
    .bind(joined)
    .bind(app.now())
    .execute(&mut *tx)
    .await
    .expect("member");
    tx.commit().await.expect("commit");
    id
}

pub(crate) async fn tenant_count(app: &TestApp, tenant: &Tenant, sql: &str) -> i64 {
    let (n,): (i64,) = tenant_row(app, tenant, sql).await;
    n
}

/// The sums matching keeps (a charge's paid sum, a payment's credit left) agree with the
/// allocations they summarise.
pub(crate) async fn assert_bookkeeping(app: &TestApp, tenant: &Tenant) {
    let wrong_paid = tenant_count(
        app,
        tenant,
        "SELECT count(*) FROM charges c WHERE c.paid_minor <> COALESCE( \
           (SELECT sum(a.amount_minor) FROM allocations a WHERE a.charge_id = c.id), 0)",
    )
    .await;
    let wrong_left = tenant_count(
        app,
        tenant,
        "SELECT count(*) FROM payment_decisions d JOIN transactions t ON t.id = d.transaction_id \
          WHERE d.left_minor <> CASE \
            WHEN d.outcome IN ('matched', 'partly_paid', 'overpaid') \
             AND (d.target_member IS NOT NULL OR d.target_household IS NOT NULL) \
            THEN GREATEST(t.amount_minor - COALESCE((SELECT sum(a.amount_minor) \
                   FROM allocations a WHERE a.transaction_id = t.id), 0), 0) \
            ELSE 0 END",
    )
    .await;
    assert_eq!((wrong_paid, wrong_left), (0, 0), "paid sums, credit left");
}

pub(crate) fn month_start(app: &TestApp, months_back: i32) -> String {
    let today = kasa::i18n::to_prague(app.now()).date();
    let mut year = today.year();
    let mut month = i32::from(u8::from(today.month())) - months_back;
    while month < 1 {
        month += 12;
        year -= 1;
    }
    format!("{year}-{month:02}-01")
}

pub(crate) async fn monthly_schedule(client: &Client, dashboard: &str, starts_on: &str) {
    // No form token: an empty one is the same as none.
    let form = schedule_form(starts_on, "");
    let response = client
        .post_form(&format!("{dashboard}/fees/schedules/new"), &form)
        .await;
    assert_eq!(response.status(), 303, "schedule saved");
}

#[tokio::test]
async fn charges_are_generated_once_per_member_and_period_and_follow_member_changes() {
    let (app, client, dashboard) = TestApp::spawn_with_club("TJ Sokol", "t@sokol.cz").await;
    let tenant = tenant_of(&app, &dashboard).await;
    add_member(&app, &tenant, "Jana Nová", "2026001", "2010-01-01").await;
    let petr = add_member(&app, &tenant, "Petr Svoboda", "0024", "2010-01-01").await;

    // A bad form: field errors, 422, nothing stored.
    let (status, page) = client
        .post_text(
            &format!("{dashboard}/fees/schedules/new"),
            &[
                ("name", ""),
                ("amount", "-5"),
                ("period", "month"),
                ("due_day", "40"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("Zadejte kladnou částku"), "{page}");
    assert_eq!(
        tenant_count(&app, &tenant, "SELECT count(*) FROM fee_schedules").await,
        0
    );

    // Monthly from two months back: three periods for each of the two members.
    monthly_schedule(&client, &dashboard, &month_start(&app, 2)).await;
    let charges = "SELECT count(*) FROM charges";
    assert_eq!(tenant_count(&app, &tenant, charges).await, 6);
    // Re-generating changes nothing.
    let response = client
        .post_form(&format!("{dashboard}/payments/rerun"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(tenant_count(&app, &tenant, charges).await, 6);
    // A new price applies to periods not charged yet; existing charges keep theirs.
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let (schedule,): (Uuid,) = sqlx::query_as("SELECT id FROM fee_schedules")
        .fetch_one(&mut *tx)
        .await
        .expect("schedule");
    tx.commit().await.expect("commit");
    let starts_on = month_start(&app, 2);
    let response = client
        .post_form(
            &format!("{dashboard}/fees/schedules/{schedule}"),
            &[
                ("name", "Členský příspěvek"),
                ("amount", "600"),
                ("period", "month"),
                ("due_day", "1"),
                ("grace_days", "10"),
                ("applies_to", "everyone"),
                ("starts_on", &starts_on),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "schedule updated");
    assert_eq!(
        tenant_count(
            &app,
            &tenant,
            "SELECT count(*) FROM charges WHERE amount_minor = 50000"
        )
        .await,
        6
    );

    // A new member gets only the current period's charge; an archived one no new charges.
    let today = kasa::i18n::to_prague(app.now()).date().to_string();
    let eva = add_member(&app, &tenant, "Eva Malá", "2026003", &today).await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    sqlx::query("UPDATE members SET archived_at = $2 WHERE id = $1")
        .bind(petr)
        .bind(app.now())
        .execute(&mut *tx)
        .await
        .expect("archive");
    tx.commit().await.expect("commit");
    client
        .post_form(&format!("{dashboard}/payments/rerun"), &[])
        .await;
    assert_eq!(tenant_count(&app, &tenant, charges).await, 7);
    // The overview lists the period with Czech money.
    let (status, page) = client.get_text(&format!("{dashboard}/fees")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Jana Nová") && page.contains("500,00\u{a0}Kč"),
        "{page}"
    );
    // A month later (the session would have timed out: the sync's run does it).
    let today = kasa::i18n::to_prague(app.now()).date();
    let to_next_month = i64::from(today.month().length(today.year()) - today.day()) + 1;
    app.clock.advance(time::Duration::days(to_next_month));
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let now = app.now();
    kasa::payment::rerun(&mut tx, kasa::i18n::to_prague(now).date(), now)
        .await
        .expect("rerun");
    tx.commit().await.expect("commit");
    assert_eq!(
        tenant_count(&app, &tenant, charges).await,
        9,
        "next month: Jana and Eva, not the archived Petr"
    );
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let (eva_charges,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM charges WHERE member_id = $1")
            .bind(eva)
            .fetch_one(&mut *tx)
            .await
            .expect("eva");
    assert_eq!(eva_charges, 2);
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn the_overview_shows_fifty_members_a_page_and_any_member_change_at_once() {
    let (app, client, dashboard) = TestApp::spawn_with_club("TJ Sokol", "t@sokol.cz").await;
    let tenant = tenant_of(&app, &dashboard).await;
    let mut first = None;
    for i in 0..60 {
        let id = add_member(
            &app,
            &tenant,
            &format!("Člen {i:02}"),
            &format!("{}", 2026100 + i),
            "2010-01-01",
        )
        .await;
        first.get_or_insert(id);
    }
    monthly_schedule(&client, &dashboard, &month_start(&app, 0)).await;
    let rows = |page: &str| page.matches("<tr data-member=").count();

    let (_, page) = client.get_text(&format!("{dashboard}/fees")).await;
    assert_eq!(rows(&page), 50, "{page}");
    assert!(page.contains("Zobrazeno 1–50 z 60"), "{page}");
    assert!(
        page.contains("Člen 00") && !page.contains("Člen 50"),
        "{page}"
    );
    let (_, page) = client.get_text(&format!("{dashboard}/fees?page=2")).await;
    assert_eq!(rows(&page), 10);
    assert!(
        page.contains("Zobrazeno 51–60 z 60") && page.contains("Člen 59"),
        "{page}"
    );
    // The sums count every page: 60 × 500 Kč expected.
    assert!(page.contains("30\u{a0}000,00\u{a0}Kč"), "{page}");

    // Whoever changes a member, the overview (computed once per stamp) shows it: another
    // process's change (here, SQL) as soon as its notification arrives.
    let stamp = client.get_text(&format!("{dashboard}/fees/stamp")).await.1;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    sqlx::query("UPDATE members SET name = 'Alena Přejmenovaná' WHERE id = $1")
        .bind(first)
        .execute(&mut *tx)
        .await
        .expect("rename");
    tx.commit().await.expect("commit");
    let mut moved = false;
    for _ in 0..40 {
        if client.get_text(&format!("{dashboard}/fees/stamp")).await.1 != stamp {
            moved = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(moved, "the stamp did not move within two seconds");
    let (_, page) = client.get_text(&format!("{dashboard}/fees")).await;
    assert!(
        page.contains("Alena Přejmenovaná") && !page.contains("Člen 00"),
        "{page}"
    );
}

#[tokio::test]
async fn the_overview_rendered_once_per_stamp_still_follows_each_viewers_role_language_and_query() {
    let (app, treasurer, dashboard) = TestApp::spawn_with_club("TJ Sokol", "t@sokol.cz").await;
    let tenant = tenant_of(&app, &dashboard).await;
    let viewer = app
        .teammate(&treasurer, &dashboard, "v@sokol.cz", "viewer")
        .await;
    let overview = format!("{dashboard}/fees");
    let new_schedule = format!("{dashboard}/fees/schedules/new");

    // Without schedules: only the treasurer is offered a new one, whoever asks first.
    let (_, page) = viewer.get_text(&overview).await;
    assert!(
        page.contains("Zatím nemáte žádný předpis") && !page.contains(&new_schedule),
        "{page}"
    );
    let (_, page) = treasurer.get_text(&overview).await;
    assert!(page.contains(&new_schedule), "{page}");
    let (_, page) = viewer.get_text(&overview).await;
    assert!(!page.contains(&new_schedule), "{page}");

    add_member(&app, &tenant, "Alena Nová", "2026001", "2010-01-01").await;
    add_member(&app, &tenant, "Boris Starý", "2026002", "2010-01-01").await;
    monthly_schedule(&treasurer, &dashboard, &month_start(&app, 0)).await;

    let (_, page) = treasurer.get_text(&overview).await;
    assert!(page.contains("Zobrazeno 1–2 z 2"), "{page}");
    // Another query is another page, and the first one is still itself.
    let (_, page) = treasurer.get_text(&format!("{overview}?q=Boris")).await;
    assert!(
        page.contains("Boris Starý") && !page.contains("Alena Nová"),
        "{page}"
    );
    assert!(page.contains("value=\"Boris\""), "{page}");
    let (_, page) = treasurer.get_text(&overview).await;
    assert!(
        page.contains("Boris Starý") && page.contains("Alena Nová"),
        "{page}"
    );
    // One person's language is not another's.
    treasurer.get(&format!("/lang/en?next={overview}")).await;
    let (_, page) = treasurer.get_text(&overview).await;
    assert!(
        page.contains("Fee overview") && page.contains("Showing 1–2 of 2"),
        "{page}"
    );
    let (_, page) = viewer.get_text(&overview).await;
    assert!(
        page.contains("Přehled příspěvků") && page.contains("Zobrazeno 1–2 z 2"),
        "{page}"
    );
}

/// Sends a payment from the sandbox's control page and syncs it.
pub(crate) async fn pay(
    app: &TestApp,
    worker: &kasa::sync::Worker<kasa::consent::Consent>,
    body: serde_json::Value,
) {
    let sandbox = app.sandbox.clone().expect("sandbox");
    let (kb_account,): (String,) = sqlx::query_as("SELECT kb_account_id FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("acc");
    let mut body = body;
    body["account"] = serde_json::json!(kb_account);
    let response = reqwest::Client::new()
        .post(format!("{}/control/payments", sandbox.browser_base_url))
        .json(&body)
        .send()
        .await
        .expect("payment");
    assert!(response.status().is_success());
    let (account,): (Uuid,) = sqlx::query_as("SELECT id FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("id");
    kasa::sync::jobs::make_due(&app.pool, account, app.now())
        .await
        .expect("due");
    sync_due(app, worker).await;
}

#[tokio::test]
async fn a_synced_payment_is_matched_in_the_sync_and_a_person_can_assign_and_undo() {
    let app = TestApp::spawn_with_sandbox(|c| c.seed.transactions_per_account = 0).await;
    let (client, dashboard) = confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    let jana = add_member(&app, &tenant, "Jana Nová", "2026001", "2010-01-01").await;
    add_member(&app, &tenant, "Petr Svoboda", "2026002", "2010-01-01").await;
    monthly_schedule(&client, &dashboard, &month_start(&app, 0)).await;
    connect(&app, &client, &dashboard).await;
    let state = app.state.clone().expect("state");
    let worker = kasa::app::sync_worker(&state, kasa::sync::worker::SyncSettings::default());
    sync_due(&app, &worker).await;
    let stamp_before = client
        .get(&format!("{dashboard}/fees/stamp"))
        .await
        .text()
        .await
        .expect("stamp");

    // Jana pays with her VS padded by the bank: matched inside the sync.
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 50_000, "vs": "0002026001", "payer_name": "Jana Nová",
                           "payer_account": "19-2000145399/0800"}),
    )
    .await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let (outcome, rule, member): (String, String, Option<Uuid>) = sqlx::query_as(
        "SELECT outcome, rule, target_member FROM payment_decisions d \
           JOIN transactions t ON t.id = d.transaction_id WHERE t.variable_symbol = '0002026001'",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("decision");
    tx.commit().await.expect("commit");
    assert_eq!(
        (outcome.as_str(), rule.as_str(), member),
        ("matched", "vs", Some(jana))
    );
    let stamp_after = client
        .get(&format!("{dashboard}/fees/stamp"))
        .await
        .text()
        .await
        .expect("stamp");
    assert_ne!(stamp_before, stamp_after, "open pages see the change");
    let (_, page) = client
        .get_text(&format!("{dashboard}/fees?status=paid"))
        .await;
    assert!(
        page.contains("Jana Nová") && !page.contains("Petr Svoboda"),
        "{page}"
    );

    // A payment nobody's VS fits waits in the queue, Petr suggested by his name.
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 50_000, "vs": "999", "message": "prispevek Petr Svoboda",
                           "payer_name": "Svoboda Petr", "payer_account": "2400123456/2010"}),
    )
    .await;
    let (_, page) = client.get_text(&format!("{dashboard}/payments")).await;
    assert!(page.contains("neidentifikovaná"), "{page}");
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let (payment,): (i64,) = sqlx::query_as(
        "SELECT transaction_id FROM payment_decisions WHERE outcome = 'unidentified'",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("queued");
    let (petr,): (Uuid,) = sqlx::query_as("SELECT id FROM members WHERE vs_key = '2026002'")
        .fetch_one(&mut *tx)
        .await
        .expect("petr");
    tx.commit().await.expect("commit");
    assert!(
        page.contains(&format!("member:{petr}")),
        "a one-click suggestion for Petr"
    );

    let response = client
        .post_form(
            &format!("{dashboard}/payments/{payment}/assign"),
            &[("target", &format!("member:{petr}"))],
        )
        .await;
    assert_eq!(response.status(), 303);
    let allocated = format!(
        "SELECT count(*) FROM allocations WHERE transaction_id = {payment} AND member_id = '{petr}'"
    );
    assert_eq!(tenant_count(&app, &tenant, &allocated).await, 1);
    let (_, page) = client.get_text(&format!("{dashboard}/payments")).await;
    assert!(
        page.contains("přiřazeno ručně; potvrdil(a) t@sokol.cz"),
        "{page}"
    );

    // Undo: the allocation is gone and the payment waits in the queue again.
    let response = client
        .post_form(&format!("{dashboard}/payments/{payment}/undo"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(tenant_count(&app, &tenant, &allocated).await, 0);
    let queued = format!(
        "SELECT count(*) FROM payment_decisions WHERE transaction_id = {payment} AND outcome = 'unidentified'"
    );
    assert_eq!(tenant_count(&app, &tenant, &queued).await, 1);
    assert_eq!(
        tenant_count(
            &app,
            &tenant,
            "SELECT count(*) FROM audit_log WHERE action IN ('payment.assign', 'payment.undo')"
        )
        .await,
        2
    );

    // Another sync that changes nothing changes no decision or allocation.
    let before = tenant_count(&app, &tenant, "SELECT count(*) FROM allocations").await;
    sync_all_now(&app, &worker).await;
    assert_eq!(
        tenant_count(&app, &tenant, "SELECT count(*) FROM allocations").await,
        before
    );
    assert_bookkeeping(&app, &tenant).await;

    // Jana's page: her charge, the payment and its explanation.
    let (status, page) = client
        .get_text(&format!("{dashboard}/fees/members/{jana}"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("VS 2026001 + částka"), "{page}");
    // The member's own page carries the same section.
    let (status, page) = client
        .get_text(&format!("{dashboard}/members/{jana}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("VS 2026001 + částka") && page.contains("Příspěvky a platby"),
        "{page}"
    );
}

#[tokio::test]
async fn fee_and_payment_routes_are_closed_to_other_clubs_and_changes_to_viewers() {
    let (app, owner, club) = TestApp::spawn_with_club("Klub A", "owner@a.cz").await;
    let tenant = tenant_of(&app, &club).await;
    let member = add_member(&app, &tenant, "Jana Nová", "2026001", "2010-01-01").await;
    monthly_schedule(&owner, &club, &month_start(&app, 0)).await;
    let (schedule,): (Uuid,) = tenant_row(&app, &tenant, "SELECT id FROM fee_schedules").await;
    // Another club's treasurer (owner) and a viewer of club A.
    let stranger = app.client();
    let club_b = app.sign_up(&stranger, "Klub B", ICO_B, "bob@b.cz").await;
    let viewer = app.teammate(&owner, &club, "viewer@a.cz", "viewer").await;

    let reads = [
        format!("{club}/fees"),
        format!("{club}/fees/stamp"),
        format!("{club}/fees/schedules"),
        format!("{club}/fees/members/{member}"),
        format!("{club}/payments"),
        format!("{club}/payments?page=2"),
    ];
    assert_gets(&reads, &[(&stranger, 404), (&viewer, 200)]).await;
    let manage_reads = [
        format!("{club}/fees/schedules/new"),
        format!("{club}/fees/schedules/{schedule}"),
    ];
    assert_gets(&manage_reads, &[(&stranger, 404), (&viewer, 403)]).await;
    let changes = [
        format!("{club}/fees/schedules/new"),
        format!("{club}/fees/schedules/{schedule}"),
        format!("{club}/payments/rerun"),
        format!("{club}/fees/settings"),
        format!("{club}/payments/1/assign"),
        format!("{club}/payments/1/confirm"),
        format!("{club}/payments/1/unmatch"),
        format!("{club}/payments/1/irrelevant"),
        format!("{club}/payments/1/restore"),
        format!("{club}/payments/1/undo"),
    ];
    let target = format!("member:{member}");
    let form = [
        ("target", target.as_str()),
        ("name", "X"),
        ("payments_from", "1. 1. 2026"),
    ];
    assert_posts(&changes, &form, &[(&stranger, 404), (&viewer, 403)]).await;
    // Club A's schedule and member through the stranger's own club: not found either.
    let foreign = [
        format!("{club_b}/fees/schedules/{schedule}"),
        format!("{club_b}/fees/members/{member}"),
    ];
    assert_gets(&foreign, &[(&stranger, 404)]).await;
    // Saving club A's schedule through the stranger's own club is not found too, with a valid
    // form and with one full of mistakes (which used to re-render as 422).
    let path = format!("{club_b}/fees/schedules/{schedule}");
    for form in [
        vec![("name", "Příspěvek"), ("amount", "500"), ("period", "year")],
        vec![("name", ""), ("amount", "nic"), ("period", "?")],
    ] {
        assert_eq!(
            stranger.post_form(&path, &form).await.status(),
            404,
            "{path}"
        );
    }
    // A payment id the stranger's own club does not have: every action on it is not found,
    // undo included (it used to answer "cannot undo").
    let actions = ["assign", "confirm", "irrelevant", "undo"]
        .map(|action| format!("{club_b}/payments/1/{action}"));
    let form = [("target", target.as_str())];
    assert_posts(&actions, &form, &[(&stranger, 404)]).await;
    assert_eq!(
        app.count("SELECT count(*) FROM app.tenants").await,
        2,
        "nothing else was created"
    );
    assert_eq!(
        tenant_count(
            &app,
            &tenant,
            "SELECT count(*) FROM fee_settings WHERE payments_from IS NOT NULL"
        )
        .await,
        0,
        "the date was not changed"
    );
}

fn schedule_form<'a>(starts_on: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", "Členský příspěvek"),
        ("amount", "500"),
        ("period", "month"),
        ("due_day", "1"),
        ("grace_days", "10"),
        ("applies_to", "everyone"),
        ("starts_on", starts_on),
        ("form_token", token),
    ]
}

/// A signed-up club: its treasurer's client, dashboard path and schema.
async fn signed_up_club(app: &TestApp) -> (Client, String, Tenant) {
    let client = app.client();
    let dashboard = app.sign_up(&client, "TJ Sokol", ICO_A, "t@sokol.cz").await;
    let tenant = tenant_of(app, &dashboard).await;
    (client, dashboard, tenant)
}

#[tokio::test]
async fn a_new_schedule_form_sent_twice_creates_one_schedule() {
    let app = TestApp::spawn().await;
    let (client, dashboard, tenant) = signed_up_club(&app).await;
    add_member(&app, &tenant, "Jana Nová", "2026001", "2010-01-01").await;
    let (_, page) = client
        .get_text(&format!("{dashboard}/fees/schedules/new"))
        .await;
    let token = form_token(&page);
    let starts_on = month_start(&app, 0);
    let path = format!("{dashboard}/fees/schedules/new");
    let first = client
        .post_form(&path, &schedule_form(&starts_on, &token))
        .await;
    let second = client
        .post_form(&path, &schedule_form(&starts_on, &token))
        .await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (303, 303)
    );
    assert_eq!(location(&first), location(&second));
    assert_eq!(
        tenant_count(&app, &tenant, "SELECT count(*) FROM fee_schedules").await,
        1
    );
    assert_eq!(
        tenant_count(&app, &tenant, "SELECT count(*) FROM charges").await,
        1
    );
    // A fresh form is a new schedule.
    let (_, page) = client
        .get_text(&format!("{dashboard}/fees/schedules/new"))
        .await;
    let other = form_token(&page);
    assert_ne!(other, token);
    let third = client
        .post_form(&path, &schedule_form(&starts_on, &other))
        .await;
    assert_eq!(third.status(), 303);
    assert_eq!(
        tenant_count(&app, &tenant, "SELECT count(*) FROM fee_schedules").await,
        2
    );
}

#[tokio::test]
async fn a_schedule_starting_in_2000_or_for_another_clubs_group_is_refused_at_the_field() {
    let app = TestApp::spawn().await;
    let (client, dashboard, tenant) = signed_up_club(&app).await;
    add_member(&app, &tenant, "Jana Nová", "2026001", "2010-01-01").await;
    let path = format!("{dashboard}/fees/schedules/new");
    let (status, page) = client
        .post_text(&path, &schedule_form("1. 1. 2000", ""))
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("nejdříve 1. 1. loňského roku"), "{page}");
    let too_late = format!(
        "1. 1. {}",
        kasa::i18n::to_prague(app.now()).date().year() + 3
    );
    let (status, _) = client.post_text(&path, &schedule_form(&too_late, "")).await;
    assert_eq!(status, 422);

    // Another club's group: unknown here.
    let other = app.client();
    let club_b = app.sign_up(&other, "Klub B", ICO_B, "b@b.cz").await;
    let tenant_b = tenant_of(&app, &club_b).await;
    let foreign = Uuid::now_v7();
    let mut tx = TenantTx::begin(&app.pool, &tenant_b).await.expect("begin");
    sqlx::query("INSERT INTO member_groups (id, name) VALUES ($1, 'žáci')")
        .bind(foreign)
        .execute(&mut *tx)
        .await
        .expect("group");
    tx.commit().await.expect("commit");
    let starts_on = month_start(&app, 0);
    let foreign = foreign.to_string();
    let mut form = schedule_form(&starts_on, "");
    form.retain(|(k, _)| *k != "applies_to");
    form.push(("applies_to", "groups"));
    form.push(("group", &foreign));
    let (status, page) = client.post_text(&path, &form).await;
    assert_eq!(status, 422);
    assert!(page.contains("Tuto skupinu nemáte"), "{page}");
    assert_eq!(
        tenant_count(&app, &tenant, "SELECT count(*) FROM fee_schedules").await
            + tenant_count(&app, &tenant, "SELECT count(*) FROM charges").await,
        0,
        "nothing stored"
    );
}

#[tokio::test]
async fn payments_count_from_takes_a_czech_date_and_names_a_bad_one_at_the_field() {
    let app = TestApp::spawn().await;
    let (client, dashboard, tenant) = signed_up_club(&app).await;
    let path = format!("{dashboard}/fees/settings");
    let (status, page) = client
        .post_text(&path, &[("payments_from", "31. 2. 2026")])
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("Zadejte datum, např. 1. 9. 2026"), "{page}");
    assert!(
        page.contains("value=\"31. 2. 2026\""),
        "what was typed stays"
    );
    let (status, page) = client
        .post_text(&path, &[("payments_from", "1. 1. 2001")])
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("nejdříve 1. 1. před dvěma lety"), "{page}");
    let year = kasa::i18n::to_prague(app.now()).date().year();
    let chosen = format!("1. 9. {year}");
    let response = client.post_form(&path, &[("payments_from", &chosen)]).await;
    assert_eq!(response.status(), 303);
    let (_, page) = client
        .get_text(&format!("{dashboard}/fees/schedules"))
        .await;
    assert!(page.contains(&chosen), "{page}");
    assert_eq!(
        tenant_count(
            &app,
            &tenant,
            "SELECT count(*) FROM audit_log WHERE action = 'fee.payments_from_changed'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_edit_may_keep_a_start_older_than_the_bounds_but_not_move_a_start_out_of_them() {
    let app = TestApp::spawn().await;
    let (client, dashboard, tenant) = signed_up_club(&app).await;
    monthly_schedule(&client, &dashboard, &month_start(&app, 0)).await;
    // A schedule that started long ago (created before the bounds, or years back).
    let year = kasa::i18n::to_prague(app.now()).date().year();
    let old_start = format!("{}-01-01", year - 3);
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let (schedule,): (Uuid,) =
        sqlx::query_as("UPDATE fee_schedules SET starts_on = $1::date RETURNING id")
            .bind(&old_start)
            .fetch_one(&mut *tx)
            .await
            .expect("old start");
    tx.commit().await.expect("commit");
    let path = format!("{dashboard}/fees/schedules/{schedule}");
    let response = client
        .post_form(&path, &schedule_form(&format!("1. 1. {}", year - 3), ""))
        .await;
    assert_eq!(response.status(), 303, "renamed, start kept");
    let (status, page) = client
        .post_text(&path, &schedule_form(&format!("1. 2. {}", year - 3), ""))
        .await;
    assert_eq!(status, 422, "moved out of the bounds");
    assert!(page.contains("nejdříve 1. 1. loňského roku"), "{page}");
}

#[tokio::test]
async fn a_member_added_through_the_form_owes_the_current_period_at_once() {
    let (app, client, dashboard) = TestApp::spawn_with_club("TJ Sokol", "t@sokol.cz").await;
    monthly_schedule(&client, &dashboard, &month_start(&app, 0)).await;
    let form = crate::members::member_form("Karel Nováček", "2026555", "");
    let response = client
        .post_form(&format!("{dashboard}/members"), &form)
        .await;
    assert_eq!(response.status(), 303, "member saved");
    // No sync and no "re-run matching" in between: the charge exists and the overview shows it.
    let (_, overview) = client.get_text(&format!("{dashboard}/fees")).await;
    assert!(overview.contains("Karel Nováček"), "{overview}");
    let tenant = tenant_of(&app, &dashboard).await;
    assert_eq!(
        tenant_count(
            &app,
            &tenant,
            "SELECT count(*) FROM charges c JOIN members m ON m.id = c.member_id \
              WHERE m.variable_symbol = '2026555'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_query_string_the_page_cannot_read_gets_a_page_in_czech_not_a_raw_error() {
    let (_app, client, dashboard) = TestApp::spawn_with_club("TJ Sokol", "t@sokol.cz").await;
    for path in [
        format!("{dashboard}/fees?sort=name&sort=vs"),
        format!("{dashboard}/fees?page=1&page=2"),
        format!("{dashboard}/exports/download?dataset=members&dataset=charges&format=csv"),
    ] {
        let (status, page) = client.get_text(&path).await;
        assert_eq!(status, 400, "{path}");
        assert!(page.contains("Adrese nerozumíme"), "{path}: {page}");
        assert!(!page.contains("duplicate field"), "{path}: {page}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_form_or_is_too_large_gets_a_page_in_czech_with_its_status() {
    let (_app, client, dashboard) = TestApp::spawn_with_club("TJ Sokol", "t@sokol.cz").await;
    let response = client
        .http
        .post(client.url(&format!("{dashboard}/fees/settings")))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 415);
    let page = response.text().await.expect("body");
    assert!(page.contains("Adrese nerozumíme"), "{page}");
    assert!(!page.contains("Content-Type"), "{page}");

    let huge = "x".repeat(12 * 1024 * 1024);
    let response = client
        .http
        .post(client.url(&format!("{dashboard}/fees/settings")))
        .form(&[("payments_from", huge.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 413);
    let page = response.text().await.expect("body");
    assert!(page.contains("Příliš mnoho dat"), "{page}");
}

#[tokio::test]
async fn every_invalid_schedule_field_is_marked_and_a_bad_discount_line_is_named() {
    let app = TestApp::spawn().await;
    let (client, dashboard, _) = signed_up_club(&app).await;
    let response = client
        .post_form(
            &format!("{dashboard}/fees/schedules/new"),
            &[
                ("name", ""),
                ("amount", "nic"),
                ("period", "month"),
                ("due_day", "40"),
                ("grace_days", "dlouho"),
                ("applies_to", "everyone"),
                ("starts_on", "1. 1. 2026"),
                ("adjustments", "2026001 500\n\n2026002 hodně"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    for field in ["name", "amount", "due_day", "grace_days", "adjustments"] {
        assert!(
            page.contains(&format!("name=\"{field}\""))
                && page.contains(&format!(
                    "aria-invalid=\"true\" aria-describedby=\"{field}-error\""
                )),
            "{field} is marked invalid and described by its error: {page}"
        );
        assert!(
            page.contains(&format!("id=\"{field}-error\"")),
            "{field}: {page}"
        );
    }
    assert!(
        page.contains("Řádek 3: zadejte variabilní symbol"),
        "{page}"
    );
    assert!(
        page.contains("<p class=\"form-error\" role=\"alert\">Formulář obsahuje chyby"),
        "the same summary as other forms: {page}"
    );
    assert!(
        page.contains(&format!("href=\"{dashboard}/fees/schedules\" id=\"back\"")),
        "{page}"
    );
}

#[tokio::test]
async fn a_new_members_fee_section_says_what_is_empty_and_heads_its_columns() {
    let app = TestApp::spawn().await;
    let (client, dashboard, tenant) = signed_up_club(&app).await;
    let jana = add_member(&app, &tenant, "Jana Nová", "2026001", "2010-01-01").await;
    let (_, page) = client
        .get_text(&format!("{dashboard}/members/{jana}"))
        .await;
    let empty = [
        "Žádné předepsané platby.",
        "Zatím nic nezaplaceno.",
        "Zatím žádné platby.",
        "Vyrovnáno.",
    ];
    assert_contains_all(&page, &empty);
    for table in ["member-charges", "member-allocations", "member-payments"] {
        assert!(!page.contains(&format!("id=\"{table}\"")), "{table}");
    }

    monthly_schedule(&client, &dashboard, &month_start(&app, 1)).await;
    let (_, page) = client
        .get_text(&format!("{dashboard}/fees/members/{jana}"))
        .await;
    assert!(page.contains("<th>Za co</th>"), "{page}");
    assert!(page.contains("data-label=\"Splatnost\""), "{page}");
    assert!(page.contains("Dluží <strong>"), "{page}");
    assert!(
        !page.contains("Zůstatek"),
        "the figure is said once: {page}"
    );
}
