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

pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
}

impl Drop for Browser {
    /// Ends ChromeDriver and the Chromium it started: the driver leads its own process group
    /// (Chromium's processes join it), and killing only the driver left Chromium running.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
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

pub(crate) async fn browser() -> Browser {
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
    use std::os::unix::process::CommandExt;
    let driver = Command::new(chromedriver)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = crate::helpers::scratch_dir("chromium");
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

pub(crate) type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Runs a journey; on failure saves a screenshot and the page source, then fails the test.
pub(crate) async fn journey<F>(name: &str, browser: &Browser, steps: F)
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

/// Whether the page replaced the element between finding it and using it (a live section
/// re-rendered after a change it heard, or the next page loading): found again then.
fn is_stale(error: &fantoccini::error::CmdError) -> bool {
    error.to_string().contains("stale element")
}

/// Tries to find the element and use it up to 20 times while the page keeps replacing it.
async fn with_element<F, Fut>(c: &Client, locator: Locator<'_>, mut act: F) -> Outcome
where
    F: FnMut(fantoccini::elements::Element) -> Fut,
    Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
{
    for _ in 0..20 {
        let element = c
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(locator)
            .await?;
        match act(element).await {
            Err(error) if is_stale(&error) => tokio::time::sleep(Duration::from_millis(100)).await,
            done => return Ok(done?),
        }
    }
    Err(format!("{locator:?} kept being replaced").into())
}

pub(crate) async fn fill(c: &Client, css: &str, text: &str) -> Outcome {
    with_element(c, Locator::Css(css), |field| async move {
        field.clear().await?;
        field.send_keys(text).await
    })
    .await
}

async fn page_text(c: &Client) -> Result<String, fantoccini::error::CmdError> {
    c.source().await
}

/// Waits up to 15 s for `text` on the page (live updates come from a background sync, which a
/// loaded CI machine may take seconds to run; a page that shows it sooner returns at once).
pub(crate) async fn expect_text(c: &Client, text: &str) -> Outcome {
    expect_text_within(c, text, 15).await
}

/// [`expect_text`] for what comes through the bank (a sandbox payment: notification, sync,
/// matching, then the open page's live update), which on a loaded machine takes longer.
pub(crate) async fn expect_text_within(c: &Client, text: &str, seconds: u64) -> Outcome {
    for _ in 0..seconds * 10 {
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

/// Clicks `css`, waiting up to 15 s for it to be there: after a form is sent, the next page
/// may still be on its way (and the page before may show the same text). Found again when the
/// page replaces it before the click lands.
pub(crate) async fn click(c: &Client, css: &str) -> Outcome {
    with_element(c, Locator::Css(css), |element| async move {
        element.click().await
    })
    .await
}

async fn click_link(c: &Client, text: &str) -> Outcome {
    with_element(c, Locator::LinkText(text), |link| async move {
        link.click().await
    })
    .await
}

/// Fills the sign-up form and submits it.
async fn submit_signup(c: &Client, club: &str, ico: &str, email: &str, password: &str) -> Outcome {
    fill(c, "#club_name", club).await?;
    fill(c, "#ico", ico).await?;
    fill(c, "#email", email).await?;
    fill(c, "#password", password).await?;
    click(c, "form button[type=submit]").await
}

/// From the page after sign-up: the local mailbox, the confirmation link, on to the dashboard.
async fn confirm_email(c: &Client, email: &str) -> Outcome {
    click_link(c, "Místní schránka e-mailů").await?;
    expect_text(c, email).await?;
    click(c, "a.mail-link").await?;
    expect_text(c, "E-mail je potvrzený").await?;
    click_link(c, "Pokračovat").await?;
    expect_text(c, "Připojte účet u Komerční banky").await
}

/// On the login form: signs in with [`PASSWORD`].
pub(crate) async fn log_in(c: &Client, email: &str) -> Outcome {
    fill(c, "#email", email).await?;
    fill(c, "#password", PASSWORD).await?;
    click(c, "form button[type=submit]").await
}

/// On the dashboard: connects the KB account through the sandbox's screens (the password
/// again, log in at KB, keep the offered accounts, agree).
async fn connect_kb(c: &Client) -> Outcome {
    fill(c, "#connect-password", PASSWORD).await?;
    click(c, "#connect-form button").await?;
    expect_text(c, "Přihlásit").await?;
    click(c, "form button[type=submit]").await?;
    expect_text(c, "Výběr účtů").await?;
    click(c, "form button[type=submit]").await?;
    expect_text(c, "Souhlasím").await?;
    click(c, "button[value=approve]").await?;
    expect_text(c, "Účet je připojený").await
}

/// On the sandbox's control page: fills the "send a payment" form (`name`, value; other fields
/// keep the page's defaults), sends it to the first account and waits for the sandbox's answer.
async fn send_from_sandbox_page(c: &Client, fields: &[(&str, &str)]) -> Outcome {
    c.execute("document.getElementById('out').textContent = '';", vec![])
        .await?;
    for (name, value) in fields {
        fill(c, &format!("#pay input[name={name}]"), value).await?;
    }
    click(c, "#pay button").await?;
    for _ in 0..50 {
        if c.find(Locator::Css("#out"))
            .await?
            .text()
            .await?
            .contains("accountId")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the sandbox never answered the payment".into())
}

#[tokio::test]
async fn a_treasurer_signs_up_confirms_the_email_and_invites_a_colleague_in_the_browser() {
    let app = TestApp::spawn().await;
    let b = browser().await;
    let c = &b.client;
    journey("signup", &b, async {
        c.goto(&app.url("/")).await?;
        expect_text(c, "Kdo zaplatil příspěvek?").await?;
        click_link(c, "Zaregistrovat spolek zdarma").await?;
        // A mistake first: the form comes back with the message and the typed values.
        let password = "Kůň úpěl ďábelské ódy";
        submit_signup(
            c,
            "Oddíl Žluťoučký kůň",
            "12345678",
            "pokladni@kun.cz",
            password,
        )
        .await?;
        expect_text(c, "IČO musí mít 8 číslic").await?;
        submit_signup(c, "Oddíl Žluťoučký kůň", ICO_A, "pokladni@kun.cz", password).await?;
        expect_text(c, "Spolek je zaregistrovaný").await?;
        expect_text(c, "Potvrďte svůj e-mail").await?;

        // The local mailbox has the confirmation link.
        confirm_email(c, "pokladni@kun.cz").await?;

        // Invite a co-treasurer.
        click(c, ".club-nav a[href$='/team']").await?;
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
        click_link(c, "Simulátor KB (sandbox)").await?;
        expect_text(c, "Poslat platbu").await?;
        send_from_sandbox_page(
            c,
            &[
                ("amount", "1234.50"),
                ("vs", "7700123"),
                ("payer_name", "Květa Šťastná"),
            ],
        )
        .await?;
        expect_text(c, "7700123").await?;
        Ok(())
    })
    .await;
    assert!(
        sandbox_ledger(&sandbox, None)
            .await
            .iter()
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
        log_in(c, "volejbal@lhotka.cz").await?;
        expect_text(c, "Připojte účet u Komerční banky").await?;
        // Connect: the password again, then KB's two screens.
        connect_kb(c).await?;
        expect_text(c, "Souhlas s přístupem k účtu platí do").await?;
        // The history arrives by itself: open the account, wait for balances and transactions.
        click(c, "#bank .club-list a").await?;
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
    let dir = crate::helpers::scratch_dir("upload");
    std::fs::create_dir_all(&dir).expect("upload directory");
    let file = dir.join("clenove.csv");
    std::fs::write(&file, &bytes).expect("write the list");
    let b = browser().await;
    let c = &b.client;
    journey("member-import", &b, async {
        c.goto(&app.url(&dashboard)).await?;
        log_in(c, "pokladni@orlice.cz").await?;
        click(c, ".club-nav a[href$='/members']").await?;
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
        // A date never wraps: the page source writes its non-breaking spaces as `&nbsp;`.
        expect_text(c, "1.&nbsp;2.&nbsp;2010").await?;
        Ok(())
    })
    .await;
    let _ = std::fs::remove_file(&file);
    let _ = b.client.clone().close().await;
}

/// One member's row of the open fee overview, as the page shows it now.
#[derive(Debug, Clone)]
struct OverviewRow {
    member: String,
    name: String,
    vs: String,
    status: String,
}

async fn overview_rows(c: &Client) -> Result<Vec<OverviewRow>, fantoccini::error::CmdError> {
    let rows = c
        .execute(
            "return Array.from(document.querySelectorAll('#overview tbody tr')).map(r => \
               [r.dataset.member, r.querySelector('td a').textContent, \
                r.querySelector('td.vs').textContent, r.className]);",
            vec![],
        )
        .await?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().trim().to_owned();
    Ok(rows
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| OverviewRow {
            member: text(&r[0]),
            name: text(&r[1]),
            vs: text(&r[2]),
            status: text(&r[3]),
        })
        .collect())
}

/// Assigns the queue item showing `message` to `name` (see [`assign_in_queue_once`]), again
/// when a live update replaced the queue between finding an item and using it.
async fn assign_in_queue(c: &Client, message: &str, name: &str) -> Outcome {
    let mut tries = 0;
    loop {
        match assign_in_queue_once(c, message, name).await {
            Err(e) if tries < 5 && e.to_string().contains("stale element") => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            done => return done,
        }
    }
}

/// The page is no wider than the window (a phone's 390 px): nothing scrolls sideways.
async fn no_horizontal_overflow(c: &Client) -> Outcome {
    let widths = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await?;
    let pair: Vec<i64> = serde_json::from_value(widths)?;
    match pair[..] {
        [scroll, inner] if scroll <= inner => Ok(()),
        _ => Err(format!("the page is wider than the window: {pair:?}").into()),
    }
}

/// Assigns the queue item showing `message` to `name`: the suggestion naming them if there is
/// one (one click), else the other-member control by their visible name.
async fn assign_in_queue_once(c: &Client, message: &str, name: &str) -> Outcome {
    for item in c.find_all(Locator::Css(".queue-item")).await? {
        if !item.text().await?.contains(message) {
            continue;
        }
        for button in item.find_all(Locator::Css(".suggestions button")).await? {
            if button.text().await?.contains(name) {
                return Ok(button.click().await?);
            }
        }
        let forms = item
            .find_all(Locator::Css("form[action$='/assign']"))
            .await?;
        let other = forms.last().ok_or("the queue item has no assign form")?;
        if let Ok(select) = other.find(Locator::Css("select")).await {
            for option in select.find_all(Locator::Css("option")).await? {
                if option.text().await?.starts_with(name) {
                    option.click().await?;
                }
            }
        } else {
            let input = other.find(Locator::Css("input[list]")).await?;
            input.send_keys(name).await?;
        }
        return Ok(other
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?);
    }
    Err(format!("no queue item shows {message:?}").into())
}

#[tokio::test]
async fn a_newcomer_imports_the_demo_members_connects_the_sandbox_sees_a_payment_turn_paid_without_reload_and_fixes_the_queue()
 {
    let app = TestApp::spawn_with_sandbox_and(|_| {}, |c| c.run_sync_worker = true).await;
    let b = browser().await;
    let c = &b.client;
    let email = "pokladni@sokol-dolni.cz";
    journey("newcomer-fees", &b, async {
        // Sign up from the home page and confirm the e-mail.
        c.goto(&app.url("/")).await?;
        click_link(c, "Zaregistrovat spolek zdarma").await?;
        submit_signup(c, "TJ Sokol Horní Dolní", ICO_A, email, PASSWORD).await?;
        expect_text(c, "Spolek je zaregistrovaný").await?;
        confirm_email(c, email).await?;

        // The demo member list: preview, the mapping step as guessed, confirm.
        click(c, ".club-nav a[href$='/members']").await?;
        expect_text(c, "Zatím tu nejsou žádní členové").await?;
        click(c, "#load-demo").await?;
        expect_text(c, "Náhled importu").await?;
        expect_text(c, "200 nových členů").await?;
        click(c, "form[action$='/mapping'] button").await?;
        expect_text(c, "200 nových členů").await?;
        click(c, "#confirm-import").await?;
        expect_text(c, "Import je hotový").await?;
        expect_text(c, "200 členů").await?;

        // The sandbox's KB account.
        click_link(c, "Přehled").await?;
        connect_kb(c).await?;

        // A yearly fee through the form (the other fields as the form offers them): payments
        // count from 1 January, so this year's fee payments in the sandbox's history settle it.
        click(c, ".club-nav a[href$='/fees']").await?;
        expect_text(c, "Zatím nemáte žádný předpis příspěvků").await?;
        click_link(c, "Nový předpis").await?;
        fill(c, "#name", "Členský příspěvek").await?;
        fill(c, "#amount", "2400").await?;
        click(c, "#period option[value=year]").await?;
        click(c, "#schedule-form button[type=submit]").await?;
        expect_text(c, "Předpis je uložen").await?;

        // The overview: who has paid, once the history is synced and matched.
        click(c, ".club-nav a[href$='/fees']").await?;
        expect_text(c, "Přehled příspěvků").await?;
        expect_text(c, "Předepsáno").await?;
        let mut rows = Vec::new();
        for _ in 0..100 {
            rows = overview_rows(c).await?;
            if rows.iter().any(|r| r.status.contains("paid")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !rows.iter().any(|r| r.status.contains("paid")) {
            return Err(format!("nobody shows as paid after the first sync: {rows:?}").into());
        }
        let mut unpaid = rows
            .iter()
            .filter(|r| r.status == "status-owes" || r.status == "status-not_yet_due");
        let (first, second) = match (unpaid.next(), unpaid.next()) {
            (Some(a), Some(b)) => (a.clone(), b.clone()),
            _ => return Err(format!("fewer than two unpaid members: {rows:?}").into()),
        };

        // A second window: the sandbox's control page (the link in Kasa's footer). The first
        // member pays with their VS.
        let sandbox = c
            .find(Locator::LinkText("Simulátor KB (sandbox)"))
            .await?
            .attr("href")
            .await?
            .ok_or("the footer has no sandbox link")?;
        c.execute("window.kasaNotReloaded = true;", vec![]).await?;
        let overview_tab = c.window().await?;
        let sandbox_tab = c.new_window(false).await?.handle;
        c.switch_to_window(sandbox_tab.clone()).await?;
        c.goto(&sandbox).await?;
        expect_text(c, "Poslat platbu").await?;
        send_from_sandbox_page(
            c,
            &[
                ("amount", "2400"),
                ("vs", &first.vs),
                ("payer_name", &first.name),
            ],
        )
        .await?;

        // The open overview shows them paid by itself, without a reload.
        c.switch_to_window(overview_tab.clone()).await?;
        let mut paid = false;
        for _ in 0..600 {
            let rows = overview_rows(c).await?;
            if rows
                .iter()
                .any(|r| r.member == first.member && r.status == "status-paid")
            {
                paid = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !paid {
            return Err(format!("{} never turned paid on the open overview", first.name).into());
        }
        let same_page = c
            .execute("return window.kasaNotReloaded === true;", vec![])
            .await?;
        if same_page != serde_json::Value::Bool(true) {
            return Err("the overview was reloaded".into());
        }
        // Screen readers hear that the page changed (a polite live region).
        let mut announced = String::new();
        for _ in 0..20 {
            announced = c
                .execute(
                    "return document.getElementById('live-status').textContent;",
                    vec![],
                )
                .await?
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !announced.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !announced.contains("aktualizovaly") {
            return Err(format!("the update was not announced: {announced:?}").into());
        }

        // A payment without a VS lands in the queue; assign it to the second member, undo.
        c.switch_to_window(sandbox_tab).await?;
        let message = "Příspěvek za sourozence";
        send_from_sandbox_page(
            c,
            &[
                ("amount", "500"),
                ("vs", ""),
                ("message", message),
                ("payer_name", &second.name),
            ],
        )
        .await?;
        c.switch_to_window(overview_tab).await?;
        click(c, ".club-nav a[href$='/payments']").await?;
        expect_text(c, "Nepřiřazené platby").await?;
        expect_text_within(c, message, 60).await?;
        expect_text(c, "neidentifikovaná").await?;
        assign_in_queue(c, message, &second.name).await?;
        expect_text(c, "Platba je přiřazena.").await?;
        expect_text(c, "přiřazeno ručně").await?;
        click(c, "#recent form[action$='/undo'] button").await?;
        expect_text(c, "Vráceno zpět.").await?;
        let queue = c.find(Locator::Css("#queue")).await?.text().await?;
        if !queue.contains(message) {
            return Err(format!("the payment is not back in the queue: {queue}").into());
        }
        Ok(())
    })
    .await;
    let _ = b.client.clone().close().await;
}

#[tokio::test]
async fn a_treasurer_issues_a_members_link_and_the_member_sees_the_amount_and_the_qr_code_in_a_fresh_browser()
 {
    let app = TestApp::spawn_with_sandbox(|c| c.seed.transactions_per_account = 0).await;
    let (client, dashboard) =
        crate::consent::confirmed_club(&app, "pokladna@sokol.cz", ICO_A).await;
    let tenant = crate::fees::tenant_of(&app, &dashboard).await;
    let jana =
        crate::fees::add_member(&app, &tenant, "Jana Nováková", "2026001", "2010-01-01").await;
    crate::fees::monthly_schedule(&client, &dashboard, &crate::fees::month_start(&app, 0)).await;
    crate::pay_page::connected(&app, &client, &dashboard).await;

    let treasurer = browser().await;
    let c = &treasurer.client;
    let mut link = String::new();
    journey("pay_link_issue", &treasurer, async {
        c.goto(&app.url(&format!("{dashboard}/members/{jana}")))
            .await?;
        fill(c, "#email", "pokladna@sokol.cz").await?;
        fill(c, "#password", PASSWORD).await?;
        click(c, "form button[type=submit]").await?;
        expect_text(c, "Stránka člena s platbou").await?;
        click(c, "#pay-link-issue").await?;
        expect_text(c, "Nový odkaz").await?;
        link = c
            .find(Locator::Css("#pay-link-url"))
            .await?
            .prop("value")
            .await?
            .ok_or("no link")?;
        // The copy button appears with its script (CSP: no inline script).
        if !c
            .find(Locator::Css("#pay-link-copy"))
            .await?
            .is_displayed()
            .await?
        {
            return Err("no copy button".into());
        }
        // The board report on a phone: no row wider than the screen.
        c.set_window_size(390, 844).await?;
        c.goto(&app.url(&format!("{dashboard}/fees/report")))
            .await?;
        expect_text(c, "Celkem").await?;
        no_horizontal_overflow(c).await?;
        Ok(())
    })
    .await;
    let _ = treasurer.client.clone().close().await;

    // Another browser with its own profile: no session, no cookies.
    let member = browser().await;
    let c = &member.client;
    journey("pay_link_open", &member, async {
        c.goto(&link).await?;
        expect_text(c, "K úhradě").await?;
        let amount = c.find(Locator::Css("#pay-amount")).await?.text().await?;
        if amount != "500,00\u{a0}Kč" && amount != "500,00 Kč" {
            return Err(format!("amount shown: {amount:?}").into());
        }
        let qr = c.find(Locator::Css("#pay-qr svg")).await?;
        let (_, _, width, _) = qr.rectangle().await?;
        if width < 100.0 {
            return Err(format!("the QR code is {width} px wide").into());
        }
        let spayd = c
            .find(Locator::Css("#pay-qr"))
            .await?
            .attr("data-spayd")
            .await?
            .ok_or("no payment string")?;
        if !spayd.contains("*AM:500.00*") || !spayd.contains("*X-VS:2026001") {
            return Err(format!("payment string {spayd}").into());
        }
        if c.find(Locator::Css("form[action='/logout']")).await.is_ok() {
            return Err("the member's browser is signed in".into());
        }
        // On a phone every value carries its column's name and nothing overflows.
        c.set_window_size(390, 844).await?;
        c.refresh().await?;
        expect_text(c, "K úhradě").await?;
        no_horizontal_overflow(c).await?;
        let label = c
            .execute(
                "const td = document.querySelector('.pay-person td[data-label]'); \
                 return td ? getComputedStyle(td, '::before').content : '';",
                vec![],
            )
            .await?;
        if !label.as_str().unwrap_or("").contains("Za co") {
            return Err(format!("a value without its label on a phone: {label}").into());
        }
        Ok(())
    })
    .await;
    let _ = member.client.clone().close().await;
}
