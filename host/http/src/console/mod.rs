//! The web console of `reprise serve --listen`: server-rendered pages over the same host calls
//! the JSON API makes, with one small script (live refresh, zoom, actions through the API) and
//! one stylesheet, both inside the binary, so it works with no internet and builds with cargo
//! alone.
//!
//! It owns the pages: the instance list (`/`), an instance with its timeline
//! (`/instances/{id}`), the schedules (`/schedules`), the entities (`/entities`), the components
//! (`/components`) and the sign-in
//! (`/login`, when the server has a token). It reads only: every action a page offers is a call
//! of the JSON API from the browser, so the console can do nothing the API cannot, and shows
//! details only where the API would ([`crate::ApiConfig::expose_failure_details`]).

mod pages;
mod timeline;

use crate::error::ApiError;
use crate::handlers::AppState;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use reprise_core::{Event, RuntimeStatus, Timestamp};
use reprise_store::{EntityFilter, InstanceFilter};
use serde::Deserialize;
use std::collections::HashMap;

pub(crate) use pages::TOKEN_COOKIE;

/// Instances on one page of the list.
const PAGE: usize = 50;

/// The list's filters, as the form sends them (empty fields are no filter).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    name: Option<String>,
    id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<usize>,
}

impl ListQuery {
    fn text(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
}

/// `GET /`: the instances, newest first, with filters and counts per status.
pub(crate) async fn instances(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    let status = match ListQuery::text(&query.status) {
        Some(text) => Some(text.parse::<RuntimeStatus>().map_err(|e| ApiError::BadRequest(e.to_string()))?),
        None => None,
    };
    let time = |field: &str, value: &Option<String>| -> Result<Option<Timestamp>, ApiError> {
        ListQuery::text(value).map(|text| local_time(field, text)).transpose()
    };
    let (name, id) = (ListQuery::text(&query.name), ListQuery::text(&query.id));
    let page = query.page.unwrap_or(0);
    let mut filter = InstanceFilter {
        statuses: status.into_iter().collect(),
        created_from: time("from", &query.from)?,
        created_to: time("to", &query.to)?,
        ..InstanceFilter::default()
    };
    // Without a prefix or a time, the counts give the total: the store reads only the rows up
    // to this page, so that a refresh every 2 s stays cheap on a large database.
    let counted = name.is_none() && id.is_none() && filter.created_from.is_none() && filter.created_to.is_none();
    if counted {
        filter.limit = Some((page + 1) * PAGE);
    }
    let store = state.host.store();
    let now = state.host.now();
    let (records, counts) = tokio::task::spawn_blocking(move || {
        let records = store.list_instances(&filter)?;
        Ok::<_, reprise_store::StoreError>((records, store.counts(now)?))
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))??;
    let matching: Vec<_> = records
        .into_iter()
        .filter(|r| id.is_none_or(|p| r.instance_id.starts_with(p)))
        .filter(|r| name.is_none_or(|p| r.name.starts_with(p)))
        .collect();
    let shown: Vec<_> = matching.iter().skip(page * PAGE).take(PAGE).collect();
    let total = if counted {
        let of_status = |s: &RuntimeStatus| status.is_none_or(|wanted| wanted == *s);
        counts.instances.iter().filter(|(s, _)| of_status(s)).map(|(_, n)| *n as usize).sum()
    } else {
        matching.len()
    };
    let list = pages::List {
        records: &shown,
        total,
        page,
        pages: total.div_ceil(PAGE).max(1),
        counts: &counts.instances,
        filters: pages::Filters {
            status,
            name: name.unwrap_or_default(),
            id: id.unwrap_or_default(),
            from: ListQuery::text(&query.from).unwrap_or_default(),
            to: ListQuery::text(&query.to).unwrap_or_default(),
        },
    };
    Ok(Html(pages::instances(&list).into_string()).into_response())
}

/// `GET /instances/{id}`: an instance, its timeline and its history.
pub(crate) async fn instance(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path.map(|Path(id)| id).map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let record = match state.host.instance(&id).await {
        Ok(record) => record,
        Err(reprise_executor::ExecutorError::InstanceNotFound(_)) => {
            let page = pages::not_found(&id).into_string();
            return Ok((StatusCode::NOT_FOUND, Html(page)).into_response());
        }
        Err(error) => return Err(error.into()),
    };
    let store = state.host.store();
    let (history_id, execution) = (id.clone(), record.execution);
    let history = tokio::task::spawn_blocking(move || store.history(&history_id, execution))
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))??;
    let until = record.completed_at.unwrap_or_else(|| state.host.now());
    let timeline = timeline::read(&history, until);
    let children: Vec<String> = history
        .iter()
        .filter_map(|e| match &e.event {
            Event::SubOrchestrationScheduled { instance_id, .. } => Some(instance_id.to_string()),
            _ => None,
        })
        .collect();
    let page = pages::Instance {
        record: &record,
        history: &history,
        timeline: &timeline,
        children: &children,
        details: state.config.expose_failure_details,
    };
    Ok(Html(pages::instance(&page).into_string()).into_response())
}

/// The entities list's filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EntitiesQuery {
    name: Option<String>,
}

/// `GET /entities`: every entity with its state and queued operations.
pub(crate) async fn entities(
    State(state): State<AppState>,
    query: Result<Query<EntitiesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?.0;
    let name = query.name.filter(|n| !n.trim().is_empty());
    let filter = EntityFilter { name: name.clone(), include_stateless: true, ..EntityFilter::default() };
    let records = state.host.entities(filter).await?;
    Ok(Html(pages::entities(&records, name.as_deref().unwrap_or_default()).into_string()).into_response())
}

/// `GET /schedules`: every schedule with its next fire times and latest runs.
pub(crate) async fn schedules(State(state): State<AppState>) -> Result<Response, ApiError> {
    let views = state.host.describe_schedules().await?;
    Ok(Html(pages::schedules(&views).into_string()).into_response())
}

/// `GET /components`: the loaded components, what they export and the unfinished instances
/// pinned to each.
pub(crate) async fn components(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.host.store();
    let (components, pinned) = tokio::task::spawn_blocking(move || {
        let components = store.components()?;
        let unfinished = InstanceFilter {
            statuses: RuntimeStatus::ALL.into_iter().filter(|s| !s.is_terminal()).collect(),
            ..InstanceFilter::default()
        };
        let mut pinned: HashMap<String, usize> = HashMap::new();
        for record in store.list_instances(&unfinished)? {
            if let Some(hash) = record.component {
                *pinned.entry(hash).or_default() += 1;
            }
        }
        Ok::<_, reprise_store::StoreError>((components, pinned))
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))??;
    Ok(Html(pages::components(&components, &pinned).into_string()).into_response())
}

/// `GET /login`: the sign-in form (only reachable when the server has a token).
pub(crate) async fn login_form() -> Response {
    Html(pages::login(None).into_string()).into_response()
}

/// The sign-in form's field.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

/// `POST /login`: checks the token and keeps it in a cookie that only this site's requests
/// carry, then goes to the list.
pub(crate) async fn login(
    State(state): State<AppState>,
    form: Result<axum::Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let token = form.map(|axum::Form(form)| form.token).unwrap_or_default();
    match &state.config.token {
        Some(expected) if crate::auth::constant_time_eq(token.trim().as_bytes(), expected.as_bytes()) => {
            let cookie = format!("{TOKEN_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", token.trim());
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Some(_) => {
            (StatusCode::UNAUTHORIZED, Html(pages::login(Some("That is not the server's token.")).into_string()))
                .into_response()
        }
        None => Redirect::to("/").into_response(),
    }
}

/// `GET /assets/console.css`.
pub(crate) async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("assets/console.css")).into_response()
}

/// `GET /assets/console.js`.
pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("assets/console.js")).into_response()
}

/// A time from the filter form: `2024-01-31T12:00` (a browser's local date-time field, taken as
/// UTC), `2024-01-31` or a full RFC 3339 time.
fn local_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    let bad = || ApiError::BadRequest(format!("{field} must be a UTC time such as 2024-01-31T12:00 or 2024-01-31"));
    let full = if text.len() == 10 { format!("{text}T00:00:00") } else { text.to_string() };
    let time = humantime::parse_rfc3339_weak(&full)
        .or_else(|_| humantime::parse_rfc3339_weak(&format!("{full}:00")))
        .map_err(|_| bad())?;
    let millis = time.duration_since(std::time::UNIX_EPOCH).map_err(|_| bad())?.as_millis();
    u64::try_from(millis).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_form_s_times_are_read_as_utc() {
        assert_eq!(local_time("from", "1970-01-02").unwrap(), 86_400_000);
        assert_eq!(local_time("from", "1970-01-01T00:01").unwrap(), 60_000);
        assert_eq!(local_time("from", "1970-01-01T00:00:02Z").unwrap(), 2_000);
        assert!(local_time("from", "yesterday").is_err());
    }
}
