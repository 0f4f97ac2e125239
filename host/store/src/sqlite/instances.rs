//! Instance rows: creating, reading and listing them, their parent links, and the lock an
//! episode runs under.
//!
//! Every instance is created by [`insert`], whether a client asked for it (`create`) or an
//! episode started it as a sub-orchestration (inside the episode's transaction). A child's
//! `parent` column holds its [`reprise_core::ParentRef`] as JSON, and the generated column
//! `parent_instance` with its index lets [`children`] find a parent's children. The lock is a
//! lease (`lock_owner`, `lock_until`) taken with one conditional `UPDATE`, so two
//! hosts can never both believe they hold it. Purging deletes finished instances, and with them
//! (by the schema's `ON DELETE CASCADE`) their histories, inboxes and tasks. This module never
//! changes an instance's status or history: only an episode commit does that (see `episodes`).

use super::codec::{At, TERMINAL_STATUSES_SQL, limit_to_sql, time_to_sql, to_json};
use super::inbox;
use crate::{InstanceFilter, InstanceRecord, NewInstance, PurgeFilter, StoreError, StoreResult};
use reprise_core::entity::ENTITY_ID_PREFIX;
use reprise_core::{Message, Payload, RuntimeStatus, Timestamp};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

/// The columns [`InstanceRow::read`] expects, in order.
const COLUMNS: &str = "instance_id, name, execution, status, input, output, failure, \
    custom_status, component, history_len, created_at, updated_at, completed_at, parent";

/// Creates the instance and enqueues its `Start` message in one transaction.
pub(super) fn create(tx: &Connection, new: &NewInstance) -> StoreResult<()> {
    if !insert(tx, new, new.created_at)? {
        return Err(StoreError::InstanceExists(new.instance_id.to_string()));
    }
    Ok(())
}

/// Inserts the instance (`Pending`, execution 1, with its parent link) created at `created_at`
/// and enqueues its `Start` message, inside the caller's transaction; false, writing nothing, if
/// the id is taken. Every instance is created through here.
pub(super) fn insert(conn: &Connection, new: &NewInstance, created_at: Timestamp) -> StoreResult<bool> {
    let parent = new.parent.as_ref().map(to_json).transpose()?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO instances (instance_id, name, execution, status, input, parent, history_len, \
                 created_at, updated_at) \
             VALUES (?1, ?2, 1, ?3, ?4, ?5, 0, ?6, ?6) \
             ON CONFLICT (instance_id) DO NOTHING",
        )?
        .execute(params![
            new.instance_id.as_str(),
            new.name,
            RuntimeStatus::Pending.as_str(),
            new.input.as_str(),
            parent,
            time_to_sql(created_at)
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    let start = Message::Start { name: new.name.clone(), input: new.input.clone() };
    inbox::enqueue(conn, new.instance_id.as_str(), 1, &start, created_at, created_at)?;
    Ok(true)
}

/// One instance's row.
pub(super) fn get(conn: &Connection, instance_id: &str) -> StoreResult<Option<InstanceRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM instances WHERE instance_id = ?1"))?;
    let mut rows = stmt.query_map([instance_id], InstanceRow::read)?;
    rows.next().transpose()?.map(InstanceRow::decode).transpose()
}

/// The instances that match every field of `filter`, newest first (ties in creation order,
/// reversed).
pub(super) fn list(conn: &Connection, filter: &InstanceFilter) -> StoreResult<Vec<InstanceRecord>> {
    // Entities are stored as instances (see `entities`) but are not orchestrations.
    let mut filters = Filters::default();
    filters.push(format!("substr(instance_id, 1, 1) <> '{ENTITY_ID_PREFIX}'"), None);
    filters.statuses(&filter.statuses);
    if let Some(name) = &filter.name {
        filters.push("name = ?", Some(Value::from(name.clone())));
    }
    filters.created(filter.created_from, filter.created_to);
    let Filters { conditions, mut values } = filters;
    let mut sql = format!("SELECT {COLUMNS} FROM instances");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY created_at DESC, rowid DESC");
    if let Some(limit) = filter.limit {
        sql.push_str(" LIMIT ?");
        values.push(Value::from(limit_to_sql(limit)));
    }
    // Not cached: the text varies with the filter, and listing is not on a hot path.
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), InstanceRow::read)?;
    rows.map(|row| row?.decode()).collect()
}

/// The status and current execution of an instance, if it exists: what decides whether a
/// message or a result for it is still wanted.
pub(super) fn status_and_execution(conn: &Connection, instance_id: &str) -> StoreResult<Option<(RuntimeStatus, u32)>> {
    let row = conn
        .prepare_cached("SELECT status, execution FROM instances WHERE instance_id = ?1")?
        .query_row([instance_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
        .optional()?;
    let Some((status, execution)) = row else {
        return Ok(None);
    };
    let key = format!("instance '{instance_id}'");
    let at = At { table: "instances", key: &key };
    Ok(Some((at.status("status", &status)?, at.unsigned("execution", execution)?)))
}

/// Ids of the unfinished instances whose parent is `instance_id` (of any of its executions), in
/// creation order.
pub(super) fn children(conn: &Connection, instance_id: &str) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(&children_sql())?;
    let rows = stmt.query_map([instance_id], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The query of [`children`]: `?1` is the parent's id. SQLite answers it from the partial index
/// `instances_by_parent` (`=` implies the index's `IS NOT NULL`); a test checks the plan.
pub(super) fn children_sql() -> String {
    format!(
        "SELECT instance_id FROM instances \
         WHERE parent_instance = ?1 AND status NOT IN ({TERMINAL_STATUSES_SQL}) \
         ORDER BY created_at, rowid"
    )
}

/// Deletes the finished instances that match `filter` in one transaction and returns how many
/// went; their histories, inboxes and tasks go with them by cascade. A named instance that is
/// missing or has not finished is an error and deletes nothing.
pub(super) fn purge(tx: &Connection, filter: &PurgeFilter) -> StoreResult<usize> {
    // Only terminal statuses can ever match, whatever the filter names.
    let mut filters = Filters::default();
    filters.push(format!("status IN ({TERMINAL_STATUSES_SQL})"), None);
    if let Some(instance_id) = &filter.instance_id {
        match status_and_execution(tx, instance_id)? {
            None => return Err(StoreError::InstanceNotFound(instance_id.clone())),
            Some((status, _)) if !status.is_terminal() => {
                return Err(StoreError::NotFinished { instance_id: instance_id.clone(), status });
            }
            Some(_) => {}
        }
        filters.push("instance_id = ?", Some(Value::from(instance_id.clone())));
    }
    filters.statuses(&filter.statuses);
    if let Some(before) = filter.completed_before {
        filters.push("completed_at < ?", Some(Value::from(time_to_sql(before))));
    }
    filters.created(filter.created_from, filter.created_to);
    let Filters { conditions, mut values } = filters;
    // Not cached: the text varies with the filter.
    let sql = match filter.limit {
        Some(limit) => {
            values.push(Value::from(limit_to_sql(limit)));
            format!(
                "DELETE FROM instances WHERE instance_id IN (SELECT instance_id FROM instances WHERE {} LIMIT ?)",
                conditions.join(" AND ")
            )
        }
        None => format!("DELETE FROM instances WHERE {}", conditions.join(" AND ")),
    };
    let deleted = tx.execute(&sql, params_from_iter(values))?;
    Ok(deleted)
}

/// Takes or renews the lock for `owner`: it succeeds when the instance has not finished and is
/// unlocked, already held by `owner`, or held by a lease that ended at or before `now`.
///
/// A finished instance is never locked: no episode of it can commit, and the commit that
/// finished it released its lock for good. Were it locked (by a late wake-up, or a renewal
/// racing that commit), a host that died before unlocking it would leave the lock on it
/// forever, since nothing runs a finished instance again.
pub(super) fn lock(
    conn: &Connection,
    instance_id: &str,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
) -> StoreResult<bool> {
    let updated = conn
        .prepare_cached(&format!(
            "UPDATE instances SET lock_owner = ?2, lock_until = ?3 \
             WHERE instance_id = ?1 AND status NOT IN ({TERMINAL_STATUSES_SQL}) \
               AND (lock_owner IS NULL OR lock_owner = ?2 OR lock_until <= ?4)"
        ))?
        .execute(params![instance_id, owner, time_to_sql(lease_until), time_to_sql(now)])?;
    Ok(updated == 1)
}

/// Releases the lock if `owner` holds it; anything else is left alone.
pub(super) fn unlock(conn: &Connection, instance_id: &str, owner: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE instances SET lock_owner = NULL, lock_until = NULL \
         WHERE instance_id = ?1 AND lock_owner = ?2",
    )?
    .execute(params![instance_id, owner])?;
    Ok(())
}

/// An instance row as SQLite returns it, before its values are checked.
struct InstanceRow {
    instance_id: String,
    name: String,
    execution: i64,
    status: String,
    input: String,
    output: Option<String>,
    failure: Option<String>,
    custom_status: Option<String>,
    component: Option<String>,
    history_len: i64,
    created_at: i64,
    updated_at: i64,
    completed_at: Option<i64>,
    parent: Option<String>,
}

impl InstanceRow {
    /// Reads the columns of [`COLUMNS`].
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(InstanceRow {
            instance_id: row.get(0)?,
            name: row.get(1)?,
            execution: row.get(2)?,
            status: row.get(3)?,
            input: row.get(4)?,
            output: row.get(5)?,
            failure: row.get(6)?,
            custom_status: row.get(7)?,
            component: row.get(8)?,
            history_len: row.get(9)?,
            created_at: row.get(10)?,
            updated_at: row.get(11)?,
            completed_at: row.get(12)?,
            parent: row.get(13)?,
        })
    }

    /// Checks and converts the values.
    fn decode(self) -> StoreResult<InstanceRecord> {
        let key = format!("instance '{}'", self.instance_id);
        let at = At { table: "instances", key: &key };
        Ok(InstanceRecord {
            execution: at.unsigned("execution", self.execution)?,
            status: at.status("status", &self.status)?,
            failure: at.json_opt("failure", self.failure.as_deref())?,
            history_len: at.unsigned("history_len", self.history_len)?,
            created_at: at.unsigned("created_at", self.created_at)?,
            updated_at: at.unsigned("updated_at", self.updated_at)?,
            completed_at: at.unsigned_opt("completed_at", self.completed_at)?,
            parent: at.json_opt("parent", self.parent.as_deref())?,
            instance_id: self.instance_id,
            name: self.name,
            input: Payload::stored(self.input),
            output: self.output.map(Payload::stored),
            custom_status: self.custom_status.map(Payload::stored),
            component: self.component,
        })
    }
}

/// The conditions of a filtered query on `instances`, with the values of their parameters in
/// order: what `list` and `purge` share.
#[derive(Default)]
struct Filters {
    conditions: Vec<String>,
    values: Vec<Value>,
}

impl Filters {
    /// Adds a condition, with the value of its one parameter if it has one.
    fn push(&mut self, condition: impl Into<String>, value: Option<Value>) {
        self.conditions.push(condition.into());
        self.values.extend(value);
    }

    /// Only these statuses, unless the list is empty.
    fn statuses(&mut self, statuses: &[RuntimeStatus]) {
        if !statuses.is_empty() {
            let marks = vec!["?"; statuses.len()].join(", ");
            self.conditions.push(format!("status IN ({marks})"));
            self.values.extend(statuses.iter().map(|status| Value::from(status.as_str().to_string())));
        }
    }

    /// Only instances created at or after `from` and before `to`, where given.
    fn created(&mut self, from: Option<Timestamp>, to: Option<Timestamp>) {
        if let Some(from) = from {
            self.push("created_at >= ?", Some(Value::from(time_to_sql(from))));
        }
        if let Some(to) = to {
            self.push("created_at < ?", Some(Value::from(time_to_sql(to))));
        }
    }
}
