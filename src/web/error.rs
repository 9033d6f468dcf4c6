//! Errors of handlers. Handlers return [`AppError`]; its response carries the error in its
//! extensions ([`AppError::carried_by`]), and `pages::error::render_errors` (which knows the
//! language and the request id) turns it into a friendly page and logs an internal cause exactly
//! once. Causes never reach the browser.

use axum::http::StatusCode;
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

impl From<crate::club::Error> for AppError {
    fn from(e: crate::club::Error) -> Self {
        AppError::Internal(e.into())
    }
}

/// A team change of a membership or invitation that is not in the club is 404; the outcomes a
/// page shows (already a teammate, last owner, …) are matched before this.
impl From<crate::team::Error> for AppError {
    fn from(e: crate::team::Error) -> Self {
        match e {
            crate::team::Error::NotFound => AppError::NotFound,
            e => AppError::Internal(e.into()),
        }
    }
}

/// A member's link for a member who is not in the club is 404.
impl From<crate::pay_link::Error> for AppError {
    fn from(e: crate::pay_link::Error) -> Self {
        match e {
            crate::pay_link::Error::NotFound => AppError::NotFound,
            crate::pay_link::Error::Db(e) => e.into(),
        }
    }
}

/// Switching reminders of a member who is not in the club is 404.
impl From<crate::reminder::Error> for AppError {
    fn from(e: crate::reminder::Error) -> Self {
        match e {
            crate::reminder::Error::NotFound => AppError::NotFound,
            crate::reminder::Error::Db(e) => e.into(),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(e.into())
    }
}

/// The error, travelling inside a response to `pages::error::render_errors`.
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

impl AppError {
    /// The error a handler's response carries, if it returned one.
    pub fn carried_by(response: &Response) -> Option<Arc<AppError>> {
        response
            .extensions()
            .get::<ErrorInfo>()
            .map(|info| info.0.clone())
    }
}

/// The fallback handler: every unknown path is 404.
pub async fn not_found() -> AppError {
    AppError::NotFound
}
