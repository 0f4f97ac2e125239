//! Durable entities: a Rust type whose value the host keeps, with methods as operations.

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__private::bindings::reprise::durable::types::EntityId as WireEntityId;
use crate::host::entity_context;
use crate::{Failure, Level};

/// The address of an entity: its type name (as exported with [`export!`](crate::export!)) and
/// its key. Shown as `@name@key`, the id of the instance that stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct EntityId {
    /// The entity type's name (no `@`).
    pub name: String,
    /// The key within the type (not empty).
    pub key: String,
}

impl EntityId {
    /// The entity `key` of type `name`: `EntityId::new("Counter", "myCounter")`. The host
    /// refuses (trapping the orchestrator) an empty name or key, or a name with `@`.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        EntityId { name: name.into(), key: key.into() }
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}@{}", self.name, self.key)
    }
}

impl From<&EntityId> for WireEntityId {
    fn from(id: &EntityId) -> Self {
        WireEntityId { name: id.name.clone(), key: id.key.clone() }
    }
}

/// What an entity operation gets from the host, passed to it as `&EntityContext`.
///
/// Entities run deterministically, like orchestrators: the clock reads the logical time of the
/// batch of operations, random sources are seeded, and there are no files and no network. The
/// operation's only effects are its new state and what it asks for here (signals to entities,
/// orchestrations to start), which the host commits with the state, or discards if the operation
/// fails.
#[derive(Debug)]
pub struct EntityContext {
    delete: Cell<bool>,
}

impl EntityContext {
    pub(crate) fn new() -> Self {
        EntityContext { delete: Cell::new(false) }
    }

    /// The entity this operation runs on.
    pub fn id(&self) -> EntityId {
        let id = entity_context::id();
        EntityId { name: id.name, key: id.key }
    }

    /// The logical time of this batch of operations.
    pub fn current_time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(entity_context::current_time())
    }

    /// A new UUID, derived from the entity and its operation count: the same if the batch runs
    /// again after a crash.
    pub fn new_guid(&self) -> String {
        entity_context::new_guid()
    }

    /// Writes a line to the host's log, tagged with the entity id.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        entity_context::log(level.into(), message.as_ref());
    }

    /// Sends `operation` with `input` to `entity` (another one, or this one: it then runs after
    /// the operations already queued), one way, once this operation's result is committed.
    ///
    /// # Errors
    ///
    /// [`INVALID_INPUT`](Failure::INVALID_INPUT) if `input` cannot be serialized to JSON.
    pub fn signal_entity<I: Serialize + ?Sized>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: &I,
    ) -> Result<(), Failure> {
        let json = entity_operation_input(entity, operation, input)?;
        entity_context::signal_entity(&WireEntityId::from(entity), operation, &json);
        Ok(())
    }

    /// Starts an instance of the orchestrator `name` with `input` once this operation's result
    /// is committed, and returns its id (derived from the entity and its operation count, the
    /// same if the batch runs again).
    ///
    /// # Errors
    ///
    /// [`INVALID_INPUT`](Failure::INVALID_INPUT) if `input` cannot be serialized to JSON.
    pub fn start_orchestration<I: Serialize + ?Sized>(&self, name: &str, input: &I) -> Result<String, Failure> {
        let json = orchestration_input(name, input)?;
        Ok(entity_context::start_orchestration(name, &json, None))
    }

    /// Like [`EntityContext::start_orchestration`], with the new instance's id; an id that is
    /// already taken is not started again (so this is idempotent).
    ///
    /// # Errors
    ///
    /// [`INVALID_INPUT`](Failure::INVALID_INPUT) if `input` cannot be serialized to JSON.
    pub fn start_orchestration_with_id<I: Serialize + ?Sized>(
        &self,
        name: &str,
        input: &I,
        instance_id: &str,
    ) -> Result<String, Failure> {
        let json = orchestration_input(name, input)?;
        Ok(entity_context::start_orchestration(name, &json, Some(instance_id)))
    }

    /// Deletes the entity once this operation succeeds: its state is dropped, and its next
    /// operation starts from the type's `Default`. (Every entity also has a built-in `delete`
    /// operation, unless its type exports an operation of that name.)
    pub fn delete_state(&self) {
        self.delete.set(true);
    }
}

pub(crate) fn entity_operation_input<I: Serialize + ?Sized>(
    entity: &EntityId,
    operation: &str,
    input: &I,
) -> Result<String, Failure> {
    serde_json::to_string(input).map_err(|err| {
        Failure::new(
            Failure::INVALID_INPUT,
            format!("the input of operation '{operation}' on {entity} could not be serialized to JSON: {err}"),
        )
    })
}

fn orchestration_input<I: Serialize + ?Sized>(name: &str, input: &I) -> Result<String, Failure> {
    serde_json::to_string(input).map_err(|err| {
        Failure::new(
            Failure::INVALID_INPUT,
            format!("the input of orchestrator '{name}' could not be serialized to JSON: {err}"),
        )
    })
}

/// Marks operations that take `&mut self` (they change the state).
#[doc(hidden)]
pub enum Mutates {}
/// Marks operations that take `&self` (they read the state; it is kept byte for byte).
#[doc(hidden)]
pub enum Reads {}

/// An entity operation: a method `fn(&mut self, &EntityContext, I) -> Result<O, Failure>` (it may
/// change the state) or `fn(&self, &EntityContext, I) -> Result<O, Failure>` (it only reads it).
/// Implemented for both; the marker `M` tells them apart.
pub trait Operation<S, I, O, M> {
    /// True if the operation cannot change the state.
    const READS_ONLY: bool;
    /// Runs the operation.
    fn call(self, state: &mut S, ctx: &EntityContext, input: I) -> Result<O, Failure>;
}

impl<S, I, O, F> Operation<S, I, O, Mutates> for F
where
    F: FnOnce(&mut S, &EntityContext, I) -> Result<O, Failure>,
{
    const READS_ONLY: bool = false;
    fn call(self, state: &mut S, ctx: &EntityContext, input: I) -> Result<O, Failure> {
        self(state, ctx, input)
    }
}

impl<S, I, O, F> Operation<S, I, O, Reads> for F
where
    F: FnOnce(&S, &EntityContext, I) -> Result<O, Failure>,
{
    const READS_ONLY: bool = true;
    fn call(self, state: &mut S, ctx: &EntityContext, input: I) -> Result<O, Failure> {
        self(state, ctx, input)
    }
}

/// An exported entity type, as [`export!`](crate::export!) records it.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct EntityEntry {
    /// The exported type name.
    pub name: &'static str,
    /// Its operations.
    pub operations: &'static [OperationEntry],
}

/// An exported operation: its name and its entry point from (state, input) JSON to
/// (new state, output) JSON.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct OperationEntry {
    /// The operation's name.
    pub name: &'static str,
    /// Runs it.
    #[allow(clippy::type_complexity)]
    pub run: fn(Option<&str>, &str) -> Result<(Option<String>, String), Failure>,
}

/// Runs one operation of entity type `S` on its JSON state and input.
#[doc(hidden)]
pub fn run_operation<S, I, O, M, F>(
    entity: &str,
    operation: &str,
    function: F,
    state: Option<&str>,
    input: &str,
) -> Result<(Option<String>, String), Failure>
where
    S: Serialize + DeserializeOwned + Default,
    I: DeserializeOwned,
    O: Serialize,
    F: Operation<S, I, O, M>,
{
    let mut value: S = match state {
        None => S::default(),
        Some(json) => serde_json::from_str(json).map_err(|err| {
            Failure::new(
                Failure::INVALID_STATE,
                format!("the stored state of entity type '{entity}' does not fit its type: {err}"),
            )
        })?,
    };
    let input: I = serde_json::from_str(input).map_err(|err| {
        Failure::new(
            Failure::INVALID_INPUT,
            format!("invalid input for operation '{operation}' of entity type '{entity}': {err}"),
        )
    })?;
    let ctx = EntityContext::new();
    let output = function.call(&mut value, &ctx, input)?;
    let output = serde_json::to_string(&output).map_err(|err| {
        Failure::new(
            Failure::INVALID_OUTPUT,
            format!("the output of operation '{operation}' could not be serialized to JSON: {err}"),
        )
    })?;
    let state = if ctx.delete.get() {
        None
    } else if F::READS_ONLY && state.is_some() {
        state.map(str::to_owned)
    } else {
        Some(serde_json::to_string(&value).map_err(|err| {
            Failure::new(
                Failure::INVALID_OUTPUT,
                format!("the state of entity type '{entity}' could not be serialized to JSON: {err}"),
            )
        })?)
    };
    Ok((state, output))
}

/// The exported entity type names of `table`, in order.
#[doc(hidden)]
pub fn entity_names(table: &[EntityEntry]) -> Vec<String> {
    table.iter().map(|entry| entry.name.to_owned()).collect()
}

/// Runs `operation` of the entity type `name` of `table`. `delete` is built in (unless the type
/// exports an operation of that name): it drops the state and returns `null`.
#[doc(hidden)]
pub fn dispatch_operation(
    table: &[EntityEntry],
    name: &str,
    operation: &str,
    input: &str,
    state: Option<&str>,
) -> Result<(Option<String>, String), Failure> {
    let Some(entity) = table.iter().find(|entry| entry.name == name) else {
        let exported = if table.is_empty() {
            "none".to_owned()
        } else {
            table.iter().map(|entry| format!("'{}'", entry.name)).collect::<Vec<_>>().join(", ")
        };
        return Err(Failure::new(
            Failure::UNKNOWN_FUNCTION,
            format!("this component exports no entity type named '{name}' (its entities: {exported})"),
        ));
    };
    match entity.operations.iter().find(|op| op.name == operation) {
        Some(op) => (op.run)(state, input),
        None if operation == "delete" => Ok((None, "null".to_owned())),
        None => {
            let mut known: Vec<String> = entity.operations.iter().map(|op| format!("'{}'", op.name)).collect();
            known.push("'delete'".to_owned());
            Err(Failure::new(
                Failure::UNKNOWN_OPERATION,
                format!("entity type '{name}' has no operation '{operation}' (its operations: {})", known.join(", ")),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Default, Serialize, Deserialize)]
    struct Counter {
        value: i64,
    }

    impl Counter {
        fn add(&mut self, _: &EntityContext, amount: i64) -> Result<i64, Failure> {
            if amount < 0 {
                return Err(Failure::new("InvalidOperation", "this is an entity exception"));
            }
            self.value += amount;
            Ok(self.value)
        }

        fn get(&self, _: &EntityContext, (): ()) -> Result<i64, Failure> {
            Ok(self.value)
        }

        fn reset(&mut self, ctx: &EntityContext, (): ()) -> Result<(), Failure> {
            ctx.delete_state();
            Ok(())
        }
    }

    const TABLE: &[EntityEntry] = &[EntityEntry {
        name: "Counter",
        operations: &[
            OperationEntry { name: "add", run: |s, i| run_operation("Counter", "add", Counter::add, s, i) },
            OperationEntry { name: "get", run: |s, i| run_operation("Counter", "get", Counter::get, s, i) },
            OperationEntry { name: "reset", run: |s, i| run_operation("Counter", "reset", Counter::reset, s, i) },
        ],
    }];

    fn run(operation: &str, input: &str, state: Option<&str>) -> Result<(Option<String>, String), Failure> {
        dispatch_operation(TABLE, "Counter", operation, input, state)
    }

    #[test]
    fn operations_start_from_the_default_and_return_the_new_state() {
        assert_eq!(run("add", "5", None), Ok((Some(r#"{"value":5}"#.into()), "5".into())));
        assert_eq!(run("add", "2", Some(r#"{"value":5}"#)), Ok((Some(r#"{"value":7}"#.into()), "7".into())));
    }

    #[test]
    fn reading_keeps_the_stored_text_and_deleting_drops_it() {
        let stored = r#"{ "value" : 7 }"#;
        assert_eq!(run("get", "null", Some(stored)), Ok((Some(stored.into()), "7".into())));
        assert_eq!(run("reset", "null", Some(stored)), Ok((None, "null".into())));
        assert_eq!(run("delete", "null", Some(stored)), Ok((None, "null".into())));
    }

    #[test]
    fn failures_bad_inputs_bad_states_and_unknown_names_are_reported() {
        assert_eq!(run("add", "-1", None).unwrap_err().error_type, "InvalidOperation");
        assert_eq!(run("add", "\"x\"", None).unwrap_err().error_type, Failure::INVALID_INPUT);
        assert_eq!(run("add", "1", Some("[]")).unwrap_err().error_type, Failure::INVALID_STATE);
        let unknown = run("subtract", "1", None).unwrap_err();
        assert_eq!(unknown.error_type, Failure::UNKNOWN_OPERATION);
        assert!(unknown.message.contains("'add', 'get', 'reset', 'delete'"), "{}", unknown.message);
        let failure = dispatch_operation(TABLE, "Timer", "add", "1", None).unwrap_err();
        assert_eq!(failure.message, "this component exports no entity type named 'Timer' (its entities: 'Counter')");
    }
}
