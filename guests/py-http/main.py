"""HTTP from a Python activity, with the SDK's blocking client ``reprise.http``: the host sends
the request through ``wasi:http`` if one of the activity's grants allows it.

- ``fetch``: input ``{"method": "GET", "url": "...", "headers": {...}, "body": "text"}``
  (``headers`` and ``body`` optional, ``method`` GET by default); output ``{"status": 200,
  "headers": {"lower-case-name": "value"}, "body": "<text>"}``, whatever the status. A request
  that gets no response (a network error, or the host's denial) fails the activity with the
  error type ``HttpError`` and the error's text as its message.
- ``call``: input ``{"activity": "...", "input": any}``; calls that activity (exported by any
  loaded component) with that input and returns its output.
"""

from reprise import Failure, OrchestrationContext, activity, http, orchestrator
from reprise import Activities, Entities, Orchestrators, UpdateValidators  # noqa: F401  (the component's exports)


@activity(name="fetch")
def fetch(ctx, spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        raise Failure(Failure.INVALID_INPUT, "fetch needs a `url` string")
    response = http.request(spec.get("method", "GET"), spec["url"], spec.get("headers"), spec.get("body"))
    return {"status": response.status, "headers": response.headers, "body": response.text()}


@orchestrator(name="call")
def call(ctx: OrchestrationContext, spec):
    return ctx.call_activity(spec["activity"], spec.get("input"))
