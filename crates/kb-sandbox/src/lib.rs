//! KB sandbox: a stateful simulator of Komerční banka's side of the Account Direct Access API
//! (Client Registration, Application Registration pages, OAuth2, ADAA v1/v2, Event API caller),
//! so Kasa runs end to end without a bank. It is an independent implementation of KB's side and
//! depends on nothing of Kasa (Kasa depends on it). Handlers share one core, [`bank`], and never
//! call each other (`python3 .ci/module-cycles.py crates/kb-sandbox/src --strict` finds no
//! import loop).
//!
//! Start it with [`KbSandbox::start`]; it serves KB's APIs over HTTPS (own CA, optional client
//! certificates) and the browser pages plus `/control/*` over plain HTTP on 127.0.0.1.
//!
//! ```ignore
//! let mut cfg = SandboxConfig::new("data/kb-sandbox");
//! cfg.events.min_interval = std::time::Duration::from_secs(1);
//! let sandbox = KbSandbox::start(cfg).await?;
//! let urls = sandbox.production_endpoints(); // or sandbox_endpoints() for KB's sandbox quirks
//! // Trust sandbox.ca_cert_path, use sandbox.client_cert_path / client_key_path for Client
//! // Registration, sandbox.api_keys.production.{client_registration,oauth2,adaa} as `apiKey`.
//! // Browser pages and /control live at sandbox.browser_base_url.
//! sandbox.shutdown().await;
//! ```
//!
//! Path families: production-shaped paths (`/adaa/v2`, `/oauth2/v3/access_token`,
//! `/client-registration/v3/software-statements`, `/v3/software-statements`, `/autfe/ssologin`,
//! `/client-registration-ui/v2/saml/register`) behave as KB documents production; the
//! sandbox-shaped ones (`/sandbox/...`, as in KB's Postman collection) add the quirks enabled in
//! [`Quirks`].

pub mod adaa;
pub mod app_registration;
pub mod bank;
pub mod calendar;
pub mod config;
pub mod context;
pub mod control;
pub mod error;
pub mod events;
pub mod gateway;
pub mod generator;
pub mod html;
pub mod jws;
pub mod ledger;
pub mod oauth;
pub mod pdf;
pub mod pki;
pub mod registration;
pub mod scripted_user;
pub mod seed;
pub mod server;
pub mod state;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{
    ApiKeySet, Behaviour, Clock, EventSettings, FaultSettings, ManualClock, Quirks, SandboxConfig,
    SeedSettings, SystemClock, TokenLifetimes,
};
pub use error::SandboxError;

use context::{Ctx, Inner, Runtime};
use gateway::{Env, Route};
use state::Store;

/// API keys for both path families.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKeys {
    /// For `/adaa/v2`, `/oauth2/v3`, `/client-registration/v3`, ...
    pub production: ApiKeySet,
    /// For `/sandbox/adaa/v1`, `/sandbox/oauth2/v2`, ...
    pub sandbox: ApiKeySet,
}

/// Full endpoint URLs of one path family, ready for Kasa's KB client configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KbEndpoints {
    /// `POST` software statements (HTTPS, client certificate).
    pub client_registration: String,
    /// Application Registration page (plain HTTP, browser).
    pub app_registration_ui: String,
    /// OAuth2 authorization page (plain HTTP, browser).
    pub authorization: String,
    /// OAuth2 token endpoint (HTTPS).
    pub token: String,
    /// ADAA base (HTTPS), append `/accounts`.
    pub adaa: String,
}

/// The sandbox.
#[derive(Debug)]
pub struct KbSandbox;

/// A running sandbox.
#[derive(Debug)]
pub struct SandboxHandle {
    /// HTTPS base URL of KB's APIs, e.g. `https://localhost:8443` (append `/adaa/v2`, ...).
    pub api_base_url: String,
    /// Plain-HTTP base URL of the browser pages and `/control`, e.g. `http://127.0.0.1:8080`.
    pub browser_base_url: String,
    /// The sandbox CA certificate (PEM): trust it for the HTTPS listener.
    pub ca_cert_path: PathBuf,
    /// Operator client certificate (PEM, signed by the CA) for Client Registration.
    pub client_cert_path: PathBuf,
    /// Its private key (PKCS#8 PEM).
    pub client_key_path: PathBuf,
    /// API keys.
    pub api_keys: ApiKeys,
    /// Public key (PEM) verifying the sandbox's EdDSA software statements and tokens.
    pub signing_public_key_pem: String,
    ctx: Ctx,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl SandboxHandle {
    /// Production-shaped endpoints (strict, documented production behaviour).
    pub fn production_endpoints(&self) -> KbEndpoints {
        KbEndpoints {
            client_registration: format!(
                "{}/client-registration/v3/software-statements",
                self.api_base_url
            ),
            app_registration_ui: format!(
                "{}/client-registration-ui/v2/saml/register",
                self.browser_base_url
            ),
            authorization: format!("{}/autfe/ssologin", self.browser_base_url),
            token: format!("{}/oauth2/v3/access_token", self.api_base_url),
            adaa: format!("{}/adaa/v2", self.api_base_url),
        }
    }

    /// Sandbox-shaped endpoints (KB's sandbox quirks as configured in [`Quirks`]).
    pub fn sandbox_endpoints(&self) -> KbEndpoints {
        KbEndpoints {
            client_registration: format!(
                "{}/sandbox/client-registration/v3/software-statements",
                self.api_base_url
            ),
            app_registration_ui: format!(
                "{}/sandbox/client-registration-ui/v2/saml/register",
                self.browser_base_url
            ),
            authorization: format!(
                "{}/sandbox/oauth2-authorization-ui/v3/",
                self.browser_base_url
            ),
            token: format!("{}/sandbox/oauth2/v3/access_token", self.api_base_url),
            adaa: format!("{}/sandbox/adaa/v2", self.api_base_url),
        }
    }

    /// Stops listeners and the notifier, and writes the snapshot.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let tasks = match self.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        for t in tasks {
            let _ = t.await;
        }
        if let Err(e) = self.ctx.store.save() {
            tracing::warn!(error = %e, "kb sandbox: final snapshot failed");
        }
    }

    /// Current fault settings.
    pub fn faults(&self) -> FaultSettings {
        self.ctx.faults().clone()
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: FaultSettings) {
        *self.ctx.faults() = faults;
    }
}

impl KbSandbox {
    /// Starts the sandbox: PKI and state from `config.data_dir` (created on first start), both
    /// listeners and the Event API notifier.
    pub async fn start(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let pki = pki::load_or_create(&config.data_dir, &config.host_name, &config.vendor_name)?;
        let snapshot = config.data_dir.join("state.json");
        let mut state = match Store::load(&snapshot)? {
            Some(s) => s,
            None => seed::initial_state(&config),
        };
        if let Some(k) = &config.api_keys.production {
            state.production_keys = k.clone();
        }
        if let Some(k) = &config.api_keys.sandbox {
            state.sandbox_keys = k.clone();
        }
        if config.quirks.canned_example_client {
            seed::ensure_example_client(&mut state, config.clock.now());
        }
        let api_keys = ApiKeys {
            production: state.production_keys.clone(),
            sandbox: state.sandbox_keys.clone(),
        };

        let api_listener = TcpListener::bind(config.api_addr).await?;
        let browser_listener = TcpListener::bind(config.browser_addr).await?;
        let api_base = format!(
            "https://{}:{}",
            config.host_name,
            api_listener.local_addr()?.port()
        );
        let browser_addr = browser_listener.local_addr()?;
        let browser_base = format!("http://{}:{}", browser_addr.ip(), browser_addr.port());

        let http = reqwest::Client::builder()
            .timeout(config.events.call_timeout)
            .build()
            .map_err(|e| SandboxError::Other(format!("http client: {e}")))?;
        let store = Store::new(state, config.snapshots.then_some(snapshot));
        store.save()?;
        let paths = pki.paths.clone();
        let signing_public_key_pem = pki.signer.public_key_pem();
        let tls = tokio_rustls::TlsAcceptor::from(pki.server_config.clone());
        let ctx = Ctx(Arc::new(Inner {
            faults: Mutex::new(config.faults.clone()),
            cfg: config,
            store,
            pki,
            runtime: Mutex::new(Runtime::default()),
            views: Mutex::new(std::collections::HashMap::new()),
            notify: tokio::sync::Notify::new(),
            http,
            api_base: api_base.clone(),
            browser_base: browser_base.clone(),
        }));

        let app = router(ctx.clone());
        let (tx, rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(server::serve(
                api_listener,
                Some(tls),
                app.clone(),
                ctx.clone(),
                rx.clone(),
            )),
            tokio::spawn(server::serve(
                browser_listener,
                None,
                app,
                ctx.clone(),
                rx.clone(),
            )),
            tokio::spawn(events::notifier(ctx.clone(), rx)),
        ];
        tracing::info!(%api_base, %browser_base, "kb sandbox started");
        Ok(SandboxHandle {
            api_base_url: api_base,
            browser_base_url: browser_base,
            ca_cert_path: paths.ca_cert,
            client_cert_path: paths.client_cert,
            client_key_path: paths.client_key,
            api_keys,
            signing_public_key_pem,
            ctx,
            shutdown: tx,
            tasks: Mutex::new(tasks),
        })
    }
}

fn scoped(r: Router<Ctx>, env: Env, version: u8) -> Router<Ctx> {
    r.layer(Extension(Route { env, version }))
}

/// All routes, both path families.
fn router(ctx: Ctx) -> Router {
    let mut app: Router<Ctx> = Router::new()
        .route("/", get(control::index))
        .merge(control::routes());

    for (prefix, env) in [("", Env::Production), ("/sandbox", Env::Sandbox)] {
        for v in [2u8, 3] {
            let cr = Router::new().route(
                &format!("{prefix}/client-registration/v{v}/software-statements"),
                post(registration::software_statements),
            );
            app = app.merge(scoped(cr, env, v));
            let tok = Router::new().route(
                &format!("{prefix}/oauth2/v{v}/access_token"),
                post(oauth::token),
            );
            app = app.merge(scoped(tok, env, v));
        }
        for v in [1u8, 2] {
            let reg = Router::new().route(
                &format!("{prefix}/client-registration-ui/v{v}/saml/register"),
                get(app_registration::start).post(app_registration::step),
            );
            app = app.merge(scoped(reg, env, v));
            app = app.nest(
                &format!("{prefix}/adaa/v{v}"),
                scoped(adaa::routes(v), env, v),
            );
        }
    }
    // Production host `client-registration.api-gateway.kb.cz` shape.
    for v in [2u8, 3] {
        let cr = Router::new().route(
            &format!("/v{v}/software-statements"),
            post(registration::software_statements),
        );
        app = app.merge(scoped(cr, Env::Production, v));
    }
    let auth_prod = Router::new().route(
        "/autfe/ssologin",
        get(oauth::authorize).post(oauth::consent),
    );
    app = app.merge(scoped(auth_prod, Env::Production, 3));
    for v in [2u8, 3] {
        let auth = Router::new()
            .route(
                &format!("/sandbox/oauth2-authorization-ui/v{v}/"),
                get(oauth::authorize).post(oauth::consent),
            )
            .route(
                &format!("/sandbox/oauth2-authorization-ui/v{v}"),
                get(oauth::authorize).post(oauth::consent),
            );
        app = app.merge(scoped(auth, Env::Sandbox, v));
    }
    app.with_state(ctx)
}
