//! Component upgrades: rebinding an unfinished instance to another component, in one
//! transaction that records the rebinding in its history.
//!
//! This module never decides whether an instance may be upgraded (a replay on the new component
//! decides, in the executor): it writes the upgrade it is given, after checking that the instance
//! is still where that replay found it, so that an upgrade can never rebind a history that the
//! new component has not replayed.

use super::codec::{At, int_to_sql, time_to_sql, to_json};
use crate::{ComponentUpgrade, StoreError, StoreResult};
use reprise_core::Event;
use rusqlite::{Connection, OptionalExtension, params};

/// Writes `upgrade` (see [`crate::HistoryStore::upgrade`]); an error rolls back all of it.
pub(super) fn upgrade(tx: &Connection, upgrade: &ComponentUpgrade) -> StoreResult<()> {
    let id = upgrade.instance_id.as_str();
    let conflict = |reason: String| StoreError::Conflict { instance_id: id.to_string(), reason };
    let row = tx
        .prepare_cached(
            "SELECT status, execution, history_len, component, lock_owner, lock_until FROM instances \
             WHERE instance_id = ?1",
        )?
        .query_row([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<i64>>(5)?,
            ))
        })
        .optional()?;
    let Some((status, execution, history_len, component, lock_owner, lock_until)) = row else {
        return Err(StoreError::InstanceNotFound(id.to_string()));
    };
    let key = format!("instance '{id}'");
    let at = At { table: "instances", key: &key };
    let status = at.status("status", &status)?;
    let execution: u32 = at.unsigned("execution", execution)?;
    let history_len: u64 = at.unsigned("history_len", history_len)?;
    if status.is_terminal() {
        return Err(StoreError::Finished { instance_id: id.to_string(), status });
    }
    if (execution, history_len) != (upgrade.execution, upgrade.expected_history_len) {
        return Err(conflict(format!(
            "its history moved on (execution {execution}, {history_len} events) since it was replayed \
             (execution {}, {} events)",
            upgrade.execution, upgrade.expected_history_len
        )));
    }
    if component.as_deref() != Some(upgrade.from.as_str()) {
        let pinned = component.as_deref().unwrap_or("no component yet");
        return Err(conflict(format!("it is pinned to {pinned}, not to {}", upgrade.from)));
    }
    let live_lease = lock_until.is_some_and(|until| until > time_to_sql(upgrade.now));
    if let Some(holder) = lock_owner
        && live_lease
        && upgrade.owner.as_deref() != Some(holder.as_str())
    {
        return Err(conflict(format!("'{holder}' is running an episode of it; try again in a moment")));
    }
    let known: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM components WHERE hash = ?1)")?
        .query_row([&upgrade.to], |row| row.get(0))?;
    if !known {
        return Err(conflict(format!("component {} is not in the store; save it first", upgrade.to)));
    }

    let mut insert = tx
        .prepare_cached("INSERT INTO history (instance_id, execution, seq, kind, event) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    let events = [
        Event::EpisodeStarted { time: upgrade.now },
        Event::ComponentUpgraded { from: upgrade.from.clone(), to: upgrade.to.clone() },
    ];
    for (seq, event) in (history_len..).zip(&events) {
        insert.execute(params![id, execution, int_to_sql(seq)?, event.kind(), to_json(event)?])?;
    }
    tx.prepare_cached("UPDATE instances SET component = ?2, history_len = ?3, updated_at = ?4 WHERE instance_id = ?1")?
        .execute(params![id, upgrade.to, int_to_sql(history_len + events.len() as u64)?, time_to_sql(upgrade.now)])?;
    Ok(())
}
