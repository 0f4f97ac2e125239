"""The one place the SDK reaches the host: every other module takes the host's interfaces, its
WIT types and the ``Ok``/``Err`` of results from here.

Inside a component these are the bindings componentize-py generates from ``wit/durable.wit`` at
build time. They are imported at module level: only modules imported while the component is
built are in it. The world (``app-http``) imports two ``types`` interfaces, ours and
``wasi:http``'s, so componentize-py names each after its package.

Outside a component (CPython running a test) there are no bindings: the names are bound to the
in-process host of ``reprise._offline`` instead, which forwards each call to whatever
``reprise.testing`` is running. Inside a component a missing binding is an error of the build,
never a reason to fall back.
"""

from __future__ import annotations

import sys

_BINDINGS = ("componentize_py_types", "wit_world")

try:
    from componentize_py_types import Err, Ok
    from wit_world.imports import activity_context, entity_context, orchestration, outgoing_handler, streams
    from wit_world.imports import reprise_durable_types as types
    from wit_world.imports import wasi_http_types as wasi
except ModuleNotFoundError as missing:
    if sys.platform == "wasi" or (missing.name or "").split(".")[0] not in _BINDINGS:
        raise
    from ._offline import Err, Ok, activity_context, entity_context, orchestration, outgoing_handler, streams
    from ._offline import types, wasi

__all__ = [
    "Err",
    "Ok",
    "activity_context",
    "entity_context",
    "orchestration",
    "outgoing_handler",
    "streams",
    "types",
    "wasi",
]
