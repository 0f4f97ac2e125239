//! The request handlers: one function per endpoint, each a thin translation between HTTP and a
//! [`Host`] call.
//!
//! They own parameter parsing and the choice of success status (`202` while an instance runs,
//! `200` once it is finished). They must never decide durable behaviour themselves (the executor
//! does) nor format error responses (the [`ApiError`] conversions do).

use crate::ApiConfig;
use crate::error::ApiError;
use crate::shapes::{CheckStatus, EntityStatus, InstanceStatus, Purged, StatusOptions};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reprise_core::{EntityId, InstanceId, Payload, RuntimeStatus};
use reprise_executor::{Host, StartRequest};
use reprise_store::{EntityFilter, InstanceFilter, InstanceRecord, PurgeFilter};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// The header that carries the listing's continuation token, as in Durable Functions.
pub(crate) const CONTINUATION_HEADER: &str = "x-ms-continuation-token";

/// Seconds a client should wait before polling a running instance again.
const RETRY_AFTER_SECONDS: &str = "1";

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) host: Host,
    pub(crate) config: Arc<ApiConfig>,
}

/// Query of the start endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartQuery {
    /// How long to wait for the instance to finish before answering (`30s`, `500ms`, `2m`).
    wait_for_completion: Option<String>,
}

/// `POST /api/orchestrators/{name}`: starts an instance with a new id.
pub(crate) async fn start_new(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<StartQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = segments(path)?;
    start(state, name, None, query, &headers, body).await
}

/// `POST /api/orchestrators/{name}/{instanceId}`: starts an instance with the given id.
pub(crate) async fn start_with_id(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<StartQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (name, id) = segments(path)?;
    let id = InstanceId::new(id).map_err(|error| ApiError::BadRequest(error.to_string()))?;
    start(state, name, Some(id), query, &headers, body).await
}

/// Starts an instance; with `waitForCompletion`, answers `200` and its status if it finishes
/// within that time, else the usual `202`.
async fn start(
    state: AppState,
    orchestrator: String,
    instance_id: Option<InstanceId>,
    query: Result<Query<StartQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    // Checked before the start, so that a bad parameter starts nothing.
    let wait = query
        .wait_for_completion
        .as_deref()
        .map(|text| wait_time("waitForCompletion", text, &state.config))
        .transpose()?;
    let input = json_body(body, &state.config)?;
    let started = std::time::SystemTime::now();
    let name = orchestrator.clone();
    // The store refuses any id already taken, finished or not: reusing a finished instance's id
    // would silently replace its history, so that is a 409 too (purge it first).
    let id = state.host.start(StartRequest { orchestrator, input, instance_id }).await?;
    let traceparent = headers.get("traceparent").and_then(|value| value.to_str().ok());
    reprise_executor::telemetry::instance_requested(id.as_str(), &name, traceparent, started);
    let links = CheckStatus::new(&base_url(headers), id.as_str());
    let location = header_value(&links.status_query_get_uri)?;
    if let Some(wait) = wait
        && let Some(record) = finished_within(&state, id.as_str(), wait).await?
    {
        // The caller sent the input: the answer leaves it out.
        let options = StatusOptions {
            show_input: false,
            expose_failure_details: state.config.expose_failure_details,
            show_history_output: false,
        };
        let mut response = (StatusCode::OK, Json(InstanceStatus::new(&record, None, options))).into_response();
        response.headers_mut().insert(header::LOCATION, location);
        return Ok(response);
    }
    let mut response = (StatusCode::ACCEPTED, Json(links)).into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    Ok(response)
}

/// The instance's row once it is finished, if that happens within `wait` and before the server
/// stops. The commit that finishes it wakes the wait: nothing polls in this process.
async fn finished_within(state: &AppState, id: &str, wait: Duration) -> Result<Option<InstanceRecord>, ApiError> {
    tokio::select! {
        record = state.host.wait(id) => Ok(Some(record?)),
        () = tokio::time::sleep(wait) => Ok(None),
        // A stopping server answers at once rather than holding its shutdown up.
        () = state.config.stopping.cancelled() => Ok(None),
    }
}

/// A wait parameter's value (`parameter` is its name: `waitForCompletion`, `wait`) as a
/// duration, or why it is refused.
pub(crate) fn wait_time(parameter: &str, text: &str, config: &ApiConfig) -> Result<Duration, ApiError> {
    let most = humantime::format_duration(config.max_wait);
    let wait = humantime::parse_duration(text).map_err(|error| {
        ApiError::BadRequest(format!(
            "{parameter} must be a duration such as 30s, 500ms or 2m (at most {most}); {text:?}: {error}"
        ))
    })?;
    if wait > config.max_wait {
        return Err(ApiError::BadRequest(format!(
            "{parameter} is at most {most} on this server (--max-wait); wait for {most} and poll the statusQueryGetUri of the 202 after that"
        )));
    }
    Ok(wait)
}

/// Query of the status endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusQuery {
    show_history: Option<bool>,
    show_history_output: Option<bool>,
    show_input: Option<bool>,
}

/// `GET .../instances/{id}`: `202` while the instance runs, `200` once it is finished.
pub(crate) async fn status(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = segments(path)?;
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    let record = state.host.instance(&id).await?;
    let history = if query.show_history.unwrap_or(false) {
        let (store, execution) = (state.host.store(), record.execution);
        let id = id.clone();
        let history = tokio::task::spawn_blocking(move || store.history(&id, execution))
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))??;
        Some(history)
    } else {
        None
    };
    let options = StatusOptions {
        show_input: query.show_input.unwrap_or(true),
        expose_failure_details: state.config.expose_failure_details,
        show_history_output: query.show_history_output.unwrap_or(false),
    };
    let body = InstanceStatus::new(&record, history.as_deref(), options);
    if record.status.is_terminal() {
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    let body = body.with_tasks(&state.host.pending_tasks(&id).await?);
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    Ok(response)
}

/// `POST .../instances/{id}/raiseEvent/{eventName}`: the body is the event's data.
pub(crate) async fn raise_event(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let (id, event) = segments(path)?;
    let data = json_body(body, &state.config)?;
    state.host.raise_event(&id, &event, &data).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Query of terminate, suspend and resume.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReasonQuery {
    reason: Option<String>,
    /// Terminate only: terminate the instance's sub-orchestrations too.
    cascade: Option<bool>,
}

/// `POST .../instances/{id}/terminate?reason=&cascade=`.
pub(crate) async fn terminate(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let id = segments(path)?;
    let query = reason_query(query)?;
    let reason = query.reason.unwrap_or_else(|| "terminated over HTTP".into());
    state.host.terminate(&id, &reason, query.cascade.unwrap_or(false)).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST .../instances/{id}/suspend?reason=`.
pub(crate) async fn suspend(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let id = segments(path)?;
    let reason = reason_query(query)?.reason.unwrap_or_else(|| "suspended over HTTP".into());
    state.host.suspend(&id, &reason).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST .../instances/{id}/resume?reason=`.
pub(crate) async fn resume(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let id = segments(path)?;
    let reason = reason_query(query)?.reason.unwrap_or_else(|| "resumed over HTTP".into());
    state.host.resume(&id, &reason).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST .../instances/{id}/rewind?reason=`: a Failed instance runs again from its failures.
pub(crate) async fn rewind(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let id = segments(path)?;
    let reason = reason_query(query)?.reason.unwrap_or_else(|| "rewound over HTTP".into());
    state.host.rewind(&id, &reason).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Query of restart, as Durable Functions' `restartPostUri`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestartQuery {
    /// A new instance with a new id (the default, as in Durable Functions), or the same id.
    restart_with_new_instance_id: Option<bool>,
}

/// `POST .../instances/{id}/restart?restartWithNewInstanceId=`: `202` with the check-status
/// body of the instance it runs as, as the starter answers.
pub(crate) async fn restart(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<RestartQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = segments(path)?;
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    let runs_as = state.host.restart(&id, query.restart_with_new_instance_id.unwrap_or(true)).await?;
    let links = CheckStatus::new(&base_url(&headers), runs_as.as_str());
    let location = header_value(&links.status_query_get_uri)?;
    let mut response = (StatusCode::ACCEPTED, Json(links)).into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    Ok(response)
}

/// `DELETE .../instances/{id}`: purges a finished instance and its history.
pub(crate) async fn purge(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Purged>, ApiError> {
    let id = segments(path)?;
    let filter = PurgeFilter { instance_id: Some(id), ..PurgeFilter::default() };
    let instances_deleted = state.host.purge(filter).await?;
    Ok(Json(Purged { instances_deleted }))
}

/// Query of the bulk purge, as Durable Functions' "purge multiple instance histories".
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PurgeQuery {
    /// Comma-separated terminal statuses (all three if absent).
    runtime_status: Option<String>,
    created_time_from: Option<String>,
    created_time_to: Option<String>,
}

/// `DELETE .../instances?runtimeStatus=&createdTimeFrom=&createdTimeTo=`: deletes the finished
/// instances that match every filter given; at least one is required, so that a bare `DELETE`
/// never empties the database.
pub(crate) async fn purge_many(
    State(state): State<AppState>,
    query: Result<Query<PurgeQuery>, QueryRejection>,
) -> Result<Json<Purged>, ApiError> {
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    if query.runtime_status.is_none() && query.created_time_from.is_none() && query.created_time_to.is_none() {
        return Err(ApiError::BadRequest(
            "name at least one filter: runtimeStatus, createdTimeFrom or createdTimeTo".into(),
        ));
    }
    let statuses = statuses(query.runtime_status.as_deref())?;
    if let Some(status) = statuses.iter().find(|s| !s.is_terminal()) {
        return Err(ApiError::BadRequest(format!(
            "only finished instances can be purged; {status} is not a finished status (Completed, Failed, Terminated)"
        )));
    }
    let filter = PurgeFilter {
        statuses,
        created_from: query.created_time_from.as_deref().map(|t| timestamp("createdTimeFrom", t)).transpose()?,
        created_to: query.created_time_to.as_deref().map(|t| timestamp("createdTimeTo", t)).transpose()?,
        ..PurgeFilter::default()
    };
    let instances_deleted = state.host.purge(filter).await?;
    Ok(Json(Purged { instances_deleted }))
}

/// The statuses of a comma-separated `runtimeStatus` parameter.
fn statuses(parameter: Option<&str>) -> Result<Vec<RuntimeStatus>, ApiError> {
    parameter
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            name.parse::<RuntimeStatus>().map_err(|_| {
                let known: Vec<&str> = RuntimeStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!("unknown runtimeStatus '{name}'; known: {}", known.join(", ")))
            })
        })
        .collect()
}

/// Query of the listing.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    /// Comma-separated statuses.
    runtime_status: Option<String>,
    created_time_from: Option<String>,
    created_time_to: Option<String>,
    /// Durable Functions' filter: instance ids starting with this.
    instance_id_prefix: Option<String>,
    /// Orchestrator names starting with this.
    name_prefix: Option<String>,
    /// Page size.
    top: Option<usize>,
    show_input: Option<bool>,
}

/// `GET .../instances`: instances newest first, filtered, a page at a time.
///
/// The continuation token is the decimal offset of the next page in the filtered listing: opaque
/// to clients, but a page boundary shifts if instances are created between requests.
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    let mut filter = InstanceFilter { statuses: statuses(query.runtime_status.as_deref())?, ..Default::default() };
    filter.created_from = query.created_time_from.as_deref().map(|t| timestamp("createdTimeFrom", t)).transpose()?;
    filter.created_to = query.created_time_to.as_deref().map(|t| timestamp("createdTimeTo", t)).transpose()?;
    let offset = match headers.get(CONTINUATION_HEADER) {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or_else(|| ApiError::BadRequest(format!("malformed {CONTINUATION_HEADER} header")))?,
    };
    let store = state.host.store();
    let records = tokio::task::spawn_blocking(move || store.list_instances(&filter))
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))??;
    // The store filters by exact name only; prefixes are filtered here.
    let matching: Vec<_> = records
        .into_iter()
        .filter(|r| query.instance_id_prefix.as_deref().is_none_or(|p| r.instance_id.starts_with(p)))
        .filter(|r| query.name_prefix.as_deref().is_none_or(|p| r.name.starts_with(p)))
        .collect();
    // The document says at least 1: a page of none is a mistake, not a request for one.
    if query.top == Some(0) {
        return Err(ApiError::BadRequest("top must be at least 1 (the page size)".into()));
    }
    let top = query.top.unwrap_or(usize::MAX);
    let options = StatusOptions {
        show_input: query.show_input.unwrap_or(false),
        expose_failure_details: state.config.expose_failure_details,
        show_history_output: false,
    };
    let page: Vec<InstanceStatus> =
        matching.iter().skip(offset).take(top).map(|r| InstanceStatus::new(r, None, options)).collect();
    let next = offset.saturating_add(page.len());
    let mut response = Json(page).into_response();
    if next < matching.len() {
        response.headers_mut().insert(CONTINUATION_HEADER, HeaderValue::from(next));
    }
    Ok(response)
}

/// Query of the entity signal endpoint.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignalQuery {
    op: Option<String>,
}

/// `POST .../entities/{name}/{key}?op=OPERATION`: signals an entity; the body is the
/// operation's input (empty = null). `202` once the operation is queued.
pub(crate) async fn signal_entity(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<SignalQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let (name, key) = segments(path)?;
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    let Some(operation) = query.op.filter(|op| !op.is_empty()) else {
        return Err(ApiError::BadRequest("name the operation with the query parameter ?op=OPERATION".into()));
    };
    let entity = EntityId::new(name, key).map_err(|error| ApiError::BadRequest(error.to_string()))?;
    let input = json_body(body, &state.config)?;
    state.host.signal_entity(&entity, &operation, &input).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET .../entities/{name}/{key}`: the entity's state as the body (`200`), or `404` if it does
/// not exist.
pub(crate) async fn get_entity(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (name, key) = segments(path)?;
    let entity = EntityId::new(name, key).map_err(|error| ApiError::BadRequest(error.to_string()))?;
    match state.host.entity(&entity).await? {
        Some(record) => {
            // The state is the body exactly as stored.
            let state = record.state.unwrap_or_else(Payload::null).into_string();
            Ok(([(header::CONTENT_TYPE, "application/json")], state).into_response())
        }
        None => {
            Err(ApiError::NotFound(format!("no entity {entity}: it has received no operation yet, or was deleted")))
        }
    }
}

/// Query of the entity listings.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntityListQuery {
    /// Only keys that start with this.
    key_prefix: Option<String>,
    /// Also entities without state.
    include_deleted: Option<bool>,
    /// At most this many (default 100).
    top: Option<usize>,
}

/// `GET .../entities`: every entity.
pub(crate) async fn list_entities(
    State(state): State<AppState>,
    query: Result<Query<EntityListQuery>, QueryRejection>,
) -> Result<Json<Vec<EntityStatus>>, ApiError> {
    entity_listing(state, None, query).await
}

/// `GET .../entities/{name}`: the entities of one type.
pub(crate) async fn list_entities_of(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<EntityListQuery>, QueryRejection>,
) -> Result<Json<Vec<EntityStatus>>, ApiError> {
    let name = segments(path)?;
    entity_listing(state, Some(name), query).await
}

async fn entity_listing(
    state: AppState,
    name: Option<String>,
    query: Result<Query<EntityListQuery>, QueryRejection>,
) -> Result<Json<Vec<EntityStatus>>, ApiError> {
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    let filter = EntityFilter {
        name,
        key_prefix: query.key_prefix,
        include_stateless: query.include_deleted.unwrap_or(false),
        limit: Some(query.top.unwrap_or(100)),
    };
    let records = state.host.entities(filter).await?;
    let host = &state.host;
    Ok(Json(records.iter().map(|r| EntityStatus::from_record(r, host.entity_throttled(r))).collect()))
}

/// `GET /openapi.json`: the API's OpenAPI document, kept in the repository beside this crate.
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../openapi.json")).into_response()
}

/// Any other path.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /openapi.json".into())
}

/// The body as text (an empty body is `null`), or why it is refused. The host checks it as a
/// payload (one JSON document, within its limit), as it does every payload.
pub(crate) fn json_body(body: Result<Bytes, BytesRejection>, config: &ApiConfig) -> Result<String, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the request body is larger than the limit of {} bytes; pass a reference (a URL, a key) instead of the data",
                config.max_body_bytes
            ))
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::BadRequest("the request body is not UTF-8 text".into()))?;
    if text.trim().is_empty() {
        return Ok("null".into());
    }
    Ok(text)
}

/// A path the API has, with a method it does not take (axum adds the `Allow` header).
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The path's segments, or a `400` in the API's own shape: a segment whose percent-decoding is
/// not UTF-8 is the caller's mistake, and the rejection axum would answer is plain text.
pub(crate) fn segments<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    path.map(|Path(segments)| segments).map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

fn reason_query(query: Result<Query<ReasonQuery>, QueryRejection>) -> Result<ReasonQuery, ApiError> {
    Ok(query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0)
}

/// An RFC 3339 time (`2024-01-31T12:00:00Z`) as milliseconds since the epoch.
fn timestamp(parameter: &str, text: &str) -> Result<u64, ApiError> {
    let bad = || ApiError::BadRequest(format!("{parameter} must be an ISO 8601 UTC time such as 2024-01-31T12:00:00Z"));
    let time = humantime::parse_rfc3339(text).map_err(|_| bad())?;
    let millis = time.duration_since(UNIX_EPOCH).map_err(|_| bad())?.as_millis();
    u64::try_from(millis).map_err(|_| bad())
}

/// `http://HOST` from the request's `Host` header, for the absolute URLs of the check-status body.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

pub(crate) fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(|error| ApiError::Internal(format!("invalid header value {text:?}: {error}")))
}
