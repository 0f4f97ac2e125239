"""The host's replay rules, for ``reprise.testing``: an execution's history, and the state
machine that checks an orchestrator's commands against it and records new ones.

This follows ``host/core/src/replay/replayer.rs`` (and ``command.rs`` for the words of its
errors) rule for rule: tasks are numbered from 0 in scheduling order; a command is compared with
the recorded one by kind, task and name (never by input, timer time or event data); a wait is
answered by the first-delivered completion; events and updates sent before a wait are
buffered, oldest first; each update is answered once. It is a model of those rules, not a
second engine: it has no store, no limits and no rewinds, and what it cannot reproduce it
refuses with a :class:`ReplayError`.

Events are dicts in the host's serde shape (``{"type": "ActivityScheduled", "task_id": 0, ...}``)
with payloads as JSON text and times as milliseconds, as inside an export bundle;
:func:`load_history` and :func:`to_history_json` convert from and to ``reprise history --json``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Deque, Dict, List, Optional, Tuple

from .errors import Failure

# The host's nondeterminism error (host/core/src/replay/error.rs), word for word.
_NONDETERMINISM = (
    "nondeterminism at history position {position}: the history records that the orchestrator did "
    "[{recorded}], but on replay it did [{issued}]; the orchestrator's code changed under a running "
    "instance, or depends on something the host does not record"
)

#: The recorded side of a divergence at the end of history: the recorded run blocked there.
END_OF_HISTORY = "wait for a task that had not completed (end of recorded history)"

#: What a new ``Wait`` command reads as in an error (``Command::Wait``).
WAIT = "wait for a task that has not completed"

# The namespace of the host's name-based UUIDs (`Replayer::new_guid`).
_GUID_NAMESPACE = uuid.UUID(bytes=bytes.fromhex("6b1e0c528e1f4c3d9a572f109d447e21"))

# Events recorded as delivered at the start of an episode (`is_delivery`).
DELIVERIES = frozenset(
    {
        "ExecutionStarted",
        "ActivityCompleted",
        "ActivityFailed",
        "ActivityRetrying",
        "HttpRequestsMade",
        "SubOrchestrationCompleted",
        "SubOrchestrationFailed",
        "SubOrchestrationRetrying",
        "TimerFired",
        "EventRaised",
        "UpdateReceived",
        "EntityCompleted",
        "EntityFailed",
        "ExecutionSuspended",
        "ExecutionResumed",
        "ExecutionRewound",
        "ComponentUpgraded",
    }
)

# Deliveries that answer no wait: an episode of only these does not run the orchestrator.
AUDIT = frozenset({"ActivityRetrying", "SubOrchestrationRetrying", "HttpRequestsMade"})

# The fields `reprise history --json` embeds as JSON values, and those it shows as RFC 3339.
_PAYLOAD_FIELDS = ("input", "output", "data")
_TIME_FIELDS = ("time", "fire_at", "next_attempt_at")


class ReplayError(Exception):
    """The host's other replay errors (``ReplayError``): a corrupt history, a wait on an unknown
    task, a call after the end. Each one ends the execution: the host fails the instance with
    :meth:`failure`, and so does the harness."""

    #: The error type of the failure the instance ends with (``ReplayError::failure``).
    error_type = "GuestTrapped"

    def failure(self) -> Failure:
        """The failure the host ends the instance with: this error's type and message
        (``ReplayError::failure``)."""
        return Failure(self.error_type, str(self))


class NondeterminismError(ReplayError):
    """The orchestrator did not issue the command its history records at ``position``."""

    error_type = "NondeterminismError"

    def __init__(self, position: int, recorded: str, issued: str) -> None:
        super().__init__(_NONDETERMINISM.format(position=position, recorded=recorded, issued=issued))
        self.position = position
        self.recorded = recorded
        self.issued = issued


class LockViolationError(ReplayError):
    """The orchestrator broke a rule of critical sections (nested locks, a call to an entity it
    did not lock, an unlock before the locks are held)."""

    error_type = "LockViolation"

    def __init__(self, rule: str) -> None:
        super().__init__(f"critical section: {rule}")


def entity_text(entity: Dict[str, str]) -> str:
    """``@name@key``, as the host writes an entity id."""
    return f"@{entity['name']}@{entity['key']}"


def describe_command(event: Dict[str, Any]) -> Optional[str]:
    """A command event as the host describes a new command (``impl Display for Command``), or
    ``None`` for an event that is not one."""
    kind = event["type"]
    if kind == "ActivityScheduled":
        return f"schedule activity '{event['name']}'"
    if kind == "SubOrchestrationScheduled":
        return f"start sub-orchestration '{event['name']}'"
    if kind == "ExecutionContinuedAsNew":
        return "continue as new"
    if kind == "TimerScheduled":
        return "schedule a timer"
    if kind == "EventWaitStarted":
        return f"wait for event '{event['name']}'"
    if kind == "UpdateWaitStarted":
        return f"wait for update '{event['name']}'"
    if kind == "UpdateReplied":
        return f"answer update '{event['update_id']}'"
    if kind == "EventSent":
        return f"raise event '{event['name']}' on instance '{event['instance_id']}'"
    if kind == "EntityCalled":
        return f"call operation '{event['operation']}' on entity {entity_text(event['entity'])}"
    if kind == "EntitySignaled":
        return f"signal operation '{event['operation']}' on entity {entity_text(event['entity'])}"
    if kind == "EntityLockRequested":
        return f"lock entities [{', '.join(entity_text(e) for e in event['entities'])}]"
    if kind == "EntitiesUnlocked":
        return "release the locks of its critical section"
    if kind == "ExecutionCompleted":
        return "complete the orchestration"
    if kind == "ExecutionFailed":
        return "fail the orchestration"
    return None


def describe_recorded(event: Dict[str, Any]) -> str:
    """A recorded event as the host describes it in a nondeterminism error (`describe_recorded`)."""
    kind = event["type"]
    command = describe_command(event)
    if command is not None:
        # A command that has a task names it.
        return f"{command} (task {event['task_id']})" if "task_id" in event else command
    if kind == "VersionMarked":
        return f"choose version {event['version']} of change '{event['change_id']}'"
    if kind == "EpisodeStarted":
        return "wait for a task that had not completed"
    return f"event {kind}"


def _same_command(new: Dict[str, Any], recorded: Dict[str, Any]) -> bool:
    """Kinds, task handles and names must match; inputs, timer times and event data may change
    (`same_command`)."""
    kind = new["type"]
    if kind != recorded["type"]:
        return False
    keys = {
        "ActivityScheduled": ("task_id", "name"),
        "SubOrchestrationScheduled": ("task_id", "name"),
        "ExecutionContinuedAsNew": (),
        "TimerScheduled": ("task_id",),
        "EventWaitStarted": ("task_id", "name"),
        "UpdateWaitStarted": ("task_id", "name"),
        "UpdateReplied": ("update_id",),
        "EventSent": ("instance_id", "name"),
        "EntityCalled": ("task_id", "entity", "operation"),
        "EntitySignaled": ("entity", "operation"),
        "EntityLockRequested": ("task_id", "entities"),
        "EntitiesUnlocked": (),
        "ExecutionCompleted": (),
        "ExecutionFailed": (),
    }.get(kind)
    return keys is not None and all(new.get(key) == recorded.get(key) for key in keys)


def delivered_update(update_id: str, payload: str) -> str:
    """What a wait for an update completes with (``DeliveredUpdate::to_payload``): ``{"id",
    "input"}``, the input embedded as it was sent."""
    return f'{{"id":{json.dumps(update_id, ensure_ascii=False)},"input":{payload}}}'


def _entity_key(entity: Dict[str, str]) -> Tuple[str, str]:
    return (entity["name"], entity["key"])


class Replayer:
    """The replay state of one execution: recorded ``history`` (with ``seq``), then the live
    ``episodes`` (time, delivery events) opened once history is exhausted."""

    def __init__(
        self,
        instance_id: str,
        execution: int,
        history: List[Dict[str, Any]],
        episodes: List[Tuple[int, List[Dict[str, Any]]]],
    ) -> None:
        for index, event in enumerate(history):
            if event.get("seq") != index:
                raise ReplayError(f"corrupt history: event at index {index} has sequence number {event.get('seq')}")
        if history and history[0]["type"] != "EpisodeStarted":
            raise ReplayError(f"corrupt history: history starts with {history[0]['type']} instead of EpisodeStarted")
        if any(event["type"] == "ExecutionRewound" for event in history):
            raise ReplayError(
                "reprise.testing does not replay rewound histories (ExecutionRewound): check them with "
                "`reprise replay-check`"
            )
        self.instance_id = instance_id
        self.execution = execution
        self._recorded: Deque[Dict[str, Any]] = deque(history)
        self._history_len = len(history)
        self._pending: Deque[Tuple[int, List[Dict[str, Any]]]] = deque(episodes)
        self.new_events: List[Dict[str, Any]] = []
        #: The commands the orchestrator issued and replay accepted, replayed or new, in the
        #: host's words (``impl Display for Command``).
        self.issued: List[str] = []
        self.position = 0
        self.live = False
        self.started: Optional[Tuple[str, str]] = None
        self.now = 0
        # What each task handle stands for: (kind, what), ``what`` being an activity's name, a
        # timer's fire time, an event's name, (name, instance id) of a sub-orchestration, (entity,
        # operation) of an entity call, or None for a lock request.
        self._scheduled: List[Tuple[str, Any]] = []
        self._event_waits: Deque[Tuple[int, str]] = deque()
        self._buffered: Dict[str, Deque[str]] = {}
        self._update_waits: Deque[Tuple[int, str]] = deque()
        # Updates delivered before anyone waited, per name: (id, input), oldest first.
        self._buffered_updates: Dict[str, Deque[Tuple[str, str]]] = {}
        # The updates delivered in this execution, by id: whether each has been answered.
        self._updates: Dict[str, bool] = {}
        self._results: Dict[int, Tuple[int, Tuple[str, Any]]] = {}
        self._deliveries = 0
        self._guids = 0
        self._versions: Dict[str, int] = {}
        # The next execution's input once the orchestrator asked to continue as new.
        self._continue_as_new: Optional[str] = None
        self._lock: Tuple[str, Any] = ("free", None)
        self.custom_status: Optional[str] = None
        #: ``("Completed", output text)``, ``("Failed", failure)`` or ``("ContinuedAsNew", input)``.
        self.terminal: Optional[Tuple[str, Any]] = None

    # ------------------------------------------------------------------------------------------
    # Episodes

    def advance(self) -> str:
        """Opens the next episode: ``"replayed"``, ``"live"``, or ``"blocked"`` if there is none."""
        self._ensure_running()
        if self._recorded:
            nxt = self._recorded[0]
            if nxt["type"] != "EpisodeStarted":
                raise NondeterminismError(nxt["seq"], describe_recorded(nxt), WAIT)
            self._recorded.popleft()
            self.position += 1
            self.now = max(nxt["time"], self.now)
            while self._recorded and self._recorded[0]["type"] in DELIVERIES:
                self.position += 1
                self._apply_delivery(self._recorded.popleft())
            return "replayed"
        if self._pending:
            time, events = self._pending.popleft()
            self.live = True
            self.now = max(time, self.now)
            self._push({"type": "EpisodeStarted", "time": self.now})
            for event in events:
                self._apply_delivery(event)
                self._push(event)
            return "live"
        return "blocked"

    def _apply_delivery(self, event: Dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "ExecutionStarted":
            self.started = (event["name"], event["input"])
        elif kind in ("ActivityCompleted", "SubOrchestrationCompleted"):
            self._record_result(event["task_id"], ("ok", event["output"]))
        elif kind in ("ActivityFailed", "SubOrchestrationFailed", "EntityFailed"):
            self._record_result(event["task_id"], ("err", event["failure"]))
        elif kind == "EntityCompleted":
            state, held = self._lock
            if state == "requested" and held[0] == event["task_id"]:
                self._lock = ("held", held[1])
            self._record_result(event["task_id"], ("ok", event["output"]))
        elif kind == "TimerFired":
            task_id = event["task_id"]
            if task_id >= len(self._scheduled) or self._scheduled[task_id][0] != "timer":
                raise ReplayError(f"corrupt history: task {task_id} fired but is not a timer")
            self._record_result(task_id, ("ok", str(self._scheduled[task_id][1])))
        elif kind == "EventRaised":
            name = event["name"]
            for index, (task_id, wanted) in enumerate(self._event_waits):
                if wanted == name:
                    del self._event_waits[index]
                    self._record_result(task_id, ("ok", event["data"]))
                    break
            else:
                self._buffered.setdefault(name, deque()).append(event["data"])
        elif kind == "UpdateReceived":
            update_id, name = event["update_id"], event["name"]
            self._updates[update_id] = False
            for index, (task_id, wanted) in enumerate(self._update_waits):
                if wanted == name:
                    del self._update_waits[index]
                    self._record_result(task_id, ("ok", delivered_update(update_id, event["input"])))
                    break
            else:
                self._buffered_updates.setdefault(name, deque()).append((update_id, event["input"]))
        elif kind not in DELIVERIES:
            raise ReplayError(f"corrupt history: {kind} is not a delivery")

    def _record_result(self, task_id: int, outcome: Tuple[str, Any]) -> None:
        if task_id >= len(self._scheduled):
            raise ReplayError(f"corrupt history: result for task {task_id}, which was never scheduled")
        self._deliveries += 1
        self._results[task_id] = (self._deliveries, outcome)

    def _push(self, event: Dict[str, Any]) -> None:
        self.new_events.append(event)
        self.position += 1

    def _ensure_running(self) -> None:
        if self.terminal is not None:
            raise ReplayError("the orchestrator already finished")

    def _command(self, issued: str, event: Dict[str, Any]) -> None:
        """Checks a command against history while replaying; records it when live. ``issued``
        (the host's words for it) joins :attr:`issued` once it is accepted."""
        self._ensure_running()
        if self.live:
            self._push(event)
        else:
            if not self._recorded:
                raise NondeterminismError(self.position, END_OF_HISTORY, issued)
            nxt = self._recorded[0]
            if not _same_command(event, nxt):
                raise NondeterminismError(nxt["seq"], describe_recorded(nxt), issued)
            self._recorded.popleft()
            self.position += 1
        self.issued.append(issued)

    # ------------------------------------------------------------------------------------------
    # Commands

    def schedule_activity(self, name: str, payload: str, options: Dict[str, Any]) -> int:
        """``schedule-activity``: the next task handle, for the activity ``name`` with ``payload``
        (JSON text) and ``options`` (the host's JSON of ``ActivityOptions``, empty for none)."""
        task_id = len(self._scheduled)
        event: Dict[str, Any] = {"type": "ActivityScheduled", "task_id": task_id, "name": name, "input": payload}
        if options:
            event["options"] = options
        self._command(f"schedule activity '{name}'", event)
        self._scheduled.append(("activity", name))
        return task_id

    def schedule_sub_orchestration(
        self, name: str, instance_id: Optional[str], payload: str, retry: Optional[Dict[str, Any]]
    ) -> int:
        """``schedule-sub-orchestration``: the next task handle, for a child running ``name``
        with ``payload``, under ``instance_id`` or, without one, ``<parent>:<execution>:<task>``."""
        self._ensure_running()
        task_id = len(self._scheduled)
        child = instance_id if instance_id is not None else f"{self.instance_id}:{self.execution}:{task_id}"
        event: Dict[str, Any] = {
            "type": "SubOrchestrationScheduled",
            "task_id": task_id,
            "name": name,
            "instance_id": child,
            "input": payload,
        }
        if retry is not None:
            event["retry"] = retry
        self._command(f"start sub-orchestration '{name}'", event)
        self._scheduled.append(("sub-orchestration", (name, child)))
        return task_id

    def request_continue_as_new(self, payload: str) -> None:
        """Asks that the execution end, when the orchestrator returns, by continuing as new with
        ``payload`` (``continue-as-new``). Which unprocessed events the next execution keeps is
        not modelled: the harness does not follow a continue-as-new."""
        self._ensure_running()
        self._continue_as_new = payload

    def version(self, change_id: str, newest: int) -> int:
        """``version``: the version of ``change_id`` this execution runs: the one recorded, else
        ``newest`` (recorded) when live, else 0 (a history from before the change)."""
        self._ensure_running()
        if change_id in self._versions:
            return self._versions[change_id]
        if self.live:
            self._push({"type": "VersionMarked", "change_id": change_id, "version": newest})
            chosen = newest
        else:
            nxt = self._recorded[0] if self._recorded else None
            if nxt is not None and nxt["type"] == "VersionMarked" and nxt["change_id"] == change_id:
                self._recorded.popleft()
                self.position += 1
                chosen = nxt["version"]
            else:
                chosen = 0
        self._versions[change_id] = chosen
        return chosen

    def schedule_timer(self, fire_at: int) -> int:
        """``schedule-timer``: the next task handle, for a timer firing at ``fire_at`` (ms)."""
        task_id = len(self._scheduled)
        self._command("schedule a timer", {"type": "TimerScheduled", "task_id": task_id, "fire_at": fire_at})
        self._scheduled.append(("timer", fire_at))
        return task_id

    def wait_for_event(self, name: str) -> int:
        """``wait-for-event``: the next task handle, for the next event ``name``; completed at once
        by the oldest such event delivered before anyone waited for it."""
        task_id = len(self._scheduled)
        self._command(f"wait for event '{name}'", {"type": "EventWaitStarted", "task_id": task_id, "name": name})
        self._scheduled.append(("event", name))
        buffered = self._buffered.get(name)
        if buffered:
            self._record_result(task_id, ("ok", buffered.popleft()))
        else:
            self._event_waits.append((task_id, name))
        return task_id

    def wait_for_update(self, name: str) -> int:
        """``wait-for-update``: the next task handle, for the next update ``name``; completed at
        once by the oldest such update delivered before anyone waited for it."""
        task_id = len(self._scheduled)
        self._command(f"wait for update '{name}'", {"type": "UpdateWaitStarted", "task_id": task_id, "name": name})
        self._scheduled.append(("update", name))
        buffered = self._buffered_updates.get(name)
        if buffered:
            update_id, payload = buffered.popleft()
            self._record_result(task_id, ("ok", delivered_update(update_id, payload)))
        else:
            self._update_waits.append((task_id, name))
        return task_id

    def reply_update(self, update_id: str, reply: Dict[str, Any]) -> None:
        """``reply-update``: records the answer ``reply`` (``{"output": text}`` or ``{"failure":
        {...}}``) to an update received in this execution and not answered yet."""
        self._ensure_running()
        if self._updates.get(update_id) is not False:
            raise ReplayError(
                f"the orchestrator answered update '{update_id}', which it has not received or has already answered"
            )
        self._updates[update_id] = True
        event = {"type": "UpdateReplied", "update_id": update_id, "reply": reply}
        self._command(f"answer update '{update_id}'", event)

    def raise_event(self, instance_id: str, name: str, payload: str) -> None:
        """``raise-event``: records an event ``name`` with ``payload`` for ``instance_id``."""
        event = {"type": "EventSent", "instance_id": instance_id, "name": name, "data": payload}
        self._command(f"raise event '{name}' on instance '{instance_id}'", event)

    def call_entity(self, entity: Dict[str, str], operation: str, payload: str) -> int:
        """``call-entity``: the next task handle, for ``operation`` on ``entity``; inside a
        critical section only a locked entity may be called, and only once the locks are held."""
        state, value = self._lock
        if state == "held" and entity not in value:
            locked = ", ".join(entity_text(e) for e in value)
            raise LockViolationError(
                "inside a critical section only the locked entities can be called; "
                f"{entity_text(entity)} is not one of [{locked}]"
            )
        if state == "requested":
            raise LockViolationError(
                "wait for the locks (the task lock-entities returned) before calling entities"
            )
        task_id = len(self._scheduled)
        event: Dict[str, Any] = {
            "type": "EntityCalled",
            "task_id": task_id,
            "entity": entity,
            "operation": operation,
            "input": payload,
        }
        if state == "held":
            event["in_critical_section"] = True
        self._command(f"call operation '{operation}' on entity {entity_text(entity)}", event)
        self._scheduled.append(("entity", (entity, operation)))
        return task_id

    def signal_entity(self, entity: Dict[str, str], operation: str, payload: str) -> None:
        """``signal-entity``: records ``operation`` sent one way to ``entity``."""
        event = {"type": "EntitySignaled", "entity": entity, "operation": operation, "input": payload}
        self._command(f"signal operation '{operation}' on entity {entity_text(entity)}", event)

    def lock_entities(self, entities: List[Dict[str, str]]) -> int:
        """``lock-entities``: the next task handle, completed once every lock of ``entities``
        (deduplicated, in the host's order) is held; critical sections do not nest."""
        if self._lock[0] != "free":
            raise LockViolationError(
                "critical sections cannot be nested: release the locks held before taking others"
            )
        unique = {_entity_key(e): e for e in entities}
        ordered = [unique[key] for key in sorted(unique)]
        if not ordered:
            raise LockViolationError("a critical section needs at least one entity")
        task_id = len(self._scheduled)
        names = ", ".join(entity_text(e) for e in ordered)
        self._command(
            f"lock entities [{names}]", {"type": "EntityLockRequested", "task_id": task_id, "entities": ordered}
        )
        self._scheduled.append(("lock", None))
        self._lock = ("requested", (task_id, ordered))
        return task_id

    def unlock_entities(self) -> None:
        """``unlock-entities``: ends the critical section (nothing if there is none); its locks
        must be held first."""
        state, value = self._lock
        if state == "free":
            return
        if state == "requested":
            raise LockViolationError("the locks are not held yet: wait for them before releasing")
        self._lock = ("free", None)
        self._command("release the locks of its critical section", {"type": "EntitiesUnlocked", "entities": value})

    # ------------------------------------------------------------------------------------------
    # Waits

    def _check_known(self, tasks: List[int]) -> None:
        for task in tasks:
            if task >= len(self._scheduled):
                raise ReplayError(f"the orchestrator waited on task {task}, which it never scheduled")

    def wait_any(self, tasks: List[int]) -> Optional[Tuple[int, Tuple[str, Any]]]:
        """The first-delivered completion among ``tasks``, or ``None`` if none has completed."""
        self._ensure_running()
        if not tasks:
            raise ReplayError("the orchestrator called wait-any with no tasks: it would wait forever")
        self._check_known(tasks)
        done = [(self._results[t][0], t) for t in tasks if t in self._results]
        if not done:
            return None
        _, task = min(done)
        return task, self._results[task][1]

    def wait_all(self, tasks: List[int]) -> Optional[List[Tuple[int, Tuple[str, Any]]]]:
        """Every completion of ``tasks``, in order, or ``None`` while one is missing."""
        self._ensure_running()
        self._check_known(tasks)
        if any(t not in self._results for t in tasks):
            return None
        return [(t, self._results[t][1]) for t in tasks]

    def waiting_for(self) -> List[str]:
        """What the orchestrator's tasks without a result stand for, for messages."""
        words = []
        for task_id, (kind, what) in enumerate(self._scheduled):
            if task_id in self._results:
                continue
            if kind in ("event", "update"):
                words.append(f"{kind} '{what}'")
            elif kind == "timer":
                words.append(f"a timer firing at {what}")
            elif kind == "sub-orchestration":
                words.append(f"sub-orchestration '{what[0]}' (instance {what[1]})")
            elif kind == "entity":
                words.append(f"operation '{what[1]}' on entity {entity_text(what[0])}")
            else:
                words.append(f"{kind} '{what}'" if what is not None else kind)
        return words

    # ------------------------------------------------------------------------------------------
    # The instance

    def new_guid(self) -> str:
        """``new-guid``: the next of the execution's name-based UUIDs, from the instance id, the
        execution and a count: the same on every replay."""
        self._guids += 1
        return str(uuid.uuid5(_GUID_NAMESPACE, f"{self.instance_id}/{self.execution}/{self._guids}"))

    def complete(self, output: str) -> None:
        """Ends the execution with ``output`` (JSON text), or continues it as new if asked."""
        if self._finish_continued():
            return
        self._command("complete the orchestration", {"type": "ExecutionCompleted", "output": output})
        self.terminal = ("Completed", output)

    def fail(self, failure: Dict[str, Any]) -> None:
        """Ends the execution with ``failure`` (JSON shape), or continues it as new if asked."""
        if self._finish_continued():
            return
        self._command("fail the orchestration", {"type": "ExecutionFailed", "failure": failure})
        self.terminal = ("Failed", failure)

    def abort(self, failure: Dict[str, Any]) -> None:
        """Ends the execution with ``failure`` (JSON shape) because replay refused a call
        (``Replayer::abort``): while replaying, the recorded events not consumed yet are dropped
        and the failure is recorded where the history ends; the deliveries of an episode not
        opened yet are dropped with it."""
        if self.terminal is not None:
            return
        if not self.live:
            self._recorded.clear()
            self._pending.clear()
            self.position = self._history_len + len(self.new_events)
            self.live = True
        self._push({"type": "ExecutionFailed", "failure": failure})
        self.terminal = ("Failed", failure)

    def _finish_continued(self) -> bool:
        if self._continue_as_new is None:
            return False
        payload, self._continue_as_new = self._continue_as_new, None
        self._command("continue as new", {"type": "ExecutionContinuedAsNew", "input": payload})
        self.terminal = ("ContinuedAsNew", payload)
        return True


# ----------------------------------------------------------------------------------------------
# History formats


def format_time(ms: int) -> str:
    """``ms`` as RFC 3339 UTC with milliseconds, as ``reprise history --json`` writes it."""
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def parse_time(text: str) -> int:
    """An RFC 3339 time as milliseconds since the epoch."""
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    whole, fraction, zone = match.groups()
    offset = "+00:00" if zone == "Z" else zone
    seconds = int(datetime.fromisoformat(whole + offset).timestamp())
    return seconds * 1000 + int((fraction or "0").ljust(3, "0")[:3])


@dataclass
class HistoryText:
    """A history read by :func:`load_history` (``history_text::HistoryText``)."""

    #: The events of one execution, in the bundle's shape, sorted by ``seq``.
    events: List[Dict[str, Any]]
    #: The instance's id, if the text names it (a bundle does; ``history --json`` does not).
    instance_id: Optional[str]
    #: The execution the events belong to: a bundle's last; 1 if the text does not say.
    execution: int


def load_history(source: Any) -> HistoryText:
    """The last execution in ``source``: the text (or the parsed JSON) of ``reprise history ID
    --json`` (an array of events, payloads embedded, times as RFC 3339), or of an export bundle
    (``{"format": "reprise-bundle", "executions": [...]}``, payloads as JSON text, times as
    numbers), as ``history_text::parse`` reads them."""
    data = json.loads(source) if isinstance(source, (str, bytes, bytearray)) else source
    if isinstance(data, dict):
        if data.get("format") != "reprise-bundle":
            raise ValueError("expected `reprise history --json` output (an array) or a bundle (format reprise-bundle)")
        executions = data.get("executions") or []
        if not executions:
            raise ValueError("the bundle holds no execution")
        last = max(executions, key=lambda execution: execution.get("execution", 0))
        events = [dict(event) for event in last["events"]]
        instance = data.get("instance")
        instance_id = instance.get("instance_id") if isinstance(instance, dict) else None
        execution = int(last.get("execution", 1))
    elif isinstance(data, list):
        events = []
        for raw in data:
            event = dict(raw)
            for key in _PAYLOAD_FIELDS:
                if key in event:
                    event[key] = json.dumps(event[key])
            for key in _TIME_FIELDS:
                if isinstance(event.get(key), str):
                    event[key] = parse_time(event[key])
            events.append(event)
        instance_id, execution = None, 1
    else:
        raise ValueError("expected `reprise history --json` output (an array) or a bundle (format reprise-bundle)")
    return HistoryText(sorted(events, key=lambda event: event["seq"]), instance_id, execution)


def to_history_json(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Events in the shape of ``reprise history ID --json``: payloads embedded as the values they
    are, times as RFC 3339."""
    shown = []
    for event in events:
        item = dict(event)
        for key in _PAYLOAD_FIELDS:
            if isinstance(item.get(key), str):
                item[key] = json.loads(item[key])
        for key in _TIME_FIELDS:
            if isinstance(item.get(key), int):
                item[key] = format_time(item[key])
        shown.append(item)
    return shown
