//! `/metrics`: the host's metrics for Prometheus, and the middleware that counts the API's
//! requests into them.
//!
//! It owns the HTTP side of the metrics only (the families are the executor's). Routes are
//! counted by the router's pattern (`/runtime/webhooks/durabletask/instances/{id}`), never by
//! the path, so that instance ids do not become label values.

use crate::handlers::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// The content type of Prometheus's text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: the host's metrics, read now.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], state.host.render_metrics().await).into_response()
}

/// Counts each request by route, method and status, with its duration.
pub(crate) async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("(unmatched)", MatchedPath::as_str).to_string();
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    state.host.metrics().http_request(&route, method.as_str(), response.status().as_u16(), started.elapsed());
    response
}
