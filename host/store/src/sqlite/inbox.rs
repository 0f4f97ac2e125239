//! Inboxes: the messages waiting for instances, and which instances have work.
//!
//! A message belongs to one execution of its instance and is delivered only to that execution,
//! once its `visible_at` has come (a delayed message is how a durable timer or a retry wait is
//! stored). Messages are delivered in id order, which is enqueue order. This module owns the
//! inbox's SQL but never decides when a message is consumed or dropped: only an episode commit
//! does (see `episodes`).

use super::codec::{At, TERMINAL_STATUSES_SQL, limit_to_sql, time_to_sql, to_json};
use crate::{InboxMessage, StoreResult};
use reprise_core::{Message, Timestamp};
use rusqlite::{Connection, params};

/// Adds `message` to the inbox of `instance_id`'s execution `execution`, delivered from
/// `visible_at` on. Runs inside the caller's transaction.
pub(super) fn enqueue(
    conn: &Connection,
    instance_id: &str,
    execution: u32,
    message: &Message,
    visible_at: Timestamp,
    now: Timestamp,
) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO inbox (instance_id, execution, message, visible_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![instance_id, execution, to_json(message)?, time_to_sql(visible_at), time_to_sql(now)])?;
    Ok(conn.last_insert_rowid())
}

/// The messages of the instance's current execution visible at `now`, in id order. An unknown
/// instance has none.
pub(super) fn messages(conn: &Connection, instance_id: &str, now: Timestamp) -> StoreResult<Vec<InboxMessage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.execution, m.message FROM inbox m \
         JOIN instances i ON i.instance_id = m.instance_id AND i.execution = m.execution \
         WHERE m.instance_id = ?1 AND m.visible_at <= ?2 \
         ORDER BY m.id",
    )?;
    let rows = stmt.query_map(params![instance_id, time_to_sql(now)], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?))
    })?;
    rows.map(|row| {
        let (id, execution, message) = row?;
        let key = format!("message {id} of instance '{instance_id}'");
        let at = At { table: "inbox", key: &key };
        Ok(InboxMessage { id, execution: at.unsigned("execution", execution)?, message: at.json("message", &message)? })
    })
    .collect()
}

/// Ids of up to `limit` instances with work for `owner` at `now`: a message for their current
/// execution visible at `now`, a status that is not terminal, and no live lock held by another
/// owner. Ordered by their oldest such message, so the longest-waiting instance goes first.
pub(super) fn ready_instances(
    conn: &Connection,
    owner: &str,
    now: Timestamp,
    limit: usize,
) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT m.instance_id, MIN(m.id) AS oldest FROM inbox m \
         JOIN instances i ON i.instance_id = m.instance_id AND i.execution = m.execution \
         WHERE m.visible_at <= ?1 \
           AND i.status NOT IN ({TERMINAL_STATUSES_SQL}) \
           AND (i.lock_owner IS NULL OR i.lock_owner = ?2 OR i.lock_until <= ?1) \
         GROUP BY m.instance_id \
         ORDER BY oldest \
         LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![time_to_sql(now), owner, limit_to_sql(limit)], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes one consumed message of `instance_id`; false if it was not there.
pub(super) fn consume(conn: &Connection, instance_id: &str, id: i64) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM inbox WHERE id = ?1 AND instance_id = ?2")?
        .execute(params![id, instance_id])?;
    Ok(deleted == 1)
}

/// Deletes every message of `instance_id`, of any execution (it has finished).
pub(super) fn clear(conn: &Connection, instance_id: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM inbox WHERE instance_id = ?1")?.execute([instance_id])?;
    Ok(())
}
