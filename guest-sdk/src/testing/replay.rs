//! Replaying a recorded history against the current code: the check `reprise replay-check` and
//! an upgrade make on the host, as a unit test.

use std::sync::Arc;

use reprise_core::HistoryEvent;
use reprise_core::failure::error_types;
use reprise_core::history_text;
use reprise_core::replay::{Replayer, Terminal, describe_recorded};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::convert;
use super::guest::{Guest, Yield};
use super::run::{Status, commands_of};
use crate::{Context, Failure};

/// What a history's replay reached, when the code took the recorded path all along.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// Where the recorded instance stands at the end of its history: `Running` if it was
    /// waiting there.
    pub status: Status,
    /// The recorded decisions, which the code made again, in the words of
    /// [`Run::commands`](super::Run::commands).
    pub commands: Vec<String>,
    /// How many events the history holds.
    pub events: usize,
}

/// Replays a recorded history against `orchestrator` and checks that it makes the same
/// decisions, as the host does when it replays an instance (after a restart, an eviction, or
/// before an upgrade).
///
/// `history` is the output of `reprise history ID --json`, or a repro bundle (`reprise bundle`,
/// or the files of `tests/golden/`), whose last execution is replayed.
///
/// # Errors
///
/// The failure the instance would end with on the host: a [`NONDETERMINISM`] failure whose
/// message names the position and what the history records against what the code did, or, for
/// a history that cannot be read, a failure of type `InvalidHistory` saying why.
///
/// ```no_run
/// # use reprise_sdk::{Context, Failure};
/// # fn process_order(_: &Context, _: String) -> Result<(), Failure> { Ok(()) }
/// # fn f() {
/// let history = std::fs::read_to_string("tests/histories/order-1001.json").unwrap();
/// reprise_sdk::testing::replay(&history, process_order).expect("the new code replays order-1001");
/// # }
/// ```
///
/// [`NONDETERMINISM`]: reprise_core::failure::error_types::NONDETERMINISM
pub fn replay<I, O, F>(history: &str, orchestrator: F) -> Result<Replayed, Failure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(&Context, I) -> Result<O, Failure> + Send + Sync + 'static,
{
    let text = history_text::parse(history).map_err(|error| Failure::new("InvalidHistory", error.to_string()))?;
    let instance_id = text.instance_id.unwrap_or_else(|| "replayed-instance".to_string());
    let recorded = text.events;
    let replayer = Replayer::new(instance_id.clone(), text.execution, "", recorded.clone())
        .map_err(|error| convert::failure_from_core(error.failure()))?;
    let function = super::orchestrator_fn("replayed", orchestrator);
    let limit = std::time::Duration::from_secs(10);
    let (guest, Yield { output, .. }) = Guest::start(instance_id, replayer, function, (Arc::default(), limit));
    drop(guest);
    // Code that took the recorded path all along only replayed: anything it recorded anew is
    // where it left that path (the host ends the instance with that failure).
    let diverged = output.events.iter().find_map(|e| match &e.event {
        reprise_core::Event::ExecutionFailed { failure } => Some(failure.clone()),
        _ => None,
    });
    if let Some(failure) = diverged {
        return Err(convert::failure_from_core(failure));
    }
    if let Some(event) = output.events.first() {
        // Only a bug of the engine records anything else while replaying.
        return Err(Failure::new(
            error_types::NONDETERMINISM,
            format!("replay recorded a new event at position {}: {}", event.seq, describe_recorded(&event.event)),
        ));
    }
    let status = match output.terminal {
        Some(Terminal::Completed(_)) => Status::Completed,
        Some(Terminal::Failed(_)) => Status::Failed,
        Some(Terminal::ContinuedAsNew { .. }) => Status::ContinuedAsNew,
        None => Status::Running,
    };
    let commands = commands_of(&recorded).iter().map(describe_recorded).collect();
    Ok(Replayed { status, commands, events: recorded.len() })
}

/// A history the host recorded (`reprise history ID --json`, or a repro bundle), read: to start
/// the same scenario in the harness ([`Harness::like`](super::Harness::like),
/// [`Recorded::input`]) and check that the harness decides as the host did
/// ([`Run::assert_same_commands`](super::Run::assert_same_commands)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    instance_id: Option<String>,
    events: Vec<HistoryEvent>,
}

impl Recorded {
    /// Reads a history.
    ///
    /// # Errors
    ///
    /// A failure of type `InvalidHistory` for a text that is not a history.
    pub fn parse(history: &str) -> Result<Recorded, Failure> {
        let text = history_text::parse(history).map_err(|error| Failure::new("InvalidHistory", error.to_string()))?;
        Ok(Recorded { instance_id: text.instance_id, events: text.events })
    }

    /// The recorded instance's id, if the text names it (a bundle does).
    pub fn instance_id(&self) -> Option<&str> {
        self.instance_id.as_deref()
    }

    /// The events.
    pub fn events(&self) -> &[HistoryEvent] {
        &self.events
    }

    /// The orchestrator's name and JSON input, from the execution's start.
    pub fn started(&self) -> Option<(&str, &str)> {
        self.events.iter().find_map(|e| match &e.event {
            reprise_core::Event::ExecutionStarted { name, input, .. } => Some((name.as_str(), input.as_str())),
            _ => None,
        })
    }

    /// The execution's input.
    ///
    /// # Panics
    ///
    /// If the history has no start, or its input does not deserialize into `T`.
    pub fn input<T: DeserializeOwned>(&self) -> T {
        let (_, input) = self.started().expect("reprise_sdk::testing: the history has no ExecutionStarted event");
        serde_json::from_str(input)
            .unwrap_or_else(|e| panic!("reprise_sdk::testing: the recorded input {input} does not deserialize: {e}"))
    }

    /// When the execution's first episode started.
    pub fn start_time(&self) -> Option<u64> {
        self.events.iter().find_map(|e| match e.event {
            reprise_core::Event::EpisodeStarted { time } => Some(time),
            _ => None,
        })
    }

    /// The decisions the history holds, whole (inputs, options, fire times), as
    /// [`Run::command_events`](super::Run::command_events) gives a run's.
    pub fn command_events(&self) -> Vec<reprise_core::Event> {
        commands_of(&self.events)
    }
}
