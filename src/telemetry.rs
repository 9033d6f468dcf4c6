//! What an operator watches: Prometheus metrics on a listen address of their own
//! (`KASA_METRICS_LISTEN`, off by default, never on the public port) and the series Kasa
//! records (`metrics` facade, `metrics-exporter-prometheus`).
//!
//! Series (names follow Prometheus conventions: base units, `_total` for counters):
//! * `kasa_http_request_duration_seconds{route,method,status}`: every HTTP request, by the
//!   route's pattern (`/t/{club}/fees`, never the club's key or an id), histogram.
//! * `kasa_sync_runs_total{outcome}` (`synced`, `unchanged`, `rate_limited`, `failed`,
//!   `disabled`) and `kasa_sync_duration_seconds{outcome}`: every bank-account sync run.
//! * `kasa_notification_to_commit_seconds`: a KB notification's arrival → the sync it caused
//!   committed (KB's Event API, `kb-adaa-spec.md` §Events).
//! * Sampled when scraped: `kasa_sync_jobs_due` (accounts due now), `kasa_sync_jobs_overdue`
//!   (due for more than five minutes), `kasa_outbox_depth` (e-mails not yet sent),
//!   `kasa_db_pool_connections{state="idle"|"busy"}`.
//!
//! Without a recorder (the default) the recording macros cost a branch and record nothing.

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const HTTP_DURATION: &str = "kasa_http_request_duration_seconds";
pub const SYNC_RUNS: &str = "kasa_sync_runs_total";
pub const SYNC_DURATION: &str = "kasa_sync_duration_seconds";
pub const NOTIFICATION_LAG: &str = "kasa_notification_to_commit_seconds";
pub const JOBS_DUE: &str = "kasa_sync_jobs_due";
pub const JOBS_OVERDUE: &str = "kasa_sync_jobs_overdue";
pub const OUTBOX_DEPTH: &str = "kasa_outbox_depth";
pub const POOL_CONNECTIONS: &str = "kasa_db_pool_connections";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use (one per process: a second Kasa in the same
/// process, as in tests, shares it).
///
/// # Errors
/// The exporter's, when another recorder was installed first.
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let buckets = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    let recorder = PrometheusBuilder::new()
        .set_buckets(&buckets)?
        .build_recorder();
    let handle = recorder.handle();
    match metrics::set_global_recorder(recorder) {
        Ok(()) => {
            describe();
            Ok(HANDLE.get_or_init(|| handle).clone())
        }
        // Lost a race with another caller in this process: use the one that won.
        Err(_) => HANDLE
            .get()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("another metrics recorder is installed")),
    }
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP requests by route pattern, method and status"
    );
    describe_counter!(SYNC_RUNS, "Bank-account sync runs by outcome");
    describe_histogram!(
        SYNC_DURATION,
        Unit::Seconds,
        "Bank-account sync runs by outcome"
    );
    describe_histogram!(
        NOTIFICATION_LAG,
        Unit::Seconds,
        "A KB notification's arrival to the commit of the sync it caused"
    );
    describe_gauge!(JOBS_DUE, "Bank accounts due for a sync now");
    describe_gauge!(
        JOBS_OVERDUE,
        "Bank accounts due for a sync for more than five minutes"
    );
    describe_gauge!(OUTBOX_DEPTH, "E-mails waiting in the outbox");
    describe_gauge!(POOL_CONNECTIONS, "Database pool connections by state");
}

/// The metrics listener's router: `GET /metrics` in Prometheus' text format, the sampled
/// gauges read from the database first.
pub fn router(handle: PrometheusHandle, pool: PgPool) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(scrape))
        .with_state((handle, pool))
}

async fn scrape(State((handle, pool)): State<(PrometheusHandle, PgPool)>) -> Response {
    if let Err(error) = sample(&pool).await {
        tracing::warn!(%error, "could not sample the database for metrics");
    }
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// Reads the gauges that are counts of rows (one query) and the pool's state.
async fn sample(pool: &PgPool) -> Result<(), sqlx::Error> {
    let (due, overdue, outbox): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM app.sync_jobs WHERE enabled AND due_at <= now()), \
                (SELECT count(*) FROM app.sync_jobs \
                  WHERE enabled AND due_at <= now() - interval '5 minutes'), \
                (SELECT count(*) FROM app.outbox WHERE sent_at IS NULL)",
    )
    .fetch_one(pool)
    .await?;
    gauge!(JOBS_DUE).set(due as f64);
    gauge!(JOBS_OVERDUE).set(overdue as f64);
    gauge!(OUTBOX_DEPTH).set(outbox as f64);
    let idle = pool.num_idle() as f64;
    gauge!(POOL_CONNECTIONS, "state" => "idle").set(idle);
    gauge!(POOL_CONNECTIONS, "state" => "busy").set(f64::from(pool.size()) - idle);
    Ok(())
}

/// Middleware: records every request's duration by its route pattern (an unmatched path is
/// `unmatched`, so probing cannot create series).
pub async fn track_http(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    histogram!(
        HTTP_DURATION,
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Records one sync run: its outcome (`synced`, `unchanged`, `rate_limited`, `failed`,
/// `disabled`) and how long it took.
pub fn sync_run(outcome: &'static str, took: Duration) {
    counter!(SYNC_RUNS, "outcome" => outcome).increment(1);
    histogram!(SYNC_DURATION, "outcome" => outcome).record(took.as_secs_f64());
}

/// Records the time from a KB notification's arrival to the commit of the sync it caused.
pub fn notification_to_commit(lag: Duration) {
    histogram!(NOTIFICATION_LAG).record(lag.as_secs_f64());
}

/// The metrics listener of one process: bound at start-up, so a port taken is an error then.
pub struct Endpoint {
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
}

impl Endpoint {
    /// Installs the recorder and binds `addr`.
    ///
    /// # Errors
    /// The address cannot be bound, or another recorder is installed.
    pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<Endpoint> {
        let handle = recorder()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
        Ok(Endpoint { listener, handle })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves `/metrics` until `stop` turns true.
    pub async fn serve(self, pool: PgPool, mut stop: tokio::sync::watch::Receiver<bool>) {
        let app = router(self.handle, pool);
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "the metrics listener stopped");
        }
    }
}
