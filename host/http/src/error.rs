//! [`ApiError`]: every way a request fails, with its status code and the message a caller sees.
//!
//! It owns the mapping from executor and store errors to HTTP statuses. It must never put an
//! internal error's text in a response: unexpected errors are logged here with their cause and
//! reach the caller as a bare `500 internal error`. A store that cannot take the request now
//! (its disk is full, its file read-only, another process holds it) is not unexpected: it is a
//! `503` whose message says why (the store's messages name no file), with `Retry-After` when a
//! later try may succeed.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reprise_executor::ExecutorError;
use reprise_store::StoreError;
use serde_json::json;

/// A failed request: rendered as `{"error": message}` with its status code.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed (bad JSON, bad query parameter, unknown orchestrator).
    BadRequest(String),
    /// 401: the bearer token is missing or wrong.
    Unauthorized,
    /// 404: no instance has that id.
    NotFound(String),
    /// 405: the path exists, but not with this method.
    MethodNotAllowed,
    /// 409: the request conflicts with the instance's state (its id is taken, it is still
    /// running and cannot be purged or restarted under its id, it cannot be rewound).
    Conflict(String),
    /// 410: the instance has finished and takes no more management operations.
    Gone(String),
    /// 422: the instance refused the update (its validator's failure, rendered as in status
    /// bodies); nothing was recorded.
    Refused {
        /// What happened.
        message: String,
        /// The failure, as callers see failures.
        failure: serde_json::Value,
    },
    /// 413: the body (or payload) is larger than the limit.
    PayloadTooLarge(String),
    /// 503: the store cannot serve the request now; `retry_after` (seconds) if a later try may
    /// succeed without an operator.
    Unavailable {
        /// What is wrong, as the store says it.
        message: String,
        /// When to try again, in seconds.
        retry_after: Option<u64>,
    },
    /// 500: anything else; the cause is logged, never returned.
    Internal(String),
}

/// The `Retry-After` of a `503` from a store that may recover by itself: long enough not to
/// hammer a host whose disk is full, short enough that a client notices recovery soon.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl From<ExecutorError> for ApiError {
    fn from(error: ExecutorError) -> Self {
        match error {
            ExecutorError::UnknownOrchestrator { .. }
            | ExecutorError::UnknownEntity { .. }
            | ExecutorError::InvalidEntityId(_)
            | ExecutorError::NotAnOrchestration(_)
            | ExecutorError::InvalidInstanceId { .. }
            | ExecutorError::InvalidInput(_)
            | ExecutorError::InvalidSchedule(_)
            | ExecutorError::BackfillRange(_) => ApiError::BadRequest(error.to_string()),
            ExecutorError::PayloadTooLarge { .. } => ApiError::PayloadTooLarge(error.to_string()),
            ExecutorError::InstanceNotFound(_) | ExecutorError::UpdateNotFound { .. } => {
                ApiError::NotFound(error.to_string())
            }
            ExecutorError::InvalidUpdateId(_) => ApiError::BadRequest(error.to_string()),
            ExecutorError::UpdateRefused { instance_id, name, failure } => ApiError::Refused {
                message: format!("instance '{instance_id}' refused update '{name}'; nothing was recorded"),
                // Its type and message are written for the caller; its details stay hidden,
                // as every failure's do without --expose-failure-details.
                failure: crate::shapes::failure_json(&failure, false),
            },
            ExecutorError::Rewind(_)
            | ExecutorError::RewindRaced { .. }
            | ExecutorError::RestartUnfinished { .. }
            | ExecutorError::ScheduleBusy(_) => ApiError::Conflict(error.to_string()),
            ExecutorError::Store(store) => store.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InstanceNotFound(_) | StoreError::ScheduleNotFound(_) => ApiError::NotFound(error.to_string()),
            StoreError::InstanceExists(_)
            | StoreError::ScheduleExists(_)
            | StoreError::NotFinished { .. }
            | StoreError::Conflict { .. } => ApiError::Conflict(error.to_string()),
            StoreError::Finished { .. } => ApiError::Gone(error.to_string()),
            StoreError::Unavailable { retryable, .. } => {
                tracing::warn!("HTTP request refused: {error}");
                ApiError::Unavailable {
                    message: error.to_string(),
                    retry_after: retryable.then_some(UNAVAILABLE_RETRY_AFTER_SECS),
                }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "missing or wrong bearer token (Authorization: Bearer TOKEN)".into())
            }
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "this endpoint does not take that method; see /openapi.json".into())
            }
            ApiError::Conflict(message) => (StatusCode::CONFLICT, message),
            ApiError::Gone(message) => (StatusCode::GONE, message),
            ApiError::PayloadTooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message),
            ApiError::Refused { message, failure } => {
                let body = Json(json!({ "error": message, "failure": failure }));
                return (StatusCode::UNPROCESSABLE_ENTITY, body).into_response();
            }
            ApiError::Unavailable { message, retry_after } => {
                let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": message }))).into_response();
                if let Some(seconds) = retry_after {
                    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                return response;
            }
            ApiError::Internal(cause) => {
                // The cause may name files, SQL or internal state: it goes to the log only.
                tracing::error!(%cause, "HTTP request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error (see the host's log)".into())
            }
        };
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let mut response = (status, Json(json!({ "error": message }))).into_response();
        if unauthorized {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
