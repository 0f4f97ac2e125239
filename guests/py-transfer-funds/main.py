"""Seed 002, error handling and compensation, in Python: a funds transfer debits the source
account, then credits the destination; if the credit fails, the orchestrator refunds the source.

- ``TransferFunds``: input ``{"sourceAccount", "destinationAccount", "amount"}``, output
  ``{"status": "transferred"}``, or ``{"status": "refunded", "reason": ...}`` when the credit
  failed and the source was credited back.
- ``DebitAccount`` / ``CreditAccount``: the activities; ``CreditAccount`` fails with
  ``AccountFrozen`` for any account whose name starts with ``frozen``.
"""

from reprise import Failure, OrchestrationContext, TaskFailedError, activity, orchestrator
from reprise import Activities, Entities, Orchestrators, UpdateValidators  # noqa: F401  (the component's exports)


@orchestrator(name="TransferFunds")
def transfer_funds(ctx: OrchestrationContext, transfer):
    ctx.call_activity("DebitAccount", {"account": transfer["sourceAccount"], "amount": transfer["amount"]})
    try:
        ctx.call_activity("CreditAccount", {"account": transfer["destinationAccount"], "amount": transfer["amount"]})
    except TaskFailedError as error:
        # `error` is ActivityFailed; the activity's own failure is its cause.
        ctx.log_warn(f"credit failed ({error.cause.error_type}), refunding the source account")
        try:
            ctx.call_activity("CreditAccount", {"account": transfer["sourceAccount"], "amount": transfer["amount"]})
        except TaskFailedError as refund_error:
            raise Failure("CompensationFailed", f"could not refund {transfer['sourceAccount']}").caused_by(
                refund_error
            ) from refund_error
        return {"status": "refunded", "reason": error.message, "cause": error.cause.error_type}
    return {"status": "transferred"}


@activity(name="DebitAccount")
def debit_account(ctx, operation):
    return {"account": operation["account"], "operation": "debit", "amount": operation["amount"]}


@activity(name="CreditAccount")
def credit_account(ctx, operation):
    if operation["account"].startswith("frozen"):
        raise Failure("AccountFrozen", f"account '{operation['account']}' is frozen")
    return {"account": operation["account"], "operation": "credit", "amount": operation["amount"]}
