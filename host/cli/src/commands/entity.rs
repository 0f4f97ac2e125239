//! The `entity` commands: signal an entity, read its state, list entities. A signal is written to
//! the database; the host running `reprise serve` on it runs the operation.

use crate::cli::DbArgs;
use crate::render;
use anyhow::Context as _;
use reprise_core::EntityId;
use reprise_executor::ExecutorConfig;
use reprise_store::{EntityFilter, HistoryStore};
use std::process::ExitCode;

fn address(name: &str, key: &str) -> anyhow::Result<EntityId> {
    EntityId::new(name, key).with_context(|| format!("'{name}' '{key}' is not a valid entity address"))
}

pub(crate) async fn signal(
    name: &str,
    key: &str,
    operation: &str,
    input: &str,
    db: &DbArgs,
) -> anyhow::Result<ExitCode> {
    let entity = address(name, key)?;
    let host = super::host(db, ExecutorConfig::default())?;
    host.signal_entity(&entity, operation, input).await?;
    eprintln!(
        "signalled {operation} on {entity}; a running `reprise serve` runs it after the operations queued before it"
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn get(name: &str, key: &str, json: bool, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let entity = address(name, key)?;
    let store = super::open_store_to_read(db)?;
    let Some(record) = store.entity(&entity)? else {
        eprintln!("no entity {entity}: it has received no operation yet, or was deleted");
        return Ok(ExitCode::from(1));
    };
    if json {
        crate::out!("{}", serde_json::to_string_pretty(&render::entity_json(&record))?);
    } else {
        match &record.state {
            Some(state) => crate::out!("{state}"),
            None => crate::out!("null"),
        }
        if record.queued > 0 {
            eprintln!("{} operation(s) queued for {entity} have not run yet", record.queued);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn list(
    name: Option<String>,
    key_prefix: Option<String>,
    all: bool,
    limit: usize,
    json: bool,
    db: &DbArgs,
) -> anyhow::Result<ExitCode> {
    let store = super::open_store_to_read(db)?;
    let filter = EntityFilter { name, key_prefix, include_stateless: all, limit: Some(limit) };
    let records = store.list_entities(&filter)?;
    if json {
        let rows: Vec<_> = records.iter().map(render::entity_json).collect();
        crate::out!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        crate::out!("{}", render::entity_table(&records).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
