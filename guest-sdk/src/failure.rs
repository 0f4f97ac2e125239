//! Structured failures: what orchestrators and activities return instead of panicking.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A structured failure, as Durable Functions' `FailureDetails`: a machine-matchable
/// `error_type`, a human-readable `message`, optional `details`, and the chain of inner causes.
///
/// It mirrors the WIT record `reprise:durable/types.failure`. Orchestrators and activities return
/// it as the `Err` of their `Result`; an orchestrator receives it as the `Err` of an activity
/// task's outcome.
///
/// # Failures of activities, as an orchestrator sees them
///
/// When an activity fails, the host does not hand its failure to the orchestrator as is: it wraps
/// it in a failure of type [`ACTIVITY_FAILED`](Self::ACTIVITY_FAILED) whose message reads
/// `activity 'NAME' failed: ...`, with the activity's own failure as `causes[0]` (followed by that
/// failure's own causes). With a [`RetryPolicy`](crate::RetryPolicy), it is the failure of the
/// last attempt, and an attempt stopped by its timeout failed with [`TIMED_OUT`](Self::TIMED_OUT).
/// Match on the inner type with [`Failure::is`], which looks at the whole chain:
///
/// ```
/// use reprise_sdk::Failure;
///
/// // What the orchestrator receives when the activity `debit` returned
/// // `Err(Failure::new("InsufficientFunds", "balance is 10, 25 needed"))`:
/// let delivered = Failure::new("ActivityFailed", "activity 'debit' failed: balance is 10, 25 needed")
///     .caused_by(Failure::new("InsufficientFunds", "balance is 10, 25 needed"));
///
/// assert!(delivered.is("InsufficientFunds"));
/// assert!(delivered.is(Failure::ACTIVITY_FAILED));
/// assert_eq!(delivered.cause().unwrap().error_type, "InsufficientFunds");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// A stable, machine-matchable name for the kind of error (for example `InsufficientFunds`).
    pub error_type: String,
    /// A human-readable description.
    pub message: String,
    /// Optional extra detail, such as a stack trace or a JSON document.
    #[serde(default)]
    pub details: Option<String>,
    /// The chain of inner causes, outermost first: `causes[0]` caused this failure, `causes[1]`
    /// caused `causes[0]`, and so on.
    #[serde(default)]
    pub causes: Vec<FailureCause>,
}

/// One link of a [`Failure`]'s chain of causes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCause {
    /// A stable, machine-matchable name for the kind of error (for example `InsufficientFunds`).
    pub error_type: String,
    /// A human-readable description.
    pub message: String,
    /// Optional extra detail, such as a stack trace or a JSON document.
    #[serde(default)]
    pub details: Option<String>,
}

impl Failure {
    /// The error type of the failure the host delivers to an orchestrator when one of its
    /// activities failed; the activity's own failure is its first cause.
    pub const ACTIVITY_FAILED: &'static str = "ActivityFailed";
    /// The error type of a failure to deserialize a function's JSON input, or to serialize the
    /// input of an activity call, the data of an event or a custom status.
    pub const INVALID_INPUT: &'static str = "InvalidInput";
    /// The error type of a failure to serialize a function's output, or to deserialize the output
    /// of a task (an activity's output, an event's data) into the type the orchestrator asked for.
    pub const INVALID_OUTPUT: &'static str = "InvalidOutput";
    /// The error type of a task that was not scheduled because its
    /// [`ActivityOptions`](crate::ActivityOptions) or [`RetryPolicy`](crate::RetryPolicy) hold
    /// values the host refuses (see [`RetryPolicy::validate`](crate::RetryPolicy::validate)).
    pub const INVALID_OPTIONS: &'static str = "InvalidOptions";
    /// The error type the host gives an activity attempt that ran longer than the timeout of its
    /// [`ActivityOptions`](crate::ActivityOptions). As an orchestrator sees it, it is the first
    /// cause of an [`ACTIVITY_FAILED`](Self::ACTIVITY_FAILED) failure: match it with
    /// [`Failure::is`].
    pub const TIMED_OUT: &'static str = "TimedOut";
    /// The placeholder an orchestrator returns after [`Context::continue_as_new`](crate::Context::continue_as_new)
    /// (the host ignores it).
    pub const CONTINUED_AS_NEW: &str = "ContinuedAsNew";
    /// A sub-orchestration failed; the child's own failure is the first cause.
    pub const SUB_ORCHESTRATION_FAILED: &str = "SubOrchestrationFailed";
    /// The error type of the failure the host delivers to an orchestrator when an entity
    /// operation it called failed; the operation's own failure is its first cause.
    pub const ENTITY_OPERATION_FAILED: &'static str = "EntityOperationFailed";
    /// The error type of an entity operation whose stored state does not deserialize into the
    /// entity's type (the type changed incompatibly): the state is left as it was.
    pub const INVALID_STATE: &'static str = "InvalidState";
    /// The error type of a call of an operation that the entity type does not export.
    pub const UNKNOWN_OPERATION: &'static str = "UnknownOperation";
    /// The error type returned when the host asks a component to run a function it does not export.
    pub const UNKNOWN_FUNCTION: &'static str = "UnknownFunction";
    /// The error type used by [`Failure::from_error`].
    pub const ERROR: &'static str = "Error";
    /// The error type of a failure made from an [`http::Error`](crate::http::Error) (a request
    /// the host denied, a transport error, a body that broke off...).
    pub const HTTP_ERROR: &'static str = "HttpError";
    /// The error type of a failure caused by a host that broke the contract of `wait-all` or
    /// `wait-any` (for example by returning a completion for a task that was not waited on).
    pub const PROTOCOL_ERROR: &'static str = "ProtocolError";

    /// A failure with no details and no causes.
    ///
    /// ```
    /// let failure = reprise_sdk::Failure::new("AccountFrozen", "account 'frozen-7' is frozen");
    /// assert_eq!(failure.to_string(), "AccountFrozen: account 'frozen-7' is frozen");
    /// ```
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self { error_type: error_type.into(), message: message.into(), details: None, causes: Vec::new() }
    }

    /// Sets the optional extra detail (a stack trace, a JSON document...).
    #[must_use]
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Appends `inner`, then `inner`'s own causes, to this failure's chain of causes.
    ///
    /// ```
    /// use reprise_sdk::Failure;
    ///
    /// let failure = Failure::new("TransferFailed", "could not move the funds").caused_by(
    ///     Failure::new("AccountFrozen", "account is frozen")
    ///         .caused_by(Failure::new("Compliance", "flagged by a review")),
    /// );
    /// let chain: Vec<&str> = failure.causes.iter().map(|c| c.error_type.as_str()).collect();
    /// assert_eq!(chain, ["AccountFrozen", "Compliance"]);
    /// ```
    #[must_use]
    pub fn caused_by(mut self, inner: Failure) -> Self {
        self.causes.push(FailureCause { error_type: inner.error_type, message: inner.message, details: inner.details });
        self.causes.extend(inner.causes);
        self
    }

    /// A failure of type [`ERROR`](Self::ERROR) from any error: its message is the error's
    /// `Display`, and each error of its [`source`](std::error::Error::source) chain becomes a
    /// cause (also of type `Error`).
    ///
    /// ```
    /// let err = "12x".parse::<u32>().unwrap_err();
    /// let failure = reprise_sdk::Failure::from_error(&err);
    /// assert_eq!(failure.error_type, "Error");
    /// assert_eq!(failure.message, "invalid digit found in string");
    /// ```
    pub fn from_error(error: &dyn std::error::Error) -> Self {
        let mut failure = Self::new(Self::ERROR, error.to_string());
        let mut source = error.source();
        while let Some(inner) = source {
            failure.causes.push(FailureCause {
                error_type: Self::ERROR.to_owned(),
                message: inner.to_string(),
                details: None,
            });
            source = inner.source();
        }
        failure
    }

    /// True if this failure or any of its causes has the given error type.
    pub fn is(&self, error_type: &str) -> bool {
        self.error_type == error_type || self.causes.iter().any(|c| c.error_type == error_type)
    }

    /// The direct cause of this failure (`causes[0]`), if any. For the failure of an activity as
    /// delivered to an orchestrator, this is the failure the activity itself returned.
    pub fn cause(&self) -> Option<&FailureCause> {
        self.causes.first()
    }
}

impl fmt::Display for Failure {
    /// `ErrorType: message`, then one `caused by: ErrorType: message` line per cause.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)?;
        for cause in &self.causes {
            write!(f, "\ncaused by: {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

impl fmt::Display for FailureCause {
    /// `ErrorType: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

use crate::__private::bindings::reprise::durable::types as wire;

impl From<wire::Failure> for Failure {
    fn from(failure: wire::Failure) -> Self {
        Self {
            error_type: failure.error_type,
            message: failure.message,
            details: failure.details,
            causes: failure.causes.into_iter().map(FailureCause::from).collect(),
        }
    }
}

impl From<wire::FailureCause> for FailureCause {
    fn from(cause: wire::FailureCause) -> Self {
        Self { error_type: cause.error_type, message: cause.message, details: cause.details }
    }
}

impl From<Failure> for wire::Failure {
    fn from(failure: Failure) -> Self {
        Self {
            error_type: failure.error_type,
            message: failure.message,
            details: failure.details,
            causes: failure.causes.into_iter().map(wire::FailureCause::from).collect(),
        }
    }
}

impl From<FailureCause> for wire::FailureCause {
    fn from(cause: FailureCause) -> Self {
        Self { error_type: cause.error_type, message: cause.message, details: cause.details }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frozen() -> Failure {
        Failure::new("AccountFrozen", "account 'frozen-1' is frozen")
    }

    #[test]
    fn new_has_no_details_and_no_causes() {
        let failure = frozen();
        assert_eq!(failure.error_type, "AccountFrozen");
        assert_eq!(failure.message, "account 'frozen-1' is frozen");
        assert_eq!(failure.details, None);
        assert!(failure.causes.is_empty());
        assert_eq!(failure.cause(), None);
    }

    #[test]
    fn with_details_sets_details() {
        let failure = frozen().with_details("{\"since\":\"2024\"}");
        assert_eq!(failure.details.as_deref(), Some("{\"since\":\"2024\"}"));
    }

    #[test]
    fn caused_by_appends_inner_then_its_causes() {
        let inner = Failure::new("B", "b")
            .with_details("b-details")
            .caused_by(Failure::new("C", "c").caused_by(Failure::new("D", "d")));
        let outer = Failure::new("A", "a").caused_by(Failure::new("X", "x")).caused_by(inner);
        let types: Vec<_> = outer.causes.iter().map(|c| c.error_type.as_str()).collect();
        assert_eq!(types, ["X", "B", "C", "D"]);
        assert_eq!(outer.causes[1].details.as_deref(), Some("b-details"));
        assert_eq!(outer.cause().map(|c| c.message.as_str()), Some("x"));
    }

    #[test]
    fn is_looks_at_self_and_every_cause() {
        let delivered = Failure::new(Failure::ACTIVITY_FAILED, "activity 'debit' failed: no money").caused_by(
            Failure::new("InsufficientFunds", "no money")
                .caused_by(Failure::new("LedgerLocked", "the ledger is locked")),
        );
        assert!(delivered.is("ActivityFailed"));
        assert!(delivered.is("InsufficientFunds"));
        assert!(delivered.is("LedgerLocked"));
        assert!(!delivered.is("AccountFrozen"));
        assert!(!delivered.is("activityfailed"));
    }

    #[derive(Debug)]
    struct Outer(Inner);
    #[derive(Debug)]
    struct Inner;

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer went wrong")
        }
    }
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("inner went wrong")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    impl std::error::Error for Inner {}

    #[test]
    fn from_error_follows_the_source_chain() {
        let failure = Failure::from_error(&Outer(Inner));
        assert_eq!(failure.error_type, "Error");
        assert_eq!(failure.message, "outer went wrong");
        assert_eq!(
            failure.causes,
            [FailureCause { error_type: "Error".into(), message: "inner went wrong".into(), details: None }]
        );
    }

    #[test]
    fn display_shows_the_type_the_message_and_the_causes() {
        assert_eq!(frozen().to_string(), "AccountFrozen: account 'frozen-1' is frozen");
        let delivered = Failure::new("ActivityFailed", "activity 'credit' failed")
            .with_details("not shown")
            .caused_by(frozen().caused_by(Failure::new("Compliance", "flagged")));
        assert_eq!(
            delivered.to_string(),
            "ActivityFailed: activity 'credit' failed\n\
             caused by: AccountFrozen: account 'frozen-1' is frozen\n\
             caused by: Compliance: flagged"
        );
    }

    #[test]
    fn failure_is_a_std_error() {
        let boxed: Box<dyn std::error::Error> = Box::new(frozen());
        assert_eq!(boxed.to_string(), "AccountFrozen: account 'frozen-1' is frozen");
    }

    #[test]
    fn serde_shape_mirrors_the_wit_record() {
        let failure = Failure::new("A", "a").with_details("d").caused_by(Failure::new("B", "b"));
        let json = serde_json::to_value(&failure).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "error_type": "A",
                "message": "a",
                "details": "d",
                "causes": [{ "error_type": "B", "message": "b", "details": null }],
            })
        );
        let back: Failure = serde_json::from_value(json).unwrap();
        assert_eq!(back, failure);
    }

    #[test]
    fn serde_defaults_missing_details_and_causes() {
        let failure: Failure = serde_json::from_str(r#"{"error_type":"A","message":"a"}"#).unwrap();
        assert_eq!(failure, Failure::new("A", "a"));
    }
}
