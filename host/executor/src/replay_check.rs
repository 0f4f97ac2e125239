//! Replay checks: whether a component can take recorded histories over, decided by replaying
//! each one on it, the way a cold episode of the host would, but without delivering anything
//! new and without writing.
//!
//! A history is compatible when the component issues every recorded command again, in order,
//! and then waits where the recorded run waited (or ends as it ended). It diverges at the first
//! command that differs, and the verdict names the position and both commands, in the replay
//! engine's words. Anything else that stops the replay (a trap, a missing orchestrator, a
//! corrupt history, a replay past the timeout) is a failure of the check.
//!
//! It owns the verdicts and the fan-out of checks over many instances. It never writes the store
//! (it reads one snapshot per batch of instances), never commits or keeps what a replay
//! produces, and never decides what a verdict leads to (an upgrade, an exit code): its callers do.

use crate::config::ExecutorConfig;
use crate::error::ExecutorError;
use crate::session::{RunEnd, guest_failure, open_and_run, replay_failure};
use reprise_core::failure::error_types;
use reprise_core::replay::{HistoryLimits, ReplayError, Replayer};
use reprise_core::{Event, Failure, HistoryEvent, Payload, RuntimeStatus};
use reprise_runtime::{GuestError, GuestLog, GuestObserved, LoadedComponent, OrchestrationSession, Runtime};
use reprise_store::{HistoryStore, StoreError};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Instances read from the store per snapshot: large enough that reads cost little beside the
/// replays, small enough that a check of a million instances does not hold them all in memory.
const SNAPSHOT_BATCH: usize = 256;

/// What replaying one history on a component showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The component issued every recorded command again and waited (or ended) where the
    /// recorded run did: it can take the instance over.
    Compatible,
    /// The component decided differently from the recorded run.
    Diverges {
        /// The history position (event sequence number) where it diverged.
        position: u64,
        /// What the history records there.
        recorded: String,
        /// What the component did instead.
        issued: String,
    },
    /// The replay could not be carried out: the failure says why.
    Fails(Failure),
}

impl Verdict {
    /// Whether the component can take the instance over.
    pub fn is_compatible(&self) -> bool {
        matches!(self, Verdict::Compatible)
    }
}

/// The words of `reprise replay-check`: `compatible`, `diverges at position P: recorded <cmd>,
/// new <cmd>`, or `fails: <type>: <message>`.
impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Compatible => f.write_str("compatible"),
            Verdict::Diverges { position, recorded, issued } => {
                write!(f, "diverges at position {position}: recorded {recorded}, new {issued}")
            }
            Verdict::Fails(failure) => write!(f, "fails: {}: {}", failure.error_type, failure.message),
        }
    }
}

/// A replay's verdict, how far it got and, when asked for, what the orchestrator logged.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The verdict.
    pub verdict: Verdict,
    /// How many recorded events were replayed.
    pub replayed: u64,
    /// The orchestrator's log lines, with their positions (empty unless captured).
    pub logs: Vec<GuestLog>,
}

/// One instance's check.
#[derive(Debug, Clone)]
pub struct InstanceCheck {
    /// The instance.
    pub instance_id: String,
    /// Its orchestrator.
    pub name: String,
    /// Its status when read.
    pub status: RuntimeStatus,
    /// The execution checked (its current one).
    pub execution: u32,
    /// The component it is pinned to, if it has run.
    pub pinned: Option<String>,
    /// The events its history holds.
    pub history_len: u64,
    /// The replay.
    pub replay: Replay,
}

/// Replays histories on one component. Cheap to clone: checks run in parallel on clones.
#[derive(Clone)]
pub struct ReplayChecker {
    runtime: Arc<Runtime>,
    component: Arc<LoadedComponent>,
    limits: HistoryLimits,
    max_payload: usize,
    timeout: Duration,
}

impl ReplayChecker {
    /// A checker of `component`, with the limits and the episode timeout of `config` (the ones
    /// the host would replay under).
    pub fn new(runtime: Arc<Runtime>, component: Arc<LoadedComponent>, config: &ExecutorConfig) -> Self {
        ReplayChecker {
            runtime,
            component,
            limits: config.history_limits,
            max_payload: config.max_payload_bytes,
            timeout: config.episode_timeout,
        }
    }

    /// A checker of the component in file `path`, loaded without recording it anywhere.
    pub async fn load_file(runtime: Arc<Runtime>, path: &Path, config: &ExecutorConfig) -> Result<Self, ExecutorError> {
        let read_error = |source| ExecutorError::ReadComponent { path: path.display().to_string(), source };
        let size = tokio::fs::metadata(path).await.map_err(read_error)?.len();
        runtime.check_component_size(size, &path.display().to_string())?;
        let bytes = tokio::fs::read(path).await.map_err(read_error)?;
        Self::load(runtime, bytes, &path.display().to_string(), config).await
    }

    /// A checker of the component `bytes` (`source` names it in messages), loaded without
    /// recording it anywhere.
    pub async fn load(
        runtime: Arc<Runtime>,
        bytes: Vec<u8>,
        source: &str,
        config: &ExecutorConfig,
    ) -> Result<Self, ExecutorError> {
        let component = Arc::new(runtime.load(bytes, source).await?);
        Ok(Self::new(runtime, component, config))
    }

    /// The component checked.
    pub fn component(&self) -> &LoadedComponent {
        &self.component
    }

    /// Replays `history`, execution `execution` of instance `instance_id` running orchestrator
    /// `name`, on the component; with `capture_logs` the orchestrator's log lines come back
    /// with the verdict.
    pub async fn check(
        &self,
        (instance_id, execution): (&str, u32),
        name: &str,
        history: Vec<HistoryEvent>,
        capture_logs: bool,
    ) -> Replay {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (verdict, replayed) =
            self.replay(instance_id, execution, name, history, capture_logs.then(|| logs.clone())).await;
        let logs = std::mem::take(&mut *logs.lock().unwrap_or_else(|e| e.into_inner()));
        Replay { verdict, replayed, logs }
    }

    async fn replay(
        &self,
        instance_id: &str,
        execution: u32,
        name: &str,
        history: Vec<HistoryEvent>,
        logs: Option<Arc<Mutex<Vec<GuestLog>>>>,
    ) -> (Verdict, u64) {
        if !self.component.orchestrators.iter().any(|exported| exported == name) {
            let failure = Failure::new(
                error_types::ORCHESTRATOR_NOT_FOUND,
                format!(
                    "component {} ({}) exports no orchestrator named '{name}'",
                    short(&self.component.hash),
                    self.component.source
                ),
            );
            return (Verdict::Fails(failure), 0);
        }
        if history.is_empty() {
            // Nothing recorded yet: the first episode will run whatever code it finds.
            return (Verdict::Compatible, 0);
        }
        let replayer = match Replayer::new(instance_id, execution, self.component.hash.clone(), history) {
            Ok(replayer) => Arc::new(Mutex::new(replayer.with_limits(self.limits))),
            Err(error) => return (Verdict::Fails(replay_failure(&error)), 0),
        };
        let observed = GuestObserved::new();
        // Nothing is ever delivered: the sender only has to live until the guest blocks.
        let (deliveries_tx, deliveries_rx) = mpsc::unbounded_channel();
        let (yields_tx, mut yields_rx) = mpsc::unbounded_channel();
        let mut session = OrchestrationSession::new(
            instance_id.to_string(),
            replayer.clone(),
            observed.clone(),
            (deliveries_rx, yields_tx),
            self.max_payload,
        );
        if let Some(sink) = logs {
            session = session.capture_logs(sink);
        }
        let mut guest = tokio::spawn(open_and_run(
            self.runtime.clone(),
            self.component.clone(),
            (instance_id.to_string(), execution),
            (replayer.clone(), observed),
            session,
        ));
        let ended = tokio::time::timeout(self.timeout, async {
            tokio::select! {
                // The guest waits for something the history does not hold: it replayed all of it.
                Some(_) = yields_rx.recv() => None,
                end = &mut guest => Some(end),
            }
        })
        .await;
        guest.abort();
        drop(deliveries_tx);
        let mut replayer = replayer.lock().unwrap_or_else(|e| e.into_inner());
        let verdict = match ended {
            Err(_) => Verdict::Fails(Failure::new(
                error_types::TIMED_OUT,
                format!(
                    "the replay did not finish within {:?} (the host's episode timeout) after {} of {} events",
                    self.timeout,
                    replayer.position(),
                    replayer.history_len()
                ),
            )),
            Ok(None) => Verdict::Compatible,
            Ok(Some(Ok(end))) => self.ended(&mut replayer, end),
            Ok(Some(Err(join))) => Verdict::Fails(Failure::new(
                error_types::GUEST_TRAPPED,
                format!("the replay's task ended abnormally: {join}"),
            )),
        };
        (verdict, replayer.position())
    }

    /// The verdict on a guest that ran to its end during the replay: it must end as the
    /// recorded run ended.
    fn ended(&self, replayer: &mut Replayer, end: RunEnd) -> Verdict {
        let checked = match end {
            Ok(Ok(output)) => match Payload::parse(output, self.max_payload) {
                Ok(output) => replayer.complete(output),
                Err(error) => return Verdict::Fails(error.failure("the orchestrator's output")),
            },
            Ok(Err(failure)) => replayer.fail(failure),
            Err(GuestError::Replay(error)) => Err(error),
            Err(error) => {
                // The host ended the recorded run the same way (a trap, a limit): that is a
                // replay of it too.
                let failure = guest_failure(&error);
                return match replayer.next_recorded().map(|e| &e.event) {
                    Some(Event::ExecutionFailed { failure: recorded })
                        if recorded.error_type == failure.error_type && recorded.message == failure.message =>
                    {
                        Verdict::Compatible
                    }
                    _ => Verdict::Fails(failure),
                };
            }
        };
        match checked {
            Ok(()) => Verdict::Compatible,
            Err(ReplayError::Nondeterminism { position, recorded, issued }) => {
                Verdict::Diverges { position, recorded, issued }
            }
            Err(error) => Verdict::Fails(replay_failure(&error)),
        }
    }

    /// Checks the instances `ids` of `store`, `concurrency` replays at once, reading one
    /// snapshot per batch; `progress` hears of each check as it ends. The checks come back in
    /// the order of `ids` (ids with no instance are left out).
    pub async fn check_instances(
        &self,
        store: Arc<dyn HistoryStore>,
        ids: Vec<String>,
        concurrency: usize,
        mut progress: impl FnMut(&InstanceCheck),
    ) -> Result<Vec<InstanceCheck>, StoreError> {
        let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut running = tokio::task::JoinSet::new();
        let mut checks: Vec<Option<InstanceCheck>> = Vec::new();
        let mut keep = |done: Result<(usize, InstanceCheck), tokio::task::JoinError>,
                        checks: &mut Vec<Option<InstanceCheck>>| {
            let (index, check) = done.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
            progress(&check);
            checks[index] = Some(check);
        };
        for batch in ids.chunks(SNAPSHOT_BATCH) {
            let (reader, batch) = (store.clone(), batch.to_vec());
            let snapshots = tokio::task::spawn_blocking(move || reader.snapshots(&batch, false))
                .await
                .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
            for snapshot in snapshots {
                let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
                let (index, checker) = (checks.len(), self.clone());
                checks.push(None);
                running.spawn(async move {
                    let record = snapshot.record;
                    let (execution, history) =
                        snapshot.executions.into_iter().last().unwrap_or((record.execution, Vec::new()));
                    let history_len = history.len() as u64;
                    let replay =
                        checker.check((record.instance_id.as_str(), execution), &record.name, history, false).await;
                    drop(permit);
                    let check = InstanceCheck {
                        instance_id: record.instance_id,
                        name: record.name,
                        status: record.status,
                        execution,
                        pinned: record.component,
                        history_len,
                        replay,
                    };
                    (index, check)
                });
                while let Some(done) = running.try_join_next() {
                    keep(done, &mut checks);
                }
            }
        }
        while let Some(done) = running.join_next().await {
            keep(done, &mut checks);
        }
        Ok(checks.into_iter().flatten().collect())
    }
}

/// A hash as people read it: its first 12 characters.
fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
