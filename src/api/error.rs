//! The one place where errors become HTTP status codes. 5xx bodies are opaque; the cause
//! chain goes to the log.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::parse::FrameError;
use crate::project;
use crate::query;
use crate::store;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("commit was not confirmed within {0} s; retry, with event.id set to stay idempotent")]
    CommitTimeout(u64),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Project(#[from] project::Error),
    #[error(transparent)]
    Query(#[from] query::Error),
}

impl ApiError {
    /// Maps a body-buffering rejection: over the limit is 413, anything else 400.
    pub(crate) fn from_body(rejection: BytesRejection, limit: usize) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest(format!("cannot read the request body: {rejection}"))
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, retry_after) = match &self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
            ApiError::Frame(_) => (StatusCode::BAD_REQUEST, "malformed_json", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::Conflict(_) | ApiError::Store(store::Error::Conflict(_)) => {
                (StatusCode::CONFLICT, "conflict", None)
            }
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
            ApiError::CommitTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "commit_timeout", Some("5")),
            ApiError::Store(e) if e.is_bad_data() => (StatusCode::BAD_REQUEST, "bad_request", None),
            ApiError::Store(store::Error::Overloaded { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded", Some("1"))
            }
            ApiError::Store(e) if e.is_transient() => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some("5")),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
            ApiError::Project(e) => project_status(e),
            ApiError::Query(e) => query_status(e),
        };
        let message = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = ?self, "request failed");
            "internal error; see the server log".to_owned()
        } else {
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::warn!(error = %self, "request refused: service unavailable");
            }
            self.to_string()
        };
        let mut body = json!({ "error": message, "code": code });
        // A refused action shows the state it was checked against.
        if let ApiError::Project(
            project::Error::InvalidTransition { current, .. } | project::Error::VersionMismatch { current, .. },
        ) = &self
        {
            body["current"] = (**current).clone();
        }
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
        }
        response
    }
}

/// Status, code and `Retry-After` of a projection or SOC workflow error.
fn project_status(e: &project::Error) -> (StatusCode, &'static str, Option<&'static str>) {
    use project::Error as P;
    match e {
        P::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
        P::InvalidTransition { .. } => (StatusCode::CONFLICT, "invalid_transition", None),
        P::VersionMismatch { .. } => (StatusCode::PRECONDITION_FAILED, "version_mismatch", None),
        P::BadInput(_) | P::UnknownProjection(_) | P::Upload(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
        P::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
        P::NoObjectStore => (StatusCode::SERVICE_UNAVAILABLE, "no_object_store", None),
        P::Store(store::Error::Overloaded { .. }) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", Some("1")),
        P::Store(e) if e.is_transient() => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some("5")),
        P::Store(e) if e.is_bad_data() => (StatusCode::BAD_REQUEST, "bad_request", None),
        P::Store(_) | P::ObjectStore(_) | P::ObjectStoreUrl { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal", None)
        }
    }
}

/// Status, code and `Retry-After` of a query error: the caller's SQL and the query's limits are 4xx.
fn query_status(e: &query::Error) -> (StatusCode, &'static str, Option<&'static str>) {
    use query::Error as Q;
    match e {
        Q::Sql(_) => (StatusCode::BAD_REQUEST, "invalid_query", None),
        Q::ReadOnly(_) => (StatusCode::BAD_REQUEST, "read_only", None),
        Q::BadParam(_) => (StatusCode::BAD_REQUEST, "invalid_parameter", None),
        Q::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
        Q::MemoryExceeded { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "memory_limit_exceeded", None),
        Q::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "query_timeout", None),
        Q::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy", Some("1")),
        Q::UnknownQuery(_) => (StatusCode::NOT_FOUND, "not_found", None),
        Q::NoObjectStore => (StatusCode::SERVICE_UNAVAILABLE, "no_object_store", None),
        Q::Store(store::Error::Overloaded { .. }) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", Some("1")),
        Q::Store(e) if e.is_transient() => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some("5")),
        Q::Store(_) | Q::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
