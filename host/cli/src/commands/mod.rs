//! One module per command; [`dispatch`] picks it.

mod bundle;
mod config;
mod deploy;
mod entity;
mod inspect;
mod lifecycle;
mod run;
mod schedule;
mod serve;
mod update;

pub(crate) use deploy::{Summary, UpgradeCounts};

use crate::cli::{Command, ConfigCommand, DbArgs, EntityCommand, HostArgs, ScheduleCommand};
use crate::deployment::{self, Deployment};
use anyhow::Context as _;
use reprise_core::flow::FlowLimits;
use reprise_core::replay::HistoryLimits;
use reprise_executor::ComponentSummary;
use reprise_executor::{ExecutorConfig, Host, SystemClock};
use reprise_runtime::http::{HttpAccess, HttpGrant, HttpGrants};
use reprise_runtime::{ActivityGrants, CompileSource, Runtime, RuntimeConfig};
use reprise_store::{SqliteStore, StoreError, StoreOptions, Unavailable};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Runs a command; the exit code is the command's verdict (errors are reported by `main`).
pub(crate) async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { orchestrator, input, id, db, host } => run::run(orchestrator, input.read()?, id, db, host).await,
        Command::Serve { db, host, api } => serve::serve(db, host, api).await,
        Command::Start { orchestrator, input, id, wait, db } => {
            inspect::start(orchestrator, input.read()?, id, wait, db).await
        }
        Command::Raise { id, event, data, db } => lifecycle::raise(&id, &event, &data.read()?, &db).await,
        Command::Update { id, name, input, update_id, wait, db } => {
            let args = update::UpdateArgs { instance_id: id, name, input: input.read()?, update_id, wait };
            update::update(args, &db).await
        }
        Command::Terminate { id, reason, cascade, db } => lifecycle::terminate(&id, &reason, cascade, &db).await,
        Command::Suspend { id, reason, db } => lifecycle::suspend(&id, &reason, &db).await,
        Command::Resume { id, reason, db } => lifecycle::resume(&id, &reason, &db).await,
        Command::Rewind { id, reason, db } => lifecycle::rewind(&id, &reason, &db).await,
        Command::Restart { id, new_id, db } => lifecycle::restart(&id, new_id, &db).await,
        Command::Purge { id, statuses, older_than, db } => lifecycle::purge(id, statuses, older_than, &db).await,
        Command::Status { id, json, db } => inspect::status(&id, json, &db),
        Command::History { id, json, db } => inspect::history(&id, json, &db),
        Command::List { statuses, name, limit, json, db } => inspect::list(statuses, name, limit, json, &db),
        Command::Components { json, db } => inspect::components(json, &db),
        Command::ReplayCheck(args) => deploy::replay_check(args).await,
        Command::Upgrade(args) => deploy::upgrade(args).await,
        Command::Export { id, output, db } => bundle::export(&id, output, &db),
        Command::Replay(args) => bundle::replay(args).await,
        Command::Config(ConfigCommand::Check { config }) => config::check(config.as_deref()).await,
        Command::Entity(EntityCommand::Signal { name, key, operation, input, db }) => {
            entity::signal(&name, &key, &operation, &input.read()?, &db).await
        }
        Command::Entity(EntityCommand::Get { name, key, json, db }) => entity::get(&name, &key, json, &db),
        Command::Entity(EntityCommand::List { name, key_prefix, all, limit, json, db }) => {
            entity::list(name, key_prefix, all, limit, json, &db)
        }
        Command::Schedule(command) => match command {
            ScheduleCommand::Create(args) => schedule::create(args).await,
            ScheduleCommand::List { json, db } => schedule::list(json, &db).await,
            ScheduleCommand::Describe { name, json, db } => schedule::describe(&name, json, &db).await,
            ScheduleCommand::Pause { name, db } => schedule::pause(&name, &db).await,
            ScheduleCommand::Resume { name, db } => schedule::resume(&name, &db).await,
            ScheduleCommand::Trigger { name, db } => schedule::trigger(&name, &db).await,
            ScheduleCommand::Backfill { name, from, to, db } => schedule::backfill(&name, from, to, &db).await,
            ScheduleCommand::Delete { name, db } => schedule::delete(&name, &db).await,
        },
    }
}

/// Opens (or creates) the database, to write it.
pub(crate) fn open_store(db: &DbArgs, options: &StoreOptions) -> anyhow::Result<Arc<SqliteStore>> {
    let store = SqliteStore::open_with(&db.db, options)
        .with_context(|| format!("cannot open the database {}", db.db.display()))?;
    Ok(Arc::new(store))
}

/// Opens the database for a command that only reads it: as [`open_store`] does if this process
/// may write the file (which migrates an older schema), read-only if it may not.
pub(crate) fn open_store_to_read(db: &DbArgs) -> anyhow::Result<Arc<SqliteStore>> {
    match SqliteStore::open(&db.db) {
        Ok(store) => Ok(Arc::new(store)),
        Err(StoreError::Unavailable { reason: Unavailable::ReadOnly, .. }) => {
            open_store(db, &StoreOptions { read_only: true, ..StoreOptions::default() })
        }
        Err(error) => Err(anyhow::Error::new(error).context(format!("cannot open the database {}", db.db.display()))),
    }
}

/// Builds a host over the database, without loading components.
pub(crate) fn host(db: &DbArgs, config: ExecutorConfig) -> anyhow::Result<Host> {
    let runtime = RuntimeConfig { pools: Some(config.instance_pools()), ..RuntimeConfig::default() };
    host_with_runtime(db, &StoreOptions::default(), config, runtime)
}

/// Builds a host over the database with the given store and runtime settings.
fn host_with_runtime(
    db: &DbArgs,
    options: &StoreOptions,
    config: ExecutorConfig,
    runtime: RuntimeConfig,
) -> anyhow::Result<Host> {
    let store = open_store(db, options)?;
    let runtime = Arc::new(Runtime::new(runtime).context("cannot create the wasm runtime")?);
    Ok(Host::new(store, runtime, Arc::new(SystemClock), config))
}

/// The deployment file `run`/`serve` use, if any, read and checked.
pub(crate) fn deployment(args: &HostArgs) -> anyhow::Result<Option<Deployment>> {
    let Some(path) = deployment::locate(args.config.as_deref()) else {
        return Ok(None);
    };
    let loaded = deployment::load(&path)?;
    eprintln!("using the deployment file {}", path.display());
    Ok(Some(loaded))
}

/// Builds a host with the settings of `run`/`serve` and loads its components (the deployment
/// file's first, then the flags'), reporting each.
pub(crate) async fn loaded_host(db: &DbArgs, args: &HostArgs, deployment: Option<&Deployment>) -> anyhow::Result<Host> {
    let deployed = deployment.map_or(&[][..], |d| d.components.as_slice());
    if deployed.is_empty() && args.components.is_empty() {
        anyhow::bail!(
            "no component to load: give --component PATH, or list components in a deployment file \
             (--config PATH, or reprise.toml in the current directory; see `reprise config check --help`)"
        );
    }
    let flags = grants(args)?;
    let mut upgrades = reprise_executor::UpgradePolicies {
        by_orchestrator: deployment.map(|d| d.upgrade_policies.clone()).unwrap_or_default(),
        ..reprise_executor::UpgradePolicies::default()
    };
    upgrade_policies(args, &mut upgrades)?;
    let flow = Flow::activities(args, deployment)?;
    let entity_flow = Flow::entities(args, deployment)?;
    let config = ExecutorConfig {
        cache_capacity: args.cache_size,
        activity_concurrency: args.activity_concurrency.max(1),
        orchestration_concurrency: args.orchestration_concurrency.max(1),
        grants: flags.clone(),
        upgrades,
        flow: Arc::new(flow.limits.clone()),
        entity_flow: Arc::new(entity_flow.limits.clone()),
        activity_lease: args.lease,
        instance_lease: args.lease,
        max_payload_bytes: args.limits.max_payload,
        history_limits: HistoryLimits {
            max_events: args.limits.max_history_events,
            max_bytes: args.limits.max_history_bytes,
            max_episode_events: args.limits.max_episode_events,
        },
        ..ExecutorConfig::default()
    };
    let runtime = RuntimeConfig {
        compile_cache: compile_cache(db, args),
        pools: Some(config.instance_pools()),
        max_guest_output_bytes: args.limits.max_guest_output,
        max_component_bytes: args.limits.max_component_bytes,
        ..RuntimeConfig::default()
    };
    // A long-running host reads every page first: a damaged file is refused before it writes.
    let options = StoreOptions { verify: !args.skip_db_check, ..StoreOptions::default() };
    let host = host_with_runtime(db, &options, config, runtime)?;
    let (mut activities, mut entities) = (Vec::new(), Vec::new());
    if let Some(deployment) = deployment {
        for component in &deployment.components {
            let summary = host.load_component_file_with(&component.path, &component.settings_with(&flags)).await?;
            component.check_exports(&deployment.path, &summary.activities)?;
            report_loaded(&component.path, &summary);
            activities.extend(summary.activities);
            entities.extend(summary.entities);
        }
    }
    for path in &args.components {
        let summary = host.load_component_file(path).await?;
        report_loaded(path, &summary);
        activities.extend(summary.activities);
        entities.extend(summary.entities);
    }
    flow.check_exports(&activities)?;
    entity_flow.check_exports(&entities)?;
    if let Some(deployment) = deployment {
        apply_schedules(&host, deployment).await?;
    }
    Ok(host)
}

/// The flow limits of `run`/`serve`, of activities or of entities: the deployment file's
/// `[activity.NAME]` (or `[entity.NAME]`) tables, each replaced by a `--limit` (or
/// `--entity-limit`) for the same name; with where each came from, to name it in errors.
struct Flow {
    /// "activity" or "entity".
    kind: &'static str,
    limits: FlowLimits,
    /// Per limited name: the file and line of its table, or the flag.
    origins: Vec<(String, String)>,
}

impl Flow {
    fn activities(args: &HostArgs, deployment: Option<&Deployment>) -> anyhow::Result<Flow> {
        Flow::read("activity", deployment.map(|d| (d, &d.flow)), "--limit", &args.flow_limits)
    }

    fn entities(args: &HostArgs, deployment: Option<&Deployment>) -> anyhow::Result<Flow> {
        Flow::read("entity", deployment.map(|d| (d, &d.entity_flow)), "--entity-limit", &args.entity_limits)
    }

    fn read(
        kind: &'static str,
        tables: Option<(&Deployment, &deployment::FlowTables)>,
        flag: &str,
        settings: &[String],
    ) -> anyhow::Result<Flow> {
        let mut flow = Flow { kind, limits: FlowLimits::default(), origins: Vec::new() };
        if let Some((deployment, tables)) = tables {
            for (name, (line, limit)) in tables {
                flow.limits.set(name.clone(), limit.clone());
                flow.origins.push((name.clone(), format!("{}:{line}: [{kind}.{name}]", deployment.path.display())));
            }
        }
        for setting in settings {
            let (name, limit) = crate::flow_flags::parse(flag, setting).map_err(anyhow::Error::msg)?;
            if kind == "entity" && limit.key.is_some() {
                anyhow::bail!(
                    "{flag} {setting}: an entity already runs one batch at a time per key; its limits apply to \
                     the entity name as a whole, without a key"
                );
            }
            flow.limits.set(name.clone(), limit);
            flow.origins.retain(|(n, _)| *n != name);
            flow.origins.push((name, format!("{flag} {setting}")));
        }
        for (name, limit) in flow.limits.iter() {
            eprintln!("flow limit of {kind} {name}: {limit}");
        }
        Ok(flow)
    }

    /// An error if a limit names an activity (or entity) that no loaded component exports (a
    /// typo would otherwise limit nothing, silently).
    fn check_exports(&self, exported: &[String]) -> anyhow::Result<()> {
        match self.origins.iter().find(|(name, _)| !exported.contains(name)) {
            None => Ok(()),
            Some((name, origin)) => {
                let mut known: Vec<&str> = exported.iter().map(String::as_str).collect();
                known.sort_unstable();
                known.dedup();
                anyhow::bail!(
                    "{origin}: no loaded component exports an {} named '{name}' (they export: {})",
                    self.kind,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )
            }
        }
    }
}

/// Creates the deployment file's schedules, or gives those that exist their definition from the
/// file (keeping their progress and paused state), once the components are loaded.
async fn apply_schedules(host: &Host, deployment: &Deployment) -> anyhow::Result<()> {
    for schedule in &deployment.schedules {
        let created = host
            .apply_schedule(&schedule.name, schedule.spec.clone(), schedule.paused)
            .await
            .with_context(|| format!("{}:{}: schedule {}", deployment.path.display(), schedule.line, schedule.name))?;
        eprintln!("schedule {}: {}", schedule.name, if created { "created" } else { "definition updated" });
    }
    Ok(())
}

/// Says what a loaded component offers.
fn report_loaded(path: &Path, summary: &ComponentSummary) {
    let entities = if summary.entities.is_empty() {
        String::new()
    } else {
        format!(", entities [{}]", summary.entities.join(", "))
    };
    let compiled = match summary.compiled {
        CompileSource::Cache => ", from the compile cache",
        CompileSource::Compiled | CompileSource::CompiledAndCached => "",
    };
    eprintln!(
        "loaded {} ({}{compiled}): orchestrators [{}], activities [{}]{entities}",
        path.display(),
        &summary.hash[..12],
        summary.orchestrators.join(", "),
        summary.activities.join(", ")
    );
}

/// The compiled-component cache directory: the flag's, else `reprise-cache` next to the
/// database, unless it is turned off.
pub(crate) fn compile_cache(db: &DbArgs, args: &HostArgs) -> Option<PathBuf> {
    if args.no_compile_cache {
        return None;
    }
    let default = || {
        let dir = db.db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        dir.join("reprise-cache")
    };
    Some(args.compile_cache.clone().unwrap_or_else(default))
}

fn grants(args: &HostArgs) -> anyhow::Result<ActivityGrants> {
    let mut grants = ActivityGrants { network: args.activity_network, ..ActivityGrants::default() };
    for pair in &args.activity_env {
        let (name, value) =
            pair.split_once('=').with_context(|| format!("--activity-env expects NAME=VALUE, got '{pair}'"))?;
        grants.env.push((name.to_string(), value.to_string()));
    }
    for spec in &args.activity_dirs {
        let mut parts: Vec<&str> = spec.split(':').collect();
        let read_only = parts.last() == Some(&"ro");
        if read_only {
            parts.pop();
        }
        let (host_path, guest_path) = match parts.as_slice() {
            [host] => (*host, *host),
            [host, guest] => (*host, *guest),
            _ => anyhow::bail!("--activity-dir expects HOST_PATH[:GUEST_PATH][:ro], got '{spec}'"),
        };
        grants.dirs.push((PathBuf::from(host_path), guest_path.to_string(), read_only));
    }
    if !args.allow_http.is_empty() {
        let patterns: Result<Vec<HttpGrant>, _> = args.allow_http.iter().map(|p| p.parse::<HttpGrant>()).collect();
        let access = HttpAccess { grants: HttpGrants::new(patterns.context("--allow-http")?), ..HttpAccess::default() };
        grants.http = Arc::new(access);
    }
    Ok(grants)
}

/// Sets the upgrade policies `--upgrade-policy` gives (over the deployment file's).
fn upgrade_policies(args: &HostArgs, policies: &mut reprise_executor::UpgradePolicies) -> anyhow::Result<()> {
    for setting in &args.upgrade_policies {
        policies.set(setting).map_err(|error| anyhow::anyhow!("--upgrade-policy {setting}: {error}"))?;
    }
    Ok(())
}
