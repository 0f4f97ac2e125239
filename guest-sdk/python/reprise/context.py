"""The orchestration context: durable tasks (activities, timers, events, updates,
sub-orchestrations), waiting on them, and the deterministic replacements for the clock, UUIDs
and logging.

Every method here reaches the outside world only through the host's ``orchestration``
interface, whose answers come from the instance's history on replay: that is what makes an
orchestrator written with it deterministic. Blocking calls (``Task.result``, ``task_all``,
``task_any``) are single ``wait-any`` / ``wait-all`` host calls: the host parks the instance, or
stops it and replays it later, without the Python code noticing.
"""

from __future__ import annotations

# The host's interfaces and types: the bindings inside a component (see `_host`).
from ._host import Err, Ok, activity_context, orchestration, types

import json
from datetime import datetime, timedelta, timezone
from typing import Any, List, Optional, Sequence, Union

from .entity import EntityId
from .errors import Failure, TaskFailedError
from .options import Duration, RetryPolicy, to_ms

# Markers for a task whose outcome the orchestrator has not received yet.
_PENDING = object()


def _encode(value: Any, what: str) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as err:
        raise Failure(Failure.INVALID_INPUT, f"{what} could not be encoded to JSON: {err}") from None


class Task:
    """The handle of a durable task the host runs in the background.

    ``result()`` waits for it and returns its output (the decoded JSON), or raises its failure as
    a ``TaskFailedError``. Waiting again returns the same outcome at once.
    """

    def __init__(self, task_id: int, kind: str) -> None:
        #: The host's handle: tasks are numbered from 0 in the order they are scheduled.
        self.id = task_id
        #: What the task stands for, for messages (``activity 'charge'``, ``timer``...).
        self.kind = kind
        self._output: Any = _PENDING
        self._failure: Optional[TaskFailedError] = None

    @property
    def is_completed(self) -> bool:
        """True once the orchestrator has received this task's outcome."""
        return self._output is not _PENDING or self._failure is not None

    @property
    def is_failed(self) -> bool:
        """True if the task completed with a failure."""
        return self._failure is not None

    def result(self) -> Any:
        """Waits for the task (one ``wait-any`` host call, unless it completed already) and
        returns its output, or raises its ``TaskFailedError``."""
        if not self.is_completed:

            completion = orchestration.wait_any([self.id])
            if completion.task != self.id:
                raise Failure(
                    Failure.PROTOCOL_ERROR, f"waited for task {self.id}, the host delivered task {completion.task}"
                )
            self._complete(completion.outcome)
        if self._failure is not None:
            raise self._failure
        return self._output

    def _complete(self, outcome) -> None:

        if isinstance(outcome, Err):
            self._failure = TaskFailedError.from_wire(outcome.value)
            return
        try:
            self._output = json.loads(outcome.value)
        except ValueError as err:
            self._failure = TaskFailedError(Failure.INVALID_OUTPUT, f"the output of {self.kind} is not JSON: {err}")

    def __repr__(self) -> str:
        state = "failed" if self.is_failed else "completed" if self.is_completed else "pending"
        return f"Task({self.id}, {self.kind}, {state})"


class Update:
    """An update the orchestrator received (``wait_for_update``): a client's request that
    expects an answer. Answer it once with ``OrchestrationContext.reply_update``."""

    __slots__ = ("id", "name", "input")

    def __init__(self, update_id: str, name: str, input: Any) -> None:
        #: The update's id, unique within the instance: what the answer is given to.
        self.id = update_id
        #: The update's name.
        self.name = name
        #: Its input (the decoded JSON).
        self.input = input

    def __repr__(self) -> str:
        return f"Update({self.id!r}, {self.name!r}, {self.input!r})"


class UpdateTask(Task):
    """The task of ``wait_for_update``: ``result()`` returns the :class:`Update`."""

    def __init__(self, task_id: int, name: str) -> None:
        super().__init__(task_id, f"update '{name}'")
        #: The name of the update waited for.
        self.name = name

    def _complete(self, outcome) -> None:
        super()._complete(outcome)
        if self._failure is not None:
            return
        delivered = self._output
        if not isinstance(delivered, dict) or not isinstance(delivered.get("id"), str) or "input" not in delivered:
            self._output = _PENDING
            self._failure = TaskFailedError(
                Failure.PROTOCOL_ERROR, f"the host delivered {delivered!r} for {self.kind}, not {{id, input}}"
            )
            return
        self._output = Update(delivered["id"], self.name, delivered["input"])


class OrchestrationContext:
    """What an orchestrator receives as its first argument.

    Names follow Durable Functions' Python SDK, with one difference: ``call_activity`` and
    ``call_sub_orchestrator`` block and return the output (no ``yield``); their ``schedule_*``
    twins return a ``Task`` at once, for fan-out and races.
    """

    def __init__(self, orchestrator_input: Any) -> None:
        self._input = orchestrator_input

    # ----------------------------------------------------------------------------------------
    # The instance

    def get_input(self) -> Any:
        """The orchestrator's input (the same value it receives as its second argument)."""
        return self._input

    @property
    def instance_id(self) -> str:
        """The id of the running instance."""

        return orchestration.instance_id()

    @property
    def is_replaying(self) -> bool:
        """True while re-executing steps already in history: use it to skip side outputs such as
        metrics, never to change decisions."""

        return orchestration.is_replaying()

    @property
    def current_time_ms(self) -> int:
        """The instance's logical time in milliseconds since the epoch (constant within an
        episode, the same on every replay)."""

        return orchestration.current_time()

    @property
    def current_utc_datetime(self) -> datetime:
        """The instance's logical time as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.current_time_ms / 1000, tz=timezone.utc)

    def new_uuid(self) -> str:
        """A UUID that is unique and the same on every replay."""

        return orchestration.new_guid()

    def version(self, change_id: str, max_version: int) -> int:
        """Which version of the change ``change_id`` this instance runs, ``max_version`` being
        the newest this code knows: ``max_version`` for an instance that reaches the call for
        the first time (recorded in its history), the recorded answer on replay, and 0 for a
        history written by code from before the change, which takes the old path."""

        return orchestration.version(change_id, max_version)

    def set_custom_status(self, status: Any) -> None:
        """Sets the instance's custom status (any JSON value); ``None`` clears it."""

        orchestration.set_custom_status(None if status is None else _encode(status, "the custom status"))

    def log(self, level: str, message: str) -> None:
        """Writes a line to the host's log (``level``: debug, info, warn or error); lines written
        while replaying are dropped by the host, so each appears once."""

        levels = {"debug": types.LogLevel.DEBUG, "info": types.LogLevel.INFO, "warn": types.LogLevel.WARN,
                  "error": types.LogLevel.ERROR}
        if level not in levels:
            raise ValueError(f"unknown log level {level!r}: use one of {', '.join(levels)}")
        orchestration.log(levels[level], str(message))

    def log_info(self, message: str) -> None:
        """``log("info", message)``."""
        self.log("info", message)

    def log_warn(self, message: str) -> None:
        """``log("warn", message)``."""
        self.log("warn", message)

    def log_error(self, message: str) -> None:
        """``log("error", message)``."""
        self.log("error", message)

    # ----------------------------------------------------------------------------------------
    # Activities and sub-orchestrations

    def schedule_activity(
        self,
        name: str,
        input: Any = None,
        *,
        retry: Optional[RetryPolicy] = None,
        timeout: Optional[Duration] = None,
    ) -> Task:
        """Schedules the named activity (exported by any component the host loaded, in any
        language) and returns its task at once. With ``retry`` the host retries failed attempts;
        with ``timeout`` (a ``timedelta`` or seconds) each attempt is interrupted after that long
        and fails with ``TimedOut``."""

        payload = _encode(input, f"the input of activity '{name}'")
        if retry is None and timeout is None:
            task_id = orchestration.schedule_activity(name, payload)
        else:
            options = types.ActivityOptions(
                None if retry is None else retry.to_wire(), None if timeout is None else to_ms(timeout, "timeout")
            )
            task_id = orchestration.schedule_activity_with_options(name, payload, options)
        return Task(task_id, f"activity '{name}'")

    def call_activity(
        self,
        name: str,
        input: Any = None,
        *,
        retry: Optional[RetryPolicy] = None,
        timeout: Optional[Duration] = None,
    ) -> Any:
        """Runs the named activity and returns its output, or raises ``TaskFailedError``
        (``ActivityFailed``, the activity's own failure as ``cause``)."""
        return self.schedule_activity(name, input, retry=retry, timeout=timeout).result()

    def call_activity_with_retry(self, name: str, retry: RetryPolicy, input: Any = None) -> Any:
        """``call_activity(name, input, retry=retry)``, in Durable Functions' argument order."""
        return self.call_activity(name, input, retry=retry)

    def schedule_sub_orchestrator(
        self,
        name: str,
        input: Any = None,
        *,
        instance_id: Optional[str] = None,
        retry: Optional[RetryPolicy] = None,
    ) -> Task:
        """Starts the named orchestrator as a child instance and returns its task at once. A
        failed child fails the task with ``SubOrchestrationFailed`` (the child's failure as
        ``cause``)."""

        payload = _encode(input, f"the input of sub-orchestration '{name}'")
        options = types.SubOrchestrationOptions(instance_id, None if retry is None else retry.to_wire())
        return Task(orchestration.schedule_sub_orchestration(name, payload, options), f"sub-orchestration '{name}'")

    def call_sub_orchestrator(
        self,
        name: str,
        input: Any = None,
        *,
        instance_id: Optional[str] = None,
        retry: Optional[RetryPolicy] = None,
    ) -> Any:
        """Runs the named orchestrator as a child instance and returns its output."""
        return self.schedule_sub_orchestrator(name, input, instance_id=instance_id, retry=retry).result()

    def continue_as_new(self, input: Any, carry_unprocessed_events: bool = False) -> None:
        """Restarts the instance with ``input`` and an empty history once the orchestrator
        returns (whatever it returns): ``return ctx.continue_as_new(state)``."""

        orchestration.continue_as_new(_encode(input, "the input of continue_as_new"), carry_unprocessed_events)

    # ----------------------------------------------------------------------------------------
    # Timers and events

    def create_timer(self, fire_at: Union[datetime, Duration]) -> Task:
        """A durable timer: ``fire_at`` is an aware ``datetime`` (absolute), or a ``timedelta``
        or a number of seconds from the current logical time. Its output is the fire time in
        milliseconds."""
        if isinstance(fire_at, datetime):
            if fire_at.tzinfo is None:
                raise Failure(Failure.INVALID_OPTIONS, "create_timer needs an aware datetime (for example in UTC)")
            at_ms = int(fire_at.timestamp() * 1000)
        else:
            at_ms = self.current_time_ms + to_ms(fire_at, "a timer's delay")

        return Task(orchestration.schedule_timer(max(at_ms, 0)), f"timer firing at {at_ms}")

    def wait_for_external_event(self, name: str) -> Task:
        """A task that completes with the data of the next event ``name`` raised on this
        instance (events raised earlier are buffered, oldest first)."""

        return Task(orchestration.wait_for_event(name), f"event '{name}'")

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Raises the event ``name`` with ``data`` on another instance, once this episode commits."""

        orchestration.raise_event(instance_id, name, _encode(data, f"the data of event '{name}'"))

    # ----------------------------------------------------------------------------------------
    # Updates

    def wait_for_update(self, name: str) -> UpdateTask:
        """A task that completes with the next update ``name`` sent to this instance (``reprise
        update ID NAME``, ``POST .../instances/{id}/update/{name}``), as an :class:`Update`.
        Updates sent before anyone waits are buffered, oldest first, and each completes one
        wait. Answer each with :meth:`reply_update`; one the execution never answers (it
        finishes, or continues as new, first) is reported to its caller as ``Unanswered``."""

        return UpdateTask(orchestration.wait_for_update(name), name)

    def reply_update(
        self, update: Union[Update, str], output: Any = None, *, failure: Optional[BaseException] = None
    ) -> None:
        """Answers ``update`` (an :class:`Update`, or its id) with ``output``, or with ``failure``
        (any exception, turned into a failure as a raising activity's is): the caller receives
        it once this episode commits, and the orchestration goes on either way. Each update is
        answered once: a second answer, or one to an update not received, ends the execution
        with ``GuestTrapped``. An output that is not JSON raises ``InvalidOutput`` and answers
        nothing."""
        update_id = update.id if isinstance(update, Update) else update
        if failure is not None:
            if not isinstance(failure, BaseException):
                raise TypeError(f"reply_update's failure must be an exception (a Failure), not {failure!r}")
            orchestration.reply_update(update_id, Err(Failure.from_exception(failure).to_wire()))
            return
        try:
            text = json.dumps(output)
        except (TypeError, ValueError) as err:
            raise Failure(
                Failure.INVALID_OUTPUT, f"the answer to update '{update_id}' could not be encoded to JSON: {err}"
            ) from None
        orchestration.reply_update(update_id, Ok(text))

    # ----------------------------------------------------------------------------------------
    # Entities

    def schedule_entity_call(self, entity_id: EntityId, operation: str, input: Any = None) -> Task:
        """Sends ``operation`` with ``input`` to the entity and returns its task at once; it
        completes with the operation's output, or fails with ``EntityOperationFailed`` (the
        operation's own failure as ``cause``)."""
        payload = _encode(input, f"the input of operation '{operation}' on {entity_id}")
        task_id = orchestration.call_entity(entity_id.to_wire(), operation, payload)
        return Task(task_id, f"operation '{operation}' on {entity_id}")

    def call_entity(self, entity_id: EntityId, operation: str, input: Any = None) -> Any:
        """Calls an entity operation and returns its output (Durable Functions' ``call_entity``)."""
        return self.schedule_entity_call(entity_id, operation, input).result()

    def signal_entity(self, entity_id: EntityId, operation: str, input: Any = None) -> None:
        """Sends an entity operation one way, once this episode commits."""
        payload = _encode(input, f"the input of operation '{operation}' on {entity_id}")
        orchestration.signal_entity(entity_id.to_wire(), operation, payload)

    def lock(self, entity_ids: Sequence[EntityId]) -> "CriticalSection":
        """Enters a critical section over ``entity_ids``: returns once all their locks are held.
        Use it as a context manager (``with ctx.lock([a, b]):``); the locks are released when the
        block ends, and anyway when the orchestration ends. Inside, only these entities may be
        called."""
        names = ", ".join(str(e) for e in entity_ids)
        Task(orchestration.lock_entities([e.to_wire() for e in entity_ids]), f"locks of [{names}]").result()
        return CriticalSection()

    # ----------------------------------------------------------------------------------------
    # Waiting on several tasks

    def task_all(self, tasks: Sequence[Task], return_exceptions: bool = False) -> List[Any]:
        """Waits for every task (one ``wait-all`` host call): fan-in. Returns their outputs in
        order; raises the first failure (in the order of ``tasks``) once all have completed, or,
        with ``return_exceptions=True``, puts each failure in the list in place of its output."""
        pending = [task for task in tasks if not task.is_completed]
        if pending:

            completions = orchestration.wait_all([task.id for task in pending])
            if len(completions) != len(pending):
                raise Failure(
                    Failure.PROTOCOL_ERROR,
                    f"the host delivered {len(completions)} completions for {len(pending)} awaited tasks",
                )
            for task, completion in zip(pending, completions):
                task._complete(completion.outcome)
        results: List[Any] = []
        for task in tasks:
            if task.is_failed and not return_exceptions:
                raise task._failure  # type: ignore[misc]
            results.append(task._failure if task.is_failed else task._output)
        return results

    def task_any(self, tasks: Sequence[Task]) -> Task:
        """Waits until at least one task has completed (one ``wait-any`` host call) and returns
        it (the earliest in ``tasks`` on a tie); its ``result()`` then returns at once. The other
        tasks stay usable: the timeout pattern is ``task_any([work, ctx.create_timer(30)])``."""
        if not tasks:
            raise ValueError("task_any needs at least one task to wait for")

        completion = orchestration.wait_any([task.id for task in tasks])
        for task in tasks:
            if task.id == completion.task:
                if not task.is_completed:
                    task._complete(completion.outcome)
                return task
        raise Failure(Failure.PROTOCOL_ERROR, f"the host delivered task {completion.task}, which was not awaited")


class CriticalSection:
    """The locks of a critical section (``OrchestrationContext.lock``): a context manager that
    releases them on exit; ``unlock()`` releases them earlier."""

    def __init__(self) -> None:
        self._held = True

    def unlock(self) -> None:
        """Releases the locks (once)."""
        if self._held:
            self._held = False
            orchestration.unlock_entities()

    def __enter__(self) -> "CriticalSection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()


class ActivityContext:
    """What an activity receives as its first argument: which attempt of which task it runs."""

    @property
    def instance_id(self) -> str:
        """The id of the orchestration instance that scheduled this activity."""

        return activity_context.instance_id()

    @property
    def task_id(self) -> int:
        """The activity's task handle within that instance."""

        return activity_context.task_id()

    @property
    def attempt(self) -> int:
        """The number of this attempt, from 1."""

        return activity_context.attempt()

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of this task: pass it to external systems."""

        return activity_context.idempotency_key()
