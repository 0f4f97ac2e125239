//! The invariant checker: reads a run's database (through [`SqliteStore`] and, for what the
//! store's trait does not show, plain SQL), its side-effect log and the harness's [`Ledger`],
//! and reports every invariant that does not hold, naming the instance.
//!
//! - [`outcomes`]: every acknowledged start exists and finished as its input determines; every
//!   instance in the file was started by the harness or by a parent.
//! - [`history`]: every history is well formed.
//! - [`activities`]: every activity task ran as often as its history and the kills allow, and
//!   its recorded results are attempts that really ran.
//! - [`entities`]: every counter holds exactly the operations sent to it, each applied once.
//! - [`leftovers`]: nothing queued, held or locked is left for what has finished; the file is
//!   intact.
//!
//! The checker only reads; it never repairs or waits for anything.

mod activities;
mod entities;
mod history;
mod leftovers;
mod outcomes;

use super::ledger::Ledger;
use anyhow::Context as _;
use reprise_core::{HistoryEvent, Payload};
use reprise_store::{EntityFilter, EntityRecord, HistoryStore as _, InstanceFilter, InstanceRecord, SqliteStore};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Which invariant a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// An acknowledged start is missing, or an instance nobody started is present.
    Acknowledged,
    /// An instance has not finished.
    Finished,
    /// An instance finished otherwise than its input determines.
    Outcome,
    /// A history is not well formed.
    History,
    /// An activity task ran too often or too rarely, or its recorded result never ran.
    Activity,
    /// An entity's state is not the sum of its operations, each applied once.
    Entity,
    /// A message, task or lock is left behind for something that has finished.
    LeftBehind,
    /// The database file or the host process itself failed.
    Database,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Invariant::Acknowledged => "acknowledged start",
            Invariant::Finished => "finished",
            Invariant::Outcome => "outcome",
            Invariant::History => "well-formed history",
            Invariant::Activity => "activity attempts",
            Invariant::Entity => "entity operations",
            Invariant::LeftBehind => "nothing left behind",
            Invariant::Database => "database",
        };
        f.write_str(name)
    }
}

/// One invariant that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The instance (or entity, `@name@key`) it is about; `(database)` or `(host)` for the
    /// file or the process.
    pub instance: String,
    /// Which invariant.
    pub invariant: Invariant,
    /// What was found.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: [{}] {}", self.instance, self.invariant, self.detail)
    }
}

/// What the checker saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Orchestration instances in the file (the harness's and their children).
    pub instances: usize,
    /// Of which started by the harness.
    pub started: usize,
    /// Executions (continue-as-new and retried children make several per instance).
    pub executions: usize,
    /// History events.
    pub events: usize,
    /// Activity tasks scheduled.
    pub activity_tasks: usize,
    /// Activity attempts in the side-effect log.
    pub attempts: usize,
    /// Entities.
    pub entities: usize,
    /// Entity operations applied (by the entities' counts).
    pub entity_operations: u64,
}

/// The checker's findings.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every invariant that does not hold, by instance.
    pub violations: Vec<Violation>,
    /// What was checked.
    pub stats: Stats,
}

impl Report {
    /// The violations about `instance`.
    pub fn about<'a>(&'a self, instance: &'a str) -> impl Iterator<Item = &'a Violation> + 'a {
        self.violations.iter().filter(move |v| v.instance == instance)
    }
}

/// One orchestration instance as stored: its row and each execution's history (or why it
/// could not be read).
pub(crate) struct Stored {
    pub record: InstanceRecord,
    pub executions: Vec<Result<Vec<HistoryEvent>, String>>,
}

impl Stored {
    /// The events of every execution that could be read, with the execution's number.
    pub fn histories(&self) -> impl Iterator<Item = (u32, &[HistoryEvent])> {
        self.executions.iter().enumerate().filter_map(|(i, h)| h.as_ref().ok().map(|h| (i as u32 + 1, h.as_slice())))
    }
}

/// Everything the checker reads.
pub(crate) struct Snapshot {
    pub instances: BTreeMap<String, Stored>,
    pub entities: Vec<EntityRecord>,
    pub log: Vec<activities::LogLine>,
}

/// Collects violations.
#[derive(Default)]
pub(crate) struct Findings(pub Vec<Violation>);

impl Findings {
    pub fn add(&mut self, instance: impl Into<String>, invariant: Invariant, detail: impl Into<String>) {
        self.0.push(Violation { instance: instance.into(), invariant, detail: detail.into() });
    }
}

/// Checks a finished run: the database at `db`, the side-effect log at `log`, what the harness
/// did (`ledger`).
pub fn check(db: &Path, log: &Path, ledger: &Ledger) -> anyhow::Result<Report> {
    let mut findings = Findings::default();
    leftovers::integrity(db, &mut findings)?;
    let snapshot = read(db, log, &mut findings)?;
    for (round, status) in &ledger.host_exits {
        findings.add("(host)", Invariant::Database, format!("the host exited on its own in round {round}: {status}"));
    }
    outcomes::check(&snapshot, ledger, &mut findings);
    for (id, stored) in &snapshot.instances {
        history::check(id, stored, &mut findings);
    }
    let activity_tasks = activities::check(&snapshot, &activities::Kills::of(ledger), &mut findings);
    entities::check(&snapshot, ledger, &mut findings);
    leftovers::check(db, &mut findings)?;

    let stats = Stats {
        instances: snapshot.instances.len(),
        started: ledger.starts.len(),
        executions: snapshot.instances.values().map(|s| s.executions.len()).sum(),
        events: snapshot.instances.values().flat_map(|s| s.histories()).map(|(_, h)| h.len()).sum(),
        activity_tasks,
        attempts: snapshot.log.len(),
        entities: snapshot.entities.len(),
        entity_operations: snapshot.entities.iter().map(|e| e.operations).sum(),
    };
    Ok(Report { violations: findings.0, stats })
}

fn read(db: &Path, log: &Path, findings: &mut Findings) -> anyhow::Result<Snapshot> {
    let store = SqliteStore::open(db).with_context(|| format!("cannot open {}", db.display()))?;
    let mut instances = BTreeMap::new();
    for record in store.list_instances(&InstanceFilter::default())? {
        let executions = (1..=record.execution)
            .map(|execution| store.history(&record.instance_id, execution).map_err(|error| error.to_string()))
            .collect();
        instances.insert(record.instance_id.clone(), Stored { record, executions });
    }
    let entities = store.list_entities(&EntityFilter { include_stateless: true, ..EntityFilter::default() })?;
    let log = activities::read_log(log, findings)?;
    Ok(Snapshot { instances, entities, log })
}

/// A payload as JSON.
pub(crate) fn json(payload: &Payload) -> Result<Value, String> {
    serde_json::from_str(payload).map_err(|err| format!("not JSON ({err}): {payload}"))
}
