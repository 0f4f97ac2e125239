"""The host's interfaces for CPython outside a component: the WIT types of ``reprise:durable``
as plain dataclasses, ``Ok``/``Err`` as componentize-py shapes them, and the three interfaces
(``orchestration``, ``activity-context``, ``entity-context``) as forwarders to the object that
``reprise.testing`` binds while it runs a function.

It owns no behaviour of the host: a host call made while nothing is bound is refused with an
error that says so, and ``wasi:http`` (which only a component can reach) refuses every use with
:class:`Unsupported`, so that a test of an activity that makes requests says it needs a mock.
"""

from __future__ import annotations

import enum
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Generic, Iterator, List, Optional, TypeVar

T = TypeVar("T")
E = TypeVar("E")


@dataclass
class Ok(Generic[T]):
    """The ``ok`` case of a WIT ``result``."""

    value: T


class Err(Generic[E], Exception):
    """The ``err`` case of a WIT ``result``: raised by a call that fails, as componentize-py does."""

    def __init__(self, value: E) -> None:
        super().__init__(value)
        self.value = value


class Unsupported(BaseException):
    """A host call ``reprise.testing`` does not simulate. A ``BaseException``, as the harness's
    own control flow is: an orchestrator's ``except Exception`` (or the SDK's boundary, which
    turns exceptions into failures) must not turn it into a failure the test would then see as
    the orchestrator's own."""


class types:
    """The records and enums of ``reprise:durable/types``, field for field."""

    @dataclass
    class FailureCause:
        """``failure-cause``: one link of a failure's chain of causes."""

        error_type: str
        message: str
        details: Optional[str] = None

    @dataclass
    class Failure:
        """``failure``: a structured failure (type, message, details, causes outermost first)."""

        error_type: str
        message: str
        details: Optional[str] = None
        causes: List["types.FailureCause"] = field(default_factory=list)

    @dataclass
    class Completion:
        """``completion``: the outcome of task ``task``, an ``Ok`` of its JSON output or an ``Err``
        of its ``Failure``."""

        task: int
        outcome: Any

    @dataclass
    class RetryPolicy:
        """``retry-policy``: how the host retries a failed task (times in ms)."""

        max_attempts: int
        first_retry_interval_ms: int
        backoff_coefficient: float
        max_retry_interval_ms: Optional[int]
        retry_timeout_ms: Optional[int]
        non_retryable_errors: List[str]

    @dataclass
    class ActivityOptions:
        """``activity-options``: an activity's retry policy and per-attempt timeout (ms)."""

        retry: Optional["types.RetryPolicy"]
        timeout_ms: Optional[int]

    @dataclass
    class SubOrchestrationOptions:
        """``sub-orchestration-options``: a child's instance id (else derived) and retry policy."""

        instance_id: Optional[str]
        retry: Optional["types.RetryPolicy"]

    @dataclass
    class EntityId:
        """``entity-id``: an entity's type name and key."""

        name: str
        key: str

    @dataclass
    class OperationResult:
        """``operation-result``: an entity operation's new state (``None``: deleted) and output,
        as JSON text."""

        state: Optional[str]
        output: str

    class LogLevel(enum.Enum):
        """``log-level``: the severity of a log line."""

        DEBUG = 0
        INFO = 1
        WARN = 2
        ERROR = 3


# What each interface is bound to while a test runs a function, by WIT interface name.
_bound: Dict[str, Any] = {}


@contextmanager
def bound(interface: str, target: Any) -> Iterator[None]:
    """Binds ``interface`` to ``target`` (an object with the interface's functions as methods)
    for the ``with`` block, restoring what was bound before (a child run inside a parent's)."""
    before = _bound.get(interface)
    _bound[interface] = target
    try:
        yield
    finally:
        if before is None:
            _bound.pop(interface, None)
        else:
            _bound[interface] = before


class _Interface:
    """A WIT interface whose functions forward to what is bound to it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, function: str):
        interface = self._name

        def call(*args: Any) -> Any:
            target = _bound.get(interface)
            if target is None:
                raise RuntimeError(
                    f"`{interface}.{function}` is a host call: outside a component it works only while "
                    "reprise.testing runs the function (Harness().start(...), or replay(...))"
                )
            return getattr(target, function)(*args)

        call.__name__ = function
        return call


orchestration = _Interface("orchestration")
activity_context = _Interface("activity-context")
entity_context = _Interface("entity-context")


class _Http:
    """``wasi:http``: reachable only from a component, so any use is refused."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, item: str):
        name = self._name

        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise Unsupported(
                f"reprise.http sends requests through the host ({name}.{item}), which reprise.testing does not "
                "simulate: give the activity that makes them a mock (harness.activity(name, fn))"
            )

        return refuse


outgoing_handler = _Http("wasi:http/outgoing-handler")
streams = _Http("wasi:io/streams")
wasi = _Http("wasi:http/types")
