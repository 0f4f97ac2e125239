//! The host side of [`crate::host`] off wasm: each import is answered by the host the harness
//! installed for the current thread. The harness installs an [`OrchestrationHost`] on the thread
//! that runs an orchestrator, and an [`ActivityHost`] or an [`EntityHost`] around one activity
//! attempt or one entity operation.
//!
//! The functions keep the signatures of the WIT bindings, so the SDK's code is the same on both
//! targets.

use std::cell::RefCell;
use std::rc::Rc;

use crate::__private::bindings::reprise::durable::types::{
    ActivityOptions, Completion, EntityId, Failure, LogLevel, SubOrchestrationOptions,
};

/// Answers an orchestrator's host calls (see `wit/durable.wit`, interface `orchestration`).
#[allow(missing_docs)]
pub(crate) trait OrchestrationHost {
    fn instance_id(&self) -> String;
    fn is_replaying(&self) -> bool;
    fn current_time(&self) -> u64;
    fn new_guid(&self) -> String;
    fn version(&self, change_id: &str, max: u32) -> u32;
    fn set_custom_status(&self, status: Option<&str>);
    fn log(&self, level: LogLevel, message: &str);
    fn schedule_activity(&self, name: &str, input: &str, options: Option<&ActivityOptions>) -> u64;
    fn schedule_sub_orchestration(&self, name: &str, input: &str, options: &SubOrchestrationOptions) -> u64;
    fn continue_as_new(&self, input: &str, carry_unprocessed_events: bool);
    fn schedule_timer(&self, fire_at: u64) -> u64;
    fn wait_for_event(&self, name: &str) -> u64;
    fn wait_for_update(&self, name: &str) -> u64;
    fn reply_update(&self, update_id: &str, reply: Result<&str, &Failure>);
    fn raise_event(&self, instance_id: &str, name: &str, data: &str);
    fn call_entity(&self, entity: &EntityId, operation: &str, input: &str) -> u64;
    fn signal_entity(&self, entity: &EntityId, operation: &str, input: &str);
    fn lock_entities(&self, entities: &[EntityId]) -> u64;
    fn unlock_entities(&self);
    fn wait_all(&self, tasks: &[u64]) -> Vec<Completion>;
    fn wait_any(&self, tasks: &[u64]) -> Completion;
}

/// Answers an activity attempt's host calls (interface `activity-context`).
#[allow(missing_docs)]
pub(crate) trait ActivityHost {
    fn instance_id(&self) -> String;
    fn task_id(&self) -> u64;
    fn attempt(&self) -> u32;
    fn idempotency_key(&self) -> String;
}

/// Answers an entity operation's host calls (interface `entity-context`).
#[allow(missing_docs)]
pub(crate) trait EntityHost {
    fn id(&self) -> EntityId;
    fn current_time(&self) -> u64;
    fn new_guid(&self) -> String;
    fn log(&self, level: LogLevel, message: &str);
    fn signal_entity(&self, entity: &EntityId, operation: &str, input: &str);
    fn start_orchestration(&self, name: &str, input: &str, instance_id: Option<&str>) -> String;
}

#[derive(Default)]
struct Hosts {
    orchestration: Option<Rc<dyn OrchestrationHost>>,
    activity: Option<Rc<dyn ActivityHost>>,
    entity: Option<Rc<dyn EntityHost>>,
}

thread_local! {
    static HOSTS: RefCell<Hosts> = RefCell::default();
}

/// Puts back the host a thread had before an [`install`], when dropped.
pub(crate) struct Installed {
    restore: Option<Box<dyn FnOnce()>>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if let Some(restore) = self.restore.take() {
            restore();
        }
    }
}

/// A host to install for the current thread, of one of the three kinds.
pub(crate) enum Host {
    Orchestration(Rc<dyn OrchestrationHost>),
    Activity(Rc<dyn ActivityHost>),
    Entity(Rc<dyn EntityHost>),
}

/// Answers the current thread's calls of one kind with `host` until the guard is dropped.
pub(crate) fn install(host: Host) -> Installed {
    HOSTS.with(|hosts| {
        let mut hosts = hosts.borrow_mut();
        let restore: Box<dyn FnOnce()> = match host {
            Host::Orchestration(host) => {
                let before = hosts.orchestration.replace(host);
                Box::new(move || HOSTS.with(|h| h.borrow_mut().orchestration = before))
            }
            Host::Activity(host) => {
                let before = hosts.activity.replace(host);
                Box::new(move || HOSTS.with(|h| h.borrow_mut().activity = before))
            }
            Host::Entity(host) => {
                let before = hosts.entity.replace(host);
                Box::new(move || HOSTS.with(|h| h.borrow_mut().entity = before))
            }
        };
        Installed { restore: Some(restore) }
    })
}

const NO_HOST: &str = "is used outside a Reprise host: off wasm, run the code under test with \
                       reprise_sdk::testing::Harness (see the `testing` module's docs)";

/// The current thread's host of one kind; the borrow ends before the call, which may block.
fn current<T: ?Sized>(pick: impl FnOnce(&Hosts) -> Option<Rc<T>>, what: &str) -> Rc<T> {
    HOSTS.with(|hosts| pick(&hosts.borrow())).unwrap_or_else(|| panic!("reprise_sdk: {what} {NO_HOST}"))
}

/// The `orchestration` imports.
pub(crate) mod orchestration {
    use super::*;

    fn host() -> Rc<dyn OrchestrationHost> {
        current(|h| h.orchestration.clone(), "an orchestrator's `Context`")
    }

    pub(crate) fn instance_id() -> String {
        host().instance_id()
    }
    pub(crate) fn is_replaying() -> bool {
        host().is_replaying()
    }
    pub(crate) fn current_time() -> u64 {
        host().current_time()
    }
    pub(crate) fn new_guid() -> String {
        host().new_guid()
    }
    pub(crate) fn version(change_id: &str, max: u32) -> u32 {
        host().version(change_id, max)
    }
    pub(crate) fn set_custom_status(status: Option<&str>) {
        host().set_custom_status(status)
    }
    pub(crate) fn log(level: LogLevel, message: &str) {
        host().log(level, message)
    }
    pub(crate) fn schedule_activity(name: &str, input: &str) -> u64 {
        host().schedule_activity(name, input, None)
    }
    pub(crate) fn schedule_activity_with_options(name: &str, input: &str, options: &ActivityOptions) -> u64 {
        host().schedule_activity(name, input, Some(options))
    }
    pub(crate) fn schedule_sub_orchestration(name: &str, input: &str, options: &SubOrchestrationOptions) -> u64 {
        host().schedule_sub_orchestration(name, input, options)
    }
    pub(crate) fn continue_as_new(input: &str, carry_unprocessed_events: bool) {
        host().continue_as_new(input, carry_unprocessed_events)
    }
    pub(crate) fn schedule_timer(fire_at: u64) -> u64 {
        host().schedule_timer(fire_at)
    }
    pub(crate) fn wait_for_event(name: &str) -> u64 {
        host().wait_for_event(name)
    }
    pub(crate) fn wait_for_update(name: &str) -> u64 {
        host().wait_for_update(name)
    }
    pub(crate) fn reply_update(update_id: &str, reply: Result<&str, &Failure>) {
        host().reply_update(update_id, reply)
    }
    pub(crate) fn raise_event(instance_id: &str, name: &str, data: &str) {
        host().raise_event(instance_id, name, data)
    }
    pub(crate) fn call_entity(entity: &EntityId, operation: &str, input: &str) -> u64 {
        host().call_entity(entity, operation, input)
    }
    pub(crate) fn signal_entity(entity: &EntityId, operation: &str, input: &str) {
        host().signal_entity(entity, operation, input)
    }
    pub(crate) fn lock_entities(entities: &[EntityId]) -> u64 {
        host().lock_entities(entities)
    }
    pub(crate) fn unlock_entities() {
        host().unlock_entities()
    }
    pub(crate) fn wait_all(tasks: &[u64]) -> Vec<Completion> {
        host().wait_all(tasks)
    }
    pub(crate) fn wait_any(tasks: &[u64]) -> Completion {
        host().wait_any(tasks)
    }
}

/// The `activity-context` imports.
pub(crate) mod activity_context {
    use super::*;

    fn host() -> Rc<dyn ActivityHost> {
        current(|h| h.activity.clone(), "an activity's `ActivityContext`")
    }

    pub(crate) fn instance_id() -> String {
        host().instance_id()
    }
    pub(crate) fn task_id() -> u64 {
        host().task_id()
    }
    pub(crate) fn attempt() -> u32 {
        host().attempt()
    }
    pub(crate) fn idempotency_key() -> String {
        host().idempotency_key()
    }
}

/// The `entity-context` imports.
pub(crate) mod entity_context {
    use super::*;

    fn host() -> Rc<dyn EntityHost> {
        current(|h| h.entity.clone(), "an entity's `EntityContext`")
    }

    pub(crate) fn id() -> EntityId {
        host().id()
    }
    pub(crate) fn current_time() -> u64 {
        host().current_time()
    }
    pub(crate) fn new_guid() -> String {
        host().new_guid()
    }
    pub(crate) fn log(level: LogLevel, message: &str) {
        host().log(level, message)
    }
    pub(crate) fn signal_entity(entity: &EntityId, operation: &str, input: &str) {
        host().signal_entity(entity, operation, input)
    }
    pub(crate) fn start_orchestration(name: &str, input: &str, instance_id: Option<&str>) -> String {
        host().start_orchestration(name, input, instance_id)
    }
}
