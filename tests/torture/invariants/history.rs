//! Well-formed histories: each execution opens with an episode that starts it; episode times
//! never go backwards; every task is scheduled once, under the next handle, and completed at
//! most once, by a completion of its own kind that comes after it; no timer fires before its
//! time; events go to the oldest wait of their name; nothing follows the terminal event, which
//! agrees with the instance's status (an execution before the last ends by continuing as new,
//! and the next one starts with the input it gave; or, for a retried sub-orchestration, by
//! failing, and the next one starts with the same input).

use super::{Findings, Invariant, Stored};
use reprise_core::{Event, HistoryEvent, RuntimeStatus, TaskId};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// What a task handle was scheduled as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Activity,
    SubOrchestration,
    Timer,
    EventWait,
    EntityCall,
    Lock,
}

/// Checks every execution of one instance.
pub(super) fn check(id: &str, stored: &Stored, findings: &mut Findings) {
    let last = stored.executions.len() as u32;
    let record = &stored.record;
    for (index, history) in stored.executions.iter().enumerate() {
        let execution = index as u32 + 1;
        let history = match history {
            Ok(history) => history,
            Err(error) => {
                findings.add(id, Invariant::History, format!("execution {execution} cannot be read: {error}"));
                continue;
            }
        };
        let mut problems = Vec::new();
        well_formed(history, &mut problems);
        let end = history.iter().rev().find(|e| is_terminal(&e.event)).map(|e| &e.event);
        if execution < last {
            let next_input = match end {
                Some(Event::ExecutionContinuedAsNew { input }) => Some(input),
                Some(Event::ExecutionFailed { .. }) if record.parent.is_some() => started_with(history),
                _ => {
                    problems.push(format!("it is not the last execution but ends with {}", kind_of(end)));
                    None
                }
            };
            let next = stored.executions.get(index + 1).and_then(|h| h.as_ref().ok()).and_then(|h| started_with(h));
            if let (Some(wanted), Some(next)) = (next_input, next)
                && wanted != next
            {
                problems.push(format!("the next execution should start with {wanted}, it starts with {next}"));
            }
        } else {
            if record.history_len != history.len() as u64 {
                problems.push(format!("its row says {} events, its history has {}", record.history_len, history.len()));
            }
            let agrees = match record.status {
                RuntimeStatus::Completed => matches!(end, Some(Event::ExecutionCompleted { .. })),
                RuntimeStatus::Failed => matches!(end, Some(Event::ExecutionFailed { .. })),
                RuntimeStatus::Terminated => matches!(end, Some(Event::ExecutionTerminated { .. })),
                _ => end.is_none(),
            };
            if !agrees {
                problems.push(format!("its status is {} but its history ends with {}", record.status, kind_of(end)));
            }
        }
        for problem in problems {
            findings.add(id, Invariant::History, format!("execution {execution}: {problem}"));
        }
    }
}

/// The input an execution started with.
fn started_with(history: &[HistoryEvent]) -> Option<&reprise_core::Payload> {
    history.iter().find_map(|e| match &e.event {
        Event::ExecutionStarted { input, .. } => Some(input),
        _ => None,
    })
}

fn kind_of(event: Option<&Event>) -> &'static str {
    event.map_or("no terminal event", Event::kind)
}

fn is_terminal(event: &Event) -> bool {
    matches!(
        event,
        Event::ExecutionCompleted { .. }
            | Event::ExecutionFailed { .. }
            | Event::ExecutionTerminated { .. }
            | Event::ExecutionContinuedAsNew { .. }
    )
}

/// The handle and kind a scheduling event gives a task.
fn scheduled(event: &Event) -> Option<(TaskId, Kind)> {
    match event {
        Event::ActivityScheduled { task_id, .. } => Some((*task_id, Kind::Activity)),
        Event::SubOrchestrationScheduled { task_id, .. } => Some((*task_id, Kind::SubOrchestration)),
        Event::TimerScheduled { task_id, .. } => Some((*task_id, Kind::Timer)),
        Event::EventWaitStarted { task_id, .. } => Some((*task_id, Kind::EventWait)),
        Event::EntityCalled { task_id, .. } => Some((*task_id, Kind::EntityCall)),
        Event::EntityLockRequested { task_id, .. } => Some((*task_id, Kind::Lock)),
        _ => None,
    }
}

/// The task a completion completes, with the kinds it may complete.
fn completion(event: &Event) -> Option<(TaskId, &'static [Kind])> {
    match event {
        Event::ActivityCompleted { task_id, .. } | Event::ActivityFailed { task_id, .. } => {
            Some((*task_id, &[Kind::Activity]))
        }
        Event::SubOrchestrationCompleted { task_id, .. } | Event::SubOrchestrationFailed { task_id, .. } => {
            Some((*task_id, &[Kind::SubOrchestration]))
        }
        Event::TimerFired { task_id } => Some((*task_id, &[Kind::Timer])),
        Event::EntityCompleted { task_id, .. } => Some((*task_id, &[Kind::EntityCall, Kind::Lock])),
        Event::EntityFailed { task_id, .. } => Some((*task_id, &[Kind::EntityCall])),
        _ => None,
    }
}

/// Records a scheduled task: it must be new, and take the next handle.
fn check_scheduled(at: u64, event: &Event, tasks: &mut BTreeMap<TaskId, Kind>, problems: &mut Vec<String>) {
    let Some((task, kind)) = scheduled(event) else { return };
    if tasks.insert(task, kind).is_some() {
        problems.push(format!("seq {at}: task {task} scheduled twice"));
    } else if task != tasks.len() as u64 - 1 {
        problems.push(format!("seq {at}: task {task} scheduled as the task number {}", tasks.len() - 1));
    }
}

/// The structural rules of one execution's history.
fn well_formed(history: &[HistoryEvent], problems: &mut Vec<String>) {
    if !matches!(history.first().map(|e| &e.event), Some(Event::EpisodeStarted { .. })) {
        problems.push("it does not open with EpisodeStarted".into());
    }
    if !matches!(history.get(1).map(|e| &e.event), Some(Event::ExecutionStarted { .. })) {
        problems.push("its first episode does not deliver ExecutionStarted first".into());
    }
    let mut last_time = 0;
    let mut tasks: BTreeMap<TaskId, Kind> = BTreeMap::new();
    let mut fire_at: HashMap<TaskId, u64> = HashMap::new();
    let mut completed: BTreeSet<TaskId> = BTreeSet::new();
    let mut waits: VecDeque<(TaskId, &str)> = VecDeque::new();
    let mut buffered: HashMap<&str, usize> = HashMap::new();
    let mut starts = 0;
    let mut terminal: Option<&HistoryEvent> = None;
    for event in history {
        let at = event.seq;
        if let Some(end) = terminal {
            problems.push(format!("seq {at}: {} after the terminal {}", event.event.kind(), end.event.kind()));
            continue;
        }
        match &event.event {
            Event::EpisodeStarted { time } => {
                if *time < last_time {
                    problems
                        .push(format!("seq {at}: an episode starts at {time}, before the previous one ({last_time})"));
                }
                last_time = last_time.max(*time);
            }
            Event::ExecutionStarted { .. } => starts += 1,
            Event::TimerScheduled { task_id, fire_at: at_time } => {
                fire_at.insert(*task_id, *at_time);
                check_scheduled(at, &event.event, &mut tasks, problems);
            }
            Event::EventRaised { name, .. } => match waits.iter().position(|(_, wanted)| wanted == name) {
                Some(index) => {
                    let (task, _) = waits.remove(index).expect("position is in range");
                    completed.insert(task);
                }
                None => *buffered.entry(name.as_str()).or_default() += 1,
            },
            Event::ActivityRetrying { task_id, .. } | Event::SubOrchestrationRetrying { task_id, .. } => {
                let want = if matches!(event.event, Event::ActivityRetrying { .. }) {
                    Kind::Activity
                } else {
                    Kind::SubOrchestration
                };
                match tasks.get(task_id) {
                    Some(kind) if *kind != want => {
                        problems.push(format!("seq {at}: {} for task {task_id}, a {kind:?}", event.event.kind()))
                    }
                    None => {
                        problems.push(format!("seq {at}: {} for task {task_id}, never scheduled", event.event.kind()))
                    }
                    Some(_) if completed.contains(task_id) => {
                        problems.push(format!("seq {at}: {} for task {task_id}, already completed", event.event.kind()))
                    }
                    Some(_) => {}
                }
            }
            other if is_terminal(other) => terminal = Some(event),
            other => {
                if let Some((task, _)) = scheduled(other) {
                    check_scheduled(at, other, &mut tasks, problems);
                    if let Event::EventWaitStarted { name, .. } = other {
                        match buffered.get_mut(name.as_str()) {
                            Some(count) if *count > 0 => {
                                *count -= 1;
                                completed.insert(task);
                            }
                            _ => waits.push_back((task, name)),
                        }
                    }
                } else if let Some((task, kinds)) = completion(other) {
                    if let (Event::TimerFired { .. }, Some(due)) = (other, fire_at.get(&task))
                        && last_time < *due
                    {
                        problems
                            .push(format!("seq {at}: timer {task} due at {due} fired in an episode at {last_time}"));
                    }
                    match tasks.get(&task) {
                        None => problems.push(format!("seq {at}: {} of task {task}, never scheduled", other.kind())),
                        Some(kind) if !kinds.contains(kind) => {
                            problems.push(format!("seq {at}: {} of task {task}, a {kind:?}", other.kind()))
                        }
                        Some(_) if !completed.insert(task) => {
                            problems.push(format!("seq {at}: {} of task {task}, already completed", other.kind()))
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    if starts != 1 {
        problems.push(format!("{starts} ExecutionStarted events"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(events: Vec<Event>) -> Vec<HistoryEvent> {
        events.into_iter().enumerate().map(|(seq, event)| HistoryEvent { seq: seq as u64, event }).collect()
    }

    fn problems(events: Vec<Event>) -> Vec<String> {
        let mut problems = Vec::new();
        well_formed(&history(events), &mut problems);
        problems
    }

    fn start() -> Vec<Event> {
        vec![
            Event::EpisodeStarted { time: 10 },
            Event::ExecutionStarted {
                name: "chain".into(),
                input: reprise_core::Payload::stored("{}"),
                component: "c".into(),
            },
        ]
    }

    fn activity(task_id: TaskId) -> Event {
        Event::ActivityScheduled {
            task_id,
            name: "work".into(),
            input: reprise_core::Payload::stored("{}"),
            options: Default::default(),
        }
    }

    #[test]
    fn a_sound_history_has_no_problem() {
        let mut events = start();
        events.extend([
            activity(0),
            Event::EventWaitStarted { task_id: 1, name: "go".into() },
            Event::EpisodeStarted { time: 20 },
            Event::ActivityCompleted { task_id: 0, output: reprise_core::Payload::stored("1") },
            Event::EventRaised { name: "go".into(), data: reprise_core::Payload::stored("2") },
            Event::ExecutionCompleted { output: reprise_core::Payload::stored("3") },
        ]);
        assert_eq!(problems(events), Vec::<String>::new());
    }

    #[test]
    fn double_completions_time_travel_and_events_after_the_end_are_problems() {
        let mut events = start();
        events.extend([
            activity(0),
            Event::EpisodeStarted { time: 5 },
            Event::ActivityCompleted { task_id: 0, output: reprise_core::Payload::stored("1") },
            Event::ActivityCompleted { task_id: 0, output: reprise_core::Payload::stored("1") },
            Event::TimerFired { task_id: 0 },
            Event::ExecutionCompleted { output: reprise_core::Payload::stored("3") },
            Event::ActivityCompleted { task_id: 0, output: reprise_core::Payload::stored("1") },
        ]);
        let found = problems(events);
        assert!(found.iter().any(|p| p.contains("before the previous one")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("seq 5: ActivityCompleted of task 0, already completed")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("seq 6: TimerFired of task 0, a Activity")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("seq 8: ActivityCompleted after the terminal")), "{found:?}");
    }

    #[test]
    fn a_timer_that_fires_early_is_a_problem() {
        let mut events = start();
        events.extend([
            Event::TimerScheduled { task_id: 0, fire_at: 100 },
            Event::EpisodeStarted { time: 99 },
            Event::TimerFired { task_id: 0 },
            Event::ExecutionCompleted { output: reprise_core::Payload::stored("3") },
        ]);
        assert_eq!(problems(events), ["seq 4: timer 0 due at 100 fired in an episode at 99"]);
    }
}
