//! Errors of the runtime.

/// Why a component could not be loaded. Each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a wasm component.
    #[error(
        "{source_name} is not a WebAssembly component: {reason}. Build it for wasm32-wasip2 (for Rust: cargo build --target wasm32-wasip2)"
    )]
    NotAComponent {
        /// Where it came from.
        source_name: String,
        /// What wasmtime said.
        reason: String,
    },
    /// The component is larger than the runtime loads.
    #[error(
        "{source_name} is {size} bytes, more than the host's limit of {limit} bytes per component \
         (--max-component-bytes); a component this large takes as much memory and time to compile"
    )]
    TooLarge {
        /// Where it came from.
        source_name: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The component exports neither interface of `reprise:durable`.
    #[error(
        "{source_name} exports no orchestrators and no activities: it must export `reprise:durable/orchestrators@0.1.0` or \
         `reprise:durable/activities@0.1.0` (build it against the world `orchestrator`, `activity` or `app` of wit/durable.wit). \
         It exports: {exports}"
    )]
    WrongWorld {
        /// Where it came from.
        source_name: String,
        /// What it does export.
        exports: String,
    },
    /// The component imports something the host does not provide, or failed while listing its
    /// functions.
    #[error("{source_name} cannot be instantiated: {reason}")]
    Instantiate {
        /// Where it came from.
        source_name: String,
        /// Why.
        reason: String,
    },
}

impl GuestError {
    /// Where it happened, for the failure's details: a trap's backtrace and the guest's last
    /// stderr lines.
    pub fn details(&self) -> Option<&str> {
        match self {
            GuestError::Trap { details, .. } => details.as_deref(),
            _ => None,
        }
    }
}

/// How a guest call ended, when it did not return normally.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The guest used more CPU than its budget (an endless loop, for example).
    #[error("{0}")]
    CpuLimit(String),
    /// The guest's activity attempt ran past its timeout and was stopped.
    #[error("{0}")]
    Timeout(String),
    /// The guest tried to grow its memory past the limit.
    #[error("{0}")]
    MemoryLimit(String),
    /// The replay engine refused a call of the orchestrator (nondeterminism, a broken rule of
    /// critical sections, a history past its limits...).
    #[error("{0}")]
    Replay(reprise_core::replay::ReplayError),
    /// The orchestrator's session was closed while it waited (its instance was evicted from the
    /// cache): nothing about the guest is wrong, and nothing is to be recorded.
    #[error("the instance was evicted from the cache")]
    Evicted,
    /// The host refused a call of the guest: a payload it handed over that is not JSON or is
    /// too large, an id the host does not accept, a call of an interface that is not for it.
    #[error("{0}")]
    Refused(String),
    /// The guest trapped: a panic, `unreachable`, a stack overflow, a bad memory access.
    #[error("{message}")]
    Trap {
        /// One line that says what happened, in a user's terms.
        message: String,
        /// The wasm backtrace, the faulting address and the guest's last stderr lines.
        details: Option<String>,
    },
    /// The component could not be instantiated for want of host resources (memory, address
    /// space, mappings): not the guest's fault, and worth trying again once some are freed.
    #[error("{0}")]
    Instantiate(String),
    /// The sandbox the host's configuration describes could not be made (a granted directory
    /// that does not exist, for example): a fault of the configuration, not of the guest.
    #[error("{0}")]
    Sandbox(String),
    /// The component does not export the requested function.
    #[error("{0}")]
    NoSuchFunction(String),
}

/// Why a host call ended the guest on purpose: carried through the guest's trap to the
/// runtime's classification.
#[derive(Debug)]
pub(crate) enum HostEnd {
    /// The replay engine refused the call.
    Replay(reprise_core::replay::ReplayError),
    /// The session was closed while the guest waited.
    Evicted,
    /// The host refused the call, for the reason given.
    Refused(String),
}

/// A [`HostEnd`], as the error of a trap.
#[derive(Debug)]
pub(crate) struct HostTrap(pub(crate) HostEnd);

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            HostEnd::Replay(error) => write!(f, "{error}"),
            HostEnd::Evicted => f.write_str("the instance was evicted from the cache"),
            HostEnd::Refused(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for HostTrap {}

/// The trap that ends a guest for `end`.
pub(crate) fn trap(end: HostEnd) -> wasmtime::Error {
    wasmtime::Error::new(HostTrap(end))
}

/// What the store's flags say stopped a guest.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StopCause {
    Memory,
    Cpu,
    Timeout,
    Other,
}

/// Turns the error a guest call returned into a [`GuestError`] that says what happened in words
/// a user can act on.
pub(crate) fn classify(
    error: wasmtime::Error,
    cause: StopCause,
    what: &str,
    detail: &str,
    stderr_tail: &str,
) -> GuestError {
    let error = match error.downcast::<HostTrap>() {
        Ok(HostTrap(HostEnd::Replay(replay))) => return GuestError::Replay(replay),
        Ok(HostTrap(HostEnd::Evicted)) => return GuestError::Evicted,
        Ok(HostTrap(HostEnd::Refused(message))) => return GuestError::Refused(message),
        Err(error) => error,
    };
    match cause {
        StopCause::Memory => GuestError::MemoryLimit(format!("{what} exceeded its memory limit ({detail})")),
        StopCause::Cpu => GuestError::CpuLimit(format!(
            "{what} used more than its CPU budget of {detail} in one episode and was stopped; it may be stuck in a loop"
        )),
        StopCause::Timeout => GuestError::Timeout(format!("{what} ran past its timeout of {detail} and was stopped")),
        StopCause::Other => {
            let report = crate::trap::TrapReport::of(&error, stderr_tail);
            GuestError::Trap { message: format!("{what} trapped: {}", report.summary), details: report.details }
        }
    }
}
