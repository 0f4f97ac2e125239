"""Reprise's guest SDK for Python: durable orchestrators, activities and entities as plain
functions.

A guest module registers its functions with the ``@orchestrator``, ``@activity``, ``@entity``
and ``@update_validator`` decorators and re-exports the four classes the component model calls::

    from reprise import OrchestrationContext, TaskFailedError, orchestrator, activity
    from reprise import Orchestrators, Activities, Entities, UpdateValidators  # the component's exports

    @orchestrator
    def hello(ctx: OrchestrationContext, name):
        return ctx.call_activity("greet", name)

    @activity
    def greet(ctx, name):
        return f"Hello, {name}!"

Inputs and outputs are JSON documents, decoded to and encoded from Python values with the
standard ``json`` module. The component is built by ``componentize-py`` against the world
``app-http`` of ``wit/durable.wit`` (``app`` with the update validators and
``wasi:http/outgoing-handler``); the bindings
(the ``wit_world`` package) are generated at build time. Activities make HTTP requests with
``reprise.http`` (``from reprise import http``; ``http.get(url).json()``).

This package owns the Python idioms only: it never decides anything an orchestrator's history
must record by itself (every durable decision goes through the host's ``orchestration``
interface), and it never reads a real clock or a real random source.
"""

from .context import ActivityContext, CriticalSection, OrchestrationContext, Task, Update, UpdateTask
from .entity import EntityContext, EntityId
from .errors import Failure, FailureCause, TaskFailedError
from .exports import (
    Activities,
    Entities,
    Orchestrators,
    UpdateCheck,
    UpdateValidators,
    activity,
    entity,
    orchestrator,
    update_validator,
)
from .options import RetryPolicy

__all__ = [
    "ActivityContext",
    "Activities",
    "CriticalSection",
    "Entities",
    "EntityContext",
    "EntityId",
    "Failure",
    "FailureCause",
    "OrchestrationContext",
    "Orchestrators",
    "RetryPolicy",
    "Task",
    "TaskFailedError",
    "Update",
    "UpdateCheck",
    "UpdateTask",
    "UpdateValidators",
    "activity",
    "entity",
    "orchestrator",
    "update_validator",
]
