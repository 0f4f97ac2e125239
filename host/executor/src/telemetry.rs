//! Traces of instances for OpenTelemetry: one trace per execution of an instance, a span per
//! episode and per activity attempt, the instance's own span once it ends, and the W3C
//! `traceparent` that attempts send on their outgoing HTTP requests.
//!
//! It owns the spans' names, attributes and ids. The ids of an execution's trace and of its
//! root span are derived from the instance id and the execution, so that every host, after any
//! restart, puts an episode in the same trace without storing anything; the root span is
//! exported when the execution ends (a long-running instance's episodes show under it once it
//! has). Traces are off, and cost one atomic load per span, until [`enable`] is called by the
//! process that installed a tracer provider built with [`InstanceIds`]. It never changes what an
//! instance does.

use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use reprise_core::{RuntimeStatus, Timestamp};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The name the spans' tracer goes by.
const TRACER: &str = "reprise";

/// Turns the spans on: call it once a global tracer provider built with [`InstanceIds`] is set.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

thread_local! {
    /// The ids the next span started on this thread must have (an execution's root span).
    static FIXED: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// The tracer provider's id generator: random ids, except for an execution's root span, whose
/// ids are derived from the instance (see the module docs).
#[derive(Debug, Default)]
pub struct InstanceIds {
    random: RandomIdGenerator,
}

impl IdGenerator for InstanceIds {
    fn new_trace_id(&self) -> TraceId {
        match FIXED.with(Cell::get) {
            Some((trace, _)) => trace,
            None => self.random.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match FIXED.with(Cell::get) {
            Some((_, span)) => span,
            None => self.random.new_span_id(),
        }
    }
}

/// The trace id and root span id of an execution of an instance.
fn execution_ids(instance_id: &str, execution: u32) -> (TraceId, SpanId) {
    let name = format!("reprise-trace\u{0}{instance_id}\u{0}{execution}");
    let trace = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    let root = uuid::Uuid::new_v5(&trace, b"root");
    let mut span = [0u8; 8];
    span.copy_from_slice(&root.as_bytes()[..8]);
    (TraceId::from_bytes(*trace.as_bytes()), SpanId::from_bytes(span))
}

/// The context of an execution's root span, as the parent of its episodes and attempts.
fn execution_context(instance_id: &str, execution: u32) -> Context {
    let (trace, root) = execution_ids(instance_id, execution);
    Context::new().with_remote_span_context(SpanContext::new(
        trace,
        root,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

fn time(at: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(at)
}

/// A span that ends when dropped; nothing when traces are off.
pub(crate) struct Span(Option<global::BoxedSpan>);

impl Span {
    /// Marks the span failed with `message`.
    pub(crate) fn failed(&mut self, message: &str) {
        if let Some(span) = &mut self.0 {
            span.set_status(Status::error(message.to_string()));
        }
    }

    /// The W3C `traceparent` header value that makes a callee's spans children of this one.
    pub(crate) fn traceparent(&self) -> Option<String> {
        let span = self.0.as_ref()?;
        let context = Context::new().with_remote_span_context(span.span_context().clone());
        let mut carrier = HashMap::new();
        opentelemetry::propagation::TextMapPropagator::inject_context(
            &TraceContextPropagator::new(),
            &context,
            &mut carrier,
        );
        carrier.remove("traceparent")
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(span) = &mut self.0 {
            span.end();
        }
    }
}

/// A span under the execution's root span, named and given attributes beside the instance's by
/// `describe`; nothing, and nothing built, when traces are off (episodes and attempts are the
/// hot path).
fn under_execution(instance_id: &str, execution: u32, describe: impl FnOnce() -> (String, Vec<KeyValue>)) -> Span {
    if !enabled() {
        return Span(None);
    }
    let mut attributes = vec![
        KeyValue::new("reprise.instance_id", instance_id.to_string()),
        KeyValue::new("reprise.execution", i64::from(execution)),
    ];
    let (name, more) = describe();
    attributes.extend(more);
    let tracer = global::tracer(TRACER);
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Internal)
        .with_attributes(attributes)
        .start_with_context(&tracer, &execution_context(instance_id, execution));
    Span(Some(span))
}

/// The span of an episode of an instance.
pub(crate) fn episode(instance_id: &str, execution: u32, name: &str, kind: &'static str) -> Span {
    under_execution(instance_id, execution, || {
        let attributes = vec![KeyValue::new("reprise.name", name.to_string()), KeyValue::new("reprise.kind", kind)];
        (format!("episode {name}"), attributes)
    })
}

/// The span of an activity attempt.
pub(crate) fn attempt(instance_id: &str, execution: u32, activity: &str, task_id: u64, attempt: u32) -> Span {
    under_execution(instance_id, execution, || {
        let attributes = vec![
            KeyValue::new("reprise.activity", activity.to_string()),
            KeyValue::new("reprise.task_id", task_id as i64),
            KeyValue::new("reprise.attempt", i64::from(attempt)),
        ];
        (format!("activity {activity}"), attributes)
    })
}

/// Exports the root span of an execution that ended at `now` as `status`: from `started` (the
/// execution's creation) to `now`.
pub(crate) fn execution_ended(
    (instance_id, execution, name): (&str, u32, &str),
    started: Timestamp,
    status: RuntimeStatus,
    now: Timestamp,
) {
    if !enabled() {
        return;
    }
    let tracer = global::tracer(TRACER);
    let builder = tracer
        .span_builder(format!("orchestration {name}"))
        .with_kind(SpanKind::Internal)
        .with_start_time(time(started))
        .with_attributes([
            KeyValue::new("reprise.instance_id", instance_id.to_string()),
            KeyValue::new("reprise.execution", i64::from(execution)),
            KeyValue::new("reprise.name", name.to_string()),
            KeyValue::new("reprise.status", status.as_str()),
        ]);
    // The generator gives this span, and only it, the execution's derived ids.
    FIXED.with(|fixed| fixed.set(Some(execution_ids(instance_id, execution))));
    let mut span = builder.start_with_context(&tracer, &Context::new());
    FIXED.with(|fixed| fixed.set(None));
    if status == RuntimeStatus::Failed {
        span.set_status(Status::error("the instance failed"));
    }
    span.end_with_timestamp(time(now));
}

/// Records the request that started an instance, from `started` to now: a child of the caller's
/// span when the request carried a W3C `traceparent`, with a link to the instance's trace;
/// without one, a span of the instance's trace itself.
pub fn instance_requested(instance_id: &str, orchestrator: &str, traceparent: Option<&str>, started: SystemTime) {
    if !enabled() {
        return;
    }
    let caller = traceparent.map(|value| {
        let carrier = HashMap::from([("traceparent".to_string(), value.to_string())]);
        opentelemetry::propagation::TextMapPropagator::extract(&TraceContextPropagator::new(), &carrier)
    });
    let instance = execution_context(instance_id, 1);
    let tracer = global::tracer(TRACER);
    let mut builder = tracer
        .span_builder(format!("start {orchestrator}"))
        .with_kind(SpanKind::Server)
        .with_start_time(started)
        .with_attributes([
            KeyValue::new("reprise.instance_id", instance_id.to_string()),
            KeyValue::new("reprise.name", orchestrator.to_string()),
        ]);
    let parent = match caller.filter(|cx| cx.span().span_context().is_valid()) {
        Some(caller) => {
            builder = builder.with_links(vec![Link::with_context(instance.span().span_context().clone())]);
            caller
        }
        None => instance,
    };
    let mut span = builder.start_with_context(&tracer, &parent);
    span.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execution_s_ids_depend_on_the_instance_and_the_execution_only() {
        let (trace, root) = execution_ids("order-17", 1);
        assert_eq!(execution_ids("order-17", 1), (trace, root));
        assert_ne!(execution_ids("order-17", 2).0, trace);
        assert_ne!(execution_ids("order-18", 1).0, trace);
        assert!(trace != TraceId::INVALID && root != SpanId::INVALID);
    }

    #[test]
    fn the_generator_is_random_unless_a_root_span_is_started() {
        let ids = InstanceIds::default();
        assert_ne!(ids.new_trace_id(), ids.new_trace_id());
        let fixed = execution_ids("a", 1);
        FIXED.with(|cell| cell.set(Some(fixed)));
        assert_eq!((ids.new_trace_id(), ids.new_span_id()), fixed);
        FIXED.with(|cell| cell.set(None));
        assert_ne!(ids.new_span_id(), fixed.1);
    }
}
