//! How large one execution's history may grow, and what counts towards it.
//!
//! Every event is stored, read back at every cold replay and held in memory by a parked
//! instance, so an orchestrator that schedules without bound (a million activities in one
//! episode, a loop that never continues as new, payloads that grow at every step) would exhaust
//! the host for everyone. The replay engine refuses the command that would cross a limit; the
//! instance then fails with [`error_types::HISTORY_LIMIT_EXCEEDED`] naming the limit, and the
//! host goes on serving the others. The end of an execution (complete, fail, continue as new) is
//! never refused: an orchestrator at its limit can still finish.
//!
//! [`error_types::HISTORY_LIMIT_EXCEEDED`]: crate::failure::error_types::HISTORY_LIMIT_EXCEEDED

use crate::Event;

/// The limits of one execution's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryLimits {
    /// Events in one execution's history: once it holds this many, commands are refused (the
    /// deliveries of the episode that reaches it, and the failure, are still recorded: they
    /// happened).
    pub max_events: u64,
    /// Bytes of one execution's history, as [`event_size`] counts them.
    pub max_bytes: u64,
    /// Events one episode may add (the commands an orchestrator issues between two waits).
    pub max_episode_events: u64,
}

impl Default for HistoryLimits {
    /// Room for a fan-out of tens of thousands of tasks and for long-running orchestrations,
    /// small enough that one instance cannot hold the store's writer for long.
    fn default() -> Self {
        HistoryLimits { max_events: 200_000, max_bytes: 128 * 1024 * 1024, max_episode_events: 50_000 }
    }
}

/// What one event weighs in the history, in bytes: its payloads and names, and a fixed share for
/// its row (sequence number, kind, the JSON around the fields). An estimate, stable across
/// versions, which is what a limit needs.
pub fn event_size(event: &Event) -> u64 {
    const ROW: u64 = 64;
    let text = |s: &str| s.len() as u64;
    ROW + match event {
        Event::ExecutionStarted { name, input, component } => text(name) + text(input) + text(component),
        Event::ActivityScheduled { name, input, .. } => text(name) + text(input),
        Event::SubOrchestrationScheduled { name, instance_id, input, .. } => {
            text(name) + text(instance_id.as_str()) + text(input)
        }
        Event::ExecutionContinuedAsNew { input } => text(input),
        Event::EventWaitStarted { name, .. } => text(name),
        Event::EventRaised { name, data } => text(name) + text(data),
        Event::UpdateWaitStarted { name, .. } => text(name),
        Event::UpdateReceived { update_id, name, input } => text(update_id) + text(name) + text(input),
        Event::UpdateReplied { update_id, reply } => {
            text(update_id)
                + match reply {
                    crate::UpdateReply::Output(output) => text(output),
                    crate::UpdateReply::Failure(failure) => {
                        text(&failure.message) + failure.details.as_deref().map_or(0, text)
                    }
                }
        }
        Event::EventSent { instance_id, name, data } => text(instance_id) + text(name) + text(data),
        Event::EntityCalled { entity, operation, input, .. } | Event::EntitySignaled { entity, operation, input } => {
            text(&entity.name) + text(&entity.key) + text(operation) + text(input)
        }
        Event::ActivityCompleted { output, .. }
        | Event::SubOrchestrationCompleted { output, .. }
        | Event::EntityCompleted { output, .. }
        | Event::ExecutionCompleted { output } => text(output),
        Event::ActivityFailed { failure, .. }
        | Event::SubOrchestrationFailed { failure, .. }
        | Event::EntityFailed { failure, .. }
        | Event::ExecutionFailed { failure }
        | Event::ActivityRetrying { failure, .. }
        | Event::SubOrchestrationRetrying { failure, .. } => {
            text(&failure.message)
                + failure.details.as_deref().map_or(0, text)
                + failure.causes.iter().map(|c| text(&c.message) + c.details.as_deref().map_or(0, text)).sum::<u64>()
        }
        Event::EntityLockRequested { entities, .. } | Event::EntitiesUnlocked { entities } => {
            entities.iter().map(|e| text(&e.name) + text(&e.key)).sum()
        }
        Event::ExecutionSuspended { reason } | Event::ExecutionResumed { reason } => text(reason),
        Event::ExecutionTerminated { reason, .. } => text(reason),
        Event::ExecutionRewound { reason, undone, .. } => text(reason) + 8 * undone.len() as u64,
        Event::ComponentUpgraded { from, to } => text(from) + text(to),
        Event::HttpRequestsMade { requests, .. } => {
            requests.iter().map(|r| text(&r.method) + text(&r.url) + r.error.as_deref().map_or(0, text) + 26).sum()
        }
        Event::VersionMarked { change_id, .. } => text(change_id) + 4,
        Event::EpisodeStarted { .. } | Event::TimerScheduled { .. } | Event::TimerFired { .. } => 0,
    }
}

/// Which limit a command would cross.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitExceeded {
    /// The episode's events.
    Episode(u64),
    /// The execution's events.
    Events(u64),
    /// The execution's bytes.
    Bytes(u64),
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitExceeded::Episode(limit) => write!(
                f,
                "the orchestrator issued more than {limit} commands in one episode, the host's limit \
                 (--max-episode-events): schedule work in smaller batches, waiting between them, or split it \
                 among sub-orchestrations"
            ),
            LimitExceeded::Events(limit) => write!(
                f,
                "the history of this execution reached {limit} events, the host's limit (--max-history-events): \
                 an orchestration that runs for long should continue as new from time to time"
            ),
            LimitExceeded::Bytes(limit) => write!(
                f,
                "the history of this execution reached {limit} bytes, the host's limit (--max-history-bytes): pass \
                 references (a key, a URL) instead of large payloads, or continue as new from time to time"
            ),
        }
    }
}
