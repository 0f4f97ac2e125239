//! The simulated host of a test: instances, their inboxes, activity tasks, entities and a
//! virtual clock, all in memory. It makes every decision the way the host does, by asking the
//! same planner (`reprise_core::plan`): which events of an episode become which tasks and
//! messages, how a child's end reaches its parent (or becomes its retry), when a failed activity
//! is tried again and when, which queued operations an entity runs under a lock. What it keeps
//! instead of a store is a few maps; what it runs instead of wasm is the Rust code under test.
//!
//! Two ways to move it: [`World::settle`] does everything due at the current time in a fixed
//! order (activities as soon as they are scheduled, then each instance's visible messages as
//! one episode), and the explorer ([`super::explore`]) picks one step at a time among
//! [`World::choices`]. Time moves only when asked ([`World::advance_to`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use reprise_core::failure::error_types;
use reprise_core::plan::activity::{self as activity_plan, Attempt};
use reprise_core::plan::entity::{Applied, Batch, Offer};
use reprise_core::plan::episode::{self, Claims, Episode, Facts};
use reprise_core::plan::lifecycle::{self, Guestless};
use reprise_core::plan::triage::{Triage, triage};
use reprise_core::plan::{ActivityResult, ActivityTask, ActivityTaskKey, EpisodeCommit, NewInstance};
use reprise_core::replay::{EpisodeOutput, Replayer};
use reprise_core::{
    ActivityOptions, EntityCaller, EntityId, EntityOperation, Failure as CoreFailure, HistoryEvent, LockHolder,
    Message, OutgoingMessage, ParentRef, Payload, RuntimeStatus, Timestamp,
};

use super::convert;
use super::guest::{Delivery, Guest, LogLine, MAX_PAYLOAD, OrchestratorFn, Yield};
use super::seam::{self, ActivityHost, EntityHost};
use crate::__private::EntityEntry;
use crate::__private::bindings::reprise::durable::types as wire;

/// An activity, from its JSON input to its JSON output, run with an [`ActivityHost`] installed.
pub(crate) type ActivityFn = Rc<dyn Fn(&str) -> Result<String, crate::Failure>>;

/// The code a test runs: orchestrators and activities by name, and the entity tables of the
/// components it added.
#[derive(Default, Clone)]
pub(crate) struct Functions {
    pub(crate) orchestrators: BTreeMap<String, OrchestratorFn>,
    pub(crate) activities: BTreeMap<String, ActivityFn>,
    pub(crate) entities: Vec<&'static [EntityEntry]>,
}

/// A message waiting in an inbox.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    /// Its place in the order of everything enqueued.
    pub(crate) seq: u64,
    pub(crate) instance_id: String,
    pub(crate) message: Message,
    pub(crate) visible_at: Timestamp,
    pub(crate) execution: Option<u32>,
}

/// An activity task waiting for its next attempt.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) seq: u64,
    pub(crate) key: ActivityTaskKey,
    pub(crate) name: String,
    pub(crate) input: Payload,
    pub(crate) options: ActivityOptions,
    pub(crate) attempt: u32,
    pub(crate) due_at: Timestamp,
    pub(crate) created_at: Timestamp,
}

/// One attempt of an activity the harness ran.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityCall {
    /// The instance that scheduled it.
    pub instance_id: String,
    /// The activity's name.
    pub name: String,
    /// Its input.
    pub input: serde_json::Value,
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// When it ran, in virtual milliseconds since the epoch.
    pub at: u64,
    /// Its output, or its failure.
    pub outcome: Result<serde_json::Value, crate::Failure>,
}

/// One orchestration instance.
pub(crate) struct Instance {
    pub(crate) name: String,
    pub(crate) input: Payload,
    pub(crate) execution: u32,
    pub(crate) parent: Option<ParentRef>,
    pub(crate) status: RuntimeStatus,
    pub(crate) output: Option<Payload>,
    pub(crate) failure: Option<CoreFailure>,
    pub(crate) custom_status: Option<Payload>,
    /// The current execution's history.
    pub(crate) history: Vec<HistoryEvent>,
    /// The histories of the executions before it (continue-as-new, a child's retries).
    pub(crate) earlier: Vec<Vec<HistoryEvent>>,
    guest: Option<Guest>,
}

/// An entity's state between batches.
#[derive(Debug, Default, Clone)]
pub(crate) struct EntityState {
    pub(crate) state: Option<Payload>,
    locked_by: Option<LockHolder>,
    operations: u64,
}

/// One step the explorer may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Run the next attempt of this task (by its `seq`) and deliver its result alone.
    Attempt(u64),
    /// Deliver this queued message (by its `seq`) alone, as one episode.
    Deliver(u64),
    /// Move the clock to this time: the next timer or retry is due then.
    Advance(Timestamp),
}

/// The simulated host. See the module docs.
pub(crate) struct World {
    pub(crate) now: Timestamp,
    functions: Functions,
    seq: u64,
    queue: Vec<Queued>,
    tasks: Vec<Task>,
    pub(crate) instances: BTreeMap<String, Instance>,
    pub(crate) entities: BTreeMap<String, EntityState>,
    pub(crate) calls: Vec<ActivityCall>,
    pub(crate) logs: Arc<Mutex<Vec<LogLine>>>,
    /// Failures of signalled entity operations, which no caller hears of.
    pub(crate) signal_failures: Vec<(EntityId, String, crate::Failure)>,
    steps: u64,
    /// How long one episode of an orchestrator may run without reaching the host.
    pub(crate) episode_limit: std::time::Duration,
}

/// The most steps one world takes: an orchestrator that schedules work forever (a loop without
/// a timer) ends the test instead of hanging it.
const MAX_STEPS: u64 = 100_000;

impl World {
    pub(crate) fn new(now: Timestamp, functions: Functions) -> Self {
        World {
            now,
            functions,
            seq: 0,
            queue: Vec::new(),
            tasks: Vec::new(),
            instances: BTreeMap::new(),
            entities: BTreeMap::new(),
            calls: Vec::new(),
            logs: Arc::default(),
            signal_failures: Vec::new(),
            steps: 0,
            episode_limit: std::time::Duration::from_secs(10),
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn step(&mut self) {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            panic!(
                "reprise_sdk::testing: the orchestration took more than {MAX_STEPS} steps without becoming idle; \
                 does an orchestrator loop without waiting on a timer or an event?"
            );
        }
    }

    /// Enqueues a message.
    pub(crate) fn send(&mut self, message: OutgoingMessage) {
        let seq = self.next_seq();
        self.queue.push(Queued {
            seq,
            instance_id: message.instance_id,
            message: message.message,
            visible_at: message.visible_at,
            execution: message.execution,
        });
    }

    /// Sets an entity's state before the test runs.
    pub(crate) fn set_entity_state(&mut self, entity: &EntityId, state: Option<Payload>) {
        self.entities.entry(entity.instance_id()).or_default().state = state;
    }

    /// Creates an instance and queues its start, or tells its creator that the id is taken.
    pub(crate) fn create(&mut self, new: NewInstance) {
        let id = new.instance_id.as_str().to_string();
        if self.instances.contains_key(&id) {
            if let Some(message) = new.if_taken {
                self.send(message);
            }
            return;
        }
        self.instances.insert(
            id.clone(),
            Instance {
                name: new.name.clone(),
                input: new.input.clone(),
                execution: 1,
                parent: new.parent,
                status: RuntimeStatus::Pending,
                output: None,
                failure: None,
                custom_status: None,
                history: Vec::new(),
                earlier: Vec::new(),
                guest: None,
            },
        );
        let start = Message::Start { name: new.name, input: new.input };
        self.send(OutgoingMessage { instance_id: id, message: start, visible_at: new.created_at, execution: None });
    }

    // ---- what is due -------------------------------------------------------------------------

    /// The messages of `instance_id` visible now, in order.
    fn visible(&self, instance_id: &str) -> Vec<&Queued> {
        self.queue.iter().filter(|q| q.instance_id == instance_id && q.visible_at <= self.now).collect()
    }

    /// The instances with visible messages, in the order of their oldest one.
    fn busy_instances(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut ids = Vec::new();
        for q in self.queue.iter().filter(|q| q.visible_at <= self.now) {
            if seen.insert(q.instance_id.clone()) {
                ids.push(q.instance_id.clone());
            }
        }
        ids
    }

    /// When the next thing not yet due becomes due: a timer, a delayed start, a retry.
    pub(crate) fn next_due(&self) -> Option<Timestamp> {
        let messages = self.queue.iter().map(|q| q.visible_at);
        let tasks = self.tasks.iter().map(|t| t.due_at);
        messages.chain(tasks).filter(|&at| at > self.now).min()
    }

    // ---- moving the world ----------------------------------------------------------------------

    /// Does everything due now, in a fixed order, until nothing is: each due activity attempt
    /// first (in the order they were scheduled), then the visible messages of each instance as
    /// one episode (instances in the order of their oldest message).
    pub(crate) fn settle(&mut self) {
        loop {
            if let Some(task) = self.tasks.iter().filter(|t| t.due_at <= self.now).map(|t| t.seq).min() {
                self.attempt(task);
                continue;
            }
            let progressed = self.busy_instances().into_iter().any(|id| {
                let seqs: Vec<u64> = self.visible(&id).iter().map(|q| q.seq).collect();
                self.deliver(&id, &seqs)
            });
            if !progressed {
                return;
            }
        }
    }

    /// Does everything due now for every instance but `root` (whose steps the explorer picks),
    /// as [`World::settle`] does.
    pub(crate) fn settle_others(&mut self, root: &str) {
        loop {
            let task =
                self.tasks.iter().filter(|t| t.due_at <= self.now && t.key.instance_id != root).map(|t| t.seq).min();
            if let Some(task) = task {
                self.attempt(task);
                continue;
            }
            let progressed = self.busy_instances().into_iter().filter(|id| id != root).any(|id| {
                let seqs: Vec<u64> = self.visible(&id).iter().map(|q| q.seq).collect();
                self.deliver(&id, &seqs)
            });
            if !progressed {
                return;
            }
        }
    }

    /// The steps the explorer may take for `root` now: each due attempt of its tasks, each of its
    /// visible messages alone, and moving the clock to the next time something is due.
    pub(crate) fn choices(&self, root: &str) -> Vec<Choice> {
        let mut choices: Vec<Choice> = self
            .tasks
            .iter()
            .filter(|t| t.due_at <= self.now && t.key.instance_id == root)
            .map(|t| Choice::Attempt(t.seq))
            .collect();
        if let Some(instance) = self.instances.get(root) {
            // Only what an episode would take now: a suspended instance keeps its messages.
            let takes = |message: &Message| {
                let len = instance.history.len() as u64;
                matches!(triage(instance.status, len, &[message]), Triage::Run { .. } | Triage::Lifecycle { .. })
            };
            choices.extend(self.visible(root).iter().filter(|q| takes(&q.message)).map(|q| Choice::Deliver(q.seq)));
        }
        if let Some(at) = self.next_due() {
            choices.push(Choice::Advance(at));
        }
        choices
    }

    /// Takes one step the explorer chose.
    pub(crate) fn take(&mut self, root: &str, choice: &Choice) {
        match choice {
            Choice::Attempt(seq) => {
                let before = self.seq;
                self.attempt(*seq);
                // What it sent the instance (its result, or the record of a retry) is delivered
                // alone, at once.
                let result: Vec<u64> =
                    self.queue.iter().filter(|q| q.seq > before && q.instance_id == root).map(|q| q.seq).collect();
                if !result.is_empty() {
                    self.deliver(root, &result);
                }
            }
            Choice::Deliver(seq) => {
                self.deliver(root, &[*seq]);
            }
            Choice::Advance(at) => self.now = *at,
        }
    }

    /// Moves the clock to `target`, doing everything due on the way at its own time.
    pub(crate) fn advance_to(&mut self, target: Timestamp) {
        self.settle();
        while let Some(at) = self.next_due().filter(|&at| at <= target) {
            self.now = at;
            self.settle();
        }
        self.now = self.now.max(target);
        self.settle();
    }

    /// The `seq` of the message enqueued last.
    pub(crate) fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Creates the instance under test, and runs its first episode if `start`.
    pub(crate) fn create_root(&mut self, id: &str, name: &str, input: &str, start: bool) {
        let instance_id = reprise_core::InstanceId::new(id.to_string())
            .unwrap_or_else(|error| panic!("reprise_sdk::testing: the instance id '{id}' cannot be used: {error}"));
        let input = Payload::parse(input, MAX_PAYLOAD)
            .unwrap_or_else(|error| panic!("reprise_sdk::testing: the input is {error}"));
        let now = self.now;
        self.create(NewInstance {
            instance_id,
            name: name.to_string(),
            input,
            created_at: now,
            parent: None,
            if_taken: None,
        });
        if start {
            let seq = self.seq;
            self.deliver(id, &[seq]);
        }
    }

    /// A step of the explorer, in words.
    pub(crate) fn describe(&self, choice: &Choice) -> String {
        match choice {
            Choice::Attempt(seq) => match self.tasks.iter().find(|t| t.seq == *seq) {
                Some(task) => {
                    format!("activity '{}' (task {}) ends attempt {}", task.name, task.key.task_id, task.attempt)
                }
                None => "an activity ends".to_string(),
            },
            Choice::Deliver(seq) => match self.queue.iter().find(|q| q.seq == *seq).map(|q| &q.message) {
                Some(Message::TimerFired { task_id }) => format!("the timer (task {task_id}) fires"),
                Some(Message::EventRaised { name, .. }) => format!("event '{name}' arrives"),
                Some(Message::SubOrchestrationCompleted { task_id, .. }) => {
                    format!("the sub-orchestration (task {task_id}) completes")
                }
                Some(Message::SubOrchestrationFailed { task_id, .. }) => {
                    format!("the sub-orchestration (task {task_id}) fails")
                }
                Some(Message::EntityCompleted { task_id, .. }) => format!("the entity answers task {task_id}"),
                Some(Message::EntityFailed { task_id, .. }) => format!("the entity fails task {task_id}"),
                Some(Message::Start { .. }) => "the instance starts".to_string(),
                Some(other) => format!("a message ({other:?}) arrives"),
                None => "a message arrives".to_string(),
            },
            Choice::Advance(at) => format!("the clock moves on {} ms", at.saturating_sub(self.now)),
        }
    }

    // ---- one orchestration episode -----------------------------------------------------------

    /// Runs an episode of `instance_id` with the queued messages `seqs`; false if nothing was
    /// consumed (the instance keeps them, suspended or not started).
    fn deliver(&mut self, instance_id: &str, seqs: &[u64]) -> bool {
        self.step();
        if reprise_core::is_entity_instance(instance_id) {
            return self.entity_batch(instance_id, seqs);
        }
        let Some(instance) = self.instances.get(instance_id) else {
            // Sent to an instance that does not exist: dropped, as by the host.
            self.queue.retain(|q| !seqs.contains(&q.seq));
            return true;
        };
        let execution = instance.execution;
        let messages: Vec<(i64, Message)> = self
            .queue
            .iter()
            .filter(|q| seqs.contains(&q.seq))
            .filter(|q| q.execution.is_none_or(|e| e == execution))
            .map(|q| (q.seq as i64, q.message.clone()))
            .collect();
        // Results for an earlier execution are dropped.
        let stale: Vec<u64> = self
            .queue
            .iter()
            .filter(|q| seqs.contains(&q.seq) && q.execution.is_some_and(|e| e != execution))
            .map(|q| q.seq)
            .collect();
        self.queue.retain(|q| !stale.contains(&q.seq));
        let refs: Vec<&Message> = messages.iter().map(|(_, m)| m).collect();
        match triage(instance.status, instance.history.len() as u64, &refs) {
            Triage::Finished => {
                self.queue.retain(|q| !seqs.contains(&q.seq));
                true
            }
            Triage::Idle | Triage::NotStarted => !stale.is_empty(),
            Triage::Lifecycle { .. } => {
                let with_ids: Vec<(i64, &Message)> = messages.iter().map(|(id, m)| (*id, m)).collect();
                let guestless =
                    lifecycle::lifecycle(instance.status, instance.history.len() as u64, &with_ids, self.now);
                self.commit_guestless(instance_id, guestless);
                true
            }
            Triage::Run { .. } => {
                let consumed: Vec<u64> = messages.iter().map(|(id, _)| *id as u64).collect();
                self.queue.retain(|q| !consumed.contains(&q.seq));
                let delivery = Delivery { time: self.now, messages: messages.into_iter().map(|(_, m)| m).collect() };
                self.run_episode(instance_id, delivery);
                true
            }
        }
    }

    /// Delivers an episode to the instance's orchestrator, starting it first if it is not
    /// running, and commits what it did.
    fn run_episode(&mut self, instance_id: &str, delivery: Delivery) {
        let logs = self.logs.clone();
        let instance = self.instances.get_mut(instance_id).expect("the instance exists");
        let episode = match &mut instance.guest {
            Some(guest) => guest.deliver(delivery),
            None => {
                let Some(function) = self.functions.orchestrators.get(&instance.name).cloned() else {
                    let failure = CoreFailure::new(
                        error_types::ORCHESTRATOR_NOT_FOUND,
                        format!(
                            "no orchestrator named '{}' is registered with the harness: add it with \
                             Harness::orchestrator, or add its component with Harness::component",
                            instance.name
                        ),
                    );
                    let guestless = lifecycle::failed_without_guest(
                        (&instance.name, &instance.input),
                        instance.history.len() as u64,
                        Vec::new(),
                        failure,
                        self.now,
                    );
                    self.commit_guestless(instance_id, guestless);
                    return;
                };
                let mut replayer = Replayer::new(instance_id, instance.execution, "", instance.history.clone())
                    .expect("the harness writes well-formed histories");
                replayer.deliver(delivery.time, delivery.messages);
                let (guest, episode) =
                    Guest::start(instance_id.to_string(), replayer, function, (logs, self.episode_limit));
                instance.guest = Some(guest);
                episode
            }
        };
        let Yield { output, custom_status } = episode;
        self.commit(instance_id, output, custom_status, None);
    }

    fn commit_guestless(&mut self, instance_id: &str, guestless: Guestless) {
        let custom_status = self.instances.get(instance_id).and_then(|i| i.custom_status.clone());
        self.commit(instance_id, guestless.output, custom_status, guestless.status);
    }

    /// Plans the episode's commit as the host does, and applies it.
    fn commit(
        &mut self,
        instance_id: &str,
        output: EpisodeOutput,
        custom_status: Option<Payload>,
        decided: Option<(RuntimeStatus, Option<CoreFailure>)>,
    ) {
        let instance = &self.instances[instance_id];
        let (input, parent, execution) = (instance.input.clone(), instance.parent.clone(), instance.execution);
        let locks = instance.guest.as_ref().map(Guest::locks_to_release).unwrap_or_default();
        let episode = Episode {
            instance: episode::Instance { id: instance_id, execution, input: &input, parent: parent.as_ref() },
            owner: "reprise-sdk-testing",
            now: self.now,
            output,
            custom_status,
            consumed: Vec::new(),
            pin: None,
            status: decided,
        };
        let needs = episode::needs(&episode);
        let facts = Facts {
            parent_awaits: needs.parent
                && parent.as_ref().is_some_and(|p| {
                    self.instances
                        .get(&p.instance_id)
                        .is_some_and(|i| i.execution == p.execution && !i.status.is_terminal())
                }),
            children: if needs.children { self.running_children(instance_id) } else { Vec::new() },
            locks_held: if needs.locks { locks } else { Vec::new() },
        };
        let claims = Claims { slots: 0, lease_until: 0, runs_here: &|_| false, flow: &reprise_core::flow::NO_LIMITS };
        let plan = episode::plan(episode, facts, claims);
        self.apply(plan.commit);
    }

    fn running_children(&self, parent: &str) -> Vec<String> {
        self.instances
            .iter()
            .filter(|(_, i)| i.parent.as_ref().is_some_and(|p| p.instance_id == parent) && !i.status.is_terminal())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// What the store does with an episode's commit, in memory.
    fn apply(&mut self, commit: EpisodeCommit) {
        let id = commit.instance_id.clone();
        let now = self.now;
        for task in commit.new_activities {
            let seq = self.next_seq();
            self.tasks.push(Task {
                seq,
                key: ActivityTaskKey { instance_id: id.clone(), execution: commit.execution, task_id: task.task_id },
                name: task.name,
                input: task.input,
                options: task.options,
                attempt: 1,
                due_at: now,
                created_at: now,
            });
        }
        for message in commit.outgoing {
            self.send(message);
        }
        for child in commit.new_instances {
            self.create(child);
        }
        let instance = self.instances.get_mut(&id).expect("the instance exists");
        instance.history.extend(commit.new_events);
        instance.status = commit.status;
        instance.output = commit.output;
        instance.failure = commit.failure;
        instance.custom_status = commit.custom_status;
        let ended = commit.status.is_terminal();
        if ended {
            // The store deletes a finished execution's pending work: its timers never fire.
            instance.guest = None;
            self.queue.retain(|q| q.instance_id != id);
            self.tasks.retain(|t| t.key.instance_id != id);
        }
        if let Some(next) = commit.continue_as_new {
            let instance = self.instances.get_mut(&id).expect("the instance exists");
            instance.guest = None;
            instance.earlier.push(std::mem::take(&mut instance.history));
            instance.execution += 1;
            instance.input = next.input.clone();
            instance.output = None;
            instance.failure = None;
            if let Some(parent) = next.parent {
                instance.parent = Some(parent);
            }
            let name = instance.name.clone();
            // Pending events go to the new execution, after the carried ones, when asked;
            // everything else of the old execution is dropped.
            let kept: Vec<Queued> = if next.keep_pending_events {
                self.queue
                    .iter()
                    .filter(|q| q.instance_id == id && matches!(q.message, Message::EventRaised { .. }))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            self.queue.retain(|q| q.instance_id != id);
            self.tasks.retain(|t| t.key.instance_id != id);
            let start = Message::Start { name, input: next.input };
            self.send(OutgoingMessage {
                instance_id: id.clone(),
                message: start,
                visible_at: next.start_at,
                execution: None,
            });
            for message in next.carry {
                self.send(OutgoingMessage { instance_id: id.clone(), message, visible_at: now, execution: None });
            }
            for q in kept {
                self.send(OutgoingMessage {
                    instance_id: id.clone(),
                    message: q.message,
                    visible_at: q.visible_at,
                    execution: None,
                });
            }
        }
    }

    // ---- activities ----------------------------------------------------------------------------

    /// Runs the next attempt of the task `seq` and records its result, or its retry, as the host
    /// does.
    fn attempt(&mut self, seq: u64) {
        self.step();
        let Some(index) = self.tasks.iter().position(|t| t.seq == seq) else { return };
        let task = self.tasks.remove(index);
        let attempt = match self.functions.activities.get(&task.name).cloned() {
            None => Attempt::Failed(CoreFailure::new(
                error_types::ACTIVITY_NOT_FOUND,
                format!(
                    "no activity named '{}' is registered with the harness: give it with Harness::activity or \
                     Harness::activity_results, or add its component with Harness::component",
                    task.name
                ),
            )),
            Some(function) => {
                let host = Rc::new(AttemptHost { key: task.key.clone(), attempt: task.attempt });
                let _installed = seam::install(seam::Host::Activity(host));
                // A panic in an activity of a test is the test's own assertion: it fails the test.
                match catch_unwind(AssertUnwindSafe(|| function(task.input.as_str()))) {
                    Ok(Ok(output)) => match Payload::parse(output, MAX_PAYLOAD) {
                        Ok(output) => Attempt::Completed(output),
                        Err(error) => {
                            Attempt::Failed(error.failure(&format!("the output of activity '{}'", task.name)))
                        }
                    },
                    Ok(Err(failure)) => Attempt::Failed(convert::failure_to_core(failure)),
                    Err(panic) => resume_unwind(panic),
                }
            }
        };
        self.calls.push(ActivityCall {
            instance_id: task.key.instance_id.clone(),
            name: task.name.clone(),
            input: json_value(task.input.as_str()),
            attempt: task.attempt,
            at: self.now,
            outcome: match &attempt {
                Attempt::Completed(output) => Ok(json_value(output.as_str())),
                Attempt::Failed(failure) | Attempt::NotStarted(failure) => {
                    Err(convert::failure_from_core(failure.clone()))
                }
            },
        });
        let claimed = ActivityTask {
            key: task.key.clone(),
            name: task.name.clone(),
            input: task.input.clone(),
            options: task.options.clone(),
            attempt: task.attempt,
            created_at: task.created_at,
            lease_until: self.now,
        };
        let (instance_id, task_id, execution) = (task.key.instance_id.clone(), task.key.task_id, task.key.execution);
        let to_instance = |message| OutgoingMessage {
            instance_id: instance_id.clone(),
            message,
            visible_at: self.now,
            execution: Some(execution),
        };
        let message = match activity_plan::result(&claimed, task.options.retry.as_ref(), attempt, self.now) {
            ActivityResult::Completed(output) => Message::ActivityCompleted { task_id, output },
            ActivityResult::Failed(failure) => Message::ActivityFailed { task_id, failure },
            ActivityResult::Retry { failure, next_attempt_at } => {
                let record =
                    to_instance(Message::ActivityRetrying { task_id, attempt: task.attempt, failure, next_attempt_at });
                self.send(record);
                let seq = self.next_seq();
                self.tasks.push(Task { seq, attempt: task.attempt + 1, due_at: next_attempt_at, ..task });
                return;
            }
        };
        let message = to_instance(message);
        self.send(message);
    }

    // ---- entities ------------------------------------------------------------------------------

    /// Runs one batch of the entity `instance_id` over the queued messages `seqs`, as the host
    /// does; false if it consumed nothing (everything waits for a lock's release).
    fn entity_batch(&mut self, instance_id: &str, seqs: &[u64]) -> bool {
        let Ok(entity) = EntityId::from_instance_id(instance_id) else {
            self.queue.retain(|q| !seqs.contains(&q.seq));
            return true;
        };
        let state = self.entities.entry(instance_id.to_string()).or_default().clone();
        let offered: Vec<Queued> = self.queue.iter().filter(|q| seqs.contains(&q.seq)).cloned().collect();
        let mut batch =
            Batch::new(entity.clone(), (state.state, state.locked_by, state.operations), offered.len(), self.now);
        for queued in offered {
            let caller_waits = |caller: &EntityCaller| {
                self.instances
                    .get(&caller.instance_id)
                    .is_some_and(|i| i.execution == caller.execution && !i.status.is_terminal())
            };
            match batch.offer(queued.seq as i64, queued.message, &caller_waits) {
                Offer::Run { operation, number } => {
                    let outcome = self.run_operation(&entity, &operation, number, batch.state().cloned());
                    if let Some(failure) = batch.ran(&operation, outcome) {
                        let failure = convert::failure_from_core(failure);
                        self.signal_failures.push((entity.clone(), operation.operation.clone(), failure));
                    }
                }
                Offer::End => break,
                Offer::Next | Offer::NotGranted(_) | Offer::Dropped(_) => {}
            }
        }
        let Some((commit, _)) = batch.finish("reprise-sdk-testing") else { return false };
        let consumed: Vec<u64> = commit.consumed_messages.iter().map(|id| *id as u64).collect();
        self.queue.retain(|q| !consumed.contains(&q.seq));
        let kept = self.entities.entry(instance_id.to_string()).or_default();
        kept.state = commit.state;
        kept.locked_by = commit.locked_by;
        kept.operations += commit.operations;
        for message in commit.outgoing {
            self.send(message);
        }
        for instance in commit.new_instances {
            self.create(instance);
        }
        true
    }

    /// Runs one operation with the components' entity tables: what it applies, or its failure.
    fn run_operation(
        &mut self,
        entity: &EntityId,
        operation: &EntityOperation,
        number: u64,
        state: Option<Payload>,
    ) -> Result<Applied, CoreFailure> {
        let Some(table) = self.functions.entities.iter().find(|t| t.iter().any(|e| e.name == entity.name)) else {
            return Err(CoreFailure::new(
                error_types::ENTITY_NOT_FOUND,
                format!(
                    "no entity type named '{}' is registered with the harness: add its component with \
                     Harness::component",
                    entity.name
                ),
            ));
        };
        let host = Rc::new(OperationHost {
            entity: entity.clone(),
            number,
            now: self.now,
            guids: RefCell::new(0),
            outgoing: RefCell::default(),
            new_instances: RefCell::default(),
            logs: self.logs.clone(),
        });
        let ran = {
            let _installed = seam::install(seam::Host::Entity(host.clone()));
            crate::__private::dispatch_operation(
                table,
                &entity.name,
                &operation.operation,
                operation.input.as_str(),
                state.as_ref().map(Payload::as_str),
            )
        };
        let (state, output) = ran.map_err(convert::failure_to_core)?;
        let checked = |what: &str, text: String| {
            Payload::parse(text, MAX_PAYLOAD)
                .map_err(|e| e.failure(&format!("{what} of operation '{}'", operation.operation)))
        };
        let state = state.map(|s| checked("the new state", s)).transpose()?;
        let output = checked("the output", output)?;
        let host = Rc::try_unwrap(host).unwrap_or_else(|_| panic!("the operation's host outlived it"));
        Ok(Applied {
            state,
            output,
            outgoing: host.outgoing.into_inner(),
            new_instances: host.new_instances.into_inner(),
        })
    }
}

fn json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// The host of one activity attempt.
struct AttemptHost {
    key: ActivityTaskKey,
    attempt: u32,
}

impl ActivityHost for AttemptHost {
    fn instance_id(&self) -> String {
        self.key.instance_id.clone()
    }
    fn task_id(&self) -> u64 {
        self.key.task_id
    }
    fn attempt(&self) -> u32 {
        self.attempt
    }
    fn idempotency_key(&self) -> String {
        reprise_core::idempotency_key(&self.key.instance_id, self.key.execution, self.key.task_id)
    }
}

/// The host of one entity operation: its effects are kept, and committed only if it succeeds.
struct OperationHost {
    entity: EntityId,
    number: u64,
    now: Timestamp,
    guids: RefCell<u64>,
    outgoing: RefCell<Vec<OutgoingMessage>>,
    new_instances: RefCell<Vec<NewInstance>>,
    logs: Arc<Mutex<Vec<LogLine>>>,
}

impl OperationHost {
    fn derived_id(&self, what: &str) -> String {
        let mut guids = self.guids.borrow_mut();
        *guids += 1;
        reprise_core::entity::derived_id(&self.entity, self.number, what, *guids)
    }

    fn payload(&self, what: impl FnOnce() -> String, text: &str) -> Payload {
        Payload::parse(text, MAX_PAYLOAD).unwrap_or_else(|error| panic!("{} is {error}", what()))
    }
}

impl EntityHost for OperationHost {
    fn id(&self) -> wire::EntityId {
        wire::EntityId { name: self.entity.name.clone(), key: self.entity.key.clone() }
    }
    fn current_time(&self) -> u64 {
        self.now
    }
    fn new_guid(&self) -> String {
        self.derived_id("guid")
    }
    fn log(&self, level: wire::LogLevel, message: &str) {
        let line =
            LogLine { instance_id: self.entity.to_string(), level: convert::level(level), message: message.into() };
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
    fn signal_entity(&self, entity: &wire::EntityId, operation: &str, input: &str) {
        let target = EntityId { name: entity.name.clone(), key: entity.key.clone() };
        let input = self.payload(|| format!("the input of operation '{operation}' on {target}"), input);
        let message = Message::EntityOperation(EntityOperation {
            operation: operation.to_string(),
            input,
            caller: None,
            in_critical_section: false,
        });
        self.outgoing.borrow_mut().push(OutgoingMessage {
            instance_id: target.instance_id(),
            message,
            visible_at: self.now,
            execution: None,
        });
    }
    fn start_orchestration(&self, name: &str, input: &str, instance_id: Option<&str>) -> String {
        let input = self.payload(|| format!("the input of orchestrator '{name}'"), input);
        let id = instance_id.map(str::to_string).unwrap_or_else(|| self.derived_id("instance"));
        let instance_id = reprise_core::InstanceId::new(id).unwrap_or_else(|error| panic!("{error}"));
        self.new_instances.borrow_mut().push(NewInstance {
            instance_id: instance_id.clone(),
            name: name.to_string(),
            input,
            created_at: self.now,
            parent: None,
            if_taken: None,
        });
        instance_id.into_string()
    }
}
