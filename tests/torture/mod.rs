//! The fault suite: a mixed workload on a real `reprise serve` process that is SIGKILLed at
//! seeded random moments, round after round, and restarted, until every instance has finished;
//! then a check of invariants over the database and the side-effect log the activities append
//! to. Run it with `cargo xtask torture --rounds N --seed S` (or the `torture` binary of this
//! package); `tests/all/torture.rs` runs a short version in CI.
//!
//! - [`workload`]: the plan a seed names, and what each instance must return.
//! - `driver`: the rounds, the kills and the requests.
//! - `process`: the host process, the `reprise` command, the HTTP client.
//! - [`ledger`]: what the harness did and was told.
//! - [`invariants`]: the checker.
//!
//! The harness never reads the engine's memory or its logs to decide anything: only the
//! answers a client gets, the database and the side-effect log.

mod driver;
pub mod invariants;
pub mod ledger;
mod process;
pub mod workload;

pub use invariants::{Invariant, Report, Violation, check};
pub use ledger::Ledger;
pub use process::HostFiles;

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a run does.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `reprise` command to run as the host.
    pub reprise: PathBuf,
    /// The torture guest component.
    pub component: PathBuf,
    /// The directory of the run's files (database, side-effect log, host logs, plan, ledger);
    /// created if missing, and must not hold an earlier run.
    pub dir: PathBuf,
    /// The plan's seed.
    pub seed: u64,
    /// Rounds: each starts a host and SIGKILLs it.
    pub rounds: u32,
    /// Instances started by the harness, spread over the rounds.
    pub instances: u32,
    /// The whole run, kills, restarts and the final wait included, must end within this.
    pub deadline: Duration,
}

impl Config {
    /// A run of `rounds` rounds and 3 instances per round, with a deadline that allows 6 s per
    /// round and 5 minutes for the end.
    pub fn new(reprise: PathBuf, component: PathBuf, dir: PathBuf, seed: u64, rounds: u32) -> Config {
        let deadline = Duration::from_secs(6 * u64::from(rounds) + 300);
        Config { reprise, component, dir, seed, rounds, instances: 3 * rounds.max(1), deadline }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Outcome {
    /// What the harness did.
    pub ledger: Ledger,
    /// What the checker found.
    pub report: Report,
    /// How long the run took, the check included.
    pub wall: Duration,
}

/// The files of a run in `dir`.
pub fn files(config: &Config) -> HostFiles {
    HostFiles {
        reprise: config.reprise.clone(),
        component: config.component.clone(),
        db: config.dir.join(DB),
        log_dir: config.dir.join(LOG_DIR),
        compile_cache: config.dir.join("compile-cache"),
    }
}

/// The database's file name in a run's directory.
const DB: &str = "torture.db";
/// The directory granted to activities, in a run's directory.
const LOG_DIR: &str = "log";

/// The side-effect log the activities append to.
pub fn log_file(files: &HostFiles) -> PathBuf {
    files.log_dir.join("activities.jsonl")
}

/// Runs the workload, the kills and the check. Fails (naming what) if the run itself cannot
/// finish: a host that does not start, an instance still unfinished at the deadline.
pub fn run(config: &Config) -> anyhow::Result<Outcome> {
    let began = Instant::now();
    let files = files(config);
    if files.db.exists() {
        anyhow::bail!("{} holds an earlier run: give an empty directory", config.dir.display());
    }
    std::fs::create_dir_all(&files.log_dir).with_context(|| format!("cannot create {}", files.log_dir.display()))?;
    let plan = workload::plan(config.seed, config.rounds, config.instances);
    write_json(&config.dir.join("plan.json"), &plan)?;
    let ledger = driver::drive(&files, &config.dir, &plan, began + config.deadline)?;
    let report = check(&files.db, &log_file(&files), &ledger)?;
    Ok(Outcome { ledger, report, wall: began.elapsed() })
}

/// Checks the run kept in `dir` again (its database, log and `ledger.json`), as [`run`] did at
/// its end: for a run that failed, or after a change to the checker.
pub fn check_dir(dir: &Path) -> anyhow::Result<Outcome> {
    let began = Instant::now();
    let files = HostFiles {
        reprise: PathBuf::new(),
        component: PathBuf::new(),
        db: dir.join(DB),
        log_dir: dir.join(LOG_DIR),
        compile_cache: PathBuf::new(),
    };
    let path = dir.join("ledger.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let ledger: Ledger = serde_json::from_str(&text).with_context(|| format!("{} is not a ledger", path.display()))?;
    let report = check(&files.db, &log_file(&files), &ledger)?;
    Ok(Outcome { ledger, report, wall: began.elapsed() })
}

/// A read-only connection to the database, beside the host.
pub(crate) fn open_read_only(db: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("cannot open {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

impl Outcome {
    /// A summary of the run, then every violation, one per line.
    pub fn summary(&self) -> String {
        let s = &self.report.stats;
        let acked_signals = self.ledger.signals.iter().filter(|s| s.acked).count();
        let mut text = format!(
            "seed {}: {} kills in {:.1?}; {} instances ({} started by the harness, {} of them acknowledged), \
             {} executions, {} history events; {} activity tasks, {} attempts logged; {} entities, {} operations \
             ({} of {} harness signals acknowledged); {} events raised\n",
            self.ledger.seed,
            self.ledger.kills,
            self.wall,
            s.instances,
            s.started,
            self.ledger.starts.values().filter(|r| r.acked).count(),
            s.executions,
            s.events,
            s.activity_tasks,
            s.attempts,
            s.entities,
            s.entity_operations,
            acked_signals,
            self.ledger.signals.len(),
            self.ledger.raises.len(),
        );
        if self.report.violations.is_empty() {
            text.push_str("every invariant holds\n");
        } else {
            text.push_str(&format!("{} violation(s):\n", self.report.violations.len()));
            for violation in &self.report.violations {
                text.push_str(&format!("  {violation}\n"));
            }
        }
        text
    }
}
