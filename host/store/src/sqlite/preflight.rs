//! The checks of an existing database file before the store writes anything to it: that its
//! write-ahead log's header is whole, that SQLite can read the file's header and schema, that
//! its schema version is one this build knows, and (when asked) that every page is sound.
//!
//! A file that fails them is refused with a clear error ([`StoreError::Damaged`],
//! [`StoreError::SchemaTooNew`]) while it is still exactly as it was: the store's own open
//! switches the file to WAL mode, migrates it and, at its close, checkpoints the log into it,
//! each a write that would bury the evidence (or the data) of a damaged file.
//!
//! What SQLite itself tolerates is left to it. A log whose frames stop matching their checksums
//! part-way ends there: that is what a power cut leaves of commits that were not yet synced, and
//! SQLite's recovery drops the rest, as the writer's durability classes expect. A log whose very
//! header is damaged would be dropped whole, with every commit since the last checkpoint, and no
//! crash produces one (the header is written in one sector and synced before any frame that
//! depends on it): that one is refused.
//!
//! This module must never write, create or delete a file, except the `-shm` index SQLite makes
//! beside a WAL database for any reader.

use super::migrations::{LATEST_VERSION, schema_version};
use crate::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The size of a write-ahead log's header.
const WAL_HEADER: usize = 32;

/// How many times a damaged-looking log header is read again before it is believed: a process
/// sharing the file may be rewriting it (it does after each checkpoint) while it is read.
const WAL_HEADER_READS: usize = 3;

/// What [`check`] found readable.
pub(super) struct Checked {
    /// The file's schema version.
    pub(super) version: i64,
}

/// Checks the existing, non-empty file at `path` as the module docs say, reading every page if
/// `verify` (`PRAGMA quick_check`: about 2 ms per MB of file here).
pub(super) fn check(path: &Path, verify: bool) -> StoreResult<Checked> {
    check_wal_header(path)?;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    // Reading the schema reads the header and the schema's pages: a file that is not a
    // database, or whose page count exceeds its length (a truncated file), fails here.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0))?;
    let version = schema_version(&conn)?;
    if version > LATEST_VERSION {
        return Err(StoreError::SchemaTooNew { found: version, supported: LATEST_VERSION });
    }
    if verify {
        quick_check(&conn)?;
    }
    Ok(Checked { version })
}

/// `PRAGMA quick_check`: every page of every table and index is read and its structure checked.
fn quick_check(conn: &Connection) -> StoreResult<()> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let problems: Vec<String> = stmt.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Damaged(format!("SQLite's quick_check found: {}", problems.join("; "))))
}

/// Refuses a log with frames behind a damaged header (see the module docs).
fn check_wal_header(path: &Path) -> StoreResult<()> {
    let wal = wal_path(path);
    for attempt in 1..=WAL_HEADER_READS {
        let mut file = match std::fs::File::open(&wal) {
            Ok(file) => file,
            // No log: nothing to check (another process may have just removed it).
            Err(_) => return Ok(()),
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        if length <= WAL_HEADER as u64 {
            // No frame: SQLite starts the log afresh, and nothing is lost.
            return Ok(());
        }
        let mut header = [0u8; WAL_HEADER];
        if file.read_exact(&mut header).is_err() || wal_header_is_valid(&header) {
            return Ok(());
        }
        if attempt == WAL_HEADER_READS {
            return Err(StoreError::Damaged(format!(
                "the header of its write-ahead log {} is not valid, so SQLite would silently drop the {length} bytes \
                 of transactions in it; to open the database without them, move that file aside",
                wal.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// The `-wal` file beside `path`.
pub(super) fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// Whether a log header has SQLite's magic number, the format version it writes, and a matching
/// checksum (see "The WAL File Format" in SQLite's documentation).
fn wal_header_is_valid(header: &[u8; WAL_HEADER]) -> bool {
    let word = |at: usize| u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let magic = word(0);
    if magic & !1 != 0x377f_0682 || word(4) != 3_007_000 {
        return false;
    }
    // The low bit of the magic number says in which byte order the checksum reads words.
    let big_endian = magic & 1 == 1;
    let (mut s0, mut s1) = (0u32, 0u32);
    for pair in header[..24].chunks_exact(8) {
        let read = |bytes: &[u8]| {
            let bytes = [bytes[0], bytes[1], bytes[2], bytes[3]];
            if big_endian { u32::from_be_bytes(bytes) } else { u32::from_le_bytes(bytes) }
        };
        s0 = s0.wrapping_add(read(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(read(&pair[4..])).wrapping_add(s0);
    }
    s0 == word(24) && s1 == word(28)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_sqlite_wrote_is_valid_and_any_changed_byte_makes_it_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v); INSERT INTO t VALUES (1);").unwrap();
        let bytes = std::fs::read(wal_path(&path)).unwrap();
        let header: [u8; WAL_HEADER] = bytes[..WAL_HEADER].try_into().unwrap();
        assert!(wal_header_is_valid(&header));
        for at in 0..WAL_HEADER {
            let mut changed = header;
            changed[at] ^= 0x10;
            assert!(!wal_header_is_valid(&changed), "byte {at} changed");
        }
    }
}
