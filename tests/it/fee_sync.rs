//! Fee matching through the real sync path: exact bank transactions pushed into the built-in
//! sandbox (`/control/transactions`), synced by the real worker, matched by the sync hook in
//! the sync's transaction; then what the club's schema and pages say. Also the demo as a
//! newcomer sees it, and a run after a sync that changed nothing.

use crate::consent::{confirmed_club, connect};
use crate::fees::{
    add_member, assert_bookkeeping, month_start, monthly_schedule, tenant_count, tenant_of,
};
use crate::helpers::*;
use kasa::db::tenant::{Tenant, TenantTx};
use kasa::sync::AfterLedgerApply;
use serde_json::{Value, json};
use uuid::Uuid;

/// A club with a connected sandbox account (no generated history), not synced yet.
pub(crate) struct Club {
    pub(crate) app: TestApp,
    pub(crate) client: Client,
    pub(crate) dashboard: String,
    pub(crate) tenant: Tenant,
    pub(crate) worker: kasa::sync::Worker<kasa::consent::Consent>,
    pub(crate) kb_account: String,
    pub(crate) iban: String,
    pub(crate) account: Uuid,
}

impl Club {
    pub(crate) async fn new() -> Club {
        Club::with_history(0).await
    }

    pub(crate) async fn with_history(transactions: usize) -> Club {
        let app = TestApp::spawn_with_sandbox(|c| {
            c.seed.transactions_per_account = transactions;
            c.seed.days = 729;
            // Every sync downloads and applies (so the sync hook runs), however soon.
            c.behaviour.unchanged_data_limit = None;
        })
        .await;
        let (client, dashboard) = confirmed_club(&app, "pokladni@oddil.cz", ICO_A).await;
        let tenant = tenant_of(&app, &dashboard).await;
        connect(&app, &client, &dashboard).await;
        let (account, kb_account, iban): (Uuid, String, String) =
            sqlx::query_as("SELECT id, kb_account_id, iban FROM app.bank_accounts LIMIT 1")
                .fetch_one(&app.pool)
                .await
                .expect("account");
        let state = app.state.clone().expect("state");
        let worker = kasa::app::sync_worker(&state, kasa::sync::worker::SyncSettings::default());
        Club {
            app,
            client,
            dashboard,
            tenant,
            worker,
            kb_account,
            iban,
            account,
        }
    }

    /// Books a transaction at the sandbox exactly as given (the club's IBAN filled in).
    pub(crate) async fn book(&self, mut transaction: Value) {
        let sandbox = self.app.sandbox.clone().expect("sandbox");
        transaction["iban"] = json!(self.iban);
        let response = reqwest::Client::new()
            .post(format!("{}/control/transactions", sandbox.browser_base_url))
            .json(&json!({ "account": self.kb_account, "transaction": transaction }))
            .send()
            .await
            .expect("book");
        assert_eq!(response.status(), 201, "the sandbox booked it");
    }

    /// Makes the account's sync due and runs the worker until it is idle.
    pub(crate) async fn sync(&self) {
        kasa::sync::jobs::make_due(&self.app.pool, self.account, self.app.now())
            .await
            .expect("due");
        sync_due(&self.app, &self.worker).await;
    }

    pub(crate) async fn count(&self, sql: &str) -> i64 {
        tenant_count(&self.app, &self.tenant, sql).await
    }

    pub(crate) async fn member(&self, name: &str, vs: &str) -> Uuid {
        add_member(&self.app, &self.tenant, name, vs, "2010-01-01").await
    }

    /// Σ allocated to the member's charge of the period starting `period_start`.
    pub(crate) async fn paid(&self, member: Uuid, period_start: &str) -> i64 {
        let mut tx = TenantTx::begin(&self.app.pool, &self.tenant)
            .await
            .expect("begin");
        let (paid,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(sum(a.amount_minor), 0)::int8 FROM charges c \
               LEFT JOIN allocations a ON a.charge_id = c.id \
              WHERE c.member_id = $1 AND c.period_start = $2::date",
        )
        .bind(member)
        .bind(period_start)
        .fetch_one(&mut *tx)
        .await
        .expect("paid");
        tx.commit().await.expect("commit");
        paid
    }

    /// The decision (outcome, rule) about the transaction KB calls `servicer`, if any.
    pub(crate) async fn decision(&self, servicer: &str) -> Option<(String, String)> {
        let mut tx = TenantTx::begin(&self.app.pool, &self.tenant)
            .await
            .expect("begin");
        let row = sqlx::query_as(
            "SELECT d.outcome, d.rule FROM transactions t \
               JOIN payment_decisions d ON d.transaction_id = t.id WHERE t.bank_key = $1",
        )
        .bind(format!("as:{servicer}"))
        .fetch_optional(&mut *tx)
        .await
        .expect("decision");
        tx.commit().await.expect("commit");
        row
    }

    /// Sets "payments count from" on the fee settings: the month starting `month_start`
    /// (YYYY-MM-01), typed the Czech way, or the default for "".
    async fn count_payments_from(&self, month_start: &str) {
        let typed = if month_start.is_empty() {
            String::new()
        } else {
            format!(
                "1. {}. {}",
                month_start[5..7].trim_start_matches('0'),
                &month_start[..4]
            )
        };
        let response = self
            .client
            .post_form(
                &format!("{}/fees/settings", self.dashboard),
                &[("payments_from", &typed)],
            )
            .await;
        assert_eq!(response.status(), 303);
    }

    pub(crate) async fn assert_bookkeeping(&self) {
        assert_bookkeeping(&self.app, &self.tenant).await;
    }

    pub(crate) fn today(&self) -> time::Date {
        kasa::i18n::to_prague(self.app.now()).date()
    }
}

/// A booked transaction as KB lists it: `kc` whole crowns, on `day` (YYYY-MM-DD), incoming
/// (`CREDIT`) or outgoing (`DEBIT`), from the payer's Czech account `account_no` (16 digits).
pub(crate) fn kb_transaction(
    servicer: &str,
    direction: &str,
    kc: i64,
    day: &str,
    vs: Option<&str>,
    account_no: &str,
) -> Value {
    let now = real_now()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("now");
    let mut references = json!({ "accountServicer": servicer });
    if let Some(vs) = vs {
        references["variable"] = json!(vs);
    }
    json!({
        "lastUpdated": now,
        "accountType": "KB",
        "creditDebitIndicator": direction,
        "transactionType": "DOMESTIC",
        "amount": { "value": kc, "currency": "CZK" },
        "bookingDate": day,
        "valueDate": day,
        "status": "BOOK",
        "counterParty": { "name": "Plátce", "accountNo": account_no, "bankCode": "0800" },
        "references": references,
    })
}

pub(crate) fn incoming(servicer: &str, kc: i64, day: &str, vs: Option<&str>) -> Value {
    kb_transaction(servicer, "CREDIT", kc, day, vs, "0000001234567821")
}

fn day_of(month_start: &str, day: u8) -> String {
    format!("{}{day:02}", &month_start[..8])
}

#[tokio::test]
async fn a_household_transfer_is_split_across_the_siblings_charges_oldest_due_first() {
    let club = Club::new().await;
    let household = Uuid::now_v7();
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    sqlx::query(
        "INSERT INTO households (id, name, variable_symbol, vs_key, guardian_name, created_at) \
         VALUES ($1, 'Dvořákovi', '2026900', '2026900', 'Eva Dvořáková', now())",
    )
    .bind(household)
    .execute(&mut *tx)
    .await
    .expect("household");
    tx.commit().await.expect("commit");
    let adam = club.member("Adam Dvořák", "2026010").await;
    let bara = club.member("Bára Dvořáková", "2026011").await;
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    sqlx::query("UPDATE members SET household_id = $1")
        .bind(household)
        .execute(&mut *tx)
        .await
        .expect("siblings");
    tx.commit().await.expect("commit");
    let last_month = month_start(&club.app, 1);
    let this_month = month_start(&club.app, 0);
    monthly_schedule(&club.client, &club.dashboard, &last_month).await;

    // The guardian pays 1 250 Kč with the household's VS: both of last month's charges
    // (500 each) first, then 250 towards this month's.
    club.book(incoming(
        "household-1",
        1_250,
        &club.today().to_string(),
        Some("2026900"),
    ))
    .await;
    club.sync().await;

    assert_eq!(club.paid(adam, &last_month).await, 50_000);
    assert_eq!(club.paid(bara, &last_month).await, 50_000);
    let this_months: i64 = club.paid(adam, &this_month).await + club.paid(bara, &this_month).await;
    assert_eq!(this_months, 25_000, "the rest goes to this month's charges");
    assert_eq!(
        club.decision("household-1").await,
        Some(("partly_paid".to_owned(), "vs".to_owned()))
    );
    assert_eq!(
        club.count(
            "SELECT count(DISTINCT member_id) FROM allocations WHERE rule = 'vs' \
              AND evidence ->> 'vs' = '2026900'"
        )
        .await,
        2,
        "one transfer, both siblings"
    );
    club.assert_bookkeeping().await;
}

#[tokio::test]
async fn an_overpayment_is_carried_to_the_next_periods_charge_when_that_charge_is_generated() {
    let club = Club::new().await;
    let jana = club.member("Jana Nová", "2026001").await;
    let this_month = month_start(&club.app, 0);
    monthly_schedule(&club.client, &club.dashboard, &this_month).await;
    club.book(incoming(
        "double",
        1_000,
        &club.today().to_string(),
        Some("2026001"),
    ))
    .await;
    club.sync().await;
    assert_eq!(club.paid(jana, &this_month).await, 50_000);
    assert_eq!(
        club.decision("double").await,
        Some(("overpaid".to_owned(), "vs".to_owned()))
    );

    // A month later the next sync generates the next charge; the credit settles it.
    let today = club.today();
    let to_next_month = i64::from(today.month().length(today.year()) - today.day()) + 2;
    club.app.clock.advance(time::Duration::days(to_next_month));
    club.sync().await;
    let next_month = month_start(&club.app, 0);
    assert_ne!(next_month, this_month);
    assert_eq!(club.paid(jana, &next_month).await, 50_000);
    assert_eq!(
        club.count(
            "SELECT count(*) FROM allocations WHERE rule = 'credit' AND amount_minor = 50000"
        )
        .await,
        1,
        "laid as credit of the first payment"
    );
    assert_eq!(
        club.count("SELECT count(*) FROM payment_decisions WHERE left_minor > 0")
            .await,
        0,
        "no credit left"
    );
    club.assert_bookkeeping().await;
}

#[tokio::test]
async fn a_reversal_of_a_matched_payment_reopens_its_charge() {
    let club = Club::new().await;
    let jana = club.member("Jana Nová", "2026001").await;
    let this_month = month_start(&club.app, 0);
    monthly_schedule(&club.client, &club.dashboard, &this_month).await;
    let today = club.today().to_string();
    club.book(incoming("paid", 500, &today, Some("2026001")))
        .await;
    club.sync().await;
    assert_eq!(club.paid(jana, &this_month).await, 50_000);

    // The bank returns the payment (storno): a booked reversal from the same account.
    let mut storno = kb_transaction(
        "storno",
        "DEBIT",
        500,
        &today,
        Some("2026001"),
        "0000001234567821",
    );
    storno["reversalIndicator"] = json!(true);
    club.book(storno).await;
    club.sync().await;

    assert_eq!(
        club.paid(jana, &this_month).await,
        0,
        "the charge is open again"
    );
    assert_eq!(
        club.decision("paid").await.map(|d| d.0),
        Some("reversed".to_owned())
    );
    assert_eq!(
        club.decision("storno").await.map(|d| d.0),
        Some("reversal".to_owned())
    );
    let (_, page) = club
        .client
        .get_text(&format!("{}/fees?status=paid", club.dashboard))
        .await;
    assert!(!page.contains("Jana Nová"), "{page}");
    club.assert_bookkeeping().await;
}

#[tokio::test]
async fn a_payment_booked_before_payments_count_from_is_not_used_for_fees() {
    let club = Club::new().await;
    let jana = club.member("Jana Nová", "2026001").await;
    let this_month = month_start(&club.app, 0);
    let two_months_ago = month_start(&club.app, 2);
    club.book(incoming(
        "old",
        500,
        &day_of(&two_months_ago, 10),
        Some("2026001"),
    ))
    .await;
    club.book(incoming(
        "new",
        500,
        &club.today().to_string(),
        Some("2026001"),
    ))
    .await;
    club.sync().await;

    // No schedule yet: fees are not tracked, nothing is matched, nothing waits in the queue.
    assert_eq!(
        club.count("SELECT count(*) FROM payment_decisions").await,
        0
    );
    let (_, page) = club
        .client
        .get_text(&format!("{}/payments", club.dashboard))
        .await;
    assert!(page.contains("nejdřív založte předpis"), "{page}");

    // The first schedule (from this month) starts tracking: only this month's payment counts.
    monthly_schedule(&club.client, &club.dashboard, &this_month).await;
    assert_eq!(
        club.decision("new").await,
        Some(("matched".to_owned(), "vs".to_owned()))
    );
    assert_eq!(
        club.decision("old").await,
        None,
        "neither allocated nor queued"
    );
    assert_eq!(club.paid(jana, &this_month).await, 50_000);
    let (_, page) = club
        .client
        .get_text(&format!("{}/payments", club.dashboard))
        .await;
    assert!(
        page.contains("1 starší příchozí platba se k příspěvkům nepočítá"),
        "{page}"
    );
    let (_, page) = club
        .client
        .get_text(&format!("{}/fees?status=paid", club.dashboard))
        .await;
    assert!(page.contains("Jana Nová"), "paid, not overpaid: {page}");

    // Counting from two months back takes the old payment in, as credit.
    club.count_payments_from(&two_months_ago).await;
    // Every automatic decision is made again in date order: the old payment pays this
    // month's charge, the new one is the credit.
    assert_eq!(
        club.decision("old").await.map(|d| d.0),
        Some("matched".to_owned())
    );
    assert_eq!(
        club.decision("new").await.map(|d| d.0),
        Some("overpaid".to_owned())
    );
    assert_eq!(
        club.count("SELECT count(*) FROM audit_log WHERE action = 'fee.payments_from_changed'")
            .await,
        1
    );
    // Back to the default (the schedule's first period): the old payment is out again.
    club.count_payments_from("").await;
    assert_eq!(club.decision("old").await, None);
    assert_eq!(club.paid(jana, &this_month).await, 50_000);
    club.assert_bookkeeping().await;
}

#[tokio::test]
async fn moving_payments_count_from_later_drops_automatic_matches_before_it_and_keeps_a_persons() {
    let club = Club::new().await;
    let jana = club.member("Jana Nová", "2026001").await;
    let petr = club.member("Petr Svoboda", "2026002").await;
    let two_months_ago = month_start(&club.app, 2);
    let this_month = month_start(&club.app, 0);
    monthly_schedule(&club.client, &club.dashboard, &two_months_ago).await;
    let day = day_of(&two_months_ago, 12);
    club.book(incoming("by-vs", 500, &day, Some("2026001")))
        .await;
    club.book(kb_transaction(
        "by-hand",
        "CREDIT",
        500,
        &day,
        None,
        "0000009876543210",
    ))
    .await;
    club.sync().await;
    assert_eq!(club.paid(jana, &two_months_ago).await, 50_000);
    assert_eq!(
        club.decision("by-hand").await.map(|d| d.0),
        Some("unidentified".to_owned())
    );
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    let (by_hand,): (i64,) =
        sqlx::query_as("SELECT id FROM transactions WHERE bank_key = 'as:by-hand'")
            .fetch_one(&mut *tx)
            .await
            .expect("id");
    tx.commit().await.expect("commit");
    let response = club
        .client
        .post_form(
            &format!("{}/payments/{by_hand}/assign", club.dashboard),
            &[("who", "Petr Svoboda (2026002)")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(club.paid(petr, &two_months_ago).await, 50_000);

    club.count_payments_from(&this_month).await;
    assert_eq!(
        club.decision("by-vs").await,
        None,
        "the engine's match is gone"
    );
    assert_eq!(club.paid(jana, &two_months_ago).await, 0);
    assert_eq!(
        club.decision("by-hand").await,
        Some(("matched".to_owned(), "person".to_owned())),
        "a person's decision stays"
    );
    assert_eq!(club.paid(petr, &two_months_ago).await, 50_000);
    club.assert_bookkeeping().await;
}

/// The demo as a newcomer runs it: the demo member list, the sandbox's two years of generated
/// history, a monthly schedule from this month.
async fn demo_club() -> Club {
    let club = Club::with_history(2_400).await;
    let response = club
        .client
        .post_form(&format!("{}/members/demo", club.dashboard), &[])
        .await;
    let preview = location(&response);
    let response = club
        .client
        .post_form(&format!("{preview}/confirm"), &[])
        .await;
    assert_eq!(response.status(), 303);
    club.sync().await;
    let first = month_start(&club.app, 0);
    let response = club
        .client
        .post_form(
            &format!("{}/fees/schedules/new", club.dashboard),
            &[
                ("name", "Oddílový příspěvek"),
                ("amount", "1500"),
                ("period", "month"),
                ("due_day", "15"),
                ("grace_days", "14"),
                ("applies_to", "everyone"),
                ("starts_on", &first),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    club
}

/// The number in `<li class="status-…">…</span> N ·` of the overview's sums.
fn status_count(page: &str, status: &str) -> i64 {
    let marker = format!("<li class=\"status-{status}\">");
    page.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split("</span>").nth(1))
        .and_then(|rest| rest.split('·').next())
        .and_then(|n| n.trim().replace('\u{a0}', "").parse().ok())
        .unwrap_or(-1)
}

#[tokio::test]
async fn the_demo_shows_this_months_fees_not_two_years_of_history_as_credit() {
    let club = demo_club().await;
    let (_, page) = club
        .client
        .get_text(&format!("{}/fees", club.dashboard))
        .await;
    let counts: Vec<(&str, i64)> = ["paid", "partly", "overpaid", "owes", "not_yet_due"]
        .into_iter()
        .map(|s| (s, status_count(&page, s)))
        .collect();
    let total: i64 = counts.iter().map(|c| c.1).sum();
    assert_eq!(total, 200, "{counts:?}");
    let overpaid = counts[2].1;
    assert!(overpaid * 4 < total, "not everyone overpaid: {counts:?}");
    // Nothing before the tracking start (the 1st of this month) has a decision.
    let first = month_start(&club.app, 0);
    assert_eq!(
        club.count(&format!(
            "SELECT count(*) FROM payment_decisions d JOIN transactions t \
               ON t.id = d.transaction_id \
              WHERE COALESCE(t.booking_date, t.value_date) < '{first}'"
        ))
        .await,
        0
    );
    // The payments page: small, one shared list, the same queue count as the dashboard.
    let (_, payments) = club
        .client
        .get_text(&format!("{}/payments", club.dashboard))
        .await;
    assert!(payments.len() < 400_000, "{} bytes", payments.len());
    assert_eq!(payments.matches("<datalist").count(), 1);
    assert!(!payments.contains("<select name=\"target\""));
    let queued = club
        .count(
            "SELECT count(*) FROM payment_decisions WHERE outcome IN ('ambiguous', 'unidentified')",
        )
        .await;
    let (_, dashboard) = club.client.get_text(&club.dashboard).await;
    if queued > 0 {
        assert!(
            dashboard.contains(&format!("Nepřiřazené platby ({queued})")),
            "{dashboard}"
        );
    }
    let before = club
        .count(&format!(
            "SELECT count(*) FROM transactions WHERE status = 'booked' AND amount_minor > 0 \
               AND NOT reversal AND COALESCE(booking_date, value_date) < '{first}'"
        ))
        .await;
    assert!(
        before > 100,
        "two years of history before the start: {before}"
    );
    club.assert_bookkeeping().await;
}

#[tokio::test]
async fn a_second_run_after_a_sync_that_changed_nothing_writes_nothing() {
    let club = demo_club().await;
    let stamp = club.count("SELECT version FROM payment_stamp").await;
    // A sync that brings nothing new.
    club.sync().await;
    assert_eq!(
        club.count("SELECT version FROM payment_stamp").await,
        stamp,
        "open pages see no change"
    );
    // The sync hook once more, alone in its transaction: not a single row written (the
    // transaction never even got a transaction id).
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    kasa::payment::AfterSync
        .after_apply(&mut tx, club.account, club.app.now())
        .await
        .expect("hook");
    let (xid,): (Option<String>,) = sqlx::query_as("SELECT pg_current_xact_id_if_assigned()::text")
        .fetch_one(&mut *tx)
        .await
        .expect("xid");
    tx.commit().await.expect("commit");
    assert_eq!(xid, None, "the run wrote something");
    // The measure itself: any write does get an id.
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    sqlx::query("UPDATE payment_stamp SET version = version")
        .execute(&mut *tx)
        .await
        .expect("write");
    let (xid,): (Option<String>,) = sqlx::query_as("SELECT pg_current_xact_id_if_assigned()::text")
        .fetch_one(&mut *tx)
        .await
        .expect("xid");
    tx.rollback().await.expect("rollback");
    assert!(xid.is_some());
}

#[tokio::test]
async fn the_queue_shows_its_true_total_in_pages_with_one_shared_member_list() {
    let club = Club::new().await;
    club.member("Jana Nová", "2026001").await;
    club.member("Petr Svoboda", "2026002").await;
    monthly_schedule(&club.client, &club.dashboard, &month_start(&club.app, 0)).await;
    let today = club.today().to_string();
    for n in 0..60 {
        club.book(kb_transaction(
            &format!("unknown-{n}"),
            "CREDIT",
            100 + n,
            &today,
            None,
            &format!("{:016}", 1_000_000 + n),
        ))
        .await;
    }
    club.sync().await;
    assert_eq!(
        club.count("SELECT count(*) FROM payment_decisions WHERE outcome = 'unidentified'")
            .await,
        60
    );

    let (_, page) = club
        .client
        .get_text(&format!("{}/payments", club.dashboard))
        .await;
    assert!(
        page.contains("(60\u{a0}čeká)") || page.contains("(60 čeká)"),
        "{page}"
    );
    assert_eq!(page.matches("class=\"queue-item\"").count(), 50);
    assert_eq!(
        page.matches("<datalist").count(),
        1,
        "one list for the page"
    );
    assert_eq!(
        page.matches("<option value=\"Jana Nová (2026001)\">")
            .count(),
        1
    );
    assert!(
        !page.contains("<select name=\"target\""),
        "no list per payment"
    );
    assert!(page.contains("Strana 1 z 2"), "{page}");
    let (_, second) = club
        .client
        .get_text(&format!("{}/payments?page=2", club.dashboard))
        .await;
    assert_eq!(second.matches("class=\"queue-item\"").count(), 10);
    // The same count on the overview and the dashboard.
    let (_, overview) = club
        .client
        .get_text(&format!("{}/fees", club.dashboard))
        .await;
    assert!(overview.contains("Nepřiřazené platby (60)"), "{overview}");
    let (_, dashboard) = club.client.get_text(&club.dashboard).await;
    assert!(dashboard.contains("Nepřiřazené platby (60)"), "{dashboard}");
}

#[tokio::test]
async fn assigning_from_the_shared_list_needs_a_choice_and_refuses_an_archived_member() {
    let club = Club::new().await;
    let jana = club.member("Jana Nová", "2026001").await;
    let petr = club.member("Petr Svoboda", "2026002").await;
    monthly_schedule(&club.client, &club.dashboard, &month_start(&club.app, 0)).await;
    club.book(kb_transaction(
        "nameless",
        "CREDIT",
        500,
        &club.today().to_string(),
        None,
        "0000009876543210",
    ))
    .await;
    club.sync().await;
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    let (payment,): (i64,) =
        sqlx::query_as("SELECT id FROM transactions WHERE bank_key = 'as:nameless'")
            .fetch_one(&mut *tx)
            .await
            .expect("id");
    tx.commit().await.expect("commit");
    let assign = format!("{}/payments/{payment}/assign", club.dashboard);

    // Nothing chosen: the page again, the message at the payment, nothing assigned.
    let (status, page) = club.client.post_text(&assign, &[("who", "")]).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Vyberte člena nebo domácnost ze seznamu."),
        "{page}"
    );
    let (status, page) = club
        .client
        .post_text(&assign, &[("who", "Nikdo Neznámý")])
        .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("value=\"Nikdo Neznámý\""),
        "what was typed stays"
    );
    // An archived member, typed or by a forged suggestion: refused with the reason.
    let response = club
        .client
        .post_form(&format!("{}/members/{petr}/archive", club.dashboard), &[])
        .await;
    assert_eq!(response.status(), 303);
    let (status, page) = club
        .client
        .post_text(&assign, &[("who", "Petr Svoboda (2026002)")])
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("Člen je archivovaný"), "{page}");
    let (status, _) = club
        .client
        .post_text(&assign, &[("target", &format!("member:{petr}"))])
        .await;
    assert_eq!(status, 422);
    assert!(
        !page.contains("<option value=\"Petr Svoboda (2026002)\">"),
        "archived members are not offered"
    );
    assert_eq!(
        club.count("SELECT count(*) FROM allocations").await,
        0,
        "nothing assigned"
    );

    // Chosen from the list: assigned.
    let response = club
        .client
        .post_form(&assign, &[("who", "Jana Nová (2026001)")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(club.paid(jana, &month_start(&club.app, 0)).await, 50_000);
    club.assert_bookkeeping().await;
}

/// The SQLSTATE of `sql` (one or more statements) run in the club's schema and rolled back,
/// `None` when it succeeds.
async fn sqlstate(club: &Club, sql: &str) -> Option<String> {
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    let result = sqlx::raw_sql(sql).execute(&mut *tx).await;
    tx.rollback().await.expect("rollback");
    result.err().and_then(|e| {
        e.as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned())
    })
}

#[tokio::test]
async fn decisions_and_allocations_refer_only_to_rows_that_exist_and_deleting_a_payment_takes_them_along()
 {
    let club = Club::new().await;
    club.member("Jana Nová", "2026001").await;
    monthly_schedule(&club.client, &club.dashboard, &month_start(&club.app, 0)).await;
    club.book(incoming(
        "paid",
        500,
        &club.today().to_string(),
        Some("2026001"),
    ))
    .await;
    club.sync().await;
    assert_eq!(club.count("SELECT count(*) FROM allocations").await, 1);
    let missing = "23503";

    // Inserts and changes that point nowhere are refused, one statement or one row at a time.
    let refused = [
        "INSERT INTO payment_decisions (transaction_id, outcome, rule, decided_at) \
         VALUES (-1, 'unidentified', 'none', now())",
        // The upsert matching writes with, decided again for no one's member.
        "INSERT INTO payment_decisions (transaction_id, outcome, rule, decided_at) \
         SELECT id, 'matched', 'vs', now() FROM transactions WHERE bank_key = 'as:paid' \
         ON CONFLICT (transaction_id) DO UPDATE SET target_member = gen_random_uuid()",
        "UPDATE payment_decisions SET target_member = gen_random_uuid()",
        "UPDATE payment_decisions SET target_household = gen_random_uuid(), target_member = NULL",
        "INSERT INTO allocations (transaction_id, charge_id, member_id, amount_minor, rule, created_at) \
         SELECT transaction_id, gen_random_uuid(), member_id, 1, 'vs', now() FROM allocations",
        "INSERT INTO allocations (transaction_id, charge_id, member_id, amount_minor, rule, created_at) \
         SELECT -1, charge_id, member_id, 1, 'vs', now() FROM allocations",
        "UPDATE allocations SET member_id = gen_random_uuid()",
        "DELETE FROM charges",
        // Without its charges and allocations, a member is still the decision's target.
        "DELETE FROM allocations; DELETE FROM charges; DELETE FROM members",
        "UPDATE members SET id = gen_random_uuid()",
        "UPDATE charges SET id = gen_random_uuid()",
    ];
    for sql in refused {
        assert_eq!(
            sqlstate(&club, sql).await.as_deref(),
            Some(missing),
            "refused: {sql}"
        );
    }
    // The decision with a conflict makes no change: a statement that inserts nothing passes.
    assert_eq!(
        sqlstate(
            &club,
            "INSERT INTO payment_decisions (transaction_id, outcome, rule, decided_at) \
             SELECT id, 'unidentified', 'none', now() FROM transactions \
              WHERE bank_key = 'as:paid' ON CONFLICT (transaction_id) DO NOTHING"
        )
        .await,
        None
    );

    // Deleting the payment deletes its decision and allocation with it.
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("begin");
    sqlx::query("DELETE FROM transactions WHERE bank_key = 'as:paid'")
        .execute(&mut *tx)
        .await
        .expect("delete the payment");
    let left: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM payment_decisions), (SELECT count(*) FROM allocations)",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("count");
    tx.rollback().await.expect("rollback");
    assert_eq!(left, (0, 0));
}

#[tokio::test]
async fn a_first_sync_of_a_long_history_refreshes_the_planners_statistics_of_its_table() {
    let club = Club::with_history(3_000).await;
    club.sync().await;
    assert!(
        club.count("SELECT count(*) FROM transactions").await > 1_000,
        "a bulk write"
    );
    // `ANALYZE` runs beside the next runs, not in the sync: it is recorded within moments.
    assert!(
        recorded_soon(&club, "transactions", "last_analyze").await,
        "no ANALYZE of the club's transactions"
    );
}

#[tokio::test]
async fn a_first_sync_that_staged_many_rows_reclaims_them_at_once() {
    let club = Club::with_history(13_000).await;
    club.sync().await;
    assert!(
        club.count("SELECT count(*) FROM transactions").await
            >= kasa::sync::stage::RECLAIM_ROWS as i64,
        "a download of more rows than autovacuum waits for"
    );
    assert_eq!(
        club.count("SELECT count(*) FROM staged_transactions").await,
        0
    );
    // The `VACUUM` runs beside the next runs, like the `ANALYZE`.
    assert!(
        recorded_soon(&club, "staged_transactions", "last_vacuum").await,
        "the staging table's deleted rows wait for autovacuum"
    );
}

/// Whether `column` (`last_analyze`, `last_vacuum`) of the club's `table` in
/// `pg_stat_user_tables` is set within 5 s.
async fn recorded_soon(club: &Club, table: &str, column: &str) -> bool {
    let schema = club.tenant.schema().as_str().to_owned();
    for _ in 0..100 {
        let (at,): (Option<time::OffsetDateTime>,) = sqlx::query_as(&format!(
            "SELECT {column} FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2"
        ))
        .bind(&schema)
        .bind(table)
        .fetch_one(&club.app.pool)
        .await
        .expect("stats");
        if at.is_some() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}
