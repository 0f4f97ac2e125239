//! The commands of deploys: `replay-check`, which tells which instances a new component can take
//! over (it reads the database and never writes it), and `upgrade`, which moves them there.

use crate::cli::{ReplayCheckArgs, UpgradeArgs};
use crate::progress::Progress;
use crate::render;
use anyhow::Context as _;
use reprise_core::RuntimeStatus;
use reprise_executor::{ExecutorConfig, InstanceCheck, InstanceUpgrade, ReplayChecker, UpgradeOutcome, Verdict};
use reprise_runtime::{Runtime, RuntimeConfig};
use reprise_store::InstanceFilter;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// The statuses checked when none is named: the instances a new component may have to serve.
pub(crate) const UNFINISHED: [RuntimeStatus; 4] =
    [RuntimeStatus::Pending, RuntimeStatus::Running, RuntimeStatus::Suspended, RuntimeStatus::ContinuedAsNew];

pub(crate) async fn replay_check(args: ReplayCheckArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_to_read(&args.db)?;
    let checker = checker(&args.component).await?;
    let ids =
        selected(&args.ids, args.name.as_deref(), (args.statuses.clone(), args.include_finished), store.as_ref())?;
    if !args.json {
        let component = checker.component();
        eprintln!("replaying {} instance(s) on component {} ({})", ids.len(), &component.hash[..12], component.source);
    }
    let started = Instant::now();
    let total = ids.len();
    let concurrency = concurrency(args.concurrency);
    let mut progress = Progress::new("replayed", Some(total as u64), !args.json);
    let checks = checker
        .check_instances(store, ids, concurrency, |_| progress.advance(1))
        .await
        .with_context(|| format!("cannot read the database {}", args.db.db.display()))?;
    progress.finish();
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

/// Replays run at once: `wanted`, or one per core.
fn concurrency(wanted: Option<usize>) -> usize {
    wanted.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1)
}

/// The ids a command works on: the ones named, else every instance the filters match. With no
/// status, the unfinished ones; `include_finished` adds the finished ones.
fn selected(
    ids: &[String],
    name: Option<&str>,
    (mut statuses, include_finished): (Vec<RuntimeStatus>, bool),
    store: &dyn reprise_store::HistoryStore,
) -> anyhow::Result<Vec<String>> {
    if statuses.is_empty() {
        statuses.extend(UNFINISHED);
    }
    if include_finished {
        statuses.extend([RuntimeStatus::Completed, RuntimeStatus::Failed, RuntimeStatus::Terminated]);
    }
    let filter = InstanceFilter { statuses, name: name.map(str::to_string), ..InstanceFilter::default() };
    let matching = store.list_instances(&filter)?;
    if ids.is_empty() {
        return Ok(matching.into_iter().map(|record| record.instance_id).collect());
    }
    for id in ids {
        if store.instance(id)?.is_none() {
            anyhow::bail!("no instance with id '{id}' (see `reprise list`)");
        }
    }
    let named: std::collections::HashSet<&String> = ids.iter().collect();
    Ok(matching.into_iter().map(|record| record.instance_id).filter(|id| named.contains(id)).collect())
}

pub(crate) async fn upgrade(args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    if let Some(status) = args.statuses.iter().find(|s| s.is_terminal()) {
        anyhow::bail!("upgrade moves unfinished instances only; {status} is a finished status");
    }
    let host = super::host(&args.db, ExecutorConfig::default())?;
    let store = host.store();
    let (hash, source, exported) = match (&args.component, &args.to) {
        // Compiled apart first, so that a component refused below is not recorded.
        (Some(path), _) => {
            let checker = checker(path).await?;
            let component = checker.component();
            (component.hash.clone(), path.display().to_string(), component.orchestrators.clone())
        }
        (None, Some(prefix)) => known_component(store.as_ref(), prefix)?,
        (None, None) => unreachable!("clap requires --to or --component"),
    };
    if let Some(name) = &args.name
        && !exported.contains(name)
    {
        anyhow::bail!(
            "component {} ({source}) exports no orchestrator named '{name}' (it exports: {}); nothing was upgraded",
            render::short_hash(&hash),
            if exported.is_empty() { "none".to_string() } else { exported.join(", ") }
        );
    }
    if let Some(path) = &args.component {
        host.load_component_file(path).await?;
    }
    // An instance named by id is reported whatever its status (a finished one is skipped, saying so).
    let named_any = !args.ids.is_empty() && args.statuses.is_empty();
    let ids = selected(&args.ids, args.name.as_deref(), (args.statuses.clone(), named_any), store.as_ref())?;
    if !args.json {
        eprintln!("upgrading {} instance(s) to component {} ({source})", ids.len(), render::short_hash(&hash));
    }
    let started = Instant::now();
    let mut progress = Progress::new("upgraded", Some(ids.len() as u64), !args.json);
    let upgrades = host.upgrade(&hash, ids, concurrency(args.concurrency), |_| progress.advance(1)).await?;
    progress.finish();
    let counts = UpgradeCounts::of(&upgrades, started.elapsed().as_secs_f64());
    if args.json {
        let json = render::upgrade_json((&hash, &source), &upgrades, &counts);
        crate::out!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        let width = upgrades.iter().map(|u| u.instance_id.len()).max().unwrap_or(0);
        for upgrade in &upgrades {
            crate::out!("{:<width$}  {}", upgrade.instance_id, render::upgrade_outcome(&upgrade.outcome));
        }
        crate::out!("{}", counts.line());
    }
    let moved = counts.upgraded + counts.already_on + counts.not_started;
    Ok(if moved == upgrades.len() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The component the database knows by this hash, or by this unique prefix of its hash: its
/// hash, where it was loaded from and the orchestrators it exports.
fn known_component(
    store: &dyn reprise_store::HistoryStore,
    prefix: &str,
) -> anyhow::Result<(String, String, Vec<String>)> {
    let matching: Vec<_> = store.components()?.into_iter().filter(|c| c.hash.starts_with(prefix)).collect();
    match matching.as_slice() {
        [one] => Ok((one.hash.clone(), one.source.clone(), one.orchestrators.clone())),
        [] => anyhow::bail!(
            "no component in the database has a hash starting with '{prefix}' (see `reprise components`, or give \
             the file with --component)"
        ),
        many => anyhow::bail!(
            "'{prefix}' starts the hashes of {} components; give more of the hash (see `reprise components`)",
            many.len()
        ),
    }
}

/// The counts an upgrade ends with.
pub(crate) struct UpgradeCounts {
    pub(crate) upgraded: usize,
    pub(crate) stays_pinned: usize,
    pub(crate) already_on: usize,
    pub(crate) not_started: usize,
    pub(crate) skipped: usize,
    pub(crate) seconds: f64,
}

impl UpgradeCounts {
    fn of(upgrades: &[InstanceUpgrade], seconds: f64) -> UpgradeCounts {
        let count = |f: fn(&UpgradeOutcome) -> bool| upgrades.iter().filter(|u| f(&u.outcome)).count();
        UpgradeCounts {
            upgraded: count(|o| matches!(o, UpgradeOutcome::Upgraded { .. })),
            stays_pinned: count(|o| matches!(o, UpgradeOutcome::StaysPinned { .. })),
            already_on: count(|o| matches!(o, UpgradeOutcome::AlreadyOn)),
            not_started: count(|o| matches!(o, UpgradeOutcome::NotStarted)),
            skipped: count(|o| matches!(o, UpgradeOutcome::Skipped { .. })),
            seconds,
        }
    }

    fn line(&self) -> String {
        let total = self.upgraded + self.stays_pinned + self.already_on + self.not_started + self.skipped;
        let instances = if total == 1 { "instance" } else { "instances" };
        format!(
            "{total} {instances} in {:.2} s: {} upgraded, {} stay pinned, {} already on it, {} not started, {} skipped",
            self.seconds, self.upgraded, self.stays_pinned, self.already_on, self.not_started, self.skipped
        )
    }
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
