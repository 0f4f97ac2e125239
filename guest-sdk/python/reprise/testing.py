"""Unit tests of orchestrators without a host: ``Harness`` runs one in plain CPython (``unittest``
or pytest), with activities mocked, events raised at chosen points and a virtual clock, and
``replay`` checks an orchestrator against a history a real host recorded::

    from reprise.testing import Harness

    harness = Harness()
    harness.activity("DebitAccount", lambda ctx, op: {"debited": op["amount"]})
    harness.activity_results("CreditAccount", [Failure("AccountFrozen", "frozen"), {"credited": 5}])
    run = harness.start(transfer_funds, {"sourceAccount": "A", "destinationAccount": "B", "amount": 5})
    assert run.status == "Completed" and run.output == {"status": "refunded", ...}

It runs the orchestrator as the host does when it keeps no instance in memory: every episode
re-runs it from the start against its recorded history (the host's replay rules, in
``reprise._replay``), so a replayed command that differs fails the instance as the host fails it:
status ``Failed``, a failure of type ``NondeterminismError`` with the host's message (a broken
critical section: ``LockViolation``; another refused call: ``GuestTrapped``), which a parent
receives as its child's failure. A wait nothing has answered yet ends the episode; the harness
then does what the host would (runs the activities, fires due timers, delivers events) and runs
the next one. The history it records has the host's shape (``Run.history`` is what ``reprise
history ID --json`` shows), and ``Run.commands`` the host's words for each decision.

The simulated world:

- Activities run as soon as they are scheduled, in zero virtual time, one attempt at a time; the
  results of the activities one episode scheduled arrive together, in the next episode. A failed
  attempt is retried under the call's retry policy by the host's rule (:func:`next_attempt`: the
  wait ``min(first * coefficient**(n-1), max)``, computed in ``f64`` as the host computes it, max
  attempts, retry timeout, non-retryable error types matched on the failure and its causes), the
  retry recorded as ``ActivityRetrying`` in an episode of its own; the next attempt runs when the
  clock reaches it. A call's ``timeout`` is recorded but never fires (a mock takes no time): give
  ``Failure("TimedOut", ...)`` as an outcome to test a timeout.
- Timers fire when the clock reaches them (``Run.advance``, ``Run.run_to_completion``).
- Updates are sent with ``Run.update(name, input)`` at the current time, as the host delivers
  them (``UpdateReceived``, ids ``update-1``, ``update-2``... in the order sent); it returns an
  :class:`UpdateAnswer` (answered or not yet). Validators do not run here: they are plain
  functions, tested by calling them with an ``UpdateCheck``.
- Sub-orchestrations run the orchestrator given with ``Harness.orchestrator(name, fn)`` as a
  child instance on the same clock (its id is ``<parent>:1:<task>`` unless the call names one);
  a failed child reaches the parent as ``SubOrchestrationFailed``, and a child whose id is taken
  (by any instance of the run) is not started: the task fails, caused by ``InstanceExists``, as
  on the host. An event the orchestrator raises on another instance is delivered if that
  instance is one of the run's, and is listed in ``Run.sent_events`` either way.
- Entities given with ``Harness.entity(name, fn)`` keep their state in memory
  (``Run.entity_state``); an operation runs as soon as it is called or signalled, in the order
  the orchestrator issued them, and a failed one changes nothing and reaches the caller as
  ``EntityOperationFailed``. A critical section's locks are granted at once (nothing else holds
  them in a run).
- ``random`` is seeded from the instance id at the start of every run of the orchestrator, as the
  host seeds it from its virtual source. ``time.time()``, ``datetime.now()``, ``uuid.uuid4()`` and
  ``os.urandom`` are the machine's own here (the host makes them virtual inside a component): an
  orchestrator should use ``ctx.current_utc_datetime`` and ``ctx.new_uuid()``.

Not supported, each refused with :class:`Unsupported` naming the call rather than simulated:
what an entity operation does besides its state and output (``signal_entity``,
``start_new_orchestration``, ``new_uuid`` from an entity), retry policies on sub-orchestrations,
HTTP (``reprise.http``: mock the activity that makes requests), and following a
``continue_as_new`` (the run stops with status ``ContinuedAsNew`` and ``Run.continued_input``).
``replay`` replays histories with any of these: it only compares commands. It refuses a rewound
history (``ExecutionRewound``).

An instance that runs more than :meth:`Harness.episode_limit` episodes (an orchestrator looping
on activities a mock answers at once) fails the test with a :class:`HarnessError`. Code that
loops without calling the host is not stopped: the host stops it at its CPU limit, which the
harness does not have.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _offline
from ._offline import Err, Ok, Unsupported, types
from ._replay import AUDIT, LockViolationError, NondeterminismError, Replayer, ReplayError, describe_command
from ._replay import load_history
from ._replay import to_history_json
from .context import ActivityContext, OrchestrationContext
from .entity import EntityId
from .errors import Failure, FailureCause
from .exports import _ORCHESTRATORS, _run, _run_entity
from .options import Duration, to_ms

__all__ = [
    "DEFAULT_EPISODE_LIMIT",
    "Harness",
    "HarnessError",
    "LockViolationError",
    "NondeterminismError",
    "ReplayError",
    "Replayed",
    "Run",
    "Unsupported",
    "UpdateAnswer",
    "replay",
]

#: The virtual clock's default start, in milliseconds since the epoch (2023-11-14T22:13:20Z).
DEFAULT_START_MS = 1_700_000_000_000

#: How many episodes an instance may run before the harness takes it for an endless loop
#: (:meth:`Harness.episode_limit`). Each episode replays the history from the start, so a run of
#: this many takes seconds; the Rust harness's bound (100 000 steps) would take hours here.
DEFAULT_EPISODE_LIMIT = 1_000

#: What ``ExecutionStarted`` records as the component in the harness's histories.
COMPONENT = "reprise.testing"


class HarnessError(Exception):
    """A test asked for something the simulated world cannot give: an activity nobody mocked, a
    run to completion that waits for an event never raised, an event for a finished run."""


class UpdateAnswer:
    """What :meth:`Run.update` (or :meth:`Run.answer`) found: whether the orchestrator has
    answered the update ``id`` in the current execution, and how."""

    def __init__(self, update_id: str, reply: Optional[Dict[str, Any]]) -> None:
        #: The update's id (``update-N``).
        self.id = update_id
        self._reply = reply

    @property
    def answered(self) -> bool:
        """True once the orchestrator has answered (with an output or a failure)."""
        return self._reply is not None

    @property
    def output(self) -> Any:
        """The answer's output (decoded JSON). Raises :class:`HarnessError` if the update is not
        answered yet, and the answer's failure if it was answered with one."""
        if self._reply is None:
            raise HarnessError(f"the update '{self.id}' has not been answered (yet): check `answered` first")
        if "failure" in self._reply:
            raise _failure_object(self._reply["failure"])
        return json.loads(self._reply["output"])

    @property
    def failure(self) -> Optional[Failure]:
        """The failure the update was answered with, or ``None``."""
        if self._reply is None or "failure" not in self._reply:
            return None
        return _failure_object(self._reply["failure"])

    def __repr__(self) -> str:
        return f"UpdateAnswer({self.id!r}, {self._reply!r})"


class _Blocked(BaseException):
    """Unwinds the orchestrator when it waits for what the episode cannot answer. A
    ``BaseException``: neither the orchestrator's ``except Exception`` nor the SDK's boundary may
    take it for a failure."""


class _Trap(BaseException):
    """Unwinds the orchestrator after replay refused one of its calls, as the host traps the
    guest (the error itself is kept in ``_Orchestration.refused``)."""


# ----------------------------------------------------------------------------------------------
# Conversions between the WIT records the SDK passes and the host's JSON shapes


def _failure_json(failure: Any) -> Dict[str, Any]:
    """A WIT failure record (or a ``Failure``) in the host's JSON shape (empty fields omitted)."""
    shaped: Dict[str, Any] = {"error_type": failure.error_type, "message": failure.message}
    if failure.details is not None:
        shaped["details"] = failure.details
    causes = []
    for cause in failure.causes:
        item = {"error_type": cause.error_type, "message": cause.message}
        if cause.details is not None:
            item["details"] = cause.details
        causes.append(item)
    if causes:
        shaped["causes"] = causes
    return shaped


def _failure_object(failure: Dict[str, Any]) -> Failure:
    """A failure in the host's JSON shape as a ``Failure`` (whose ``to_wire`` is the WIT record)."""
    causes = [FailureCause(c["error_type"], c["message"], c.get("details")) for c in failure.get("causes", [])]
    return Failure(failure["error_type"], failure["message"], failure.get("details"), causes)


def _wrapping(error_type: str, message: str, inner: Dict[str, Any]) -> Dict[str, Any]:
    """``Failure::wrapping``: ``inner`` becomes the first cause, its own causes after it."""
    return _failure_json(Failure(error_type, message).caused_by(_failure_object(inner)))


def _retry_json(policy: Optional["types.RetryPolicy"]) -> Optional[Dict[str, Any]]:
    if policy is None:
        return None
    shaped: Dict[str, Any] = {
        "max_attempts": policy.max_attempts,
        "first_retry_interval_ms": policy.first_retry_interval_ms,
        "backoff_coefficient": float(policy.backoff_coefficient),
    }
    if policy.max_retry_interval_ms is not None:
        shaped["max_retry_interval_ms"] = policy.max_retry_interval_ms
    if policy.retry_timeout_ms is not None:
        shaped["retry_timeout_ms"] = policy.retry_timeout_ms
    if policy.non_retryable_errors:
        shaped["non_retryable_errors"] = list(policy.non_retryable_errors)
    return shaped


def _completion(task: int, outcome: Tuple[str, Any]) -> "types.Completion":
    kind, value = outcome
    return types.Completion(task, Ok(value) if kind == "ok" else Err(_failure_object(value).to_wire()))


#: ``u64::MAX``: where the host's delays and times saturate.
_U64_MAX = 2**64 - 1


def _powi(base: float, exponent: int) -> float:
    """``f64::powi`` as Rust evaluates it: LLVM's ``powi``, compiler-rt's ``__powidf2``, which
    multiplies by repeated squaring in this order (and takes ``1 / r`` for a negative exponent).
    Python's ``**`` is libm's ``pow``, correctly rounded, which differs in the last bit often
    enough to move a truncated wait by a millisecond (1000 ms * 1.2**3: 1727 against 1728)."""
    recip = exponent < 0
    remaining = -exponent if recip else exponent
    result = 1.0
    while True:
        if remaining & 1:
            result *= base
        remaining //= 2
        if remaining == 0:
            break
        base *= base
    return 1.0 / result if recip else result


def _delay_after(policy: Dict[str, Any], attempt: int) -> int:
    """``RetryPolicy::delay_after``: ``min(first * coefficient.powi(attempt-1), max)`` in
    ``f64`` (the exponent at most 1024), then truncated to whole milliseconds, saturating at
    ``u64::MAX`` (a product that is not finite saturates too)."""
    exponent = min(max(attempt - 1, 0), 1024)
    delay = float(policy["first_retry_interval_ms"]) * _powi(float(policy["backoff_coefficient"]), exponent)
    longest = policy.get("max_retry_interval_ms")
    if longest is not None:
        # `f64::min`: a NaN (0 ms * an infinite power) gives way to the other operand.
        delay = float(longest) if math.isnan(delay) else min(delay, float(longest))
    if not math.isfinite(delay):
        return _U64_MAX
    # `as u64` truncates toward zero and saturates.
    return min(int(min(delay, float(_U64_MAX))), _U64_MAX)


def next_attempt(policy: Dict[str, Any], attempt: int, failure: Dict[str, Any], first_started: int, now: int):
    """``RetryPolicy::next_attempt``: when attempt ``attempt + 1`` runs, or ``None`` if the policy
    gives up (attempts used up, a non-retryable error type on the failure or one of its causes,
    or a next attempt that would start more than the retry timeout after ``first_started``).
    Times are milliseconds and saturate as the host's ``u64`` do."""
    kinds = [failure["error_type"]] + [cause["error_type"] for cause in failure.get("causes", [])]
    if attempt >= policy["max_attempts"] or any(kind in policy.get("non_retryable_errors", []) for kind in kinds):
        return None
    upcoming = min(now + _delay_after(policy, attempt), _U64_MAX)
    timeout = policy.get("retry_timeout_ms")
    if timeout is not None and max(upcoming - first_started, 0) > timeout:
        return None
    return upcoming


# ----------------------------------------------------------------------------------------------
# The orchestration interface over a replayer


class _Orchestration:
    """What the SDK's ``orchestration`` calls reach during one run of an orchestrator: the host's
    functions, over the instance's ``Replayer``."""

    def __init__(self, replayer: Replayer, logs: Optional[List[Tuple[str, str]]]) -> None:
        self.replayer = replayer
        self._logs = logs
        #: True once the orchestrator is unwinding: a wait blocked, or replay refused a call.
        self.unwinding = False
        #: The error replay refused a call with, which ends the execution whatever the
        #: orchestrator's unwinding code raises after it.
        self.refused: Optional[ReplayError] = None

    def _call(self, action: Callable[[], Any]) -> Any:
        # Once a wait has blocked (or replay refused a call), the host never resumes the guest:
        # what an unwinding orchestrator does (its `finally` blocks) reaches nothing, not even a
        # custom status or a log line.
        if self.unwinding:
            raise _Blocked()
        try:
            return action()
        except ReplayError as error:
            self.unwinding = True
            self.refused = error
            raise _Trap(error) from None

    def _wait(self, poll: Callable[[], Any]) -> Any:
        def wait() -> Any:
            while True:
                answer = poll()
                if answer is not None:
                    return answer
                if self.replayer.advance() == "blocked":
                    self.unwinding = True
                    raise _Blocked()

        return self._call(wait)

    def instance_id(self) -> str:
        return self._call(lambda: self.replayer.instance_id)

    def is_replaying(self) -> bool:
        return self._call(lambda: not self.replayer.live)

    def current_time(self) -> int:
        return self._call(lambda: self.replayer.now)

    def new_guid(self) -> str:
        return self._call(self.replayer.new_guid)

    def version(self, change_id: str, newest: int) -> int:
        return self._call(lambda: self.replayer.version(change_id, newest))

    def set_custom_status(self, status: Optional[str]) -> None:
        def set_status() -> None:
            self.replayer.custom_status = status

        self._call(set_status)

    def log(self, level: "types.LogLevel", message: str) -> None:
        def write() -> None:
            # As the host does, lines written while replaying are dropped.
            if self.replayer.live and self._logs is not None:
                self._logs.append((level.name.lower(), message))

        self._call(write)

    def schedule_activity(self, name: str, payload: str) -> int:
        return self._call(lambda: self.replayer.schedule_activity(name, payload, {}))

    def schedule_activity_with_options(self, name: str, payload: str, options: "types.ActivityOptions") -> int:
        shaped: Dict[str, Any] = {}
        if options.retry is not None:
            shaped["retry"] = _retry_json(options.retry)
        if options.timeout_ms is not None:
            shaped["timeout_ms"] = options.timeout_ms
        return self._call(lambda: self.replayer.schedule_activity(name, payload, shaped))

    def schedule_sub_orchestration(self, name: str, payload: str, options: "types.SubOrchestrationOptions") -> int:
        retry = _retry_json(options.retry)
        return self._call(lambda: self.replayer.schedule_sub_orchestration(name, options.instance_id, payload, retry))

    def continue_as_new(self, payload: str, carry_unprocessed_events: bool) -> None:
        # The harness stops at a continue-as-new: which events the next execution keeps is moot.
        self._call(lambda: self.replayer.request_continue_as_new(payload))

    def schedule_timer(self, fire_at: int) -> int:
        return self._call(lambda: self.replayer.schedule_timer(fire_at))

    def wait_for_event(self, name: str) -> int:
        return self._call(lambda: self.replayer.wait_for_event(name))

    def wait_for_update(self, name: str) -> int:
        return self._call(lambda: self.replayer.wait_for_update(name))

    def reply_update(self, update_id: str, reply: Any) -> None:
        shaped = {"failure": _failure_json(reply.value)} if isinstance(reply, Err) else {"output": reply.value}
        self._call(lambda: self.replayer.reply_update(update_id, shaped))

    def raise_event(self, instance_id: str, name: str, payload: str) -> None:
        self._call(lambda: self.replayer.raise_event(instance_id, name, payload))

    def call_entity(self, entity: "types.EntityId", operation: str, payload: str) -> int:
        shaped = {"name": entity.name, "key": entity.key}
        return self._call(lambda: self.replayer.call_entity(shaped, operation, payload))

    def signal_entity(self, entity: "types.EntityId", operation: str, payload: str) -> None:
        shaped = {"name": entity.name, "key": entity.key}
        self._call(lambda: self.replayer.signal_entity(shaped, operation, payload))

    def lock_entities(self, entities: List["types.EntityId"]) -> int:
        shaped = [{"name": e.name, "key": e.key} for e in entities]
        return self._call(lambda: self.replayer.lock_entities(shaped))

    def unlock_entities(self) -> None:
        self._call(self.replayer.unlock_entities)

    def wait_any(self, tasks: List[int]) -> "types.Completion":
        task, outcome = self._wait(lambda: self.replayer.wait_any(list(tasks)))
        return _completion(task, outcome)

    def wait_all(self, tasks: List[int]) -> List["types.Completion"]:
        return [_completion(task, outcome) for task, outcome in self._wait(lambda: self.replayer.wait_all(list(tasks)))]


def _run_orchestrator(
    fn: Callable, replayer: Replayer, logs: Optional[List[Tuple[str, str]]]
) -> Optional[ReplayError]:
    """Runs ``fn`` once from the start against ``replayer``, as the host runs a guest: through the
    SDK's own boundary (JSON in and out, exceptions to failures), ending with the completion or
    the failure it returns, or where it waits for what nothing has delivered. A call replay
    refuses (a nondeterminism, a broken critical section...) ends the execution with the
    error's failure, as the host fails the instance; that error is returned."""
    host = _Orchestration(replayer, logs)
    random.seed(replayer.instance_id)
    with _offline.bound("orchestration", host):
        try:
            if replayer.advance() == "blocked":
                return None
            if replayer.started is None:
                raise ReplayError("corrupt history: the first episode does not start the execution")
            name, payload = replayer.started
            try:
                output = _run("orchestrator", {name: fn}, name, payload, OrchestrationContext)
            except Err as returned:
                if not host.unwinding:
                    replayer.fail(_failure_json(returned.value))
            else:
                # Code that swallowed the unwinding (`except BaseException`) ends nothing.
                if not host.unwinding:
                    replayer.complete(output)
        except (_Blocked, _Trap):
            # A `finally` or `__exit__` that calls the host after a refused call raises
            # `_Blocked` in place of the trap: the refusal is kept on the host object.
            pass
        except ReplayError as error:
            host.refused = error
    if host.refused is not None:
        replayer.abort(_failure_json(host.refused.failure()))
    return host.refused


# ----------------------------------------------------------------------------------------------
# The simulated world


class _ActivityHost:
    """``activity-context`` for one attempt."""

    def __init__(self, instance_id: str, task_id: int, attempt: int) -> None:
        self._instance_id = instance_id
        self._task_id = task_id
        self._attempt = attempt

    def instance_id(self) -> str:
        return self._instance_id

    def task_id(self) -> int:
        return self._task_id

    def attempt(self) -> int:
        return self._attempt

    def idempotency_key(self) -> str:
        return f"{self._instance_id}/1/{self._task_id}"


class _EntityHost:
    """``entity-context`` for one operation: its id and the clock; what else an entity can do
    from an operation is refused (see the module docs)."""

    def __init__(self, entity: Dict[str, str], now: int) -> None:
        self._entity = entity
        self._now = now

    def id(self) -> "types.EntityId":
        return types.EntityId(self._entity["name"], self._entity["key"])

    def current_time(self) -> int:
        return self._now

    def _refuse(self, call: str) -> Any:
        entity = f"@{self._entity['name']}@{self._entity['key']}"
        raise Unsupported(
            f"reprise.testing does not simulate {call} from an entity operation (on {entity}): it runs an "
            "operation's state and output only. Test what the operation sends or starts against a host, and the "
            "orchestrator here with a stand-in entity that leaves the call out (harness.entity(name, fn))"
        )

    def new_guid(self) -> str:
        return self._refuse("new_uuid")

    def signal_entity(self, *_args: Any) -> None:
        self._refuse("signal_entity")

    def start_orchestration(self, *_args: Any) -> str:
        return self._refuse("start_new_orchestration")


class _Instance:
    """One orchestration instance of a run: its function, its history, what waits to be delivered."""

    def __init__(self, instance_id: str, name: str, fn: Callable, payload: str, parent: Optional[Tuple["_Instance", int]]):
        self.instance_id = instance_id
        self.name = name
        self.fn = fn
        self.parent = parent
        self.history: List[Dict[str, Any]] = []
        self.pending: List[Dict[str, Any]] = [
            {"type": "ExecutionStarted", "name": name, "input": payload, "component": COMPONENT}
        ]
        self.custom_status: Optional[str] = None
        self.terminal: Optional[Tuple[str, Any]] = None
        self.waiting: List[str] = []
        #: How many episodes ran the orchestrator.
        self.episodes = 0


class Run:
    """One orchestration run by a :class:`Harness`: what it reached, and the controls that move
    it on (events, time)."""

    def __init__(self, harness: "Harness", fn: Callable, name: str, payload: str) -> None:
        self._harness = harness
        self.now: int = harness._start_ms
        #: (name, input, attempt) of every activity attempt run, in order.
        self.activity_calls: List[Tuple[str, Any, int]] = []
        #: (level, message) of every line the orchestrators logged (once each, as the host).
        self.logs: List[Tuple[str, str]] = []
        #: (instance id, name, data) of every event an orchestrator raised on another instance.
        self.sent_events: List[Tuple[str, str, Any]] = []
        self._instances: Dict[str, _Instance] = {}
        # Each entity's state as JSON text, by (name, key).
        self._entity_states: Dict[Tuple[str, str], str] = {}
        # What the clock will do: (time, order, action), actions run when the clock reaches time.
        self._due: List[Tuple[int, int, Callable[[], None]]] = []
        self._order = 0
        self._main = self._add_instance(harness._instance_id, name, fn, payload, None)
        self._settle()

    # ------------------------------------------------------------------------------------------
    # What the run reached

    @property
    def status(self) -> str:
        """``"Running"``, ``"Completed"``, ``"Failed"`` or ``"ContinuedAsNew"``."""
        return "Running" if self._main.terminal is None else self._main.terminal[0]

    @property
    def output(self) -> Any:
        """The orchestrator's output (decoded JSON), once it completed; ``None`` before."""
        terminal = self._main.terminal
        return json.loads(terminal[1]) if terminal is not None and terminal[0] == "Completed" else None

    @property
    def failure(self) -> Optional[Failure]:
        """The failure the orchestrator ended with (``error_type``, ``message``, ``details``,
        ``causes``, as the host records it), if it failed."""
        terminal = self._main.terminal
        return _failure_object(terminal[1]) if terminal is not None and terminal[0] == "Failed" else None

    @property
    def continued_input(self) -> Any:
        """The input of the next execution, if the orchestrator continued as new."""
        terminal = self._main.terminal
        return json.loads(terminal[1]) if terminal is not None and terminal[0] == "ContinuedAsNew" else None

    @property
    def custom_status(self) -> Any:
        """The last custom status the orchestrator set (decoded JSON), or ``None``."""
        text = self._main.custom_status
        return None if text is None else json.loads(text)

    @property
    def history(self) -> List[Dict[str, Any]]:
        """The events recorded so far, as ``reprise history ID --json`` shows them."""
        return to_history_json(self._main.history)

    def child_history(self, instance_id: str) -> List[Dict[str, Any]]:
        """The history of a sub-orchestration this run started, in the same shape."""
        if instance_id not in self._instances:
            raise HarnessError(f"this run has no instance {instance_id!r}: it has {sorted(self._instances)}")
        return to_history_json(self._instances[instance_id].history)

    def entity_state(self, entity: EntityId) -> Any:
        """The entity's state (decoded JSON), or ``None`` if it has none."""
        text = self._entity_states.get((entity.name, entity.key))
        return None if text is None else json.loads(text)

    @property
    def commands(self) -> List[str]:
        """The orchestrator's decisions so far, in order, in the host's words
        (``schedule activity 'DebitAccount'``, ``schedule a timer``, ``complete the orchestration``...)."""
        return [text for text in map(describe_command, self._main.history) if text is not None]

    # ------------------------------------------------------------------------------------------
    # Moving it on

    def raise_event(self, name: str, data: Any = None) -> "Run":
        """Delivers the event ``name`` with ``data`` at the current time, and runs until idle."""
        if self._main.terminal is not None:
            raise HarnessError(f"the event '{name}' was raised after the orchestration ended ({self.status})")
        self._main.pending.append({"type": "EventRaised", "name": name, "data": json.dumps(data)})
        self._settle()
        return self

    def update(self, name: str, input: Any = None) -> UpdateAnswer:
        """Sends the update ``name`` with ``input`` at the current time, runs until idle, and
        returns what the orchestrator answered (``answered`` is False if it has not yet: it may
        once time moves, and :meth:`answer` then has it). Its id is ``update-N``, N counting the
        updates this execution received."""
        if self._main.terminal is not None:
            raise HarnessError(f"the update '{name}' was sent after the orchestration ended ({self.status})")
        try:
            payload = json.dumps(input)
        except (TypeError, ValueError) as err:
            raise HarnessError(f"the input of update '{name}' is not JSON: {err}") from None
        received = [e for e in self._main.history + self._main.pending if e["type"] == "UpdateReceived"]
        update_id = f"update-{len(received) + 1}"
        self._main.pending.append({"type": "UpdateReceived", "update_id": update_id, "name": name, "input": payload})
        self._settle()
        return self.answer(update_id)

    def answer(self, update_id: str) -> UpdateAnswer:
        """The orchestrator's answer to the update ``update_id`` so far."""
        replies = [e["reply"] for e in self._main.history if e["type"] == "UpdateReplied" and e["update_id"] == update_id]
        return UpdateAnswer(update_id, replies[0] if replies else None)

    def advance(self, duration: Duration) -> "Run":
        """Moves the clock forward by ``duration`` (a ``timedelta`` or seconds), firing each
        timer and retry that falls due at its own time and running until idle after each."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        if seconds < 0:
            raise ValueError(f"advance needs a duration of at least 0 (got {duration!r}): the clock only moves forward")
        target = self.now + to_ms(duration, "advance's duration")
        while self._due and min(self._due)[0] <= target:
            self.now = max(self.now, min(self._due)[0])
            self._settle()
        self.now = target
        return self

    def run_to_completion(self) -> "Run":
        """Skips time (timers, retry waits) until the orchestrator ends. Raises
        :class:`HarnessError` if it waits for something nothing will deliver."""
        while self._main.terminal is None:
            if not self._due:
                waiting = ", ".join(self._main.waiting) or "nothing it scheduled"
                raise HarnessError(
                    f"the orchestrator waits for {waiting}, which nothing will deliver: raise the event "
                    "(run.raise_event), send the update (run.update) or give what it waits for"
                )
            self.now = max(self.now, min(self._due)[0])
            self._settle()
        return self

    # ------------------------------------------------------------------------------------------
    # The world

    def _add_instance(
        self, instance_id: str, name: str, fn: Callable, payload: str, parent: Optional[Tuple[_Instance, int]]
    ) -> _Instance:
        instance = _Instance(instance_id, name, fn, payload, parent)
        self._instances[instance_id] = instance
        return instance

    def _at(self, time: int, action: Callable[[], None]) -> None:
        self._order += 1
        self._due.append((time, self._order, action))

    def _settle(self) -> None:
        """Runs everything due at the current time and every episode it makes, until nothing is."""
        while True:
            due = sorted(item for item in self._due if item[0] <= self.now)
            if due:
                self._due = [item for item in self._due if item[0] > self.now]
                for _time, _order, action in due:
                    action()
                continue
            ready = [i for i in self._instances.values() if i.pending and i.terminal is None]
            if not ready:
                return
            for instance in ready:
                self._episode(instance)

    def _episode(self, instance: _Instance) -> None:
        deliveries, instance.pending = instance.pending, []
        base = len(instance.history)
        if all(event["type"] in AUDIT for event in deliveries):
            # As the host records retries for an orchestrator that waits: without running it.
            new = [{"type": "EpisodeStarted", "time": self.now}] + deliveries
            instance.history.extend({"seq": base + i, **event} for i, event in enumerate(new))
            return
        instance.episodes += 1
        limit = self._harness._episode_limit
        if instance.episodes > limit:
            raise HarnessError(
                f"the instance {instance.instance_id!r} ran {limit} episodes and has not finished: does its "
                "orchestrator loop without waiting on a timer or an event? If it is meant to take more, raise the "
                f"limit with Harness().episode_limit(n) (the default is {DEFAULT_EPISODE_LIMIT})"
            )
        history = [dict(event) for event in instance.history]
        replayer = Replayer(instance.instance_id, 1, history, [(self.now, deliveries)])
        _run_orchestrator(instance.fn, replayer, self.logs)
        instance.custom_status = replayer.custom_status
        instance.terminal = replayer.terminal
        instance.waiting = replayer.waiting_for()
        instance.history.extend({"seq": base + i, **event} for i, event in enumerate(replayer.new_events))
        for event in replayer.new_events:
            self._react(instance, event)

    def _react(self, instance: _Instance, event: Dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "ActivityScheduled":
            first_started = self.now
            self._at(self.now, lambda: self._attempt(instance, event, 1, first_started))
        elif kind == "TimerScheduled":
            self._at(event["fire_at"], lambda: instance.pending.append({"type": "TimerFired", "task_id": event["task_id"]}))
        elif kind == "SubOrchestrationScheduled":
            self._start_child(instance, event)
        elif kind in ("EntityCalled", "EntitySignaled"):
            self._at(self.now, lambda: self._operate(instance, event))
        elif kind == "EntityLockRequested":
            # Nothing else holds the locks: the host grants them with a null output.
            grant = {"type": "EntityCompleted", "task_id": event["task_id"], "output": "null"}
            self._at(self.now, lambda: instance.pending.append(grant))
        elif kind == "EventSent":
            self.sent_events.append((event["instance_id"], event["name"], json.loads(event["data"])))
            target = self._instances.get(event["instance_id"])
            if target is not None and target.terminal is None:
                target.pending.append({"type": "EventRaised", "name": event["name"], "data": event["data"]})
        elif kind in ("ExecutionCompleted", "ExecutionFailed") and instance.parent is not None:
            parent, task_id = instance.parent
            if kind == "ExecutionCompleted":
                parent.pending.append({"type": "SubOrchestrationCompleted", "task_id": task_id, "output": event["output"]})
            else:
                self._child_failed(parent, task_id, instance.name, instance.instance_id, event["failure"])
        elif kind == "ExecutionContinuedAsNew" and instance.parent is not None:
            raise Unsupported(
                f"reprise.testing does not follow continue_as_new in a sub-orchestration ('{instance.name}', instance "
                f"{instance.instance_id}): test the child on its own with Harness().start(child), whose run stops "
                "at the continue-as-new (run.status 'ContinuedAsNew', run.continued_input)"
            )

    def _start_child(self, parent: _Instance, event: Dict[str, Any]) -> None:
        name, child = event["name"], event["instance_id"]
        if "retry" in event:
            raise Unsupported(
                f"reprise.testing does not simulate retry policies on sub-orchestrations (the orchestrator starts "
                f"'{name}' with one): test the child on its own with Harness().start(child), and the parent's "
                "retries of it against a host"
            )
        if child in self._instances:
            # As the host does: the id is taken, the child is not started, the task fails.
            taken = {"error_type": "InstanceExists", "message": f"an instance with id '{child}' already exists"}
            self._child_failed(parent, event["task_id"], name, child, taken)
            return
        fn = self._harness._orchestrators.get(name)
        if fn is None:
            raise HarnessError(
                f"the orchestrator started the sub-orchestration '{name}', which this harness does not know: "
                f"give it with harness.orchestrator({name!r}, fn)"
            )
        self._add_instance(child, name, fn, event["input"], (parent, event["task_id"]))

    def _child_failed(
        self, parent: _Instance, task_id: int, name: str, child: str, failure: Dict[str, Any]
    ) -> None:
        """Delivers a child's failure to its parent, wrapped as the host's replayer wraps it."""
        message = f"sub-orchestration '{name}' (instance {child}) failed: {failure['message']}"
        wrapped = _wrapping(Failure.SUB_ORCHESTRATION_FAILED, message, failure)
        parent.pending.append({"type": "SubOrchestrationFailed", "task_id": task_id, "failure": wrapped})

    def _operate(self, caller: _Instance, event: Dict[str, Any]) -> None:
        """Runs a called or signalled operation on the entity's state; replies to a call."""
        entity, operation = event["entity"], event["operation"]
        name, key = entity["name"], entity["key"]
        fn = self._harness._entities.get(name)
        if fn is None:
            raise HarnessError(
                f"the orchestrator sent '{operation}' to the entity @{name}@{key}, whose type this harness does not "
                f"know: give it with harness.entity({name!r}, fn)"
            )
        state = self._entity_states.get((name, key))
        with _offline.bound("entity-context", _EntityHost(entity, self.now)):
            try:
                result = _run_entity({name: fn}, name, operation, event["input"], state)
            except Err as failed:
                outcome: Tuple[str, Any] = ("err", _failure_json(failed.value))
            else:
                if result.state is None:
                    self._entity_states.pop((name, key), None)
                else:
                    self._entity_states[(name, key)] = result.state
                outcome = ("ok", result.output)
        if event["type"] != "EntityCalled" or caller.terminal is not None:
            return
        task_id = event["task_id"]
        if outcome[0] == "ok":
            caller.pending.append({"type": "EntityCompleted", "task_id": task_id, "output": outcome[1]})
        else:
            message = f"operation '{operation}' on entity @{name}@{key} failed: {outcome[1]['message']}"
            wrapped = _wrapping(Failure.ENTITY_OPERATION_FAILED, message, outcome[1])
            caller.pending.append({"type": "EntityFailed", "task_id": task_id, "failure": wrapped})

    def _attempt(self, instance: _Instance, event: Dict[str, Any], attempt: int, first_started: int) -> None:
        if instance.terminal is not None:
            # The host drops the result of an activity whose instance has ended.
            return
        name, task_id, payload = event["name"], event["task_id"], event["input"]
        self.activity_calls.append((name, json.loads(payload), attempt))
        kind, value = self._harness._activity_outcome(instance.instance_id, name, task_id, attempt, payload)
        if kind == "ok":
            instance.pending.append({"type": "ActivityCompleted", "task_id": task_id, "output": value})
            return
        policy = event.get("options", {}).get("retry")
        upcoming = None if policy is None else next_attempt(policy, attempt, value, first_started, self.now)
        if upcoming is None:
            message = f"activity '{name}' failed: {value['message']}"
            wrapped = _wrapping(Failure.ACTIVITY_FAILED, message, value)
            instance.pending.append({"type": "ActivityFailed", "task_id": task_id, "failure": wrapped})
            return
        instance.pending.append(
            {"type": "ActivityRetrying", "task_id": task_id, "attempt": attempt, "failure": value, "next_attempt_at": upcoming}
        )
        self._at(upcoming, lambda: self._attempt(instance, event, attempt + 1, first_started))


class Harness:
    """The simulated world of one test: which activities and child orchestrators exist, and
    where the clock starts. Configure it, then :meth:`start` an orchestrator."""

    def __init__(self) -> None:
        self._activities: Dict[str, Callable[[ActivityContext, Any], Any]] = {}
        self._orchestrators: Dict[str, Callable[[OrchestrationContext, Any], Any]] = {}
        self._entities: Dict[str, Callable[[Any], Any]] = {}
        self._start_ms = DEFAULT_START_MS
        self._instance_id = "test-instance"
        self._episode_limit = DEFAULT_EPISODE_LIMIT

    def activity(self, name: str, fn: Callable[[ActivityContext, Any], Any]) -> "Harness":
        """The activity ``name`` runs ``fn(ctx, input)`` (``ctx.attempt``, ``ctx.task_id``,
        ``ctx.instance_id``, ``ctx.idempotency_key``); raising fails the attempt (a ``Failure``
        with its type, any other exception with its class name, as in a component). A real
        activity function of the guest works as well as a lambda."""
        self._activities[name] = fn
        return self

    def activity_results(self, name: str, outcomes: Sequence[Any]) -> "Harness":
        """The activity ``name`` returns ``outcomes[n-1]`` on attempt n (a value, or a
        ``Failure`` to fail the attempt); the last one repeats."""
        if not outcomes:
            raise ValueError(f"activity_results('{name}') needs at least one outcome")
        fixed = list(outcomes)

        def answer(ctx: ActivityContext, _input: Any) -> Any:
            outcome = fixed[min(ctx.attempt, len(fixed)) - 1]
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        return self.activity(name, answer)

    def orchestrator(self, name: str, fn: Callable[[OrchestrationContext, Any], Any]) -> "Harness":
        """The orchestrator a sub-orchestration named ``name`` runs."""
        self._orchestrators[name] = fn
        return self

    def entity(self, name: str, fn: Callable[[Any], Any]) -> "Harness":
        """The entity type ``name`` runs ``fn(ctx)`` (an ``EntityContext``) for each operation,
        as in a component: the guest's own ``@entity`` functions work."""
        self._entities[name] = fn
        return self

    def start_time(self, start: Union[datetime, int]) -> "Harness":
        """Where the virtual clock starts: an aware ``datetime`` or milliseconds since the epoch."""
        if isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("start_time needs an aware datetime (for example in UTC)")
            start = int(start.timestamp() * 1000)
        self._start_ms = int(start)
        return self

    def episode_limit(self, count: int) -> "Harness":
        """How many episodes each instance of a run may run its orchestrator
        (:data:`DEFAULT_EPISODE_LIMIT` unless set) before the test fails with a
        :class:`HarnessError` naming it: an orchestrator that loops on activities a mock answers
        at once would otherwise never let the run become idle. A count, where the Rust
        harness's ``episode_limit`` is a duration: each episode here replays the whole history,
        so episodes, not seconds, are what such a loop piles up."""
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"episode_limit needs a count of at least 1 (got {count!r})")
        self._episode_limit = count
        return self

    def instance_id(self, instance_id: str) -> "Harness":
        """The instance's id (``"test-instance"`` unless set)."""
        self._instance_id = instance_id
        return self

    def start(self, orchestrator: Callable[[OrchestrationContext, Any], Any], input: Any = None) -> Run:
        """Starts ``orchestrator`` with ``input`` and runs it until it is idle at the start time:
        its activities run and their results are delivered, episode after episode, until it waits
        only for timers, events, or has ended."""
        return Run(self, orchestrator, _name_of(orchestrator), json.dumps(input))

    def _activity_outcome(
        self, instance_id: str, name: str, task_id: int, attempt: int, payload: str
    ) -> Tuple[str, Any]:
        fn = self._activities.get(name)
        if fn is None:
            known = ", ".join(sorted(self._activities)) or "none"
            raise HarnessError(
                f"the orchestrator scheduled the activity '{name}', which this harness does not know (it has: "
                f"{known}): give it with harness.activity({name!r}, fn) or harness.activity_results"
            )
        with _offline.bound("activity-context", _ActivityHost(instance_id, task_id, attempt)):
            try:
                return "ok", _run("activity", {name: fn}, name, payload, lambda _value: ActivityContext())
            except Err as failed:
                return "err", _failure_json(failed.value)


def _name_of(fn: Callable) -> str:
    """The name ``fn`` is registered under with ``@orchestrator``, else its function name."""
    for name, registered in _ORCHESTRATORS.items():
        if registered is fn:
            return name
    return fn.__name__


# ----------------------------------------------------------------------------------------------
# Replay of a recorded history


class Replayed:
    """What :func:`replay` reached: ``status`` (as :attr:`Run.status`), ``output``, ``failure``,
    ``custom_status``, and ``commands``: the commands the code issued during the replay, each
    checked against the recorded one, in the words of :attr:`Run.commands`."""

    def __init__(self, replayer: Replayer) -> None:
        terminal = replayer.terminal
        self.status = "Running" if terminal is None else terminal[0]
        self.output = json.loads(terminal[1]) if terminal is not None and terminal[0] == "Completed" else None
        self.failure = _failure_object(terminal[1]) if terminal is not None and terminal[0] == "Failed" else None
        self.custom_status = None if replayer.custom_status is None else json.loads(replayer.custom_status)
        self.commands = list(replayer.issued)


def replay(
    history: Any,
    orchestrator: Callable[[OrchestrationContext, Any], Any],
    instance_id: Optional[str] = None,
    execution: Optional[int] = None,
) -> Replayed:
    """Runs ``orchestrator`` against a recorded history (the text or parsed JSON of
    ``reprise history ID --json``, or of an export bundle, whose last execution is replayed) and
    checks that it issues the recorded commands, as the host does before it lets code take over
    a running instance. A divergence raises :class:`NondeterminismError` with the host's message
    and position (a broken critical section :class:`LockViolationError`, another refused call
    :class:`ReplayError`); the error's ``failure()`` is what the host would fail the instance
    with, which Rust's ``testing::replay`` returns. A history ending where the orchestrator
    waits is compatible. ``instance_id``
    is what ``ctx.instance_id`` answers (a bundle's own by default, else ``"replayed-instance"``)
    and ``execution`` the execution's number (a bundle's by default, else 1): both go into
    ``ctx.new_uuid()`` and the ids of sub-orchestrations started without one, as on the host."""
    text = load_history(history)
    if instance_id is None:
        instance_id = text.instance_id or "replayed-instance"
    if execution is None:
        execution = text.execution
    events = text.events
    if not any(e["type"] == "ExecutionStarted" for e in events):
        raise ReplayError("corrupt history: it has no ExecutionStarted")
    replayer = Replayer(instance_id, execution, events, [])
    refused = _run_orchestrator(orchestrator, replayer, None)
    if refused is not None:
        # What the host would fail the instance with (`error.failure()`), raised.
        raise refused
    return Replayed(replayer)
