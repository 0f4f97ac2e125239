//! The update endpoints: `POST .../instances/{id}/update/{name}` sends an update and waits for
//! its answer, `GET .../instances/{id}/updates/{updateId}` reads (and may wait for) one.
//!
//! Both answer with the same body: `200` once the update is settled (answered, or never to be
//! answered because its execution ended), `202` with `Location` while it waits. A validator's
//! refusal is a `422` with the failure, and nothing is recorded. This module owns the
//! parameters and the body; the executor decides everything else.

use crate::error::ApiError;
use crate::handlers::{AppState, base_url, header_value, json_body, segments, wait_time};
use crate::shapes::{encode_segment, failure_json, iso8601};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reprise_core::{RawJson, UpdateReply};
use reprise_executor::{UpdateRequest, UpdateState, UpdateStatus};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long `POST .../update/{name}` waits for the answer when the caller does not say (at
/// most the server's `--max-wait`).
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Query of `POST .../update/{name}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SendQuery {
    /// The update's id (a retry under the same id finds the first request).
    update_id: Option<String>,
    /// How long to wait for the answer (`30s`; `0s` to return once it is recorded).
    wait: Option<String>,
}

/// Query of `GET .../updates/{updateId}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatusQuery {
    /// How long to wait for the answer (not at all by default).
    wait: Option<String>,
}

/// An update as callers see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    instance_id: String,
    update_id: String,
    name: String,
    /// `Pending`, `Completed` (answered with an output), `Failed` (answered with a failure) or
    /// `Unanswered` (its execution ended without answering it).
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<RawJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<serde_json::Value>,
    requested_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    answered_time: Option<String>,
    status_query_get_uri: String,
}

/// `POST .../instances/{id}/update/{name}?updateId=&wait=`: the body is the update's input.
pub(crate) async fn send(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<SendQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (instance_id, name) = segments(path)?;
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    let wait = match query.wait.as_deref() {
        Some(text) => wait_time("wait", text, &state.config)?,
        None => DEFAULT_WAIT.min(state.config.max_wait),
    };
    let input = json_body(body, &state.config)?;
    // The wait is the server's: a stopping server answers at once with where the update stands.
    let request = UpdateRequest { instance_id: instance_id.clone(), name, input, update_id: query.update_id, wait };
    let status = tokio::select! {
        status = state.host.update(request.clone()) => status?,
        () = state.config.stopping.cancelled() => {
            state.host.update(UpdateRequest { wait: Duration::ZERO, ..request }).await?
        }
    };
    respond(&state, &headers, status)
}

/// `GET .../instances/{id}/updates/{updateId}?wait=`.
pub(crate) async fn status(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<StatusQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (instance_id, update_id) = segments(path)?;
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    let wait = query.wait.as_deref().map(|text| wait_time("wait", text, &state.config)).transpose()?;
    let status = tokio::select! {
        status = state.host.update_status(&instance_id, &update_id, wait.unwrap_or_default()) => status?,
        () = state.config.stopping.cancelled() => {
            state.host.update_status(&instance_id, &update_id, Duration::ZERO).await?
        }
    };
    respond(&state, &headers, status)
}

/// `200` with the body once settled, `202` with `Location` and `Retry-After` while pending.
fn respond(state: &AppState, headers: &HeaderMap, status: UpdateStatus) -> Result<Response, ApiError> {
    let record = &status.record;
    let uri = format!(
        "{}/runtime/webhooks/durabletask/instances/{}/updates/{}",
        base_url(headers),
        encode_segment(&record.instance_id),
        encode_segment(&record.update_id)
    );
    let expose = state.config.expose_failure_details;
    let (label, output, failure) = match (&status.state, &record.reply) {
        (UpdateState::Answered, Some(UpdateReply::Output(output))) => ("Completed", Some(output.json()), None),
        (UpdateState::Answered, Some(UpdateReply::Failure(failure))) => {
            ("Failed", None, Some(failure_json(failure, expose)))
        }
        (UpdateState::Unanswered { .. }, _) => ("Unanswered", None, None),
        _ => ("Pending", None, None),
    };
    let body = UpdateBody {
        instance_id: record.instance_id.clone(),
        update_id: record.update_id.clone(),
        name: record.name.clone(),
        status: label,
        output,
        failure,
        requested_time: iso8601(record.requested_at),
        answered_time: record.replied_at.map(iso8601),
        status_query_get_uri: uri.clone(),
    };
    if label != "Pending" {
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    response.headers_mut().insert(header::LOCATION, header_value(&uri)?);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(response)
}
