//! The episodes the host writes without running the orchestrator: lifecycle messages
//! (terminate, suspend, resume), retry records for an orchestrator that is not parked, and the
//! failure of an instance whose orchestrator cannot run at all. Each comes out as the episode's
//! events and the status it leaves the instance in, for [`crate::plan::episode`] to commit.

use crate::failure::error_types;
use crate::replay::{EpisodeOutput, Terminal};
use crate::{Event, Failure, HistoryEvent, Message, RuntimeStatus, Timestamp};

/// An episode the host wrote itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guestless {
    /// Its events, numbered after the instance's history.
    pub output: EpisodeOutput,
    /// The inbox messages it consumed.
    pub consumed: Vec<i64>,
    /// The status it leaves the instance in, and the failure of a terminated one: `None` for
    /// the status its events say (a failed instance, for one that cannot run).
    pub status: Option<(RuntimeStatus, Option<Failure>)>,
}

/// An episode of lifecycle messages, for an instance with `status` and `history_len` events:
/// terminate ends it (every message is consumed, the others are dropped with it), suspend and
/// resume change its status when they change anything. Messages that are not lifecycle ones
/// stay in the inbox for the next episode. `messages` are the inbox's, with their ids, in order.
pub fn lifecycle(status: RuntimeStatus, history_len: u64, messages: &[(i64, &Message)], now: Timestamp) -> Guestless {
    let mut status = status;
    let mut events = vec![Event::EpisodeStarted { time: now }];
    let mut consumed = Vec::new();
    let mut terminated = None;
    for (id, message) in messages.iter().filter(|(_, m)| m.is_control()) {
        consumed.push(*id);
        match message {
            Message::Terminate { reason, cascade } => {
                events.push(Event::ExecutionTerminated { reason: reason.clone(), cascade: *cascade });
                terminated = Some(Failure::new(error_types::TERMINATED, reason.clone()));
                status = RuntimeStatus::Terminated;
                break;
            }
            Message::Suspend { reason } if status != RuntimeStatus::Suspended => {
                events.push(Event::ExecutionSuspended { reason: reason.clone() });
                status = RuntimeStatus::Suspended;
            }
            Message::Resume { reason } if status == RuntimeStatus::Suspended => {
                events.push(Event::ExecutionResumed { reason: reason.clone() });
                status = RuntimeStatus::Running;
            }
            // Suspending a suspended instance or resuming a running one changes nothing.
            _ => {}
        }
    }
    if status == RuntimeStatus::Terminated {
        consumed = messages.iter().map(|(id, _)| *id).collect();
    }
    let output = numbered(history_len, events, terminated.clone().map(Terminal::Failed));
    Guestless { output, consumed, status: Some((status, terminated)) }
}

/// An episode of retry records only, for an orchestrator that is not parked: recorded without
/// replaying it, since they answer none of its waits (its status stays as it is).
pub fn audit(status: RuntimeStatus, history_len: u64, messages: &[(i64, &Message)], now: Timestamp) -> Guestless {
    let mut events = vec![Event::EpisodeStarted { time: now }];
    for (_, message) in messages {
        match (*message).clone() {
            Message::ActivityRetrying { task_id, attempt, failure, next_attempt_at } => {
                events.push(Event::ActivityRetrying { task_id, attempt, failure, next_attempt_at })
            }
            Message::SubOrchestrationRetrying { task_id, attempt, failure, next_attempt_at } => {
                events.push(Event::SubOrchestrationRetrying { task_id, attempt, failure, next_attempt_at })
            }
            Message::HttpRequestsMade { task_id, attempt, requests } => {
                events.push(Event::HttpRequestsMade { task_id, attempt, requests })
            }
            // Triage sends only retry records here; anything else is left for a real episode.
            _ => {}
        }
    }
    let consumed = messages.iter().filter(|(_, m)| m.is_audit()).map(|(id, _)| *id).collect();
    Guestless { output: numbered(history_len, events, None), consumed, status: Some((status, None)) }
}

/// The episode that ends an instance whose orchestrator cannot run at all (no component exports
/// it, its component cannot be loaded, its history is corrupt), recording why. An instance that
/// never started gets its `ExecutionStarted` first (with no component), so its history says
/// what it was.
pub fn failed_without_guest(
    (name, input): (&str, &crate::Payload),
    history_len: u64,
    consumed: Vec<i64>,
    failure: Failure,
    now: Timestamp,
) -> Guestless {
    let mut events = vec![Event::EpisodeStarted { time: now }];
    if history_len == 0 {
        events.push(Event::ExecutionStarted { name: name.to_string(), input: input.clone(), component: String::new() });
    }
    events.push(Event::ExecutionFailed { failure: failure.clone() });
    Guestless { output: numbered(history_len, events, Some(Terminal::Failed(failure))), consumed, status: None }
}

/// `events` numbered after a history of `history_len` events.
fn numbered(history_len: u64, events: Vec<Event>, terminal: Option<Terminal>) -> EpisodeOutput {
    let events = events
        .into_iter()
        .enumerate()
        .map(|(index, event)| HistoryEvent { seq: history_len + index as u64, event })
        .collect();
    EpisodeOutput { events, base_len: history_len, terminal }
}
