//! Rewinds of failed instances and restarts of finished ones: the two operator actions that
//! bring an instance that ended back to life, each in one transaction.
//!
//! A rewind changes no history row: it makes the instance Running again and puts back in flight
//! what `reprise_core::plan::rewind` decided (tasks, timers, results, and the `Rewind` message
//! that the next episode records). A restart replaces the instance by its next execution with an
//! empty history. This module never decides what a rewind undoes: it writes what it is given,
//! after checking that the instance is still where the rewind found it.

use super::codec::{At, TERMINAL_STATUSES_SQL, time_to_sql, to_json};
use super::{activities, inbox, instances};
use crate::{InstanceRewind, NewInstance, RewindCommit, StoreError, StoreResult};
use reprise_core::{Message, RuntimeStatus, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

/// Writes `commit` (see [`crate::HistoryStore::rewind`]); an error rolls back all of it.
pub(super) fn rewind(tx: &Connection, commit: &RewindCommit) -> StoreResult<()> {
    for rewound in &commit.rewinds {
        rewind_one(tx, rewound, commit.now)?;
    }
    for new in &commit.restarts {
        restart(tx, new, commit.now)?;
    }
    for new in &commit.created {
        if !instances::insert(tx, new, commit.now)? {
            return Err(StoreError::Conflict {
                instance_id: new.instance_id.to_string(),
                reason: "it was created while the rewind of its parent was planned".into(),
            });
        }
    }
    Ok(())
}

/// Makes one failed instance run again, after checking it is as the rewind read it.
fn rewind_one(tx: &Connection, rewound: &InstanceRewind, now: Timestamp) -> StoreResult<()> {
    let id = rewound.instance_id.as_str();
    let conflict = |reason: String| StoreError::Conflict { instance_id: id.to_string(), reason };
    let row = tx
        .prepare_cached("SELECT status, execution, history_len FROM instances WHERE instance_id = ?1")?
        .query_row([id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)))
        .optional()?;
    let Some((status, execution, history_len)) = row else {
        return Err(StoreError::InstanceNotFound(id.to_string()));
    };
    let key = format!("instance '{id}'");
    let at = At { table: "instances", key: &key };
    let status = at.status("status", &status)?;
    let execution: u32 = at.unsigned("execution", execution)?;
    let history_len: u64 = at.unsigned("history_len", history_len)?;
    if status != RuntimeStatus::Failed {
        return Err(conflict(format!("it is {status} now; only a Failed instance can be rewound")));
    }
    if (execution, history_len) != (rewound.execution, rewound.expected_history_len) {
        return Err(conflict(format!(
            "its history moved on (execution {execution}, {history_len} events) since the rewind read it"
        )));
    }
    tx.prepare_cached(
        "UPDATE instances SET status = ?2, output = NULL, failure = NULL, completed_at = NULL, updated_at = ?3, \
             lock_owner = NULL, lock_until = NULL \
         WHERE instance_id = ?1",
    )?
    .execute(params![id, RuntimeStatus::Running.as_str(), time_to_sql(now)])?;
    for task in &rewound.activities {
        activities::enqueue_again(tx, (id, execution), task, now)?;
    }
    // After the status: a message for a finished instance would be dropped.
    for message in &rewound.messages {
        if !inbox::deliver(tx, message, now)? {
            return Err(conflict(format!("its message for '{}' could not be enqueued", message.instance_id)));
        }
    }
    Ok(())
}

/// Replaces the finished instance `new.instance_id` by its next execution, started afresh (see
/// [`crate::HistoryStore::restart`]).
pub(super) fn restart(tx: &Connection, new: &NewInstance, now: Timestamp) -> StoreResult<()> {
    let id = new.instance_id.as_str();
    let parent = new.parent.as_ref().map(to_json).transpose()?;
    let execution = tx
        .prepare_cached(&format!(
            "UPDATE instances SET execution = execution + 1, name = ?2, status = ?3, input = ?4, output = NULL, \
                 failure = NULL, custom_status = NULL, component = NULL, parent = ?5, history_len = 0, \
                 created_at = ?6, updated_at = ?6, completed_at = NULL, lock_owner = NULL, lock_until = NULL \
             WHERE instance_id = ?1 AND status IN ({TERMINAL_STATUSES_SQL}) \
             RETURNING execution"
        ))?
        .query_row(
            params![id, new.name, RuntimeStatus::Pending.as_str(), new.input.as_str(), parent, time_to_sql(now)],
            |row| row.get::<_, i64>(0),
        )
        .optional()?;
    let Some(execution) = execution else {
        return Err(match instances::status_and_execution(tx, id)? {
            None => StoreError::InstanceNotFound(id.to_string()),
            Some((status, _)) => StoreError::NotFinished { instance_id: id.to_string(), status },
        });
    };
    let key = format!("instance '{id}'");
    let execution: u32 = At { table: "instances", key: &key }.unsigned("execution", execution)?;
    tx.prepare_cached("DELETE FROM history WHERE instance_id = ?1")?.execute([id])?;
    // Update ids are unique within an instance's life: the new one starts with none used.
    tx.prepare_cached("DELETE FROM updates WHERE instance_id = ?1")?.execute([id])?;
    inbox::clear(tx, id)?;
    activities::drop_unleased(tx, id, now)?;
    let start = Message::Start { name: new.name.clone(), input: new.input.clone() };
    inbox::enqueue(tx, id, execution, &start, now, now)?;
    Ok(())
}
