//! The replay engine: a stored history (JSON, up to the first 0xFF byte, which JSON text never
//! holds) replayed by an orchestrator whose calls and deliveries the rest of the bytes choose.
//! Every call ends in a value or a `ReplayError`, never a panic; the events handed out for
//! commit continue the history; a history that started well is accepted again afterwards.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use reprise_core::replay::{AllWait, Replayer};
use reprise_core::{EntityId, Event, Failure, HistoryEvent, Message};

const NAMES: &[&str] = &["a", "b", "Counter", "JobCompleted", ""];

fn name(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(3, 4)? { Ok(u.choose(NAMES)?.to_string()) } else { Ok(u.arbitrary::<String>()?) }
}

fn task(u: &mut Unstructured<'_>) -> Result<u64> {
    if u.ratio(7, 8)? { u.int_in_range(0..=8) } else { u.arbitrary() }
}

fn entity(u: &mut Unstructured<'_>) -> Result<EntityId> {
    let key = if u.ratio(1, 2)? { "k".to_string() } else { format!("k{}", u.arbitrary::<String>()?) };
    Ok(EntityId { name: u.choose(&["Counter", "Account"])?.to_string(), key })
}

fn failure(u: &mut Unstructured<'_>) -> Result<Failure> {
    Ok(Failure::new(name(u)?, u.arbitrary::<String>()?))
}

fn message(u: &mut Unstructured<'_>) -> Result<Message> {
    Ok(match u.int_in_range(0..=7)? {
        0 => Message::Start { name: name(u)?, input: reprise_core::Payload::stored("null") },
        1 => Message::ActivityCompleted { task_id: task(u)?, output: reprise_core::Payload::stored("1") },
        2 => Message::ActivityFailed { task_id: task(u)?, failure: failure(u)? },
        3 => Message::TimerFired { task_id: task(u)? },
        4 => Message::EventRaised { name: name(u)?, data: reprise_core::Payload::stored("2") },
        5 => Message::SubOrchestrationCompleted { task_id: task(u)?, output: reprise_core::Payload::stored("3") },
        6 => Message::EntityCompleted { task_id: task(u)?, output: reprise_core::Payload::stored("4") },
        _ => Message::EntityFailed { task_id: task(u)?, failure: failure(u)? },
    })
}

fn run(history: Vec<HistoryEvent>, u: &mut Unstructured<'_>) -> Result<()> {
    let mut committed = history.clone();
    let Ok(mut replayer) = Replayer::new("i", 1, "c", history) else { return Ok(()) };
    let mut waits: Vec<AllWait> = Vec::new();
    let take = |replayer: &mut Replayer, committed: &mut Vec<HistoryEvent>| {
        let output = replayer.take_output();
        assert_eq!(output.base_len, committed.len() as u64, "an output must continue what was taken");
        for (offset, event) in output.events.iter().enumerate() {
            assert_eq!(event.seq, output.base_len + offset as u64, "output events must be numbered in order");
        }
        committed.extend(output.events);
    };
    let mut steps = 0;
    while !u.is_empty() && steps < 200 {
        steps += 1;
        let before = replayer.terminal().cloned();
        let _ = match u.int_in_range(0..=19)? {
            0..=3 => replayer.advance().map(drop),
            4 => {
                let count = u.int_in_range(0..=3)?;
                let messages = (0..count).map(|_| message(u)).collect::<Result<Vec<_>>>()?;
                replayer.deliver(u.arbitrary()?, messages);
                Ok(())
            }
            5 | 6 => replayer
                .schedule_activity(&name(u)?, reprise_core::Payload::stored("null"), Default::default())
                .map(drop),
            7 => replayer.schedule_timer(u.arbitrary()?).map(drop),
            8 => replayer.wait_for_event(&name(u)?).map(drop),
            9 => replayer.call_entity(&entity(u)?, &name(u)?, reprise_core::Payload::stored("null")).map(drop),
            10 => replayer.signal_entity(&entity(u)?, &name(u)?, reprise_core::Payload::stored("null")),
            11 => {
                let entities = (0..u.int_in_range(0..=2)?).map(|_| entity(u)).collect::<Result<Vec<_>>>()?;
                replayer.lock_entities(&entities).map(drop)
            }
            12 => replayer.unlock_entities(),
            13 | 14 => {
                let tasks = (0..u.int_in_range(0..=3)?).map(|_| task(u)).collect::<Result<Vec<_>>>()?;
                replayer.wait_any(&tasks).map(drop)
            }
            15 => {
                let tasks = (0..u.int_in_range(0..=3)?).map(|_| task(u)).collect::<Result<Vec<_>>>()?;
                waits.push(AllWait::new(tasks));
                waits.iter_mut().try_for_each(|wait| replayer.poll_all(wait).map(drop))
            }
            16 => replayer
                .schedule_sub_orchestration(&name(u)?, None, reprise_core::Payload::stored("null"), None)
                .map(drop),
            17 => {
                if u.ratio(1, 2)? {
                    replayer
                        .request_continue_as_new(reprise_core::Payload::stored("null"), u.arbitrary()?)
                        .and_then(|()| replayer.complete(reprise_core::Payload::stored("1")))
                } else {
                    replayer.complete(reprise_core::Payload::stored("1"))
                }
            }
            18 => {
                if u.ratio(1, 2)? {
                    replayer.fail(failure(u)?)
                } else {
                    replayer.abort(failure(u)?);
                    Ok(())
                }
            }
            _ => {
                take(&mut replayer, &mut committed);
                Ok(())
            }
        };
        if let Some(before) = before {
            assert_eq!(replayer.terminal(), Some(&before), "a finished execution must stay as it ended");
        }
    }
    take(&mut replayer, &mut committed);
    let starts_well = committed.first().is_none_or(|e| matches!(e.event, Event::EpisodeStarted { .. }));
    if starts_well && let Err(error) = Replayer::new("i", 1, "c", committed) {
        panic!("the engine refused a history it wrote: {error}");
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let Ok(history) = serde_json::from_slice::<Vec<HistoryEvent>>(&data[..split]) else { return };
    let mut u = Unstructured::new(data.get(split + 1..).unwrap_or_default());
    let _ = run(history, &mut u);
});
