"""The registry of a guest's orchestrators, activities, entities and update validators, and the
four classes the component exports (``Orchestrators``, ``Activities``, ``Entities`` and
``UpdateValidators``, the WIT interfaces of the same names).

This module owns the boundary: JSON in and out, exceptions turned into WIT failures, and the
re-seeding of Python's ``random`` from the host's virtual random source at the start of every
run (the interpreter was snapshotted at build time, so without it every instance would draw the
same numbers). It never lets a Python exception escape into the host.
"""

from __future__ import annotations

# The host's interfaces and types: the bindings inside a component (see `_host`).
from ._host import Err, types

import json
import os
import random
from typing import Any, Callable, Dict, List, Optional

from .context import ActivityContext, OrchestrationContext
from .entity import _UNSET, EntityContext
from .errors import Failure

_ORCHESTRATORS: Dict[str, Callable[[OrchestrationContext, Any], Any]] = {}
_ACTIVITIES: Dict[str, Callable[[ActivityContext, Any], Any]] = {}
_ENTITIES: Dict[str, Callable[[EntityContext], Any]] = {}
_VALIDATORS: Dict[str, Callable[["UpdateCheck", Any], None]] = {}


def _register(table: Dict[str, Callable], kind: str, function: Optional[Callable], name: Optional[str]):
    def add(f: Callable) -> Callable:
        key = name or f.__name__
        if key in table:
            raise ValueError(f"two {kind}s are named {key!r}: give one another name with @{kind}(name=...)")
        table[key] = f
        return f

    return add if function is None else add(function)


def orchestrator(function: Optional[Callable] = None, *, name: Optional[str] = None):
    """Registers an orchestrator ``f(ctx, input) -> output`` under its function name (or
    ``name``): ``@orchestrator`` or ``@orchestrator(name="ProcessOrder")``."""
    if isinstance(function, str):
        return _register(_ORCHESTRATORS, "orchestrator", None, function)
    return _register(_ORCHESTRATORS, "orchestrator", function, name)


def activity(function: Optional[Callable] = None, *, name: Optional[str] = None):
    """Registers an activity ``f(ctx, input) -> output`` under its function name (or ``name``)."""
    if isinstance(function, str):
        return _register(_ACTIVITIES, "activity", None, function)
    return _register(_ACTIVITIES, "activity", function, name)


def entity(function: Optional[Callable] = None, *, name: Optional[str] = None):
    """Registers an entity type ``f(ctx) -> output`` under its function name (or ``name``):
    ``@entity("Counter")`` or ``@entity(name="Counter")``. It runs one operation
    (``ctx.operation_name``) on the state (``ctx.get_state``, ``ctx.set_state``); raising fails
    the operation and leaves the state as it was."""
    if isinstance(function, str):
        return _register(_ENTITIES, "entity", None, function)
    return _register(_ENTITIES, "entity", function, name)


def update_validator(update: str):
    """Registers ``f(check, input)`` as the validator of the updates named ``update``:
    ``@update_validator("deposit")``. The host calls it before it records such an update, in a
    fresh instance of the component (the deterministic sandbox of entities): raising refuses
    the update, and the caller receives the failure (a ``Failure`` keeps its type; any other
    exception is named after its class); returning ``None`` accepts it. ``check`` is an
    :class:`UpdateCheck`: the orchestrator's name and its custom status, not its variables.
    Updates without a validator are accepted."""
    if not isinstance(update, str):
        raise TypeError("@update_validator needs the update's name: @update_validator(\"deposit\")")

    def add(f: Callable) -> Callable:
        if update in _VALIDATORS:
            raise ValueError(f"two validators check the update {update!r}: an update has at most one")
        _VALIDATORS[update] = f
        return f

    return add


class UpdateCheck:
    """What a validator knows of the instance an update is sent to: what the orchestrator
    published, never its memory."""

    __slots__ = ("orchestrator", "custom_status")

    def __init__(self, orchestrator: str, custom_status: Any = None) -> None:
        #: The name of the instance's orchestrator.
        self.orchestrator = orchestrator
        #: The instance's custom status (the decoded JSON), or ``None`` if it has none.
        self.custom_status = custom_status

    def __repr__(self) -> str:
        return f"UpdateCheck({self.orchestrator!r}, {self.custom_status!r})"


def _find(table: Dict[str, Callable], kind: str, name: str) -> Callable:
    """The function registered as ``name``, or an ``UnknownFunction`` failure listing the others."""
    function = table.get(name)
    if function is None:
        known = ", ".join(sorted(table)) or "none"
        raise Failure(Failure.UNKNOWN_FUNCTION, f"this component has no {kind} named '{name}' (it has: {known})")
    return function


def _decode(text: str, error_type: str, what: str) -> Any:
    """``text`` as JSON, or a failure of ``error_type`` that starts with ``what``."""
    try:
        return json.loads(text)
    except ValueError as err:
        raise Failure(error_type, f"{what}: {err}") from None


def _run(kind: str, table: Dict[str, Callable], name: str, payload: str, context: Callable[[Any], Any]) -> str:

    try:
        function = _find(table, kind, name)
        value = _decode(payload, Failure.INVALID_INPUT, f"invalid input for {kind} '{name}'")
        output = function(context(value), value)
        try:
            return json.dumps(output)
        except (TypeError, ValueError) as err:
            raise Failure(
                Failure.INVALID_OUTPUT, f"the output of {kind} '{name}' could not be encoded to JSON: {err}"
            ) from None
    except Exception as error:  # every failure, typed or not, goes back to the host as a record
        raise Err(Failure.from_exception(error).to_wire()) from None


class Orchestrators:
    """The component's export ``reprise:durable/orchestrators``."""

    def names(self) -> List[str]:
        """The registered orchestrators."""
        return list(_ORCHESTRATORS)

    def run(self, name: str, input: str) -> str:
        """Runs one orchestrator to completion."""
        # The host's random source for orchestrators is virtual: seeded per instance and the same
        # on every replay. Python's `random` was seeded when the component was built, so seed it
        # again from the host's source.
        random.seed(os.urandom(32))
        return _run("orchestrator", _ORCHESTRATORS, name, input, OrchestrationContext)


class Activities:
    """The component's export ``reprise:durable/activities``."""

    def names(self) -> List[str]:
        """The registered activities."""
        return list(_ACTIVITIES)

    def run(self, name: str, input: str) -> str:
        """Runs one attempt of an activity."""
        random.seed(os.urandom(32))
        return _run("activity", _ACTIVITIES, name, input, lambda _value: ActivityContext())


class Entities:
    """The component's export ``reprise:durable/entities``."""

    def names(self) -> List[str]:
        """The registered entity types."""
        return list(_ENTITIES)

    def run(self, name: str, operation: str, input: str, state: Optional[str]) -> "types.OperationResult":
        """Runs one operation on an entity's state."""
        random.seed(os.urandom(32))
        return _run_entity(_ENTITIES, name, operation, input, state)


class UpdateValidators:
    """The component's export ``reprise:durable/update-validators``."""

    def validate(self, orchestrator: str, update: str, input: str, custom_status: Optional[str]) -> None:
        """Checks one update before the host records it: returns to accept it, raises the
        refusal's failure otherwise."""
        random.seed(os.urandom(32))
        _validate(_VALIDATORS, orchestrator, update, input, custom_status)


def _validate(
    table: Dict[str, Callable], orchestrator: str, update: str, input: str, custom_status: Optional[str]
) -> None:
    """Runs the validator of ``update`` in ``table``, if there is one."""
    try:
        function = table.get(update)
        if function is None:
            return
        value = _decode(input, Failure.INVALID_INPUT, f"the input of update '{update}' is not JSON")
        status = (
            None
            if custom_status is None
            else _decode(custom_status, Failure.INVALID_STATE, "the instance's custom status is not JSON")
        )
        verdict = function(UpdateCheck(orchestrator, status), value)
        if verdict is not None:
            # `return False` reads like a refusal: refuse rather than accept by mistake.
            raise Failure(
                Failure.INVALID_OUTPUT,
                f"the validator of update '{update}' returned {verdict!r}: a validator refuses by raising a "
                "Failure and accepts by returning None",
            )
    except Exception as error:  # every refusal goes back to the host as a record
        raise Err(Failure.from_exception(error).to_wire()) from None


def _run_entity(
    table: Dict[str, Callable], name: str, operation: str, input: str, state: Optional[str]
) -> "types.OperationResult":
    """Runs one operation of the entity type ``name`` of ``table`` on ``state``."""
    try:
        function = _find(table, "entity", name)
        value = _decode(input, Failure.INVALID_INPUT, f"invalid input for operation '{operation}' of '{name}'")
        current = (
            _UNSET
            if state is None
            else _decode(state, Failure.INVALID_STATE, f"the stored state of entity '{name}' is not JSON")
        )
        ctx = EntityContext(name, operation, value, current)
        returned = function(ctx)
        output = returned if ctx._result is _UNSET else ctx._result
        try:
            new_state = None if ctx._state is _UNSET else json.dumps(ctx._state)
            return types.OperationResult(new_state, json.dumps(output))
        except (TypeError, ValueError) as err:
            raise Failure(
                Failure.INVALID_OUTPUT, f"the state or output of operation '{operation}' is not JSON: {err}"
            ) from None
    except Exception as error:  # every failure goes back to the host as a record
        raise Err(Failure.from_exception(error).to_wire()) from None
