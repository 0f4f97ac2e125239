//! Entities: created by their first operation, run under the instance lock, committed
//! atomically, deleted when left without state.

use super::{Fixture, T0, first_episode};
use crate::{EntityCommit, EntityFilter, HistoryStore, InstanceFilter, NewInstance, StoreError};
use reprise_core::{
    EntityCaller, EntityId, EntityOperation, InstanceId, LockHolder, Message, OutgoingMessage, Payload,
};

fn counter(key: &str) -> EntityId {
    EntityId::new("Counter", key).unwrap()
}

fn add(amount: i64) -> EntityOperation {
    EntityOperation {
        operation: "add".into(),
        input: Payload::stored(amount.to_string()),
        caller: None,
        in_critical_section: false,
    }
}

/// A batch commit of `store`'s visible messages for `entity`, as the executor would write it.
fn batch(fixture: &Fixture, entity: &EntityId, owner: &str, now: u64, state: Option<&str>) -> EntityCommit {
    let id = entity.instance_id();
    assert!(fixture.store.lock_instance(&id, owner, now, now + 60_000).unwrap());
    let messages = fixture.store.messages(&id, now).unwrap();
    EntityCommit {
        entity: entity.clone(),
        owner: owner.into(),
        consumed_messages: messages.iter().map(|m| m.id).collect(),
        state: state.map(str::to_string).map(Payload::stored),
        locked_by: None,
        operations: messages.len() as u64,
        outgoing: Vec::new(),
        new_instances: Vec::new(),
        now,
    }
}

#[test]
fn a_first_signal_creates_the_entity_and_makes_it_ready_in_order() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let entity = counter("c1");
    assert_eq!(store.entity(&entity).unwrap(), None);
    store.signal_entity(&entity, &add(1), T0, T0).unwrap();
    store.signal_entity(&entity, &add(2), T0, T0 + 1).unwrap();
    store.signal_entity(&entity, &add(3), T0 + 100, T0 + 2).unwrap();

    let record = store.entity(&entity).unwrap().expect("created by its first operation");
    assert_eq!((record.state, record.operations, record.queued), (None, 0, 3));
    assert_eq!(store.ready_instances("w", T0 + 2, 10).unwrap(), ["@Counter@c1"]);
    let visible: Vec<Message> = store.messages("@Counter@c1", T0 + 2).unwrap().into_iter().map(|m| m.message).collect();
    assert_eq!(visible, [Message::EntityOperation(add(1)), Message::EntityOperation(add(2))]);
    assert_eq!(store.next_due(T0 + 2).unwrap(), Some(T0 + 100), "a delayed signal is a due time");
    // Entities are not orchestrations: listings of instances leave them out.
    assert!(store.list_instances(&InstanceFilter::default()).unwrap().is_empty());
}

#[test]
fn a_batch_commits_state_results_signals_and_starts_atomically() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("caller", T0);
    store.commit_episode(&first_episode(store, "caller", "h", T0, &[])).unwrap();
    let entity = counter("c1");
    let call = EntityOperation {
        operation: "get".into(),
        input: Payload::stored("null"),
        caller: Some(EntityCaller { instance_id: "caller".into(), execution: 1, task_id: 4 }),
        in_critical_section: false,
    };
    store.signal_entity(&entity, &add(5), T0, T0).unwrap();
    store.signal_entity(&entity, &call, T0, T0).unwrap();

    let mut commit = batch(&fixture, &entity, "w", T0 + 1, Some("5"));
    commit.outgoing = vec![
        OutgoingMessage {
            instance_id: "caller".into(),
            message: Message::EntityCompleted { task_id: 4, output: Payload::stored("5") },
            visible_at: T0 + 1,
            execution: Some(1),
        },
        // A result for an execution the caller left is dropped.
        OutgoingMessage {
            instance_id: "caller".into(),
            message: Message::EntityCompleted { task_id: 9, output: Payload::stored("0") },
            visible_at: T0 + 1,
            execution: Some(7),
        },
        OutgoingMessage {
            instance_id: counter("c2").instance_id(),
            message: Message::EntityOperation(add(5)),
            visible_at: T0 + 1,
            execution: None,
        },
    ];
    commit.new_instances = vec![NewInstance {
        instance_id: InstanceId::new("started-by-entity").expect("a valid instance id"),
        name: "greet".into(),
        input: Payload::stored("5"),
        created_at: T0 + 1,
        parent: None,
        if_taken: None,
    }];
    // Another owner cannot commit it, and a failed commit writes nothing.
    let stolen = EntityCommit { owner: "thief".into(), ..commit.clone() };
    let before = fixture.dump();
    assert!(matches!(store.commit_entity_batch(&stolen), Err(StoreError::Conflict { .. })));
    assert_eq!(fixture.dump(), before);

    store.commit_entity_batch(&commit).unwrap();
    let record = store.entity(&entity).unwrap().unwrap();
    assert_eq!((record.state.as_deref(), record.operations, record.queued), (Some("5"), 2, 0));
    let to_caller: Vec<Message> = store.messages("caller", T0 + 1).unwrap().into_iter().map(|m| m.message).collect();
    assert_eq!(to_caller, [Message::EntityCompleted { task_id: 4, output: Payload::stored("5") }]);
    assert_eq!(store.entity(&counter("c2")).unwrap().unwrap().queued, 1, "the signal created the other entity");
    assert!(store.instance("started-by-entity").unwrap().is_some());
    // Committing the same messages twice is a conflict: nothing is applied twice.
    assert!(store.lock_instance(&entity.instance_id(), "w", T0 + 2, T0 + 60_000).unwrap());
    assert!(matches!(store.commit_entity_batch(&commit), Err(StoreError::Conflict { .. })));

    let listed = store.list_entities(&EntityFilter::default()).unwrap();
    assert_eq!(listed.iter().map(|e| e.entity.to_string()).collect::<Vec<_>>(), ["@Counter@c1"]);
    let all = store.list_entities(&EntityFilter { include_stateless: true, ..Default::default() }).unwrap();
    assert_eq!(all.len(), 2, "with stateless ones, the entity that only has an operation queued shows too");
    let by_prefix = EntityFilter {
        key_prefix: Some("c2".into()),
        include_stateless: true,
        name: Some("Counter".into()),
        limit: None,
    };
    assert_eq!(store.list_entities(&by_prefix).unwrap().len(), 1);
}

#[test]
fn an_entity_left_without_state_and_queue_is_deleted() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let entity = counter("gone");
    store.signal_entity(&entity, &add(1), T0, T0).unwrap();
    store.signal_entity(&entity, &add(1), T0 + 500, T0).unwrap();
    // Deleted while an operation is still queued: it stays, stateless, for that operation.
    store.commit_entity_batch(&batch(&fixture, &entity, "w", T0 + 1, None)).unwrap();
    assert_eq!(store.entity(&entity).unwrap().map(|e| (e.state, e.queued)), Some((None, 1)));
    store.commit_entity_batch(&batch(&fixture, &entity, "w", T0 + 500, None)).unwrap();
    assert_eq!(store.entity(&entity).unwrap(), None);
    assert_eq!(fixture.count("instances", &entity.instance_id()), 0);
}

#[test]
fn a_locked_entity_is_ready_only_for_its_holders_operations_and_the_release() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let entity = counter("locked");
    let holder = LockHolder { instance_id: "holder".into(), execution: 1 };
    store.signal_entity(&entity, &add(1), T0, T0).unwrap();
    let commit = EntityCommit { locked_by: Some(holder.clone()), ..batch(&fixture, &entity, "w", T0 + 1, Some("1")) };
    store.commit_entity_batch(&commit).unwrap();
    assert_eq!(store.entity(&entity).unwrap().unwrap().locked_by, Some(holder.clone()));

    // Another caller's operation waits, unseen by the ready query...
    store.signal_entity(&entity, &add(2), T0 + 2, T0 + 2).unwrap();
    assert!(store.ready_instances("w", T0 + 10, 10).unwrap().is_empty());
    // ...the holder's operation and the release wake it.
    let mine = EntityOperation { in_critical_section: true, ..add(3) };
    store.signal_entity(&entity, &mine, T0 + 3, T0 + 3).unwrap();
    assert_eq!(store.ready_instances("w", T0 + 10, 10).unwrap(), ["@Counter@locked"]);
    let release = OutgoingMessage {
        instance_id: entity.instance_id(),
        message: Message::EntityUnlock { holder },
        visible_at: T0 + 4,
        execution: None,
    };
    assert!(release.message.is_control());
    // Deleted state does not delete an entity that is still locked.
    let commit = EntityCommit { consumed_messages: Vec::new(), state: None, operations: 0, ..commit };
    assert!(store.lock_instance(&entity.instance_id(), "w", T0 + 5, T0 + 60_000).unwrap());
    store.commit_entity_batch(&commit).unwrap();
    assert!(store.entity(&entity).unwrap().is_some());
    // Unlocked, everything queued counts again.
    let unlocked = EntityCommit { locked_by: None, ..commit };
    assert!(store.lock_instance(&entity.instance_id(), "w", T0 + 6, T0 + 60_000).unwrap());
    store.commit_entity_batch(&unlocked).unwrap();
    assert_eq!(store.ready_instances("w", T0 + 10, 10).unwrap(), ["@Counter@locked"]);
}
