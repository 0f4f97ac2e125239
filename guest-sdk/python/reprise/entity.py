"""Entities: their addresses, and the context an entity function runs an operation with.

An entity is a small durable object addressed by a type name and a key. Its function runs one
operation at a time on its state, in Durable Functions' shape::

    @entity("Counter")
    def counter(ctx: EntityContext):
        value = ctx.get_state(lambda: 0)
        if ctx.operation_name == "add":
            ctx.set_state(value + ctx.get_input())
        elif ctx.operation_name == "get":
            ctx.set_result(value)

Entities run deterministically, like orchestrators (their clock and random sources are the
host's virtual ones). This module never reaches the outside world but through the host's
``entity-context`` interface, whose effects (signals, started orchestrations) the host keeps only
if the operation succeeds.
"""

from __future__ import annotations

# The host's interfaces and types: the bindings inside a component (see `_host`).
from ._host import entity_context, types

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from .errors import Failure

# Marks "no value": a state or a result that was never set.
_UNSET = object()


@dataclass(frozen=True)
class EntityId:
    """The address of an entity: ``EntityId("Counter", "myCounter")``."""

    name: str
    key: str

    def __str__(self) -> str:
        return f"@{self.name}@{self.key}"

    def to_wire(self) -> "types.EntityId":
        """The WIT record."""
        return types.EntityId(self.name, self.key)


def encode(value: Any, what: str) -> str:
    """``value`` as JSON text, or a ``Failure`` of type ``InvalidInput`` saying what it was."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as err:
        raise Failure(Failure.INVALID_INPUT, f"{what} could not be encoded to JSON: {err}") from None


class EntityContext:
    """What an entity function receives: the operation, its input, and the entity's state."""

    def __init__(self, entity_name: str, operation_name: str, operation_input: Any, state: Any) -> None:
        #: The entity type's name.
        self.entity_name = entity_name
        #: The operation to run.
        self.operation_name = operation_name
        self._input = operation_input
        self._state = state
        self._result: Any = _UNSET

    @property
    def entity_key(self) -> str:
        """The entity's key."""
        return entity_context.id().key

    def get_input(self) -> Any:
        """The operation's input."""
        return self._input

    def get_state(self, initializer: Optional[Callable[[], Any]] = None) -> Any:
        """The entity's state; with no state yet, ``initializer()`` (or ``None``)."""
        if self._state is _UNSET:
            if initializer is None:
                return None
            self._state = initializer()
        return self._state

    def set_state(self, state: Any) -> None:
        """Sets the entity's state (any JSON value), kept if the operation succeeds."""
        self._state = state

    def delete_state(self) -> None:
        """Deletes the entity once the operation succeeds."""
        self._state = _UNSET

    def set_result(self, value: Any) -> None:
        """Sets the operation's output (otherwise the function's return value is)."""
        self._result = value

    @property
    def current_utc_datetime(self) -> datetime:
        """The batch's logical time."""
        return datetime.fromtimestamp(entity_context.current_time() / 1000, tz=timezone.utc)

    def new_uuid(self) -> str:
        """A UUID derived from the entity and its operation count."""
        return entity_context.new_guid()

    def signal_entity(self, entity_id: EntityId, operation: str, input: Any = None) -> None:
        """Sends an operation to an entity, one way, if this operation succeeds."""
        payload = encode(input, f"the input of operation '{operation}' on {entity_id}")
        entity_context.signal_entity(entity_id.to_wire(), operation, payload)

    def start_new_orchestration(self, name: str, input: Any = None, instance_id: Optional[str] = None) -> str:
        """Starts an orchestration if this operation succeeds; returns its instance id."""
        payload = encode(input, f"the input of orchestrator '{name}'")
        return entity_context.start_orchestration(name, payload, instance_id)
