//! Errors the executor reports to its callers (the CLI, tests).

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
    /// No instance has that id.
    #[error("no instance with id '{0}'")]
    InstanceNotFound(String),
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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
