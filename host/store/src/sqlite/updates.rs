//! Updates: the record of each update sent to an instance, and its answer.
//!
//! A request writes the record and the instance's `UpdateRequested` message in one transaction;
//! an episode commit writes the answers its orchestrator gave (see `episodes`). This module owns
//! the `updates` table's SQL; it never decides what an update means to an orchestrator, which
//! is the replay engine's business.

use super::codec::{At, time_to_sql, to_json};
use super::{inbox, instances};
use crate::{NewUpdate, StoreError, StoreResult, UpdateRecord};
use reprise_core::{Message, Timestamp, UpdateAnswer};
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "instance_id, update_id, execution, name, input, reply, requested_at, replied_at";

/// Sends `update` to the current execution of `instance_id` unless it was sent already (see
/// `HistoryStore::request_update`). Runs inside the caller's transaction.
pub(super) fn request(
    tx: &Connection,
    instance_id: &str,
    update: &NewUpdate,
    now: Timestamp,
) -> StoreResult<(UpdateRecord, bool)> {
    if let Some(known) = get(tx, instance_id, &update.update_id)? {
        if known.name != update.name || known.input != update.input {
            return Err(StoreError::Conflict {
                instance_id: instance_id.to_string(),
                reason: format!(
                    "update '{}' was already sent as '{}' with another input; use a new update id for a new request",
                    update.update_id, known.name
                ),
            });
        }
        return Ok((known, false));
    }
    let execution = match instances::status_and_execution(tx, instance_id)? {
        None => return Err(StoreError::InstanceNotFound(instance_id.to_string())),
        Some((status, _)) if status.is_terminal() => {
            return Err(StoreError::Finished { instance_id: instance_id.to_string(), status });
        }
        Some((_, execution)) => execution,
    };
    tx.prepare_cached(
        "INSERT INTO updates (instance_id, update_id, execution, name, input, requested_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        instance_id,
        update.update_id,
        execution,
        update.name,
        update.input.as_str(),
        time_to_sql(now)
    ])?;
    let message = Message::UpdateRequested {
        update_id: update.update_id.clone(),
        name: update.name.clone(),
        input: update.input.clone(),
    };
    inbox::enqueue(tx, instance_id, execution, &message, now, now)?;
    let record = UpdateRecord {
        instance_id: instance_id.to_string(),
        update_id: update.update_id.clone(),
        execution,
        name: update.name.clone(),
        input: update.input.clone(),
        reply: None,
        requested_at: now,
        replied_at: None,
    };
    Ok((record, true))
}

/// Completes the records of the updates an episode answered; the first answer stays.
pub(super) fn answer(tx: &Connection, instance_id: &str, answers: &[UpdateAnswer], now: Timestamp) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE updates SET reply = ?3, replied_at = ?4 \
         WHERE instance_id = ?1 AND update_id = ?2 AND reply IS NULL",
    )?;
    for answer in answers {
        stmt.execute(params![instance_id, answer.update_id, to_json(&answer.reply)?, time_to_sql(now)])?;
    }
    Ok(())
}

/// One update's record.
pub(super) fn get(conn: &Connection, instance_id: &str, update_id: &str) -> StoreResult<Option<UpdateRecord>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM updates WHERE instance_id = ?1 AND update_id = ?2"))?;
    stmt.query_row(params![instance_id, update_id], read).optional()?.map(decode).transpose()
}

/// A row's columns, undecoded.
type Columns = (String, String, i64, String, String, Option<String>, i64, Option<i64>);

fn read(row: &Row<'_>) -> rusqlite::Result<Columns> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?))
}

fn decode(
    (instance_id, update_id, execution, name, input, reply, requested_at, replied_at): Columns,
) -> StoreResult<UpdateRecord> {
    let key = format!("update '{update_id}' of instance '{instance_id}'");
    let at = At { table: "updates", key: &key };
    Ok(UpdateRecord {
        execution: at.unsigned("execution", execution)?,
        name,
        input: reprise_core::Payload::stored(input),
        reply: at.json_opt("reply", reply.as_deref())?,
        requested_at: at.unsigned("requested_at", requested_at)?,
        replied_at: at.unsigned_opt("replied_at", replied_at)?,
        instance_id,
        update_id,
    })
}
