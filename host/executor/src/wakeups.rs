//! How the workers hear of work: directly from this process when it knows which instance or task
//! the work is for, and by polling the store for the rest.
//!
//! Most work an instance gets here is made here: a client starts it or sends it an event, one of
//! its activities finishes, another instance's episode sends it a message or starts it. Each of
//! these *wakes* the instance by name ([`ReadyQueue::wake`]) once its write has committed, and
//! the orchestration worker runs it next without asking the store which instances are ready.
//! Likewise an episode hands the activity tasks it claimed straight to the activity dispatcher.
//! What this process cannot know of (work written by other processes sharing the database, a
//! manual clock moved by a test) and what is due later (timers, retries) is found by polling
//! the store: every poll interval, and at once when a due time this process knows of comes or a
//! worker asks for it ([`Trigger`]). So a sequential orchestration's step costs no poll at all,
//! and an idle host costs one poll per interval.
//!
//! This module owns those queues, flags and times. It never reads or writes the store and never
//! runs an episode or an activity: the workers do, when woken.

use reprise_core::Timestamp;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What wakes one worker: a nudge (look at what you were handed), a request to poll the store,
/// and the earliest time at which work this process wrote becomes due.
#[derive(Debug)]
pub(crate) struct Trigger {
    notify: Notify,
    poll: AtomicBool,
    /// A clock time in milliseconds; `u64::MAX` if none is known.
    due: AtomicU64,
}

impl Trigger {
    pub(crate) fn new() -> Self {
        Trigger { notify: Notify::new(), poll: AtomicBool::new(true), due: AtomicU64::new(u64::MAX) }
    }

    /// Wakes the worker to look at what it was handed (a woken instance, a freed slot).
    pub(crate) fn nudge(&self) {
        self.notify.notify_one();
    }

    /// Wakes the worker and makes it poll the store.
    pub(crate) fn request_poll(&self) {
        self.poll.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Makes the worker poll the store once the clock reads `at` (a timer, a retry).
    pub(crate) fn due_at(&self, at: Timestamp) {
        if self.due.fetch_min(at, Ordering::SeqCst) > at {
            // The worker may be asleep until a later time.
            self.notify.notify_one();
        }
    }

    /// Whether the worker should poll now (asked to, or a known due time has come), forgetting
    /// the request and the due time: the poll learns the next due time from the store.
    pub(crate) fn take_poll(&self, now: Timestamp) -> bool {
        let due = self.due.load(Ordering::SeqCst) <= now;
        let asked = self.poll.swap(false, Ordering::SeqCst);
        if due || asked {
            self.due.store(u64::MAX, Ordering::SeqCst);
        }
        due || asked
    }

    /// How long the worker may sleep at `now`, given its next periodic poll: until then or
    /// until the earliest due time it knows of, whichever comes first.
    pub(crate) fn sleep_for(&self, now: Timestamp, next_poll: Instant) -> Duration {
        let periodic = next_poll.saturating_duration_since(Instant::now());
        match self.due.load(Ordering::SeqCst) {
            u64::MAX => periodic,
            due => periodic.min(Duration::from_millis(due.saturating_sub(now))),
        }
    }

    /// Resolves at the next nudge, poll request or earlier due time.
    pub(crate) async fn notified(&self) {
        self.notify.notified().await;
    }
}

/// Instances woken by name, in the order they were woken, each at most once; and those woken
/// while an episode of theirs was running, to run again after it.
#[derive(Debug, Default)]
pub(crate) struct ReadyQueue {
    state: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    order: VecDeque<String>,
    queued: HashSet<String>,
    /// Woken while running: their new work came after the running episode read its messages.
    again: HashSet<String>,
    running: HashSet<String>,
}

impl ReadyQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `instance_id` for an episode (once, however often it is woken); if an episode of
    /// it is running, it runs again after that one.
    pub(crate) fn wake(&self, instance_id: &str) {
        let mut queue = self.lock();
        if queue.running.contains(instance_id) {
            queue.again.insert(instance_id.to_string());
        } else if queue.queued.insert(instance_id.to_string()) {
            queue.order.push_back(instance_id.to_string());
        }
    }

    /// Takes up to `limit` queued instances for episodes, marking them running; `skip` says which
    /// to drop instead (backing off: the poll finds them once their wait is over).
    pub(crate) fn take(&self, limit: usize, skip: impl Fn(&str) -> bool) -> Vec<String> {
        let mut queue = self.lock();
        let mut taken = Vec::new();
        while taken.len() < limit {
            let Some(id) = queue.order.pop_front() else { break };
            queue.queued.remove(&id);
            if skip(&id) {
                continue;
            }
            if !queue.running.insert(id.clone()) {
                // A poll started it meanwhile: its episode may have read its messages before
                // the wake, so run it again after.
                queue.again.insert(id);
                continue;
            }
            taken.push(id);
        }
        taken
    }

    /// Marks `instance_id`, found by a poll, running; false if it already is.
    pub(crate) fn start(&self, instance_id: &str) -> bool {
        self.lock().running.insert(instance_id.to_string())
    }

    /// Marks the episode of `instance_id` finished; queues it again if it was woken meanwhile.
    /// Returns whether it was.
    pub(crate) fn finish(&self, instance_id: &str) -> bool {
        let mut queue = self.lock();
        queue.running.remove(instance_id);
        let again = queue.again.remove(instance_id);
        if again && queue.queued.insert(instance_id.to_string()) {
            queue.order.push_back(instance_id.to_string());
        }
        again
    }

    /// How many episodes are running.
    pub(crate) fn running(&self) -> usize {
        self.lock().running.len()
    }

    /// Whether instances are queued.
    pub(crate) fn has_queued(&self) -> bool {
        !self.lock().order.is_empty()
    }
}

/// Clients waiting for instances to change (to finish, to go idle): a commit wakes only the
/// waiters of its own instance, and only if it made a change they wait for (an orchestration's
/// end, an entity's batch), so running instances do not make waiters read again at every step.
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    watched: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
}

/// A waiter's registration; dropping it unregisters.
pub(crate) struct Watch<'a> {
    watchers: &'a Watchers,
    instance_id: String,
    /// Notified at each commit of the instance.
    pub(crate) changed: Arc<Notify>,
}

impl Watchers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<Notify>, usize)>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a waiter of `instance_id`.
    pub(crate) fn watch(&self, instance_id: &str) -> Watch<'_> {
        let mut watched = self.lock();
        let entry = watched.entry(instance_id.to_string()).or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        Watch { watchers: self, instance_id: instance_id.to_string(), changed: entry.0.clone() }
    }

    /// Wakes the waiters of `instance_id` (a commit of it is durable).
    pub(crate) fn committed(&self, instance_id: &str) {
        if let Some((changed, _)) = self.lock().get(instance_id) {
            changed.notify_waiters();
        }
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut watched = self.watchers.lock();
        if let Some(entry) = watched.get_mut(&self.instance_id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                watched.remove(&self.instance_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_woken_twice_is_queued_once_and_in_order() {
        let ready = ReadyQueue::default();
        ready.wake("a");
        ready.wake("b");
        ready.wake("a");
        assert_eq!(ready.take(10, |_| false), ["a", "b"]);
        assert!(!ready.has_queued());
        assert_eq!(ready.running(), 2);
    }

    #[test]
    fn an_instance_woken_while_running_runs_again_after() {
        let ready = ReadyQueue::default();
        ready.wake("a");
        assert_eq!(ready.take(1, |_| false), ["a"]);
        ready.wake("a");
        assert!(!ready.has_queued(), "not while its episode runs");
        assert!(ready.finish("a"));
        assert_eq!(ready.take(1, |_| false), ["a"]);
        assert!(!ready.finish("a"), "not woken during the second episode");
        assert!(!ready.has_queued());
    }

    #[test]
    fn take_respects_the_limit_and_drops_the_skipped() {
        let ready = ReadyQueue::default();
        for id in ["a", "b", "c", "d"] {
            ready.wake(id);
        }
        assert_eq!(ready.take(2, |id| id == "a"), ["b", "c"]);
        assert_eq!(ready.take(5, |_| false), ["d"]);
        assert!(!ready.start("b"), "b is running");
        assert!(ready.start("a"));
    }

    #[test]
    fn an_instance_queued_then_started_by_a_poll_is_not_run_twice_at_once() {
        let ready = ReadyQueue::default();
        ready.wake("a");
        assert!(ready.start("a"), "a poll found it first");
        assert!(ready.take(5, |_| false).is_empty());
        assert!(ready.finish("a"), "it runs again after");
        assert_eq!(ready.take(5, |_| false), ["a"]);
    }

    #[tokio::test]
    async fn a_commit_wakes_the_waiters_of_its_instance_only() {
        let watchers = Watchers::default();
        let a = watchers.watch("a");
        let b = watchers.watch("b");
        let (a_changed, b_changed) = (a.changed.notified(), b.changed.notified());
        watchers.committed("a");
        tokio::time::timeout(Duration::from_secs(60), a_changed).await.expect("a's waiter is woken");
        let not_woken = tokio::time::timeout(Duration::from_millis(20), b_changed).await;
        assert!(not_woken.is_err(), "b's waiter sleeps on");
        drop((a, b));
        assert!(watchers.lock().is_empty(), "dropped watches unregister");
    }

    #[test]
    fn a_trigger_polls_when_asked_or_due_and_then_forgets() {
        let trigger = Trigger::new();
        assert!(trigger.take_poll(0), "a new worker polls first");
        assert!(!trigger.take_poll(0));
        trigger.due_at(100);
        assert!(!trigger.take_poll(99));
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(trigger.sleep_for(40, far), Duration::from_millis(60));
        assert!(trigger.take_poll(100));
        assert!(!trigger.take_poll(1_000), "the due time is forgotten once polled");
        trigger.request_poll();
        assert!(trigger.take_poll(0));
    }
}
