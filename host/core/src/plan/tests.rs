//! Tests of the planner: each rule case by case, and properties over generated episodes and
//! entity queues. No store, no guest: values in, values out.

use super::activity::{self, Attempt};
use super::entity::{Applied, Batch, MAX_BATCH, Offer};
use super::episode::{Claims, Episode, Facts, Instance, Needs, needs, plan};
use super::lifecycle::{audit, failed_without_guest, lifecycle};
use super::triage::{Triage, triage};
use super::*;
use crate::flow::{FlowLimit, FlowLimits, KeyPointer, NO_LIMITS};
use crate::replay::{EpisodeOutput, Terminal};
use crate::{
    ActivityOptions, EntityCaller, EntityId, EntityLockRequest, EntityOperation, Event, HistoryEvent, LockHolder,
    Message, ParentRef, Payload, RetryPolicy, RuntimeStatus,
};
use proptest::prelude::*;

const NOW: u64 = 1_000;

fn payload(text: &str) -> Payload {
    Payload::parse(text, usize::MAX).unwrap()
}

fn numbered(base_len: u64, events: Vec<Event>, terminal: Option<Terminal>) -> EpisodeOutput {
    let events =
        events.into_iter().enumerate().map(|(i, event)| HistoryEvent { seq: base_len + i as u64, event }).collect();
    EpisodeOutput { events, base_len, terminal }
}

fn scheduled(task_id: u64, name: &str) -> Event {
    Event::ActivityScheduled { task_id, name: name.into(), input: Payload::null(), options: ActivityOptions::default() }
}

fn entity(key: &str) -> EntityId {
    EntityId::new("Counter", key).unwrap()
}

struct Subject {
    input: Payload,
    parent: Option<ParentRef>,
}

impl Subject {
    fn new() -> Self {
        Subject { input: payload("\"in\""), parent: None }
    }

    fn instance(&self) -> Instance<'_> {
        Instance { id: "i", execution: 2, input: &self.input, parent: self.parent.as_ref() }
    }

    fn episode(&self, output: EpisodeOutput) -> Episode<'_> {
        Episode {
            instance: self.instance(),
            owner: "host",
            now: NOW,
            output,
            custom_status: None,
            consumed: vec![7],
            pin: None,
            status: None,
        }
    }
}

fn everywhere(_: &str) -> bool {
    true
}

fn claims(slots: usize) -> Claims<'static> {
    Claims { slots, lease_until: NOW + 500, runs_here: &everywhere, flow: &NO_LIMITS }
}

fn wakes(after: &[AfterCommit]) -> Vec<(String, u64)> {
    after
        .iter()
        .filter_map(|a| match a {
            AfterCommit::Wake { instance_id, at } => Some((instance_id.clone(), *at)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_running_episode_schedules_its_tasks_and_claims_what_it_holds_slots_for() {
    let subject = Subject::new();
    let events = vec![
        Event::EpisodeStarted { time: NOW },
        scheduled(0, "local"),
        scheduled(1, "remote"),
        scheduled(2, "local"),
        Event::TimerScheduled { task_id: 3, fire_at: NOW + 60_000 },
        Event::EventSent { instance_id: "other".into(), name: "ping".into(), data: payload("1") },
    ];
    let local = |name: &str| name == "local";
    let claims = Claims { slots: 1, lease_until: NOW + 500, runs_here: &local, flow: &NO_LIMITS };
    let planned = plan(subject.episode(numbered(10, events.clone(), None)), Facts::default(), claims);
    let commit = &planned.commit;
    assert_eq!((commit.status, commit.expected_history_len, commit.execution), (RuntimeStatus::Running, 10, 2));
    assert_eq!(commit.new_events.iter().map(|e| e.event.clone()).collect::<Vec<_>>(), events);
    let tasks: Vec<(u64, Option<u64>)> = commit.new_activities.iter().map(|t| (t.task_id, t.claimed_until)).collect();
    assert_eq!(tasks, [(0, Some(NOW + 500)), (1, None), (2, None)], "one slot: the first local task is claimed");
    assert_eq!(commit.outgoing.len(), 2);
    assert_eq!(commit.outgoing[0].message, Message::TimerFired { task_id: 3 });
    assert_eq!(commit.outgoing[0].visible_at, NOW + 60_000, "a timer is a message to itself, delayed");
    assert!(matches!(&planned.after[0], AfterCommit::Run(task) if task.key.task_id == 0 && task.attempt == 1));
    assert_eq!(planned.after[1], AfterCommit::PollActivities);
    assert_eq!(wakes(&planned.after), [("i".to_string(), NOW + 60_000), ("other".to_string(), NOW)]);
    assert_eq!(planned.after.last(), Some(&AfterCommit::Park));
    assert!(!planned.after.contains(&AfterCommit::Notify));
}

#[test]
fn a_limited_activity_is_never_claimed_by_the_commit_and_each_task_gets_its_key() {
    let subject = Subject::new();
    let charge = |task_id, customer: &str| Event::ActivityScheduled {
        task_id,
        name: "charge".into(),
        input: payload(&format!(r#"{{"customer":"{customer}"}}"#)),
        options: ActivityOptions::default(),
    };
    let events = vec![Event::EpisodeStarted { time: NOW }, charge(0, "c-1"), scheduled(1, "log"), charge(2, "c-2")];
    let mut flow = FlowLimits::default();
    flow.set("charge", FlowLimit::new(Some(3), None, Some(KeyPointer::new("/customer").unwrap())).unwrap());
    let claims = Claims { slots: 3, lease_until: NOW + 500, runs_here: &everywhere, flow: &flow };
    let planned = plan(subject.episode(numbered(0, events, None)), Facts::default(), claims);
    let tasks: Vec<(u64, Option<u64>, Option<&str>)> =
        planned.commit.new_activities.iter().map(|t| (t.task_id, t.claimed_until, t.flow_key.as_deref())).collect();
    assert_eq!(
        tasks,
        [(0, None, Some(r#""c-1""#)), (1, Some(NOW + 500), None), (2, None, Some(r#""c-2""#))],
        "slots are free, yet only the unlimited task is claimed"
    );
    let run: Vec<u64> = planned
        .after
        .iter()
        .filter_map(|a| match a {
            AfterCommit::Run(task) => Some(task.key.task_id),
            _ => None,
        })
        .collect();
    assert_eq!(run, [1]);
    assert!(planned.after.contains(&AfterCommit::PollActivities), "the dispatcher claims the limited ones");
}

#[test]
fn an_ending_episode_writes_no_task_or_timer_but_starts_its_children_and_sends_its_messages() {
    let subject = Subject::new();
    let events = vec![
        Event::EpisodeStarted { time: NOW },
        scheduled(0, "work"),
        Event::TimerScheduled { task_id: 1, fire_at: NOW + 10 },
        Event::SubOrchestrationScheduled {
            task_id: 2,
            name: "child".into(),
            instance_id: crate::InstanceId::new("kid").unwrap(),
            input: Payload::null(),
            retry: None,
        },
        Event::EntitySignaled { entity: entity("c"), operation: "add".into(), input: payload("1") },
        Event::ExecutionCompleted { output: payload("42") },
    ];
    let episode = subject.episode(numbered(3, events, Some(Terminal::Completed(payload("42")))));
    assert_eq!(needs(&episode), Needs { parent: false, children: false, locks: true });
    let facts = Facts { locks_held: vec![entity("locked")], ..Facts::default() };
    let planned = plan(episode, facts, claims(8));
    let commit = &planned.commit;
    assert_eq!(commit.status, RuntimeStatus::Completed);
    assert_eq!(commit.output.as_deref(), Some("42"));
    assert!(commit.new_activities.is_empty(), "its tasks would be deleted with the execution");
    assert_eq!(commit.new_instances.len(), 1, "a child lives on");
    let child = &commit.new_instances[0];
    let parent = child.parent.as_ref().unwrap();
    assert_eq!((parent.instance_id.as_str(), parent.execution, parent.task_id, parent.attempt), ("i", 2, 2, 1));
    let taken = child.if_taken.as_ref().expect("a taken id fails the parent's task");
    assert!(
        matches!(&taken.message, Message::SubOrchestrationFailed { task_id: 2, failure } if failure.error_type == "InstanceExists")
    );
    assert_eq!(taken.execution, Some(2));
    let targets: Vec<&str> = commit.outgoing.iter().map(|m| m.instance_id.as_str()).collect();
    assert_eq!(targets, ["@Counter@c", "@Counter@locked"], "the signal, then the release of its lock");
    assert_eq!(
        commit.outgoing[1].message,
        Message::EntityUnlock { holder: LockHolder { instance_id: "i".into(), execution: 2 } }
    );
    assert!(!planned.after.iter().any(|a| matches!(a, AfterCommit::Run(_) | AfterCommit::Park)));
    assert_eq!(planned.after.last(), Some(&AfterCommit::Notify));
}

fn child_of(retry: Option<RetryPolicy>, attempt: u32) -> Subject {
    Subject {
        input: payload("\"in\""),
        parent: Some(ParentRef {
            instance_id: "parent".into(),
            execution: 4,
            task_id: 9,
            retry,
            attempt,
            first_started: 0,
        }),
    }
}

fn failing() -> EpisodeOutput {
    let failure = Failure::new("Boom", "it broke");
    numbered(
        5,
        vec![Event::EpisodeStarted { time: NOW }, Event::ExecutionFailed { failure: failure.clone() }],
        Some(Terminal::Failed(failure)),
    )
}

#[test]
fn a_child_tells_its_waiting_parent_and_only_it() {
    let subject = child_of(None, 1);
    let completed = numbered(
        5,
        vec![Event::EpisodeStarted { time: NOW }, Event::ExecutionCompleted { output: payload("7") }],
        Some(Terminal::Completed(payload("7"))),
    );
    let episode = subject.episode(completed);
    assert!(needs(&episode).parent);
    let planned = plan(episode.clone(), Facts { parent_awaits: true, ..Facts::default() }, claims(0));
    let told = &planned.commit.outgoing[0];
    assert_eq!((told.instance_id.as_str(), told.execution), ("parent", Some(4)));
    assert_eq!(told.message, Message::SubOrchestrationCompleted { task_id: 9, output: payload("7") });
    let planned = plan(episode, Facts::default(), claims(0));
    assert!(planned.commit.outgoing.is_empty(), "a parent that moved on hears nothing");
}

#[test]
fn a_failed_child_with_attempts_left_runs_again_and_its_parent_gets_the_record() {
    let policy = RetryPolicy {
        max_attempts: 3,
        first_retry_interval_ms: 100,
        backoff_coefficient: 2.0,
        max_retry_interval_ms: None,
        retry_timeout_ms: None,
        non_retryable_errors: vec![],
    };
    let subject = child_of(Some(policy.clone()), 2);
    let planned = plan(subject.episode(failing()), Facts { parent_awaits: true, ..Facts::default() }, claims(0));
    let commit = &planned.commit;
    assert_eq!((commit.status, commit.failure.is_none()), (RuntimeStatus::ContinuedAsNew, true));
    let next = commit.continue_as_new.as_ref().expect("a restart");
    assert_eq!((next.start_at, next.input.as_str()), (NOW + 200, "\"in\""));
    assert_eq!(next.parent.as_ref().map(|p| p.attempt), Some(3));
    assert!(matches!(
        &commit.outgoing[0].message,
        Message::SubOrchestrationRetrying { task_id: 9, attempt: 2, next_attempt_at, .. } if *next_attempt_at == NOW + 200
    ));
    assert!(wakes(&planned.after).contains(&("i".to_string(), NOW + 200)), "woken for its next attempt");
    assert!(
        planned.after.contains(&AfterCommit::Notify),
        "its execution ends, and with it the updates it did not answer, though the instance goes on"
    );
    assert!(!commit.status.is_terminal());

    let last = child_of(Some(policy), 3);
    let planned = plan(last.episode(failing()), Facts { parent_awaits: true, ..Facts::default() }, claims(0));
    assert_eq!(planned.commit.status, RuntimeStatus::Failed);
    assert!(matches!(&planned.commit.outgoing[0].message, Message::SubOrchestrationFailed { task_id: 9, .. }));
    assert!(planned.after.contains(&AfterCommit::Failed(Failure::new("Boom", "it broke"))));
}

#[test]
fn a_cascading_terminate_reaches_the_running_children() {
    let subject = Subject::new();
    let status = Some((RuntimeStatus::Terminated, Some(Failure::new("Terminated", "stop"))));
    let output = numbered(
        1,
        vec![Event::EpisodeStarted { time: NOW }, Event::ExecutionTerminated { reason: "stop".into(), cascade: true }],
        Some(Terminal::Failed(Failure::new("Terminated", "stop"))),
    );
    let episode = Episode { status, ..subject.episode(output) };
    assert_eq!(needs(&episode), Needs { parent: false, children: true, locks: true });
    let facts = Facts { children: vec!["a".into(), "b".into()], ..Facts::default() };
    let planned = plan(episode, facts, claims(0));
    let sent: Vec<(&str, &Message)> =
        planned.commit.outgoing.iter().map(|m| (m.instance_id.as_str(), &m.message)).collect();
    let terminate = Message::Terminate { reason: "stop".into(), cascade: true };
    assert_eq!(sent, [("a", &terminate), ("b", &terminate)]);
    assert_eq!(planned.commit.status, RuntimeStatus::Terminated);
}

#[test]
fn lifecycle_messages_change_the_status_and_terminate_takes_everything() {
    let suspend = Message::Suspend { reason: "s".into() };
    let resume = Message::Resume { reason: "r".into() };
    let event = Message::EventRaised { name: "e".into(), data: Payload::null() };
    let plain = lifecycle(RuntimeStatus::Running, 4, &[(1, &suspend), (2, &event), (3, &suspend)], NOW);
    assert_eq!(plain.consumed, [1, 3], "the event waits for the next episode");
    assert_eq!(plain.status, Some((RuntimeStatus::Suspended, None)));
    let kinds: Vec<&str> = plain.output.events.iter().map(|e| e.event.kind()).collect();
    assert_eq!(kinds, ["EpisodeStarted", "ExecutionSuspended"], "suspending twice records it once");
    assert_eq!(plain.output.base_len, 4);

    let resumed = lifecycle(RuntimeStatus::Suspended, 6, &[(5, &resume)], NOW);
    assert_eq!(resumed.status, Some((RuntimeStatus::Running, None)));

    let terminate = Message::Terminate { reason: "bye".into(), cascade: false };
    let ended = lifecycle(RuntimeStatus::Running, 0, &[(1, &event), (2, &terminate), (3, &resume)], NOW);
    assert_eq!(ended.consumed, [1, 2, 3]);
    assert_eq!(ended.status, Some((RuntimeStatus::Terminated, Some(Failure::new("Terminated", "bye")))));
    assert!(matches!(ended.output.terminal, Some(Terminal::Failed(_))));
}

#[test]
fn audits_and_failures_without_a_guest_are_numbered_after_the_history() {
    let retry =
        Message::ActivityRetrying { task_id: 0, attempt: 1, failure: Failure::new("E", "m"), next_attempt_at: NOW + 5 };
    let audited = audit(RuntimeStatus::Running, 9, &[(4, &retry)], NOW);
    assert_eq!(audited.consumed, [4]);
    assert_eq!(audited.output.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [9, 10]);
    assert_eq!(audited.status, Some((RuntimeStatus::Running, None)));

    let input = payload("1");
    let failed = failed_without_guest(("orch", &input), 0, vec![1], Failure::new("OrchestratorNotFound", "x"), NOW);
    let kinds: Vec<&str> = failed.output.events.iter().map(|e| e.event.kind()).collect();
    assert_eq!(kinds, ["EpisodeStarted", "ExecutionStarted", "ExecutionFailed"]);
    assert_eq!(failed.status, None);
}

#[test]
fn triage_follows_the_status_and_the_messages() {
    let start = Message::Start { name: "o".into(), input: Payload::null() };
    let event = Message::EventRaised { name: "e".into(), data: Payload::null() };
    let terminate = Message::Terminate { reason: "t".into(), cascade: false };
    let retry =
        Message::ActivityRetrying { task_id: 0, attempt: 1, failure: Failure::new("E", "m"), next_attempt_at: 1 };
    assert_eq!(triage(RuntimeStatus::Completed, 3, &[&event]), Triage::Finished);
    assert_eq!(triage(RuntimeStatus::Running, 3, &[]), Triage::Idle);
    assert_eq!(triage(RuntimeStatus::Running, 3, &[&event, &terminate]), Triage::Lifecycle { more: true });
    assert_eq!(triage(RuntimeStatus::Suspended, 3, &[&terminate]), Triage::Lifecycle { more: false });
    assert_eq!(triage(RuntimeStatus::Suspended, 3, &[&event]), Triage::Idle);
    assert_eq!(triage(RuntimeStatus::ContinuedAsNew, 0, &[&event]), Triage::NotStarted);
    assert_eq!(triage(RuntimeStatus::Pending, 0, &[&start]), Triage::Run { audit_only: false });
    assert_eq!(triage(RuntimeStatus::Running, 3, &[&retry]), Triage::Run { audit_only: true });
    assert_eq!(triage(RuntimeStatus::Running, 3, &[&retry, &event]), Triage::Run { audit_only: false });
}

fn task(retry: Option<RetryPolicy>, attempt: u32) -> ActivityTask {
    ActivityTask {
        key: ActivityTaskKey { instance_id: "i".into(), execution: 1, task_id: 0 },
        name: "a".into(),
        input: Payload::null(),
        options: ActivityOptions { retry, timeout_ms: None },
        attempt,
        created_at: 0,
        lease_until: 10,
    }
}

#[test]
fn an_attempt_is_retried_as_its_policy_says_and_a_host_shortage_always() {
    let policy = RetryPolicy {
        max_attempts: 2,
        first_retry_interval_ms: 50,
        backoff_coefficient: 1.0,
        max_retry_interval_ms: None,
        retry_timeout_ms: None,
        non_retryable_errors: vec!["Fatal".into()],
    };
    let failed = |error_type: &str| Attempt::Failed(Failure::new(error_type, "m"));
    let result = |task: &ActivityTask, attempt, now| activity::result(task, task.options.retry.as_ref(), attempt, now);
    assert_eq!(result(&task(None, 1), Attempt::Completed(payload("1")), NOW), ActivityResult::Completed(payload("1")));
    assert_eq!(result(&task(None, 1), failed("E"), NOW), ActivityResult::Failed(Failure::new("E", "m")));
    assert_eq!(
        result(&task(Some(policy.clone()), 1), failed("E"), NOW),
        ActivityResult::Retry { failure: Failure::new("E", "m"), next_attempt_at: NOW + 50 }
    );
    assert!(matches!(result(&task(Some(policy.clone()), 2), failed("E"), NOW), ActivityResult::Failed(_)));
    assert!(matches!(result(&task(Some(policy), 1), failed("Fatal"), NOW), ActivityResult::Failed(_)));
    assert_eq!(
        result(&task(None, 1), Attempt::NotStarted(Failure::new("GuestTrapped", "no slot")), NOW),
        ActivityResult::Retry {
            failure: Failure::new("GuestTrapped", "no slot"),
            next_attempt_at: NOW + activity::TRANSIENT_RETRY_MS
        }
    );
}

fn caller(instance: &str, task_id: u64) -> EntityCaller {
    EntityCaller { instance_id: instance.into(), execution: 1, task_id }
}

fn op(name: &str, caller: Option<EntityCaller>, in_critical_section: bool) -> Message {
    Message::EntityOperation(EntityOperation {
        operation: name.into(),
        input: Payload::null(),
        caller,
        in_critical_section,
    })
}

fn applied(state: &str) -> Applied {
    Applied { state: Some(payload(state)), output: payload(state), outgoing: vec![], new_instances: vec![] }
}

#[test]
fn a_locked_entity_runs_its_holder_operations_first_and_the_release_ends_the_batch() {
    let mut batch = Batch::new(entity("x"), (Some(payload("0")), None, 5), 5, NOW);
    let request = Message::EntityLock(EntityLockRequest { caller: caller("holder", 3), remaining: vec![entity("y")] });
    let waits = |_: &EntityCaller| true;
    assert_eq!(batch.offer(1, request, &waits), Offer::Next);
    assert_eq!(batch.offer(2, op("add", Some(caller("other", 1)), false), &waits), Offer::Next, "the other waits");
    let Offer::Run { operation, number } = batch.offer(3, op("add", Some(caller("holder", 4)), true), &waits) else {
        panic!("the holder's operation runs");
    };
    assert_eq!(number, 5, "numbered after the entity's earlier operations");
    assert_eq!(batch.ran(&operation, Ok(applied("1"))), None);
    let release = Message::EntityUnlock { holder: LockHolder { instance_id: "holder".into(), execution: 1 } };
    assert_eq!(batch.offer(4, release, &waits), Offer::Next);
    assert_eq!(batch.offer(5, op("add", None, false), &waits), Offer::End, "the release ends the batch");
    let (commit, after) = batch.finish("host").expect("a commit");
    assert_eq!(commit.consumed_messages, [1, 3, 4]);
    assert_eq!((commit.operations, commit.locked_by.clone(), commit.state.as_deref()), (1, None, Some("1")));
    let targets: Vec<&str> = commit.outgoing.iter().map(|m| m.instance_id.as_str()).collect();
    assert_eq!(targets, ["@Counter@y", "holder"], "the request goes on, the holder gets its result");
    assert!(wakes(&after).contains(&("@Counter@x".to_string(), NOW)), "the waiting operations run next");
    assert_eq!(after.last(), Some(&AfterCommit::Notify));
}

#[test]
fn a_lock_is_not_granted_to_a_caller_that_no_longer_waits_and_failures_change_nothing() {
    let mut batch = Batch::new(entity("x"), (Some(payload("9")), None, 0), 3, NOW);
    let request = Message::EntityLock(EntityLockRequest { caller: caller("gone", 1), remaining: vec![] });
    assert_eq!(batch.offer(1, request, &|_| false), Offer::NotGranted(caller("gone", 1)));
    let Offer::Run { operation, .. } = batch.offer(2, op("bad", None, false), &|_| false) else { panic!() };
    let failure = Failure::new("InvalidOperation", "no");
    assert_eq!(batch.ran(&operation, Err(failure.clone())), Some(failure), "a signal's failure is told");
    assert_eq!(batch.state().map(Payload::as_str), Some("9"), "the state is kept");
    assert_eq!(
        batch.offer(3, Message::TimerFired { task_id: 0 }, &|_| false),
        Offer::Dropped(Message::TimerFired { task_id: 0 })
    );
    let (commit, _) = batch.finish("host").unwrap();
    assert_eq!((commit.locked_by, commit.operations), (None, 1));
}

#[test]
fn a_batch_runs_at_most_its_limit_and_one_with_nothing_to_run_commits_nothing() {
    let mut batch = Batch::new(entity("x"), (None, None, 0), MAX_BATCH + 1, NOW);
    for id in 0..MAX_BATCH as i64 {
        let Offer::Run { operation, .. } = batch.offer(id, op("add", None, false), &|_| true) else { panic!() };
        batch.ran(&operation, Ok(applied("1")));
    }
    assert_eq!(batch.offer(MAX_BATCH as i64, op("add", None, false), &|_| true), Offer::End);
    let (commit, after) = batch.finish("host").unwrap();
    assert_eq!(commit.operations, MAX_BATCH as u64);
    assert!(wakes(&after).contains(&("@Counter@x".to_string(), NOW)), "the rest runs in the next batch");

    let holder = LockHolder { instance_id: "h".into(), execution: 1 };
    let mut locked = Batch::new(entity("x"), (None, Some(holder), 0), 1, NOW);
    assert_eq!(locked.offer(1, op("add", Some(caller("other", 0)), false), &|_| true), Offer::Next);
    assert!(locked.finish("host").is_none(), "everything waits for the holder");
}

/// An event an orchestrator's episode may record, over a few task ids and targets.
fn command() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0u64..20, prop_oneof![Just("here"), Just("elsewhere")]).prop_map(|(t, n)| scheduled(t, n)),
        (0u64..20, 0u64..10_000).prop_map(|(task_id, delay)| Event::TimerScheduled { task_id, fire_at: NOW + delay }),
        (0u64..20).prop_map(|task_id| Event::SubOrchestrationScheduled {
            task_id,
            name: "child".into(),
            instance_id: crate::InstanceId::new(format!("child-{task_id}")).unwrap(),
            input: Payload::null(),
            retry: None,
        }),
        prop_oneof![Just("a"), Just("b")].prop_map(|to| Event::EventSent {
            instance_id: to.into(),
            name: "e".into(),
            data: Payload::null()
        }),
        (0u64..20).prop_map(|task_id| Event::EntityCalled {
            task_id,
            entity: entity("k"),
            operation: "add".into(),
            input: Payload::null(),
            in_critical_section: false,
        }),
    ]
}

fn ending() -> impl Strategy<Value = Option<Terminal>> {
    prop_oneof![
        Just(None),
        Just(Some(Terminal::Completed(Payload::null()))),
        Just(Some(Terminal::Failed(Failure::new("E", "m")))),
        Just(Some(Terminal::ContinuedAsNew { input: Payload::null(), carried: vec![], keep_events: false })),
    ]
}

proptest! {
    /// Whatever an episode records, its plan writes exactly those events, writes a task for each
    /// activity of an execution that goes on (none for one that ends), claims no more tasks than
    /// slots and only tasks this host runs, wakes every instance it sends to or starts, and parks
    /// or notifies as its end says.
    #[test]
    fn a_plan_writes_what_the_episode_recorded_and_announces_all_of_it(
        commands in proptest::collection::vec(command(), 0..30),
        terminal in ending(),
        slots in 0usize..6,
        base_len in 0u64..100,
    ) {
        let subject = Subject::new();
        let mut events = vec![Event::EpisodeStarted { time: NOW }];
        events.extend(commands.clone());
        let output = numbered(base_len, events.clone(), terminal.clone());
        let here = |name: &str| name == "here";
        let claims = Claims { slots, lease_until: NOW + 1, runs_here: &here, flow: &NO_LIMITS };
        let planned = plan(subject.episode(output), Facts::default(), claims);
        let commit = &planned.commit;
        prop_assert_eq!(commit.expected_history_len, base_len);
        prop_assert_eq!(commit.new_events.iter().map(|e| e.event.clone()).collect::<Vec<_>>(), events);
        let activities = commands.iter().filter(|e| matches!(e, Event::ActivityScheduled { .. })).count();
        let ends = terminal.is_some();
        prop_assert_eq!(commit.new_activities.len(), if ends { 0 } else { activities });
        let claimed: Vec<&ActivityTask> = planned.after.iter().filter_map(|a| match a { AfterCommit::Run(t) => Some(t), _ => None }).collect();
        prop_assert!(claimed.len() <= slots);
        prop_assert!(claimed.iter().all(|t| t.name == "here"));
        prop_assert_eq!(commit.new_activities.iter().filter(|t| t.claimed_until.is_some()).count(), claimed.len());
        let woken = wakes(&planned.after);
        for message in &commit.outgoing {
            prop_assert!(woken.contains(&(message.instance_id.clone(), message.visible_at)));
        }
        for child in &commit.new_instances {
            prop_assert!(woken.contains(&(child.instance_id.to_string(), NOW)));
        }
        let running = terminal.is_none();
        prop_assert_eq!(planned.after.contains(&AfterCommit::Park), running);
        // Waiters hear of an execution's end: finished, or continued as new (which ends the
        // updates it did not answer).
        let ended = matches!(terminal, Some(Terminal::Completed(_) | Terminal::Failed(_) | Terminal::ContinuedAsNew { .. }));
        prop_assert_eq!(planned.after.contains(&AfterCommit::Notify), ended);
        prop_assert_eq!(commit.continue_as_new.is_some(), matches!(terminal, Some(Terminal::ContinuedAsNew { .. })));
    }

    /// However an entity's queue is made (operations from callers and from signals, lock
    /// requests and releases, callers that wait or not), a batch consumes messages in queue
    /// order, runs each operation it consumes exactly once and answers each caller exactly once.
    #[test]
    fn a_batch_runs_each_consumed_operation_once_and_answers_each_caller(
        queue in proptest::collection::vec((0u8..5, 0u64..3, any::<bool>()), 0..40),
    ) {
        let mut batch = Batch::new(entity("x"), (None, None, 0), queue.len(), NOW);
        let mut runs = 0u64;
        let mut answered: Vec<(String, u64)> = Vec::new();
        for (id, (kind, who, waits)) in queue.iter().enumerate() {
            let who = format!("o{who}");
            let message = match kind {
                0 => op("add", None, false),
                1 => op("add", Some(caller(&who, id as u64)), false),
                2 => op("add", Some(caller(&who, id as u64)), true),
                3 => Message::EntityLock(EntityLockRequest { caller: caller(&who, id as u64), remaining: vec![] }),
                _ => Message::EntityUnlock { holder: LockHolder { instance_id: who.clone(), execution: 1 } },
            };
            let waits = *waits;
            match batch.offer(id as i64, message, &move |_| waits) {
                Offer::Run { operation, number } => {
                    prop_assert_eq!(number, runs);
                    runs += 1;
                    if let Some(caller) = &operation.caller {
                        answered.push((caller.instance_id.clone(), caller.task_id));
                    }
                    batch.ran(&operation, Ok(applied("1")));
                }
                Offer::End => break,
                _ => {}
            }
        }
        if let Some((commit, _)) = batch.finish("host") {
            prop_assert!(commit.consumed_messages.windows(2).all(|w| w[0] < w[1]), "in queue order");
            prop_assert_eq!(commit.operations, runs);
            for (instance, task) in &answered {
                let replies = commit
                    .outgoing
                    .iter()
                    .filter(|m| &m.instance_id == instance && matches!(m.message, Message::EntityCompleted { task_id, .. } if task_id == *task))
                    .count();
                prop_assert_eq!(replies, 1, "the caller of task {} is answered once", task);
            }
        } else {
            prop_assert_eq!(runs, 0);
        }
    }
}

#[test]
fn an_episode_that_answers_updates_keeps_the_answers_and_wakes_their_callers() {
    let subject = Subject::new();
    let reply = crate::UpdateReply::Output(payload("12"));
    let events = vec![
        Event::EpisodeStarted { time: NOW },
        Event::UpdateReceived { update_id: "u1".into(), name: "deposit".into(), input: payload("5") },
        Event::UpdateReplied { update_id: "u1".into(), reply: reply.clone() },
    ];
    let planned = plan(subject.episode(numbered(4, events, None)), Facts::default(), claims(0));
    assert_eq!(planned.commit.update_replies, [crate::UpdateAnswer { update_id: "u1".into(), reply }]);
    assert!(planned.after.contains(&AfterCommit::Notify), "the caller waits for the answer: {:?}", planned.after);

    // Without answers, a running episode wakes no waiter.
    let quiet = vec![Event::EpisodeStarted { time: NOW }, scheduled(0, "a")];
    let planned = plan(subject.episode(numbered(4, quiet, None)), Facts::default(), claims(0));
    assert!(planned.commit.update_replies.is_empty());
    assert!(!planned.after.contains(&AfterCommit::Notify));
}
