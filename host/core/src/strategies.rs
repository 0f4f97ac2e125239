//! Proptest strategies for the core's values, for the hostile-input tests of this crate and of
//! the crates that store or carry these values (feature `strategies`).
//!
//! It owns generators of well-formed values (every [`Event`] and [`Message`] variant, failures
//! with causes) and of hostile texts made from them (mutated JSON, type confusions, random
//! bytes). It must never be a dependency of anything but tests.

use crate::{
    ActivityOptions, EntityCaller, EntityId, EntityLockRequest, EntityOperation, Event, Failure, FailureCause,
    InstanceId, LockHolder, Message, Payload, RetryPolicy,
};
use proptest::prelude::*;
use serde_json::Value;

/// Short names from a small pool (so that commands and results often line up) or any text.
pub fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "Counter", "JobCompleted", ""]).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

/// A payload: JSON text almost always, arbitrary text sometimes (the store keeps what it is
/// given).
pub fn payload() -> impl Strategy<Value = Payload> {
    // Stored text, as decoding meets it: mostly JSON, sometimes not (a damaged row).
    prop_oneof![
        6 => json_value().prop_map(|value| Payload::stored(value.to_string())),
        1 => any::<String>().prop_map(Payload::stored),
    ]
}

/// An instance id as a recorded event holds it (a child's id, checked when it was recorded).
pub fn instance_id() -> impl Strategy<Value = InstanceId> {
    name().prop_map(|name| InstanceId::new(format!("i-{name}")).unwrap_or_else(|_| InstanceId::generate()))
}

/// Small JSON documents of every type, numbers at the edges of their ranges included.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(name(), inner, 0..4).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A time: small, ordinary or at the edge of the range.
pub fn time() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..1_000, Just(1_700_000_000_000u64), Just(u64::MAX), any::<u64>()]
}

/// A task handle: mostly among the first few, sometimes anything.
pub fn task_id() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..8, 1 => any::<u64>()]
}

/// A well-formed entity address.
pub fn entity_id() -> impl Strategy<Value = EntityId> {
    (prop::sample::select(vec!["Counter", "Account", "x"]), prop_oneof![Just("k".to_string()), "[^\\x00]{1,8}"])
        .prop_map(|(name, key)| EntityId { name: name.to_string(), key })
}

/// A failure with up to two causes.
pub fn failure() -> impl Strategy<Value = Failure> {
    let cause = (name(), any::<String>(), prop::option::of(any::<String>()))
        .prop_map(|(error_type, message, details)| FailureCause { error_type, message, details });
    (name(), any::<String>(), prop::option::of(any::<String>()), prop::collection::vec(cause, 0..3))
        .prop_map(|(error_type, message, details, causes)| Failure { error_type, message, details, causes })
}

/// A retry policy, valid or not (histories and rows may hold values no guest could give).
pub fn retry_policy() -> impl Strategy<Value = RetryPolicy> {
    (
        any::<u32>(),
        any::<u64>(),
        prop_oneof![Just(1.0), Just(2.0), 1.0f64..1e6, any::<f64>().prop_filter("finite", |f| f.is_finite())],
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
        prop::collection::vec(name(), 0..3),
    )
        .prop_map(
            |(
                max_attempts,
                first_retry_interval_ms,
                backoff_coefficient,
                max_retry_interval_ms,
                retry_timeout_ms,
                non_retryable_errors,
            )| {
                RetryPolicy {
                    max_attempts,
                    first_retry_interval_ms,
                    backoff_coefficient,
                    max_retry_interval_ms,
                    retry_timeout_ms,
                    non_retryable_errors,
                }
            },
        )
}

fn activity_options() -> impl Strategy<Value = ActivityOptions> {
    (prop::option::of(retry_policy()), prop::option::of(any::<u64>()))
        .prop_map(|(retry, timeout_ms)| ActivityOptions { retry, timeout_ms })
}

fn entities() -> impl Strategy<Value = Vec<EntityId>> {
    prop::collection::vec(entity_id(), 0..3)
}

/// Every variant of [`Event`], with arbitrary fields.
pub fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        time().prop_map(|time| Event::EpisodeStarted { time }),
        (name(), payload(), name()).prop_map(|(name, input, component)| Event::ExecutionStarted {
            name,
            input,
            component
        }),
        (task_id(), name(), payload(), activity_options())
            .prop_map(|(task_id, name, input, options)| { Event::ActivityScheduled { task_id, name, input, options } }),
        (task_id(), any::<u32>(), failure(), time()).prop_map(|(task_id, attempt, failure, next_attempt_at)| {
            Event::ActivityRetrying { task_id, attempt, failure, next_attempt_at }
        }),
        (task_id(), name(), instance_id(), payload(), prop::option::of(retry_policy())).prop_map(
            |(task_id, name, instance_id, input, retry)| Event::SubOrchestrationScheduled {
                task_id,
                name,
                instance_id,
                input,
                retry
            }
        ),
        (task_id(), payload()).prop_map(|(task_id, output)| Event::SubOrchestrationCompleted { task_id, output }),
        (task_id(), failure()).prop_map(|(task_id, failure)| Event::SubOrchestrationFailed { task_id, failure }),
        (task_id(), any::<u32>(), failure(), time()).prop_map(|(task_id, attempt, failure, next_attempt_at)| {
            Event::SubOrchestrationRetrying { task_id, attempt, failure, next_attempt_at }
        }),
        payload().prop_map(|input| Event::ExecutionContinuedAsNew { input }),
        (task_id(), time()).prop_map(|(task_id, fire_at)| Event::TimerScheduled { task_id, fire_at }),
        task_id().prop_map(|task_id| Event::TimerFired { task_id }),
        (task_id(), name()).prop_map(|(task_id, name)| Event::EventWaitStarted { task_id, name }),
        (name(), payload()).prop_map(|(name, data)| Event::EventRaised { name, data }),
        (task_id(), name()).prop_map(|(task_id, name)| Event::UpdateWaitStarted { task_id, name }),
        (name(), name(), payload()).prop_map(|(update_id, name, input)| Event::UpdateReceived {
            update_id,
            name,
            input
        }),
        (name(), payload()).prop_map(|(update_id, output)| Event::UpdateReplied {
            update_id,
            reply: crate::UpdateReply::Output(output)
        }),
        (name(), failure()).prop_map(|(update_id, failure)| Event::UpdateReplied {
            update_id,
            reply: crate::UpdateReply::Failure(failure)
        }),
        (name(), name(), payload()).prop_map(|(instance_id, name, data)| Event::EventSent { instance_id, name, data }),
        (task_id(), entity_id(), name(), payload(), any::<bool>()).prop_map(
            |(task_id, entity, operation, input, in_critical_section)| Event::EntityCalled {
                task_id,
                entity,
                operation,
                input,
                in_critical_section
            }
        ),
        (task_id(), entities()).prop_map(|(task_id, entities)| Event::EntityLockRequested { task_id, entities }),
        entities().prop_map(|entities| Event::EntitiesUnlocked { entities }),
        (entity_id(), name(), payload()).prop_map(|(entity, operation, input)| Event::EntitySignaled {
            entity,
            operation,
            input
        }),
        (task_id(), payload()).prop_map(|(task_id, output)| Event::EntityCompleted { task_id, output }),
        (task_id(), failure()).prop_map(|(task_id, failure)| Event::EntityFailed { task_id, failure }),
        any::<String>().prop_map(|reason| Event::ExecutionSuspended { reason }),
        any::<String>().prop_map(|reason| Event::ExecutionResumed { reason }),
        (any::<String>(), any::<bool>()).prop_map(|(reason, cascade)| Event::ExecutionTerminated { reason, cascade }),
        (any::<String>(), 0u64..64, proptest::collection::vec(0u64..64, 0..4))
            .prop_map(|(reason, replay_from, undone)| Event::ExecutionRewound { reason, replay_from, undone }),
        (any::<String>(), any::<String>()).prop_map(|(from, to)| Event::ComponentUpgraded { from, to }),
        (name(), any::<u32>()).prop_map(|(change_id, version)| Event::VersionMarked { change_id, version }),
        (task_id(), payload()).prop_map(|(task_id, output)| Event::ActivityCompleted { task_id, output }),
        (task_id(), failure()).prop_map(|(task_id, failure)| Event::ActivityFailed { task_id, failure }),
        payload().prop_map(|output| Event::ExecutionCompleted { output }),
        failure().prop_map(|failure| Event::ExecutionFailed { failure }),
    ]
}

fn caller() -> impl Strategy<Value = EntityCaller> {
    (name(), any::<u32>(), task_id()).prop_map(|(instance_id, execution, task_id)| EntityCaller {
        instance_id,
        execution,
        task_id,
    })
}

/// Every variant of [`Message`], with arbitrary fields.
pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (name(), payload()).prop_map(|(name, input)| Message::Start { name, input }),
        (task_id(), payload()).prop_map(|(task_id, output)| Message::ActivityCompleted { task_id, output }),
        (task_id(), failure()).prop_map(|(task_id, failure)| Message::ActivityFailed { task_id, failure }),
        (task_id(), any::<u32>(), failure(), time()).prop_map(|(task_id, attempt, failure, next_attempt_at)| {
            Message::ActivityRetrying { task_id, attempt, failure, next_attempt_at }
        }),
        (task_id(), payload()).prop_map(|(task_id, output)| Message::SubOrchestrationCompleted { task_id, output }),
        (task_id(), failure()).prop_map(|(task_id, failure)| Message::SubOrchestrationFailed { task_id, failure }),
        (task_id(), any::<u32>(), failure(), time()).prop_map(|(task_id, attempt, failure, next_attempt_at)| {
            Message::SubOrchestrationRetrying { task_id, attempt, failure, next_attempt_at }
        }),
        task_id().prop_map(|task_id| Message::TimerFired { task_id }),
        (name(), payload()).prop_map(|(name, data)| Message::EventRaised { name, data }),
        (name(), name(), payload()).prop_map(|(update_id, name, input)| Message::UpdateRequested {
            update_id,
            name,
            input
        }),
        (name(), payload(), prop::option::of(caller()), any::<bool>()).prop_map(
            |(operation, input, caller, in_critical_section)| {
                Message::EntityOperation(EntityOperation { operation, input, caller, in_critical_section })
            }
        ),
        (caller(), entities())
            .prop_map(|(caller, remaining)| Message::EntityLock(EntityLockRequest { caller, remaining })),
        (name(), any::<u32>()).prop_map(|(instance_id, execution)| Message::EntityUnlock {
            holder: LockHolder { instance_id, execution }
        }),
        (task_id(), payload()).prop_map(|(task_id, output)| Message::EntityCompleted { task_id, output }),
        (task_id(), failure()).prop_map(|(task_id, failure)| Message::EntityFailed { task_id, failure }),
        (any::<String>(), any::<bool>()).prop_map(|(reason, cascade)| Message::Terminate { reason, cascade }),
        any::<String>().prop_map(|reason| Message::Suspend { reason }),
        any::<String>().prop_map(|reason| Message::Resume { reason }),
        (any::<String>(), 0u64..64, proptest::collection::vec(0u64..64, 0..4))
            .prop_map(|(reason, replay_from, undone)| Message::Rewind { reason, replay_from, undone }),
    ]
}

/// One way of damaging a JSON text.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Cut it after this many bytes (modulo its length).
    Truncate(usize),
    /// Flip bits of the byte at this index (modulo the length).
    Flip(usize, u8),
    /// Insert these bytes at this index.
    Insert(usize, Vec<u8>),
    /// Remove up to this many bytes at this index.
    Remove(usize, usize),
    /// Replace the value at a pseudo-random place of the document with this one (a type
    /// confusion: a string where a number is expected, an object for a list...).
    Replace(u64, Value),
    /// Remove a pseudo-randomly chosen member of an object.
    DropKey(u64),
    /// Add a member (a duplicate of an existing name, or a new one) to the top-level object.
    AddKey(String, Value),
}

/// A mutation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..8),
        prop::sample::select(vec![
            b"{".to_vec(),
            b"}".to_vec(),
            b"\"".to_vec(),
            b"\\u".to_vec(),
            b"\\ud800".to_vec(),
            b"1e999".to_vec(),
            b"-".to_vec(),
            b",".to_vec(),
            b"null".to_vec(),
            b"[[[[[[[[".to_vec(),
        ]),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Mutation::Flip(at, bits)),
        (any::<usize>(), bytes).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1usize..8).prop_map(|(at, len)| Mutation::Remove(at, len)),
        (any::<u64>(), json_value()).prop_map(|(at, value)| Mutation::Replace(at, value)),
        any::<u64>().prop_map(Mutation::DropKey),
        (prop_oneof![name(), Just("type".into()), Just("seq".into()), Just("task_id".into())], json_value())
            .prop_map(|(key, value)| Mutation::AddKey(key, value)),
    ]
}

/// `text` damaged by `mutations`, in order: the bytes may no longer be UTF-8 or JSON.
pub fn mutate(text: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for mutation in mutations {
        match mutation {
            Mutation::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
            Mutation::Flip(at, bits) if !bytes.is_empty() => {
                let at = at % bytes.len();
                bytes[at] ^= bits;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(at, new) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Remove(at, len) => {
                let at = at % (bytes.len() + 1);
                let end = (at + len).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Replace(..) | Mutation::DropKey(_) => {
                // Structural mutations need a document; one that no longer parses is left as is.
                let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else { continue };
                structural(&mut value, mutation);
                bytes = value.to_string().into_bytes();
            }
            Mutation::AddKey(key, added) => {
                // Appended as text, so that a name already present is duplicated (a `Value`
                // cannot hold duplicates).
                let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&bytes) else { continue };
                let body = Value::Object(map.clone()).to_string();
                let inner = &body[..body.len() - 1];
                let separator = if map.is_empty() { "" } else { "," };
                bytes = format!("{inner}{separator}{}:{added}}}", Value::String(key.clone())).into_bytes();
            }
        }
    }
    bytes
}

/// Applies a structural mutation at the place `mutation`'s number picks among the document's
/// values (depth first).
fn structural(value: &mut Value, mutation: &Mutation) {
    let places = count(value);
    let pick = match mutation {
        Mutation::Replace(at, _) | Mutation::DropKey(at) => (*at % places as u64) as usize,
        _ => return,
    };
    let mut seen = 0;
    visit(value, pick, &mut seen, mutation);
}

fn count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

fn visit(value: &mut Value, pick: usize, seen: &mut usize, mutation: &Mutation) -> bool {
    if *seen == pick {
        match mutation {
            Mutation::Replace(_, new) => *value = new.clone(),
            Mutation::DropKey(at) => {
                if let Value::Object(map) = value
                    && !map.is_empty()
                {
                    let key = map.keys().nth((*at as usize) % map.len()).cloned().unwrap_or_default();
                    map.remove(&key);
                }
            }
            _ => {}
        }
        return true;
    }
    *seen += 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|item| visit(item, pick, seen, mutation)),
        Value::Object(map) => map.values_mut().any(|item| visit(item, pick, seen, mutation)),
        _ => false,
    }
}
