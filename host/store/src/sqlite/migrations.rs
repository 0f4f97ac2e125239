//! Schema migrations: numbered SQL files in `migrations/`, applied in order.
//!
//! The file's schema version is SQLite's `PRAGMA user_version` (0 for a new file). Each migration
//! runs in its own `BEGIN IMMEDIATE` transaction together with the bump of `user_version`, so a
//! crash leaves the file at one version or the next, never in between; and because the version is
//! read again inside that transaction, two processes opening a new file at once cannot both apply
//! the same migration.
//!
//! This module must never edit a migration that has shipped: a change of schema is a new file.

use crate::{StoreError, StoreResult};
use rusqlite::{Connection, TransactionBehavior};

/// The migrations, in order: `MIGRATIONS[i]` brings the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_lifecycle.sql"),
    include_str!("migrations/0003_lineage.sql"),
    include_str!("migrations/0004_entities.sql"),
    include_str!("migrations/0005_leases.sql"),
    include_str!("migrations/0006_updates.sql"),
    include_str!("migrations/0007_schedules.sql"),
    include_str!("migrations/0008_flow_control.sql"),
];

/// The schema version this build writes and the newest it can read.
pub(super) const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the file's schema up to [`LATEST_VERSION`], or fails with
/// [`StoreError::SchemaTooNew`] if it is already past it.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    check_not_too_new(schema_version(conn)?)?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = schema_version(&tx)?;
        check_not_too_new(found)?;
        if found >= version {
            // Already applied (perhaps by another process since the check above).
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "applied store schema migration");
    }
    Ok(())
}

/// The file's schema version.
pub(super) fn schema_version(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

fn check_not_too_new(found: i64) -> StoreResult<()> {
    if found > LATEST_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: LATEST_VERSION });
    }
    Ok(())
}
