//! The management commands: `start`, `status`, `history`, `list`, `components`. They work on the
//! database alone, so they run beside a `reprise serve` on the same file.

use crate::cli::DbArgs;
use crate::render;
use reprise_core::{InstanceId, RuntimeStatus};
use reprise_executor::{Clock as _, ExecutorConfig, StartRequest, SystemClock};
use reprise_store::{HistoryStore, InstanceFilter, InstanceRecord};
use std::process::ExitCode;
use std::time::Duration;

pub(crate) async fn start(
    orchestrator: String,
    input: String,
    id: Option<InstanceId>,
    wait: Option<Duration>,
    db: DbArgs,
) -> anyhow::Result<ExitCode> {
    let host = super::host(&db, ExecutorConfig::default())?;
    let instance_id = host.start(StartRequest { orchestrator, input, instance_id: id }).await?;
    let Some(wait) = wait else {
        crate::out!("{instance_id}");
        return Ok(ExitCode::SUCCESS);
    };
    match tokio::time::timeout(wait, host.wait(instance_id.as_str())).await {
        Ok(record) => super::run::outcome(&record?),
        Err(_) => {
            eprintln!(
                "instance {instance_id} has not finished after {}; it goes on: `reprise status {instance_id} --db {}`",
                humantime::format_duration(wait),
                db.db.display()
            );
            crate::out!("{instance_id}");
            Ok(ExitCode::from(STILL_RUNNING))
        }
    }
}

/// The exit status of `start --wait` when the instance has not finished in time.
const STILL_RUNNING: u8 = 3;

fn find(store: &dyn HistoryStore, id: &str) -> anyhow::Result<InstanceRecord> {
    if let Ok(entity) = reprise_core::EntityId::from_instance_id(id) {
        anyhow::bail!(
            "'{id}' is an entity, not an orchestration instance: see `reprise entity get {} {}`",
            entity.name,
            entity.key
        );
    }
    store.instance(id)?.ok_or_else(|| anyhow::anyhow!("no instance with id '{id}' (see `reprise list`)"))
}

pub(crate) fn status(id: &str, json: bool, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_to_read(db)?;
    let record = find(store.as_ref(), id)?;
    let tasks = store.pending_tasks(id, SystemClock.now())?;
    if json {
        // Serialized as it is, never through a `Value`: payloads keep their numbers as written.
        let shown = render::instance_json(&record).with_tasks(&tasks);
        crate::out!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        let text = render::instance(&record) + &render::pending_tasks(&tasks);
        crate::out!("{}", text.trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn history(id: &str, json: bool, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_to_read(db)?;
    let record = find(store.as_ref(), id)?;
    let events = store.history(id, record.execution)?;
    if json {
        let events: Vec<_> = events.iter().map(render::event_json).collect();
        crate::out!("{}", serde_json::to_string_pretty(&events)?);
    } else {
        crate::out!("{}", render::timeline(&record, &events).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn list(
    statuses: Vec<RuntimeStatus>,
    name: Option<String>,
    limit: usize,
    json: bool,
    db: &DbArgs,
) -> anyhow::Result<ExitCode> {
    let store = super::open_store_to_read(db)?;
    let filter = InstanceFilter { statuses, name, limit: Some(limit), ..InstanceFilter::default() };
    let records = store.list_instances(&filter)?;
    if json {
        let rows: Vec<_> = records.iter().map(render::instance_json).collect();
        crate::out!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        crate::out!("{}", render::instance_table(&records).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn components(json: bool, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_to_read(db)?;
    let components = store.components()?;
    // What a deploy needs to know: which components still have unfinished instances on them.
    let unfinished = InstanceFilter { statuses: super::deploy::UNFINISHED.to_vec(), ..InstanceFilter::default() };
    let mut pinned: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for record in store.list_instances(&unfinished)? {
        if let Some(hash) = record.component {
            *pinned.entry(hash).or_default() += 1;
        }
    }
    let pinned_to = |hash: &str| pinned.get(hash).copied().unwrap_or(0);
    if json {
        let rows: Vec<serde_json::Value> = components
            .iter()
            .map(|c| {
                serde_json::json!({
                    "hash": c.hash, "source": c.source, "orchestrators": c.orchestrators,
                    "activities": c.activities, "entities": c.entities, "loaded_at": render::time(c.loaded_at),
                    "unfinished_instances": pinned_to(&c.hash),
                })
            })
            .collect();
        crate::out!("{}", serde_json::to_string_pretty(&rows)?);
    } else if components.is_empty() {
        crate::out!("no components loaded into this database yet (`reprise serve --component ...` loads them)");
    } else {
        for c in &components {
            crate::out!("{}  {}  loaded {}", &c.hash[..12.min(c.hash.len())], c.source, render::time(c.loaded_at));
            crate::out!("    orchestrators: {}", c.orchestrators.join(", "));
            crate::out!("    activities:    {}", c.activities.join(", "));
            if !c.entities.is_empty() {
                crate::out!("    entities:      {}", c.entities.join(", "));
            }
            crate::out!("    unfinished instances pinned to it: {}", pinned_to(&c.hash));
        }
    }
    Ok(ExitCode::SUCCESS)
}
