//! `GET /healthz`: 200 when the database answers, 503 otherwise.

use crate::web::AppState;
use axum::extract::State;
use axum::http::StatusCode;

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if crate::db::is_reachable(&state.pool).await {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}
