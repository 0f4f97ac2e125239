"""Unit tests of seed 002's transfer with refund, with ``reprise.testing`` (no host, no build):
``PYTHONPATH=guest-sdk/python python3 -B -m unittest discover -s guests/py-transfer-funds``.

The activities are the guest's own functions, so these tests also pin what they return.
"""

import unittest

from reprise import Failure
from reprise.testing import Harness

from main import credit_account, debit_account, transfer_funds


def harness() -> Harness:
    return Harness().activity("DebitAccount", debit_account).activity("CreditAccount", credit_account)


class TransferFunds(unittest.TestCase):
    def test_a_transfer_debits_then_credits(self):
        run = harness().start(transfer_funds, {"sourceAccount": "A", "destinationAccount": "B", "amount": 5})
        self.assertEqual((run.status, run.output), ("Completed", {"status": "transferred"}))
        self.assertEqual(
            run.activity_calls,
            [("DebitAccount", {"account": "A", "amount": 5}, 1), ("CreditAccount", {"account": "B", "amount": 5}, 1)],
        )

    def test_a_frozen_destination_is_refunded(self):
        run = harness().start(transfer_funds, {"sourceAccount": "A", "destinationAccount": "frozen-B", "amount": 250})
        self.assertEqual(
            run.output,
            {
                "status": "refunded",
                "reason": "activity 'CreditAccount' failed: account 'frozen-B' is frozen",
                "cause": "AccountFrozen",
            },
        )
        self.assertEqual(
            run.commands,
            [
                "schedule activity 'DebitAccount'",
                "schedule activity 'CreditAccount'",
                "schedule activity 'CreditAccount'",
                "complete the orchestration",
            ],
        )
        self.assertEqual(run.activity_calls[2], ("CreditAccount", {"account": "A", "amount": 250}, 1), "the refund")
        self.assertEqual(run.logs, [("warn", "credit failed (AccountFrozen), refunding the source account")])

    def test_a_failed_refund_fails_the_orchestration_with_both_failures(self):
        harness = Harness().activity("DebitAccount", debit_account)
        harness.activity_results("CreditAccount", [Failure("Unavailable", "the bank is closed")])
        run = harness.start(transfer_funds, {"sourceAccount": "A", "destinationAccount": "B", "amount": 5})
        self.assertEqual(run.status, "Failed")
        self.assertEqual((run.failure.error_type, run.failure.message), ("CompensationFailed", "could not refund A"))
        self.assertEqual(
            [cause.error_type for cause in run.failure.causes], ["ActivityFailed", "Unavailable"]
        )

    def test_an_input_without_accounts_fails_as_the_host_records_it(self):
        run = harness().start(transfer_funds, {"amount": 5})
        self.assertEqual(run.status, "Failed")
        self.assertEqual((run.failure.error_type, run.failure.message), ("KeyError", "'sourceAccount'"))
        self.assertEqual(run.commands, ["fail the orchestration"])


if __name__ == "__main__":
    unittest.main()
