//! The schedule endpoints under `/api/schedules`, and the JSON shape of a schedule (which
//! `reprise schedule ... --json` prints too, so both speak the same names).
//!
//! Like the other handlers, each is a thin translation to a [`reprise_executor::Host`] call: the
//! definition is checked by `reprise_core::schedule::ScheduleParts`, firing is the executor's.

use crate::error::ApiError;
use crate::handlers::{AppState, base_url, json_body, segments};
use crate::shapes::CheckStatus;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reprise_core::Payload;
use reprise_core::schedule::{ScheduleName, ScheduleParts, Trigger, parse_time, utc_text};
use reprise_executor::ScheduleView;
use serde::Deserialize;
use serde_json::{Value, json};

/// The body of `POST /api/schedules`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewSchedule {
    name: String,
    orchestrator: String,
    #[serde(default)]
    input: Option<Box<serde_json::value::RawValue>>,
    cron: Option<String>,
    every: Option<String>,
    timezone: Option<String>,
    overlap: Option<String>,
    catch_up: Option<String>,
    start_at: Option<String>,
    end_at: Option<String>,
    #[serde(default)]
    paused: bool,
}

/// The body of `POST /api/schedules/{name}/backfill`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackfillRange {
    from: String,
    to: String,
}

/// `GET /api/schedules`: every schedule, by name.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
    Ok(Json(state.host.describe_schedules().await?.iter().map(schedule_json).collect()))
}

/// `POST /api/schedules`: creates a schedule; `201` with it.
pub(crate) async fn create(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let text = json_body(body, &state.config)?;
    let new: NewSchedule = serde_json::from_str(&text)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a schedule definition: {e}")))?;
    let name = parse_name(new.name)?;
    let parts = ScheduleParts {
        orchestrator: new.orchestrator,
        input: new.input.map(|raw| Payload::stored(raw.get())),
        cron: new.cron,
        every: new.every,
        timezone: new.timezone,
        overlap: new.overlap,
        catch_up: new.catch_up,
        start_at: new.start_at,
        end_at: new.end_at,
    };
    let spec = parts.spec().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state.host.create_schedule(&name, spec, new.paused).await?;
    let view = state.host.describe_schedule(&name).await?;
    Ok((StatusCode::CREATED, Json(schedule_json(&view))).into_response())
}

/// `GET /api/schedules/{name}`: the schedule, its next fire times and latest runs.
pub(crate) async fn describe(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = parse_name(segments(path)?)?;
    Ok(Json(schedule_json(&state.host.describe_schedule(&name).await?)))
}

/// `DELETE /api/schedules/{name}`: `204`; the instances it started stay.
pub(crate) async fn delete(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    state.host.delete_schedule(&parse_name(segments(path)?)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/schedules/{name}/pause`: `204`.
pub(crate) async fn pause(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    state.host.pause_schedule(&parse_name(segments(path)?)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/schedules/{name}/resume`: `204`; resumes from now.
pub(crate) async fn resume(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    state.host.resume_schedule(&parse_name(segments(path)?)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/schedules/{name}/trigger`: starts a run now; `202` with its check-status body.
pub(crate) async fn trigger(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = state.host.trigger_schedule(&parse_name(segments(path)?)?).await?;
    Ok((StatusCode::ACCEPTED, Json(CheckStatus::new(&base_url(&headers), id.as_str()))).into_response())
}

/// `POST /api/schedules/{name}/backfill` with `{"from": TIME, "to": TIME}`: starts the runs of
/// the slots in `[from, to)` that have none; `200` with what it did.
pub(crate) async fn backfill(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = parse_name(segments(path)?)?;
    let text = json_body(body, &state.config)?;
    let range: BackfillRange = serde_json::from_str(&text)
        .map_err(|e| ApiError::BadRequest(format!("the body must be {{\"from\": TIME, \"to\": TIME}}: {e}")))?;
    let bad = |e: reprise_core::schedule::ScheduleError| ApiError::BadRequest(e.to_string());
    let (from, to) = (parse_time(&range.from).map_err(bad)?, parse_time(&range.to).map_err(bad)?);
    let report = state.host.backfill_schedule(&name, from, to).await?;
    Ok(Json(json!({
        "slots": report.slots,
        "started": report.started,
        "alreadyStarted": report.already_started,
    })))
}

fn parse_name(name: String) -> Result<ScheduleName, ApiError> {
    ScheduleName::new(name).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// A schedule as JSON: its definition (`trigger` is `{"cron", "timezone"}` or `{"everyMs"}`),
/// state, counts, next fire times (UTC and on its wall clock) and latest runs, newest first.
pub fn schedule_json(view: &ScheduleView) -> Value {
    let r = &view.record;
    let trigger = match &r.spec.trigger {
        Trigger::Cron { expression, timezone } => json!({"cron": expression, "timezone": timezone}),
        Trigger::Every { interval_ms } => json!({"everyMs": interval_ms}),
    };
    let input = serde_json::value::RawValue::from_string(r.spec.input.as_str().to_string()).ok();
    json!({
        "name": r.name.as_str(),
        "orchestrator": r.spec.orchestrator,
        "input": input,
        "trigger": trigger,
        "overlap": r.spec.overlap.as_str(),
        "catchUpMs": r.spec.catch_up_ms,
        "startAt": r.spec.start_at.map(utc_text),
        "endAt": r.spec.end_at.map(utc_text),
        "paused": r.paused,
        "counts": {"fired": r.fired, "skipped": r.skipped, "missed": r.missed},
        "bufferedSlot": r.buffered.map(utc_text),
        "createdAt": utc_text(r.created_at),
        "next": view.next.iter().map(|t| json!({"utc": t.utc, "local": t.local})).collect::<Vec<_>>(),
        "runs": view.runs.iter().map(|run| json!({
            "slot": run.slot.as_ref().map(|t| t.utc.clone()),
            "kind": run.kind.as_str(),
            "outcome": run.outcome.as_str(),
            "instanceId": run.instance_id,
            "status": run.status.map(|s| s.to_string()),
            "recordedAt": utc_text(run.at),
        })).collect::<Vec<_>>(),
    })
}
