//! `KbClient`: every HTTP call to KB. It holds one process-wide `reqwest::Client` (rustls, server
//! certificates always verified, optional extra CA, optional client certificate for mutual TLS,
//! timeouts, no redirects) and is cheap to clone. Every request carries the `apiKey` of its API
//! and a fresh dashed-UUID `x-correlation-id`; ADAA calls add `Authorization: Bearer`. Logs show
//! method, path, status, timing and correlation id, never keys, tokens, codes or bodies.

use std::sync::Arc;
use std::time::Instant;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Response};
use serde::de::DeserializeOwned;
use time::{OffsetDateTime, UtcOffset};
use url::Url;
use uuid::Uuid;

use super::KbSettings;
use super::error::{Api, Error, Result, classify_response, error_chain};
use super::registration::{PendingRegistration, RegistrationParams, build_registration_url};
use super::text::shorten;
use super::tls::{load_ca_bundle, load_identity};
use super::wire::{
    Account, AccountBalance, ClientCredentials, SoftwareStatement, SoftwareStatementRequest,
    Statement, SubscriptionInfo, SubscriptionRequest, TokenResponse, Transaction, TransactionSlice,
    UnreadableTransaction,
};
use crate::secret::Secret;

const USER_AGENT: &str = "Kasa-KB-client/1";

/// Formats a date-time the way KB's query parameters need it: UTC, milliseconds, `Z`
/// (`2025-01-31T23:59:59.999Z`).
pub fn format_kb_datetime(at: OffsetDateTime) -> Result<String> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(UtcOffset::UTC)
        .format(format)
        .map_err(|e| Error::Config(format!("date-time cannot be formatted: {e}")))
}

/// The KB API client. Create one per process and clone it where needed.
#[derive(Clone)]
pub struct KbClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: KbSettings,
    software_statements: Url,
    authorization: Url,
    token: Url,
    adaa: Url,
}

impl std::fmt::Debug for KbClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KbClient")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// Whether a URL points at this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback(text: &str) -> bool {
    match Url::parse(text)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn parse_endpoint(what: &str, text: &str, allow_http: bool) -> Result<Url> {
    let url = Url::parse(text).map_err(|e| Error::Config(format!("{what} URL {text:?}: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_http => Ok(url),
        other => Err(Error::Config(format!(
            "{what} URL must use https, not {other}"
        ))),
    }
}

impl KbClient {
    /// Builds the client: validates URLs, loads the certificate identity and CA bundle.
    pub fn new(settings: KbSettings) -> Result<Self> {
        let allow_http = settings.quirks.allow_insecure_http;
        if !(1..=100).contains(&settings.quirks.transactions_page_size) {
            return Err(Error::Config(
                "transactions page size must be 1..=100 (v1 allows at most 20)".into(),
            ));
        }
        let endpoints = &settings.endpoints;
        let software_statements = parse_endpoint(
            "Client Registration",
            &format!(
                "{}/software-statements",
                endpoints.client_registration.trim_end_matches('/')
            ),
            allow_http,
        )?;
        // The two browser pages are only redirect targets for the user's browser: a page on this
        // machine (the built-in sandbox) may be plain HTTP; anything else must be HTTPS.
        let authorization = parse_endpoint(
            "authorization",
            &endpoints.authorization,
            allow_http || is_loopback(&endpoints.authorization),
        )?;
        let token = parse_endpoint("token", endpoints.token.trim_end_matches('/'), allow_http)?;
        let adaa = parse_endpoint("ADAA", &endpoints.adaa, allow_http)?;
        if adaa.cannot_be_a_base() {
            return Err(Error::Config("ADAA URL cannot be a base URL".into()));
        }
        parse_endpoint(
            "application registration UI",
            &endpoints.app_registration_ui,
            allow_http || is_loopback(&endpoints.app_registration_ui),
        )?;

        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .https_only(!allow_http)
            .connect_timeout(settings.timeouts.connect)
            .timeout(settings.timeouts.request)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        if let Some(identity) = &settings.identity {
            builder = builder.identity(load_identity(identity)?);
        }
        if let Some(path) = &settings.ca_bundle {
            for cert in load_ca_bundle(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build HTTP client: {}", error_chain(&e))))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                settings,
                software_statements,
                authorization,
                token,
                adaa,
            }),
        })
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &KbSettings {
        &self.inner.settings
    }

    // -----------------------------------------------------------------------------------------
    // Plumbing
    // -----------------------------------------------------------------------------------------

    fn api_key(&self, api: Api) -> &Secret<String> {
        let keys = &self.inner.settings.api_keys;
        match api {
            Api::ClientRegistration => &keys.client_registration,
            Api::OAuth => &keys.oauth,
            Api::Adaa => &keys.adaa,
        }
    }

    fn adaa_url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.inner.adaa.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Config("ADAA URL cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// An account's event subscriptions (`…/accounts/{account}/transactions/event-subscriptions`),
    /// or one of them.
    fn subscriptions_url(&self, account_id: &str, subscription_id: Option<&str>) -> Result<Url> {
        let mut segments = vec![
            "accounts",
            account_id,
            "transactions",
            "event-subscriptions",
        ];
        segments.extend(subscription_id);
        self.adaa_url(&segments)
    }

    /// Sends one request with the API key, a fresh correlation id and (for ADAA) the bearer
    /// token; returns the response if its status is 2xx, the classified error otherwise.
    async fn send(
        &self,
        api: Api,
        method: Method,
        url: Url,
        bearer: Option<&Secret<String>>,
        secrets: &[&str],
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Response> {
        let api_key = self.api_key(api);
        let mut key_header = HeaderValue::from_str(api_key.expose_str())
            .map_err(|_| Error::Config(format!("{api:?} API key is not a valid header value")))?;
        key_header.set_sensitive(true);
        let correlation_id = Uuid::new_v4().to_string();
        let path = url.path().to_owned();
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .header("apiKey", key_header)
            .header("x-correlation-id", correlation_id.as_str());
        if let Some(token) = bearer {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_str()))
                .map_err(|_| Error::Protocol("access token is not a valid header value".into()))?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let request = build(request);

        let started = Instant::now();
        tracing::debug!(?api, %method, %path, %correlation_id, "KB request");
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                let err = Error::from_transport(err);
                tracing::warn!(?api, %method, %path, %correlation_id, error = %err, "KB request failed");
                return Err(err);
            }
        };
        let status = response.status();
        let elapsed_ms = started.elapsed().as_millis();
        tracing::debug!(?api, %path, %correlation_id, status = status.as_u16(), elapsed_ms, "KB response");
        if status.is_success() {
            return Ok(response);
        }

        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.unwrap_or_default();
        let mut scrub: Vec<&str> = vec![api_key.expose_str()];
        scrub.extend(bearer.map(Secret::expose_str));
        scrub.extend_from_slice(secrets);
        let err = classify_response(
            api,
            status.as_u16(),
            retry_after.as_deref(),
            &body,
            &self.inner.settings.quirks,
            &scrub,
        );
        tracing::info!(?api, %method, %path, %correlation_id, status = status.as_u16(), error = %err, "KB request rejected");
        Err(err)
    }

    async fn read_json<T: DeserializeOwned>(response: Response, what: &str) -> Result<T> {
        let body = response.bytes().await.map_err(Error::from_transport)?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::Protocol(format!("{what}: {}", describe_json_error(&e))))
    }

    async fn adaa_get<T: DeserializeOwned>(
        &self,
        access_token: &Secret<String>,
        url: Url,
        what: &str,
    ) -> Result<T> {
        let response = self
            .send(Api::Adaa, Method::GET, url, Some(access_token), &[], |r| {
                r.header(ACCEPT, "application/json")
            })
            .await?;
        Self::read_json(response, what).await
    }

    // -----------------------------------------------------------------------------------------
    // Client Registration and application registration
    // -----------------------------------------------------------------------------------------

    /// Requests a software statement (JWT, valid 12 months) over mutual TLS. KB documents 201;
    /// the sandbox answers 200; both are accepted.
    pub async fn software_statement(
        &self,
        request: &SoftwareStatementRequest,
    ) -> Result<SoftwareStatement> {
        let response = self
            .send(
                Api::ClientRegistration,
                Method::POST,
                self.inner.software_statements.clone(),
                None,
                &[],
                |r| {
                    r.header(ACCEPT, "text/plain, application/json")
                        .json(request)
                },
            )
            .await?;
        let status = response.status().as_u16();
        if status != 200 && status != 201 {
            return Err(Error::Protocol(format!(
                "software statement answered with HTTP {status}"
            )));
        }
        let body = response.text().await.map_err(Error::from_transport)?;
        SoftwareStatement::from_body(&body)
            .ok_or_else(|| Error::Protocol("software statement response is not a JWT".into()))
    }

    /// Builds the redirect to KB's Application Registration UI, with a fresh encryption key
    /// (or the sandbox's fixed one, per [`super::KbQuirks::registration_key`]). Keep the returned
    /// key and state server-side until [`super::RegistrationCallback::decrypt`].
    pub fn registration_url(&self, params: &RegistrationParams) -> Result<PendingRegistration> {
        let settings = &self.inner.settings;
        build_registration_url(
            &settings.endpoints.app_registration_ui,
            params,
            &settings.quirks.registration_key,
            settings.quirks.percent_encode_registration_request,
        )
    }

    // -----------------------------------------------------------------------------------------
    // OAuth2
    // -----------------------------------------------------------------------------------------

    /// The authorization-endpoint URL to send the user's browser to (scopes space-separated as
    /// `%20`). The sandbox does not return `state`; keep it in the session as well.
    pub fn authorization_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scopes: &[&str],
        state: &str,
    ) -> String {
        fn enc(value: &str) -> String {
            url::form_urlencoded::byte_serialize(value.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        }
        let query = format!(
            "response_type=code&client_id={}&redirect_uri={}&scope={}&state={}",
            enc(client_id),
            enc(redirect_uri),
            enc(&scopes.join(" ")),
            enc(state)
        );
        let mut url = self.inner.authorization.clone();
        let full = match url.query() {
            Some(existing) if !existing.is_empty() => format!("{existing}&{query}"),
            _ => query,
        };
        url.set_query(Some(&full));
        url.to_string()
    }

    async fn token_request(
        &self,
        form: &[(&str, &str)],
        secrets: &[&str],
    ) -> Result<TokenResponse> {
        let response = self
            .send(
                Api::OAuth,
                Method::POST,
                self.inner.token.clone(),
                None,
                secrets,
                |r| r.header(ACCEPT, "application/json").form(form),
            )
            .await?;
        let body = response.bytes().await.map_err(Error::from_transport)?;
        // Never echo parse details here: the body holds tokens.
        let token: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            Error::Protocol(format!(
                "token response has an unexpected shape ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if token.access_token.expose_str().is_empty() {
            return Err(Error::Protocol(
                "token response has an empty access_token".into(),
            ));
        }
        Ok(token)
    }

    /// Exchanges an authorization code (valid 2 minutes) for a refresh token (12 months) and an
    /// access token. `redirect_uri` must equal the one of the authorization request.
    pub async fn exchange_code(
        &self,
        credentials: &ClientCredentials,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse> {
        let secret = credentials.client_secret.expose_str();
        self.token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("client_id", &credentials.client_id),
                ("client_secret", secret),
            ],
            &[secret, code],
        )
        .await
    }

    /// Gets a new access token. KB does not rotate the refresh token: the response usually has
    /// none, and the old one stays valid until its 12 months run out. Reuse access tokens until
    /// they expire; frequent refreshes are answered with 429.
    pub async fn refresh_access_token(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &Secret<String>,
        redirect_uri: &str,
    ) -> Result<TokenResponse> {
        let secret = credentials.client_secret.expose_str();
        let refresh = refresh_token.expose_str();
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", secret),
        ];
        if self.inner.settings.quirks.send_redirect_uri_on_refresh {
            form.push(("redirect_uri", redirect_uri));
        }
        self.token_request(&form, &[secret, refresh]).await
    }

    // -----------------------------------------------------------------------------------------
    // ADAA
    // -----------------------------------------------------------------------------------------

    /// The accounts the user exposed to the application.
    pub async fn accounts(&self, access_token: &Secret<String>) -> Result<Vec<Account>> {
        let url = self.adaa_url(&["accounts"])?;
        self.adaa_get(access_token, url, "accounts").await
    }

    /// Balances of one account (available and previously closed booked balance).
    pub async fn balances(
        &self,
        access_token: &Secret<String>,
        account_id: &str,
    ) -> Result<Vec<AccountBalance>> {
        let url = self.adaa_url(&["accounts", account_id, "balances"])?;
        self.adaa_get(access_token, url, "balances").await
    }

    /// One page of transactions (v2 paging; `page` starts at 0), every item read on its own
    /// (an unreadable item is returned apart, never fails the page). Without `from`/`to` KB
    /// returns the last 90 days; at most 2 years back. KB's unchanged-data 429 comes back as
    /// [`Error::UnchangedData`]; any other 429 stays [`Error::RateLimited`].
    pub async fn transactions_page(
        &self,
        access_token: &Secret<String>,
        account_id: &str,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        page: u32,
    ) -> Result<TransactionSlice> {
        let mut url = self.adaa_url(&["accounts", account_id, "transactions"])?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(from) = from {
                query.append_pair("fromDateTime", &format_kb_datetime(from)?);
            }
            if let Some(to) = to {
                query.append_pair("toDateTime", &format_kb_datetime(to)?);
            }
            query.append_pair("page", &page.to_string());
            query.append_pair(
                "size",
                &self
                    .inner
                    .settings
                    .quirks
                    .transactions_page_size
                    .to_string(),
            );
        }
        let response = self
            .send(Api::Adaa, Method::GET, url, Some(access_token), &[], |r| {
                r.header(ACCEPT, "application/json")
            })
            .await
            .map_err(|e| self.unchanged_data(e))?;
        let body = response.bytes().await.map_err(Error::from_transport)?;
        TransactionSlice::from_body(&body)
            .map_err(|e| Error::Protocol(format!("transactions page: {}", describe_json_error(&e))))
    }

    /// Turns KB's unchanged-data 429 of the transaction list into [`Error::UnchangedData`].
    fn unchanged_data(&self, error: Error) -> Error {
        let quirks = &self.inner.settings.quirks;
        match error {
            Error::RateLimited {
                retry_after,
                reason,
            } if quirks.transactions_429_is_unchanged
                || quirks
                    .unchanged_data_markers
                    .iter()
                    .any(|marker| reason.to_lowercase().contains(&marker.to_lowercase())) =>
            {
                Error::UnchangedData {
                    retry_after,
                    reason,
                }
            }
            other => other,
        }
    }

    /// Starts a download of every transaction in the range (see [`TransactionDownload`]).
    pub fn download<'a>(
        &'a self,
        access_token: &'a Secret<String>,
        account_id: &'a str,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> TransactionDownload<'a> {
        TransactionDownload {
            client: self,
            access_token,
            account_id,
            range: (from, to),
            next: 0,
            finished: false,
            first_total_pages: None,
            seen: std::collections::HashSet::new(),
            fetched: 0,
            transactions: Vec::new(),
            unreadable: Vec::new(),
        }
    }

    /// All transactions in the range, oldest first ([`TransactionDownload`] to the end).
    /// Re-downloading unchanged data within 61 minutes is answered with
    /// [`Error::UnchangedData`]: prefer event notifications to know when to call this.
    pub async fn transactions(
        &self,
        access_token: &Secret<String>,
        account_id: &str,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> Result<Downloaded> {
        let mut download = self.download(access_token, account_id, from, to);
        while download.next_page().await? {}
        Ok(download.finish())
    }

    /// PDF statements issued since `date_from`.
    pub async fn statements(
        &self,
        access_token: &Secret<String>,
        account_id: &str,
        date_from: OffsetDateTime,
    ) -> Result<Vec<Statement>> {
        let mut url = self.adaa_url(&["accounts", account_id, "statements"])?;
        url.query_pairs_mut()
            .append_pair("dateFrom", &format_kb_datetime(date_from)?);
        self.adaa_get(access_token, url, "statements").await
    }

    /// The PDF of one statement.
    pub async fn statement_pdf(
        &self,
        access_token: &Secret<String>,
        account_id: &str,
        statement_id: i64,
    ) -> Result<Vec<u8>> {
        let id = statement_id.to_string();
        let url = self.adaa_url(&["accounts", account_id, "statements", &id])?;
        let timeout = self.inner.settings.timeouts.download;
        let response = self
            .send(Api::Adaa, Method::GET, url, Some(access_token), &[], |r| {
                r.header(ACCEPT, "application/pdf").timeout(timeout)
            })
            .await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.contains("json") || content_type.contains("html") {
            return Err(Error::Protocol(format!(
                "statement download returned {content_type}, not a PDF"
            )));
        }
        let bytes = response.bytes().await.map_err(Error::from_transport)?;
        Ok(bytes.to_vec())
    }

    /// Subscribes the app's Event API to new-transaction notifications of one account. KB first
    /// calls `GET {eventApiUrl}/version`, so the endpoint must already answer.
    pub async fn create_event_subscription(
        &self,
        access_token: &Secret<String>,
        account_id: &str,
        request: &SubscriptionRequest,
    ) -> Result<SubscriptionInfo> {
        let url = self.subscriptions_url(account_id, None)?;
        let event_key = request.event_api_key.expose_str();
        let response = self
            .send(
                Api::Adaa,
                Method::POST,
                url,
                Some(access_token),
                &[event_key],
                |r| r.header(ACCEPT, "application/json").json(request),
            )
            .await?;
        Self::read_json(response, "event subscription").await
    }

    /// The state of an event subscription (`ACTIVE`, `SUSPENDED`, `STOPPED`).
    pub async fn event_subscription(
        &self,
        access_token: &Secret<String>,
        account_id: &str,
        subscription_id: &str,
    ) -> Result<SubscriptionInfo> {
        let url = self.subscriptions_url(account_id, Some(subscription_id))?;
        self.adaa_get(access_token, url, "event subscription").await
    }

    /// Deletes an event subscription.
    pub async fn delete_event_subscription(
        &self,
        access_token: &Secret<String>,
        account_id: &str,
        subscription_id: &str,
    ) -> Result<()> {
        let url = self.subscriptions_url(account_id, Some(subscription_id))?;
        self.send(
            Api::Adaa,
            Method::DELETE,
            url,
            Some(access_token),
            &[],
            |r| r,
        )
        .await?;
        Ok(())
    }
}

/// Everything one download returned: readable transactions in KB's order, and the items Kasa
/// could not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Downloaded {
    pub transactions: Vec<Transaction>,
    pub unreadable: Vec<UnreadableTransaction>,
    /// Pages fetched.
    pub pages: u32,
}

/// One download of a range's transactions, page after page, with KB's paging rules in one
/// place (used by [`KbClient::transactions`] and by the sync worker's fetch task, which hands
/// each page to its writer, [`Self::next_slice`]):
/// - request the next page at once (KB drops the paging context after 10 s; a slower page is
///   logged);
/// - stop at `last`, an empty page, or `totalPages`;
/// - KB pages by offset: a transaction booked into the window meanwhile moves the boundaries
///   (an `accountServicer` repeats, or `totalPages` changes) → [`Error::HistoryShifted`], so the
///   caller downloads the window again rather than keep a history with a hole;
/// - at most [`super::KbQuirks::max_transaction_pages`] pages.
pub struct TransactionDownload<'a> {
    client: &'a KbClient,
    access_token: &'a Secret<String>,
    account_id: &'a str,
    range: (Option<OffsetDateTime>, Option<OffsetDateTime>),
    next: u32,
    finished: bool,
    first_total_pages: Option<u32>,
    seen: std::collections::HashSet<String>,
    fetched: usize,
    transactions: Vec<Transaction>,
    unreadable: Vec<UnreadableTransaction>,
}

impl TransactionDownload<'_> {
    /// Fetches the next page and keeps its items for [`Self::finish`]. `Ok(true)`: a page
    /// arrived and more may follow; `Ok(false)`: the download is complete (no request was
    /// made).
    pub async fn next_page(&mut self) -> Result<bool> {
        match self.next_slice().await? {
            Some(slice) => {
                self.transactions.extend(slice.transactions);
                self.unreadable.extend(slice.unreadable);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Fetches the next page and hands it over (its items are not kept for
    /// [`Self::finish`]: the caller takes them, e.g. the sync's writer). `Ok(None)`: the
    /// download is complete (no request was made).
    pub async fn next_slice(&mut self) -> Result<Option<TransactionSlice>> {
        if self.finished {
            return Ok(None);
        }
        let quirks = &self.client.inner.settings.quirks;
        let page = self.next;
        if page >= quirks.max_transaction_pages {
            return Err(Error::Protocol(format!(
                "transaction download exceeded {} pages",
                quirks.max_transaction_pages
            )));
        }
        let requested_at = Instant::now();
        let (from, to) = self.range;
        let slice = self
            .client
            .transactions_page(self.access_token, self.account_id, from, to, page)
            .await?;
        let total = *self.first_total_pages.get_or_insert(slice.total_pages);
        let ids = slice
            .transactions
            .iter()
            .filter_map(Transaction::account_servicer)
            .map(str::to_owned)
            .chain(
                slice
                    .unreadable
                    .iter()
                    .filter_map(|u| u.bank_key.strip_prefix("as:").map(str::to_owned)),
            )
            .collect::<Vec<_>>();
        let repeated = ids.iter().any(|id| self.seen.contains(id));
        if repeated || (total > 0 && slice.total_pages > 0 && slice.total_pages != total) {
            return Err(Error::HistoryShifted);
        }
        self.seen.extend(ids);
        self.fetched += slice.transactions.len() + slice.unreadable.len();
        self.next = page + 1;
        self.finished = slice.last
            || slice.empty
            || slice.received == 0
            || (slice.total_pages > 0 && page + 1 >= slice.total_pages);
        if requested_at.elapsed() > quirks.next_page_window {
            tracing::warn!(
                page,
                "KB transactions page took longer than the next-page window"
            );
        }
        Ok(Some(slice))
    }

    /// Pages fetched so far.
    pub fn pages(&self) -> u32 {
        self.next
    }

    /// Items received so far (readable or not).
    pub fn fetched(&self) -> usize {
        self.fetched
    }

    /// What the download returned.
    pub fn finish(self) -> Downloaded {
        tracing::debug!(
            count = self.transactions.len(),
            unreadable = self.unreadable.len(),
            pages = self.next,
            "KB transactions downloaded"
        );
        Downloaded {
            transactions: self.transactions,
            unreadable: self.unreadable,
            pages: self.next,
        }
    }
}

/// A serde_json error without the data it quotes (values may be personal data).
fn describe_json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let mut out = String::with_capacity(text.len());
    let mut in_quotes = false;
    for c in text.chars() {
        if c == '"' {
            if in_quotes {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            in_quotes = !in_quotes;
        } else if !in_quotes {
            out.push(c);
        }
    }
    shorten(&out)
}

#[cfg(test)]
mod tests;
