//! The error page: [`render_errors`] turns an [`AppError`] a handler returned into a friendly
//! page in the viewer's language with the request id, logging an internal cause exactly once.

use super::{Chrome, render_status};
use crate::web::AppState;
use crate::web::context::Viewer;
use crate::web::error::AppError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// `message.html` with the request id; its link goes home.
#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    title: String,
    text: String,
    request_id: String,
    link: Option<(String, String)>,
}

/// Middleware: renders errors as pages in the viewer's language, logging internal causes.
pub async fn render_errors(State(_state): State<AppState>, req: Request, next: Next) -> Response {
    let viewer = req.extensions().get::<Viewer>().cloned();
    let response = next.run(req).await;
    let Some(viewer) = viewer else {
        return response;
    };
    let (status, key) = match AppError::carried_by(&response) {
        Some(error) => match error.as_ref() {
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::Internal(cause) => {
                tracing::error!(request_id = %viewer.request_id, error = ?cause, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        },
        // An extractor or a body limit refused the request (a query string or form it cannot
        // read, a field given twice, a body that is not a form or too large): axum answers in
        // plain English; people get the page in their language instead, with the same status.
        None => match plain_rejection(&response) {
            Some(StatusCode::PAYLOAD_TOO_LARGE) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_request")
            }
            Some(status) if status.is_client_error() => (status, "bad_request"),
            _ => return response,
        },
    };
    let lang = viewer.lang;
    let page = ErrorPage {
        c: Chrome::bare(&viewer),
        title: lang.t(&format!("error.{key}.title")).into_owned(),
        text: lang.t(&format!("error.{key}.text")).into_owned(),
        request_id: viewer.request_id.clone(),
        link: Some(("/".to_owned(), lang.t("error.back_home").into_owned())),
    };
    render_status(status, &page).unwrap_or(response)
}

/// The status of a client error answered in plain text: how
/// axum's extractors and body limits refuse what they cannot read (400, 413, 415, 422). Kasa's
/// own pages are HTML, so only those rejections match; 404/405 have pages of their own.
fn plain_rejection(response: &Response) -> Option<StatusCode> {
    let status = response.status();
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    (plain
        && matches!(
            status,
            StatusCode::BAD_REQUEST
                | StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::UNSUPPORTED_MEDIA_TYPE
                | StatusCode::UNPROCESSABLE_ENTITY
        ))
    .then_some(status)
}
