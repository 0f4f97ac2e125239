//! What must not be left behind once everything has finished, read with plain SQL (the store's
//! trait does not show it): messages in the inbox of a finished instance or of an entity,
//! activity tasks of a finished instance or of an execution it left, the episode lock of a
//! finished instance, an entity still locked by a critical section; and the file's own
//! `PRAGMA integrity_check`.

use super::{Findings, Invariant};
use crate::torture::open_read_only;
use std::path::Path;

/// The statuses of finished instances, as stored.
const TERMINAL: &str = "'Completed', 'Failed', 'Terminated'";

/// `PRAGMA integrity_check` must say `ok`.
pub(super) fn integrity(db: &Path, findings: &mut Findings) -> anyhow::Result<()> {
    let conn = open_read_only(db)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = stmt.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
    if lines != ["ok"] {
        findings.add("(database)", Invariant::Database, format!("integrity_check: {}", lines.join("; ")));
    }
    Ok(())
}

/// Checks every kind of left-over.
pub(super) fn check(db: &Path, findings: &mut Findings) -> anyhow::Result<()> {
    let conn = open_read_only(db)?;
    let queries: [(&str, String); 5] = [
        (
            "message(s) in the inbox of the finished instance",
            format!(
                "SELECT x.instance_id, count(*) || ': ' || group_concat(json_extract(x.message, '$.type'), ', ') \
                 FROM inbox x JOIN instances i ON i.instance_id = x.instance_id \
                 WHERE i.status IN ({TERMINAL}) GROUP BY x.instance_id"
            ),
        ),
        (
            "message(s) never consumed by the entity",
            "SELECT instance_id, count(*) || ': ' || group_concat(json_extract(message, '$.type'), ', ') \
             FROM inbox WHERE substr(instance_id, 1, 1) = '@' GROUP BY instance_id"
                .to_string(),
        ),
        (
            "activity task(s) queued for a finished instance or an execution it left",
            format!(
                "SELECT t.instance_id, count(*) || ': ' || group_concat(t.name || ' ' || t.execution || '/' || t.task_id, ', ') \
                 FROM activity_tasks t JOIN instances i ON i.instance_id = t.instance_id \
                 WHERE i.status IN ({TERMINAL}) OR t.execution <> i.execution GROUP BY t.instance_id"
            ),
        ),
        (
            "episode lock still held by a finished instance",
            format!(
                "SELECT instance_id, coalesce(lock_owner, '?') || ' until ' || coalesce(lock_until, '?') \
                 FROM instances WHERE status IN ({TERMINAL}) AND (lock_owner IS NOT NULL OR lock_until IS NOT NULL)"
            ),
        ),
        (
            "critical-section lock never released, on",
            "SELECT coalesce(json_extract(locked_by, '$.instance_id'), instance_id), instance_id \
             FROM entities WHERE locked_by IS NOT NULL"
                .to_string(),
        ),
    ];
    for (what, sql) in queries {
        let mut stmt = conn.prepare(&sql)?;
        let rows: Vec<(String, String)> =
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?;
        for (instance, detail) in rows {
            findings.add(instance, Invariant::LeftBehind, format!("{what} {detail}"));
        }
    }
    Ok(())
}
