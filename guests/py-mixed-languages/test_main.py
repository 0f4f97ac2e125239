"""Unit tests of the Python orchestrators whose steps run in other languages, with
``reprise.testing``: the Rust, JavaScript and C activities (and the Rust child orchestrator) are
replaced by Python stand-ins that behave as those guests do.
``PYTHONPATH=guest-sdk/python python3 -B -m unittest discover -s guests/py-mixed-languages``.
"""

import unittest
from datetime import timedelta

from reprise import EntityId, Failure, OrchestrationContext, UpdateCheck
from reprise.testing import DEFAULT_START_MS, Harness

from main import mixed_languages, py_approval, py_backoff, py_counter, py_determinism_probe, py_entities
from main import positive_open_deposit, py_account, py_audit, py_word_counts


def child_double(ctx: OrchestrationContext, item):
    """The Rust guest `sub-orchestrations`' `child_double`."""
    if item == 13:
        raise Failure("UnluckyNumber", "13 is not processed here")
    return ctx.call_activity("double", item)


def c_word_count(ctx, text):
    """The C guest `c-hello`'s activity, for the inputs these tests give it."""
    if not isinstance(text, str):
        raise Failure("NotAString", "c_word_count needs a JSON string")
    return {"words": len(text.split()), "bytes": len(text.encode())}


def flaky_activity(ctx, payload):
    """The Rust guest `retry-pattern`'s activity: fails its first `fail_times` attempts."""
    if ctx.attempt <= payload["fail_times"]:
        raise Failure("TransientFailure", "Transient activity failure. Please retry.", f"attempt {ctx.attempt}")
    return f"Succeeded with payload: {payload['input']}"


def polyglot() -> Harness:
    harness = Harness().activity("double", lambda ctx, n: n * 2)
    harness.activity("js_shout", lambda ctx, text: f"{str(text).upper()}!")
    return harness.orchestrator("child_double", child_double)


class MixedLanguages(unittest.TestCase):
    def test_the_steps_run_in_turn_then_together(self):
        run = polyglot().start(mixed_languages, {"value": 21, "text": "durable"})
        self.assertEqual(
            run.output,
            {"doubled": 42, "shouted": "DURABLE!", "both": [84, "DURABLE!!"], "languages": ["rust", "javascript"]},
        )
        self.assertEqual(run.custom_status, "done")
        self.assertEqual(
            run.commands,
            ["schedule activity 'double'", "schedule activity 'js_shout'", "schedule activity 'double'",
             "schedule activity 'js_shout'", "complete the orchestration"],
        )  # fmt: skip

    def test_the_custom_status_shows_the_step_a_retry_waits_in(self):
        def shout(ctx, text):
            # The first attempt of the first call fails; its retry policy waits 1 s.
            if (ctx.task_id, ctx.attempt) == (1, 1):
                raise Failure("Busy", "try later")
            return f"{text.upper()}!"

        run = polyglot().activity("js_shout", shout).start(mixed_languages, {"value": 1, "text": "loud"})
        self.assertEqual((run.status, run.custom_status), ("Running", "calling JavaScript"))
        run.advance(1)  # the policy's first retry interval
        self.assertEqual((run.status, run.custom_status), ("Completed", "done"))
        self.assertEqual(run.output["shouted"], "LOUD!")


class Approval(unittest.TestCase):
    def test_an_approval_within_the_hour_wins(self):
        run = polyglot().start(py_approval, {"value": 4})
        self.assertEqual(run.custom_status, "waiting for approval")
        run.advance(timedelta(minutes=59)).raise_event("Approval", {"by": "alice"})
        self.assertEqual(
            run.output,
            {"doubled": 8, "refused": ["SubOrchestrationFailed", "UnluckyNumber"], "approved": True, "approver": "alice"},
        )
        self.assertEqual(run.custom_status, "approved")

    def test_without_an_approval_the_timer_wins(self):
        run = polyglot().start(py_approval, {"value": 5}).run_to_completion()
        self.assertEqual(run.output["approved"], False)
        self.assertEqual(run.custom_status, "timed out")
        self.assertEqual(
            run.commands,
            ["start sub-orchestration 'child_double'", "start sub-orchestration 'child_double'",
             "wait for event 'Approval'", "schedule a timer", "complete the orchestration"],
        )  # fmt: skip


class Backoff(unittest.TestCase):
    def test_each_wait_grows_by_the_coefficient_up_to_the_maximum(self):
        request = {"fail_times": 5, "max_attempts": 6, "first_retry_ms": 1000, "coefficient": 1.2, "max_retry_ms": 2000}
        run = Harness().activity("flaky_activity", flaky_activity).start(py_backoff, request).run_to_completion()
        self.assertEqual(run.output, {"output": "Succeeded with payload: backoff"})
        # 1000, 1200, 1440 and 1728 ms (1.2**3 as the host computes it), then the 2 s maximum.
        self.assertEqual(run.now - DEFAULT_START_MS, 1000 + 1200 + 1440 + 1728 + 2000)
        self.assertEqual([attempt for _, _, attempt in run.activity_calls], [1, 2, 3, 4, 5, 6])

    def test_the_retry_timeout_gives_up_before_an_attempt_that_would_start_after_it(self):
        request = {"fail_times": 9, "max_attempts": 10, "first_retry_ms": 1000, "coefficient": 1.2,
                   "retry_timeout_ms": 5000}  # fmt: skip
        run = Harness().activity("flaky_activity", flaky_activity).start(py_backoff, request).run_to_completion()
        # Attempts at 0, 1000, 2200 and 3640 ms; the fifth would start at 5368 ms.
        self.assertEqual(run.output, {"gave_up": "attempt 4"})
        self.assertEqual(run.now - DEFAULT_START_MS, 3640)


class WordCounts(unittest.TestCase):
    def test_failures_of_the_c_activity_are_caught_as_their_cause(self):
        run = Harness().activity("c_word_count", c_word_count).start(py_word_counts, ["two words", 7])
        self.assertEqual(
            run.output,
            [{"words": 2, "bytes": 9}, {"failed": "ActivityFailed", "cause": "NotAString", "message": "c_word_count needs a JSON string"}],
        )


class Determinism(unittest.TestCase):
    def test_random_and_the_contexts_sources_repeat_on_replay(self):
        run = Harness().activity("echo", lambda ctx, value: value).start(py_determinism_probe)
        before, recorded = run.output["before"], run.output["recorded"]
        # The harness seeds `random` per instance, as the host does; time.time() and uuid4()
        # are the machine's own outside a component, so only these are compared.
        for key in ("random", "randint", "context_time_ms", "guid"):
            self.assertEqual(before[key], recorded[key], key)


class Entities(unittest.TestCase):
    def test_a_failed_operation_changes_nothing_and_a_critical_section_reads_the_sum(self):
        run = Harness().entity("PyCounter", py_counter).start(py_entities, "py")
        self.assertEqual(
            run.output, {"caught": "EntityOperationFailed", "cause": "InvalidOperation", "after_add": 7, "value": 7}
        )
        self.assertEqual(run.entity_state(EntityId("PyCounter", "py")), 7)
        self.assertEqual(
            run.commands,
            ["signal operation 'add' on entity @PyCounter@py", "call operation 'add' on entity @PyCounter@py",
             "call operation 'add' on entity @PyCounter@py", "lock entities [@PyCounter@py]",
             "call operation 'get' on entity @PyCounter@py", "release the locks of its critical section",
             "complete the orchestration"],
        )  # fmt: skip


class Updates(unittest.TestCase):
    def account(self, limit=100):
        return Harness().activity("py_audit", py_audit).start(py_account, {"limit": limit})

    def test_each_deposit_is_answered_with_the_balance_after_its_audit(self):
        run = self.account()
        self.assertEqual(run.custom_status, {"balance": 0, "open": True})
        self.assertEqual(run.update("deposit", 5).output, 5)
        self.assertEqual(run.update("deposit", 7).output, 12)
        unlucky = run.update("deposit", 13)
        self.assertTrue(unlucky.answered)
        self.assertEqual(unlucky.failure.error_type, "Unlucky")
        with self.assertRaises(Failure):
            unlucky.output
        self.assertEqual(run.status, "Running", "a refused deposit does not end the account")
        self.assertEqual(run.update("close", None).output, 12)
        self.assertEqual(run.status, "Completed")
        self.assertEqual(run.output, {"balance": 12, "deposits": 2})
        self.assertEqual(run.activity_calls[0], ("py_audit", {"amount": 5, "balance": 0}, 1))
        replied = [e["update_id"] for e in run.history if e["type"] == "UpdateReplied"]
        self.assertEqual(replied, ["update-1", "update-2", "update-3", "update-4"])
        self.assertIn("answer update 'update-3'", run.commands)

    def test_reaching_the_limit_closes_the_account(self):
        run = self.account(limit=10)
        self.assertEqual(run.update("deposit", 4).output, 4)
        self.assertEqual(run.update("deposit", 6).output, 10)
        self.assertEqual(run.output, {"balance": 10, "deposits": 2})
        self.assertEqual(run.custom_status, {"balance": 10, "open": False})

    def test_the_validator_refuses_what_is_not_a_positive_amount_or_comes_after_closing(self):
        check = UpdateCheck("py_account", {"balance": 0, "open": True})
        self.assertIsNone(positive_open_deposit(check, 5))
        for amount in (0, -3, 2.5, "ten", True):
            with self.subTest(amount=amount), self.assertRaises(Failure) as refused:
                positive_open_deposit(check, amount)
            self.assertEqual(refused.exception.error_type, "NotPositive")
        with self.assertRaises(Failure) as closed:
            positive_open_deposit(UpdateCheck("py_account", {"balance": 100, "open": False}), 1)
        self.assertEqual(closed.exception.error_type, "Closed")


if __name__ == "__main__":
    unittest.main()
