//! `TestApp`: the real bootstrap (`Kasa::new` + `serve`) on port 0 against a fresh database.
//!
//! Databases come from one private PostgreSQL cluster per test run (started from the system's
//! binaries in a temporary directory, stopped and removed when the test process exits), or from
//! the server in `DATABASE_URL` when that is set. Each test gets its own database, cloned from a
//! migrated template, so tests never share rows.

use kasa::app::{Kasa, KbConnection};
use kasa::clock::{Clock, ManualClock, SharedClock};
use kasa::config::Config;
use kasa::db::embedded::{ClusterOptions, EmbeddedCluster};
use kb_sandbox::{KbSandbox, SandboxConfig};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

const TEMPLATE: &str = "kasa_test_template";

struct Server {
    admin: PgConnectOptions,
    _cluster: Option<EmbeddedCluster>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(start_server())
        })
        .join()
        .expect("starting the test database server panicked")
    })
}

async fn start_server() -> Server {
    let (admin, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => (
            PgConnectOptions::from_str(&url).expect("DATABASE_URL"),
            None,
        ),
        _ => {
            let dir = std::env::temp_dir().join(format!("kasa-test-pg-{}", std::process::id()));
            let options = ClusterOptions {
                settings: [
                    ("fsync", "off"),
                    ("synchronous_commit", "off"),
                    ("full_page_writes", "off"),
                    ("max_connections", "400"),
                    ("shared_buffers", "128MB"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                watchdog: true,
                remove_on_exit: true,
            };
            let cluster = EmbeddedCluster::start(&dir, &options)
                .unwrap_or_else(|e| panic!("cannot start the test PostgreSQL cluster: {e}"));
            (cluster.connect_options("postgres"), Some(cluster))
        }
    };
    // A migrated template every test database is cloned from.
    let mut conn = PgConnection::connect_with(&admin)
        .await
        .expect("connect to the test server");
    conn.execute(format!("DROP DATABASE IF EXISTS {TEMPLATE}").as_str())
        .await
        .expect("drop template");
    conn.execute(format!("CREATE DATABASE {TEMPLATE}").as_str())
        .await
        .expect("create template");
    conn.close().await.ok();
    kasa::app::migrate(&admin.clone().database(TEMPLATE))
        .await
        .expect("migrate template");
    Server {
        admin,
        _cluster: cluster,
    }
}

/// A fresh database cloned from the template.
pub async fn fresh_database() -> PgConnectOptions {
    let server = server();
    let name = format!("kasa_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect_with(&server.admin)
        .await
        .expect("connect");
    conn.execute(format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}").as_str())
        .await
        .expect("create test database");
    conn.close().await.ok();
    server.admin.clone().database(&name)
}

pub struct TestApp {
    /// What the application's workers share (pool, mailer, consent service, …), for tests that
    /// call domain code or step a worker.
    pub state: Option<kasa::app::WorkerDeps>,
    /// The built-in KB sandbox, for tests that started one.
    pub sandbox: Option<Arc<kb_sandbox::SandboxHandle>>,
    pub base: String,
    pub pool: PgPool,
    pub clock: ManualClock,
    pub db: PgConnectOptions,
    /// `http://host:port` of the metrics listener, when the test configured one.
    pub metrics: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with a tweaked configuration (e.g. an SMTP server). KB is configured (production
    /// URLs, no keys) but never called.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let kb = KbConnection {
            settings: kasa::bank::KbSettings::production(Default::default(), None),
            sandbox: None,
        };
        Self::spawn_full(tweak, kb).await
    }

    /// Spawns together with a built-in KB sandbox (its own temporary data directory, free ports).
    pub async fn spawn_with_sandbox(tweak: impl FnOnce(&mut SandboxConfig)) -> TestApp {
        Self::spawn_with_sandbox_and(tweak, |_| {}).await
    }

    /// The same, with a tweak of Kasa's configuration too (e.g. the background sync worker).
    pub async fn spawn_with_sandbox_and(
        tweak: impl FnOnce(&mut SandboxConfig),
        tweak_kasa: impl FnOnce(&mut Config),
    ) -> TestApp {
        let dir = scratch_dir("sandbox");
        let mut config = SandboxConfig::new(dir);
        config.events.min_interval = std::time::Duration::from_millis(200);
        tweak(&mut config);
        let sandbox = KbSandbox::start(config)
            .await
            .expect("start the KB sandbox");
        let kb = KbConnection {
            settings: kasa::app::sandbox_client_settings(&sandbox),
            sandbox: Some(sandbox),
        };
        Self::spawn_full(tweak_kasa, kb).await
    }

    async fn spawn_full(tweak: impl FnOnce(&mut Config), kb: KbConnection) -> TestApp {
        Self::spawn_on(fresh_database().await, ManualClock::new(), tweak, kb).await
    }

    /// A second Kasa process on this one's database and clock (no KB configured): for what one
    /// process must learn from another.
    pub async fn spawn_sibling(&self) -> TestApp {
        let kb = KbConnection {
            settings: kasa::bank::KbSettings::production(Default::default(), None),
            sandbox: None,
        };
        Self::spawn_on(self.db.clone(), self.clock.clone(), |_| {}, kb).await
    }

    async fn spawn_on(
        db: PgConnectOptions,
        clock: ManualClock,
        tweak: impl FnOnce(&mut Config),
        kb: KbConnection,
    ) -> TestApp {
        let mut config = Config::local_default();
        config.db_max_connections = 8;
        config.vault = kasa::config::VaultSetting::Ephemeral;
        // Tests step the sync themselves unless they ask for the background worker.
        config.run_sync_worker = false;
        // Every club is provisioned inline unless a test asks for spares (tests/it/spares.rs).
        config.spare_schemas = 0;
        tweak(&mut config);
        let shared: SharedClock = Arc::new(clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let kasa = Kasa::new(&config, db.clone(), shared, addr, &kb)
            .await
            .expect("bootstrap");
        let pool = kasa.state.pool.clone();
        let state = kasa.workers.deps.clone();
        let metrics = kasa.metrics_addr().map(|a| format!("http://{a}"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = kasa
                .serve(listener, async move {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            state: Some(state),
            sandbox: kb.sandbox.map(Arc::new),
            base: format!("http://{addr}"),
            pool,
            clock,
            db,
            metrics,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A browser-like HTTP client with its own cookie jar that does not follow redirects.
    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: self.base.clone(),
        }
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Bodies of the e-mails queued for `to`, oldest first.
    pub async fn mails_to(&self, to: &str) -> Vec<(String, String)> {
        sqlx::query_as("SELECT subject, body_text FROM app.outbox WHERE recipient = $1 ORDER BY id")
            .bind(to)
            .fetch_all(&self.pool)
            .await
            .expect("outbox")
    }

    /// Waits (up to 10 s) until at least `n` e-mails to `to` are queued (some are queued after
    /// the page answered, e.g. password resets), and returns them.
    pub async fn wait_for_mails(&self, to: &str, n: usize) -> Vec<(String, String)> {
        for _ in 0..200 {
            let mails = self.mails_to(to).await;
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} mails to {to}");
    }

    /// The first link to this Kasa in the newest e-mail to `to`, as a path with query.
    pub async fn last_link_to(&self, to: &str) -> String {
        let mails = self.mails_to(to).await;
        let (_, body) = mails.last().unwrap_or_else(|| panic!("no mail to {to}"));
        let link = body
            .split_whitespace()
            .find(|w| w.starts_with(&self.base))
            .unwrap_or_else(|| panic!("no link in mail: {body}"));
        link[self.base.len()..].to_owned()
    }

    /// The idle expiry of the session written last (`app.sessions.expiry_date`): it moves only
    /// when a request writes its session back.
    pub async fn newest_session_expiry(&self) -> time::OffsetDateTime {
        let (at,): (time::OffsetDateTime,) = sqlx::query_as(
            "SELECT expiry_date FROM app.sessions ORDER BY expiry_date DESC LIMIT 1",
        )
        .fetch_one(&self.pool)
        .await
        .expect("session");
        at
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.pool).await.expect(sql);
        n
    }

    /// The page at `path` as a new browser asking for English (`Accept-Language: en-GB`) gets it.
    pub async fn get_in_english(&self, path: &str) -> String {
        self.client()
            .http
            .get(self.url(path))
            .header("accept-language", "en-GB,en;q=0.8")
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body")
    }

    /// A fresh app ([`TestApp::spawn`]) with one club, `club` (IČO [`ICO_A`]), signed up through
    /// the form by `email`: the app, that person's (signed-in) client and the dashboard path.
    pub async fn spawn_with_club(club: &str, email: &str) -> (TestApp, Client, String) {
        let app = TestApp::spawn().await;
        let client = app.client();
        let dashboard = app.sign_up(&client, club, ICO_A, email).await;
        (app, client, dashboard)
    }

    /// Signs up a club through the form and returns its dashboard path (`/t/<key>`).
    pub async fn sign_up(&self, client: &Client, club: &str, ico: &str, email: &str) -> String {
        let response = client
            .post_form(
                "/signup",
                &[
                    ("club_name", club),
                    ("ico", ico),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            303,
            "sign-up failed: {}",
            response.text().await.unwrap_or_default()
        );
        location(&response)
    }

    /// The club whose dashboard is at `dashboard` (`/t/{key}`).
    pub async fn tenant(&self, dashboard: &str) -> kasa::db::tenant::Tenant {
        let key = kasa::db::tenant::TenantKey::parse(dashboard.trim_start_matches("/t/"))
            .expect("club key");
        kasa::db::tenant::Tenant::load(&self.pool, key.id().expect("club id"))
            .await
            .expect("load club")
            .expect("club")
    }

    /// `owner` invites `email` to the club at `dashboard` with `role` through the team page;
    /// the link mailed to the invited address and its token.
    pub async fn invite(
        &self,
        owner: &Client,
        dashboard: &str,
        email: &str,
        role: &str,
    ) -> (String, String) {
        owner
            .post_form(
                &format!("{dashboard}/team/invite"),
                &[("email", email), ("role", role)],
            )
            .await;
        let link = self.last_link_to(email).await;
        let token = link.trim_start_matches("/invitation?token=").to_owned();
        (link, token)
    }

    /// A teammate of the club at `dashboard`: `inviter` invites `email` with `role` and the
    /// invitation is accepted in a new client (with a new password), which is returned signed
    /// in.
    pub async fn teammate(
        &self,
        inviter: &Client,
        dashboard: &str,
        email: &str,
        role: &str,
    ) -> Client {
        let (_, token) = self.invite(inviter, dashboard, email, role).await;
        let client = self.client();
        let password = "Spoluhráč má dlouhé heslo 1";
        let response = client
            .post_form("/invitation", &[("token", &token), ("password", password)])
            .await;
        assert_eq!(response.status(), 303, "{email} joined");
        client
    }

    /// Signs up and confirms the e-mail through the link in the mail.
    pub async fn sign_up_confirmed(
        &self,
        client: &Client,
        club: &str,
        ico: &str,
        email: &str,
    ) -> String {
        let dashboard = self.sign_up(client, club, ico, email).await;
        let link = self.last_link_to(email).await;
        assert_eq!(client.get(&link).await.status(), 200);
        dashboard
    }
}

/// Steps `worker` until no bank account's sync is due at the app's clock, and returns how many
/// syncs ran. One idle round does not prove the due syncs ran: a round skips a job that a KB
/// notification arriving at that moment holds locked (the claim's `SKIP LOCKED`, as it should
/// in production, where the notification also wakes the worker). Panics when a job stays due
/// for seconds.
pub async fn sync_due(app: &TestApp, worker: &kasa::sync::Worker<kasa::consent::Consent>) -> usize {
    let mut ran = 0;
    for _ in 0..250 {
        ran += worker.run_until_idle(20).await.expect("sync round");
        let (due,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM app.sync_jobs WHERE enabled AND due_at <= $1")
                .bind(app.now())
                .fetch_one(&app.pool)
                .await
                .expect("due jobs");
        if due == 0 {
            return ran;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("a bank account's sync stayed due for five seconds");
}

/// Makes every bank account's sync due at the app's now (as if KB had notified them all) and
/// runs the worker as [`sync_due`] does; how many syncs ran.
pub async fn sync_all_now(
    app: &TestApp,
    worker: &kasa::sync::Worker<kasa::consent::Consent>,
) -> usize {
    sqlx::query("UPDATE app.sync_jobs SET due_at = $1")
        .bind(app.now())
        .execute(&app.pool)
        .await
        .expect("due");
    sync_due(app, worker).await
}

/// The one row `sql` returns in `tenant`'s schema (read in a tenant transaction).
pub async fn tenant_row<T>(app: &TestApp, tenant: &kasa::db::tenant::Tenant, sql: &str) -> T
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut tx = kasa::db::tenant::TenantTx::begin(&app.pool, tenant)
        .await
        .expect("begin");
    let row = sqlx::query_as(sql).fetch_one(&mut *tx).await.expect(sql);
    tx.commit().await.expect("commit");
    row
}

/// The real time (the KB sandbox's system clock sees it too). Tests read the wall clock only
/// through this (`clippy.toml` disallows reading it directly).
pub fn real_now() -> time::OffsetDateTime {
    kasa::clock::SystemClock.now()
}

/// A domestic CZK transaction on the test account (`CZ6501000000000123456789`) as KB lists it:
/// `fields` (top-level keys, such as `status`, `valueDate`, `counterParty`, `references`) laid
/// over its amount, `amount_minor` signed minor units written as KB writes them (a number with
/// two decimals, the sign as `creditDebitIndicator`); `reversal` sets `reversalIndicator`.
pub fn kb_transaction_of(
    amount_minor: i64,
    reversal: bool,
    fields: serde_json::Value,
) -> kasa::bank::wire::Transaction {
    let mut t = serde_json::json!({
        "accountType": "KB",
        "iban": "CZ6501000000000123456789",
        "creditDebitIndicator": if amount_minor < 0 { "DEBIT" } else { "CREDIT" },
        "transactionType": "DOMESTIC",
        "amount": { "value": 0, "currency": "CZK" },
    });
    if let (Some(t), Some(fields)) = (t.as_object_mut(), fields.as_object()) {
        t.extend(fields.clone());
    }
    if reversal {
        t["reversalIndicator"] = serde_json::json!(true);
    }
    let amount = kasa::bank::money::format_minor_units(amount_minor.abs(), 2);
    let text = t
        .to_string()
        .replace(r#""value":0"#, &format!(r#""value":{amount}"#));
    serde_json::from_str(&text).expect("transaction")
}

/// The password all test people use.
pub const PASSWORD: &str = "Kůň pije vodu u potoka";

/// Valid IČOs (checksum correct) for test clubs.
pub const ICO_A: &str = "45317054";
pub const ICO_B: &str = "00536245";

pub struct Client {
    pub http: reqwest::Client,
    base: String,
}

impl Client {
    /// The absolute URL of `path` on the app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("GET")
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{}", self.base, path))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    pub async fn post_text(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = self.post_form(path, form).await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    pub async fn log_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_form("/login", &[("email", email), ("password", password)])
            .await
    }

    /// The login form's answer (status and page) to `email` and `password`.
    pub async fn log_in_text(&self, email: &str, password: &str) -> (u16, String) {
        self.post_text("/login", &[("email", email), ("password", password)])
            .await
    }
}

/// Asserts that `page` contains every one of `texts` (naming the first one missing).
pub fn assert_contains_all(page: &str, texts: &[&str]) {
    for text in texts {
        assert!(page.contains(text), "{text}: {page}");
    }
}

/// GETs each of `paths` as each of `who` (a client and the status it must get): how routes
/// answer another club's people (404), a viewer (200 or 403) and so on.
pub async fn assert_gets(paths: &[String], who: &[(&Client, u16)]) {
    for path in paths {
        for (client, status) in who {
            assert_eq!(client.get(path).await.status(), *status, "GET {path}");
        }
    }
}

/// POSTs `form` to each of `paths` as each of `who` (a client and the status it must get).
pub async fn assert_posts(paths: &[String], form: &[(&str, &str)], who: &[(&Client, u16)]) {
    for path in paths {
        for (client, status) in who {
            let got = client.post_form(path, form).await.status();
            assert_eq!(got, *status, "POST {path}");
        }
    }
}

/// The `Location` header of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location header (status {})", response.status()))
        .to_owned()
}

impl TestApp {
    /// A `DATABASE_URL` for this test's database (for child processes such as `kasa worker`).
    pub fn database_url(&self) -> String {
        let db = self.db.get_database().unwrap_or("postgres");
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let mut url = url::Url::parse(&url).expect("DATABASE_URL");
                url.set_path(&format!("/{db}"));
                url.to_string()
            }
            _ => {
                let socket = self.db.get_socket().expect("socket").display().to_string();
                let host: String =
                    url::form_urlencoded::byte_serialize(socket.as_bytes()).collect();
                format!(
                    "postgres://{}@localhost/{db}?host={host}",
                    self.db.get_username()
                )
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures written through the domain functions (never SQL that mirrors them)
// ---------------------------------------------------------------------------------------------

/// A club and its owner, created by `club::sign_up` as the sign-up form creates them.
pub async fn signed_up_club(
    pool: &PgPool,
    club: &str,
    ico: &str,
    email: &str,
    now: time::OffsetDateTime,
) -> kasa::club::SignedUp {
    let input = kasa::club::SignUp {
        club: kasa::club::ClubName::parse(club).expect("club name"),
        ico: kasa::club::Ico::parse(ico).expect("IČO"),
        email: kasa::auth::Email::parse(email).expect("e-mail"),
        password: kasa::auth::password::NewPassword::parse(PASSWORD, Some(email))
            .expect("password"),
        lang: kasa::i18n::Lang::default(),
        client: None,
    };
    let links = kasa::mail::Links::new(url::Url::parse("http://localhost/").expect("url"));
    let mailer = kasa::mail::Mailer::new(pool.clone(), links);
    kasa::club::sign_up(&mailer, input, now)
        .await
        .expect("sign-up")
}

/// The club's bank connection `id` as the consent journey stores it
/// (`consent::store::save_tokens`: active, granted at `now`, expiring 12 months later), connected
/// by `user`; the same `id` again is a renewal. Its ciphertexts are placeholders: for tests that
/// never open them (the sync's tests bring their own tokens, reminders need none).
pub async fn bank_connection(
    pool: &PgPool,
    tenant: &kasa::db::tenant::Tenant,
    id: uuid::Uuid,
    user: kasa::auth::UserId,
    now: time::OffsetDateTime,
) {
    let mut conn = pool.acquire().await.expect("connection");
    kasa::consent::store::save_tokens(
        &mut conn,
        id,
        tenant.id(),
        "fixture-client",
        "sealed:client-secret",
        "sealed:refresh-token",
        "sealed:access-token",
        now + time::Duration::minutes(3),
        now,
        now + kasa::consent::CONSENT_LIFETIME,
        user.into(),
    )
    .await
    .expect("bank connection");
}

/// An account the connection exposes, recorded as the consent journey records it (control
/// plane and the club's schema, `consent::store::insert_account`), with its sync job due at
/// `now` (`sync::jobs::enqueue`). Returns the account's id.
pub async fn bank_account(
    pool: &PgPool,
    tenant: &kasa::db::tenant::Tenant,
    connection: uuid::Uuid,
    kb_account_id: &str,
    iban: &str,
    now: time::OffsetDateTime,
) -> uuid::Uuid {
    let mut tx = kasa::db::tenant::TenantTx::begin(pool, tenant)
        .await
        .expect("tenant tx");
    let id = kasa::consent::store::insert_account(
        &mut tx,
        uuid::Uuid::now_v7(),
        connection,
        kb_account_id,
        iban,
        "CZK",
        Some("Běžný účet"),
        now,
    )
    .await
    .expect("bank account");
    kasa::sync::jobs::enqueue(&mut tx, id, tenant.id(), now)
        .await
        .expect("sync job");
    tx.commit().await.expect("commit");
    id
}

/// The KB sandbox's ledger as its API lists it now (`GET /control/ledger`: every row in its
/// latest state, oldest first, as KB's transaction JSON) of `account`, or of the sandbox's
/// first account when `None`.
pub async fn sandbox_ledger(
    sandbox: &kb_sandbox::SandboxHandle,
    account: Option<&str>,
) -> Vec<serde_json::Value> {
    let query = account.map(|a| format!("?account={a}")).unwrap_or_default();
    reqwest::get(format!(
        "{}/control/ledger{query}",
        sandbox.browser_base_url
    ))
    .await
    .expect("ledger")
    .json()
    .await
    .expect("ledger rows")
}

/// A fresh path for one test's files (a sandbox's state, a browser profile): under one directory
/// per test process, which a watchdog deletes when the process ends, however it ends (as the
/// test PostgreSQL cluster's watchdog does), after ending any process still using it (a
/// browser whose test panicked).
pub fn scratch_dir(kind: &str) -> std::path::PathBuf {
    static ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("kasa-test-scratch-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("scratch directory");
        // The script never spells out the whole path, so `pkill -f` cannot match the
        // watchdog itself.
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             d='{parent}/kasa-test-scratch'; d=\"$d-{pid}\"; \
             pkill -KILL -f \"$d/\"; sleep 1; rm -rf \"$d\"",
            pid = std::process::id(),
            parent = root.parent().expect("temp directory").display()
        );
        use std::os::unix::process::CommandExt;
        #[expect(
            clippy::zombie_processes,
            reason = "the watchdog outlives this process by design"
        )]
        let _watchdog = std::process::Command::new("sh")
            .args(["-c", &script])
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("scratch watchdog");
        root
    });
    root.join(format!("{kind}-{}", uuid::Uuid::new_v4().simple()))
}
