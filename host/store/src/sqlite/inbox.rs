//! Inboxes: the messages waiting for instances, and which instances have work.
//!
//! A message belongs to one execution of its instance and is delivered only to that execution,
//! once its `visible_at` has come (a delayed message is how a durable timer is stored). Messages
//! are delivered in id order, which is enqueue order. Each row carries a `control` flag
//! ([`Message::is_control`]) so that the ready query can tell which messages wake a suspended
//! instance without decoding them. This module owns the inbox's SQL but never decides when a
//! message is consumed or dropped: only an episode commit does (see `episodes`).

use super::codec::{At, SUSPENDED_SQL, TERMINAL_STATUSES_SQL, limit_to_sql, time_to_sql, to_json};
use super::{entities, instances};
use crate::{InboxMessage, StoreError, StoreResult};
use reprise_core::{EntityId, Message, OutgoingMessage, Timestamp};
use rusqlite::{Connection, params};

/// Adds `message` to the inbox of `instance_id`'s execution `execution`, delivered from
/// `visible_at` on, with its `control` flag. Runs inside the caller's transaction; every insert
/// into the inbox goes through here.
pub(super) fn enqueue(
    conn: &Connection,
    instance_id: &str,
    execution: u32,
    message: &Message,
    visible_at: Timestamp,
    now: Timestamp,
) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO inbox (instance_id, execution, message, control, visible_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        instance_id,
        execution,
        to_json(message)?,
        message.is_control(),
        time_to_sql(visible_at),
        time_to_sql(now)
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Enqueues a management command or an event for the instance's current execution in its own
/// transaction: [`StoreError::InstanceNotFound`] if it does not exist, [`StoreError::Finished`]
/// if it has finished.
pub(super) fn send(
    tx: &Connection,
    instance_id: &str,
    message: &Message,
    visible_at: Timestamp,
    now: Timestamp,
) -> StoreResult<()> {
    match instances::status_and_execution(tx, instance_id)? {
        None => return Err(StoreError::InstanceNotFound(instance_id.to_string())),
        Some((status, _)) if status.is_terminal() => {
            return Err(StoreError::Finished { instance_id: instance_id.to_string(), status });
        }
        Some((_, execution)) => enqueue(tx, instance_id, execution, message, visible_at, now)?,
    };
    Ok(())
}

/// Enqueues a message an episode sent, inside the episode's transaction, for its target's
/// current execution (or only for `outgoing.execution`, if set); drops it (returning false) if
/// the target does not exist, has finished or moved to another execution. An operation or a lock
/// request for an entity creates the entity first: entities exist from their first operation on.
pub(super) fn deliver(conn: &Connection, outgoing: &OutgoingMessage, now: Timestamp) -> StoreResult<bool> {
    // A release needs no entity: one that does not exist holds no lock.
    if let Message::EntityOperation(_) | Message::EntityLock(_) = &outgoing.message {
        match EntityId::from_instance_id(&outgoing.instance_id) {
            Ok(entity) => entities::ensure(conn, &entity, now)?,
            Err(error) => {
                tracing::debug!(to = %outgoing.instance_id, "dropped an entity operation: {error}");
                return Ok(false);
            }
        }
    }
    match instances::status_and_execution(conn, &outgoing.instance_id)? {
        Some((status, execution))
            if !status.is_terminal() && outgoing.execution.is_none_or(|wanted| wanted == execution) =>
        {
            enqueue(conn, &outgoing.instance_id, execution, &outgoing.message, outgoing.visible_at, now)?;
            Ok(true)
        }
        _ => Ok(false),
    }
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

/// The condition for message `m` to make instance `i` ready: `i` has not finished, and `m` is
/// for its current execution and, if `i` is suspended, a control message. Shared by
/// [`ready_instances`] and [`next_due`] so that they agree.
fn wakes_instance_sql() -> String {
    format!(
        "i.execution = m.execution AND i.status NOT IN ({TERMINAL_STATUSES_SQL}) \
         AND (i.status <> {SUSPENDED_SQL} OR m.control = 1)"
    )
}

/// Ids of up to `limit` instances with work for `owner` at `now`: a message for their current
/// execution visible at `now`, a status that is not terminal, and no live lock held by another
/// owner. A suspended instance counts only its control messages. Ordered by their oldest such
/// message, so the longest-waiting instance goes first.
pub(super) fn ready_instances(
    conn: &Connection,
    owner: &str,
    now: Timestamp,
    limit: usize,
) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(&ready_instances_sql())?;
    let rows = stmt.query_map(params![time_to_sql(now), owner, limit_to_sql(limit)], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The query of [`ready_instances`]: `?1` is now, `?2` the owner, `?3` the limit.
///
/// Without INDEXED BY, SQLite prefers scanning the whole inbox in instance order (to group
/// without sorting), which reads every delayed and buffered message at each poll; with it, only
/// the messages already due are read, from the index alone.
pub(super) fn ready_instances_sql() -> String {
    format!(
        "SELECT m.instance_id, MIN(m.id) AS oldest FROM inbox m INDEXED BY inbox_ready \
         JOIN instances i ON i.instance_id = m.instance_id \
         WHERE m.visible_at <= ?1 \
           AND {} \
           AND (i.lock_owner IS NULL OR i.lock_owner = ?2 OR i.lock_until <= ?1) \
         GROUP BY m.instance_id \
         ORDER BY oldest \
         LIMIT ?3",
        wakes_instance_sql()
    )
}

/// The earliest `visible_at` after `now` of a message that will make its instance ready (by the
/// rule of [`ready_instances`], locks aside), if any.
pub(super) fn next_due(conn: &Connection, now: Timestamp) -> StoreResult<Option<i64>> {
    super::first_time_after(conn, &next_due_sql(), now)
}

/// The query of [`next_due`]: `?1` is now. It reads the index from `now` on and stops at the
/// first message that counts.
pub(super) fn next_due_sql() -> String {
    format!(
        "SELECT m.visible_at FROM inbox m INDEXED BY inbox_ready \
         JOIN instances i ON i.instance_id = m.instance_id \
         WHERE m.visible_at > ?1 AND {} \
         ORDER BY m.visible_at \
         LIMIT 1",
        wakes_instance_sql()
    )
}

/// Deletes one consumed message of `instance_id`; false if it was not there.
pub(super) fn consume(conn: &Connection, instance_id: &str, id: i64) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM inbox WHERE id = ?1 AND instance_id = ?2")?
        .execute(params![id, instance_id])?;
    Ok(deleted == 1)
}

/// A message to re-enqueue elsewhere, with its own times.
pub(super) struct Pending {
    /// The message.
    pub message: Message,
    /// When it becomes (or became) visible.
    pub visible_at: Timestamp,
    /// When it was first enqueued.
    pub created_at: Timestamp,
}

/// Deletes every message of `execution` of `instance_id` (it continued as new) and returns, in
/// id order, those that must outlive it: its control messages ([`Message::is_control`]: an
/// operator's command is for the instance, not for one execution) and, if `keep_events`, its
/// [`Message::EventRaised`]. The caller enqueues them for the next execution.
pub(super) fn take_execution(
    conn: &Connection,
    instance_id: &str,
    execution: u32,
    keep_events: bool,
) -> StoreResult<Vec<Pending>> {
    let kept = {
        let mut stmt = conn.prepare_cached(
            "SELECT id, message, visible_at, created_at FROM inbox \
             WHERE instance_id = ?1 AND execution = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![instance_id, execution], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?, row.get::<_, i64>(3)?))
        })?;
        let mut kept = Vec::new();
        for row in rows {
            let (id, message, visible_at, created_at) = row?;
            let key = format!("message {id} of instance '{instance_id}'");
            let at = At { table: "inbox", key: &key };
            let message: Message = at.json("message", &message)?;
            if message.is_control() || (keep_events && matches!(message, Message::EventRaised { .. })) {
                kept.push(Pending {
                    message,
                    visible_at: at.unsigned("visible_at", visible_at)?,
                    created_at: at.unsigned("created_at", created_at)?,
                });
            }
        }
        kept
    };
    conn.prepare_cached("DELETE FROM inbox WHERE instance_id = ?1 AND execution = ?2")?
        .execute(params![instance_id, execution])?;
    Ok(kept)
}

/// Deletes every message of `instance_id`, of any execution (it has finished).
pub(super) fn clear(conn: &Connection, instance_id: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM inbox WHERE instance_id = ?1")?.execute([instance_id])?;
    Ok(())
}
