//! The queue of instances woken by name: each at most once, in the order they were woken, and
//! those woken while an episode of theirs runs, to run again after it. It owns that queue and
//! the set of running episodes; it never runs one.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Instances woken by name, in the order they were woken, each at most once; and those woken
/// while an episode of theirs was running, to run again after it.
#[derive(Debug, Default)]
pub(super) struct ReadyQueue {
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
    pub(super) fn wake(&self, instance_id: &str) {
        let mut queue = self.lock();
        if queue.running.contains(instance_id) {
            queue.again.insert(instance_id.to_string());
        } else if queue.queued.insert(instance_id.to_string()) {
            queue.order.push_back(instance_id.to_string());
        }
    }

    /// Takes up to `limit` queued instances for episodes, marking them running; `skip` says which
    /// to drop instead (backing off: the poll finds them once their wait is over).
    pub(super) fn take(&self, limit: usize, skip: impl Fn(&str) -> bool) -> Vec<String> {
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
    pub(super) fn start(&self, instance_id: &str) -> bool {
        self.lock().running.insert(instance_id.to_string())
    }

    /// Marks the episode of `instance_id` finished; queues it again if it was woken meanwhile.
    /// Returns whether it was.
    pub(super) fn finish(&self, instance_id: &str) -> bool {
        let mut queue = self.lock();
        queue.running.remove(instance_id);
        let again = queue.again.remove(instance_id);
        if again && queue.queued.insert(instance_id.to_string()) {
            queue.order.push_back(instance_id.to_string());
        }
        again
    }

    /// How many episodes are running.
    pub(super) fn running(&self) -> usize {
        self.lock().running.len()
    }

    /// Whether instances are queued.
    pub(super) fn has_queued(&self) -> bool {
        !self.lock().order.is_empty()
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
}
