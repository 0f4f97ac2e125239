//! Opening files: migrations, PRAGMAs, and several stores sharing one file.

use super::{Fixture, T0, first_episode, new_instance};
use crate::sqlite::SqliteStore;
use crate::sqlite::migrations::{LATEST_VERSION, schema_version};
use crate::{HistoryStore, StoreError};
use reprise_core::RuntimeStatus;
use std::sync::Arc;

#[test]
fn a_new_file_is_created_migrated_and_reopens_unchanged() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("reprise.db");
    assert!(path.exists());
    assert_eq!(schema_version(&fixture.raw()).unwrap(), LATEST_VERSION);
    fixture.create("a", T0);
    drop(fixture.store);

    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.path(), path);
    assert_eq!(schema_version(&reopened.read()).unwrap(), LATEST_VERSION);
    assert_eq!(reopened.instance("a").unwrap().unwrap().name, "greet");
}

#[test]
fn connections_are_configured_for_durability_and_sharing() {
    let fixture = Fixture::new();
    let writer = fixture.store.write();
    let pragma = |name: &str| -> String {
        writer
            .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|v| format!("{v:?}"))
            .unwrap()
    };
    assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
    assert_eq!(pragma("synchronous"), "Integer(2)", "synchronous=FULL");
    assert_eq!(pragma("foreign_keys"), "Integer(1)");
    assert_eq!(pragma("busy_timeout"), "Integer(5000)");
    assert!(fixture.store.read().is_readonly(rusqlite::MAIN_DB).unwrap());
}

#[test]
fn a_schema_newer_than_this_build_is_refused() {
    let fixture = Fixture::new();
    fixture.raw().pragma_update(None, "user_version", LATEST_VERSION + 1).unwrap();
    let err = SqliteStore::open(&fixture.dir.path().join("reprise.db")).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported } if found == LATEST_VERSION + 1 && supported == LATEST_VERSION),
        "{err}"
    );
}

#[test]
fn two_stores_on_one_file_see_each_others_writes() {
    let fixture = Fixture::new();
    let other = fixture.reopen();

    fixture.create("a", T0);
    assert_eq!(other.instance("a").unwrap().unwrap().status, RuntimeStatus::Pending);
    assert_eq!(other.ready_instances("host-2", T0, 10).unwrap(), ["a"]);

    // The lock taken through one is seen by the other.
    assert!(fixture.store.lock_instance("a", "host-1", T0, T0 + 1000).unwrap());
    assert!(!other.lock_instance("a", "host-2", T0, T0 + 1000).unwrap());
    assert!(other.ready_instances("host-2", T0, 10).unwrap().is_empty());

    // The other's commit is seen by the first.
    other.create_instance(&new_instance("b", T0 + 1)).unwrap();
    other.commit_episode(&first_episode(&other, "b", "host-2", T0 + 2, &[])).unwrap();
    assert_eq!(fixture.store.instance("b").unwrap().unwrap().status, RuntimeStatus::Running);
    assert_eq!(fixture.store.history("b", 1).unwrap().len(), 2);
}

#[test]
fn threads_share_one_store() {
    let fixture = Fixture::new();
    let store = Arc::new(fixture.reopen());
    let handles: Vec<_> = (0..4)
        .map(|thread| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..10 {
                    store.create_instance(&new_instance(&format!("t{thread}-{i}"), T0 + i)).unwrap();
                    store.instance(&format!("t{thread}-{i}")).unwrap().unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let all = fixture.store.list_instances(&Default::default()).unwrap();
    assert_eq!(all.len(), 40);
}
