//! What the SDK harnesses' agreement tests (`sdk_testing_python.rs`, `sdk_testing_js.rs`) share:
//! how a scenario moves on once started, driven on the real host as the harnesses drive it; the
//! facts read from the host's history; and the host's own words for its commands.

use crate::harness::{Harness, T0};
use reprise_core::replay::Command;
use reprise_core::{Event, HistoryEvent, Timestamp};
use reprise_executor::{UpdateRequest, UpdateState};
use reprise_store::InstanceRecord;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command as Process;
use std::time::Duration;

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

/// How a scenario moves on once started, on the host and in the harness alike.
#[derive(Clone, Copy)]
pub enum Then {
    /// Nothing: it finishes on its own, with no time passing.
    Finish,
    /// The event of [`approval`] is raised once it waits for it.
    Approve,
    /// Time passes until it finishes: the clock moves to each retry and timer it waits on.
    MoveTime,
    /// The updates of [`deposits`] are sent one at a time, each once the last is answered.
    Deposits,
}

impl Then {
    /// Its name in the files the harnesses' side reads.
    pub fn name(self) -> &'static str {
        match self {
            Then::Finish => "finish",
            Then::Approve => "approve",
            Then::MoveTime => "move-time",
            Then::Deposits => "deposits",
        }
    }
}

/// The event [`Then::Approve`] raises: its name and data.
pub fn approval() -> (&'static str, Value) {
    ("Approval", json!({"by": "alice"}))
}

/// The updates [`Then::Deposits`] sends, in order: name and input. The harnesses number the
/// updates they send `update-1`, `update-2`...: the host is given the same ids.
pub fn deposits() -> Value {
    json!([
        {"name": "deposit", "input": 5},
        {"name": "deposit", "input": 13},
        {"name": "deposit", "input": 7},
        {"name": "close", "input": null},
    ])
}

/// Moves the started instance `id` on as `then` says, until it finishes.
pub async fn drive(host: &Harness, id: &str, then: Then) -> InstanceRecord {
    match then {
        Then::Finish => host.finished(id).await,
        Then::Approve => {
            // Raised once it waits, so that the harness's run (which raises it then too) meets
            // the same order of deliveries.
            host.until_history(id, |h| h.iter().any(|e| matches!(e.event, Event::EventWaitStarted { .. }))).await;
            let (name, data) = approval();
            host.host.raise_event(id, name, &data.to_string()).await.expect("raise the event");
            host.finished(id).await
        }
        Then::MoveTime => host.finished_moving_time(id).await,
        Then::Deposits => {
            // Sent once it waits, as the harnesses send them after its first episode.
            host.until_history(id, |h| h.iter().any(|e| matches!(e.event, Event::UpdateWaitStarted { .. }))).await;
            for (n, update) in deposits().as_array().expect("a list").iter().enumerate() {
                let request = UpdateRequest {
                    instance_id: id.to_string(),
                    name: update["name"].as_str().expect("a name").to_string(),
                    input: update["input"].to_string(),
                    update_id: Some(format!("update-{}", n + 1)),
                    wait: Duration::from_secs(60),
                };
                let status = host.host.update(request).await.expect("send the update");
                assert_eq!(status.state, UpdateState::Answered, "{id}: {update} was not answered: {status:?}");
            }
            host.finished(id).await
        }
    }
}

/// When `id`'s history started: the host's clock is shared, so a scenario after one that moved
/// time starts later, and the harness's clock must start there too.
pub fn started_at(id: &str, history: &[HistoryEvent]) -> Timestamp {
    let Some(Event::EpisodeStarted { time }) = history.first().map(|e| &e.event) else {
        panic!("the history of {id} does not start with an episode: {history:?}")
    };
    assert!(*time >= T0, "{id} started at {time}, before the clock's start");
    *time
}

/// The ids of the sub-orchestrations a history started.
pub fn children<'a>(history: impl IntoIterator<Item = &'a HistoryEvent>) -> Vec<String> {
    history
        .into_iter()
        .filter_map(|e| match &e.event {
            Event::SubOrchestrationScheduled { instance_id, .. } => Some(instance_id.to_string()),
            _ => None,
        })
        .collect()
}

/// Writes what `reprise history ID --json --db DB` prints to `file`.
pub fn write_cli_history(db: &Path, id: &str, file: &Path) {
    let out = Process::new(REPRISE).args(["history", id, "--json", "--db"]).arg(db).output().expect("run reprise");
    assert!(out.status.success(), "reprise history {id} --json: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(file, out.stdout).expect("write the history");
}

/// A command event in the host's words (`impl Display for Command`), or `None` for an event
/// that records no decision of the orchestrator: what the SDK harnesses' commands must say,
/// written by the host's code rather than a port of it.
pub fn command_words(event: &Event) -> Option<String> {
    Command::recorded_in(event).map(|command| command.to_string())
}
