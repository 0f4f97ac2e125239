//! The activity queue: tasks enqueued by episodes, leased to workers, completed into inboxes.
//!
//! A task is claimable once `visible_at` has come, nobody holds a live lease on it and its
//! instance is not suspended; each claim increments `attempt`, so a task reclaimed after its
//! worker crashed runs as the next attempt (delivery is at least once). Completing a task deletes
//! it and hands its result to the instance's inbox in one transaction; a retry instead keeps it,
//! hidden until its next attempt is due. This module never decides whether to retry: the retry
//! policy, stored with the task as its options, is applied by the executor.

use super::codec::{At, SUSPENDED_SQL, TERMINAL_STATUSES_SQL, int_to_sql, limit_to_sql, time_to_sql, to_json};
use super::flow::{Candidate, Gate};
use super::{inbox, instances};
use crate::{
    ActivityResult, ActivityTask, ActivityTaskKey, Claim, FlowLimits, NewActivityTask, PendingTask, StoreResult,
    TaskState,
};
use reprise_core::{ActivityOptions, HttpExchange, Message, Payload, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// Enqueues a task of an episode, visible at once, with its options (NULL when they are the
/// default): never claimed yet, or claimed by `owner` as its first attempt if the episode runs it
/// itself ([`NewActivityTask::claimed_until`]). Runs inside the episode's transaction.
pub(super) fn enqueue(
    conn: &Connection,
    (instance_id, execution): (&str, u32),
    owner: &str,
    task: &NewActivityTask,
    now: Timestamp,
) -> StoreResult<()> {
    let now = time_to_sql(now);
    let options = if task.options.is_default() { None } else { Some(to_json(&task.options)?) };
    let (lease_owner, lease_until, attempt) = match task.claimed_until {
        Some(until) => (Some(owner), Some(time_to_sql(until)), 1),
        None => (None, None, 0),
    };
    conn.prepare_cached(
        "INSERT INTO activity_tasks (instance_id, execution, task_id, name, input, options, attempt, \
             visible_at, created_at, lease_owner, lease_until, flow_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        instance_id,
        execution,
        int_to_sql(task.task_id)?,
        task.name,
        task.input.as_str(),
        options,
        attempt,
        now,
        lease_owner,
        lease_until,
        task.flow_key
    ])?;
    Ok(())
}

/// Enqueues a task again for a rewound instance, visible at once, unclaimed and created at `now`
/// (so that its retry policy counts from now), unless a task of the same handle is still there
/// (held by a worker since before the instance failed: its result will do). Runs inside the
/// rewind's transaction.
pub(super) fn enqueue_again(
    conn: &Connection,
    (instance_id, execution): (&str, u32),
    task: &NewActivityTask,
    now: Timestamp,
) -> StoreResult<()> {
    let options = if task.options.is_default() { None } else { Some(to_json(&task.options)?) };
    conn.prepare_cached(
        "INSERT INTO activity_tasks (instance_id, execution, task_id, name, input, options, attempt, \
             visible_at, created_at, flow_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7, ?8) \
         ON CONFLICT (instance_id, execution, task_id) DO NOTHING",
    )?
    .execute(params![
        instance_id,
        execution,
        int_to_sql(task.task_id)?,
        task.name,
        task.input.as_str(),
        options,
        time_to_sql(now),
        task.flow_key
    ])?;
    Ok(())
}

/// Deletes the instance's tasks that no worker holds a live lease on at `now` (the instance
/// finished, or continued as new before its new execution scheduled anything). Runs inside the
/// episode's transaction.
pub(super) fn drop_unleased(conn: &Connection, instance_id: &str, now: Timestamp) -> StoreResult<()> {
    conn.prepare_cached(
        "DELETE FROM activity_tasks \
         WHERE instance_id = ?1 AND (lease_owner IS NULL OR lease_until <= ?2)",
    )?
    .execute(params![instance_id, time_to_sql(now)])?;
    Ok(())
}

/// Leases up to `limit` claimable tasks to `owner`, oldest first (by first enqueue, so a task
/// waiting for a retry goes ahead of newer work once it is due), within the flow limits. Tasks
/// of a suspended instance are skipped, and so are tasks of a finished instance or of an
/// execution it left.
///
/// In the same transaction it first deletes tasks whose lease has run out and whose instance has
/// finished or moved to another execution: they can only be left over from a worker that held
/// them when the instance finished and then crashed (a finishing instance deletes the tasks that
/// nobody holds), and running them again would be wasted side effects. Only expired leases are
/// read for this, through their own index, so the clean-up does not grow with the queue.
///
/// Without limits, one `UPDATE` takes the first `limit` claimable tasks. With limits, the queue
/// is read in the same order and each task goes through the flow gate (`flow`), which may hold
/// it back; the read goes on past held-back tasks until `limit` are taken or the claimable queue
/// ends, so a backlog held back by a limit costs each claim a read of its rows (through the age
/// index, unsorted), and never holds up the tasks of other activities and keys.
pub(super) fn claim(
    tx: &Connection,
    owner: &str,
    (now, lease_until): (Timestamp, Timestamp),
    limit: usize,
    limits: &FlowLimits,
) -> StoreResult<Claim> {
    let now_sql = time_to_sql(now);
    tx.prepare_cached(&stale_tasks_sql())?.execute([now_sql])?;
    if limits.is_empty() {
        // UPDATE ... RETURNING does not promise an order, hence created_at and rowid to sort by.
        let mut stmt = tx.prepare_cached(&claim_sql())?;
        let args = params![owner, time_to_sql(lease_until), now_sql, limit_to_sql(limit)];
        let rows = stmt.query_map(args, ClaimedRow::read)?;
        let claimed = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        return Ok(Claim { tasks: decode(claimed, lease_until)?, ..Claim::default() });
    }

    let mut gate = Gate::new(limits, now);
    let mut admitted = Vec::new();
    {
        let mut candidates = tx.prepare_cached(&candidates_sql())?;
        let mut rows = candidates.query([now_sql])?;
        while admitted.len() < limit {
            let Some(row) = rows.next()? else { break };
            let task = Candidate {
                rowid: row.get(0)?,
                name: row.get(1)?,
                flow_key: row.get(2)?,
                throttled: row.get::<_, Option<i64>>(3)?.is_some(),
            };
            if gate.admit(tx, &task)? {
                admitted.push(task.rowid);
            }
        }
    }
    let mut claimed = Vec::with_capacity(admitted.len());
    let mut take = tx.prepare_cached(&format!(
        "UPDATE activity_tasks SET {LEASE_SQL} WHERE rowid = ?3 RETURNING {CLAIMED_COLUMNS_SQL}"
    ))?;
    for rowid in admitted {
        claimed.push(take.query_row(params![owner, time_to_sql(lease_until), rowid], ClaimedRow::read)?);
    }
    let (deferred, next_token_at) = (gate.deferred.clone(), gate.next_token_at);
    gate.write(tx)?;
    Ok(Claim { tasks: decode(claimed, lease_until)?, deferred, next_token_at })
}

/// The claimed rows as tasks, in claim order.
fn decode(mut claimed: Vec<ClaimedRow>, lease_until: Timestamp) -> StoreResult<Vec<ActivityTask>> {
    claimed.sort_by_key(|row| row.order);
    claimed.into_iter().map(|row| row.decode(lease_until)).collect()
}

/// The clean-up `DELETE` of [`claim`]: `?1` is now. It reads expired leases only, through
/// their index.
pub(super) fn stale_tasks_sql() -> String {
    format!(
        "DELETE FROM activity_tasks WHERE rowid IN ( \
             SELECT t.rowid FROM activity_tasks t INDEXED BY activity_tasks_by_lease \
             JOIN instances i ON i.instance_id = t.instance_id \
             WHERE t.lease_owner IS NOT NULL AND t.lease_until <= ?1 AND t.visible_at <= ?1 \
               AND (i.status IN ({TERMINAL_STATUSES_SQL}) OR i.execution <> t.execution))"
    )
}

/// What a claim sets on a task it takes: `?1` is the owner, `?2` the lease's end. It is no
/// longer throttled.
const LEASE_SQL: &str = "lease_owner = ?1, lease_until = ?2, attempt = attempt + 1, throttled_since = NULL";

/// What a claim returns of a task it takes, as [`ClaimedRow::read`] reads it.
const CLAIMED_COLUMNS_SQL: &str = "created_at, rowid, instance_id, execution, task_id, name, input, options, attempt";

/// The claimable tasks' `columns` in claim order, from `activity_tasks t` joined to
/// `instances i`, with `now` as the parameter that holds the claim's time.
fn claimable_sql(columns: &str, now: &str) -> String {
    format!(
        "SELECT {columns} FROM activity_tasks t INDEXED BY activity_tasks_by_age \
         JOIN instances i ON i.instance_id = t.instance_id \
         WHERE t.visible_at <= {now} AND (t.lease_owner IS NULL OR t.lease_until <= {now}) \
           AND i.status NOT IN ({SUSPENDED_SQL}, {TERMINAL_STATUSES_SQL}) AND i.execution = t.execution \
         ORDER BY t.created_at, t.rowid"
    )
}

/// The claiming `UPDATE` without limits: `?1` is the owner, `?2` the lease's end, `?3` now,
/// `?4` the limit.
///
/// The queue is read in age order and the read stops after `limit` claimable tasks. INDEXED BY,
/// because otherwise SQLite reads every visible task through `activity_tasks_by_visible` and
/// sorts them all.
pub(super) fn claim_sql() -> String {
    format!(
        "UPDATE activity_tasks SET {LEASE_SQL} WHERE rowid IN ({} LIMIT ?4) RETURNING {CLAIMED_COLUMNS_SQL}",
        claimable_sql("t.rowid", "?3")
    )
}

/// The claimable tasks with what the flow gate needs, in claim order: `?1` is now. Read row by
/// row, through the same index as [`claim_sql`].
pub(super) fn candidates_sql() -> String {
    claimable_sql("t.rowid, t.name, t.flow_key, t.throttled_since", "?1")
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
    options: Option<String>,
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
            options: row.get(7)?,
            attempt: row.get(8)?,
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
            input: Payload::stored(self.input),
            options: at.json_opt::<ActivityOptions>("options", self.options.as_deref())?.unwrap_or_default(),
            attempt: at.unsigned("attempt", self.attempt)?,
            created_at: at.unsigned("created_at", self.order.0)?,
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

/// Records an attempt's result if `owner` holds the task's lease, in one transaction; false,
/// writing nothing, if the lease was lost.
///
/// A final result deletes the task and enqueues it for the instance. A retry keeps the task with
/// its attempt count, releases the lease and hides it until `next_attempt_at`, and enqueues an
/// `ActivityRetrying` record. If the instance has finished or moved to another execution, the task
/// is deleted and nothing is enqueued, whatever the result.
pub(super) fn complete(
    tx: &Connection,
    task: &ActivityTaskKey,
    owner: &str,
    (result, requests): (&ActivityResult, &[HttpExchange]),
    now: Timestamp,
) -> StoreResult<bool> {
    let key = (task.instance_id.as_str(), task.execution, int_to_sql(task.task_id)?);
    let attempt = tx
        .prepare_cached(
            "SELECT attempt FROM activity_tasks \
             WHERE instance_id = ?1 AND execution = ?2 AND task_id = ?3 AND lease_owner = ?4",
        )?
        .query_row(params![key.0, key.1, key.2, owner], |row| row.get::<_, i64>(0))
        .optional()?;
    let Some(attempt) = attempt else {
        return Ok(false);
    };
    let task_key = format!("(instance '{}', execution {}, task {})", task.instance_id, task.execution, task.task_id);
    let attempt: u32 = At { table: "activity_tasks", key: &task_key }.unsigned("attempt", attempt)?;

    let delete = |tx: &Connection| -> StoreResult<()> {
        tx.prepare_cached("DELETE FROM activity_tasks WHERE instance_id = ?1 AND execution = ?2 AND task_id = ?3")?
            .execute(params![key.0, key.1, key.2])?;
        Ok(())
    };
    if !instance_is_live(tx, task)? {
        delete(tx)?;
        return Ok(true);
    }

    if !requests.is_empty() {
        let log = Message::HttpRequestsMade { task_id: task.task_id, attempt, requests: requests.to_vec() };
        inbox::enqueue(tx, &task.instance_id, task.execution, &log, now, now)?;
    }
    let message = match result {
        ActivityResult::Completed(output) => {
            delete(tx)?;
            Message::ActivityCompleted { task_id: task.task_id, output: output.clone() }
        }
        ActivityResult::Failed(failure) => {
            delete(tx)?;
            Message::ActivityFailed { task_id: task.task_id, failure: failure.clone() }
        }
        ActivityResult::Retry { failure, next_attempt_at } => {
            tx.prepare_cached(
                "UPDATE activity_tasks SET visible_at = ?4, lease_owner = NULL, lease_until = NULL \
                 WHERE instance_id = ?1 AND execution = ?2 AND task_id = ?3",
            )?
            .execute(params![key.0, key.1, key.2, time_to_sql(*next_attempt_at)])?;
            Message::ActivityRetrying {
                task_id: task.task_id,
                attempt,
                failure: failure.clone(),
                next_attempt_at: *next_attempt_at,
            }
        }
    };
    inbox::enqueue(tx, &task.instance_id, task.execution, &message, now, now)?;
    Ok(true)
}

/// True if the task's instance still exists, has not finished and is on the task's execution: a
/// result for it is still wanted.
fn instance_is_live(conn: &Connection, task: &ActivityTaskKey) -> StoreResult<bool> {
    Ok(matches!(
        instances::status_and_execution(conn, &task.instance_id)?,
        Some((status, execution)) if !status.is_terminal() && execution == task.execution
    ))
}

/// The earliest `visible_at` after `now` of a task waiting for its next attempt, among tasks
/// that a claim would then take (instance on the task's execution, neither finished nor
/// suspended), if any.
pub(super) fn next_due(conn: &Connection, now: Timestamp) -> StoreResult<Option<i64>> {
    super::first_time_after(conn, &next_due_sql(), now)
}

/// The query of [`next_due`]: `?1` is now. It reads the index from `now` on and stops at the
/// first task that counts.
pub(super) fn next_due_sql() -> String {
    format!(
        "SELECT t.visible_at FROM activity_tasks t INDEXED BY activity_tasks_by_visible \
         JOIN instances i ON i.instance_id = t.instance_id AND i.execution = t.execution \
         WHERE t.visible_at > ?1 AND i.status NOT IN ({TERMINAL_STATUSES_SQL}, {SUSPENDED_SQL}) \
         ORDER BY t.visible_at \
         LIMIT 1"
    )
}

/// The tasks of the instance's current execution, by task id, and where each stands at `now`:
/// under a live lease it runs; hidden until later it waits for a retry; marked by a claim it is
/// throttled; else it is queued.
pub(super) fn pending(conn: &Connection, instance_id: &str, now: Timestamp) -> StoreResult<Vec<PendingTask>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.task_id, t.name, t.attempt, t.flow_key, t.visible_at, t.lease_until, t.throttled_since, \
                t.lease_owner IS NOT NULL AND t.lease_until > ?2 \
         FROM activity_tasks t JOIN instances i ON i.instance_id = t.instance_id AND i.execution = t.execution \
         WHERE t.instance_id = ?1 ORDER BY t.task_id",
    )?;
    let rows = stmt.query_map(params![instance_id, time_to_sql(now)], |row| {
        Ok((
            (row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?, row.get::<_, Option<String>>(3)?),
            (
                row.get::<_, i64>(4)?,
                row.get::<_, Option<i64>>(5)?,
                row.get::<_, Option<i64>>(6)?,
                row.get::<_, bool>(7)?,
            ),
        ))
    })?;
    let mut tasks = Vec::new();
    for row in rows {
        let ((task_id, name, attempts, flow_key), (visible_at, lease_until, throttled_since, running)) = row?;
        let key = format!("(instance '{instance_id}', task {task_id})");
        let at = At { table: "activity_tasks", key: &key };
        let visible_at: Timestamp = at.unsigned("visible_at", visible_at)?;
        let state = match (running, at.unsigned_opt("lease_until", lease_until)?) {
            (true, Some(lease_until)) => TaskState::Running { lease_until },
            _ if visible_at > now => TaskState::Retrying { at: visible_at },
            _ => match at.unsigned_opt("throttled_since", throttled_since)? {
                Some(since) => TaskState::Throttled { since },
                None => TaskState::Queued,
            },
        };
        tasks.push(PendingTask {
            task_id: at.unsigned("task_id", task_id)?,
            name,
            attempts: at.unsigned("attempt", attempts)?,
            state,
            flow_key,
        });
    }
    Ok(tasks)
}
