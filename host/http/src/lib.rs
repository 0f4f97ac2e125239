//! The Durable Functions-compatible HTTP API of `reprise serve --listen`.
//!
//! It owns the HTTP surface only: the web console (`console`), routing (`routes`), the JSON shapes Durable Functions clients
//! expect (`shapes`), the schedule endpoints and their JSON (`schedules`), the mapping of executor errors to status codes (`error`), the optional
//! bearer token (`auth`), the Prometheus endpoint (`metrics`) and the OpenAPI document (`openapi.json`, kept beside this crate).
//! Every durable effect goes through [`reprise_executor::Host`]; this crate never touches the
//! store's tables, never runs guest code itself, and never returns an internal error's text or a
//! failure's details to a caller unless [`ApiConfig::expose_failure_details`] says so.

mod auth;
mod console;
mod error;
mod handlers;
mod metrics;
mod routes;
mod schedules;
mod shapes;
mod updates;

pub use error::ApiError;
pub use routes::router;
pub use schedules::schedule_json;

use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
pub use tokio_util::sync::CancellationToken;

/// The request body limit by default: the executor's payload limit (4 MiB), so any body the host
/// would accept as a payload gets through and larger ones are refused before they are buffered.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How the API behaves.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The bearer token every request must carry (`Authorization: Bearer TOKEN`); no
    /// authentication if `None`.
    pub token: Option<String>,
    /// Show a failed instance's failure details and causes (stack traces, inner errors) to
    /// callers. Off by default: callers see the error type and message only.
    pub expose_failure_details: bool,
    /// The largest request body accepted, in bytes; larger ones get `413`.
    pub max_body_bytes: usize,
    /// The longest `waitForCompletion` a start request may ask for; longer ones get `400`.
    pub max_wait: Duration,
    /// Cancelled when the server stops: requests waiting for an instance answer `202` at once,
    /// so that they do not hold the shutdown up.
    pub stopping: CancellationToken,
}

/// The longest `waitForCompletion` by default: long enough for a request/reply orchestration,
/// short enough for the proxies and load balancers in front of a server, which commonly close
/// idle connections after a few minutes.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(120);

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            token: None,
            expose_failure_details: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_wait: DEFAULT_MAX_WAIT,
            stopping: CancellationToken::new(),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests under way finish.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
