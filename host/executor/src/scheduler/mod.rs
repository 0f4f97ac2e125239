//! The scheduler: which instance's episode runs next, and how many run at once. It owns the
//! queue of instances woken by this process, the episodes running (at most one per instance,
//! at most the configured number in all), the back-off of instances whose episode could not run,
//! and the trigger that wakes the orchestration worker.
//!
//! An episode runs in an [`EpisodeSlot`], taken from the scheduler and given back by dropping it:
//! whoever runs the episode (the orchestration worker, or the task that recorded an activity's
//! result and begun its instance's next episode in the same write) holds the slot, and dropping
//! it records how the episode ended, queues the instance again if it was woken meanwhile, and
//! nudges the worker. The scheduler never runs an episode, reads the store or sleeps: the
//! worker does.

mod backoff;
mod ready;

use crate::trigger::Trigger;
use backoff::Backoff;
use ready::ReadyQueue;
use reprise_core::Timestamp;
use std::sync::Arc;
use std::time::Instant;

/// How an episode ended, for the scheduling of the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpisodeEnd {
    /// It committed, or there was nothing to do.
    Done,
    /// It could not run now (an error, a guest that died, messages before the start): the
    /// instance is left alone for a while instead of being retried at once.
    BackOff,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Scheduler {
    ready: ReadyQueue,
    backoff: Backoff,
    concurrency: usize,
    /// Wakes the orchestration worker.
    pub(crate) trigger: Trigger,
}

impl Scheduler {
    /// A scheduler running at most `concurrency` episodes at once.
    pub(crate) fn new(concurrency: usize) -> Arc<Self> {
        Arc::new(Scheduler {
            ready: ReadyQueue::default(),
            backoff: Backoff::default(),
            concurrency: concurrency.max(1),
            trigger: Trigger::new(),
        })
    }

    /// Queues `instance_id` for an episode: work for it is committed.
    pub(crate) fn wake(&self, instance_id: &str) {
        self.ready.wake(instance_id);
        self.trigger.nudge();
    }

    /// Work for `instance_id` is committed, visible from `at`: wakes it if that is now, else has
    /// the worker poll the store then.
    pub(crate) fn announce(&self, instance_id: &str, at: Timestamp, now: Timestamp) {
        if at <= now {
            self.wake(instance_id);
        } else {
            self.trigger.due_at(at);
        }
    }

    /// Slots that are free.
    pub(crate) fn free(&self) -> usize {
        self.concurrency.saturating_sub(self.ready.running())
    }

    /// Slots for up to `free` woken instances, in the order they were woken (those backing off
    /// are dropped from the queue: the poll finds them once their wait is over).
    pub(crate) fn take_woken(self: &Arc<Self>) -> Vec<EpisodeSlot> {
        let at = Instant::now();
        let ids = self.ready.take(self.free(), |id| self.backoff.waiting(id, at));
        ids.into_iter().map(|id| EpisodeSlot::new(self.clone(), id)).collect()
    }

    /// A slot for an instance a poll of the store found ready, unless one of its episodes runs,
    /// it backs off, or no slot is free.
    pub(crate) fn slot_for_ready(self: &Arc<Self>, instance_id: &str) -> Option<EpisodeSlot> {
        if self.free() == 0 || self.backoff.waiting(instance_id, Instant::now()) {
            return None;
        }
        self.ready.start(instance_id).then(|| EpisodeSlot::new(self.clone(), instance_id.to_string()))
    }

    /// A slot for an instance this process just wrote to (an activity's result), unless one of
    /// its episodes runs or no slot is free.
    pub(crate) fn slot_for(self: &Arc<Self>, instance_id: &str) -> Option<EpisodeSlot> {
        if self.free() == 0 {
            return None;
        }
        self.ready.start(instance_id).then(|| EpisodeSlot::new(self.clone(), instance_id.to_string()))
    }

    /// How many instances a poll should ask for to find `free` that can start: those running
    /// here or backing off come back too.
    pub(crate) fn poll_size(&self, free: usize) -> usize {
        free + self.ready.running() + self.backoff.len()
    }

    /// Whether woken instances wait for a slot.
    pub(crate) fn has_queued(&self) -> bool {
        self.ready.has_queued()
    }
}

/// The right to run one episode of one instance. See the module docs.
#[derive(Debug)]
pub(crate) struct EpisodeSlot {
    scheduler: Arc<Scheduler>,
    instance_id: String,
    end: Option<EpisodeEnd>,
}

impl EpisodeSlot {
    fn new(scheduler: Arc<Scheduler>, instance_id: String) -> Self {
        EpisodeSlot { scheduler, instance_id, end: None }
    }

    /// The instance the slot is for.
    pub(crate) fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Records how the episode ended (a slot dropped without an end leaves the instance's
    /// back-off as it was: no episode ran).
    pub(crate) fn ended(&mut self, end: EpisodeEnd) {
        self.end = Some(end);
    }
}

impl Drop for EpisodeSlot {
    fn drop(&mut self) {
        match self.end {
            Some(EpisodeEnd::Done) => self.scheduler.backoff.ran(&self.instance_id),
            Some(EpisodeEnd::BackOff) => self.scheduler.backoff.failed(&self.instance_id),
            None => {}
        }
        self.scheduler.ready.finish(&self.instance_id);
        self.scheduler.trigger.nudge();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_bound_the_episodes_and_a_dropped_slot_frees_its_instance() {
        let scheduler = Scheduler::new(2);
        scheduler.wake("a");
        scheduler.wake("b");
        scheduler.wake("c");
        let mut taken = scheduler.take_woken();
        assert_eq!(taken.iter().map(EpisodeSlot::instance_id).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(scheduler.free(), 0);
        assert!(scheduler.slot_for("c").is_none(), "no slot is free");
        scheduler.wake("a");
        taken.remove(0);
        assert!(scheduler.has_queued(), "a was woken while it ran: it runs again");
        let again = scheduler.take_woken();
        let ids: Vec<&str> = again.iter().map(EpisodeSlot::instance_id).collect();
        assert_eq!(ids, ["c"], "c, woken first, comes before a");
    }

    #[test]
    fn an_episode_that_could_not_run_backs_its_instance_off() {
        let scheduler = Scheduler::new(4);
        let mut slot = scheduler.slot_for_ready("a").expect("a slot");
        assert!(scheduler.slot_for_ready("a").is_none(), "one episode of an instance at a time");
        slot.ended(EpisodeEnd::BackOff);
        drop(slot);
        assert!(scheduler.slot_for_ready("a").is_none(), "it backs off");
        assert!(scheduler.slot_for("a").is_some(), "its own new work may still run it");
        scheduler.wake("a");
        assert!(scheduler.take_woken().is_empty(), "a woken instance that backs off waits for the poll");
    }
}
