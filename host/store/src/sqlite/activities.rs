//! The activity queue: tasks enqueued by episodes, leased to workers, completed into inboxes.
//!
//! A task is claimable once `visible_at` has come and nobody holds a live lease on it; each claim
//! increments `attempt`, so a task reclaimed after its worker crashed runs as the next attempt
//! (delivery is at least once). Completing a task deletes it and hands its result to the
//! instance's inbox in one transaction. This module never retries or interprets results: retry
//! policy belongs to the executor.

use super::codec::{At, TERMINAL_STATUSES_SQL, int_to_sql, limit_to_sql, time_to_sql};
use super::inbox;
use crate::{ActivityResult, ActivityTask, ActivityTaskKey, NewActivityTask, StoreResult};
use reprise_core::{Message, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

/// Enqueues a task of an episode, visible at once and never claimed yet. Runs inside the
/// episode's transaction.
pub(super) fn enqueue(
    conn: &Connection,
    instance_id: &str,
    execution: u32,
    task: &NewActivityTask,
    now: Timestamp,
) -> StoreResult<()> {
    let now = time_to_sql(now);
    conn.prepare_cached(
        "INSERT INTO activity_tasks \
             (instance_id, execution, task_id, name, input, attempt, visible_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)",
    )?
    .execute(params![instance_id, execution, int_to_sql(task.task_id)?, task.name, task.input, now])?;
    Ok(())
}

/// Deletes the instance's tasks that no worker holds a live lease on at `now` (the instance
/// finished). Runs inside the episode's transaction.
pub(super) fn drop_unleased(conn: &Connection, instance_id: &str, now: Timestamp) -> StoreResult<()> {
    conn.prepare_cached(
        "DELETE FROM activity_tasks \
         WHERE instance_id = ?1 AND (lease_owner IS NULL OR lease_until <= ?2)",
    )?
    .execute(params![instance_id, time_to_sql(now)])?;
    Ok(())
}

/// Leases up to `limit` claimable tasks to `owner`, oldest first.
///
/// In the same transaction it first deletes claimable tasks whose instance has finished or moved
/// to another execution: they can only be left over from a worker that held them when the
/// instance finished and then crashed, and running them again would be wasted side effects.
pub(super) fn claim(
    conn: &mut Connection,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> StoreResult<Vec<ActivityTask>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now_sql = time_to_sql(now);
    tx.prepare_cached(&format!(
        "DELETE FROM activity_tasks WHERE rowid IN ( \
             SELECT t.rowid FROM activity_tasks t \
             JOIN instances i ON i.instance_id = t.instance_id \
             WHERE t.visible_at <= ?1 AND (t.lease_owner IS NULL OR t.lease_until <= ?1) \
               AND (i.status IN ({TERMINAL_STATUSES_SQL}) OR i.execution <> t.execution))"
    ))?
    .execute([now_sql])?;

    // UPDATE ... RETURNING does not promise an order, hence created_at and rowid to sort by.
    let mut claimed = {
        let mut stmt = tx.prepare_cached(
            "UPDATE activity_tasks \
             SET lease_owner = ?1, lease_until = ?2, attempt = attempt + 1 \
             WHERE rowid IN ( \
                 SELECT rowid FROM activity_tasks \
                 WHERE visible_at <= ?3 AND (lease_owner IS NULL OR lease_until <= ?3) \
                 ORDER BY created_at, rowid LIMIT ?4) \
             RETURNING created_at, rowid, instance_id, execution, task_id, name, input, attempt",
        )?;
        let args = params![owner, time_to_sql(lease_until), now_sql, limit_to_sql(limit)];
        let rows = stmt.query_map(args, ClaimedRow::read)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    claimed.sort_by_key(|row| row.order);
    let tasks = claimed.into_iter().map(|row| row.decode(lease_until)).collect::<StoreResult<Vec<_>>>()?;
    tx.commit()?;
    Ok(tasks)
}

/// A claimed task as `RETURNING` gives it, before its values are checked.
struct ClaimedRow {
    /// `(created_at, rowid)`: the claim order.
    order: (i64, i64),
    instance_id: String,
    execution: i64,
    task_id: i64,
    name: String,
    input: String,
    attempt: i64,
}

impl ClaimedRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(ClaimedRow {
            order: (row.get(0)?, row.get(1)?),
            instance_id: row.get(2)?,
            execution: row.get(3)?,
            task_id: row.get(4)?,
            name: row.get(5)?,
            input: row.get(6)?,
            attempt: row.get(7)?,
        })
    }

    fn decode(self, lease_until: Timestamp) -> StoreResult<ActivityTask> {
        let key = format!("(instance '{}', execution {}, task {})", self.instance_id, self.execution, self.task_id);
        let at = At { table: "activity_tasks", key: &key };
        Ok(ActivityTask {
            key: ActivityTaskKey {
                execution: at.unsigned("execution", self.execution)?,
                task_id: at.unsigned("task_id", self.task_id)?,
                instance_id: self.instance_id,
            },
            name: self.name,
            input: self.input,
            attempt: at.unsigned("attempt", self.attempt)?,
            lease_until,
        })
    }
}

/// Extends `owner`'s lease on the task; false if it does not hold it (any more).
pub(super) fn renew(
    conn: &Connection,
    task: &ActivityTaskKey,
    owner: &str,
    lease_until: Timestamp,
) -> StoreResult<bool> {
    let updated = conn
        .prepare_cached(
            "UPDATE activity_tasks SET lease_until = ?5 \
             WHERE instance_id = ?1 AND execution = ?2 AND task_id = ?3 AND lease_owner = ?4",
        )?
        .execute(params![
            task.instance_id,
            task.execution,
            int_to_sql(task.task_id)?,
            owner,
            time_to_sql(lease_until)
        ])?;
    Ok(updated == 1)
}

/// Deletes the task if `owner` holds its lease and, in the same transaction, enqueues its result
/// for the instance, unless the instance has finished or moved to another execution. False,
/// writing nothing, if the lease was lost.
pub(super) fn complete(
    conn: &mut Connection,
    task: &ActivityTaskKey,
    owner: &str,
    result: &ActivityResult,
    now: Timestamp,
) -> StoreResult<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let deleted = tx
        .prepare_cached(
            "DELETE FROM activity_tasks \
             WHERE instance_id = ?1 AND execution = ?2 AND task_id = ?3 AND lease_owner = ?4",
        )?
        .execute(params![task.instance_id, task.execution, int_to_sql(task.task_id)?, owner])?;
    if deleted == 0 {
        return Ok(false);
    }

    let instance = tx
        .prepare_cached("SELECT status, execution FROM instances WHERE instance_id = ?1")?
        .query_row([&task.instance_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
        .optional()?;
    if let Some((status, execution)) = instance {
        let key = format!("instance '{}'", task.instance_id);
        let at = At { table: "instances", key: &key };
        let status = at.status("status", &status)?;
        let execution: u32 = at.unsigned("execution", execution)?;
        if !status.is_terminal() && execution == task.execution {
            let message = match result {
                ActivityResult::Completed(output) => {
                    Message::ActivityCompleted { task_id: task.task_id, output: output.clone() }
                }
                ActivityResult::Failed(failure) => {
                    Message::ActivityFailed { task_id: task.task_id, failure: failure.clone() }
                }
            };
            inbox::enqueue(&tx, &task.instance_id, task.execution, &message, now, now)?;
        }
    }
    tx.commit()?;
    Ok(true)
}
