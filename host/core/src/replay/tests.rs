//! Tests of the replay engine, with a scripted orchestrator standing in for guest code.

use super::*;
use crate::{Event, Failure, HistoryEvent, Message, Payload, TaskId};
use proptest::prelude::*;

/// One step of a scripted orchestrator.
#[derive(Debug, Clone)]
enum Step {
    Schedule(&'static str),
    /// Wait for any of these (indices into the tasks scheduled so far, modulo their count).
    Any(Vec<usize>),
    All(Vec<usize>),
    Status(&'static str),
    /// Asks for the version of a change (newest `max`) and schedules `new` from version 1 on,
    /// `old` before it.
    Versioned {
        change: &'static str,
        max: u32,
        old: &'static str,
        new: &'static str,
    },
    Complete,
}

/// A scripted orchestrator: runs its steps against a replayer, resuming where it blocked.
#[derive(Debug, Default)]
struct Script {
    steps: Vec<Step>,
    pc: usize,
    tasks: Vec<TaskId>,
    observed: Vec<String>,
}

#[derive(Debug, PartialEq)]
enum Run {
    Blocked,
    Done,
}

impl Script {
    fn new(steps: Vec<Step>) -> Self {
        Script { steps, ..Default::default() }
    }

    fn pick(&self, picks: &[usize]) -> Vec<TaskId> {
        let mut chosen: Vec<TaskId> = picks.iter().map(|i| self.tasks[i % self.tasks.len()]).collect();
        chosen.dedup();
        chosen
    }

    fn run(&mut self, replayer: &mut Replayer) -> Result<Run, ReplayError> {
        while self.pc < self.steps.len() {
            match self.steps[self.pc].clone() {
                Step::Schedule(name) => {
                    let task = replayer.schedule_activity(name, Payload::stored("null"), Default::default())?;
                    self.tasks.push(task);
                }
                Step::Any(picks) if !self.tasks.is_empty() => {
                    let set = self.pick(&picks);
                    match replayer.wait_any(&set)? {
                        WaitOutcome::Ready(done) => self.observed.push(format!("{done:?}")),
                        WaitOutcome::Pending => match replayer.advance()? {
                            Advance::Blocked => return Ok(Run::Blocked),
                            _ => continue,
                        },
                    }
                }
                Step::All(picks) if !self.tasks.is_empty() => {
                    let set = self.pick(&picks);
                    match replayer.wait_all(&set)? {
                        WaitOutcome::Ready(done) => self.observed.push(format!("{done:?}")),
                        WaitOutcome::Pending => match replayer.advance()? {
                            Advance::Blocked => return Ok(Run::Blocked),
                            _ => continue,
                        },
                    }
                }
                Step::Any(_) | Step::All(_) => {}
                Step::Status(status) => replayer.set_custom_status(Some(Payload::stored(status.to_string()))),
                Step::Versioned { change, max, old, new } => {
                    let version = replayer.version(change, max)?;
                    self.observed.push(format!("{change}@{version}"));
                    let name = if version >= 1 { new } else { old };
                    self.tasks.push(replayer.schedule_activity(name, Payload::stored("null"), Default::default())?);
                }
                Step::Complete => {
                    replayer.complete(Payload::from_u64(self.observed.len() as u64))?;
                    return Ok(Run::Done);
                }
            }
            self.pc += 1;
        }
        replayer.complete(Payload::stored("null"))?;
        Ok(Run::Done)
    }
}

fn start() -> Message {
    Message::Start { name: "orch".into(), input: Payload::stored("1") }
}

fn ok(task_id: TaskId) -> Message {
    Message::ActivityCompleted { task_id, output: Payload::from_u64(task_id * 10) }
}

/// Opens the first episode and runs the script until it blocks.
fn begin(replayer: &mut Replayer, script: &mut Script) -> Result<Run, ReplayError> {
    match replayer.advance()? {
        Advance::Blocked => Ok(Run::Blocked),
        _ => script.run(replayer),
    }
}

fn kinds(events: &[HistoryEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.event.kind()).collect()
}

#[test]
fn a_chain_records_episodes_and_replays_without_new_events() {
    let steps = vec![Step::Schedule("a"), Step::Any(vec![0]), Step::Schedule("b"), Step::Any(vec![1]), Step::Complete];
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    let mut script = Script::new(steps.clone());
    hot.deliver(100, vec![start()]);
    assert_eq!(begin(&mut hot, &mut script).unwrap(), Run::Blocked);
    let first = hot.take_output();
    assert_eq!(kinds(&first.events), ["EpisodeStarted", "ExecutionStarted", "ActivityScheduled"]);
    assert_eq!(first.base_len, 0);

    hot.deliver(200, vec![ok(0)]);
    assert_eq!(script.run(&mut hot).unwrap(), Run::Blocked);
    hot.deliver(300, vec![ok(1)]);
    assert_eq!(script.run(&mut hot).unwrap(), Run::Done);
    let rest = hot.take_output();
    assert_eq!(rest.base_len, 3);
    assert_eq!(rest.terminal, Some(Terminal::Completed(Payload::stored("2"))));
    let history: Vec<HistoryEvent> = first.events.into_iter().chain(rest.events).collect();
    assert_eq!(history.iter().map(|e| e.seq).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());

    // Replaying the whole history issues the same commands and observes the same results.
    let mut cold = Replayer::new("i", 1, "c", history.clone()).unwrap();
    let mut again = Script::new(steps);
    assert_eq!(begin(&mut cold, &mut again).unwrap(), Run::Done);
    assert_eq!(again.observed, script.observed);
    assert!(cold.is_replaying());
    // A completed history replays into the same terminal with nothing new.
    let output = cold.take_output();
    assert!(output.events.is_empty());
}

#[test]
fn the_clock_follows_the_recorded_episode_times() {
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1_000, vec![start()]);
    hot.advance().unwrap();
    assert_eq!(hot.now(), 1_000);
    let task = hot.schedule_activity("a", Payload::stored("null"), Default::default()).unwrap();
    assert_eq!(hot.wait_any(&[task]).unwrap(), WaitOutcome::Pending);
    assert_eq!(hot.advance().unwrap(), Advance::Blocked);
    hot.deliver(5_000, vec![ok(task)]);
    assert_eq!(hot.advance().unwrap(), Advance::Live);
    assert_eq!(hot.now(), 5_000);
    let history = hot.take_output().events;

    let mut cold = Replayer::new("i", 1, "c", history).unwrap();
    cold.advance().unwrap();
    assert_eq!(cold.now(), 1_000);
    assert!(cold.is_replaying());
    cold.schedule_activity("a", Payload::stored("null"), Default::default()).unwrap();
    assert_eq!(cold.wait_any(&[0]).unwrap(), WaitOutcome::Pending);
    assert_eq!(cold.advance().unwrap(), Advance::Replayed);
    assert_eq!(cold.now(), 5_000);
    assert!(matches!(cold.wait_any(&[0]).unwrap(), WaitOutcome::Ready(_)));
    assert_eq!(cold.advance().unwrap(), Advance::Blocked);
}

fn history_of(steps: Vec<Step>, deliveries: Vec<Vec<Message>>) -> Vec<HistoryEvent> {
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    let mut script = Script::new(steps);
    hot.deliver(1, vec![start()]);
    begin(&mut hot, &mut script).unwrap();
    for (n, batch) in deliveries.into_iter().enumerate() {
        hot.deliver(n as u64 + 2, batch);
        script.run(&mut hot).unwrap();
    }
    hot.take_output().events
}

#[test]
fn a_changed_command_is_a_nondeterminism_error_naming_position_and_both_commands() {
    let history = history_of(vec![Step::Schedule("a"), Step::Any(vec![0])], vec![]);
    let mut cold = Replayer::new("i", 1, "c", history).unwrap();
    let mut changed = Script::new(vec![Step::Schedule("b"), Step::Any(vec![0])]);
    let error = begin(&mut cold, &mut changed).unwrap_err();
    assert_eq!(
        error,
        ReplayError::Nondeterminism {
            position: 2,
            recorded: "schedule activity 'a' (task 0)".into(),
            issued: "schedule activity 'b'".into(),
        }
    );
    assert!(error.to_string().contains("history position 2"));
}

#[test]
fn a_missing_command_and_an_extra_command_are_both_detected() {
    let history =
        history_of(vec![Step::Schedule("a"), Step::Schedule("b"), Step::All(vec![0, 1])], vec![vec![ok(0), ok(1)]]);
    // The new code waits where the history says it scheduled 'b'.
    let mut cold = Replayer::new("i", 1, "c", history.clone()).unwrap();
    let mut fewer = Script::new(vec![Step::Schedule("a"), Step::Any(vec![0]), Step::Complete]);
    let error = begin(&mut cold, &mut fewer).unwrap_err();
    assert!(
        matches!(&error, ReplayError::Nondeterminism { position: 3, issued, .. } if issued.contains("wait")),
        "{error}"
    );

    // The new code schedules a third task where the history says it blocked.
    let mut cold = Replayer::new("i", 1, "c", history).unwrap();
    let mut more =
        Script::new(vec![Step::Schedule("a"), Step::Schedule("b"), Step::All(vec![0, 1]), Step::Schedule("c")]);
    let error = begin(&mut cold, &mut more).unwrap_err();
    assert!(matches!(&error, ReplayError::Nondeterminism { issued, .. } if issued.contains("'c'")), "{error}");
}

#[test]
fn activity_failures_reach_the_orchestrator_wrapped_with_the_activity_name() {
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1, vec![start()]);
    hot.advance().unwrap();
    let task = hot.schedule_activity("credit", Payload::stored("{}"), Default::default()).unwrap();
    hot.advance().unwrap();
    hot.deliver(2, vec![Message::ActivityFailed { task_id: task, failure: Failure::new("AccountFrozen", "frozen") }]);
    hot.advance().unwrap();
    let WaitOutcome::Ready(done) = hot.wait_any(&[task]).unwrap() else { panic!("not ready") };
    let failure = done.outcome.unwrap_err();
    assert_eq!(failure.error_type, "ActivityFailed");
    assert_eq!(failure.causes[0].error_type, "AccountFrozen");
}

#[test]
fn duplicate_and_unknown_results_are_dropped() {
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1, vec![start(), start()]);
    hot.advance().unwrap();
    let task = hot.schedule_activity("a", Payload::stored("null"), Default::default()).unwrap();
    hot.deliver(2, vec![ok(task), ok(task), ok(7)]);
    hot.advance().unwrap();
    let events = hot.take_output().events;
    assert_eq!(
        kinds(&events),
        ["EpisodeStarted", "ExecutionStarted", "ActivityScheduled", "EpisodeStarted", "ActivityCompleted"]
    );
}

#[test]
fn waits_on_unknown_or_no_tasks_are_errors() {
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1, vec![start()]);
    hot.advance().unwrap();
    assert_eq!(hot.wait_any(&[3]).unwrap_err(), ReplayError::UnknownTask(3));
    assert_eq!(hot.wait_all(&[0]).unwrap_err(), ReplayError::UnknownTask(0));
    assert_eq!(hot.wait_any(&[]).unwrap_err(), ReplayError::EmptyWait);
}

#[test]
fn a_wait_all_polled_over_episodes_answers_like_a_fresh_one() {
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1, vec![start()]);
    hot.advance().unwrap();
    let tasks: Vec<TaskId> =
        (0..3).map(|_| hot.schedule_activity("a", Payload::stored("null"), Default::default()).unwrap()).collect();
    let mut wait = AllWait::new(vec![tasks[2], tasks[0], tasks[1]]);
    assert_eq!(hot.poll_all(&mut wait).unwrap(), WaitOutcome::Pending);
    // Completions arrive out of order, over two episodes.
    hot.deliver(2, vec![ok(tasks[2]), ok(tasks[1])]);
    assert_eq!(hot.advance().unwrap(), Advance::Live);
    assert_eq!(hot.poll_all(&mut wait).unwrap(), WaitOutcome::Pending);
    assert_eq!(hot.wait_all(&[tasks[2], tasks[1]]).unwrap().map(|done| done.len()), WaitOutcome::Ready(2));
    hot.deliver(3, vec![ok(tasks[0])]);
    assert_eq!(hot.advance().unwrap(), Advance::Live);
    let polled = hot.poll_all(&mut wait).unwrap();
    let fresh = hot.wait_all(&[tasks[2], tasks[0], tasks[1]]).unwrap();
    assert_eq!(polled, fresh);
    let WaitOutcome::Ready(done) = polled else { panic!("all three completed") };
    assert_eq!(done.iter().map(|c| c.task).collect::<Vec<_>>(), [2, 0, 1]);
    assert_eq!(done[0].outcome, Ok(Payload::stored("20")));

    // An unknown handle is refused on the first poll, whatever has completed.
    assert_eq!(hot.poll_all(&mut AllWait::new(vec![0, 9])).unwrap_err(), ReplayError::UnknownTask(9));
}

#[test]
fn an_abort_during_replay_appends_after_the_recorded_history() {
    let history = history_of(vec![Step::Schedule("a"), Step::Any(vec![0])], vec![]);
    let len = history.len() as u64;
    let mut cold = Replayer::new("i", 1, "c", history).unwrap();
    cold.advance().unwrap();
    cold.abort(Failure::new("CpuLimitExceeded", "spun"));
    let output = cold.take_output();
    assert_eq!(output.base_len, len);
    assert_eq!(output.events.len(), 1);
    assert_eq!(output.events[0].seq, len);
    assert!(matches!(output.terminal, Some(Terminal::Failed(_))));
    assert_eq!(
        cold.schedule_activity("x", Payload::stored("1"), Default::default()).unwrap_err(),
        ReplayError::AlreadyFinished
    );
}

#[test]
fn guids_are_unique_and_replayable() {
    let mut one = Replayer::new("i", 1, "c", vec![]).unwrap();
    let mut two = Replayer::new("i", 1, "c", vec![]).unwrap();
    let a: Vec<String> = (0..3).map(|_| one.new_guid()).collect();
    let b: Vec<String> = (0..3).map(|_| two.new_guid()).collect();
    assert_eq!(a, b);
    assert_ne!(a[0], a[1]);
    assert_ne!(Replayer::new("j", 1, "c", vec![]).unwrap().new_guid(), a[0]);
}

#[test]
fn corrupt_histories_are_refused() {
    let bad_seq = vec![HistoryEvent { seq: 1, event: Event::EpisodeStarted { time: 0 } }];
    assert!(matches!(Replayer::new("i", 1, "c", bad_seq), Err(ReplayError::CorruptHistory(_))));
    let bad_start = vec![HistoryEvent { seq: 0, event: Event::ExecutionCompleted { output: Payload::stored("1") } }];
    assert!(matches!(Replayer::new("i", 1, "c", bad_start), Err(ReplayError::CorruptHistory(_))));
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "c"]).prop_map(Step::Schedule),
        2 => prop::collection::vec(0usize..8, 1..4).prop_map(Step::Any),
        1 => prop::collection::vec(0usize..8, 1..4).prop_map(Step::All),
        1 => prop::sample::select(vec!["s1", "s2"]).prop_map(Step::Status),
    ]
}

proptest! {
    /// Whatever the orchestrator does and however results arrive, the cold path (replay from the
    /// committed history at every episode) produces exactly the events and observations of the
    /// hot path.
    #[test]
    fn hot_and_cold_paths_agree(
        steps in prop::collection::vec(step_strategy(), 1..24),
        order_seed in any::<u64>(),
        batch in 1usize..4,
    ) {
        let mut steps = steps;
        steps.push(Step::Complete);
        let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
        let mut hot_script = Script::new(steps.clone());
        let mut committed: Vec<HistoryEvent> = Vec::new();
        let mut outstanding: Vec<TaskId> = Vec::new();
        let mut delivered = 0;
        let mut rng = order_seed;
        let mut time = 10;
        hot.deliver(time, vec![start()]);
        let mut run = begin(&mut hot, &mut hot_script).unwrap();
        loop {
            let output = hot.take_output();
            prop_assert_eq!(output.base_len, committed.len() as u64);
            for event in &output.events {
                if let Event::ActivityScheduled { task_id, .. } = event.event {
                    outstanding.push(task_id);
                }
            }
            committed.extend(output.events);
            if run == Run::Done || outstanding.is_empty() {
                break;
            }
            // Deliver a pseudo-random batch of outstanding results.
            let mut messages = Vec::new();
            for _ in 0..batch.min(outstanding.len()) {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let index = (rng >> 33) as usize % outstanding.len();
                let task = outstanding.swap_remove(index);
                messages.push(if task % 3 == 2 {
                    Message::ActivityFailed { task_id: task, failure: Failure::new("E", "no") }
                } else {
                    ok(task)
                });
                delivered += 1;
            }
            time += 10;
            // The cold path: a fresh replayer over what is committed, given the same episode.
            let mut cold = Replayer::new("i", 1, "c", committed.clone()).unwrap();
            let mut cold_script = Script::new(steps.clone());
            cold.deliver(time, messages.clone());
            let cold_run = begin(&mut cold, &mut cold_script).unwrap();

            hot.deliver(time, messages);
            run = hot_script.run(&mut hot).unwrap();
            prop_assert_eq!(&cold_run, &run);
            let cold_output = cold.take_output();
            let hot_preview: Vec<Event> = {
                let output = hot.take_output();
                let events: Vec<Event> = output.events.iter().map(|e| e.event.clone()).collect();
                // Put them back in the committed log for the next round.
                for event in &output.events {
                    if let Event::ActivityScheduled { task_id, .. } = event.event {
                        outstanding.push(task_id);
                    }
                }
                committed.extend(output.events);
                events
            };
            let cold_events: Vec<Event> = cold_output.events.into_iter().map(|e| e.event).collect();
            prop_assert_eq!(cold_events, hot_preview);
            prop_assert_eq!(&cold_script.observed, &hot_script.observed);
            prop_assert_eq!(cold.custom_status(), hot.custom_status());
            if run == Run::Done {
                break;
            }
        }
        prop_assert!(delivered <= committed.len());
        // A final full replay over the whole history reproduces every observation.
        let mut full = Replayer::new("i", 1, "c", committed).unwrap();
        let mut full_script = Script::new(steps);
        let full_run = begin(&mut full, &mut full_script).unwrap();
        prop_assert_eq!(full_run, run);
        prop_assert_eq!(full_script.observed, hot_script.observed);
    }
}

#[test]
fn timers_complete_with_their_fire_time_and_replay() {
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1_000, vec![start()]);
    hot.advance().unwrap();
    let timer = hot.schedule_timer(6_000).unwrap();
    assert_eq!(hot.wait_any(&[timer]).unwrap(), WaitOutcome::Pending);
    hot.advance().unwrap();
    hot.deliver(6_000, vec![Message::TimerFired { task_id: timer }, Message::TimerFired { task_id: timer }]);
    hot.advance().unwrap();
    let WaitOutcome::Ready(done) = hot.wait_any(&[timer]).unwrap() else { panic!("timer did not fire") };
    assert_eq!(done.outcome, Ok(Payload::stored("6000")));
    let history = hot.take_output().events;
    assert_eq!(
        kinds(&history),
        ["EpisodeStarted", "ExecutionStarted", "TimerScheduled", "EpisodeStarted", "TimerFired"],
        "the duplicate firing is dropped"
    );
    let mut cold = Replayer::new("i", 1, "c", history).unwrap();
    cold.advance().unwrap();
    let timer = cold.schedule_timer(6_000).unwrap();
    cold.advance().unwrap();
    assert!(matches!(cold.wait_any(&[timer]).unwrap(), WaitOutcome::Ready(_)));
}

#[test]
fn events_raised_before_a_wait_are_buffered_in_order() {
    let raised = |data: &str| Message::EventRaised { name: "Approval".into(), data: Payload::stored(data) };
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(
        1,
        vec![
            start(),
            raised("1"),
            raised("2"),
            Message::EventRaised { name: "Other".into(), data: Payload::stored("x") },
        ],
    );
    hot.advance().unwrap();
    let first = hot.wait_for_event("Approval").unwrap();
    let second = hot.wait_for_event("Approval").unwrap();
    let third = hot.wait_for_event("Approval").unwrap();
    let outcome = |r: &mut Replayer, task| match r.wait_any(&[task]).unwrap() {
        WaitOutcome::Ready(done) => Some(done.outcome.unwrap()),
        WaitOutcome::Pending => None,
    };
    assert_eq!(outcome(&mut hot, first), Some(Payload::stored("1")));
    assert_eq!(outcome(&mut hot, second), Some(Payload::stored("2")));
    assert_eq!(outcome(&mut hot, third), None);
    hot.advance().unwrap();
    hot.deliver(2, vec![raised("3")]);
    hot.advance().unwrap();
    assert_eq!(outcome(&mut hot, third), Some(Payload::stored("3")));

    // Replay matches the same events to the same waits.
    let history = hot.take_output().events;
    let mut cold = Replayer::new("i", 1, "c", history).unwrap();
    cold.advance().unwrap();
    let waits: Vec<TaskId> = (0..3).map(|_| cold.wait_for_event("Approval").unwrap()).collect();
    assert_eq!(outcome(&mut cold, waits[1]), Some(Payload::stored("2")));
    cold.advance().unwrap();
    assert_eq!(outcome(&mut cold, waits[2]), Some(Payload::stored("3")));
}

#[test]
fn retry_records_are_audit_only_and_a_changed_event_wait_is_nondeterminism() {
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1, vec![start()]);
    hot.advance().unwrap();
    let task = hot.schedule_activity("flaky", Payload::stored("null"), Default::default()).unwrap();
    hot.wait_for_event("Go").unwrap();
    hot.advance().unwrap();
    let retrying = Message::ActivityRetrying {
        task_id: task,
        attempt: 1,
        failure: Failure::new("Transient", "x"),
        next_attempt_at: 50,
    };
    hot.deliver(2, vec![retrying]);
    hot.advance().unwrap();
    assert_eq!(hot.wait_any(&[task]).unwrap(), WaitOutcome::Pending, "a retry does not complete the task");
    let history = hot.take_output().events;
    assert!(kinds(&history).contains(&"ActivityRetrying"));

    let mut cold = Replayer::new("i", 1, "c", history).unwrap();
    cold.advance().unwrap();
    cold.schedule_activity("flaky", Payload::stored("null"), Default::default()).unwrap();
    let error = cold.wait_for_event("Stop").unwrap_err();
    assert!(
        matches!(&error, ReplayError::Nondeterminism { recorded, issued, .. }
            if recorded.contains("'Go'") && issued.contains("'Stop'")),
        "{error}"
    );
}

#[test]
fn entity_calls_complete_or_fail_wrapped_and_replay_checks_entity_and_operation() {
    let counter = crate::EntityId::new("Counter", "c1").unwrap();
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1, vec![start()]);
    hot.advance().unwrap();
    let add = hot.call_entity(&counter, "add", Payload::stored("5")).unwrap();
    hot.signal_entity(&counter, "reset", Payload::stored("null")).unwrap();
    let get = hot.call_entity(&counter, "get", Payload::stored("null")).unwrap();
    assert_eq!(hot.wait_all(&[add, get]).unwrap(), WaitOutcome::Pending);
    hot.advance().unwrap();
    hot.deliver(
        2,
        vec![
            Message::EntityFailed { task_id: add, failure: Failure::new("InvalidOperation", "no") },
            Message::EntityCompleted { task_id: get, output: Payload::stored("0") },
            // A duplicate and a result for a task that is not an entity call are dropped.
            Message::EntityCompleted { task_id: get, output: Payload::stored("9") },
            Message::EntityOperation(crate::EntityOperation {
                operation: "add".into(),
                input: Payload::stored("1"),
                caller: None,
                in_critical_section: false,
            }),
        ],
    );
    hot.advance().unwrap();
    let WaitOutcome::Ready(done) = hot.wait_all(&[add, get]).unwrap() else { panic!("calls did not complete") };
    let failure = done[0].outcome.clone().unwrap_err();
    assert_eq!(failure.error_type, "EntityOperationFailed");
    assert_eq!(failure.message, "operation 'add' on entity @Counter@c1 failed: no");
    assert_eq!(failure.causes[0].error_type, "InvalidOperation");
    assert!(failure.is("InvalidOperation"));
    assert_eq!(done[1].outcome, Ok(Payload::stored("0")));
    let history = hot.take_output().events;
    assert_eq!(
        kinds(&history),
        [
            "EpisodeStarted",
            "ExecutionStarted",
            "EntityCalled",
            "EntitySignaled",
            "EntityCalled",
            "EpisodeStarted",
            "EntityFailed",
            "EntityCompleted"
        ]
    );

    // Replay answers the calls from history; another operation at the same position is
    // nondeterminism.
    let mut cold = Replayer::new("i", 1, "c", history.clone()).unwrap();
    cold.advance().unwrap();
    let add = cold.call_entity(&counter, "add", Payload::stored("5")).unwrap();
    cold.signal_entity(&counter, "reset", Payload::stored("null")).unwrap();
    let get = cold.call_entity(&counter, "get", Payload::stored("null")).unwrap();
    cold.advance().unwrap();
    assert!(matches!(cold.wait_all(&[add, get]).unwrap(), WaitOutcome::Ready(_)));
    let mut changed = Replayer::new("i", 1, "c", history).unwrap();
    changed.advance().unwrap();
    let error = changed.call_entity(&counter, "subtract", Payload::stored("5")).unwrap_err();
    assert!(
        matches!(&error, ReplayError::Nondeterminism { recorded, issued, .. }
            if recorded.contains("'add'") && issued.contains("'subtract'")),
        "{error}"
    );
}

#[test]
fn critical_sections_lock_in_sorted_order_guard_calls_and_replay() {
    let (a, b, c) = (
        crate::EntityId::new("Account", "a").unwrap(),
        crate::EntityId::new("Account", "b").unwrap(),
        crate::EntityId::new("Account", "c").unwrap(),
    );
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1, vec![start()]);
    hot.advance().unwrap();
    let lock = hot.lock_entities(&[b.clone(), a.clone(), b.clone()]).unwrap();
    // Nothing may happen with the entities until the locks are held.
    assert!(matches!(hot.call_entity(&a, "get", Payload::stored("null")), Err(ReplayError::LockViolation(_))));
    assert!(matches!(hot.unlock_entities(), Err(ReplayError::LockViolation(_))));
    assert!(matches!(hot.lock_entities(std::slice::from_ref(&c)), Err(ReplayError::LockViolation(_))));
    hot.advance().unwrap();
    hot.deliver(2, vec![Message::EntityCompleted { task_id: lock, output: Payload::stored("null") }]);
    hot.advance().unwrap();
    assert!(matches!(hot.wait_any(&[lock]).unwrap(), WaitOutcome::Ready(_)));
    let get = hot.call_entity(&a, "get", Payload::stored("null")).unwrap();
    let error = hot.call_entity(&c, "get", Payload::stored("null")).unwrap_err();
    assert!(error.to_string().contains("@Account@c is not one of [@Account@a, @Account@b]"), "{error}");
    assert!(matches!(hot.lock_entities(std::slice::from_ref(&c)), Err(ReplayError::LockViolation(_))), "no nesting");
    hot.unlock_entities().unwrap();
    hot.unlock_entities().unwrap(); // a second release is a no-op
    let outside = hot.call_entity(&c, "get", Payload::stored("null")).unwrap();
    let history = hot.take_output().events;
    let locked: Vec<(u64, bool)> = history
        .iter()
        .filter_map(|e| match &e.event {
            Event::EntityCalled { task_id, in_critical_section, .. } => Some((*task_id, *in_critical_section)),
            _ => None,
        })
        .collect();
    assert_eq!(locked, [(get, true), (outside, false)]);
    assert!(
        history
            .iter()
            .any(|e| e.event == Event::EntityLockRequested { task_id: lock, entities: vec![a.clone(), b.clone()] })
    );
    assert!(crate::locks_held_after(history.iter().map(|e| &e.event)).is_empty());
    let before_unlock: Vec<&Event> =
        history.iter().map(|e| &e.event).take_while(|e| !matches!(e, Event::EntitiesUnlocked { .. })).collect();
    assert_eq!(crate::locks_held_after(before_unlock), [a.clone(), b.clone()]);

    // Replay takes the same locks, and a critical section over other entities is nondeterminism.
    let mut cold = Replayer::new("i", 1, "c", history.clone()).unwrap();
    cold.advance().unwrap();
    let lock = cold.lock_entities(&[a.clone(), b.clone()]).unwrap();
    cold.advance().unwrap();
    assert!(matches!(cold.wait_any(&[lock]).unwrap(), WaitOutcome::Ready(_)));
    cold.call_entity(&a, "get", Payload::stored("null")).unwrap();
    cold.unlock_entities().unwrap();
    let mut changed = Replayer::new("i", 1, "c", history).unwrap();
    changed.advance().unwrap();
    assert!(matches!(changed.lock_entities(&[a, c]), Err(ReplayError::Nondeterminism { .. })));
}

#[test]
fn continue_as_new_carries_unseen_events_in_arrival_order_with_those_of_abandoned_waits() {
    let raised = |name: &str, data: &str| Message::EventRaised { name: name.into(), data: Payload::stored(data) };
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    hot.deliver(1, vec![start(), raised("B", "b1")]);
    hot.advance().unwrap();
    // Wait for A against a timer; the timer wins, and A arrives later: the wait is abandoned.
    let wait_a = hot.wait_for_event("A").unwrap();
    let timer = hot.schedule_timer(50).unwrap();
    hot.advance().unwrap();
    hot.deliver(50, vec![Message::TimerFired { task_id: timer }]);
    hot.advance().unwrap();
    let WaitOutcome::Ready(won) = hot.wait_any(&[wait_a, timer]).unwrap() else { panic!("the timer fired") };
    assert_eq!(won.task, timer);
    hot.advance().unwrap();
    hot.deliver(60, vec![raised("A", "a1"), raised("C", "c1")]);
    hot.advance().unwrap();
    // A wait whose event the orchestrator did see is not carried.
    let wait_c = hot.wait_for_event("C").unwrap();
    assert!(matches!(hot.wait_any(&[wait_c]).unwrap(), WaitOutcome::Ready(_)));
    hot.request_continue_as_new(Payload::stored("null"), true).unwrap();
    hot.complete(Payload::stored("null")).unwrap();
    let Some(Terminal::ContinuedAsNew { carried, .. }) = hot.terminal().cloned() else { panic!("not continued") };
    assert_eq!(carried, [("B".to_string(), Payload::stored("b1")), ("A".to_string(), Payload::stored("a1"))]);
}

fn limited(max_events: u64, max_bytes: u64, max_episode_events: u64) -> Replayer {
    let mut replayer = Replayer::new("limited", 1, "c", Vec::new()).unwrap().with_limits(HistoryLimits {
        max_events,
        max_bytes,
        max_episode_events,
    });
    replayer.deliver(0, vec![start()]);
    replayer.advance().unwrap();
    replayer
}

#[test]
fn commands_beyond_the_episode_limit_are_refused_but_the_end_is_not() {
    let mut replayer = limited(1_000, u64::MAX, 3);
    for _ in 0..3 {
        replayer.schedule_activity("a", Payload::null(), Default::default()).unwrap();
    }
    let refused = replayer.schedule_activity("a", Payload::null(), Default::default()).unwrap_err();
    assert_eq!(refused, ReplayError::LimitExceeded(LimitExceeded::Episode(3)));
    assert!(refused.to_string().contains("--max-episode-events"), "{refused}");
    replayer.complete(Payload::null()).expect("an orchestrator at its limit can still finish");
}

#[test]
fn the_episode_limit_counts_one_episode_at_a_time() {
    let mut replayer = limited(1_000, u64::MAX, 2);
    let first = replayer.schedule_activity("a", Payload::null(), Default::default()).unwrap();
    replayer.schedule_activity("a", Payload::null(), Default::default()).unwrap();
    replayer.take_output();
    replayer.deliver(1, vec![Message::ActivityCompleted { task_id: first, output: Payload::null() }]);
    assert_eq!(replayer.advance().unwrap(), Advance::Live);
    replayer.schedule_activity("b", Payload::null(), Default::default()).unwrap();
    replayer.schedule_activity("b", Payload::null(), Default::default()).expect("a new episode starts a new count");
}

#[test]
fn the_history_limits_count_recorded_and_new_events() {
    // EpisodeStarted and ExecutionStarted are the first two events.
    let mut replayer = limited(4, u64::MAX, 100);
    replayer.schedule_activity("a", Payload::null(), Default::default()).unwrap();
    replayer.schedule_activity("a", Payload::null(), Default::default()).unwrap();
    let refused = replayer.schedule_activity("a", Payload::null(), Default::default()).unwrap_err();
    assert_eq!(refused, ReplayError::LimitExceeded(LimitExceeded::Events(4)));

    let mut replayer = limited(1_000, 1_000, 100);
    let big = Payload::parse(format!("\"{}\"", "x".repeat(600)), usize::MAX).unwrap();
    replayer.schedule_activity("a", big.clone(), Default::default()).unwrap();
    let refused = replayer.schedule_activity("a", big, Default::default()).unwrap_err();
    assert_eq!(refused, ReplayError::LimitExceeded(LimitExceeded::Bytes(1_000)));
    assert!(refused.to_string().contains("--max-history-bytes"), "{refused}");
}

#[test]
fn a_refused_episode_drops_its_commands_and_keeps_its_deliveries() {
    let mut replayer = limited(1_000, u64::MAX, 2);
    let first = replayer.schedule_activity("a", Payload::null(), Default::default()).unwrap();
    let committed = replayer.take_output();
    replayer.deliver(1, vec![Message::ActivityCompleted { task_id: first, output: Payload::null() }]);
    replayer.advance().unwrap();
    replayer.schedule_activity("b", Payload::null(), Default::default()).unwrap();
    replayer.schedule_activity("b", Payload::null(), Default::default()).unwrap();
    let refused = replayer.schedule_activity("b", Payload::null(), Default::default()).unwrap_err();
    replayer.refuse_episode(Failure::new("HistoryLimitExceeded", refused.to_string()));
    let output = replayer.take_output();
    assert_eq!(output.base_len, committed.base_len + committed.events.len() as u64);
    let kinds: Vec<&str> = output.events.iter().map(|e| e.event.kind()).collect();
    assert_eq!(kinds, ["EpisodeStarted", "ActivityCompleted", "ExecutionFailed"]);
    let seqs: Vec<u64> = output.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (output.base_len..output.base_len + 3).collect::<Vec<_>>(), "numbered without a gap");
}

#[test]
fn a_version_is_recorded_live_and_read_back_on_replay() {
    let versioned = || {
        vec![
            Step::Schedule("a"),
            Step::Any(vec![0]),
            Step::Versioned { change: "use-c", max: 2, old: "b", new: "c" },
            Step::Any(vec![1]),
            Step::Complete,
        ]
    };
    let history = history_of(versioned(), vec![vec![ok(0)], vec![ok(1)]]);
    let marked: Vec<&Event> = history.iter().map(|e| &e.event).filter(|e| e.kind() == "VersionMarked").collect();
    assert_eq!(marked, [&Event::VersionMarked { change_id: "use-c".into(), version: 2 }]);
    assert!(history.iter().any(|e| matches!(&e.event, Event::ActivityScheduled { name, .. } if name == "c")));

    let mut cold = Replayer::new("i", 1, "c", history.clone()).unwrap();
    let mut again = Script::new(versioned());
    assert_eq!(begin(&mut cold, &mut again).unwrap(), Run::Done);
    assert!(again.observed.contains(&"use-c@2".to_string()), "{:?}", again.observed);
    assert!(cold.take_output().events.is_empty(), "a replayed version records nothing");

    // Code that no longer asks at the recorded point diverges there, naming the record.
    let mut cold = Replayer::new("i", 1, "c", history).unwrap();
    let mut removed = Script::new(vec![Step::Schedule("a"), Step::Any(vec![0]), Step::Schedule("c")]);
    let error = begin(&mut cold, &mut removed).unwrap_err();
    assert!(
        matches!(&error, ReplayError::Nondeterminism { recorded, .. } if recorded == "choose version 2 of change 'use-c'"),
        "{error}"
    );
}

#[test]
fn a_history_from_before_the_change_replays_on_the_old_path_with_version_zero() {
    // The old code scheduled 'b' after 'a', and is now waiting for 'b'.
    let old = vec![Step::Schedule("a"), Step::Any(vec![0]), Step::Schedule("b"), Step::Any(vec![1]), Step::Complete];
    let history = history_of(old, vec![vec![ok(0)]]);
    let versioned = vec![
        Step::Schedule("a"),
        Step::Any(vec![0]),
        Step::Versioned { change: "use-c", max: 1, old: "b", new: "c" },
        Step::Any(vec![1]),
        Step::Versioned { change: "use-c", max: 1, old: "b2", new: "c2" },
        Step::Any(vec![2]),
        Step::Complete,
    ];
    let mut cold = Replayer::new("i", 1, "c", history.clone()).unwrap();
    let mut script = Script::new(versioned.clone());
    assert_eq!(begin(&mut cold, &mut script).unwrap(), Run::Blocked, "it replays where v1 waited");
    assert!(cold.take_output().events.is_empty());
    // Live again, the change keeps the answer it had: the instance stays on the old path.
    cold.deliver(10, vec![ok(1)]);
    assert_eq!(script.run(&mut cold).unwrap(), Run::Blocked);
    let live = cold.take_output().events;
    assert!(live.iter().all(|e| e.event.kind() != "VersionMarked"), "{live:?}");
    assert!(live.iter().any(|e| matches!(&e.event, Event::ActivityScheduled { name, .. } if name == "b2")), "{live:?}");
    assert_eq!(script.observed.iter().filter(|o| o.as_str() == "use-c@0").count(), 2);

    // An instance that had not reached the change when it was upgraded takes the new path.
    let early = history_of(vec![Step::Schedule("a"), Step::Any(vec![0])], vec![]);
    let mut cold = Replayer::new("i", 1, "c", early).unwrap();
    let mut script = Script::new(versioned);
    assert_eq!(begin(&mut cold, &mut script).unwrap(), Run::Blocked);
    cold.deliver(10, vec![ok(0)]);
    assert_eq!(script.run(&mut cold).unwrap(), Run::Blocked);
    let live = cold.take_output().events;
    assert!(live.iter().any(|e| e.event == Event::VersionMarked { change_id: "use-c".into(), version: 1 }));
    assert!(live.iter().any(|e| matches!(&e.event, Event::ActivityScheduled { name, .. } if name == "c")), "{live:?}");
}

#[test]
fn a_component_upgrade_in_history_is_a_delivery_the_orchestrator_never_sees() {
    let steps = vec![Step::Schedule("a"), Step::Any(vec![0]), Step::Complete];
    let mut history = history_of(steps.clone(), vec![]);
    let len = history.len() as u64;
    history.push(HistoryEvent { seq: len, event: Event::EpisodeStarted { time: 50 } });
    let upgraded = Event::ComponentUpgraded { from: "old".into(), to: "new".into() };
    history.push(HistoryEvent { seq: len + 1, event: upgraded });
    let mut cold = Replayer::new("i", 1, "new", history).unwrap();
    let mut script = Script::new(steps);
    assert_eq!(begin(&mut cold, &mut script).unwrap(), Run::Blocked);
    assert_eq!(cold.position(), len + 2, "the upgrade's episode was replayed");
    cold.deliver(60, vec![ok(0)]);
    assert_eq!(script.run(&mut cold).unwrap(), Run::Done);
}

#[test]
fn updates_are_buffered_delivered_answered_once_and_replayed() {
    let requested = |id: &str, input: &str| Message::UpdateRequested {
        update_id: id.into(),
        name: "deposit".into(),
        input: Payload::stored(input),
    };
    let mut hot = Replayer::new("i", 1, "c", vec![]).unwrap();
    // One before any wait (buffered), and a duplicate of it (dropped).
    hot.deliver(1, vec![start(), requested("u1", "5"), requested("u1", "5")]);
    hot.advance().unwrap();
    let first = hot.wait_for_update("deposit").unwrap();
    let delivered = |r: &mut Replayer, task| match r.wait_any(&[task]).unwrap() {
        WaitOutcome::Ready(done) => Some(done.outcome.unwrap()),
        WaitOutcome::Pending => None,
    };
    assert_eq!(delivered(&mut hot, first), Some(Payload::stored("{\"id\":\"u1\",\"input\":5}")));
    hot.reply_update("u1", crate::UpdateReply::Output(Payload::stored("5"))).unwrap();
    assert_eq!(
        hot.reply_update("u1", crate::UpdateReply::Output(Payload::stored("6"))),
        Err(ReplayError::UnknownUpdate("u1".into())),
        "an update is answered once"
    );
    let second = hot.wait_for_update("deposit").unwrap();
    assert_eq!(delivered(&mut hot, second), None);
    hot.advance().unwrap();
    hot.deliver(2, vec![requested("u2", "7")]);
    hot.advance().unwrap();
    assert!(delivered(&mut hot, second).is_some());
    assert_eq!(
        hot.reply_update("never-sent", crate::UpdateReply::Output(Payload::null())),
        Err(ReplayError::UnknownUpdate("never-sent".into()))
    );
    let history = hot.take_output().events;
    let received: Vec<&Event> = history.iter().map(|e| &e.event).filter(|e| e.kind() == "UpdateReceived").collect();
    assert_eq!(received.len(), 2, "the duplicate request is not recorded: {received:?}");

    // Replay gives the same updates to the same waits, and checks the recorded answer.
    let mut cold = Replayer::new("i", 1, "c", history.clone()).unwrap();
    cold.advance().unwrap();
    let first = cold.wait_for_update("deposit").unwrap();
    assert!(delivered(&mut cold, first).is_some());
    cold.reply_update("u1", crate::UpdateReply::Output(Payload::stored("5"))).unwrap();
    let second = cold.wait_for_update("deposit").unwrap();
    cold.advance().unwrap();
    assert_eq!(delivered(&mut cold, second), Some(Payload::stored("{\"id\":\"u2\",\"input\":7}")));
    assert!(cold.take_output().events.is_empty(), "replay records nothing new");

    // Code that answers another update than the history recorded diverges.
    let mut changed = Replayer::new("i", 1, "c", history).unwrap();
    changed.advance().unwrap();
    let first = changed.wait_for_update("deposit").unwrap();
    assert!(delivered(&mut changed, first).is_some());
    let wait = changed.wait_for_update("deposit");
    assert!(matches!(wait, Err(ReplayError::Nondeterminism { .. })), "{wait:?}");
}
