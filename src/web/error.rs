//! Errors as pages. Handlers return [`AppError`]; its response carries the error in its
//! extensions, and [`render_errors`] (which knows the language and the request id) turns it
//! into a friendly page and logs an internal cause exactly once. Causes never reach the browser.

use super::AppState;
use super::context::Viewer;
use super::pages::render_status;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// What went wrong, named by outcome.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<crate::auth::Error> for AppError {
    fn from(e: crate::auth::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<crate::team::AcceptError> for AppError {
    fn from(e: crate::team::AcceptError) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(e.into())
    }
}

/// The error, travelling inside a response to [`render_errors`].
#[derive(Clone)]
struct ErrorInfo(Arc<AppError>);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(ErrorInfo(Arc::new(self)));
        response
    }
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: super::pages::Chrome,
    title: String,
    text: String,
    request_id: String,
}

/// Middleware: renders errors as pages in the viewer's language, logging internal causes.
pub async fn render_errors(State(_state): State<AppState>, req: Request, next: Next) -> Response {
    let viewer = req.extensions().get::<Viewer>().cloned();
    let response = next.run(req).await;
    let Some(ErrorInfo(error)) = response.extensions().get::<ErrorInfo>().cloned() else {
        return response;
    };
    let Some(viewer) = viewer else {
        return response;
    };
    let (status, key) = match error.as_ref() {
        AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        AppError::Internal(cause) => {
            tracing::error!(request_id = %viewer.request_id, error = ?cause, "request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    let lang = viewer.lang;
    let page = ErrorPage {
        c: super::pages::Chrome::bare(&viewer),
        title: lang.t(&format!("error.{key}.title")).into_owned(),
        text: lang.t(&format!("error.{key}.text")).into_owned(),
        request_id: viewer.request_id.clone(),
    };
    render_status(status, &page).unwrap_or(response)
}
