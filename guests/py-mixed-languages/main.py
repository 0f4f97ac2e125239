"""A Python orchestrator whose steps run in other languages, and a determinism probe.

- ``mixed_languages``: input ``{"value": n, "text": s}``. Calls the Rust activity ``double``
  (guest ``sub-orchestrations``) with ``n`` and the JavaScript activity ``js_shout`` (guest
  ``js-fan-out``) with ``s`` (with a retry policy), then both again at once; output
  ``{"doubled", "shouted", "both", "languages"}``.
- ``py_determinism_probe``: samples ``random``, ``time.time()``, ``uuid.uuid4()``, the context's
  clock and UUIDs, hands the sample to an activity (so history records it), and compares it with
  what it samples again after the activity: on a cold replay any value the host did not make
  deterministic would differ from the recorded one.
- ``py_approval``: input ``{"value": n}``. Runs the Rust orchestrator ``child_double`` as a
  sub-orchestration with ``n``, and again with 13 (which it refuses, caught as
  ``SubOrchestrationFailed``), then races the event ``Approval`` against a one-hour durable
  timer; output ``{"doubled", "refused", "approved", "approver"}``.
- ``py_chain``: ``{"steps": n}``, n sequential calls of the Rust activity ``noop``, for the
  polyglot bench.
- ``py_word_counts``: input a list of JSON values. Calls the C activity ``c_word_count``
  (guest ``c-hello``) with each in turn; output one entry per value: the activity's output, or
  ``{"failed", "cause", "message"}`` when it failed (caught as ``TaskFailedError``).
- ``py_backoff``: input ``{"fail_times": k, "max_attempts": m, "first_retry_ms": f,
  "coefficient": c}`` and optionally ``"max_retry_ms"`` and ``"retry_timeout_ms"``. Calls the Rust
  activity ``flaky_activity`` (guest ``retry-pattern``, which fails its first k attempts with
  ``TransientFailure``, details ``attempt N``) under that retry policy; output ``{"output": ...}``,
  or ``{"gave_up": details}`` with the last attempt's details once the policy gives up. The host
  decides every wait (``first * c**(n-1)`` in floating point, capped, within the timeout).
- Entity ``PyCounter`` (state: a number): ``add(n)`` (a negative ``n`` fails with
  ``InvalidOperation`` and changes nothing), ``get()``, ``reset()``.
- ``py_entities``: input a key. Signals ``add(5)``, calls ``add(-1)`` (caught), calls ``add(2)``
  and ``get``; output ``{"caught", "cause", "after_add", "value"}``.
- ``py_account``: the Rust guest ``updates``' ``account`` in Python. Input ``{"limit": n}``;
  publishes the custom status ``{"balance": b, "open": true}`` and takes ``deposit`` updates
  (a positive integer) one at a time, each answered with the new balance after the activity
  ``py_audit`` (input ``{"amount", "balance"}``, output ``"audited <amount>"``) has run, so in a
  later episode than the one the update arrived in; a deposit of 13 is answered with the failure
  ``Unlucky`` and the instance goes on. ``close`` (any input) is answered with the balance and
  ends the instance with ``{"balance", "deposits"}``, as does the balance reaching the limit.
  The validator of ``deposit`` refuses an amount that is not a positive integer
  (``NotPositive``) and any deposit once the custom status says the account is closed
  (``Closed``).
"""

import random
import time
import uuid
from datetime import timedelta

from reprise import (
    EntityContext,
    EntityId,
    Failure,
    OrchestrationContext,
    RetryPolicy,
    TaskFailedError,
    UpdateCheck,
    activity,
    entity,
    orchestrator,
    update_validator,
)
from reprise import Activities, Entities, Orchestrators, UpdateValidators  # noqa: F401  (the component's exports)


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


@orchestrator
def py_approval(ctx: OrchestrationContext, request):
    doubled = ctx.call_sub_orchestrator("child_double", request["value"])
    try:
        ctx.call_sub_orchestrator("child_double", 13)
        refused = None
    except TaskFailedError as error:
        # SubOrchestrationFailed, caused by the child's own failure.
        refused = [error.error_type, error.cause.error_type]
    ctx.set_custom_status("waiting for approval")
    approval = ctx.wait_for_external_event("Approval")
    timeout = ctx.create_timer(timedelta(hours=1))
    winner = ctx.task_any([approval, timeout])
    approved = winner is approval
    ctx.set_custom_status("approved" if approved else "timed out")
    return {
        "doubled": doubled,
        "refused": refused,
        "approved": approved,
        "approver": approval.result()["by"] if approved else None,
    }


@orchestrator
def py_backoff(ctx: OrchestrationContext, request):
    def ms(key):
        return None if request.get(key) is None else timedelta(milliseconds=request[key])

    policy = RetryPolicy(
        request["max_attempts"],
        first_retry_interval=timedelta(milliseconds=request["first_retry_ms"]),
        backoff_coefficient=request["coefficient"],
        max_retry_interval=ms("max_retry_ms"),
        retry_timeout=ms("retry_timeout_ms"),
    )
    payload = {"input": "backoff", "fail_times": request["fail_times"]}
    try:
        return {"output": ctx.call_activity("flaky_activity", payload, retry=policy)}
    except TaskFailedError as error:
        # ActivityFailed, caused by the last attempt's own failure.
        return {"gave_up": error.cause.details}


@orchestrator
def py_chain(ctx: OrchestrationContext, request):
    """``{"steps": n}``: calls the Rust activity ``noop`` (guest ``chain``) n times in sequence,
    the per-step overhead of a Python orchestrator that the polyglot bench measures."""
    last = 0
    for i in range(request["steps"]):
        last = ctx.call_activity("noop", i + 1)
    return {"steps": request["steps"], "last": last}


@orchestrator
def py_word_counts(ctx: OrchestrationContext, texts):
    results = []
    for text in texts:
        try:
            results.append(ctx.call_activity("c_word_count", text))
        except TaskFailedError as error:
            # ActivityFailed, caused by the C activity's own failure.
            results.append({"failed": error.error_type, "cause": error.cause.error_type, "message": error.cause.message})
    return results


@entity("PyCounter")
def py_counter(ctx: EntityContext):
    value = ctx.get_state(lambda: 0)
    if ctx.operation_name == "add":
        amount = ctx.get_input()
        if amount < 0:
            raise Failure("InvalidOperation", "this is an entity exception")
        ctx.set_state(value + amount)
        return value + amount
    if ctx.operation_name == "get":
        return value
    if ctx.operation_name == "reset":
        ctx.set_state(0)
        return None
    raise Failure("UnknownOperation", f"PyCounter has no operation {ctx.operation_name!r}")


@orchestrator
def py_entities(ctx: OrchestrationContext, key):
    counter = EntityId("PyCounter", key)
    ctx.signal_entity(counter, "add", 5)
    try:
        ctx.call_entity(counter, "add", -1)
        caught = None
        cause = None
    except TaskFailedError as error:
        caught = error.error_type
        cause = error.cause.error_type
    after_add = ctx.call_entity(counter, "add", 2)
    with ctx.lock([counter]):
        value = ctx.call_entity(counter, "get")
    return {"caught": caught, "cause": cause, "after_add": after_add, "value": value}


@orchestrator
def py_account(ctx: OrchestrationContext, account):
    balance, deposits = 0, 0
    ctx.set_custom_status({"balance": balance, "open": True})
    # One wait per name at a time; the one that loses the race stays pending for the next update.
    deposit, close = ctx.wait_for_update("deposit"), ctx.wait_for_update("close")
    while True:
        if ctx.task_any([deposit, close]) is close:
            ctx.reply_update(close.result(), balance)
            ctx.set_custom_status({"balance": balance, "open": False})
            return {"balance": balance, "deposits": deposits}
        update = deposit.result()
        deposit = ctx.wait_for_update("deposit")
        if update.input == 13:
            ctx.reply_update(update, failure=Failure("Unlucky", "13 is not taken here"))
            continue
        ctx.call_activity("py_audit", {"amount": update.input, "balance": balance})
        balance += update.input
        deposits += 1
        ctx.reply_update(update, balance)
        is_open = balance < account["limit"]
        ctx.set_custom_status({"balance": balance, "open": is_open})
        if not is_open:
            return {"balance": balance, "deposits": deposits}


@activity
def py_audit(ctx, entry):
    return f"audited {entry['amount']}"


@update_validator("deposit")
def positive_open_deposit(check: UpdateCheck, amount):
    # bool is an int in Python: True is not a deposit.
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise Failure("NotPositive", f"deposit a positive whole amount, not {amount!r}")
    if check.custom_status is not None and not check.custom_status.get("open", True):
        raise Failure("Closed", "the account takes no more deposits")
