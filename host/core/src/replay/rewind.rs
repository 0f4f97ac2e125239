//! How replay reads a history that holds rewinds ([`Event::ExecutionRewound`]).
//!
//! A rewind records two things (decided once, by `plan::rewind`, when it was asked for): the
//! positions of the failure events it undoes, and the position `replay_from` after the
//! orchestrator's last command before it failed. Replay reads such a history in an arranged
//! order: the undone events are left out (their tasks have no result, so they are in flight
//! again), and the deliveries recorded from `replay_from` up to the rewind are moved to right
//! after the rewind event, in their order. Between its last command and its failure the
//! orchestrator issued nothing, so moving what it received then changes no recorded command;
//! and once they are delivered at the rewind, whatever the orchestrator does with them (now
//! without the undone failures) is live, recorded after the rewind, instead of clashing with the
//! recorded episodes it spans. The history itself is never rewritten: rows stay as they were
//! appended, and this module only orders what replay reads.
//!
//! A rewind whose range holds another rewind moves that one (and what it had moved) too, so a
//! history rewound several times reads the same way each time. This module owns that order and
//! its checks; it never decides what a rewind undoes.

use super::ReplayError;
use crate::{Event, HistoryEvent};

/// Whether a rewind delivers `event` again when it is recorded in the rewind's range: every
/// delivery but the instance's start, which opens the history wherever it is.
pub(crate) fn redelivered(event: &Event) -> bool {
    super::replayer::is_delivery(event) && !matches!(event, Event::ExecutionStarted { .. })
}

/// The events of a history in the order replay reads them (see the module docs). `history` is
/// in `seq` order from 0, as [`super::Replayer::new`] checked.
pub(crate) fn arrange(history: Vec<HistoryEvent>) -> Result<Vec<HistoryEvent>, ReplayError> {
    let corrupt = |seq: u64, why: String| ReplayError::CorruptHistory(format!("the rewind at {seq} {why}"));
    if !history.iter().any(|e| matches!(e.event, Event::ExecutionRewound { .. })) {
        return Ok(history);
    }
    let len = history.len();
    let mut undone = vec![false; len];
    // For each event a rewind delivers again, the index of the (last) rewind that does.
    let mut moved_to: Vec<Option<usize>> = vec![None; len];
    for (at, event) in history.iter().enumerate() {
        let Event::ExecutionRewound { replay_from, undone: list, .. } = &event.event else { continue };
        let from = usize::try_from(*replay_from).unwrap_or(usize::MAX);
        if from > at {
            return Err(corrupt(event.seq, format!("replays from {replay_from}, after itself")));
        }
        let mut ends_failed = false;
        for &seq in list {
            let index = usize::try_from(seq).unwrap_or(usize::MAX);
            if index < from || index >= at {
                return Err(corrupt(event.seq, format!("undoes {seq}, outside {replay_from}..{}", event.seq)));
            }
            match &history[index].event {
                Event::ActivityFailed { .. } | Event::SubOrchestrationFailed { .. } => {}
                Event::ExecutionFailed { .. } => ends_failed = true,
                other => return Err(corrupt(event.seq, format!("undoes {seq}, a {}, not a failure", other.kind()))),
            }
            undone[index] = true;
        }
        if !ends_failed {
            return Err(corrupt(event.seq, "undoes no ExecutionFailed".into()));
        }
        for index in from..at {
            let recorded = &history[index].event;
            if undone[index] {
                continue;
            }
            if redelivered(recorded) {
                moved_to[index] = Some(at);
            } else if !matches!(recorded, Event::EpisodeStarted { .. } | Event::ExecutionStarted { .. }) {
                return Err(corrupt(
                    event.seq,
                    format!("replays from {replay_from}, before the {} at {index}", recorded.kind()),
                ));
            }
        }
    }

    let mut followers: Vec<Vec<usize>> = vec![Vec::new(); len];
    for (index, target) in moved_to.iter().enumerate() {
        if let Some(target) = target {
            followers[*target].push(index);
        }
    }
    let mut slots: Vec<Option<HistoryEvent>> = history.into_iter().map(Some).collect();
    let mut arranged = Vec::with_capacity(len);
    // Each event is taken once: in place, or right after the rewind it moved to (which comes
    // later than the event, so the walk ends). An explicit stack: rewinds may nest deeply.
    let mut stack = Vec::new();
    for index in 0..len {
        if undone[index] || moved_to[index].is_some() {
            continue;
        }
        stack.push(index);
        while let Some(next) = stack.pop() {
            if let Some(event) = slots[next].take() {
                arranged.push(event);
            }
            stack.extend(followers[next].iter().rev());
        }
    }
    Ok(arranged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Failure, Payload};

    fn numbered(events: Vec<Event>) -> Vec<HistoryEvent> {
        events.into_iter().enumerate().map(|(seq, event)| HistoryEvent { seq: seq as u64, event }).collect()
    }

    fn seqs(events: &[HistoryEvent]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    fn rewound(replay_from: u64, undone: Vec<u64>) -> Event {
        Event::ExecutionRewound { reason: "r".into(), replay_from, undone }
    }

    fn base() -> Vec<Event> {
        vec![
            Event::EpisodeStarted { time: 1 },
            Event::ExecutionStarted { name: "o".into(), input: Payload::null(), component: "c".into() },
            Event::ActivityScheduled {
                task_id: 0,
                name: "a".into(),
                input: Payload::null(),
                options: Default::default(),
            },
            Event::ActivityScheduled {
                task_id: 1,
                name: "b".into(),
                input: Payload::null(),
                options: Default::default(),
            },
            Event::EpisodeStarted { time: 2 },
            Event::ActivityCompleted { task_id: 0, output: Payload::null() },
            Event::EpisodeStarted { time: 3 },
            Event::ActivityFailed { task_id: 1, failure: Failure::new("X", "x") },
            Event::ExecutionFailed { failure: Failure::new("X", "x") },
        ]
    }

    #[test]
    fn a_history_without_rewinds_is_read_as_recorded() {
        let history = numbered(base());
        assert_eq!(arrange(history.clone()).unwrap(), history);
    }

    #[test]
    fn undone_failures_are_left_out_and_the_tail_moves_after_the_rewind() {
        let mut events = base();
        events.extend([Event::EpisodeStarted { time: 4 }, rewound(4, vec![7, 8])]);
        let arranged = arrange(numbered(events)).unwrap();
        assert_eq!(seqs(&arranged), [0, 1, 2, 3, 4, 6, 9, 10, 5]);
    }

    #[test]
    fn a_second_rewind_moves_the_first_with_what_it_moved() {
        let mut events = base();
        events.extend([
            Event::EpisodeStarted { time: 4 },
            rewound(4, vec![7, 8]),
            Event::EpisodeStarted { time: 5 },
            Event::ActivityFailed { task_id: 1, failure: Failure::new("X", "again") },
            Event::ExecutionFailed { failure: Failure::new("X", "again") },
            Event::EpisodeStarted { time: 6 },
            rewound(4, vec![12, 13]),
        ]);
        let arranged = arrange(numbered(events)).unwrap();
        assert_eq!(seqs(&arranged), [0, 1, 2, 3, 4, 6, 9, 11, 14, 15, 5, 10]);
    }

    #[test]
    fn a_rewind_that_does_not_fit_its_history_is_corrupt() {
        for bad in [rewound(10, vec![7, 8]), rewound(4, vec![7]), rewound(4, vec![5, 8]), rewound(2, vec![7, 8])] {
            let mut events = base();
            events.extend([Event::EpisodeStarted { time: 4 }, bad.clone()]);
            let error = arrange(numbered(events)).unwrap_err();
            assert!(matches!(error, ReplayError::CorruptHistory(_)), "{bad:?}: {error}");
        }
    }
}
