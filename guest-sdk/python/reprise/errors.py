"""Failures: the exceptions orchestrators and activities raise, and the wire records they become.

A ``Failure`` raised by an activity or an orchestrator travels to the host as the WIT record
``reprise:durable/types.failure``; any other exception becomes one too, its class name as the
error type and its traceback as the details. An orchestrator receives the failure of a task it
waits on as a ``TaskFailedError``.
"""

from __future__ import annotations

# The host's interfaces and types: the bindings inside a component (see `_host`).
from ._host import types

import traceback
from dataclasses import dataclass
from typing import List, Optional


@dataclass(frozen=True)
class FailureCause:
    """One link of a failure's chain of causes."""

    error_type: str
    message: str
    details: Optional[str] = None


class Failure(Exception):
    """A structured failure, as Durable Functions' FailureDetails.

    ``error_type`` is a stable, machine-matchable name (``"InsufficientFunds"``), ``message`` a
    human-readable description, ``details`` optional extra text, and ``causes`` the chain of inner
    causes, outermost first.
    """

    #: An activity failed (the activity's own failure is ``causes[0]``).
    ACTIVITY_FAILED = "ActivityFailed"
    #: A sub-orchestration failed (the child's own failure is ``causes[0]``).
    SUB_ORCHESTRATION_FAILED = "SubOrchestrationFailed"
    #: An input was not valid JSON, or could not be encoded to JSON.
    INVALID_INPUT = "InvalidInput"
    #: An output could not be encoded to JSON.
    INVALID_OUTPUT = "InvalidOutput"
    #: Options the host would refuse (a retry policy with no attempts, for example).
    INVALID_OPTIONS = "InvalidOptions"
    #: An activity attempt ran out of time.
    TIMED_OUT = "TimedOut"
    #: No orchestrator or activity of that name.
    UNKNOWN_FUNCTION = "UnknownFunction"
    #: The host broke the protocol (a completion for a task that was not awaited).
    PROTOCOL_ERROR = "ProtocolError"
    #: An entity operation failed (the operation's own failure is ``causes[0]``).
    ENTITY_OPERATION_FAILED = "EntityOperationFailed"
    #: An entity's stored state is not JSON.
    INVALID_STATE = "InvalidState"

    def __init__(
        self,
        error_type: str,
        message: str,
        details: Optional[str] = None,
        causes: Optional[List[FailureCause]] = None,
    ) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.details = details
        self.causes: List[FailureCause] = list(causes or [])

    def caused_by(self, inner: "Failure") -> "Failure":
        """Appends ``inner`` (and its own causes) to this failure's chain, and returns self."""
        self.causes.append(FailureCause(inner.error_type, inner.message, inner.details))
        self.causes.extend(inner.causes)
        return self

    def matches(self, error_type: str) -> bool:
        """True if this failure or any of its causes has the type ``error_type``."""
        return self.error_type == error_type or any(c.error_type == error_type for c in self.causes)

    @property
    def cause(self) -> Optional[FailureCause]:
        """The first cause (for an activity's failure: the activity's own failure), if any."""
        return self.causes[0] if self.causes else None

    @classmethod
    def from_exception(cls, error: BaseException) -> "Failure":
        """``error`` itself if it is a ``Failure``; otherwise a failure named after its class,
        with its traceback as details and its ``__cause__`` chain as causes."""
        if isinstance(error, Failure):
            return error
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        failure = cls(type(error).__name__, str(error), details)
        inner = error.__cause__
        while inner is not None:
            failure.causes.append(FailureCause(type(inner).__name__, str(inner)))
            inner = inner.__cause__
        return failure

    def to_wire(self):
        """The WIT record of this failure."""

        causes = [types.FailureCause(c.error_type, c.message, c.details) for c in self.causes]
        return types.Failure(self.error_type, self.message, self.details, causes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.error_type!r}, {self.message!r}, causes={self.causes!r})"


class TaskFailedError(Failure):
    """The failure of a task an orchestrator waited on: an activity, a sub-orchestration...

    For an activity, ``error_type`` is ``ActivityFailed`` and the activity's own failure is
    ``cause``; ``matches`` searches the whole chain::

        try:
            ctx.call_activity("credit_account", op)
        except TaskFailedError as err:
            if err.matches("AccountFrozen"):
                ...
    """

    @classmethod
    def from_wire(cls, failure) -> "TaskFailedError":
        """The exception for the WIT record ``failure``."""
        causes = [FailureCause(c.error_type, c.message, c.details) for c in failure.causes]
        return cls(failure.error_type, failure.message, failure.details, causes)
