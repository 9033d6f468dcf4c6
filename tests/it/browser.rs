//! The main journeys in a real browser: headless Chromium driven through ChromeDriver.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). On failure a
//! screenshot and the page source are saved under `tests/artifacts/`.

use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Browser {
    client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn find_binary(env: &str, candidates: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "browser tests need Chromium and ChromeDriver: `apt-get install chromium chromium-driver` \
                 (or set {env}); `bash .ci/run` installs them"
            )
        })
}

async fn browser() -> Browser {
    let chromedriver = find_binary(
        "CHROMEDRIVER",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    );
    let chromium = find_binary(
        "CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let driver = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile =
        std::env::temp_dir().join(format!("kasa-chromium-{}", uuid::Uuid::new_v4().simple()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                "--lang=cs-CZ",
                format!("--user-data-dir={}", profile.display()),
            ],
            // A Czech treasurer's browser.
            "prefs": { "intl.accept_languages": "cs-CZ,cs" }
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last_error = None;
    for _ in 0..100 {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return Browser { client, driver },
            Err(e) => {
                last_error = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("could not start a browser session: {last_error:?}");
}

type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Runs a journey; on failure saves a screenshot and the page source, then fails the test.
async fn journey<F>(name: &str, browser: &Browser, steps: F)
where
    F: std::future::Future<Output = Outcome>,
{
    if let Err(error) = steps.await {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = browser.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
        if let Ok(html) = browser.client.source().await {
            let _ = std::fs::write(dir.join(format!("{name}.html")), html);
        }
        panic!("browser journey {name} failed: {error} (screenshot in tests/artifacts/{name}.png)");
    }
}

async fn fill(c: &Client, css: &str, text: &str) -> Outcome {
    let field = c.find(Locator::Css(css)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

async fn page_text(c: &Client) -> Result<String, fantoccini::error::CmdError> {
    c.source().await
}

async fn expect_text(c: &Client, text: &str) -> Outcome {
    for _ in 0..50 {
        if page_text(c).await?.contains(text) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "the page never showed {text:?}; it shows: {}",
        page_text(c).await?
    )
    .into())
}

#[tokio::test]
async fn a_treasurer_signs_up_confirms_the_email_and_invites_a_colleague_in_the_browser() {
    let app = TestApp::spawn().await;
    let b = browser().await;
    let c = &b.client;
    journey("signup", &b, async {
        c.goto(&app.url("/")).await?;
        expect_text(c, "Kdo zaplatil příspěvek?").await?;
        c.find(Locator::LinkText("Zaregistrovat spolek zdarma"))
            .await?
            .click()
            .await?;
        // A mistake first: the form comes back with the message and the typed values.
        fill(c, "#club_name", "Oddíl Žluťoučký kůň").await?;
        fill(c, "#ico", "12345678").await?;
        fill(c, "#email", "pokladni@kun.cz").await?;
        fill(c, "#password", "Kůň úpěl ďábelské ódy").await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c, "IČO musí mít 8 číslic").await?;
        fill(c, "#ico", ICO_A).await?;
        fill(c, "#password", "Kůň úpěl ďábelské ódy").await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c, "Spolek je zaregistrovaný").await?;
        expect_text(c, "Potvrďte svůj e-mail").await?;

        // The local mailbox has the confirmation link.
        c.find(Locator::LinkText("Místní schránka e-mailů"))
            .await?
            .click()
            .await?;
        expect_text(c, "pokladni@kun.cz").await?;
        c.find(Locator::Css("a.mail-link")).await?.click().await?;
        expect_text(c, "E-mail je potvrzený").await?;
        c.find(Locator::LinkText("Pokračovat"))
            .await?
            .click()
            .await?;
        expect_text(c, "Připojte účet u Komerční banky").await?;

        // Invite a co-treasurer.
        c.find(Locator::Css(".club-nav a[href$='/team']"))
            .await?
            .click()
            .await?;
        fill(c, "#invite-email", "kolega@kun.cz").await?;
        c.find(Locator::Css("#invite-role option[value=treasurer]"))
            .await?
            .click()
            .await?;
        c.find(Locator::Css("form[action$='/invite'] button"))
            .await?
            .click()
            .await?;
        expect_text(c, "Pozvánka je odeslaná").await?;

        // The same in English.
        c.find(Locator::LinkText("EN")).await?.click().await?;
        expect_text(c, "Pending invitations").await?;
        expect_text(c, "kolega@kun.cz").await?;
        Ok(())
    })
    .await;

    // The colleague opens the link in their own browser and joins, in English.
    let link = app.last_link_to("kolega@kun.cz").await;
    let b2 = browser().await;
    let c2 = &b2.client;
    journey("invitation", &b2, async {
        c2.goto(&app.url("/lang/en?next=/")).await?;
        c2.goto(&app.url(&link)).await?;
        expect_text(c2, "You have been invited to the club").await?;
        fill(c2, "#password", "Kolegovo tajné heslo").await?;
        c2.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c2, "Welcome to the team!").await?;
        expect_text(c2, "Oddíl Žluťoučký kůň").await?;
        Ok(())
    })
    .await;
    let _ = b.client.clone().close().await;
    let _ = b2.client.clone().close().await;
}

#[tokio::test]
async fn a_member_logs_in_after_a_typo_and_logs_out_in_the_browser() {
    let app = TestApp::spawn().await;
    let dashboard = app
        .sign_up_confirmed(
            &app.client(),
            "Tenisový klub Lhota",
            ICO_B,
            "tenis@lhota.cz",
        )
        .await;
    let b = browser().await;
    let c = &b.client;
    journey("login", &b, async {
        c.goto(&app.url(&dashboard)).await?;
        // Not signed in: the login page, which returns to the club afterwards.
        expect_text(c, "Přihlášení").await?;
        fill(c, "#email", "tenis@lhota.cz").await?;
        fill(c, "#password", "překlep v hesle").await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c, "E-mail nebo heslo nesouhlasí").await?;
        fill(c, "#password", PASSWORD).await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c, "Tenisový klub Lhota").await?;
        let url = c.current_url().await?;
        if url.path() != dashboard {
            return Err(format!("landed on {url}, expected {dashboard}").into());
        }
        c.find(Locator::Css("form[action='/logout'] button"))
            .await?
            .click()
            .await?;
        expect_text(c, "Kdo zaplatil příspěvek?").await?;
        Ok(())
    })
    .await;
    let _ = b.client.clone().close().await;
}

#[tokio::test]
async fn the_kb_sandbox_control_page_sends_a_payment_from_the_browser() {
    let app = TestApp::spawn_with_sandbox(|_| {}).await;
    let sandbox = app.sandbox.clone().expect("sandbox");
    let b = browser().await;
    let c = &b.client;
    journey("sandbox-control", &b, async {
        c.goto(&app.url("/")).await?;
        c.find(Locator::LinkText("Simulátor KB (sandbox)"))
            .await?
            .click()
            .await?;
        expect_text(c, "Poslat platbu").await?;
        fill(c, "#pay input[name=amount]", "1234.50").await?;
        fill(c, "#pay input[name=vs]", "7700123").await?;
        fill(c, "#pay input[name=payer_name]", "Květa Šťastná").await?;
        c.find(Locator::Css("#pay button")).await?.click().await?;
        expect_text(c, "7700123").await?;
        Ok(())
    })
    .await;
    let ledger: serde_json::Value =
        reqwest::get(format!("{}/control/ledger", sandbox.browser_base_url))
            .await
            .expect("ledger")
            .json()
            .await
            .expect("json");
    let rows = ledger
        .as_array()
        .or_else(|| ledger["transactions"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(
        rows.iter()
            .any(|t| t["references"]["variable"] == "7700123" && t["amount"]["value"] == 1234.5),
        "the payment is in the sandbox's ledger"
    );
    let _ = b.client.clone().close().await;
}

#[tokio::test]
async fn a_treasurer_connects_renews_and_disconnects_the_kb_account_in_the_browser() {
    let app = TestApp::spawn_with_sandbox_and(|_| {}, |c| c.run_sync_worker = true).await;
    let dashboard = app
        .sign_up_confirmed(
            &app.client(),
            "Volejbal Lhotka",
            ICO_A,
            "volejbal@lhotka.cz",
        )
        .await;
    let b = browser().await;
    let c = &b.client;
    journey("bank-connect", &b, async {
        c.goto(&app.url("/login")).await?;
        fill(c, "#email", "volejbal@lhotka.cz").await?;
        fill(c, "#password", PASSWORD).await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c, "Připojte účet u Komerční banky").await?;
        // Connect: the password again, then KB's two screens.
        fill(c, "#connect-password", PASSWORD).await?;
        c.find(Locator::Css("#connect-form button"))
            .await?
            .click()
            .await?;
        expect_text(c, "Přihlásit").await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c, "Výběr účtů").await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c, "Souhlasím").await?;
        c.find(Locator::Css("button[value=approve]"))
            .await?
            .click()
            .await?;
        expect_text(c, "Účet je připojený").await?;
        expect_text(c, "Souhlas s přístupem k účtu platí do").await?;
        // The history arrives by itself: open the account, wait for balances and transactions.
        c.find(Locator::Css("#bank .club-list a"))
            .await?
            .click()
            .await?;
        for _ in 0..100 {
            if page_text(c).await?.contains("Aktuální k") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.refresh().await?;
        }
        expect_text(c, "Disponibilní zůstatek").await?;
        let rows = c.find_all(Locator::Css("#transactions tbody tr")).await?;
        if rows.len() < 10 {
            return Err(format!("only {} transactions shown", rows.len()).into());
        }
        // A payment sent at the bank appears on the open page by itself (no reload).
        let (kb_account,): (String,) =
            sqlx::query_as("SELECT kb_account_id FROM app.bank_accounts").fetch_one(&app.pool).await?;
        let sandbox = app.sandbox.clone().ok_or("sandbox")?;
        reqwest::Client::new()
            .post(format!("{}/control/payments", sandbox.browser_base_url))
            .json(&serde_json::json!({"account": kb_account, "amount_minor": 77_700, "vs": "6600777", "payer_name": "Bohuslav Živný"}))
            .send()
            .await?;
        let mut synced = false;
        for _ in 0..100 {
            let mut tx = crate::consent::tenant_tx(&app).await;
            let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM transactions WHERE variable_symbol = '6600777'")
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_some() {
                synced = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !synced {
            return Err("the payment never reached the club's schema".into());
        }
        expect_text(c, "6600777").await?;
        expect_text(c, "Bohuslav Živný").await?;
        c.find(Locator::LinkText("Přehled")).await?.click().await?;
        // Renew: two clicks (and the password), straight to KB's consent.
        c.find(Locator::Css("details.bank-actions summary"))
            .await?
            .click()
            .await?;
        fill(c, "#renew-password", PASSWORD).await?;
        c.find(Locator::Css("form[action$='/bank/renew'] button"))
            .await?
            .click()
            .await?;
        expect_text(c, "Souhlasím").await?;
        c.find(Locator::Css("button[value=approve]"))
            .await?
            .click()
            .await?;
        expect_text(c, "Souhlas je obnovený").await?;
        // Disconnect, keeping the history.
        c.find(Locator::Css("details.bank-actions summary"))
            .await?
            .click()
            .await?;
        fill(c, "#disconnect-password", PASSWORD).await?;
        c.find(Locator::Css("form[action$='/bank/disconnect'] button"))
            .await?
            .click()
            .await?;
        expect_text(c, "Účet je odpojený").await?;
        expect_text(c, "Připojte účet u Komerční banky").await?;
        Ok(())
    })
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM app.bank_connections WHERE status = 'disconnected'")
            .await,
        1
    );
    let _ = dashboard;
    let _ = b.client.clone().close().await;
}

#[tokio::test]
async fn a_treasurer_imports_a_member_list_from_czech_excel_in_the_browser() {
    let app = TestApp::spawn().await;
    let dashboard = app
        .sign_up_confirmed(&app.client(), "Oddíl Orlice", ICO_A, "pokladni@orlice.cz")
        .await;
    // What Czech Excel saves: windows-1250, `;`, CRLF, a quoted field with `;` inside.
    let list = "Příjmení;Jméno;VS;E-mail;Datum narození;Skupina\r\n\
                Nováková;Eva;0024;eva@example.cz;1.2.2010;žáci\r\n\
                Dvořák;Petr;2026001;petr@example.cz;29.02.2008;\"dorost; A\"\r\n\
                Šťastná;Žofie;;zofie@example.cz;2011-05-07;žáci\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1250.encode(list);
    let file = std::env::temp_dir().join(format!("clenove-{}.csv", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, &bytes).expect("write the list");
    let b = browser().await;
    let c = &b.client;
    journey("member-import", &b, async {
        c.goto(&app.url(&dashboard)).await?;
        fill(c, "#email", "pokladni@orlice.cz").await?;
        fill(c, "#password", PASSWORD).await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        c.find(Locator::Css(".club-nav a[href$='/members']"))
            .await?
            .click()
            .await?;
        expect_text(c, "Zatím tu nejsou žádní členové").await?;
        c.find(Locator::LinkText("Nahrát seznam (CSV)"))
            .await?
            .click()
            .await?;
        c.find(Locator::Css("#file"))
            .await?
            .send_keys(&file.display().to_string())
            .await?;
        c.find(Locator::Css("form[enctype] button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c, "Náhled importu").await?;
        expect_text(c, "3 noví členové").await?;
        expect_text(c, "windows-1250").await?;
        expect_text(c, "Žofie Šťastná").await?;
        c.find(Locator::Css("#confirm-import"))
            .await?
            .click()
            .await?;
        expect_text(c, "Import je hotový").await?;
        expect_text(c, "3 členové").await?;
        // The bank may pad the VS: a search for 0000000024 finds Eva (0024).
        fill(c, "#q", "0000000024").await?;
        c.find(Locator::Css("form[role=search] button"))
            .await?
            .click()
            .await?;
        expect_text(c, "Zobrazen 1 člen").await?;
        c.find(Locator::LinkText("Eva Nováková"))
            .await?
            .click()
            .await?;
        expect_text(c, "eva@example.cz").await?;
        expect_text(c, "1. 2. 2010").await?;
        Ok(())
    })
    .await;
    let _ = std::fs::remove_file(&file);
    let _ = b.client.clone().close().await;
}

#[tokio::test]
async fn a_member_turns_paid_on_the_open_overview_and_the_queue_assigns_and_undoes() {
    let app = TestApp::spawn_with_sandbox_and(
        |s| s.seed.transactions_per_account = 0,
        |c| c.run_sync_worker = true,
    )
    .await;
    let client = app.client();
    let dashboard = app
        .sign_up_confirmed(&client, "Oddíl Příspěvky", ICO_A, "pokladni@oddil.cz")
        .await;
    let key = kasa::db::tenant::TenantKey::parse(dashboard.trim_start_matches("/t/")).expect("key");
    let tenant = kasa::db::tenant::Tenant::load(&app.pool, key.id().expect("id"))
        .await
        .expect("load")
        .expect("tenant");
    let mut tx = kasa::db::tenant::TenantTx::begin(&app.pool, &tenant)
        .await
        .expect("begin");
    for (name, vs) in [("Jana Nová", "2026001"), ("Petr Svoboda", "2026002")] {
        sqlx::query(
            "INSERT INTO members (id, name, variable_symbol, vs_key, joined_on, created_at, updated_at) \
             VALUES ($1, $2, $3, $3, '2010-01-01', now(), now())",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(name)
        .bind(vs)
        .execute(&mut *tx)
        .await
        .expect("member");
    }
    tx.commit().await.expect("commit");
    let first = kasa::fee::Period::Month
        .containing(kasa::i18n::to_prague(app.now()).date())
        .0
        .to_string();
    let response = client
        .post_form(
            &format!("{dashboard}/fees/schedules/new"),
            &[
                ("name", "Oddílový příspěvek"),
                ("amount", "300"),
                ("period", "month"),
                ("due_day", "28"),
                ("grace_days", "3"),
                ("applies_to", "everyone"),
                ("starts_on", &first),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    crate::consent::connect(&app, &client, &dashboard).await;
    let (kb_account,): (String,) = sqlx::query_as("SELECT kb_account_id FROM app.bank_accounts")
        .fetch_one(&app.pool)
        .await
        .expect("acc");
    let sandbox = app.sandbox.clone().expect("sandbox");
    let send = |body: serde_json::Value| {
        let url = format!("{}/control/payments", sandbox.browser_base_url);
        let mut body = body;
        body["account"] = serde_json::json!(kb_account);
        async move { reqwest::Client::new().post(url).json(&body).send().await }
    };

    let b = browser().await;
    let c = &b.client;
    journey("fees", &b, async {
        c.goto(&app.url("/login")).await?;
        fill(c, "#email", "pokladni@oddil.cz").await?;
        fill(c, "#password", PASSWORD).await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        expect_text(c, "Příspěvky tento měsíc").await?;
        c.goto(&app.url(&format!("{dashboard}/fees"))).await?;
        expect_text(c, "Jana Nová").await?;
        // Jana pays with her VS at the bank: her row turns paid on the open page.
        send(
            serde_json::json!({"amount_minor": 30_000, "vs": "2026001", "payer_name": "Jana Nová",
                                "payer_account": "19-2000145399/0800"}),
        )
        .await?;
        let mut paid = false;
        for _ in 0..100 {
            // Jana's row (the only member who paid) carries the "paid" status.
            if page_text(c).await?.contains("class=\"status-paid\"") {
                paid = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !paid {
            return Err("Jana never turned paid on the open overview".into());
        }
        // A payment without a known VS: the queue suggests Petr by name; assign, then undo.
        send(
            serde_json::json!({"amount_minor": 30_000, "vs": "4444", "payer_name": "Petr Svoboda",
                                "message": "prispevek", "payer_account": "2400123456/2010"}),
        )
        .await?;
        c.goto(&app.url(&format!("{dashboard}/payments"))).await?;
        expect_text(c, "neidentifikovaná").await?;
        c.find(Locator::Css(".queue-item .suggestions button"))
            .await?
            .click()
            .await?;
        expect_text(c, "Platba je přiřazena.").await?;
        expect_text(c, "přiřazeno ručně").await?;
        c.find(Locator::Css("#recent form[action$='/undo'] button"))
            .await?
            .click()
            .await?;
        expect_text(c, "Vráceno zpět.").await?;
        expect_text(c, "neidentifikovaná").await?;
        Ok(())
    })
    .await;
    let _ = b.client.clone().close().await;
}
