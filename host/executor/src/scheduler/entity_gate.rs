//! Flow control of entities: per entity name, at most so many batches at once and at most so
//! many batch starts per period, in this process. It owns the running count and the token
//! bucket of each limited entity name, and the instances it holds back, in the order they
//! came; the limits and the bucket's arithmetic are `reprise_core::flow`'s.
//!
//! An entity runs one batch of its queued operations at a time already; its limit bounds how
//! many entities of its name run batches at once, and how often one starts (a batch runs every
//! operation queued for its entity when it starts, so a rate is of batches, not operations).
//! Held instances stay queued in memory; their messages stay in the store, and a poll finds
//! them again after a restart. It never runs an episode, reads the store or sleeps: the
//! scheduler asks it before handing out a slot, and tells it when the slot is given back.

use reprise_core::Timestamp;
use reprise_core::entity::ENTITY_ID_PREFIX;
use reprise_core::flow::{Bucket, FlowLimits};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct EntityGate {
    limits: Arc<FlowLimits>,
    state: Mutex<BTreeMap<String, Group>>,
}

/// One limited entity name's state.
#[derive(Debug, Default)]
struct Group {
    /// Batches of its entities running now.
    running: u64,
    bucket: Bucket,
    /// Instances held back, oldest first; each once.
    held: VecDeque<String>,
    queued: HashSet<String>,
    /// Instances held back so far (each time one is held anew).
    deferred: u64,
}

/// What the gate says of a slot asked for an instance.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// The instance is no limited entity: the gate has no say.
    Free,
    /// A batch of entity `name` may start; give the permit back with [`EntityGate::release`].
    Admitted(String),
    /// Held back until a batch of its name ends, or until `retry_at` on the clock (the next
    /// token of its rate).
    Held { retry_at: Option<Timestamp> },
}

/// One limited entity name's figures, for the metrics and the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntityThrottle {
    /// The entity name.
    pub(crate) name: String,
    /// Instances held back now.
    pub(crate) held: u64,
    /// Instances held back so far.
    pub(crate) deferred: u64,
}

impl EntityGate {
    /// A gate enforcing `limits` (by entity name; their keys are not used).
    pub(super) fn new(limits: Arc<FlowLimits>) -> Self {
        let state = limits.iter().map(|(name, _)| (name.to_string(), Group::default())).collect();
        EntityGate { limits, state: Mutex::new(state) }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Group>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The limited entity name of `instance_id`, if it is one: cheap for orchestrations.
    fn limited_name<'a>(&self, instance_id: &'a str) -> Option<&'a str> {
        if self.limits.is_empty() {
            return None;
        }
        let (name, _) = instance_id.strip_prefix(ENTITY_ID_PREFIX)?.split_once(ENTITY_ID_PREFIX)?;
        self.limits.is_limited(name).then_some(name)
    }

    /// Whether a batch of `instance_id` may start at `now`; one that may not is held, behind
    /// those of its name held before it.
    pub(super) fn admit(&self, instance_id: &str, now: Timestamp) -> Admission {
        let Some(name) = self.limited_name(instance_id) else {
            return Admission::Free;
        };
        let mut groups = self.lock();
        let group = groups.entry(name.to_string()).or_default();
        if !group.held.is_empty() && group.held.front().map(String::as_str) != Some(instance_id) {
            let retry_at = self.check(name, group, now).err().flatten();
            hold(group, instance_id);
            return Admission::Held { retry_at };
        }
        match self.check(name, group, now) {
            Ok(bucket) => {
                if group.held.front().map(String::as_str) == Some(instance_id) {
                    group.held.pop_front();
                    group.queued.remove(instance_id);
                }
                group.bucket = bucket;
                group.running += 1;
                Admission::Admitted(name.to_string())
            }
            Err(retry_at) => {
                hold(group, instance_id);
                Admission::Held { retry_at }
            }
        }
    }

    /// The bucket after one more start, or why none may start now (with the next token's time
    /// when the rate is what refuses).
    fn check(&self, name: &str, group: &Group, now: Timestamp) -> Result<Bucket, Option<Timestamp>> {
        let Some(limit) = self.limits.of(name) else { return Ok(group.bucket) };
        if limit.concurrency.is_some_and(|most| group.running >= u64::from(most)) {
            return Err(None);
        }
        match &limit.rate {
            Some(rate) => rate.take(group.bucket, now).map_err(Some),
            None => Ok(group.bucket),
        }
    }

    /// The oldest held instance of each limited name: what to offer a slot again, once a batch
    /// ended or a token is due.
    pub(super) fn heads(&self) -> Vec<String> {
        self.lock().values().filter_map(|group| group.held.front().cloned()).collect()
    }

    /// Gives back the permit of a batch of entity `name`, and its token if it ran nothing
    /// (`unused`): a wake that found no message costs the entity's rate nothing.
    pub(super) fn release(&self, name: &str, unused: bool) {
        if let Some(group) = self.lock().get_mut(name) {
            group.running = group.running.saturating_sub(1);
            if let (true, Some(rate)) = (unused, self.limits.of(name).and_then(|limit| limit.rate.as_ref())) {
                group.bucket = rate.give_back(group.bucket);
            }
        }
    }

    /// How many instances are held back now, of every name.
    pub(super) fn held(&self) -> usize {
        if self.limits.is_empty() {
            return 0;
        }
        self.lock().values().map(|group| group.held.len()).sum()
    }

    /// Whether `instance_id` is held back now.
    pub(super) fn is_held(&self, instance_id: &str) -> bool {
        self.limited_name(instance_id)
            .is_some_and(|name| self.lock().get(name).is_some_and(|group| group.queued.contains(instance_id)))
    }

    /// Each limited name's figures.
    pub(super) fn throttles(&self) -> Vec<EntityThrottle> {
        self.lock()
            .iter()
            .map(|(name, group)| EntityThrottle {
                name: name.clone(),
                held: group.held.len() as u64,
                deferred: group.deferred,
            })
            .collect()
    }
}

fn hold(group: &mut Group, instance_id: &str) {
    if group.queued.insert(instance_id.to_string()) {
        group.held.push_back(instance_id.to_string());
        group.deferred += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_core::flow::{FlowLimit, Rate};

    fn gate(concurrency: Option<u32>, rate: Option<&str>) -> EntityGate {
        let mut limits = FlowLimits::default();
        let rate = rate.map(|r| Rate::parse(r, Some(1)).unwrap());
        limits.set("Gpu", FlowLimit::new(concurrency, rate, None).unwrap());
        EntityGate::new(Arc::new(limits))
    }

    #[test]
    fn orchestrations_and_other_entities_are_free() {
        let gate = gate(Some(1), None);
        assert_eq!(gate.admit("order-1", 0), Admission::Free);
        assert_eq!(gate.admit("@Counter@a", 0), Admission::Free);
        assert_eq!(gate.admit("@Gpu@a", 0), Admission::Admitted("Gpu".into()));
    }

    #[test]
    fn a_concurrency_limit_holds_the_rest_in_order_until_a_batch_ends() {
        let gate = gate(Some(2), None);
        assert_eq!(gate.admit("@Gpu@a", 0), Admission::Admitted("Gpu".into()));
        assert_eq!(gate.admit("@Gpu@b", 0), Admission::Admitted("Gpu".into()));
        assert_eq!(gate.admit("@Gpu@c", 0), Admission::Held { retry_at: None });
        assert_eq!(gate.admit("@Gpu@d", 0), Admission::Held { retry_at: None });
        assert_eq!(gate.admit("@Gpu@c", 0), Admission::Held { retry_at: None }, "still full");
        assert!(gate.is_held("@Gpu@c") && gate.is_held("@Gpu@d") && !gate.is_held("@Gpu@a"));
        assert_eq!(gate.throttles()[0], EntityThrottle { name: "Gpu".into(), held: 2, deferred: 2 });
        gate.release("Gpu", false);
        assert_eq!(gate.heads(), ["@Gpu@c"]);
        assert_eq!(gate.admit("@Gpu@d", 0), Admission::Held { retry_at: None }, "d came after c");
        assert_eq!(gate.admit("@Gpu@c", 0), Admission::Admitted("Gpu".into()));
        assert_eq!(gate.heads(), ["@Gpu@d"]);
        assert!(!gate.is_held("@Gpu@c"));
    }

    #[test]
    fn a_rate_limit_holds_until_the_next_token() {
        let gate = gate(None, Some("1/s"));
        assert_eq!(gate.admit("@Gpu@a", 0), Admission::Admitted("Gpu".into()));
        assert_eq!(gate.admit("@Gpu@b", 10), Admission::Held { retry_at: Some(1_000) });
        assert_eq!(gate.admit("@Gpu@b", 999), Admission::Held { retry_at: Some(1_000) });
        assert_eq!(gate.admit("@Gpu@b", 1_000), Admission::Admitted("Gpu".into()));
        assert_eq!(gate.throttles()[0].deferred, 1, "held once, however often it asked");
        gate.release("Gpu", true);
        assert_eq!(gate.admit("@Gpu@c", 1_000), Admission::Admitted("Gpu".into()), "b ran nothing: its token is back");
        assert_eq!(gate.admit("@Gpu@d", 1_000), Admission::Held { retry_at: Some(2_000) });
    }
}
