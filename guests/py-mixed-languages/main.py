"""A Python orchestrator whose steps run in other languages, and a determinism probe.

- ``mixed_languages``: input ``{"value": n, "text": s}``. Calls the Rust activity ``double``
  (guest ``sub-orchestrations``) with ``n`` and the JavaScript activity ``js_shout`` (guest
  ``js-fan-out``) with ``s`` (with a retry policy), then both again at once; output
  ``{"doubled", "shouted", "both", "languages"}``.
- ``py_determinism_probe``: samples ``random``, ``time.time()``, ``uuid.uuid4()``, the context's
  clock and UUIDs, hands the sample to an activity (so history records it), and compares it with
  what it samples again after the activity: on a cold replay any value the host did not make
  deterministic would differ from the recorded one.
"""

import random
import time
import uuid

from reprise import OrchestrationContext, RetryPolicy, orchestrator
from reprise import Activities, Orchestrators  # noqa: F401  (the component's exports)


@orchestrator
def mixed_languages(ctx: OrchestrationContext, request):
    ctx.set_custom_status("calling Rust")
    doubled = ctx.call_activity("double", request["value"])
    ctx.set_custom_status("calling JavaScript")
    shouted = ctx.call_activity("js_shout", request["text"], retry=RetryPolicy(3, first_retry_interval=1.0))
    ctx.set_custom_status("calling both at once")
    both = ctx.task_all([ctx.schedule_activity("double", doubled), ctx.schedule_activity("js_shout", shouted)])
    ctx.set_custom_status("done")
    return {"doubled": doubled, "shouted": shouted, "both": both, "languages": ["rust", "javascript"]}


def _sample(ctx: OrchestrationContext):
    return {
        "random": random.random(),
        "randint": random.randint(0, 1 << 62),
        "time_ms": int(time.time() * 1000),
        "uuid4": str(uuid.uuid4()),
        "context_time_ms": ctx.current_time_ms,
        "guid": ctx.new_uuid(),
    }


@orchestrator
def py_determinism_probe(ctx: OrchestrationContext, input):
    before = _sample(ctx)
    # The activity is a Rust one that returns its input: history now holds `before` as the
    # first run drew it.
    recorded = ctx.call_activity("echo", before)
    after = _sample(ctx)
    return {"before": before, "recorded": recorded, "after": after}
