//! Component upgrades: one transaction that records the rebinding in history, refused whole
//! when the instance is not where the caller's replay found it.

use super::*;
use crate::{ComponentRecord, ComponentUpgrade, StoreError};

fn save(store: &SqliteStore, hash: &str) {
    let component = ComponentRecord {
        hash: hash.into(),
        source: format!("{hash}.wasm"),
        bytes: hash.as_bytes().to_vec(),
        orchestrators: vec!["greet".into()],
        activities: Vec::new(),
        entities: Vec::new(),
        loaded_at: T0,
    };
    store.save_component(&component).expect("save component");
}

/// The upgrade of a running "i" (first episode only, pinned to "abc") to "def", by an operator.
fn upgrade_of(f: &Fixture) -> ComponentUpgrade {
    let record = f.store.instance("i").unwrap().unwrap();
    ComponentUpgrade {
        instance_id: "i".into(),
        execution: record.execution,
        expected_history_len: record.history_len,
        from: "abc".into(),
        to: "def".into(),
        owner: None,
        now: T0 + 100,
    }
}

#[test]
fn an_upgrade_records_its_own_episode_and_pins_the_instance_to_the_new_component() {
    let f = Fixture::new();
    f.create_with_status("i", T0, RuntimeStatus::Running);
    save(&f.store, "def");
    let before = f.store.instance("i").unwrap().unwrap();
    let upgrade = upgrade_of(&f);
    f.store.upgrade(&upgrade).expect("upgrade");

    let after = f.store.instance("i").unwrap().unwrap();
    assert_eq!(after.component.as_deref(), Some("def"));
    assert_eq!(after.history_len, before.history_len + 2);
    assert_eq!((after.status, after.execution), (before.status, before.execution));
    let history = f.store.history("i", 1).unwrap();
    let tail: Vec<&Event> = history[before.history_len as usize..].iter().map(|e| &e.event).collect();
    assert_eq!(
        tail,
        [&Event::EpisodeStarted { time: T0 + 100 }, &Event::ComponentUpgraded { from: "abc".into(), to: "def".into() }]
    );
    // The same upgrade again finds the instance moved on.
    let again = f.store.upgrade(&upgrade).unwrap_err();
    assert!(matches!(&again, StoreError::Conflict { reason, .. } if reason.contains("moved on")), "{again}");
}

#[test]
fn an_upgrade_of_an_instance_that_moved_is_refused_and_writes_nothing() {
    let f = Fixture::new();
    f.create_with_status("i", T0, RuntimeStatus::Running);
    f.create_with_status("done", T0, RuntimeStatus::Completed);
    save(&f.store, "def");
    let before = f.dump();
    let refused = |upgrade: ComponentUpgrade| f.store.upgrade(&upgrade).unwrap_err();

    let stale = refused(ComponentUpgrade { expected_history_len: 1, ..upgrade_of(&f) });
    assert!(matches!(&stale, StoreError::Conflict { reason, .. } if reason.contains("moved on")), "{stale}");
    let other_pin = refused(ComponentUpgrade { from: "zzz".into(), ..upgrade_of(&f) });
    assert!(
        matches!(&other_pin, StoreError::Conflict { reason, .. } if reason.contains("pinned to abc")),
        "{other_pin}"
    );
    let unknown = refused(ComponentUpgrade { to: "nope".into(), ..upgrade_of(&f) });
    assert!(
        matches!(&unknown, StoreError::Conflict { reason, .. } if reason.contains("not in the store")),
        "{unknown}"
    );
    let missing = refused(ComponentUpgrade { instance_id: "ghost".into(), ..upgrade_of(&f) });
    assert!(matches!(missing, StoreError::InstanceNotFound(_)), "{missing}");
    let record = f.store.instance("done").unwrap().unwrap();
    let finished = refused(ComponentUpgrade {
        instance_id: "done".into(),
        expected_history_len: record.history_len,
        ..upgrade_of(&f)
    });
    assert!(matches!(finished, StoreError::Finished { status: RuntimeStatus::Completed, .. }), "{finished}");
    assert_eq!(f.dump(), before, "a refused upgrade writes nothing");
}

#[test]
fn an_upgrade_waits_for_a_live_lease_unless_its_holder_upgrades() {
    let f = Fixture::new();
    f.create_with_status("i", T0, RuntimeStatus::Running);
    save(&f.store, "def");
    assert!(f.store.lock_instance("i", "h", T0 + 50, T0 + 60_000).unwrap());

    let busy = f.store.upgrade(&upgrade_of(&f)).unwrap_err();
    assert!(
        matches!(&busy, StoreError::Conflict { reason, .. } if reason.contains("'h' is running an episode")),
        "{busy}"
    );
    let by_other = ComponentUpgrade { owner: Some("other".into()), ..upgrade_of(&f) };
    assert!(matches!(f.store.upgrade(&by_other), Err(StoreError::Conflict { .. })));

    // The holder upgrades inside its episode, and keeps its lock.
    f.store.upgrade(&ComponentUpgrade { owner: Some("h".into()), ..upgrade_of(&f) }).expect("holder upgrades");
    assert!(!f.store.lock_instance("i", "other", T0 + 200, T0 + 60_000).unwrap(), "the lock is still h's");

    // A lease that ran out does not stop an operator.
    let f = Fixture::new();
    f.create_with_status("i", T0, RuntimeStatus::Running);
    save(&f.store, "def");
    assert!(f.store.lock_instance("i", "h", T0 + 10, T0 + 20).unwrap());
    f.store.upgrade(&upgrade_of(&f)).expect("the lease ran out at T0 + 20");
}
