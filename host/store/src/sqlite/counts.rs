//! What the store holds, counted for the metrics: instances by status, messages due later,
//! activity tasks waiting for a worker, and those of them held back by a flow limit. Reads only; it never decides anything from the counts.

use super::codec::{At, time_to_sql};
use crate::{StoreCounts, StoreResult};
use reprise_core::Timestamp;
use rusqlite::Connection;

/// The counts at `now`, in one read transaction so that they describe one state.
pub(super) fn counts(conn: &Connection, now: Timestamp) -> StoreResult<StoreCounts> {
    let tx = conn.unchecked_transaction()?;
    let at = At { table: "instances", key: &"the count by status" };
    let instances = {
        // Entities are instances too (ids starting with '@'); the metric counts orchestrations.
        let mut stmt = tx.prepare_cached(
            "SELECT status, count(*) FROM instances WHERE substr(instance_id, 1, 1) <> '@' GROUP BY status",
        )?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
        let mut instances = Vec::new();
        for row in rows {
            let (status, count) = row?;
            instances.push((at.status("status", &status)?, at.unsigned("count", count)?));
        }
        instances
    };
    let now = time_to_sql(now);
    let timers: i64 =
        tx.prepare_cached("SELECT count(*) FROM inbox WHERE visible_at > ?1")?.query_row([now], |row| row.get(0))?;
    let tasks: i64 = tx
        .prepare_cached("SELECT count(*) FROM activity_tasks WHERE lease_owner IS NULL OR lease_until <= ?1")?
        .query_row([now], |row| row.get(0))?;
    let throttled = {
        let mut stmt = tx.prepare_cached(
            "SELECT name, count(*) FROM activity_tasks INDEXED BY activity_tasks_throttled \
             WHERE throttled_since IS NOT NULL GROUP BY name ORDER BY name",
        )?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
        let at = At { table: "activity_tasks", key: &"the throttled count" };
        let mut throttled = Vec::new();
        for row in rows {
            let (name, count) = row?;
            throttled.push((name, at.unsigned("count", count)?));
        }
        throttled
    };
    tx.finish()?;
    Ok(StoreCounts {
        instances,
        timers_pending: At { table: "inbox", key: &"the count" }.unsigned("count", timers)?,
        activity_tasks_pending: At { table: "activity_tasks", key: &"the count" }.unsigned("count", tasks)?,
        activity_tasks_throttled: throttled,
    })
}
