//! Reminders to members and "payment received" e-mails (issue 9, items 3 and 4), through the
//! pages, the real sync against the sandbox, and the outbox.

use crate::fees::{add_member, month_start, monthly_schedule, pay, tenant_count, tenant_of};
use crate::helpers::*;
use crate::members::form_token;
use crate::pay_page::connected;
use kasa::db::tenant::{Tenant, TenantTx};
use kasa::mail::outbox::Attachment;
use sqlx::types::Json;
use std::sync::Arc;
use uuid::Uuid;

/// A sandbox without history where every sync downloads and applies (freshness moves), with
/// the bank's clock (advance it with Kasa's, [`later`]).
async fn app() -> (TestApp, Arc<kb_sandbox::ManualClock>) {
    let bank_clock = Arc::new(kb_sandbox::ManualClock::new(real_now()));
    let clock = bank_clock.clone();
    let app = TestApp::spawn_with_sandbox(move |c| {
        c.seed.transactions_per_account = 0;
        c.behaviour.unchanged_data_limit = None;
        c.clock = clock;
    })
    .await;
    (app, bank_clock)
}

/// Moves Kasa's and the bank's clocks `days` ahead.
fn later(app: &TestApp, bank: &kb_sandbox::ManualClock, days: i64) {
    app.clock.advance(time::Duration::days(days));
    bank.advance(std::time::Duration::from_secs(days.unsigned_abs() * 86_400));
}

/// Adds a member with an e-mail address (or none).
async fn member(app: &TestApp, tenant: &Tenant, name: &str, vs: &str, email: Option<&str>) -> Uuid {
    let emails: Vec<&str> = email.into_iter().collect();
    member_since(app, tenant, name, vs, &emails, "2010-01-01").await
}

/// Adds a member who joined on `joined` (`YYYY-MM-DD`) with these e-mail addresses.
async fn member_since(
    app: &TestApp,
    tenant: &Tenant,
    name: &str,
    vs: &str,
    emails: &[&str],
    joined: &str,
) -> Uuid {
    let id = add_member(app, tenant, name, vs, joined).await;
    let mut tx = TenantTx::begin(&app.pool, tenant).await.expect("begin");
    sqlx::query("UPDATE members SET emails = $2 WHERE id = $1")
        .bind(id)
        .bind(emails.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .expect("e-mail");
    tx.commit().await.expect("commit");
    id
}

/// Jana Nováková (VS 2026001, jana@example.cz) and Petr Svoboda (2026002, petr@example.cz).
async fn jana_and_petr(app: &TestApp, tenant: &Tenant) -> (Uuid, Uuid) {
    let jana = member(
        app,
        tenant,
        "Jana Nováková",
        "2026001",
        Some("jana@example.cz"),
    )
    .await;
    let petr = member(
        app,
        tenant,
        "Petr Svoboda",
        "2026002",
        Some("petr@example.cz"),
    )
    .await;
    (jana, petr)
}

/// A one-off fee of `amount` Kč due on `due_day` of the month starting `starts_on`, with the
/// default reminder steps (-7, 0, 14).
async fn one_off_fee(client: &Client, dashboard: &str, amount: &str, due_day: u8, starts_on: &str) {
    let response = client
        .post_form(
            &format!("{dashboard}/fees/schedules/new"),
            &[
                ("name", "Příspěvek"),
                ("amount", amount),
                ("period", "one_off"),
                ("due_day", &due_day.to_string()),
                ("grace_days", "0"),
                ("applies_to", "everyone"),
                ("starts_on", starts_on),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "schedule saved");
}

/// A one-off fee of 1 500 Kč due today.
async fn fee_due_today(app: &TestApp, client: &Client, dashboard: &str) {
    let today = kasa::i18n::prague_date(app.now());
    one_off_fee(client, dashboard, "1500", today.day(), &month_start(app, 0)).await;
}

/// Every `name="…" value="…"` of the page.
fn values(page: &str, name: &str) -> Vec<String> {
    page.split(&format!("name=\"{name}\" value=\""))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

async fn sync(app: &TestApp, worker: &kasa::sync::Worker<kasa::consent::Consent>) {
    let (account,): (Uuid,) = sqlx::query_as("SELECT id FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("account");
    kasa::sync::jobs::make_due(&app.pool, account, app.now())
        .await
        .expect("due");
    worker.run_until_idle(20).await.expect("sync");
}

fn subjects(mails: &[(String, String)]) -> Vec<&str> {
    mails.iter().map(|(s, _)| s.as_str()).collect()
}

/// The payment string in the PNG attached inline to the newest mail to `to`.
async fn qr_in_mail(app: &TestApp, to: &str) -> String {
    let (Json(files),): (Json<Vec<Attachment>>,) = sqlx::query_as(
        "SELECT attachments FROM app.outbox WHERE recipient = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(to)
    .fetch_one(&app.pool)
    .await
    .expect("mail");
    assert_eq!(files.len(), 1, "one QR image");
    let file = &files[0];
    assert_eq!(file.content_type, "image/png");
    assert!(file.content_id.is_some(), "shown inline");
    let bytes = file.content().expect("base64");
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("png");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut pixels).expect("frame");
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().expect("decodes").1
}

#[tokio::test]
async fn a_reminder_batch_waits_for_a_fresh_sync_and_reminds_each_payer_once() {
    let (app, bank) = app().await;
    let (treasurer, dashboard) = crate::consent::confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    let jana = member(
        &app,
        &tenant,
        "Jana Nováková",
        "2026001",
        Some("jana@example.cz"),
    )
    .await;
    member(
        &app,
        &tenant,
        "Petr Svoboda",
        "2026002",
        Some("petr@example.cz"),
    )
    .await;
    member(&app, &tenant, "Eva Bez Adresy", "2026003", None).await;
    let karel = member(
        &app,
        &tenant,
        "Karel Vynechaný",
        "2026004",
        Some("karel@example.cz"),
    )
    .await;
    let olga = member(
        &app,
        &tenant,
        "Olga Nechce",
        "2026005",
        Some("olga@example.cz"),
    )
    .await;
    member(
        &app,
        &tenant,
        "Pavel Včas",
        "2026006",
        Some("pavel@example.cz"),
    )
    .await;
    fee_due_today(&app, &treasurer, &dashboard).await;
    // Olga wants no reminders.
    let response = treasurer
        .post_form(
            &format!("{dashboard}/members/{olga}/reminders"),
            &[("reminders", "off")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let worker = connected(&app, &treasurer, &dashboard).await;
    // Pavel pays on the due date.
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 150_000, "vs": "2026006", "payer_name": "Pavel Včas"}),
    )
    .await;

    // Synced on the due date only: payments sent today may not be booked yet, nobody is
    // reminded and the page says why.
    let reminders = format!("{dashboard}/reminders");
    let (status, page) = treasurer.get_text(&reminders).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"reminders-blocked\""), "{page}");
    assert!(page.contains("id=\"reminders-none\""), "{page}");
    assert!(page.contains("Jana Nováková"), "listed as waiting: {page}");
    let state = app.state.clone().expect("state");
    let everyone: Vec<kasa::reminder::Payer> = {
        let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
        let preview = kasa::reminder::preview(&mut tx, app.now())
            .await
            .expect("preview");
        tx.commit().await.expect("commit");
        preview.waiting.iter().map(|i| i.payer).collect()
    };
    assert_eq!(
        everyone.len(),
        4,
        "Jana, Petr, Eva, Karel (not Olga, not Pavel)"
    );
    let actor = kasa::audit::Actor::SYSTEM;
    let forced = kasa::reminder::Choice {
        seen: everyone.clone(),
        ..Default::default()
    };
    let sent = kasa::reminder::send(&state.mailer, &tenant, &actor, &forced, app.now())
        .await
        .expect("send");
    assert_eq!(
        sent,
        kasa::reminder::Sent::Batch {
            mails: 0,
            excluded: 0
        }
    );
    // A week later, still without a sync: still nobody.
    later(&app, &bank, 8);
    let sent = kasa::reminder::send(&state.mailer, &tenant, &actor, &forced, app.now())
        .await
        .expect("send");
    assert_eq!(
        sent,
        kasa::reminder::Sent::Batch {
            mails: 0,
            excluded: 0
        }
    );
    assert!(app.mails_to("jana@example.cz").await.is_empty());

    // After a successful sync past the due date and the booking lag: the batch is ready.
    sync(&app, &worker).await;
    treasurer.log_in("t@sokol.cz", PASSWORD).await;
    let (status, page) = treasurer.get_text(&reminders).await;
    assert_eq!(status, 200);
    assert!(!page.contains("id=\"reminders-blocked\""), "{page}");
    let seen = values(&page, "seen");
    assert_eq!(seen.len(), 3, "Jana, Petr and Karel: {page}");
    assert!(page.contains("id=\"reminders-unreachable\""), "{page}");
    assert!(page.contains("Eva Bez Adresy"), "{page}");
    assert!(
        !page.contains("Olga Nechce") && !page.contains("Pavel Včas"),
        "{page}"
    );
    assert!(page.contains("3 připomínky jsou připravené"), "{page}");
    // Jana already has a link from the treasurer; the reminders must not end it.
    let handed_out = crate::pay_page::issue_link(&app, &treasurer, &dashboard, jana).await;
    // The treasurer unticks Karel and sends; a second tab sends at the same moment.
    let karel_key = format!("m:{karel}");
    let mut form: Vec<(&str, String)> = vec![("form_token", form_token(&page))];
    for key in &seen {
        form.push(("seen", key.clone()));
        if key != &karel_key {
            form.push(("send", key.clone()));
        }
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, other_tab) = treasurer.get_text(&reminders).await;
    let mut second: Vec<(&str, &str)> = form.clone();
    let other_token = form_token(&other_tab);
    second[0] = ("form_token", &other_token);
    let send = format!("{dashboard}/reminders/send");
    let (first, again) = tokio::join!(
        treasurer.post_form(&send, &form),
        treasurer.post_form(&send, &second)
    );
    assert_eq!(
        (first.status().as_u16(), again.status().as_u16()),
        (303, 303)
    );
    let answers = [location(&first), location(&again)];
    assert!(
        answers.iter().any(|l| l.ends_with("sent=2&excluded=1"))
            && answers.iter().any(|l| l.ends_with("sent=0&excluded=0")),
        "{answers:?}"
    );
    // The same form once more: nothing more.
    let response = treasurer.post_form(&send, &form).await;
    assert!(location(&response).ends_with("earlier=1"));

    for (to, expected) in [
        ("jana@example.cz", 1),
        ("petr@example.cz", 1),
        ("karel@example.cz", 0),
        ("olga@example.cz", 0),
        ("pavel@example.cz", 0),
    ] {
        assert_eq!(app.mails_to(to).await.len(), expected, "{to}");
    }
    let mails = app.mails_to("jana@example.cz").await;
    let (subject, body) = &mails[0];
    assert!(subject.contains("připomínka platby"), "{subject}");
    assert!(
        body.contains("Celkem k úhradě: 1\u{a0}500,00\u{a0}Kč"),
        "{body}"
    );
    assert!(body.contains("Variabilní symbol: 2026001"), "{body}");
    assert!(body.contains("Platby přijaté do"), "{body}");
    let (iban,): (String,) = sqlx::query_as("SELECT iban FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("iban");
    assert_eq!(
        qr_in_mail(&app, "jana@example.cz").await,
        format!("SPD*1.0*ACC:{iban}*AM:1500.00*CC:CZK*X-VS:2026001*MSG:JANA NOVAKOVA")
    );
    // The link in the mail opens Jana's own page.
    let link = app.last_link_to("jana@example.cz").await;
    assert!(link.starts_with("/pay/"), "{link}");
    let (status, own) = app.client().get_text(&link).await;
    assert_eq!(status, 200);
    assert!(own.contains("Jana Nováková"));
    assert_ne!(link, handed_out, "each reminder has a link of its own");
    let (status, _) = app.client().get_text(&handed_out).await;
    assert_eq!(status, 200, "the link the treasurer handed out still works");
    // Karel's step is recorded as excluded: he is not offered again for it.
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let outcomes: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT member_id, outcome FROM reminders_sent WHERE step = 0 ORDER BY 2")
            .fetch_all(&mut *tx)
            .await
            .expect("steps");
    let issued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'member.pay_link_issued'",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("audit");
    assert_eq!(
        issued, 1,
        "the treasurer's link only: a batch is one entry, not one a member"
    );
    let batches: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'reminder.batch_sent'")
            .fetch_one(&mut *tx)
            .await
            .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.contains(&(karel, "excluded".to_owned())));
    assert!(outcomes.contains(&(jana, "sent".to_owned())));
    assert!(batches >= 2, "every send is audited");
    let (_, page) = treasurer.get_text(&reminders).await;
    assert!(page.contains("id=\"reminders-none\""), "{page}");

    // Jana pays after the reminder: no thank-you unless the club wants one.
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 150_000, "vs": "2026001", "payer_name": "Jana Nováková"}),
    )
    .await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let paid: i64 = sqlx::query_scalar("SELECT paid_minor FROM charges WHERE member_id = $1")
        .bind(jana)
        .fetch_one(&mut *tx)
        .await
        .expect("paid");
    tx.commit().await.expect("commit");
    assert_eq!(paid, 150_000, "Jana's payment was matched");
    assert_eq!(app.mails_to("jana@example.cz").await.len(), 1);
    thank_you_on(&treasurer, &dashboard).await;
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 150_000, "vs": "2026002", "payer_name": "Petr Svoboda"}),
    )
    .await;
    let petr = app.mails_to("petr@example.cz").await;
    assert_eq!(subjects(&petr).len(), 2, "{petr:?}");
    assert!(petr[1].0.contains("děkujeme za platbu"), "{petr:?}");
    assert!(petr[1].1.contains("1\u{a0}500,00\u{a0}Kč"), "{petr:?}");
    sync(&app, &worker).await;
    assert_eq!(
        app.mails_to("petr@example.cz").await.len(),
        2,
        "thanked once"
    );
    // A bad lag is a field error.
    let (status, page) = treasurer
        .post_text(
            &format!("{dashboard}/reminders/settings"),
            &[("booking_lag_days", "dva")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"lag-error\""), "{page}");
}

#[tokio::test]
async fn payment_received_mails_go_once_per_payment_or_as_one_digest_a_day() {
    let (app, bank) = app().await;
    let (treasurer, dashboard) = crate::consent::confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    member(&app, &tenant, "Jana Nováková", "2026001", None).await;
    member(&app, &tenant, "Petr Svoboda", "2026002", None).await;
    monthly_schedule(&treasurer, &dashboard, &month_start(&app, 0)).await;
    let viewer = app
        .teammate(&treasurer, &dashboard, "divak@sokol.cz", "viewer")
        .await;
    let notices = format!("{dashboard}/reminders/notices");
    for (client, mode) in [(&treasurer, "each"), (&viewer, "daily")] {
        let response = client.post_form(&notices, &[("mode", mode)]).await;
        assert_eq!(response.status(), 303, "{mode}");
    }
    let (status, _) = viewer.post_text(&notices, &[("mode", "weekly")]).await;
    assert_eq!(status, 422);
    let worker = connected(&app, &treasurer, &dashboard).await;
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 50_000, "vs": "2026001", "payer_name": "Jana Nováková"}),
    )
    .await;
    let mails = app.mails_to("t@sokol.cz").await;
    let received: Vec<&(String, String)> = mails
        .iter()
        .filter(|(s, _)| s.contains("přijatá platba"))
        .collect();
    assert_eq!(received.len(), 1, "{mails:?}");
    assert!(
        received[0]
            .1
            .contains("Jana Nováková zaplatil(a) 500,00\u{a0}Kč za Členský příspěvek"),
        "{}",
        received[0].1
    );
    // A sync with nothing new sends nothing new.
    sync(&app, &worker).await;
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 50_000, "vs": "2026002", "payer_name": "Petr Svoboda"}),
    )
    .await;
    let count = |mails: Vec<(String, String)>, what: &str| {
        mails.iter().filter(|(s, _)| s.contains(what)).count()
    };
    assert_eq!(count(app.mails_to("t@sokol.cz").await, "přijatá platba"), 2);
    assert_eq!(
        count(app.mails_to("divak@sokol.cz").await, "přijaté platby"),
        0
    );

    // The next day the digest lists both, once, however many instances assemble it.
    let links = app.state.clone().expect("state").mailer.links().clone();
    later(&app, &bank, 1);
    let (a, b) = tokio::join!(
        kasa::payment_notice::queue_digests(&app.pool, &links, app.now()),
        kasa::payment_notice::queue_digests(&app.pool, &links, app.now())
    );
    assert_eq!(a.expect("digest") + b.expect("digest"), 1);
    let digests: Vec<(String, String)> = app
        .mails_to("divak@sokol.cz")
        .await
        .into_iter()
        .filter(|(s, _)| s.contains("přijaté platby"))
        .collect();
    assert_eq!(digests.len(), 1);
    let (subject, body) = &digests[0];
    assert!(subject.contains("(2 platby)"), "{subject}");
    assert!(
        body.contains("Jana Nováková") && body.contains("Petr Svoboda"),
        "{body}"
    );
    assert!(body.contains("celkem 1\u{a0}000,00\u{a0}Kč"), "{body}");
    kasa::payment_notice::queue_digests(&app.pool, &links, app.now())
        .await
        .expect("again");
    assert_eq!(
        count(app.mails_to("divak@sokol.cz").await, "přijaté platby"),
        1
    );
    // The treasurer wanted each payment, not the digest.
    assert_eq!(count(app.mails_to("t@sokol.cz").await, "přijaté platby"), 0);
}

#[tokio::test]
async fn reminder_routes_are_closed_to_other_clubs_and_changes_to_viewers() {
    let app = TestApp::spawn().await;
    let owner = app.client();
    let club = app.sign_up(&owner, "Klub A", ICO_A, "owner@a.cz").await;
    let tenant = tenant_of(&app, &club).await;
    let jana = member(&app, &tenant, "Jana Nová", "2026001", Some("jana@a.cz")).await;
    let stranger = app.client();
    let club_b = app.sign_up(&stranger, "Klub B", ICO_B, "bob@b.cz").await;
    let viewer = app.teammate(&owner, &club, "viewer@a.cz", "viewer").await;

    let page = format!("{club}/reminders");
    assert_eq!(stranger.get(&page).await.status(), 404);
    let (status, body) = viewer.get_text(&page).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("id=\"reminders-send\""),
        "no Send for viewers"
    );
    let changes = [
        format!("{club}/reminders/send"),
        format!("{club}/reminders/settings"),
        format!("{club}/members/{jana}/reminders"),
    ];
    let form = [
        ("seen", format!("m:{jana}")),
        ("send", format!("m:{jana}")),
        ("booking_lag_days", "1".to_owned()),
        ("reminders", "off".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for path in &changes {
        assert_eq!(
            stranger.post_form(path, &form).await.status(),
            404,
            "{path}"
        );
        assert_eq!(viewer.post_form(path, &form).await.status(), 403, "{path}");
    }
    // A teammate's own notices are theirs to choose, in their own club only.
    let notices = format!("{club}/reminders/notices");
    assert_eq!(
        stranger
            .post_form(&notices, &[("mode", "each")])
            .await
            .status(),
        404
    );
    assert_eq!(
        viewer
            .post_form(&notices, &[("mode", "each")])
            .await
            .status(),
        303
    );
    // Club A's member through the stranger's own club: not found.
    let path = format!("{club_b}/members/{jana}/reminders");
    assert_eq!(
        stranger
            .post_form(&path, &[("reminders", "off")])
            .await
            .status(),
        404
    );
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let off: i64 = sqlx::query_scalar("SELECT count(*) FROM reminder_opt_outs")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    assert_eq!(off, 0, "nothing changed");
}

#[tokio::test]
async fn a_treasurer_previews_unticks_a_member_and_sends_the_batch_in_the_browser() {
    use crate::browser::{browser, click, expect_text, fill, journey};
    let (app, _bank) = app().await;
    let (client, dashboard) = crate::consent::confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    let (_, petr) = jana_and_petr(&app, &tenant).await;
    // A one-off fee due on the 1st of last month: its last step (14 days after) is due.
    one_off_fee(&client, &dashboard, "1500", 1, &month_start(&app, 1)).await;
    connected(&app, &client, &dashboard).await;

    let treasurer = browser().await;
    let c = &treasurer.client;
    journey("reminder_batch", &treasurer, async {
        c.goto(&app.url(&format!("{dashboard}/reminders"))).await?;
        fill(c, "#email", "t@sokol.cz").await?;
        fill(c, "#password", PASSWORD).await?;
        click(c, "form button[type=submit]").await?;
        expect_text(c, "Kdo by teď dostal připomínku").await?;
        expect_text(c, "Petr Svoboda").await?;
        expect_text(c, "14 dní po splatnosti").await?;
        click(
            c,
            &format!("tr[data-payer='m:{petr}'] input[type=checkbox]"),
        )
        .await?;
        click(c, "#reminders-send").await?;
        expect_text(c, "Odeslána 1 připomínka.").await?;
        expect_text(c, "Vynechán 1 plátce.").await?;
        expect_text(c, "Teď není komu připomínat.").await
    })
    .await;
    let _ = treasurer.client.clone().close().await;
    assert_eq!(app.mails_to("jana@example.cz").await.len(), 1);
    assert!(app.mails_to("petr@example.cz").await.is_empty());
}

#[tokio::test]
async fn a_household_with_its_own_vs_gets_one_reminder_for_the_total_at_the_guardians_address() {
    let (app, _bank) = app().await;
    let (treasurer, dashboard) = crate::consent::confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    let anna = member(&app, &tenant, "Anna Dvořáková", "2026001", None).await;
    let ben = member(
        &app,
        &tenant,
        "Ben Dvořák",
        "2026002",
        Some("ben@example.cz"),
    )
    .await;
    let eva = member(
        &app,
        &tenant,
        "Eva Dvořáková",
        "2026003",
        Some("eva@example.cz"),
    )
    .await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let household = kasa::member::create_household(
        &mut tx,
        &kasa::audit::Actor::SYSTEM,
        &kasa::member::NewHousehold {
            name: "Dvořákovi".into(),
            variable_symbol: kasa::member::VariableSymbol::parse("0777").expect("vs"),
            ..Default::default()
        },
        app.now(),
    )
    .await
    .expect("household");
    // Anna and Ben are the children; Eva, their mother and a member herself, pays for them.
    sqlx::query("UPDATE members SET household_id = $1 WHERE id = ANY($2)")
        .bind(household)
        .bind(vec![anna, ben])
        .execute(&mut *tx)
        .await
        .expect("siblings");
    sqlx::query("UPDATE households SET guardian_member_id = $1")
        .bind(eva)
        .execute(&mut *tx)
        .await
        .expect("guardian");
    tx.commit().await.expect("commit");
    // 500 Kč due on the 1st of last month from each: 1 000 Kč for the children.
    one_off_fee(&treasurer, &dashboard, "500", 1, &month_start(&app, 1)).await;
    connected(&app, &treasurer, &dashboard).await;

    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let preview = kasa::reminder::preview(&mut tx, app.now())
        .await
        .expect("preview");
    tx.commit().await.expect("commit");
    let payers: Vec<kasa::reminder::Payer> = preview.ready.iter().map(|i| i.payer).collect();
    let family = preview
        .ready
        .iter()
        .find(|i| i.payer == kasa::reminder::Payer::Household(household.0))
        .expect("the household is one payer");
    assert_eq!(family.to_pay_minor, 100_000, "both children's fees");
    assert_eq!(family.variable_symbol, "0777");
    assert_eq!(
        family.emails.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        vec!["eva@example.cz"],
        "the guardian's address"
    );
    let sent = kasa::reminder::send(
        &app.state.clone().expect("state").mailer,
        &tenant,
        &kasa::audit::Actor::SYSTEM,
        &kasa::reminder::Choice {
            seen: payers,
            ..Default::default()
        },
        app.now(),
    )
    .await
    .expect("send");
    assert_eq!(
        sent,
        kasa::reminder::Sent::Batch {
            mails: 2,
            excluded: 0
        },
        "the household and Eva's own fees"
    );
    assert!(app.mails_to("ben@example.cz").await.is_empty());
    let eva_mails = app.mails_to("eva@example.cz").await;
    let family_mail = eva_mails
        .iter()
        .find(|(_, body)| body.contains("Variabilní symbol: 0777"))
        .expect("the household's reminder");
    assert!(
        family_mail.1.contains("(Anna Dvořáková)") && family_mail.1.contains("(Ben Dvořák)"),
        "{}",
        family_mail.1
    );
    assert!(
        family_mail
            .1
            .contains("Celkem k úhradě: 1\u{a0}000,00\u{a0}Kč"),
        "{}",
        family_mail.1
    );
}

/// The "přijatá platba" notices to `to`, oldest first: (body, held back for the undo window).
async fn notices_to(app: &TestApp, to: &str) -> Vec<(String, bool)> {
    sqlx::query_as(
        "SELECT body_text, next_attempt_at > created_at FROM app.outbox \
          WHERE recipient = $1 AND subject LIKE '%přijatá platba%' ORDER BY id",
    )
    .bind(to)
    .fetch_all(&app.pool)
    .await
    .expect("outbox")
}

/// A fee of 1 500 Kč due today, the account connected, then eight days later a sync (past the
/// booking lag) and the treasurer signed in again; returns the sync worker.
async fn due_a_week_ago_and_synced(
    app: &TestApp,
    bank: &kb_sandbox::ManualClock,
    treasurer: &Client,
    dashboard: &str,
) -> kasa::sync::Worker<kasa::consent::Consent> {
    fee_due_today(app, treasurer, dashboard).await;
    let worker = connected(app, treasurer, dashboard).await;
    later(app, bank, 8);
    sync(app, &worker).await;
    treasurer.log_in("t@sokol.cz", PASSWORD).await;
    worker
}

/// The club wants a thank-you after a reminder (booking lag 2 days).
async fn thank_you_on(treasurer: &Client, dashboard: &str) {
    let response = treasurer
        .post_form(
            &format!("{dashboard}/reminders/settings"),
            &[("booking_lag_days", "2"), ("thank_you", "on")],
        )
        .await;
    assert_eq!(response.status(), 303);
}

/// The thank-you mails to `to`.
async fn thanks_to(app: &TestApp, to: &str) -> usize {
    app.mails_to(to)
        .await
        .iter()
        .filter(|(s, _)| s.contains("děkujeme za platbu"))
        .count()
}

/// Sends every reminder the preview has ready now, as the treasurer's Send would.
async fn remind_everyone(app: &TestApp, tenant: &Tenant) -> usize {
    let state = app.state.clone().expect("state");
    let mut tx = TenantTx::begin(&app.pool, tenant).await.expect("begin");
    let preview = kasa::reminder::preview(&mut tx, app.now())
        .await
        .expect("preview");
    tx.commit().await.expect("commit");
    let choice = kasa::reminder::Choice {
        seen: preview.ready.iter().map(|i| i.payer).collect(),
        ..Default::default()
    };
    match kasa::reminder::send(
        &state.mailer,
        tenant,
        &kasa::audit::Actor::SYSTEM,
        &choice,
        app.now(),
    )
    .await
    .expect("send")
    {
        kasa::reminder::Sent::Batch { mails, .. } => mails,
        kasa::reminder::Sent::Earlier => 0,
    }
}

#[tokio::test]
async fn a_treasurers_assignment_is_announced_and_thanked_once_for_the_payer_it_ends_with() {
    let (app, bank) = app().await;
    let (treasurer, dashboard) = crate::consent::confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    let (jana, petr) = jana_and_petr(&app, &tenant).await;
    let worker = due_a_week_ago_and_synced(&app, &bank, &treasurer, &dashboard).await;
    thank_you_on(&treasurer, &dashboard).await;
    let response = treasurer
        .post_form(
            &format!("{dashboard}/reminders/notices"),
            &[("mode", "each")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(remind_everyone(&app, &tenant).await, 2, "Jana and Petr");

    // A parent pays for Jana without her VS: the payment waits in the queue, unannounced.
    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 150_000, "vs": "999", "message": "za dceru",
                           "payer_name": "Rodic Neznamy"}),
    )
    .await;
    let payment = tenant_count(
        &app,
        &tenant,
        "SELECT transaction_id FROM payment_decisions WHERE outcome = 'unidentified'",
    )
    .await;
    assert!(notices_to(&app, "t@sokol.cz").await.is_empty());
    let payments = format!("{dashboard}/payments/{payment}");
    let assign = |member: Uuid| {
        let treasurer = &treasurer;
        let path = format!("{payments}/assign");
        async move {
            let target = format!("member:{member}");
            let response = treasurer
                .post_form(&path, &[("target", target.as_str())])
                .await;
            assert_eq!(response.status(), 303);
        }
    };
    let undo = || async {
        let response = treasurer.post_form(&format!("{payments}/undo"), &[]).await;
        assert_eq!(response.status(), 303);
    };

    // One click assigns it to Jana: the treasurer hears of it and Jana is thanked, through the
    // outbox and held back for the undo window.
    assign(jana).await;
    let notices = notices_to(&app, "t@sokol.cz").await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0]
            .0
            .contains("Jana Nováková zaplatil(a) 1\u{a0}500,00\u{a0}Kč"),
        "{notices:?}"
    );
    assert!(notices[0].1, "held for the undo window");
    assert_eq!(thanks_to(&app, "jana@example.cz").await, 1);

    // Reassigned to Petr before anything went: one notice, about Petr; Petr is thanked, Jana
    // no longer.
    assign(petr).await;
    let notices = notices_to(&app, "t@sokol.cz").await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].0.contains("Petr Svoboda zaplatil(a)"),
        "{notices:?}"
    );
    assert_eq!(thanks_to(&app, "jana@example.cz").await, 0);
    assert_eq!(thanks_to(&app, "petr@example.cz").await, 1);

    // Undone twice (back to Jana, then back to the queue): nothing wrong stays queued.
    undo().await;
    let notices = notices_to(&app, "t@sokol.cz").await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].0.contains("Jana Nováková"), "{notices:?}");
    undo().await;
    assert!(notices_to(&app, "t@sokol.cz").await.is_empty());
    assert_eq!(thanks_to(&app, "jana@example.cz").await, 0);
    assert_eq!(thanks_to(&app, "petr@example.cz").await, 0);
    let recorded = tenant_count(
        &app,
        &tenant,
        "SELECT (SELECT count(*) FROM received_payments) + (SELECT count(*) FROM reminder_thanks)",
    )
    .await;
    assert_eq!(recorded, 0, "the digest will not list it");

    // Assigned to Jana again and delivered: an undo cannot call the mail back, and assigning
    // her once more announces nothing twice.
    assign(jana).await;
    sqlx::query("UPDATE app.outbox SET sent_at = created_at WHERE sent_at IS NULL")
        .execute(&app.pool)
        .await
        .expect("delivered");
    undo().await;
    assign(jana).await;
    assert_eq!(notices_to(&app, "t@sokol.cz").await.len(), 1);
    assert_eq!(thanks_to(&app, "jana@example.cz").await, 1);
}

/// A yearly fee of 1 200 Kč due on 1 January of this year.
async fn yearly_fee_due_in_january(app: &TestApp, client: &Client, dashboard: &str) {
    let year = kasa::i18n::prague_date(app.now()).year();
    let response = client
        .post_form(
            &format!("{dashboard}/fees/schedules/new"),
            &[
                ("name", "Příspěvek"),
                ("amount", "1200"),
                ("period", "year"),
                ("due_day", "1"),
                ("grace_days", "0"),
                ("applies_to", "everyone"),
                ("starts_on", &format!("{year}-01-01")),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "schedule saved");
}

/// The preview's steps per payer name: (ready, waiting).
async fn steps_now(app: &TestApp, tenant: &Tenant) -> (Vec<(String, i32)>, Vec<(String, i32)>) {
    let mut tx = TenantTx::begin(&app.pool, tenant).await.expect("begin");
    let preview = kasa::reminder::preview(&mut tx, app.now())
        .await
        .expect("preview");
    tx.commit().await.expect("commit");
    let named = |items: &[kasa::reminder::Item]| {
        items
            .iter()
            .map(|i| (i.name.clone(), i.step()))
            .collect::<Vec<_>>()
    };
    (named(&preview.ready), named(&preview.waiting))
}

#[tokio::test]
async fn a_member_who_joined_after_the_due_date_is_first_reminded_as_on_the_day_after_a_fresh_sync()
{
    let (app, bank) = app().await;
    // The test spans a month; it starts in January so that no new year's charge comes in.
    let today = kasa::i18n::prague_date(app.now());
    if today.month() == time::Month::December {
        later(&app, &bank, 33 - i64::from(today.day()));
    }
    let (treasurer, dashboard) = crate::consent::confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    member(
        &app,
        &tenant,
        "Jana Nováková",
        "2026001",
        Some("jana@example.cz"),
    )
    .await;
    yearly_fee_due_in_january(&app, &treasurer, &dashboard).await;
    let worker = connected(&app, &treasurer, &dashboard).await;
    later(&app, &bank, 20);
    let today = kasa::i18n::prague_date(app.now()).to_string();
    member_since(
        &app,
        &tenant,
        "Nový Člen",
        "2026002",
        &["novy@example.cz"],
        &today,
    )
    .await;
    sync(&app, &worker).await;

    // Jana has owed since January: she gets the late reminder. Nový joined today: not the
    // "14 days after" step, and not before a sync shows what he paid in his first days.
    let (ready, waiting) = steps_now(&app, &tenant).await;
    assert_eq!(ready, vec![("Jana Nováková".to_owned(), 14)]);
    assert_eq!(waiting, vec![("Nový Člen".to_owned(), 0)]);
    // The send agrees with the preview.
    assert_eq!(remind_everyone(&app, &tenant).await, 1);
    assert!(app.mails_to("novy@example.cz").await.is_empty());

    // After the booking lag and a sync: his first notice, once.
    later(&app, &bank, 9);
    sync(&app, &worker).await;
    let (ready, _) = steps_now(&app, &tenant).await;
    assert_eq!(ready, vec![("Nový Člen".to_owned(), 0)]);
    assert_eq!(remind_everyone(&app, &tenant).await, 1);
    assert_eq!(app.mails_to("novy@example.cz").await.len(), 1);
    assert_eq!(remind_everyone(&app, &tenant).await, 0);
}

#[tokio::test]
async fn reminders_and_thank_yous_go_to_every_address_of_the_member_once() {
    let (app, bank) = app().await;
    let (treasurer, dashboard) = crate::consent::confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    let tenant = tenant_of(&app, &dashboard).await;
    let addresses = ["jana@example.cz", "jana.prace@example.cz"];
    member_since(
        &app,
        &tenant,
        "Jana Nováková",
        "2026001",
        &addresses,
        "2010-01-01",
    )
    .await;
    let worker = due_a_week_ago_and_synced(&app, &bank, &treasurer, &dashboard).await;
    thank_you_on(&treasurer, &dashboard).await;
    let (_, page) = treasurer.get_text(&format!("{dashboard}/reminders")).await;
    assert!(
        page.contains("jana@example.cz, jana.prace@example.cz"),
        "{page}"
    );

    assert_eq!(
        remind_everyone(&app, &tenant).await,
        2,
        "one e-mail per address"
    );
    assert_eq!(
        remind_everyone(&app, &tenant).await,
        0,
        "the step went once"
    );
    for to in addresses {
        let mails = app.mails_to(to).await;
        assert_eq!(mails.len(), 1, "{to}");
        assert!(mails[0].0.contains("připomínka platby"), "{mails:?}");
    }
    let steps = tenant_count(
        &app,
        &tenant,
        "SELECT count(*) FROM reminders_sent WHERE outcome = 'sent'",
    )
    .await;
    assert_eq!(steps, 1, "one step of one charge");

    pay(
        &app,
        &worker,
        serde_json::json!({"amount_minor": 150_000, "vs": "2026001", "payer_name": "Jana Nováková"}),
    )
    .await;
    sync(&app, &worker).await;
    for to in addresses {
        assert_eq!(thanks_to(&app, to).await, 1, "{to}");
    }
}
