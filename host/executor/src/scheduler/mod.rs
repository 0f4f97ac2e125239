//! The scheduler: which instance's episode runs next, and how many run at once. It owns the
//! queue of instances woken by this process, the episodes running (at most one per instance,
//! at most the configured number in all), the back-off of instances whose episode could not run,
//! the trigger that wakes the orchestration worker, and the flow limits of entities (see
//! [`entity_gate`]).
//!
//! An episode runs in an [`EpisodeSlot`], taken from the scheduler and given back by dropping it:
//! whoever runs the episode (the orchestration worker, or the task that recorded an activity's
//! result and begun its instance's next episode in the same write) holds the slot, and dropping
//! it records how the episode ended, queues the instance again if it was woken meanwhile, and
//! nudges the worker. The scheduler never runs an episode, reads the store or sleeps: the
//! worker does.

mod backoff;
mod entity_gate;
mod ready;

use crate::trigger::Trigger;
use backoff::Backoff;
pub(crate) use entity_gate::EntityThrottle;
use entity_gate::{Admission, EntityGate};
use ready::ReadyQueue;
use reprise_core::Timestamp;
use reprise_core::flow::FlowLimits;
use std::sync::Arc;
use std::time::Instant;

/// How an episode ended, for the scheduling of the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpisodeEnd {
    /// It committed.
    Done,
    /// There was nothing to do (a wake whose messages an earlier episode had read): a flow
    /// limit's token it took is given back.
    Nothing,
    /// It could not run now (an error, a guest that died, messages before the start): the
    /// instance is left alone for a while instead of being retried at once.
    BackOff,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Scheduler {
    ready: ReadyQueue,
    backoff: Backoff,
    gate: EntityGate,
    concurrency: usize,
    /// Wakes the orchestration worker.
    pub(crate) trigger: Trigger,
}

impl Scheduler {
    /// A scheduler running at most `concurrency` episodes at once, and the batches of entities
    /// under their `entity_limits` (by entity name).
    pub(crate) fn new(concurrency: usize, entity_limits: Arc<FlowLimits>) -> Arc<Self> {
        Arc::new(Scheduler {
            ready: ReadyQueue::default(),
            backoff: Backoff::default(),
            gate: EntityGate::new(entity_limits),
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

    /// Slots for up to `free` woken instances at `now`: first the entities their flow limit
    /// held back, oldest first, then the others in the order they were woken (those backing off
    /// are dropped from the queue: the poll finds them once their wait is over; entities their
    /// limit holds back wait in the gate).
    pub(crate) fn take_woken(self: &Arc<Self>, now: Timestamp) -> Vec<EpisodeSlot> {
        let at = Instant::now();
        let mut slots = Vec::new();
        for id in self.gate.heads() {
            if slots.len() >= self.free() {
                return slots;
            }
            if self.ready.start(&id) {
                slots.extend(self.admitted(id, now));
            } else {
                // An episode of it runs (a poll found it): it runs again after that one.
                self.ready.wake(&id);
            }
        }
        let ids = self.ready.take(self.free().saturating_sub(slots.len()), |id| self.backoff.waiting(id, at));
        slots.extend(ids.into_iter().filter_map(|id| self.admitted(id, now)));
        slots
    }

    /// The slot of `instance_id`, marked running, if its entity's flow limit lets a batch start
    /// at `now`; if not, it is held back (and unmarked), and the worker polls when its rate's
    /// next token is due.
    fn admitted(self: &Arc<Self>, instance_id: String, now: Timestamp) -> Option<EpisodeSlot> {
        let permit = match self.gate.admit(&instance_id, now) {
            Admission::Free => None,
            Admission::Admitted(name) => Some(name),
            Admission::Held { retry_at } => {
                self.ready.finish(&instance_id);
                if let Some(at) = retry_at {
                    self.trigger.due_at(at);
                }
                return None;
            }
        };
        let mut slot = EpisodeSlot::new(self.clone(), instance_id);
        slot.permit = permit;
        Some(slot)
    }

    /// The flow limits' figures of each limited entity name.
    pub(crate) fn entity_throttles(&self) -> Vec<EntityThrottle> {
        self.gate.throttles()
    }

    /// Whether the entity of `instance_id` waits for its name's flow limit.
    pub(crate) fn is_throttled(&self, instance_id: &str) -> bool {
        self.gate.is_held(instance_id)
    }

    /// A slot for an instance a poll of the store found ready at `now`, unless one of its
    /// episodes runs, it backs off, no slot is free, or its entity's flow limit holds it back.
    pub(crate) fn slot_for_ready(self: &Arc<Self>, instance_id: &str, now: Timestamp) -> Option<EpisodeSlot> {
        if self.free() == 0 || self.backoff.waiting(instance_id, Instant::now()) {
            return None;
        }
        if !self.ready.start(instance_id) {
            return None;
        }
        self.admitted(instance_id.to_string(), now)
    }

    /// A slot for an instance this process just wrote to at `now` (an activity's result),
    /// unless one of its episodes runs, no slot is free, or its entity's flow limit holds it
    /// back.
    pub(crate) fn slot_for(self: &Arc<Self>, instance_id: &str, now: Timestamp) -> Option<EpisodeSlot> {
        if self.free() == 0 || !self.ready.start(instance_id) {
            return None;
        }
        self.admitted(instance_id.to_string(), now)
    }

    /// How many instances a poll should ask for to find `free` that can start: those running
    /// here, backing off or held back by an entity limit come back too.
    pub(crate) fn poll_size(&self, free: usize) -> usize {
        free + self.ready.running() + self.backoff.len() + self.gate.held()
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
    /// The entity name whose flow limit let this batch start: given back with the slot.
    permit: Option<String>,
}

impl EpisodeSlot {
    fn new(scheduler: Arc<Scheduler>, instance_id: String) -> Self {
        EpisodeSlot { scheduler, instance_id, end: None, permit: None }
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
            Some(EpisodeEnd::Done | EpisodeEnd::Nothing) => self.scheduler.backoff.ran(&self.instance_id),
            Some(EpisodeEnd::BackOff) => self.scheduler.backoff.failed(&self.instance_id),
            None => {}
        }
        if let Some(name) = self.permit.take() {
            self.scheduler.gate.release(&name, self.end == Some(EpisodeEnd::Nothing));
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
        let scheduler = Scheduler::new(2, Arc::default());
        scheduler.wake("a");
        scheduler.wake("b");
        scheduler.wake("c");
        let mut taken = scheduler.take_woken(0);
        assert_eq!(taken.iter().map(EpisodeSlot::instance_id).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(scheduler.free(), 0);
        assert!(scheduler.slot_for("c", 0).is_none(), "no slot is free");
        scheduler.wake("a");
        taken.remove(0);
        assert!(scheduler.has_queued(), "a was woken while it ran: it runs again");
        let again = scheduler.take_woken(0);
        let ids: Vec<&str> = again.iter().map(EpisodeSlot::instance_id).collect();
        assert_eq!(ids, ["c"], "c, woken first, comes before a");
    }

    #[test]
    fn an_episode_that_could_not_run_backs_its_instance_off() {
        let scheduler = Scheduler::new(4, Arc::default());
        let mut slot = scheduler.slot_for_ready("a", 0).expect("a slot");
        assert!(scheduler.slot_for_ready("a", 0).is_none(), "one episode of an instance at a time");
        slot.ended(EpisodeEnd::BackOff);
        drop(slot);
        assert!(scheduler.slot_for_ready("a", 0).is_none(), "it backs off");
        assert!(scheduler.slot_for("a", 0).is_some(), "its own new work may still run it");
        scheduler.wake("a");
        assert!(scheduler.take_woken(0).is_empty(), "a woken instance that backs off waits for the poll");
    }

    #[test]
    fn an_entity_limit_holds_batches_back_in_order_and_a_dropped_slot_lets_the_next_start() {
        let mut limits = FlowLimits::default();
        limits.set("Gpu", reprise_core::flow::FlowLimit::new(Some(1), None, None).unwrap());
        let scheduler = Scheduler::new(8, Arc::new(limits));
        for id in ["@Gpu@a", "@Gpu@b", "order", "@Gpu@c"] {
            scheduler.wake(id);
        }
        let taken = scheduler.take_woken(0);
        let ids: Vec<&str> = taken.iter().map(EpisodeSlot::instance_id).collect();
        assert_eq!(ids, ["@Gpu@a", "order"], "one Gpu batch at a time; orchestrations are not held");
        assert!(!scheduler.has_queued(), "held entities wait in the gate, not in the queue");
        assert!(scheduler.is_throttled("@Gpu@b") && scheduler.is_throttled("@Gpu@c"));
        assert!(scheduler.slot_for_ready("@Gpu@c", 0).is_none(), "a poll that finds it does not run it either");
        assert!(scheduler.take_woken(0).is_empty(), "still one running");
        drop(taken);
        let next = scheduler.take_woken(0);
        assert_eq!(next.iter().map(EpisodeSlot::instance_id).collect::<Vec<_>>(), ["@Gpu@b"], "the oldest held");
        drop(next);
        assert_eq!(scheduler.take_woken(0).iter().map(EpisodeSlot::instance_id).collect::<Vec<_>>(), ["@Gpu@c"]);
        assert!(!scheduler.is_throttled("@Gpu@c"));
        assert_eq!(scheduler.entity_throttles()[0].deferred, 2);
    }
}
