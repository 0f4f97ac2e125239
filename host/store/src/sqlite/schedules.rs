//! Schedule rows and their recorded runs, and the one transaction that records a fire.
//!
//! A schedule's row holds its definition (the spec as JSON), its progress (cursor, buffered slot,
//! latest run) and its counts, and a `version` bumped by every write: [`fire`] writes only on the
//! version its caller decided on, so two processes deciding at once cannot both write, and the
//! second decides again on what the first wrote. The instances a fire starts are created here,
//! in the same transaction, through `instances::insert`, which refuses a taken id: that, not the
//! version, is what makes a slot never run twice, whoever fires it (a backfill, a retried write
//! whose first try landed). This module never decides which slots fire: the planner does
//! (`reprise_core::schedule::plan`).

use super::codec::{At, int_to_sql, limit_to_sql, time_to_sql, to_json};
use super::{inbox, instances};
use crate::{NewSchedule, SCHEDULE_RUNS_KEPT, ScheduleFire, ScheduleRecord, ScheduleRun, StoreError, StoreResult};
use reprise_core::Timestamp;
use reprise_core::schedule::{RunOutcome, ScheduleName};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// The columns [`read`] expects, in order.
const COLUMNS: &str = "name, spec, paused, cursor, buffered_slot, last_instance, fired, skipped, missed, manual, \
    version, created_at, updated_at";

/// Creates the schedule, or with `replace` gives an existing one the new definition; true if it
/// was created.
pub(super) fn save(conn: &Connection, new: &NewSchedule, replace: bool) -> StoreResult<bool> {
    let spec = to_json(&new.spec)?;
    let now = time_to_sql(new.now);
    let created = conn
        .prepare_cached(
            "INSERT INTO schedules (name, spec, paused, cursor, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4, ?4) ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![new.name.as_str(), spec, new.paused, now])?
        == 1;
    if created {
        return Ok(true);
    }
    if !replace {
        return Err(StoreError::ScheduleExists(new.name.to_string()));
    }
    conn.prepare_cached("UPDATE schedules SET spec = ?2, version = version + 1, updated_at = ?3 WHERE name = ?1")?
        .execute(params![new.name.as_str(), spec, now])?;
    Ok(false)
}

/// One schedule.
pub(super) fn get(conn: &Connection, name: &ScheduleName) -> StoreResult<Option<ScheduleRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM schedules WHERE name = ?1"))?;
    stmt.query_row([name.as_str()], Raw::read).optional()?.map(Raw::decode).transpose()
}

/// Every schedule, by name.
pub(super) fn list(conn: &Connection) -> StoreResult<Vec<ScheduleRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM schedules ORDER BY name"))?;
    let rows = stmt.query_map([], Raw::read)?.collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(Raw::decode).collect()
}

/// Pauses or resumes it (moving its cursor on a resume that gives one).
pub(super) fn set_paused(
    conn: &Connection,
    name: &ScheduleName,
    paused: bool,
    cursor: Option<Timestamp>,
    now: Timestamp,
) -> StoreResult<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE schedules SET paused = ?2, cursor = max(cursor, coalesce(?3, cursor)), \
                 version = version + 1, updated_at = ?4 \
             WHERE name = ?1",
        )?
        .execute(params![name.as_str(), paused, cursor.map(time_to_sql), time_to_sql(now)])?;
    if changed == 0 {
        return Err(StoreError::ScheduleNotFound(name.to_string()));
    }
    Ok(())
}

/// Deletes it and its runs.
pub(super) fn delete(conn: &Connection, name: &ScheduleName) -> StoreResult<()> {
    if conn.prepare_cached("DELETE FROM schedules WHERE name = ?1")?.execute([name.as_str()])? == 0 {
        return Err(StoreError::ScheduleNotFound(name.to_string()));
    }
    Ok(())
}

/// Records a fire (see [`crate::HistoryStore::fire_schedule`]).
pub(super) fn fire(conn: &Connection, fire: &ScheduleFire) -> StoreResult<Vec<RunOutcome>> {
    let name = fire.name.as_str();
    let version: Option<i64> = conn
        .prepare_cached("SELECT version FROM schedules WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    match version {
        None => return Err(StoreError::ScheduleNotFound(name.to_string())),
        Some(found) if found != int_to_sql(fire.expected_version)? => {
            return Err(StoreError::Conflict {
                instance_id: format!("schedule {name}"),
                reason: format!("the schedule moved on (version {found}, expected {})", fire.expected_version),
            });
        }
        Some(_) => {}
    }
    let mut outcomes = Vec::with_capacity(fire.runs.len());
    let (mut fired, mut skipped) = (0i64, 0i64);
    let mut latest: Option<String> = None;
    for run in &fire.runs {
        if let Some((target, message)) = &run.terminate {
            match inbox::send(conn, target, message, fire.now, fire.now) {
                // The previous run ended (or was purged) meanwhile: nothing to terminate.
                Err(StoreError::InstanceNotFound(_) | StoreError::Finished { .. }) => {}
                other => other?,
            }
        }
        let mut instance_id = run.instance_id.clone();
        let outcome = match &run.start {
            Some(new) => {
                instance_id = Some(new.instance_id.to_string());
                latest.clone_from(&instance_id);
                if instances::insert(conn, new, fire.now)? { RunOutcome::Started } else { RunOutcome::AlreadyStarted }
            }
            None => run.outcome,
        };
        match outcome {
            RunOutcome::Started => fired += 1,
            RunOutcome::Skipped => skipped += 1,
            _ => {}
        }
        conn.prepare_cached(
            "INSERT INTO schedule_runs (schedule, slot, kind, outcome, instance_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            name,
            run.slot.map(time_to_sql),
            run.kind.as_str(),
            outcome.as_str(),
            instance_id,
            time_to_sql(fire.now)
        ])?;
        outcomes.push(outcome);
    }
    conn.prepare_cached(
        "UPDATE schedules SET cursor = ?2, buffered_slot = ?3, manual = ?4, \
             last_instance = coalesce(?5, last_instance), fired = fired + ?6, skipped = skipped + ?7, \
             missed = missed + ?8, version = version + 1, updated_at = ?9 \
         WHERE name = ?1",
    )?
    .execute(params![
        name,
        time_to_sql(fire.cursor),
        fire.buffered.map(time_to_sql),
        int_to_sql(fire.manual)?,
        latest,
        fired,
        skipped,
        int_to_sql(fire.missed)?,
        time_to_sql(fire.now)
    ])?;
    conn.prepare_cached(
        "DELETE FROM schedule_runs WHERE schedule = ?1 AND id <= \
             (SELECT id FROM schedule_runs WHERE schedule = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![name, limit_to_sql(SCHEDULE_RUNS_KEPT)])?;
    Ok(outcomes)
}

/// Its newest runs, newest first.
pub(super) fn runs(conn: &Connection, name: &ScheduleName, limit: usize) -> StoreResult<Vec<ScheduleRun>> {
    let mut stmt = conn.prepare_cached(
        "SELECT slot, kind, outcome, instance_id, at FROM schedule_runs WHERE schedule = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![name.as_str(), limit_to_sql(limit)], |row| {
            Ok((
                row.get::<_, Option<i64>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, i64>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let at = At { table: "schedule_runs", key: name };
    rows.into_iter()
        .map(|(slot, kind, outcome, instance_id, time)| {
            Ok(ScheduleRun {
                slot: at.unsigned_opt("slot", slot)?,
                kind: kind.parse().map_err(|e| at.corrupt("kind", e))?,
                outcome: outcome.parse().map_err(|e| at.corrupt("outcome", e))?,
                instance_id,
                at: at.unsigned("at", time)?,
            })
        })
        .collect()
}

/// A schedule row as SQLite holds it.
struct Raw {
    name: String,
    spec: String,
    paused: bool,
    buffered: Option<i64>,
    last_instance: Option<String>,
    /// cursor, fired, skipped, missed, manual, version, created_at, updated_at.
    ints: [i64; 8],
}

impl Raw {
    fn read(row: &Row<'_>) -> rusqlite::Result<Raw> {
        Ok(Raw {
            name: row.get(0)?,
            spec: row.get(1)?,
            paused: row.get(2)?,
            buffered: row.get(4)?,
            last_instance: row.get(5)?,
            ints: [
                row.get(3)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
                row.get(10)?,
                row.get(11)?,
                row.get(12)?,
            ],
        })
    }

    fn decode(self) -> StoreResult<ScheduleRecord> {
        let name = ScheduleName::new(self.name.clone())
            .map_err(|e| StoreError::Corrupt(format!("schedules.name '{}': {e}", self.name)))?;
        let at = At { table: "schedules", key: &name };
        let [cursor, fired, skipped, missed, manual, version, created_at, updated_at] = self.ints;
        Ok(ScheduleRecord {
            spec: at.json("spec", &self.spec)?,
            paused: self.paused,
            cursor: at.unsigned("cursor", cursor)?,
            buffered: at.unsigned_opt("buffered_slot", self.buffered)?,
            last_instance: self.last_instance,
            fired: at.unsigned("fired", fired)?,
            skipped: at.unsigned("skipped", skipped)?,
            missed: at.unsigned("missed", missed)?,
            manual: at.unsigned("manual", manual)?,
            version: at.unsigned("version", version)?,
            created_at: at.unsigned("created_at", created_at)?,
            updated_at: at.unsigned("updated_at", updated_at)?,
            name,
        })
    }
}
