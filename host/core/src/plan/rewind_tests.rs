//! The rewind, from the planner's decision to the replays that follow it, with a fan-out
//! orchestrator written against the replayer (a stand-in for guest code).

use super::*;
use crate::flow::NO_LIMITS;
use crate::replay::{Advance, Replayer, Terminal, WaitOutcome};
use crate::{Failure, Message};

/// Fans out to activities `a` and `b` and a timer (task 2) unless `timer` is false, waits for all,
/// and fails with the first failure, or completes.
fn fan_out(replayer: &mut Replayer, timer: bool) -> Result<bool, crate::replay::ReplayError> {
    if replayer.advance()? == Advance::Blocked {
        return Ok(false);
    }
    let mut tasks = vec![
        replayer.schedule_activity("a", Payload::null(), Default::default())?,
        replayer.schedule_activity("b", Payload::null(), Default::default())?,
    ];
    if timer {
        tasks.push(replayer.schedule_timer(5_000)?);
    }
    loop {
        match replayer.wait_all(&tasks)? {
            WaitOutcome::Ready(done) => {
                match done.into_iter().find_map(|c| c.outcome.err()) {
                    Some(failure) => replayer.fail(failure)?,
                    None => replayer.complete(Payload::null())?,
                }
                return Ok(true);
            }
            WaitOutcome::Pending => {
                if replayer.advance()? == Advance::Blocked {
                    return Ok(false);
                }
            }
        }
    }
}

/// Runs `fan_out` on `history` with `messages` delivered, and returns the new events and end.
fn episode(history: &[HistoryEvent], messages: Vec<Message>, timer: bool) -> (Vec<HistoryEvent>, Option<Terminal>) {
    let mut replayer = Replayer::new("i", 1, "c", history.to_vec()).unwrap();
    replayer.deliver(10, messages);
    fan_out(&mut replayer, timer).unwrap();
    let output = replayer.take_output();
    (output.events, output.terminal)
}

fn start() -> Message {
    Message::Start { name: "fan".into(), input: Payload::null() }
}

fn boom() -> Failure {
    Failure::new("Boom", "b failed")
}

/// A history that failed because `b` failed while `a` completed in the same episode.
fn failed(timer: bool) -> Vec<HistoryEvent> {
    let mut history = episode(&[], vec![start()], timer).0;
    let results = vec![
        Message::ActivityCompleted { task_id: 0, output: Payload::from_u64(1) },
        Message::ActivityFailed { task_id: 1, failure: boom() },
    ];
    let (events, terminal) = episode(&history, results, timer);
    history.extend(events);
    if !timer {
        assert!(matches!(terminal, Some(Terminal::Failed(_))));
    }
    history
}

fn kinds(events: &[HistoryEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.event.kind()).collect()
}

#[test]
fn a_failed_fan_out_undoes_its_failures_and_runs_only_the_failed_branch_again() {
    let history = failed(false);
    let analysis = analyse("i", RuntimeStatus::Failed, &history).unwrap();
    let failures: Vec<&str> = analysis.undone.iter().map(|seq| history[*seq as usize].event.kind()).collect();
    assert_eq!(failures, ["ActivityFailed", "ExecutionFailed"]);
    assert_eq!(analysis.activities.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["b"]);
    assert!(analysis.timers.is_empty() && analysis.children.is_empty());

    let written = instance_rewind(("i", 1, history.len() as u64), "fixed", analysis, Vec::new(), (&NO_LIMITS, 20));
    assert_eq!(written.expected_history_len, history.len() as u64);
    let rewind = written.messages[0].message.clone();
    assert!(matches!(&rewind, Message::Rewind { reason, .. } if reason == "fixed"));

    // The rewind's episode: `a` is still complete, `b` is in flight again.
    let mut history = history;
    let (events, terminal) = episode(&history, vec![rewind], false);
    assert_eq!(kinds(&events), ["EpisodeStarted", "ExecutionRewound"]);
    assert_eq!(terminal, None, "the orchestrator waits for b again");
    history.extend(events);

    let (events, terminal) =
        episode(&history, vec![Message::ActivityCompleted { task_id: 1, output: Payload::null() }], false);
    assert_eq!(terminal, Some(Terminal::Completed(Payload::null())));
    history.extend(events);

    // The whole history, replayed cold, ends the same way without a new event.
    let mut cold = Replayer::new("i", 1, "c", history.clone()).unwrap();
    assert!(fan_out(&mut cold, false).unwrap());
    let output = cold.take_output();
    assert!(output.events.is_empty(), "replay recorded {:?}", kinds(&output.events));
    assert!(matches!(cold.terminal(), Some(Terminal::Completed(_))));
}

#[test]
fn a_rewind_rewound_again_after_a_second_failure_replays() {
    let mut history = failed(false);
    for _ in 0..2 {
        let analysis = analyse("i", RuntimeStatus::Failed, &history).unwrap();
        let rewind = instance_rewind(("i", 1, history.len() as u64), "again", analysis, Vec::new(), (&NO_LIMITS, 20))
            .messages[0]
            .message
            .clone();
        history.extend(episode(&history, vec![rewind], false).0);
        let (events, terminal) =
            episode(&history, vec![Message::ActivityFailed { task_id: 1, failure: boom() }], false);
        assert!(matches!(terminal, Some(Terminal::Failed(_))));
        history.extend(events);
    }
    let mut cold = Replayer::new("i", 1, "c", history.clone()).unwrap();
    assert!(fan_out(&mut cold, false).unwrap());
    assert!(cold.take_output().events.is_empty());
    assert!(matches!(cold.terminal(), Some(Terminal::Failed(_))));
}

#[test]
fn a_timer_in_flight_when_the_instance_failed_is_set_again_at_its_fire_time() {
    let mut history = failed(true);
    // The fan-out waited for its timer too: it fails only once `all` returns, so end it here the
    // way a failure of its own code would after `b` failed.
    let mut replayer = Replayer::new("i", 1, "c", history.clone()).unwrap();
    replayer.deliver(30, vec![]);
    replayer.advance().unwrap();
    let _ = replayer.schedule_activity("a", Payload::null(), Default::default());
    let _ = replayer.schedule_activity("b", Payload::null(), Default::default());
    let _ = replayer.schedule_timer(5_000);
    replayer.abort(boom());
    history.extend(replayer.take_output().events);

    let analysis = analyse("i", RuntimeStatus::Failed, &history).unwrap();
    assert_eq!(analysis.timers, [(2, 5_000)]);
    let written = instance_rewind(("i", 1, history.len() as u64), "r", analysis, Vec::new(), (&NO_LIMITS, 20));
    let timer = &written.messages[1];
    assert_eq!((&timer.message, timer.visible_at), (&Message::TimerFired { task_id: 2 }, 5_000));
}

#[test]
fn what_is_not_a_failed_task_cannot_be_rewound() {
    let history = failed(false);
    let completed = analyse("i", RuntimeStatus::Completed, &history).unwrap_err();
    assert_eq!(completed.to_string(), "instance 'i' is Completed; only a Failed instance can be rewound");

    // Failed by its own code, right after its start.
    let mut replayer = Replayer::new("i", 1, "c", vec![]).unwrap();
    replayer.deliver(1, vec![start()]);
    replayer.advance().unwrap();
    replayer.fail(Failure::new("BadInput", "no")).unwrap();
    let own = replayer.take_output().events;
    let refusal = analyse("i", RuntimeStatus::Failed, &own).unwrap_err();
    assert!(matches!(refusal, RewindRefusal::NothingToUndo { .. }), "{refusal}");
    assert!(refusal.can_restart_instead());

    let running = &history[..history.len() - 1];
    assert!(matches!(analyse("i", RuntimeStatus::Failed, running), Err(RewindRefusal::History { .. })));
}

#[test]
fn a_rewind_delivered_to_a_history_that_did_not_fail_is_dropped() {
    let history = episode(&[], vec![start()], false).0;
    let rewind = Message::Rewind { reason: "r".into(), replay_from: 0, undone: vec![2] };
    let (events, terminal) = episode(&history, vec![rewind], false);
    assert_eq!(kinds(&events), ["EpisodeStarted"]);
    assert_eq!(terminal, None);
}

#[test]
fn children_are_rewound_restarted_delivered_or_awaited_as_they_ended() {
    let child = ChildTask {
        task_id: 3,
        instance_id: InstanceId::new("p:1:3").unwrap(),
        name: "child".into(),
        input: Payload::null(),
        retry: None,
    };
    let ours = Some(ParentRef {
        instance_id: "p".into(),
        execution: 1,
        task_id: 3,
        retry: None,
        attempt: 2,
        first_started: 0,
    });
    let facts = |status, parent: Option<ParentRef>| ChildFacts { status, parent, output: Some(Payload::from_u64(7)) };
    let action = |facts: Option<&ChildFacts>| child_action("p", 1, &child, facts, 50);

    assert_eq!(action(Some(&facts(RuntimeStatus::Failed, ours.clone()))), Ok(ChildAction::Rewind));
    assert_eq!(action(Some(&facts(RuntimeStatus::Running, ours.clone()))), Ok(ChildAction::Wait));
    let Ok(ChildAction::Deliver(result)) = action(Some(&facts(RuntimeStatus::Completed, ours.clone()))) else {
        panic!("a completed child's result is delivered");
    };
    assert_eq!(result.message, Message::SubOrchestrationCompleted { task_id: 3, output: Payload::from_u64(7) });
    assert_eq!(result.execution, Some(1));
    for restarted in [action(Some(&facts(RuntimeStatus::Terminated, ours))), action(None)] {
        let Ok(ChildAction::Restart(new)) = restarted else { panic!("a terminated or missing child starts again") };
        assert_eq!(new.parent.as_ref().map(|p| (p.attempt, p.first_started)), Some((1, 50)));
    }
    let strangers = action(Some(&facts(RuntimeStatus::Failed, None)));
    assert!(matches!(strangers, Err(RewindRefusal::ChildReplaced { .. })));
}
