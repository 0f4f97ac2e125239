//! Updates: a request writes its record and its message once, however often it is sent; an
//! episode's answer completes the record once; the store refuses what it must.

use super::{Fixture, T0, plain_episode};
use crate::{HistoryStore, NewUpdate, StoreError};
use reprise_core::{Failure, Message, Payload, RuntimeStatus, UpdateAnswer, UpdateReply};

fn deposit(id: &str, input: &str) -> NewUpdate {
    NewUpdate { update_id: id.into(), name: "deposit".into(), input: Payload::stored(input) }
}

#[test]
fn a_request_is_recorded_with_its_message_once_however_often_it_is_sent() {
    let fixture = Fixture::new();
    fixture.create_with_status("i", T0, RuntimeStatus::Running);
    let (record, sent) = fixture.store.request_update("i", &deposit("u1", "5"), T0 + 1).unwrap();
    assert!(sent);
    assert_eq!((record.execution, record.reply.clone(), record.requested_at), (1, None, T0 + 1));
    let (again, sent) = fixture.store.request_update("i", &deposit("u1", "5"), T0 + 2).unwrap();
    assert!(!sent, "a retry under the same id is not sent again");
    assert_eq!(again, record);
    let messages = fixture.store.messages("i", T0 + 2).unwrap();
    let requests = messages
        .iter()
        .filter(|m| matches!(&m.message, Message::UpdateRequested { update_id, .. } if update_id == "u1"));
    assert_eq!(requests.count(), 1);

    let other = fixture.store.request_update("i", &deposit("u1", "6"), T0 + 3);
    assert!(matches!(other, Err(StoreError::Conflict { .. })), "{other:?}");
    assert_eq!(fixture.store.update("i", "u1").unwrap(), Some(record));
    assert_eq!(fixture.store.update("i", "nope").unwrap(), None);
}

#[test]
fn missing_and_finished_instances_take_no_updates() {
    let fixture = Fixture::new();
    let missing = fixture.store.request_update("ghost", &deposit("u", "1"), T0);
    assert!(matches!(missing, Err(StoreError::InstanceNotFound(_))), "{missing:?}");
    fixture.create_with_status("done", T0, RuntimeStatus::Completed);
    let before = fixture.dump();
    let finished = fixture.store.request_update("done", &deposit("u", "1"), T0 + 5);
    assert!(matches!(finished, Err(StoreError::Finished { .. })), "{finished:?}");
    assert_eq!(fixture.dump(), before, "nothing was written");
}

#[test]
fn an_episode_answers_an_update_once_and_the_first_answer_stays() {
    let fixture = Fixture::new();
    fixture.create_with_status("i", T0, RuntimeStatus::Running);
    fixture.store.request_update("i", &deposit("u1", "5"), T0 + 1).unwrap();
    let answer = |reply| UpdateAnswer { update_id: "u1".into(), reply };
    let mut commit = plain_episode(&fixture.store, "i", T0 + 2, RuntimeStatus::Running);
    commit.update_replies = vec![
        answer(UpdateReply::Output(Payload::stored("5"))),
        // An id without a record (never requested through the store) is ignored.
        UpdateAnswer { update_id: "unknown".into(), reply: UpdateReply::Output(Payload::null()) },
    ];
    fixture.store.commit_episode(&commit).unwrap();
    let record = fixture.store.update("i", "u1").unwrap().unwrap();
    assert_eq!(record.reply, Some(UpdateReply::Output(Payload::stored("5"))));
    assert_eq!(record.replied_at, Some(T0 + 2));

    let mut later = plain_episode(&fixture.store, "i", T0 + 3, RuntimeStatus::Running);
    later.update_replies = vec![answer(UpdateReply::Failure(Failure::new("Late", "a second answer")))];
    fixture.store.commit_episode(&later).unwrap();
    let record = fixture.store.update("i", "u1").unwrap().unwrap();
    assert_eq!(record.reply, Some(UpdateReply::Output(Payload::stored("5"))), "the first answer stays");
    assert_eq!(record.replied_at, Some(T0 + 2));
}

#[test]
fn a_restart_forgets_the_updates_of_the_old_life_and_a_purge_deletes_them() {
    let fixture = Fixture::new();
    fixture.create_with_status("i", T0, RuntimeStatus::Running);
    fixture.store.request_update("i", &deposit("u1", "5"), T0 + 1).unwrap();
    fixture.store.commit_episode(&plain_episode(&fixture.store, "i", T0 + 2, RuntimeStatus::Completed)).unwrap();
    fixture.store.restart(&super::new_instance("i", T0 + 3)).unwrap();
    assert_eq!(fixture.store.update("i", "u1").unwrap(), None, "the id is free again in the new life");
    assert!(fixture.store.request_update("i", &deposit("u1", "6"), T0 + 4).unwrap().1);

    fixture.store.commit_episode(&plain_episode(&fixture.store, "i", T0 + 5, RuntimeStatus::Completed)).unwrap();
    let purged = fixture.store.purge(&crate::PurgeFilter { instance_id: Some("i".into()), ..Default::default() });
    assert_eq!(purged.unwrap(), 1);
    assert_eq!(fixture.count("updates", "i"), 0, "purged with its instance");
}
