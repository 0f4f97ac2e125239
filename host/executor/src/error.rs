//! Errors the executor reports to its callers (the CLI, tests).

use reprise_core::PayloadError;
use reprise_runtime::LoadError;
use reprise_store::StoreError;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// No loaded component exports an orchestrator of that name.
    #[error("no loaded component exports an orchestrator named '{name}'; known orchestrators: {known}")]
    UnknownOrchestrator {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// The input is not one JSON document.
    #[error("the input is not valid JSON: {0}; quote strings as JSON (for example '\"text\"')")]
    InvalidInput(serde_json::Error),
    /// A payload is larger than the host accepts.
    #[error(
        "the payload is {size} bytes, more than the host's limit of {limit} bytes; pass a reference (a URL, a key) instead of the data"
    )]
    PayloadTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No loaded component exports an entity type of that name.
    #[error("no loaded component exports an entity named '{name}'; known entities: {known}")]
    UnknownEntity {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// An entity address that breaks the rules.
    #[error("invalid entity id: {0}")]
    InvalidEntityId(#[from] reprise_core::EntityIdError),
    /// The id names an entity, where an orchestration instance was expected.
    #[error("'{0}' is an entity, not an orchestration instance: use the entity commands (signal, get) instead")]
    NotAnOrchestration(String),
    /// An instance id that cannot be used.
    #[error(transparent)]
    InvalidInstanceId(#[from] reprise_core::InstanceIdError),
    /// No instance has that id.
    #[error("no instance with id '{0}'")]
    InstanceNotFound(String),
    /// No component with this hash is loaded or in the store.
    #[error(
        "no component with hash {0} is in the store; load it (reprise upgrade --component FILE) or see `reprise components`"
    )]
    UnknownComponent(String),
    /// A component file could not be read.
    #[error("cannot read component {path}: {source}")]
    ReadComponent {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A component could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The instance cannot be rewound (nothing was changed).
    #[error(transparent)]
    Rewind(#[from] reprise_core::plan::rewind::RewindRefusal),
    /// The instance changed while its rewind was planned (nothing was changed).
    #[error(
        "instance '{instance_id}' changed while its rewind was prepared ({reason}); nothing was rewound, try again"
    )]
    RewindRaced {
        /// The instance that changed.
        instance_id: String,
        /// How.
        reason: String,
    },
    /// A restart under the instance's own id asked for an instance that has not finished.
    #[error(
        "instance '{instance_id}' is {status}; only a finished instance (Completed, Failed, Terminated) can be restarted under its own id: restart it under a new id, or terminate it first"
    )]
    RestartUnfinished {
        /// The instance.
        instance_id: String,
        /// Its status.
        status: reprise_core::RuntimeStatus,
    },
    /// An update id that breaks the rules.
    #[error(transparent)]
    InvalidUpdateId(#[from] reprise_core::update::UpdateIdError),
    /// The instance's validator refused the update; nothing was recorded.
    #[error("instance '{instance_id}' refused update '{name}': {failure}")]
    UpdateRefused {
        /// The instance.
        instance_id: String,
        /// The update's name.
        name: String,
        /// The validator's failure (boxed: every other error stays small).
        failure: Box<reprise_core::Failure>,
    },
    /// The instance has no update of that id.
    #[error("instance '{instance_id}' has no update with id '{update_id}'")]
    UpdateNotFound {
        /// The instance.
        instance_id: String,
        /// The update id asked for.
        update_id: String,
    },
    /// A schedule's definition is refused.
    #[error(transparent)]
    InvalidSchedule(#[from] reprise_core::schedule::ScheduleError),
    /// Other processes kept writing the schedule while this one tried to (nothing was changed).
    #[error("schedule '{0}' kept changing while this request tried to write it; try again")]
    ScheduleBusy(String),
    /// A backfill's range is refused.
    #[error("cannot backfill: {0}")]
    BackfillRange(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PayloadError> for ExecutorError {
    fn from(error: PayloadError) -> Self {
        match error {
            PayloadError::NotJson(error) => ExecutorError::InvalidInput(error),
            PayloadError::TooLarge { size, limit } => ExecutorError::PayloadTooLarge { size, limit },
        }
    }
}
