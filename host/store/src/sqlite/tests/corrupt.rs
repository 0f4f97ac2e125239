//! Rows this build cannot read are reported as corrupt, naming where, and never panic; a file
//! SQLite cannot read (truncated, garbage in its header or in a page, a damaged log) is refused
//! at open or reported as damaged where it is met, and never written to.

use super::{Fixture, T0, first_episode};
use crate::NO_LIMITS;
use crate::sqlite::{SqliteStore, StoreOptions};
use crate::{HistoryStore, InstanceFilter, StoreError, StoreResult};

/// Asserts that `result` is a corruption report mentioning every one of `words`.
fn assert_corrupt<T: std::fmt::Debug>(result: StoreResult<T>, words: &[&str]) {
    match result {
        Err(StoreError::Corrupt(text)) => {
            for word in words {
                assert!(text.contains(word), "'{word}' missing from '{text}'");
            }
        }
        other => panic!("expected a corruption report, got {other:?}"),
    }
}

#[test]
fn a_bad_instance_row_is_corrupt() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let raw = fixture.raw();
    raw.execute("UPDATE instances SET failure = '{oops' WHERE instance_id = 'a'", []).unwrap();
    assert_corrupt(fixture.store.instance("a"), &["instances.failure", "'a'"]);
    assert_corrupt(fixture.store.list_instances(&InstanceFilter::default()), &["instances.failure", "'a'"]);

    raw.execute("UPDATE instances SET failure = NULL, status = 'Sleeping' WHERE instance_id = 'a'", []).unwrap();
    assert_corrupt(fixture.store.instance("a"), &["instances.status", "Sleeping"]);

    raw.execute("UPDATE instances SET status = 'Pending', created_at = -5 WHERE instance_id = 'a'", []).unwrap();
    assert_corrupt(fixture.store.instance("a"), &["instances.created_at", "-5"]);
}

#[test]
fn a_bad_history_row_is_corrupt() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.store.commit_episode(&first_episode(&fixture.store, "a", "h", T0, &[])).unwrap();
    let raw = fixture.raw();

    raw.execute("UPDATE history SET event = '{\"type\":\"Nope\"}' WHERE seq = 1", []).unwrap();
    assert_corrupt(fixture.store.history("a", 1), &["history.event", "instance 'a'", "seq 1"]);

    raw.execute("UPDATE history SET event = '{\"type\":\"EpisodeStarted\",\"time\":1}' WHERE seq = 1", []).unwrap();
    assert_corrupt(fixture.store.history("a", 1), &["history.kind", "ExecutionStarted"]);

    raw.execute("UPDATE history SET kind = 'EpisodeStarted', seq = 5 WHERE seq = 1", []).unwrap();
    assert_corrupt(fixture.store.history("a", 1), &["history.seq", "missing"]);
}

#[test]
fn a_bad_message_is_corrupt() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.raw().execute("UPDATE inbox SET message = 'null'", []).unwrap();
    assert_corrupt(fixture.store.messages("a", T0), &["inbox.message", "instance 'a'"]);
}

#[test]
fn a_bad_task_row_is_corrupt() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.store.commit_episode(&first_episode(&fixture.store, "a", "h", T0, &[0])).unwrap();
    fixture.raw().execute("UPDATE activity_tasks SET attempt = 5000000000", []).unwrap();
    assert_corrupt(
        fixture.store.claim_activities("w", T0, T0 + 10, 10, &NO_LIMITS),
        &["activity_tasks.attempt", "task 0"],
    );
}

#[test]
fn a_bad_component_row_is_corrupt() {
    let fixture = Fixture::new();
    fixture
        .raw()
        .execute("INSERT INTO components VALUES ('aa', 'src', x'00', '[\"ok\"]', '{\"not\":\"a list\"}', 1, '[]')", [])
        .unwrap();
    assert_corrupt(fixture.store.components(), &["components.activities", "aa"]);
}

/// A closed file holding instance "a", whose first episode scheduled 200 tasks (so that its
/// history and task tables span pages of their own), and its path.
fn closed_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let tasks: Vec<u64> = (0..200).collect();
    fixture.store.commit_episode(&first_episode(&fixture.store, "a", "h", T0, &tasks)).unwrap();
    let path = fixture.dir.path().join("reprise.db");
    let Fixture { dir, store } = fixture;
    drop(store);
    assert!(!super::super::preflight::wal_path(&path).exists(), "a clean close leaves no log");
    (dir, path)
}

/// Opens `path` (with `options`) and asserts that it is refused as damaged, with a message
/// holding every one of `words`, and that no byte of the file changed.
fn assert_refused_unchanged(path: &std::path::Path, options: &StoreOptions, words: &[&str]) {
    let before = std::fs::read(path).unwrap();
    match SqliteStore::open_with(path, options) {
        Err(error @ StoreError::Damaged(_)) => {
            let text = error.to_string();
            for word in words {
                assert!(text.contains(word), "'{word}' missing from '{text}'");
            }
            assert!(text.contains("restore it from a backup"), "{text}");
        }
        Err(other) => panic!("expected a damaged file, got {other}"),
        Ok(_) => panic!("a damaged file was opened"),
    }
    assert!(std::fs::read(path).unwrap() == before, "the file changed");
}

/// The page size of the store's files.
const PAGE: usize = 4096;

#[test]
fn a_truncated_file_is_refused_unchanged() {
    let (_dir, path) = closed_file();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() >= 8 * PAGE, "the file spans pages: {}", bytes.len());
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused_unchanged(&path, &StoreOptions::default(), &["malformed"]);
}

#[test]
fn a_file_with_garbage_in_its_header_is_refused_unchanged() {
    let (_dir, path) = closed_file();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..100].copy_from_slice(&[0x5a; 100]);
    std::fs::write(&path, &bytes).unwrap();
    assert_refused_unchanged(&path, &StoreOptions::default(), &["not a database"]);
    // Not a database at all, whatever its name.
    std::fs::write(&path, "name,amount\nalice,3\n".repeat(500)).unwrap();
    assert_refused_unchanged(&path, &StoreOptions::default(), &["not a database"]);
}

#[test]
fn a_garbage_page_is_found_by_a_verifying_open_and_otherwise_by_the_read_that_meets_it() {
    let (_dir, path) = closed_file();
    let root: usize = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("SELECT rootpage FROM sqlite_schema WHERE name = 'history'", [], |r| r.get::<_, i64>(0)).unwrap()
            as usize
    };
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(root - 1) * PAGE..root * PAGE].fill(0xab);
    std::fs::write(&path, &bytes).unwrap();

    let verify = StoreOptions { verify: true, ..StoreOptions::default() };
    assert_refused_unchanged(&path, &verify, &["quick_check"]);

    // Without the check the file opens; the read that meets the page fails, naming the damage.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.instance("a").unwrap().unwrap().history_len, 202, "the instance row is intact");
    let error = store.history("a", 1).unwrap_err();
    assert!(matches!(error, StoreError::Damaged(_)), "{error}");
    drop(store);
    assert!(std::fs::read(&path).unwrap() == bytes, "reading wrote nothing");
}

/// A copy, in a new directory, of a file and its log as a running store leaves them: instance
/// "a", then instance "b", each committed in the log and not yet checkpointed.
fn file_with_log() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let path = fixture.dir.path().join("reprise.db");
    let wal = super::super::preflight::wal_path(&path);
    let frames_of_a = std::fs::metadata(&wal).unwrap().len();
    fixture.create("b", T0 + 1);
    assert!(std::fs::metadata(&wal).unwrap().len() > frames_of_a, "b's commit is in the log");
    let copy = tempfile::tempdir().unwrap();
    let (copied, copied_wal) = (copy.path().join("reprise.db"), copy.path().join("reprise.db-wal"));
    std::fs::copy(&path, &copied).unwrap();
    std::fs::copy(&wal, &copied_wal).unwrap();
    (copy, copied, copied_wal)
}

#[test]
fn a_log_with_a_damaged_header_beside_a_good_file_is_refused_with_both_unchanged() {
    let (_dir, path, wal) = file_with_log();
    let mut log = std::fs::read(&wal).unwrap();
    log[12] ^= 0xff; // the checkpoint sequence number: the header's checksum no longer matches
    std::fs::write(&wal, &log).unwrap();
    assert_refused_unchanged(&path, &StoreOptions::default(), &["reprise.db-wal", "move that file aside"]);
    assert!(std::fs::read(&wal).unwrap() == log, "the log is unchanged");

    // Moved aside, as the message says, the file opens without the log's commits.
    std::fs::rename(&wal, path.with_extension("db-wal.damaged")).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.instance("b").unwrap().is_none());
}

#[test]
fn a_log_damaged_part_way_ends_there_as_a_power_cut_leaves_it() {
    let (_dir, path, wal) = file_with_log();
    let mut log = std::fs::read(&wal).unwrap();
    let last_frame = log.len() - (24 + PAGE);
    log[last_frame + 24 + 100] ^= 0xff; // a byte of the last frame's page: its checksum fails
    std::fs::write(&wal, &log).unwrap();
    // SQLite's recovery keeps the frames before the damage: "a" is there, "b" (whose commit
    // frame is the damaged one) is not, exactly as if the power had gone while it was written.
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.instance("a").unwrap().is_some());
    assert!(store.instance("b").unwrap().is_none());
}
