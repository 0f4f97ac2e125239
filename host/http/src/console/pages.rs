//! The console's pages as HTML (maud escapes every value it is given). One layout, one table
//! style, statuses in the same colours everywhere; no JSON where a table or a picture serves,
//! and payloads shown as text, shortened in lists.

use super::timeline::{Timeline, duration};
use maud::{DOCTYPE, Markup, html};
use reprise_core::schedule::Trigger;
use reprise_core::{Failure, HistoryEvent, Payload, RuntimeStatus, Timestamp};
use reprise_executor::ScheduleView;
use reprise_store::{ComponentRecord, EntityRecord, InstanceRecord};
use std::collections::HashMap;

/// What is escaped in a path segment or a query value: everything but the unreserved
/// characters (RFC 3986), so that ids read as they are where they can.
const ESCAPED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The cookie that carries the token for the console's pages and their API calls.
pub(crate) const TOKEN_COOKIE: &str = "reprise_token";

/// A page in the console's frame.
fn layout(title: &str, current: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Reprise" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Reprise" }
                    nav {
                        @for (href, label) in [("/", "Instances"), ("/schedules", "Schedules"), ("/entities", "Entities"), ("/components", "Components")] {
                            a href=(href) aria-current=[(label == current).then_some("page")] { (label) }
                        }
                        a href="/metrics" { "Metrics" }
                        a href="/openapi.json" { "API" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The link to an instance's page.
pub(crate) fn instance_href(id: &str) -> String {
    format!("/instances/{}", percent_encoding::utf8_percent_encode(id, ESCAPED))
}

fn time(at: Timestamp) -> String {
    reprise_core::history_text::render_time(at)
}

fn status_badge(status: RuntimeStatus) -> Markup {
    html! { span.status data-status=(status.as_str()) { (status.as_str()) } }
}

/// A payload as text, cut at `max` characters.
fn short(payload: &Payload, max: usize) -> String {
    let text = payload.as_str();
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The list's filters as given.
pub(crate) struct Filters<'a> {
    pub(crate) status: Option<RuntimeStatus>,
    pub(crate) name: &'a str,
    pub(crate) id: &'a str,
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
}

/// What the list page shows.
pub(crate) struct List<'a> {
    pub(crate) records: &'a [&'a InstanceRecord],
    pub(crate) total: usize,
    pub(crate) page: usize,
    pub(crate) pages: usize,
    pub(crate) counts: &'a [(RuntimeStatus, u64)],
    pub(crate) filters: Filters<'a>,
}

impl List<'_> {
    /// The list's URL with the same filters, on page `page`.
    fn page_href(&self, page: usize) -> String {
        let f = &self.filters;
        let status = f.status.map(RuntimeStatus::as_str).unwrap_or_default();
        let mut query =
            form_urlencoded(&[("status", status), ("name", f.name), ("id", f.id), ("from", f.from), ("to", f.to)]);
        query.push_str(&format!("&page={page}"));
        format!("/?{query}")
    }
}

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", percent_encoding::utf8_percent_encode(value, ESCAPED)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `/`.
pub(crate) fn instances(list: &List<'_>) -> Markup {
    let f = &list.filters;
    layout(
        "Instances",
        "Instances",
        html! {
            h1 { "Instances" }
            ul #counts aria-label="instances by status" {
                @for status in RuntimeStatus::ALL {
                    @let count = list.counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
                    li data-status=(status.as_str()) {
                        a href=(format!("/?status={}", status.as_str())) {
                            span.count { (count) } " " (status_badge(status))
                        }
                    }
                }
            }
            form #filters method="get" action="/" {
                label { "Status "
                    select name="status" {
                        option value="" { "any" }
                        @for status in RuntimeStatus::ALL {
                            option value=(status.as_str()) selected[f.status == Some(status)] { (status.as_str()) }
                        }
                    }
                }
                label { "Name starts with " input name="name" value=(f.name) placeholder="orchestrator"; }
                label { "Id starts with " input name="id" value=(f.id) placeholder="order-"; }
                label { "Created from " input type="datetime-local" name="from" value=(f.from); }
                label { "to " input type="datetime-local" name="to" value=(f.to); }
                button type="submit" { "Filter" }
                a href="/" { "Clear" }
            }
            p.summary data-live="instances" {
                (list.total) " instances · newest first · page " (list.page + 1) " of " (list.pages)
                " · refreshed every 2 s"
            }
            table #instances {
                thead { tr { th { "Instance" } th { "Orchestrator" } th { "Status" } th { "Custom status" } th { "Created (UTC)" } th { "Ended" } } }
                tbody {
                    @for record in list.records {
                        tr data-instance-id=(record.instance_id) {
                            td { a.instance-link href=(instance_href(&record.instance_id)) { (record.instance_id) } }
                            td { (record.name) }
                            td.status data-status=(record.status.as_str()) { (record.status.as_str()) }
                            td.custom { @if let Some(custom) = &record.custom_status { (short(custom, 60)) } }
                            td { (time(record.created_at)) }
                            td { @if let Some(done) = record.completed_at { "after " (duration(done.saturating_sub(record.created_at))) } }
                        }
                    }
                    @if list.records.is_empty() {
                        tr.empty { td colspan="6" { "No instance matches. Start one with " code { "reprise start NAME" } " or " code { "POST /api/orchestrators/NAME" } "." } }
                    }
                }
            }
            nav.pager {
                @if list.page > 0 { a rel="prev" href=(list.page_href(list.page - 1)) { "← newer" } }
                @if list.page + 1 < list.pages { a rel="next" href=(list.page_href(list.page + 1)) { "older →" } }
            }
        },
    )
}

/// What an instance's page shows.
pub(crate) struct Instance<'a> {
    pub(crate) record: &'a InstanceRecord,
    pub(crate) history: &'a [HistoryEvent],
    pub(crate) timeline: &'a Timeline,
    pub(crate) children: &'a [String],
    pub(crate) details: bool,
}

fn failure(failure: &Failure, details: bool) -> Markup {
    html! {
        ol.causes {
            li { strong { (failure.error_type) } ": " (failure.message)
                @if details { @if let Some(d) = &failure.details { pre { (d) } } } }
            @if details {
                @for cause in &failure.causes {
                    li { "caused by " strong { (cause.error_type) } ": " (cause.message)
                        @if let Some(d) = &cause.details { pre { (d) } } }
                }
            } @else if !failure.causes.is_empty() {
                li.hidden-details { (failure.causes.len()) " inner causes, shown with " code { "--expose-failure-details" } }
            }
        }
    }
}

/// `/instances/{id}`.
pub(crate) fn instance(page: &Instance<'_>) -> Markup {
    let record = page.record;
    let api = format!(
        "/runtime/webhooks/durabletask/instances/{}",
        percent_encoding::utf8_percent_encode(&record.instance_id, ESCAPED)
    );
    layout(
        &record.instance_id,
        "Instances",
        html! {
            p.crumbs { a href="/" { "Instances" } " / " }
            h1 { (record.instance_id) " " span.name { (record.name) } }
            dl.facts {
                dt { "Status" } dd #status data-status=(record.status.as_str()) { (record.status.as_str()) }
                dt { "Custom status" } dd #custom-status { @match &record.custom_status { Some(c) => (c.as_str()), None => "none" } }
                dt { "Created" } dd { (time(record.created_at)) " UTC" }
                @if let Some(done) = record.completed_at {
                    dt { "Ended" } dd { (time(done)) " UTC, after " (duration(done.saturating_sub(record.created_at))) }
                }
                dt { "Execution" } dd { (record.execution) }
                dt { "Component" } dd { @match &record.component { Some(h) => code { (&h[..h.len().min(12)]) }, None => "not pinned yet" } }
                @if let Some(parent) = &record.parent {
                    dt { "Parent" } dd { a.parent href=(instance_href(&parent.instance_id)) { (parent.instance_id) } " (task " (parent.task_id) ", attempt " (parent.attempt) ")" }
                }
                @if !page.children.is_empty() {
                    dt { "Children" } dd { @for child in page.children { a.child href=(instance_href(child)) { (child) } " " } }
                }
            }
            section.payloads {
                div { h2 { "Input" } pre #input { (record.input.as_str()) } }
                @if let Some(output) = &record.output { div { h2 { "Output" } pre #output { (output.as_str()) } } }
                @if let Some(f) = &record.failure { div #failure { h2 { "Failure" } (failure(f, page.details)) } }
            }
            section.actions aria-label="actions" data-api=(api) {
                h2 { "Actions" }
                form #raise-event {
                    label { "Event " input name="event" required placeholder="Approval"; }
                    label { "Data (JSON) " textarea name="data" rows="1" placeholder="null" {} }
                    button type="submit" { "Raise event" }
                }
                div.buttons {
                    @for (action, label) in [("suspend", "Suspend"), ("resume", "Resume"), ("terminate", "Terminate"), ("rewind", "Rewind"), ("restart", "Restart"), ("purge", "Purge")] {
                        button type="button" data-action=(action) { (label) }
                    }
                }
                output #action-result aria-live="polite" {}
            }
            section {
                h2 { "Timeline" }
                @if page.timeline.lanes.is_empty() {
                    p { "No task scheduled yet." }
                } @else {
                    (page.timeline.render(instance_href))
                }
            }
            section {
                h2 { "History" }
                table #history {
                    thead { tr { th { "#" } th { "Event" } th { "Details" } } }
                    tbody {
                        @for event in page.history {
                            tr data-kind=(event.event.kind()) { td { (event.seq) } td { (event.event.kind()) } td.details { (event_details(event)) } }
                        }
                    }
                }
            }
        },
    )
}

/// An event's fields other than its kind, as `name: value`, shortened.
fn event_details(event: &HistoryEvent) -> String {
    let fields = reprise_core::history_text::render_event(event);
    let text: Vec<String> = fields
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "type" | "seq"))
        .map(|(key, value)| format!("{key}: {}", serde_json::to_string(value).unwrap_or_default()))
        .collect();
    let text = text.join(" · ");
    match text.char_indices().nth(240) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// An instance id nobody has.
pub(crate) fn not_found(id: &str) -> Markup {
    layout(
        "Not found",
        "Instances",
        html! {
            h1 { "No instance " code { (id) } }
            p { "It was never started here, or it was purged. " a href="/" { "See the instances" } "." }
        },
    )
}

/// `/entities`.
pub(crate) fn entities(records: &[EntityRecord], name: &str) -> Markup {
    layout(
        "Entities",
        "Entities",
        html! {
            h1 { "Entities" }
            form #filters method="get" action="/entities" {
                label { "Entity type " input name="name" value=(name) placeholder="Counter"; }
                button type="submit" { "Filter" }
            }
            table #entities {
                thead { tr { th { "Entity" } th { "State" } th { "Operations run" } th { "Queued" } th { "Locked by" } th { "Last change (UTC)" } } }
                tbody {
                    @for record in records {
                        tr data-entity=(record.entity.to_string()) {
                            td { (record.entity.to_string()) }
                            td { @match &record.state { Some(state) => code { (short(state, 120)) }, None => em { "no state" } } }
                            td { (record.operations) }
                            td { (record.queued) }
                            td { @if let Some(holder) = &record.locked_by { a href=(instance_href(&holder.instance_id)) { (holder.instance_id) } } }
                            td { (time(record.updated_at)) }
                        }
                    }
                    @if records.is_empty() { tr.empty { td colspan="6" { "No entity yet: the first operation signalled to one creates it." } } }
                }
            }
        },
    )
}

/// `/schedules`: each schedule, its next fire times and latest runs, and the buttons that pause,
/// resume or run it now through the API.
pub(crate) fn schedules(views: &[ScheduleView]) -> Markup {
    layout(
        "Schedules",
        "Schedules",
        html! {
            h1 { "Schedules" }
            p.summary { (views.len()) " schedule" @if views.len() != 1 { "s" } "; times in UTC, and on each schedule's own clock" }
            section.schedule-actions data-api="/api/schedules" {
                pre #action-result aria-live="polite" {}
            }
            table #schedules {
                thead { tr { th { "Schedule" } th { "Runs" } th { "When" } th { "State" } th { "Next fires" } th { "Latest runs" } th { "Fired / skipped / missed" } th {} } }
                tbody {
                    @for view in views {
                        @let r = &view.record;
                        tr data-schedule=(r.name.as_str()) {
                            td { (r.name.as_str()) }
                            td { (r.spec.orchestrator) br; code { (short(&r.spec.input, 60)) } }
                            td {
                                @match &r.spec.trigger {
                                    Trigger::Cron { expression, timezone } => { code { (expression) } " " (timezone) }
                                    Trigger::Every { interval_ms } => { "every " (humantime::format_duration(std::time::Duration::from_millis(*interval_ms))) }
                                }
                                br; small { "overlap " (r.spec.overlap.as_str()) }
                            }
                            td.state { @if r.paused { "Paused" } @else if view.next.is_empty() { "Ended" } @else { "Active" } }
                            td.next {
                                ul { @for fire in &view.next { li title=(fire.utc) { (fire.local) } } }
                            }
                            td.runs {
                                ul {
                                    @for run in view.runs.iter().take(5) {
                                        li {
                                            (run.kind.as_str()) " " (run.outcome.as_str())
                                            @if let Some(slot) = &run.slot { " " small { (slot.utc) } }
                                            @if let Some(id) = &run.instance_id { " " a href=(instance_href(id)) { (id) } }
                                            @if let Some(status) = run.status { " " (status_badge(status)) }
                                        }
                                    }
                                    @if view.runs.is_empty() { li.empty { "none yet" } }
                                }
                            }
                            td { (r.fired) " / " (r.skipped) " / " (r.missed) }
                            td.buttons {
                                @if r.paused {
                                    button type="button" data-schedule-action="resume" { "Resume" }
                                } @else {
                                    button type="button" data-schedule-action="pause" { "Pause" }
                                }
                                button type="button" data-schedule-action="trigger" { "Run now" }
                            }
                        }
                    }
                    @if views.is_empty() { tr.empty { td colspan="8" { "No schedule yet: `reprise schedule create NAME --orchestrator O --cron ...` makes one." } } }
                }
            }
        },
    )
}

/// `/components`.
pub(crate) fn components(components: &[ComponentRecord], pinned: &HashMap<String, usize>) -> Markup {
    layout(
        "Components",
        "Components",
        html! {
            h1 { "Components" }
            table #components {
                thead { tr { th { "Hash" } th { "Loaded from" } th { "Orchestrators" } th { "Activities" } th { "Entities" } th { "Unfinished instances pinned" } th { "Loaded (UTC)" } } }
                tbody {
                    @for component in components {
                        tr {
                            td { code title=(component.hash) { (&component.hash[..component.hash.len().min(12)]) } }
                            td { (component.source) }
                            td { (component.orchestrators.join(", ")) }
                            td { (component.activities.join(", ")) }
                            td { (component.entities.join(", ")) }
                            td { (pinned.get(&component.hash).copied().unwrap_or(0)) }
                            td { (time(component.loaded_at)) }
                        }
                    }
                }
            }
        },
    )
}

/// `/login`, with the reason a try was refused, if one was.
pub(crate) fn login(refused: Option<&str>) -> Markup {
    layout(
        "Sign in",
        "",
        html! {
            h1 { "Sign in" }
            p { "This server asks for its token (" code { "--token" } " or " code { "REPRISE_TOKEN" } ")." }
            @if let Some(refused) = refused { p.refused role="alert" { (refused) } }
            form #login method="post" action="/login" {
                label { "Token " input type="password" name="token" autocomplete="current-password" required autofocus; }
                button type="submit" { "Sign in" }
            }
        },
    )
}
