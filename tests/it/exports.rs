//! Exports and the board report end to end: the CSV read back as Czech Excel reads it (BOM,
//! `;`), the XLSX read back with calamine (number and date cells), the GPC's fixed-width
//! records and sign codes, bad dates re-rendering the form, the report's sums and debtors, and
//! every new route closed to other clubs and open to viewers (they are read-only).

use crate::fees::{add_member, month_start, monthly_schedule, tenant_of};
use crate::helpers::*;
use calamine::{Data, Reader, Xlsx};
use kasa::bank::wire::{ReversalConvention, Transaction};
use kasa::db::tenant::{Tenant, TenantTx};
use kasa::sync::jobs;
use kasa::sync::ledger::{self, Batch};
use reqwest::header::HeaderMap;
use serde_json::json;
use time::{Date, Duration};
use uuid::Uuid;

/// A KB transaction as the sync reads it (booked on `day`, signed minor units).
fn kb_booked(
    key: &str,
    day: Date,
    amount_minor: i64,
    name: &str,
    vs: Option<&str>,
    message: &str,
    reversal: bool,
) -> Transaction {
    let mut fields = json!({
        "lastUpdated": format!("{day}T10:00:00Z"),
        "bookingDate": day.to_string(),
        "valueDate": day.to_string(),
        "status": "BOOK",
        "counterParty": { "name": name, "accountNo": "19-2000145399", "bankCode": "0800" },
        "references": { "accountServicer": key, "receiver": message },
    });
    if let Some(vs) = vs {
        fields["references"]["variable"] = json!(vs);
    }
    kb_transaction_of(amount_minor, reversal, fields)
}

/// A fresh app with one club, "Oddíl Žluťoučký kůň", signed up through the form by its
/// treasurer `pokladni@kun.cz`: the app, the treasurer's client, the dashboard path and the club.
pub(crate) async fn treasurers_club() -> (TestApp, Client, String, Tenant) {
    let (app, owner, base) =
        TestApp::spawn_with_club("Oddíl Žluťoučký kůň", "pokladni@kun.cz").await;
    let tenant = tenant_of(&app, &base).await;
    (app, owner, base, tenant)
}

/// A connected account with `transactions` written by the sync's own `ledger::apply`.
pub(crate) async fn account_with(
    app: &TestApp,
    tenant: &Tenant,
    owner: &str,
    transactions: &[Transaction],
) {
    let (user,): (Uuid,) = sqlx::query_as("SELECT id FROM app.users WHERE email = $1")
        .bind(owner)
        .fetch_one(&app.pool)
        .await
        .expect("owner");
    let connection = Uuid::now_v7();
    let now = app.now();
    bank_connection(&app.pool, tenant, connection, user.into(), now).await;
    let account = bank_account(
        &app.pool,
        tenant,
        connection,
        "kb-export",
        "CZ6501000000000123456789",
        now,
    )
    .await;
    let job = jobs::claim(&app.pool, "exports-test", Duration::minutes(5), now, 10)
        .await
        .expect("claim")
        .into_iter()
        .find(|j| j.account_id == account)
        .expect("the account's job");
    let today = kasa::i18n::prague_date(now);
    let batch = Batch {
        account_id: account,
        fence: job.fence,
        window: (today - Duration::days(90), today),
        transactions,
        unreadable: &[],
        balances: &[],
        reversal_convention: ReversalConvention::OwnDirection,
        incomplete: None,
        pages: 1,
        full_history: false,
        wide: true,
        trigger: kasa::sync::Trigger::Schedule,
        started_at: now,
        now,
    };
    let mut tx = TenantTx::begin(&app.pool, tenant).await.expect("tx");
    ledger::apply(&mut tx, &batch).await.expect("apply");
    tx.commit().await.expect("commit");
}

struct Club {
    app: TestApp,
    owner: Client,
    base: String,
    tenant: Tenant,
    today: Date,
    /// The booking day of the test's transactions.
    day: Date,
}

/// A club with two members (one in a group), a monthly 500 Kč schedule from two months back,
/// and an account with a member's fee payment, an expense and a reversal, matched.
async fn club_with_money() -> Club {
    let (app, owner, base, tenant) = treasurers_club().await;
    let jiri = add_member(&app, &tenant, "Jiří Čermák", "2026001", "2010-01-01").await;
    add_member(&app, &tenant, "Šárka Řeháková", "0024", "2010-01-01").await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("tx");
    let group = Uuid::now_v7();
    sqlx::query("INSERT INTO member_groups (id, name) VALUES ($1, 'Žáci')")
        .bind(group)
        .execute(&mut *tx)
        .await
        .expect("group");
    sqlx::query("INSERT INTO member_group_links (member_id, group_id) VALUES ($1, $2)")
        .bind(jiri)
        .bind(group)
        .execute(&mut *tx)
        .await
        .expect("link");
    tx.commit().await.expect("commit");
    monthly_schedule(&owner, &base, &month_start(&app, 2)).await;
    let today = kasa::i18n::prague_date(app.now());
    let day = Date::parse(
        &month_start(&app, 1),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .expect("day")
        + Duration::days(4);
    account_with(
        &app,
        &tenant,
        "pokladni@kun.cz",
        &[
            kb_booked(
                "in-1",
                day,
                50000,
                "Jiří Čermák",
                Some("2026001"),
                "Příspěvek – Žluťoučký kůň",
                false,
            ),
            kb_booked(
                "out-1",
                day,
                -123450,
                "Pronájem tělocvičny",
                None,
                "Nájem",
                false,
            ),
            kb_booked("back-1", day, 10000, "Vratka", None, "Storno", true),
        ],
    )
    .await;
    let response = owner
        .post_form(&format!("{base}/payments/rerun"), &[])
        .await;
    assert_eq!(response.status(), 303, "matching ran");
    Club {
        app,
        owner,
        base,
        tenant,
        today,
        day,
    }
}

impl Club {
    async fn download(&self, dataset: &str, format: &str) -> (HeaderMap, Vec<u8>) {
        let from = (self.today - Duration::days(365)).to_string();
        let to = self.today.to_string();
        let path = format!(
            "{}/exports/download?dataset={dataset}&format={format}&from={from}&to={to}",
            self.base
        );
        let response = self.owner.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body").to_vec();
        (headers, bytes)
    }
}

/// The CSV as Czech Excel reads it: the BOM says UTF-8, `;` separates the cells.
fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM");
    let text = std::str::from_utf8(&bytes[3..]).expect("UTF-8");
    assert!(text.contains("\r\n"), "CRLF line ends");
    csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn csv_exports_open_in_czech_excel_with_the_right_columns_and_czech_characters() {
    let club = club_with_money().await;

    let (response, bytes) = club.download("transactions", "csv").await;
    assert_eq!(response["content-type"], "text/csv; charset=utf-8");
    let disposition = response["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment; filename=\"kasa-transakce-"),
        "{disposition}"
    );
    let rows = read_csv(&bytes);
    assert_eq!(
        rows[0],
        [
            "Účet",
            "Datum zaúčtování",
            "Datum valuty",
            "Částka",
            "Měna",
            "Protistrana",
            "Účet protistrany",
            "VS",
            "KS",
            "SS",
            "Zpráva pro příjemce",
            "Poznámka",
            "Typ",
            "Storno"
        ]
    );
    assert_eq!(rows.len(), 4, "header + three booked movements");
    let day = club.day.to_string();
    let fee = rows
        .iter()
        .find(|r| r[5] == "Jiří Čermák")
        .expect("fee row");
    assert_eq!(fee[0], "CZ6501000000000123456789");
    assert_eq!(fee[1], day);
    assert_eq!(fee[3], "500,00", "decimal comma, no grouping");
    assert_eq!(fee[6], "19-2000145399/0800");
    assert_eq!(fee[7], "2026001");
    assert_eq!(fee[10], "Příspěvek – Žluťoučký kůň");
    let rent = rows
        .iter()
        .find(|r| r[5] == "Pronájem tělocvičny")
        .expect("rent row");
    assert_eq!(rent[3], "-1234,50");
    let back = rows.iter().find(|r| r[5] == "Vratka").expect("reversal");
    assert_eq!(back[13], "ano");

    let rows = read_csv(&club.download("members", "csv").await.1);
    assert_eq!(rows[0][..3], ["Jméno", "VS", "E-maily"]);
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["Jiří Čermák", "Šárka Řeháková"]);
    assert_eq!(rows[2][1], "0024", "the VS as entered");
    assert_eq!(rows[1][6], "Žáci");

    let rows = read_csv(&club.download("charges", "csv").await.1);
    assert_eq!(
        rows[0],
        [
            "Předpis",
            "Člen",
            "VS",
            "Období od",
            "Období do",
            "Splatnost",
            "Částka",
            "Zaplaceno",
            "Zbývá zaplatit"
        ]
    );
    assert_eq!(rows.len(), 1 + 6, "three months for two members");
    let paid: Vec<&Vec<String>> = rows.iter().filter(|r| r[7] == "500,00").collect();
    assert_eq!(paid.len(), 1, "one charge paid: {rows:?}");
    assert_eq!(paid[0][1], "Jiří Čermák");
    assert_eq!(paid[0][8], "0,00");

    let rows = read_csv(&club.download("payments", "csv").await.1);
    assert_eq!(rows[0][..3], ["Datum zaúčtování", "Číslo platby", "Částka"]);
    let fee = rows
        .iter()
        .find(|r| r[3] == "Jiří Čermák")
        .expect("payment");
    assert_eq!(fee[7], "spárováno", "{fee:?}");
    assert_eq!(fee[9], "Jiří Čermák", "allocated to the member");
    assert_eq!(fee[10], "Členský příspěvek");
    assert_eq!(fee[13], "500,00");
}

#[tokio::test]
async fn xlsx_exports_have_number_and_date_cells_and_the_gpc_has_fixed_records_and_sign_codes() {
    let club = club_with_money().await;

    let (response, bytes) = club.download("transactions", "xlsx").await;
    assert_eq!(
        response["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("xlsx");
    assert_eq!(workbook.sheet_names(), ["Pohyby"]);
    let range = workbook.worksheet_range("Pohyby").expect("sheet");
    let rows: Vec<&[Data]> = range.rows().collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0][0], Data::String("Účet".into()));
    let rent = rows
        .iter()
        .find(|r| r[5] == Data::String("Pronájem tělocvičny".into()))
        .expect("rent");
    assert_eq!(rent[3], Data::Float(-1234.5), "a real number");
    match &rent[1] {
        Data::DateTime(d) => {
            let epoch = Date::from_calendar_date(1899, time::Month::December, 30).expect("epoch");
            assert_eq!(
                d.as_f64(),
                (club.day - epoch).whole_days() as f64,
                "Excel's serial day"
            );
        }
        other => panic!("booking date is not a date cell: {other:?}"),
    }

    let (_, bytes) = club.download("members", "xlsx").await;
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("xlsx");
    let range = workbook.worksheet_range("Členové").expect("sheet");
    let vs: Vec<Data> = range.rows().skip(1).map(|r| r[1].clone()).collect();
    assert_eq!(
        vs,
        [Data::String("2026001".into()), Data::String("0024".into())],
        "VS as text keeps its zeros"
    );

    let (response, bytes) = club.download("transactions", "gpc").await;
    assert_eq!(response["content-type"], "application/octet-stream");
    assert!(bytes.ends_with(b"\r\n"));
    let records: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|r| !r.is_empty())
        .collect();
    assert_eq!(records.len(), 4, "one header and three items");
    for record in &records {
        assert_eq!(record.len(), 129, "128 characters + CR");
        assert_eq!(record[128], b'\r');
    }
    assert!(records[0].starts_with(b"0740000000123456789"));
    let (text, _, bad) = encoding_rs::WINDOWS_1250.decode(&bytes);
    assert!(!bad, "windows-1250");
    let lines: Vec<&str> = text.lines().collect();
    // One byte per character in windows-1250: positions are byte offsets.
    let header = records[0];
    let signed = |from: usize, len: usize| -> i64 {
        let digits = std::str::from_utf8(&header[from..from + len]).expect("digits");
        let value: i64 = digits.parse().expect("number");
        if header[from + len] == b'-' {
            -value
        } else {
            value
        }
    };
    let (old, new) = (signed(45, 14), signed(60, 14));
    let (debits, credits) = (signed(75, 14), signed(90, 14));
    assert_eq!(old + credits - debits, new, "the header adds up");
    let code_of = |name: &str| -> char {
        let line = lines
            .iter()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} in {lines:?}"));
        line.chars().nth(60).expect("code")
    };
    assert_eq!(code_of("Jiří Čermák"), '2', "credit");
    assert_eq!(code_of("Pronájem tělocvičny"), '1', "debit");
    let mut tx = TenantTx::begin(&club.app.pool, &club.tenant)
        .await
        .expect("tx");
    let (reversal_amount,): (i64,) =
        sqlx::query_as("SELECT amount_minor FROM transactions WHERE reversal")
            .fetch_one(&mut *tx)
            .await
            .expect("reversal");
    tx.commit().await.expect("commit");
    let expected = if reversal_amount > 0 { '4' } else { '5' };
    assert_eq!(code_of("Vratka"), expected, "a reversal's code");
    let fee = lines.iter().find(|l| l.contains("Jiří")).expect("fee");
    assert_eq!(&fee[48..60], "000000050000", "haléře, zero-padded");
    assert_eq!(&fee[61..71], "0002026001", "the VS");
}

#[tokio::test]
async fn bad_dates_re_render_the_export_form_with_field_messages() {
    let club = club_with_money().await;
    let page = club.owner.get_text(&format!("{}/exports", club.base)).await;
    assert_eq!(page.0, 200);
    assert!(page.1.contains("Export dat") && page.1.contains("ABO/GPC"));
    // (query, what the re-rendered form must say)
    let cases: [(&str, &[&str]); 2] = [
        (
            "dataset=members&format=gpc&from=31.%202.%202026&to=",
            &[
                "Zadejte datum, např. 1. 1. 2026.",
                "Formát ABO/GPC je jen pro pohyby na účtech.",
                "value=\"31. 2. 2026\"", // the typed value stays
            ],
        ),
        (
            "dataset=charges&format=csv&from=2.1.2026&to=1.1.2026",
            &["nesmí být před"],
        ),
    ];
    for (query, messages) in cases {
        let path = format!("{}/exports/download?{query}", club.base);
        let (status, page) = club.owner.get_text(&path).await;
        assert_eq!(status, 422, "{query}");
        for message in messages {
            assert!(page.contains(message), "{query}: {message} in {page}");
        }
    }
}

#[tokio::test]
async fn the_board_report_shows_sums_by_group_debtors_and_months_and_the_same_as_xlsx() {
    let club = club_with_money().await;
    let (status, page) = club
        .owner
        .get_text(&format!("{}/fees/report", club.base))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Zpráva pro výbor"), "{page}");
    assert!(
        page.contains("Žáci") && page.contains("Bez skupiny"),
        "{page}"
    );
    assert!(page.contains("Dlužníci"));
    assert!(page.contains("Příjmy a výdaje po měsících"));

    // The period two months back: Jiří paid it, Šárka owes it.
    let period = month_start(&club.app, 2);
    let (status, page) = club
        .owner
        .get_text(&format!("{}/fees/report?period={period}", club.base))
        .await;
    assert_eq!(status, 200);
    let debtors = page
        .split("id=\"report-debtors\"")
        .nth(1)
        .expect("debtors section");
    let debtors = debtors.split("</section>").next().expect("section");
    assert!(debtors.contains("Šárka Řeháková"), "{debtors}");
    assert!(!debtors.contains("Jiří Čermák"), "{debtors}");
    let start = Date::parse(
        &period,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .expect("period");
    let overdue = (club.today - start).whole_days();
    assert!(
        debtors.contains(&kasa::i18n::Lang::Cs.t_count("report.days", overdue)),
        "{debtors}"
    );

    let response = club
        .owner
        .get(&format!("{}/fees/report.xlsx?period={period}", club.base))
        .await;
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.expect("body").to_vec();
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("xlsx");
    assert_eq!(workbook.sheet_names(), ["Souhrn", "Dlužníci", "Měsíce"]);
    let summary = workbook.worksheet_range("Souhrn").expect("summary");
    let total = summary
        .rows()
        .find(|r| r[0] == Data::String("Celkem".into()))
        .expect("total row")
        .to_vec();
    assert_eq!(
        total[1..],
        [
            Data::Float(2.0),
            Data::Float(1000.0),
            Data::Float(500.0),
            Data::Float(500.0)
        ]
    );
    let debtors = workbook.worksheet_range("Dlužníci").expect("debtors");
    let first = debtors.rows().nth(1).expect("a debtor").to_vec();
    assert_eq!(first[0], Data::String("Šárka Řeháková".into()));
    assert_eq!(first[4], Data::Float(500.0));
    assert!(matches!(first[5], Data::DateTime(_)), "{:?}", first[5]);
    assert_eq!(first[6], Data::Float(overdue as f64));
    let months = workbook.worksheet_range("Měsíce").expect("months");
    assert!(matches!(
        months.rows().nth(1).expect("a month")[0],
        Data::DateTime(_)
    ));
}

#[tokio::test]
async fn export_and_report_routes_are_closed_to_other_clubs_and_open_to_viewers() {
    let club = club_with_money().await;
    let app = &club.app;
    let stranger = app.client();
    let other = app.sign_up(&stranger, "Klub B", ICO_B, "bob@b.cz").await;
    club.owner
        .post_form(
            &format!("{}/team/invite", club.base),
            &[("email", "viewer@kun.cz"), ("role", "viewer")],
        )
        .await;
    let link = app.last_link_to("viewer@kun.cz").await;
    let token = link.trim_start_matches("/invitation?token=").to_owned();
    let viewer = app.client();
    let response = viewer
        .post_form(
            "/invitation",
            &[("token", &token), ("password", "Viewer má dlouhé heslo 1")],
        )
        .await;
    assert_eq!(response.status(), 303, "viewer joined");

    let base = &club.base;
    let range = "from=1.1.2025&to=31.12.2026";
    let reads = [
        format!("{base}/exports"),
        format!("{base}/exports/download?dataset=members&format=csv&{range}"),
        format!("{base}/exports/download?dataset=transactions&format=gpc&{range}"),
        format!("{base}/exports/download?dataset=payments&format=xlsx&{range}"),
        format!("{base}/fees/report"),
        format!("{base}/fees/report.xlsx"),
    ];
    for path in &reads {
        let (status, body) = stranger.get_text(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("Čermák"), "{path} leaked a member");
        // Read to the end: an export holds one of the few export slots until it is done.
        assert_eq!(viewer.get_text(path).await.0, 200, "{path}");
    }
    // The stranger's own club has no schedule: its report has nothing to download.
    assert_eq!(
        stranger
            .get(&format!("{other}/fees/report.xlsx"))
            .await
            .status(),
        404
    );
    let (status, csv) = stranger
        .get_text(&format!(
            "{other}/exports/download?dataset=members&format=csv&{range}"
        ))
        .await;
    assert_eq!(status, 200);
    assert!(!csv.contains("Čermák"), "another club's members never leak");
}

#[tokio::test]
async fn a_treasurer_opens_the_board_report_and_downloads_an_export_in_the_browser() {
    use crate::browser::{browser, click, expect_text, fill, journey, log_in};
    use fantoccini::Locator;
    let club = club_with_money().await;
    let b = browser().await;
    let c = &b.client;
    journey("exports", &b, async {
        c.goto(&club.app.url("/login")).await?;
        log_in(c, "pokladni@kun.cz").await?;
        expect_text(c, "Oddíl Žluťoučký kůň").await?;

        // The report from the fee overview, with a print button.
        click(c, ".club-nav a[href$='/fees']").await?;
        click(c, "#report-link").await?;
        expect_text(c, "Příjmy a výdaje po měsících").await?;
        expect_text(c, "Celkem").await?;
        let print = c.find(Locator::Css("[data-print]")).await?;
        if !print.is_displayed().await? {
            return Err("the print button is hidden".into());
        }

        // Exports from the club navigation: a bad date first, then a download.
        click(c, ".club-nav a[href$='/exports']").await?;
        expect_text(c, "Export dat").await?;
        click(c, "input[name=dataset][value=members]").await?;
        click(c, "input[name=format][value=csv]").await?;
        fill(c, "#from", "31. 2. 2026").await?;
        click(c, "#export-download").await?;
        expect_text(c, "Zadejte datum, např. 1. 1. 2026.").await?;
        fill(c, "#from", "1. 1. 2025").await?;
        // The browser downloads the file as the button would, with its own session.
        let answer = c
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   const form = document.getElementById("export-form");
                   const url = form.action + "?" + new URLSearchParams(new FormData(form));
                   fetch(url, { credentials: "same-origin" })
                     .then(async (r) => {
                       const bytes = new Uint8Array(await r.arrayBuffer());
                       done([r.status, r.headers.get("content-disposition"),
                             Array.from(bytes.slice(0, 3)), new TextDecoder().decode(bytes)]);
                     })
                     .catch((e) => done([0, String(e), [], ""]));"#,
                vec![],
            )
            .await?;
        let answer = answer.as_array().ok_or("an array")?;
        if answer[0] != 200 {
            return Err(format!("download answered {answer:?}").into());
        }
        let disposition = answer[1].as_str().unwrap_or_default();
        if !disposition.contains("kasa-clenove.csv") {
            return Err(format!("file name: {disposition}").into());
        }
        if answer[2] != serde_json::json!([0xEF, 0xBB, 0xBF]) {
            return Err(format!("no BOM: {:?}", answer[2]).into());
        }
        let text = answer[3].as_str().unwrap_or_default();
        if !(text.contains("Jméno;VS;E-maily") && text.contains("Šárka Řeháková")) {
            return Err(format!("the CSV: {text}").into());
        }
        Ok(())
    })
    .await;
}

/// A signed-up club (its treasurer's client and dashboard path) whose account holds 200 000
/// booked transactions: far more than the chunks that may wait for a client and than
/// loopback's socket buffers hold (several MB; 30 000 rows fitted in them on a fast run), about
/// 20 MB of CSV. Bulk rows: these tests are about the stream, not the sync.
async fn club_with_a_big_account() -> (TestApp, Client, String) {
    let (app, owner, base, tenant) = treasurers_club().await;
    account_with(&app, &tenant, "pokladni@kun.cz", &[]).await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("tx");
    sqlx::query(
        "INSERT INTO transactions (account_id, bank_key, status, amount_minor, currency, \
            booking_date, counterparty_name, message, last_updated, first_seen_at) \
         SELECT a.id, 'bulk:' || n, 'booked', n, 'CZK', DATE '2026-01-01' + (n % 300), \
                'Plátce Žluťoučký ' || n, 'Příspěvek za člena číslo ' || n, now(), now() \
           FROM bank_accounts a, generate_series(1, 200000) n",
    )
    .execute(&mut *tx)
    .await
    .expect("rows");
    tx.commit().await.expect("commit");
    (app, owner, base)
}

#[tokio::test]
async fn an_abandoned_download_ends_its_transaction_and_leaves_no_tenant_on_the_pool() {
    let (app, owner, base) = club_with_a_big_account().await;

    let mut response = owner
        .get(&format!(
            "{base}/exports/download?dataset=transactions&format=csv&from=1.1.2026&to=31.12.2026"
        ))
        .await;
    assert_eq!(response.status(), 200);
    let first = response
        .chunk()
        .await
        .expect("chunk")
        .expect("a first chunk");
    assert!(first.starts_with(b"\xEF\xBB\xBF"));
    let open_transactions = "SELECT count(*) FROM pg_stat_activity \
          WHERE datname = current_database() AND pid <> pg_backend_pid() \
            AND xact_start IS NOT NULL";
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        app.count(open_transactions).await,
        1,
        "the unread download holds its transaction (backpressure reaches the producer)"
    );
    drop(response);

    // The export's transaction ends (its producer stops at its next send) ...
    let mut open = i64::MAX;
    for _ in 0..100 {
        open = app.count(open_transactions).await;
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(open, 0, "no transaction left open");
    // ... and every pooled connection is back on the empty schema.
    for _ in 0..5 {
        let (path,): (String,) = sqlx::query_as("SELECT current_setting('search_path')")
            .fetch_one(&app.pool)
            .await
            .expect("path");
        assert_eq!(path, "kasa_empty");
    }
}

#[tokio::test]
async fn exports_never_take_more_than_their_share_of_the_pool_and_a_busy_one_says_so() {
    // The test pool has 8 connections: 2 export slots.
    let (app, owner, base) = club_with_a_big_account().await;
    let download = format!(
        "{base}/exports/download?dataset=transactions&format=csv&from=1.1.2026&to=31.12.2026"
    );

    // Two downloads nobody reads hold both slots ...
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut response = owner.get(&download).await;
        assert_eq!(response.status(), 200);
        response
            .chunk()
            .await
            .expect("chunk")
            .expect("a first chunk");
        held.push(response);
    }
    // ... so a third is refused with a clear message, not queued behind them ...
    let (status, page) = owner.get_text(&download).await;
    assert_eq!(status, 503);
    assert!(
        page.contains("Právě probíhá příliš mnoho exportů"),
        "{page}"
    );
    // ... and the rest of Kasa keeps working: another club signs up and opens its pages.
    let other = app.client();
    let dashboard = app.sign_up(&other, "Klub B", ICO_B, "b@b.cz").await;
    assert_eq!(other.get(&dashboard).await.status(), 200);

    // When the held downloads go away, exporting works again.
    drop(held);
    let mut status = 0;
    for _ in 0..100 {
        let response = owner.get(&download).await;
        status = response.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "a slot is free again");
}
