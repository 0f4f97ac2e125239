//! Hostile input for the replay engine: arbitrary recorded histories (random events, and valid
//! histories recorded by a random orchestrator then damaged) driven by an arbitrary sequence of
//! orchestrator calls and deliveries.
//!
//! The engine must answer every call with a value or a [`ReplayError`], never a panic; the
//! events it hands out for commit must continue the history without a gap; and what it hands out
//! must make a history it accepts again. `PROPTEST_CASES` raises the number of cases.

use super::*;
use crate::strategies::{entity_id, event, failure, message, name, payload, task_id, time};
use crate::{EntityId, HistoryEvent, Message, Payload, RetryPolicy};
use proptest::prelude::*;

/// One call to the engine, as an orchestrator or the executor would make it.
#[derive(Debug, Clone)]
enum Call {
    Advance,
    Deliver(u64, Vec<Message>),
    Activity(String),
    SubOrchestration(String, Option<String>, bool),
    Timer(u64),
    WaitEvent(String),
    Raise(String, Payload),
    /// A call of an entity operation.
    Entity(EntityId, String),
    Signal(EntityId, String),
    Lock(Vec<EntityId>),
    Unlock,
    WaitAny(Vec<u64>),
    WaitAll(Vec<u64>),
    PollAll(Vec<u64>),
    Guid,
    Status(Option<Payload>),
    ContinueAsNew(Payload, bool),
    Complete(Payload),
    Fail(crate::Failure),
    Abort(crate::Failure),
    TakeOutput,
}

fn call() -> impl Strategy<Value = Call> {
    let tasks = || prop::collection::vec(task_id(), 0..4);
    prop_oneof![
        4 => Just(Call::Advance),
        2 => (time(), prop::collection::vec(message(), 0..4)).prop_map(|(at, messages)| Call::Deliver(at, messages)),
        3 => name().prop_map(Call::Activity),
        1 => (name(), prop::option::of(name()), any::<bool>()).prop_map(|(n, id, retry)| Call::SubOrchestration(n, id, retry)),
        1 => time().prop_map(Call::Timer),
        1 => name().prop_map(Call::WaitEvent),
        1 => (name(), payload()).prop_map(|(target, data)| Call::Raise(target, data)),
        1 => (entity_id(), name()).prop_map(|(entity, op)| Call::Entity(entity, op)),
        1 => (entity_id(), name()).prop_map(|(entity, op)| Call::Signal(entity, op)),
        1 => prop::collection::vec(entity_id(), 0..3).prop_map(Call::Lock),
        1 => Just(Call::Unlock),
        3 => tasks().prop_map(Call::WaitAny),
        2 => tasks().prop_map(Call::WaitAll),
        1 => tasks().prop_map(Call::PollAll),
        1 => Just(Call::Guid),
        1 => prop::option::of(payload()).prop_map(Call::Status),
        1 => (payload(), any::<bool>()).prop_map(|(input, carry)| Call::ContinueAsNew(input, carry)),
        1 => payload().prop_map(Call::Complete),
        1 => failure().prop_map(Call::Fail),
        1 => failure().prop_map(Call::Abort),
        2 => Just(Call::TakeOutput),
    ]
}

/// What a run of calls produced for commit: the history the store would hold afterwards.
struct Run {
    committed: Vec<HistoryEvent>,
}

/// Runs `calls` against a replayer over `history` (if the engine accepts it), checking the
/// engine's promises after each call. Returns the committed history, or `None` if the history
/// was refused.
fn drive(history: Vec<HistoryEvent>, calls: &[Call]) -> Result<Option<Run>, TestCaseError> {
    let mut committed = history.clone();
    let Ok(mut replayer) = Replayer::new("i", 1, "c", history) else { return Ok(None) };
    let mut all_waits: Vec<AllWait> = Vec::new();
    let take = |replayer: &mut Replayer, committed: &mut Vec<HistoryEvent>| -> Result<(), TestCaseError> {
        let output = replayer.take_output();
        prop_assert_eq!(output.base_len, committed.len() as u64, "an output must continue what was taken");
        for (offset, event) in output.events.iter().enumerate() {
            prop_assert_eq!(event.seq, output.base_len + offset as u64, "output events must be numbered in order");
        }
        committed.extend(output.events);
        Ok(())
    };
    for call in calls {
        let finished_before = replayer.terminal().cloned();
        let result: Result<(), ReplayError> = match call.clone() {
            Call::Advance => replayer.advance().map(drop),
            Call::Deliver(at, messages) => {
                replayer.deliver(at, messages);
                Ok(())
            }
            Call::Activity(name) => replayer.schedule_activity(&name, Payload::null(), Default::default()).map(drop),
            Call::SubOrchestration(name, id, retry) => {
                let retry = retry.then(|| RetryPolicy {
                    max_attempts: 2,
                    first_retry_interval_ms: 10,
                    backoff_coefficient: 1.0,
                    max_retry_interval_ms: None,
                    retry_timeout_ms: None,
                    non_retryable_errors: Vec::new(),
                });
                // Ids the host refuses never reach the engine: the session checks them first.
                let id = id.and_then(|id| crate::InstanceId::new(id).ok());
                replayer.schedule_sub_orchestration(&name, id, Payload::null(), retry).map(drop)
            }
            Call::Timer(at) => replayer.schedule_timer(at).map(drop),
            Call::WaitEvent(name) => replayer.wait_for_event(&name).map(drop),
            Call::Raise(target, data) => replayer.raise_event(&target, "e", data),
            Call::Entity(entity, op) => replayer.call_entity(&entity, &op, Payload::null()).map(drop),
            Call::Signal(entity, op) => replayer.signal_entity(&entity, &op, Payload::null()),
            Call::Lock(entities) => replayer.lock_entities(&entities).map(drop),
            Call::Unlock => replayer.unlock_entities(),
            Call::WaitAny(tasks) => replayer.wait_any(&tasks).map(drop),
            Call::WaitAll(tasks) => replayer.wait_all(&tasks).map(drop),
            Call::PollAll(tasks) => {
                // A wait kept across calls, as the runtime keeps one across episodes.
                all_waits.push(AllWait::new(tasks));
                let mut results = Vec::new();
                for wait in &mut all_waits {
                    results.push(replayer.poll_all(wait).map(drop));
                }
                results.into_iter().collect()
            }
            Call::Guid => {
                replayer.new_guid();
                Ok(())
            }
            Call::Status(status) => {
                replayer.set_custom_status(status);
                Ok(())
            }
            Call::ContinueAsNew(input, carry) => replayer.request_continue_as_new(input, carry),
            Call::Complete(output) => replayer.complete(output),
            Call::Fail(failure) => replayer.fail(failure),
            Call::Abort(failure) => {
                replayer.abort(failure);
                Ok(())
            }
            Call::TakeOutput => {
                take(&mut replayer, &mut committed)?;
                Ok(())
            }
        };
        let _ = replayer.locks_to_release();
        let _ = replayer.started();
        if let Some(before) = finished_before {
            prop_assert_eq!(replayer.terminal(), Some(&before), "a finished execution must stay as it ended");
            if !matches!(call, Call::Abort(_) | Call::TakeOutput | Call::Deliver(..) | Call::Guid | Call::Status(_)) {
                prop_assert!(result.is_err() || matches!(call, Call::Unlock), "{:?} after the end must fail", call);
            }
        }
    }
    take(&mut replayer, &mut committed)?;
    Ok(Some(Run { committed }))
}

/// A history as the engine writes it: a random orchestrator's calls, recorded live.
fn recorded_history(calls: &[Call]) -> Vec<HistoryEvent> {
    let mut replayer = Replayer::new("i", 1, "c", Vec::new()).expect("an empty history is valid");
    replayer.deliver(1, vec![Message::Start { name: "o".into(), input: Payload::null() }]);
    let mut committed = Vec::new();
    let _ = replayer.advance();
    for call in calls {
        let _ = match call {
            Call::Advance => replayer.advance().map(drop),
            Call::Deliver(at, messages) => {
                replayer.deliver(*at, messages.clone());
                Ok(())
            }
            Call::Activity(name) => replayer.schedule_activity(name, Payload::null(), Default::default()).map(drop),
            Call::Timer(at) => replayer.schedule_timer(*at).map(drop),
            Call::WaitEvent(name) => replayer.wait_for_event(name).map(drop),
            Call::Entity(entity, op) => replayer.call_entity(entity, op, Payload::null()).map(drop),
            Call::Lock(entities) => replayer.lock_entities(entities).map(drop),
            Call::Unlock => replayer.unlock_entities(),
            Call::WaitAny(tasks) => replayer.wait_any(tasks).map(drop),
            Call::Complete(output) => replayer.complete(output.clone()),
            Call::TakeOutput => {
                committed.extend(replayer.take_output().events);
                Ok(())
            }
            _ => Ok(()),
        };
    }
    committed.extend(replayer.take_output().events);
    committed
}

/// A damage to a recorded history.
#[derive(Debug, Clone)]
enum Damage {
    Drop(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Replace(usize, crate::Event),
    Insert(usize, crate::Event),
    Truncate(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Drop),
        any::<usize>().prop_map(Damage::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Damage::Swap(a, b)),
        (any::<usize>(), event()).prop_map(|(at, event)| Damage::Replace(at, event)),
        (any::<usize>(), event()).prop_map(|(at, event)| Damage::Insert(at, event)),
        any::<usize>().prop_map(Damage::Truncate),
    ]
}

/// `history` damaged, then renumbered (so that the damage reaches past the engine's sequence
/// check) unless `keep_numbers`.
fn damaged(mut history: Vec<HistoryEvent>, damages: &[Damage], keep_numbers: bool) -> Vec<HistoryEvent> {
    for damage in damages {
        let len = history.len();
        match damage.clone() {
            Damage::Drop(at) if len > 0 => {
                history.remove(at % len);
            }
            Damage::Duplicate(at) if len > 0 => {
                let copy = history[at % len].clone();
                history.insert(at % len, copy);
            }
            Damage::Swap(a, b) if len > 0 => history.swap(a % len, b % len),
            Damage::Replace(at, event) if len > 0 => history[at % len].event = event,
            Damage::Insert(at, event) => history.insert(at % (len + 1), HistoryEvent { seq: 0, event }),
            Damage::Truncate(at) => history.truncate(at % (len + 1)),
            _ => {}
        }
    }
    if !keep_numbers {
        for (seq, event) in history.iter_mut().enumerate() {
            event.seq = seq as u64;
        }
    }
    history
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random events as history, random calls: errors, never panics.
    #[test]
    fn arbitrary_histories_and_calls_never_panic(
        events in prop::collection::vec(event(), 0..12),
        renumber in any::<bool>(),
        calls in prop::collection::vec(call(), 0..40),
    ) {
        let mut history: Vec<HistoryEvent> = events.into_iter().map(|event| HistoryEvent { seq: 0, event }).collect();
        if renumber {
            if let Some(first) = history.first_mut() {
                first.event = crate::Event::EpisodeStarted { time: 5 };
            }
            for (seq, event) in history.iter_mut().enumerate() {
                event.seq = seq as u64;
            }
        }
        if let Some(run) = drive(history, &calls)? {
            // What the engine committed is a history it accepts again.
            let again = Replayer::new("i", 1, "c", run.committed.clone());
            let starts_well = run.committed.first().is_none_or(|e| matches!(e.event, crate::Event::EpisodeStarted { .. }));
            prop_assert!(again.is_ok() || !starts_well, "{:?}", again.err());
        }
    }

    /// Valid recorded histories, damaged, replayed by an orchestrator that makes other calls:
    /// errors, never panics.
    #[test]
    fn damaged_recorded_histories_never_panic(
        recording in prop::collection::vec(call(), 0..40),
        damages in prop::collection::vec(damage(), 0..4),
        keep_numbers in any::<bool>(),
        replay_same in any::<bool>(),
        calls in prop::collection::vec(call(), 0..40),
    ) {
        let history = damaged(recorded_history(&recording), &damages, keep_numbers);
        let calls = if replay_same {
            let mut same = vec![Call::Advance];
            same.extend(recording.iter().cloned());
            same.extend(calls);
            same
        } else {
            calls
        };
        if let Some(run) = drive(history, &calls)? {
            let again = Replayer::new("i", 1, "c", run.committed.clone());
            let starts_well = run.committed.first().is_none_or(|e| matches!(e.event, crate::Event::EpisodeStarted { .. }));
            prop_assert!(again.is_ok() || !starts_well, "{:?}", again.err());
        }
    }
}
