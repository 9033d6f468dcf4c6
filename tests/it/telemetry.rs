//! Metrics for the operator: served on a listen address of their own only when configured,
//! with the named series, by route pattern (never a club's key).

use crate::consent::{confirmed_club, connect};
use crate::helpers::*;

#[tokio::test]
async fn without_a_metrics_address_nothing_listens_and_the_public_port_has_no_metrics() {
    let app = TestApp::spawn().await;
    assert!(app.metrics.is_none());
    assert_eq!(app.client().get("/metrics").await.status(), 404);
}

#[tokio::test]
async fn the_metrics_endpoint_names_requests_by_route_syncs_by_outcome_and_the_queues() {
    let app = TestApp::spawn_with_sandbox_and(
        |s| s.seed.transactions_per_account = 50,
        |c| c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr")),
    )
    .await;
    let (client, dashboard) = confirmed_club(&app, "t@sokol.cz", ICO_A).await;
    connect(&app, &client, &dashboard).await;
    let state = app.state.clone().expect("state");
    let worker = kasa::app::sync_worker(&state, kasa::sync::worker::SyncSettings::default());
    sync_due(&app, &worker).await;
    assert_eq!(client.get(&dashboard).await.status(), 200);
    assert_eq!(client.get("/no/such/page/4711").await.status(), 404);

    let base = app.metrics.clone().expect("metrics listener");
    let response = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    for series in [
        "kasa_http_request_duration_seconds_bucket{route=\"/t/{club}\",method=\"GET\",status=\"200\"",
        "kasa_http_request_duration_seconds_count{route=\"unmatched\"",
        "kasa_sync_runs_total{outcome=\"synced\"}",
        "kasa_sync_duration_seconds_count{outcome=\"synced\"}",
        "kasa_sync_jobs_due ",
        "kasa_sync_jobs_overdue ",
        "kasa_outbox_depth ",
        "kasa_db_pool_connections{state=\"idle\"}",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
    let key = dashboard.trim_start_matches("/t/");
    assert!(!text.contains(key), "a club's key in the metrics");
    assert!(
        !text.contains("no/such/page"),
        "a probed path became a series"
    );
}
