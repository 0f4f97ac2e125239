//! The router: which path and method go to which handler, and the layers around them (token,
//! body limit).
//!
//! It owns the URL layout, which follows Durable Functions' (`/api/orchestrators/...`,
//! `/runtime/webhooks/durabletask/instances/...`, `/runtime/webhooks/durabletask/entities/...`),
//! with Reprise's own schedules under `/api/schedules/...`. It must never hold handler logic.

use crate::ApiConfig;
use crate::auth::require_token;
use crate::console;
use crate::handlers::{self, AppState};
use crate::metrics;
use crate::schedules;
use crate::updates;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use reprise_executor::Host;
use std::sync::Arc;

/// The API's router over `host`. The host's workers run separately (`Host::spawn_workers`): the
/// API only creates and manages instances.
pub fn router(host: Host, config: ApiConfig) -> Router {
    const INSTANCES: &str = "/runtime/webhooks/durabletask/instances";
    const ENTITIES: &str = "/runtime/webhooks/durabletask/entities";
    let limit = config.max_body_bytes;
    let token = config.token.clone();
    let state = AppState { host, config: Arc::new(config) };
    let router = Router::new()
        .route("/api/orchestrators/{name}", post(handlers::start_new))
        .route("/api/orchestrators/{name}/{instance_id}", post(handlers::start_with_id))
        .route(INSTANCES, get(handlers::list).delete(handlers::purge_many))
        .route(&format!("{INSTANCES}/{{id}}"), get(handlers::status).delete(handlers::purge))
        .route(&format!("{INSTANCES}/{{id}}/raiseEvent/{{event}}"), post(handlers::raise_event))
        .route(&format!("{INSTANCES}/{{id}}/update/{{name}}"), post(updates::send))
        .route(&format!("{INSTANCES}/{{id}}/updates/{{update_id}}"), get(updates::status))
        .route(&format!("{INSTANCES}/{{id}}/terminate"), post(handlers::terminate))
        .route(&format!("{INSTANCES}/{{id}}/suspend"), post(handlers::suspend))
        .route(&format!("{INSTANCES}/{{id}}/resume"), post(handlers::resume))
        .route(&format!("{INSTANCES}/{{id}}/rewind"), post(handlers::rewind))
        .route(&format!("{INSTANCES}/{{id}}/restart"), post(handlers::restart))
        .route(ENTITIES, get(handlers::list_entities))
        .route(&format!("{ENTITIES}/{{name}}"), get(handlers::list_entities_of))
        .route(&format!("{ENTITIES}/{{name}}/{{key}}"), get(handlers::get_entity).post(handlers::signal_entity))
        .route("/api/schedules", get(schedules::list).post(schedules::create))
        .route("/api/schedules/{name}", get(schedules::describe).delete(schedules::delete))
        .route("/api/schedules/{name}/pause", post(schedules::pause))
        .route("/api/schedules/{name}/resume", post(schedules::resume))
        .route("/api/schedules/{name}/trigger", post(schedules::trigger))
        .route("/api/schedules/{name}/backfill", post(schedules::backfill))
        .route("/openapi.json", get(handlers::openapi))
        .route("/metrics", get(metrics::metrics))
        .route("/", get(console::instances))
        .route("/instances/{id}", get(console::instance))
        .route("/schedules", get(console::schedules))
        .route("/entities", get(console::entities))
        .route("/components", get(console::components))
        .route("/login", get(console::login_form).post(console::login))
        .route("/assets/console.css", get(console::stylesheet))
        .route("/assets/console.js", get(console::script))
        .fallback(handlers::not_found)
        // After every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        // Around each route, where the matched route is known.
        .layer(middleware::from_fn_with_state(state.clone(), metrics::count_requests))
        .with_state(state);
    match token {
        // Outermost, so that it also guards the fallback and the OpenAPI document.
        Some(token) => router.layer(middleware::from_fn_with_state(Arc::<str>::from(token), require_token)),
        None => router,
    }
}
