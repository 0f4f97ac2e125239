//! The commands of deploys: `replay-check`, which tells which instances a new component can take
//! over. It reads the database and never writes it.

use crate::cli::ReplayCheckArgs;
use crate::render;
use anyhow::Context as _;
use reprise_core::RuntimeStatus;
use reprise_executor::{ExecutorConfig, InstanceCheck, ReplayChecker, Verdict};
use reprise_runtime::{Runtime, RuntimeConfig};
use reprise_store::InstanceFilter;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// The statuses checked when none is named: the instances a new component may have to serve.
const UNFINISHED: [RuntimeStatus; 4] =
    [RuntimeStatus::Pending, RuntimeStatus::Running, RuntimeStatus::Suspended, RuntimeStatus::ContinuedAsNew];

pub(crate) async fn replay_check(args: ReplayCheckArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_to_read(&args.db)?;
    let checker = checker(&args.component).await?;
    let ids = selected(&args, store.as_ref())?;
    if !args.json {
        let component = checker.component();
        eprintln!("replaying {} instance(s) on component {} ({})", ids.len(), &component.hash[..12], component.source);
    }
    let started = Instant::now();
    let total = ids.len();
    let concurrency =
        args.concurrency.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let mut progress = Progress::new(total, !args.json);
    let checks = checker
        .check_instances(store, ids, concurrency, |_| progress.tick())
        .await
        .with_context(|| format!("cannot read the database {}", args.db.db.display()))?;
    progress.done();
    let summary = Summary::of(&checks, started.elapsed().as_secs_f64());
    if args.json {
        crate::out!(
            "{}",
            serde_json::to_string_pretty(&render::replay_check_json(checker.component(), &checks, &summary))?
        );
    } else {
        let width = checks.iter().map(|c| c.instance_id.len()).max().unwrap_or(0);
        for check in &checks {
            crate::out!("{:<width$}  {}", check.instance_id, render::verdict(&check.replay.verdict));
        }
        crate::out!("{}", summary.line());
    }
    Ok(if summary.compatible == checks.len() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A checker of the component at `path`, on a runtime of its own that writes nothing (no
/// compile cache).
async fn checker(path: &std::path::Path) -> anyhow::Result<ReplayChecker> {
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).context("cannot create the wasm runtime")?);
    Ok(ReplayChecker::load_file(runtime, path, &ExecutorConfig::default()).await?)
}

/// The ids the command checks: the ones named, else every instance the filters match.
fn selected(args: &ReplayCheckArgs, store: &dyn reprise_store::HistoryStore) -> anyhow::Result<Vec<String>> {
    let mut statuses = args.statuses.clone();
    if statuses.is_empty() {
        statuses.extend(UNFINISHED);
    }
    if args.include_finished {
        statuses.extend([RuntimeStatus::Completed, RuntimeStatus::Failed, RuntimeStatus::Terminated]);
    }
    let filter = InstanceFilter { statuses, name: args.name.clone(), ..InstanceFilter::default() };
    let matching = store.list_instances(&filter)?;
    if args.ids.is_empty() {
        return Ok(matching.into_iter().map(|record| record.instance_id).collect());
    }
    for id in &args.ids {
        if store.instance(id)?.is_none() {
            anyhow::bail!("no instance with id '{id}' (see `reprise list`)");
        }
    }
    let named: std::collections::HashSet<&String> = args.ids.iter().collect();
    Ok(matching.into_iter().map(|record| record.instance_id).filter(|id| named.contains(id)).collect())
}

/// The counts a check ends with.
pub(crate) struct Summary {
    pub(crate) compatible: usize,
    pub(crate) diverges: usize,
    pub(crate) fails: usize,
    pub(crate) seconds: f64,
}

impl Summary {
    fn of(checks: &[InstanceCheck], seconds: f64) -> Summary {
        let count = |f: fn(&Verdict) -> bool| checks.iter().filter(|c| f(&c.replay.verdict)).count();
        Summary {
            compatible: count(|v| matches!(v, Verdict::Compatible)),
            diverges: count(|v| matches!(v, Verdict::Diverges { .. })),
            fails: count(|v| matches!(v, Verdict::Fails(_))),
            seconds,
        }
    }

    fn line(&self) -> String {
        let checked = self.compatible + self.diverges + self.fails;
        let instances = if checked == 1 { "instance" } else { "instances" };
        format!(
            "{checked} {instances} checked in {:.2} s: {} compatible, {} diverge, {} fail",
            self.seconds, self.compatible, self.diverges, self.fails
        )
    }
}

/// A count of checks done on stderr, for a terminal and long checks only.
struct Progress {
    total: usize,
    done: usize,
    quiet: bool,
}

impl Progress {
    fn new(total: usize, wanted: bool) -> Progress {
        Progress { total, done: 0, quiet: !wanted || !std::io::stderr().is_terminal() || total < 1000 }
    }

    fn tick(&mut self) {
        self.done += 1;
        if !self.quiet && self.done.is_multiple_of(250) {
            eprint!("\rreplayed {}/{}", self.done, self.total);
        }
    }

    fn done(&self) {
        if !self.quiet && self.done >= 250 {
            eprint!("\r{:width$}\r", "", width = 40);
        }
    }
}
