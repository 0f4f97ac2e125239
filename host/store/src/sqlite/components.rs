//! The component registry: the bytes of every loaded component, by content hash, and the names
//! it exports.
//!
//! Keeping the bytes is what lets an instance pinned to a component replay after the file it was
//! loaded from has changed. A hash names its content, so a row is never rewritten with other
//! bytes; this module never computes hashes or inspects components (the runtime does).

use super::codec::{At, time_to_sql, to_json};
use crate::{ComponentRecord, StoreResult};
use rusqlite::{Connection, params};

/// Records a component. Re-saving a known hash updates `loaded_at` only, except that bytes are
/// filled in if the row somehow has none.
pub(super) fn save(conn: &Connection, component: &ComponentRecord) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO components (hash, source, bytes, orchestrators, activities, entities, loaded_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (hash) DO UPDATE SET \
             loaded_at = excluded.loaded_at, \
             bytes = CASE WHEN length(components.bytes) = 0 THEN excluded.bytes \
                          ELSE components.bytes END",
    )?
    .execute(params![
        component.hash,
        component.source,
        component.bytes,
        to_json(&component.orchestrators)?,
        to_json(&component.activities)?,
        to_json(&component.entities)?,
        time_to_sql(component.loaded_at)
    ])?;
    Ok(())
}

/// The bytes of the component with that hash.
pub(super) fn bytes(conn: &Connection, hash: &str) -> StoreResult<Option<Vec<u8>>> {
    let mut stmt = conn.prepare_cached("SELECT bytes FROM components WHERE hash = ?1")?;
    let mut rows = stmt.query_map([hash], |row| row.get::<_, Vec<u8>>(0))?;
    Ok(rows.next().transpose()?)
}

/// Every component without its bytes, most recently loaded first (ties by hash, for a stable
/// order).
pub(super) fn list(conn: &Connection) -> StoreResult<Vec<ComponentRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, source, orchestrators, activities, entities, loaded_at FROM components \
         ORDER BY loaded_at DESC, hash",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, i64>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (hash, source, orchestrators, activities, entities, loaded_at) = row?;
        let key = format!("component {hash}");
        let at = At { table: "components", key: &key };
        Ok(ComponentRecord {
            orchestrators: at.json("orchestrators", &orchestrators)?,
            activities: at.json("activities", &activities)?,
            entities: at.json("entities", &entities)?,
            loaded_at: at.unsigned("loaded_at", loaded_at)?,
            bytes: Vec::new(),
            source,
            hash,
        })
    })
    .collect()
}
