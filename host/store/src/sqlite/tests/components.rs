//! The component registry.

use super::{Fixture, T0};
use crate::{ComponentRecord, HistoryStore};

fn component(hash: &str, loaded_at: u64) -> ComponentRecord {
    ComponentRecord {
        hash: hash.into(),
        source: format!("/components/{hash}.wasm"),
        bytes: hash.as_bytes().to_vec(),
        orchestrators: vec!["greet".into()],
        activities: vec!["say".into(), "shout".into()],
        entities: vec!["Counter".into()],
        loaded_at,
    }
}

#[test]
fn components_are_listed_newest_first_without_bytes() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    store.save_component(&component("aa", T0)).unwrap();
    store.save_component(&component("bb", T0 + 10)).unwrap();

    assert_eq!(store.component_bytes("aa").unwrap(), Some(b"aa".to_vec()));
    assert_eq!(store.component_bytes("zz").unwrap(), None);
    let listed = store.components().unwrap();
    let expected: Vec<_> = [component("bb", T0 + 10), component("aa", T0)]
        .into_iter()
        .map(|c| ComponentRecord { bytes: Vec::new(), ..c })
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn saving_a_known_hash_again_updates_only_its_load_time() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    store.save_component(&component("aa", T0)).unwrap();
    store.save_component(&component("bb", T0 + 10)).unwrap();
    let mut again = component("aa", T0 + 20);
    again.source = "/elsewhere/aa.wasm".into();
    again.bytes = Vec::new();
    again.activities.clear();
    store.save_component(&again).unwrap();

    let listed = store.components().unwrap();
    assert_eq!(listed[0], ComponentRecord { bytes: Vec::new(), ..component("aa", T0 + 20) });
    assert_eq!(store.component_bytes("aa").unwrap(), Some(b"aa".to_vec()), "bytes are kept");
}

#[test]
fn missing_bytes_are_filled_in_by_a_later_save() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    store.save_component(&ComponentRecord { bytes: Vec::new(), ..component("aa", T0) }).unwrap();
    store.save_component(&component("aa", T0 + 1)).unwrap();
    assert_eq!(store.component_bytes("aa").unwrap(), Some(b"aa".to_vec()));
}
