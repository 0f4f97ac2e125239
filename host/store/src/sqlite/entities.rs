//! Entities: their state rows, the implicit creation of an entity by its first operation, and
//! the atomic commit of a batch of operations.
//!
//! An entity is an instance (id `@name@key`, status `Running`, execution 1) plus a row in
//! `entities` with its state. Being an instance gives it an inbox (operations are
//! [`Message::EntityOperation`] messages, run in id order, which is arrival order), the episode
//! lock (so one host runs its operations, one batch at a time) and the ready query. [`ensure`]
//! creates both rows when the first operation is enqueued, wherever it comes from: a client, an
//! orchestration's episode or another entity's batch. This module persists what a batch computed;
//! it never runs an operation nor decides its outcome.

use super::codec::{At, int_to_sql, limit_to_sql, time_to_sql, to_json};
use super::{inbox, instances};
use crate::{EntityCommit, EntityFilter, EntityRecord, StoreError, StoreResult};
use reprise_core::{EntityId, EntityOperation, Message, OutgoingMessage, Payload, RuntimeStatus, Timestamp};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

/// Creates the entity's instance and state rows if they do not exist, inside the caller's
/// transaction.
pub(super) fn ensure(conn: &Connection, entity: &EntityId, now: Timestamp) -> StoreResult<()> {
    let instance_id = entity.instance_id();
    conn.prepare_cached(
        "INSERT INTO instances (instance_id, name, execution, status, input, history_len, created_at, updated_at) \
         VALUES (?1, ?2, 1, ?3, 'null', 0, ?4, ?4) \
         ON CONFLICT (instance_id) DO NOTHING",
    )?
    .execute(params![instance_id, entity.name, RuntimeStatus::Running.as_str(), time_to_sql(now)])?;
    conn.prepare_cached(
        "INSERT INTO entities (instance_id, name, key, state, operations, created_at, updated_at) \
         VALUES (?1, ?2, ?3, NULL, 0, ?4, ?4) \
         ON CONFLICT (instance_id) DO NOTHING",
    )?
    .execute(params![instance_id, entity.name, entity.key, time_to_sql(now)])?;
    Ok(())
}

/// Enqueues an operation for the entity, creating the entity first if this is its first
/// operation. The writer makes the call atomic.
pub(super) fn signal(
    conn: &Connection,
    entity: &EntityId,
    operation: &EntityOperation,
    visible_at: Timestamp,
    now: Timestamp,
) -> StoreResult<()> {
    let outgoing = OutgoingMessage {
        instance_id: entity.instance_id(),
        message: Message::EntityOperation(operation.clone()),
        visible_at,
        execution: None,
    };
    if !inbox::deliver(conn, &outgoing, now)? {
        return Err(StoreError::Corrupt(format!("entity {entity} could not be created")));
    }
    Ok(())
}

/// The columns [`read`] expects, in order, from `entities e`.
const COLUMNS: &str = "e.name, e.key, e.state, e.operations, e.created_at, e.updated_at, \
    (SELECT COUNT(*) FROM inbox m WHERE m.instance_id = e.instance_id), e.locked_by";

type Row = (String, String, Option<String>, i64, i64, i64, i64, Option<String>);

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?))
}

fn decode(row: Row) -> StoreResult<EntityRecord> {
    let (name, key, state, operations, created_at, updated_at, queued, locked_by) = row;
    let entity = EntityId { name, key };
    let key = entity.to_string();
    let at = At { table: "entities", key: &key };
    entity.validate().map_err(|e| StoreError::Corrupt(format!("entity {key}: {e}")))?;
    Ok(EntityRecord {
        state: state.map(Payload::stored),
        locked_by: locked_by.map(|holder| at.json("locked_by", &holder)).transpose()?,
        operations: at.unsigned("operations", operations)?,
        queued: at.unsigned("queued", queued)?,
        created_at: at.unsigned("created_at", created_at)?,
        updated_at: at.unsigned("updated_at", updated_at)?,
        entity,
    })
}

/// One entity's row, if it has ever received an operation (and was not deleted since).
pub(super) fn get(conn: &Connection, entity: &EntityId) -> StoreResult<Option<EntityRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM entities e WHERE e.instance_id = ?1"))?;
    stmt.query_row([entity.instance_id()], read).optional()?.map(decode).transpose()
}

/// The entities matching `filter`, by name then key.
pub(super) fn list(conn: &Connection, filter: &EntityFilter) -> StoreResult<Vec<EntityRecord>> {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if let Some(name) = &filter.name {
        conditions.push("e.name = ?".into());
        values.push(Value::from(name.clone()));
    }
    if let Some(prefix) = &filter.key_prefix {
        // substr rather than LIKE: keys may hold LIKE's wildcards.
        conditions.push("substr(e.key, 1, length(?)) = ?".into());
        values.push(Value::from(prefix.clone()));
        values.push(Value::from(prefix.clone()));
    }
    if !filter.include_stateless {
        conditions.push("e.state IS NOT NULL".into());
    }
    let mut sql = format!("SELECT {COLUMNS} FROM entities e");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY e.name, e.key");
    if let Some(limit) = filter.limit {
        sql.push_str(" LIMIT ?");
        values.push(Value::from(limit_to_sql(limit)));
    }
    // Not cached: the text varies with the filter, and listing is not on a hot path.
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), read)?;
    rows.map(|row| decode(row?)).collect()
}

/// Writes a batch (atomically: the writer runs it in a savepoint of its own), or fails with a
/// conflict having written nothing: checks that
/// `commit.owner` holds the entity's lock, consumes the operations, enqueues the results and
/// signals, starts the orchestrations, stores the new state and releases the lock. An entity
/// left with no state, no queued operation and no lock holder is deleted (its rows go; a later operation
/// creates it again).
pub(super) fn commit(tx: &Connection, commit: &EntityCommit) -> StoreResult<()> {
    let instance_id = commit.entity.instance_id();
    let conflict = |reason: String| StoreError::Conflict { instance_id: instance_id.clone(), reason };
    let holder: Option<Option<String>> = tx
        .prepare_cached("SELECT lock_owner FROM instances WHERE instance_id = ?1")?
        .query_row([&instance_id], |row| row.get(0))
        .optional()?;
    match holder {
        None => return Err(conflict("the entity no longer exists".into())),
        Some(holder) if holder.as_deref() != Some(commit.owner.as_str()) => {
            let holder = holder.unwrap_or_else(|| "nobody".into());
            return Err(conflict(format!("it is locked by {holder}, not by '{}' which ran the batch", commit.owner)));
        }
        Some(_) => {}
    }
    for &id in &commit.consumed_messages {
        if !inbox::consume(tx, &instance_id, id)? {
            return Err(conflict(format!("consumed message {id} is no longer in its inbox")));
        }
    }
    for new in &commit.new_instances {
        if !instances::insert(tx, new, commit.now)? {
            tracing::info!(entity = %commit.entity, instance = %new.instance_id, "not started: the id is taken");
        }
    }
    for outgoing in &commit.outgoing {
        if !inbox::deliver(tx, outgoing, commit.now)? {
            tracing::debug!(
                from = %commit.entity,
                to = %outgoing.instance_id,
                "dropped a message for an instance that is missing or finished"
            );
        }
    }
    let locked_by = commit.locked_by.as_ref().map(to_json).transpose()?;
    tx.prepare_cached(
        "UPDATE entities SET state = ?2, operations = operations + ?3, updated_at = ?4, locked_by = ?5 \
         WHERE instance_id = ?1",
    )?
    .execute(params![
        instance_id,
        commit.state.as_ref().map(Payload::as_str),
        int_to_sql(commit.operations)?,
        time_to_sql(commit.now),
        locked_by
    ])?;
    // A locked entity is stored as suspended, so that only its control messages (its holder's
    // operations and the release) make it ready.
    let status = if commit.locked_by.is_some() { RuntimeStatus::Suspended } else { RuntimeStatus::Running };
    tx.prepare_cached(
        "UPDATE instances SET status = ?3, updated_at = ?2, lock_owner = NULL, lock_until = NULL \
         WHERE instance_id = ?1",
    )?
    .execute(params![instance_id, time_to_sql(commit.now), status.as_str()])?;
    if commit.state.is_none() && commit.locked_by.is_none() {
        // Deleted, and nothing is queued for it (a signal to itself included): its rows go, with
        // the cascade from the instance row.
        tx.prepare_cached(
            "DELETE FROM instances WHERE instance_id = ?1 \
             AND NOT EXISTS (SELECT 1 FROM inbox WHERE instance_id = ?1)",
        )?
        .execute([&instance_id])?;
    }
    Ok(())
}
