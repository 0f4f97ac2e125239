//! Who waits for instances to change: clients waiting for an orchestration to finish or an
//! entity to go idle ([`Watchers::watch`]), and tools that follow every commit
//! ([`Watchers::any_commit`]). It owns the registrations and the notifications; it never reads
//! the store (the waiters read it once woken).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Clients waiting for instances to change (to finish, to go idle): a commit wakes only the
/// waiters of its own instance, and only if it made a change they wait for (an orchestration's
/// end, an entity's batch), so running instances do not make waiters read again at every step.
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    watched: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
    /// Notified at every commit of any instance.
    any: Notify,
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

    /// Resolves at the next commit of any instance made after the call.
    pub(crate) fn any_commit(&self) -> tokio::sync::futures::Notified<'_> {
        self.any.notified()
    }

    /// Wakes the followers of every commit (a commit is durable).
    pub(crate) fn stepped(&self) {
        self.any.notify_waiters();
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
    use std::time::Duration;

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

    #[tokio::test]
    async fn every_commit_wakes_the_followers_of_all() {
        let watchers = Watchers::default();
        let next = watchers.any_commit();
        watchers.stepped();
        tokio::time::timeout(Duration::from_secs(60), next).await.expect("the follower is woken");
    }
}
