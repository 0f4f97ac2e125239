"""Tests of ``reprise.testing`` itself: each feature of the harness against what the host does
(its replay rules, its retry rule, its history shape), and ``replay`` against a history the real
host recorded (``tests/golden/fan-out.golden-race.reprise``). ``host_agreement.py`` holds the
harness to the host itself, scenario by scenario.

Run from the repository root: ``PYTHONPATH=guest-sdk/python python3 -B -m unittest discover -s
guest-sdk/python/tests``.
"""

import json
import unittest
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from reprise import EntityId, Failure, OrchestrationContext, RetryPolicy, TaskFailedError, Update
from reprise import UpdateCheck, UpdateValidators, update_validator
from reprise._offline import Err
from reprise.testing import DEFAULT_EPISODE_LIMIT, DEFAULT_START_MS, Harness, HarnessError, LockViolationError
from reprise.testing import NondeterminismError, Unsupported, next_attempt, replay
from reprise._replay import load_history

ROOT = Path(__file__).resolve().parents[3]
GOLDEN_RACE = ROOT / "tests" / "golden" / "fan-out.golden-race.reprise"


def chain(ctx: OrchestrationContext, names):
    ctx.set_custom_status("started")
    results = []
    for name in names:
        results.append(ctx.call_activity("greet", name))
        ctx.set_custom_status(f"greeted {len(results)}")
    return results


def first_of(ctx: OrchestrationContext, items):
    """The Rust guest `fan-out`'s `first_of`, in Python: the golden bundle is its history."""
    tasks = [ctx.schedule_activity("process_item", item) for item in items]
    winner = ctx.task_any(tasks)
    return {"winner": tasks.index(winner), "value": winner.result()}


def first_of_after_a_timer(ctx: OrchestrationContext, items):
    ctx.create_timer(1)
    return first_of(ctx, items)


def process_item(ctx, item):
    if item % 5 == 3:
        raise Failure("ItemRejected", f"item {item} was rejected")
    return item * 10


def with_retry(ctx: OrchestrationContext, _input):
    policy = RetryPolicy(4, first_retry_interval=1.0, backoff_coefficient=2.0, non_retryable_errors=["Fatal"])
    try:
        return ctx.call_activity("flaky", None, retry=policy)
    except TaskFailedError as error:
        return {"failed": error.error_type, "message": error.message, "cause": error.cause.error_type}


def with_backoff(ctx: OrchestrationContext, coefficient):
    policy = RetryPolicy(6, first_retry_interval=1.0, backoff_coefficient=coefficient, max_retry_interval=2.0)
    return ctx.call_activity("flaky", None, retry=policy)


def approval(ctx: OrchestrationContext, _input):
    ctx.set_custom_status("waiting")
    event = ctx.wait_for_external_event("Approval")
    timeout = ctx.create_timer(timedelta(days=30))
    winner = ctx.task_any([event, timeout])
    if winner is event:
        return {"approved": True, "by": event.result()["by"]}
    return {"approved": False, "fired_at": timeout.result()}


def two_events(ctx: OrchestrationContext, _input):
    # Both are raised before the orchestrator waits: each completes one wait, oldest first.
    ctx.create_timer(60).result()
    first = ctx.wait_for_external_event("Item").result()
    second = ctx.wait_for_external_event("Item").result()
    return [first, second]


def catches_everything(ctx: OrchestrationContext, _input):
    # A broad `except` must not swallow the harness's unwinding of a wait.
    try:
        value = ctx.call_activity("greet", "x")
    except Exception as error:  # noqa: BLE001  (the point of the test)
        return {"caught": type(error).__name__}
    return {"value": value}


def cleans_up(ctx: OrchestrationContext, _input):
    try:
        ctx.create_timer(60).result()
    finally:
        # Runs for real once, when the timer has fired; never when the wait unwinds the code.
        ctx.set_custom_status("cleaned up")
        ctx.log_info(f"cleaning up, uuid {ctx.new_uuid()}")
    return ctx.new_uuid()


def parent(ctx: OrchestrationContext, values):
    doubled = ctx.call_sub_orchestrator("child", values[0])
    try:
        ctx.call_sub_orchestrator("child", values[1], instance_id="the-child")
        refused = None
    except TaskFailedError as error:
        refused = {"type": error.error_type, "message": error.message, "cause": error.cause.error_type}
    return {"doubled": doubled, "refused": refused}


def child(ctx: OrchestrationContext, value):
    if value == 13:
        raise Failure("Unlucky", "13 is refused")
    ctx.create_timer(5).result()
    return ctx.call_activity("double", value)


def uses_entities(ctx: OrchestrationContext, _input):
    return ctx.call_entity(EntityId("Counter", "c"), "get")


def versioned(ctx: OrchestrationContext, _input):
    if ctx.version("use-timer", 1) == 1:
        ctx.create_timer(1).result()
    return ctx.call_activity("greet", "v")


def guids(ctx: OrchestrationContext, _input):
    first = ctx.new_uuid()
    ctx.call_activity("greet", "g")
    return [first, ctx.new_uuid(), ctx.current_time_ms]


_RUNS = {"count": 0}


def not_deterministic(ctx: OrchestrationContext, _input):
    # Decides from something the host does not record: how many times it ran.
    _RUNS["count"] += 1
    name = "greet" if _RUNS["count"] == 1 else "other"
    return ctx.call_activity(name, "n")


def polls_forever(ctx: OrchestrationContext, _input):
    while True:
        ctx.call_activity("poll", None)


def parent_of_one(ctx: OrchestrationContext, _input):
    try:
        return ctx.call_sub_orchestrator("child", None)
    except TaskFailedError as error:
        return {"type": error.error_type, "message": error.message, "cause": error.cause.error_type}


def nests_locks(ctx: OrchestrationContext, _input):
    try:
        with ctx.lock([EntityId("Counter", "a")]):
            with ctx.lock([EntityId("Counter", "b")]):
                pass
    finally:
        ctx.set_custom_status("unwound")


def waits_on_nothing(ctx: OrchestrationContext, _input):
    from reprise._host import orchestration

    orchestration.wait_any([7])


def greeter() -> Harness:
    return Harness().activity("greet", lambda ctx, name: f"Hello, {name}!")


class Activities(unittest.TestCase):
    def test_a_chain_runs_to_completion_with_the_hosts_commands_and_history(self):
        run = greeter().start(chain, ["Tokyo", "Lima"])
        self.assertEqual(run.status, "Completed")
        self.assertEqual(run.output, ["Hello, Tokyo!", "Hello, Lima!"])
        self.assertEqual(run.custom_status, "greeted 2")
        self.assertEqual(
            run.commands,
            ["schedule activity 'greet'", "schedule activity 'greet'", "complete the orchestration"],
        )
        kinds = [event["type"] for event in run.history]
        self.assertEqual(
            kinds,
            [
                "EpisodeStarted", "ExecutionStarted", "ActivityScheduled",
                "EpisodeStarted", "ActivityCompleted", "ActivityScheduled",
                "EpisodeStarted", "ActivityCompleted", "ExecutionCompleted",
            ],
        )  # fmt: skip
        self.assertEqual([event["seq"] for event in run.history], list(range(9)))
        self.assertEqual(run.history[0]["time"], "2023-11-14T22:13:20.000Z")
        self.assertEqual(run.history[1]["input"], ["Tokyo", "Lima"], "payloads are embedded as JSON values")
        self.assertEqual(run.history[4], {"seq": 4, "type": "ActivityCompleted", "task_id": 0, "output": "Hello, Tokyo!"})
        self.assertEqual(run.activity_calls, [("greet", "Tokyo", 1), ("greet", "Lima", 1)])

    def test_a_failed_activity_reaches_the_orchestrator_wrapped_as_the_host_wraps_it(self):
        harness = Harness().activity_results("flaky", [Failure("Fatal", "disk on fire")])
        run = harness.start(with_retry)
        self.assertEqual(
            run.output,
            {"failed": "ActivityFailed", "message": "activity 'flaky' failed: disk on fire", "cause": "Fatal"},
        )
        failed = [event for event in run.history if event["type"] == "ActivityFailed"]
        self.assertEqual(
            failed[0]["failure"],
            {
                "error_type": "ActivityFailed",
                "message": "activity 'flaky' failed: disk on fire",
                "causes": [{"error_type": "Fatal", "message": "disk on fire"}],
            },
        )
        self.assertEqual(len(run.activity_calls), 1, "a non-retryable error type is not retried")

    def test_an_exception_in_a_mock_fails_the_attempt_with_its_class_name(self):
        def broken(ctx, _input):
            raise KeyError("missing")

        run = Harness().activity("flaky", broken).start(with_retry).run_to_completion()
        self.assertEqual(run.output["cause"], "KeyError")
        self.assertEqual(len(run.activity_calls), 4, "retried up to max_attempts")

    def test_an_unknown_activity_is_an_error_of_the_test(self):
        with self.assertRaisesRegex(HarnessError, r"activity 'greet'.*harness.activity\('greet', fn\)"):
            Harness().start(chain, ["x"])

    def test_a_broad_except_does_not_catch_the_wait(self):
        self.assertEqual(greeter().start(catches_everything).output, {"value": "Hello, x!"})

    def test_an_unwinding_wait_records_nothing_its_finally_blocks_do(self):
        run = Harness().start(cleans_up)
        self.assertEqual((run.status, run.custom_status, run.logs), ("Running", None, []))
        run.advance(60)
        self.assertEqual((run.status, run.custom_status), ("Completed", "cleaned up"))
        # The execution's first two UUIDs: the unwinding drew none.
        first, second = Harness().start(lambda ctx, _input: [ctx.new_uuid(), ctx.new_uuid()]).output
        self.assertEqual(run.logs, [("info", f"cleaning up, uuid {first}")])
        self.assertEqual(run.output, second)

    def test_the_activity_context_names_the_task_and_attempt(self):
        seen = []

        def flaky(ctx, _input):
            seen.append((ctx.instance_id, ctx.task_id, ctx.attempt, ctx.idempotency_key))
            if ctx.attempt < 2:
                raise Failure("Transient", "try again")
            return "done"

        run = Harness().instance_id("order-7").activity("flaky", flaky).start(with_retry).run_to_completion()
        self.assertEqual(run.output, "done")
        self.assertEqual(seen, [("order-7", 0, 1, "order-7/1/0"), ("order-7", 0, 2, "order-7/1/0")])


class Limits(unittest.TestCase):
    def test_an_orchestrator_that_loops_on_activities_fails_the_test_instead_of_hanging_it(self):
        harness = Harness().instance_id("poller").activity("poll", lambda ctx, _input: "nothing yet")
        with self.assertRaisesRegex(
            HarnessError, r"the instance 'poller' ran 30 episodes .*loop.*Harness\(\)\.episode_limit\(n\)"
        ):
            harness.episode_limit(30).start(polls_forever)
        self.assertEqual(DEFAULT_EPISODE_LIMIT, 1_000)

    def test_the_limit_counts_the_episodes_that_run_the_orchestrator(self):
        # Three activities in turn: three episodes, then the one that completes it.
        run = greeter().episode_limit(4).start(chain, ["a", "b", "c"])
        self.assertEqual(run.status, "Completed")
        with self.assertRaisesRegex(HarnessError, "ran 3 episodes"):
            greeter().episode_limit(3).start(chain, ["a", "b", "c"])
        with self.assertRaisesRegex(ValueError, "at least 1"):
            Harness().episode_limit(0)


class Retries(unittest.TestCase):
    def test_retries_wait_as_the_hosts_backoff_rule_says(self):
        transient = Failure("Transient", "busy")
        run = Harness().activity_results("flaky", [transient, transient, transient, "ok"]).start(with_retry)
        self.assertEqual((run.status, len(run.activity_calls)), ("Running", 1))
        retrying = [event for event in run.history if event["type"] == "ActivityRetrying"]
        self.assertEqual(retrying[0]["next_attempt_at"], "2023-11-14T22:13:21.000Z", "first wait: 1 s")
        run.advance(0.999)
        self.assertEqual(len(run.activity_calls), 1, "not before the wait is over")
        run.advance(0.001)
        self.assertEqual(len(run.activity_calls), 2)
        run.advance(1.999)
        self.assertEqual(len(run.activity_calls), 2, "the second wait is 2 s (coefficient 2)")
        run.advance(0.001)
        self.assertEqual(len(run.activity_calls), 3)
        run.advance(4)
        self.assertEqual((run.status, run.output), ("Completed", "ok"))
        self.assertEqual([attempt for _, _, attempt in run.activity_calls], [1, 2, 3, 4])
        self.assertEqual(run.now, DEFAULT_START_MS + 7000)
        # Each retry is recorded alone in an episode, as the host records it, without a command.
        self.assertEqual(run.commands, ["schedule activity 'flaky'", "complete the orchestration"])
        self.assertEqual(
            [(e["type"], run.history[i + 1]["type"]) for i, e in enumerate(run.history[:-1]) if e["type"] == "EpisodeStarted"][1],
            ("EpisodeStarted", "ActivityRetrying"),
        )

    def test_the_last_attempt_fails_the_task(self):
        run = Harness().activity_results("flaky", [Failure("Transient", "busy")]).start(with_retry)
        run.run_to_completion()
        self.assertEqual(run.output["failed"], "ActivityFailed")
        self.assertEqual(len(run.activity_calls), 4)
        self.assertEqual(run.now, DEFAULT_START_MS + 1000 + 2000 + 4000)

    def test_the_wait_is_computed_as_the_host_computes_it(self):
        # What `RetryPolicy::delay_after` answers for these (Rust's `f64::powi`, square and
        # multiply, then truncation): libm's `pow` rounds 1.2**3 down and loses a millisecond.
        cases = [
            # first ms, coefficient, attempt, max interval, the host's wait
            (1000, 1.2, 4, None, 1728),
            (500, 1.2, 4, None, 864),
            (1000, 1.2, 5, None, 2073),
            (1000, 1.2, 8, None, 3583),
            (1000, 1.2, 30, None, 197813),
            (1000, 1.1, 11, None, 2593),
            (700, 1.7, 9, None, 48830),
            (333, 1.05, 37, None, 1928),
            (300, 2.1, 38, None, 250746661755517),
            (200, 2.5, 35, None, 6776263578034403),
            (1000, 1.2, 5, 2000, 2000),
            (3, 1.000001, 2000, None, 3),  # the exponent stops at 1024
            (0, 10.0, 400, None, 2**64 - 1),  # 0 * inf is NaN: not finite, saturates
            (0, 10.0, 400, 5000, 5000),  # ... unless a maximum is given (`f64::min`)
            (2**63 - 1, 10.0, 50, None, 2**64 - 1),
        ]
        failure = {"error_type": "Transient", "message": "busy"}
        for first, coefficient, attempt, longest, wait in cases:
            policy = {"max_attempts": 10_000, "first_retry_interval_ms": first, "backoff_coefficient": coefficient}
            if longest is not None:
                policy["max_retry_interval_ms"] = longest
            with self.subTest(first=first, coefficient=coefficient, attempt=attempt):
                self.assertEqual(next_attempt(policy, attempt, failure, 0, 0), wait)
        # Times saturate at u64::MAX, and the retry timeout counts from the first attempt.
        policy = {"max_attempts": 9, "first_retry_interval_ms": 1000, "backoff_coefficient": 1.2}
        self.assertEqual(next_attempt(policy, 4, failure, 0, 2**64 - 10), 2**64 - 1)
        self.assertEqual(next_attempt(dict(policy, retry_timeout_ms=5368), 4, failure, 0, 3640), 5368)
        self.assertIsNone(next_attempt(dict(policy, retry_timeout_ms=5367), 4, failure, 0, 3640))

    def test_a_non_integer_coefficient_schedules_the_hosts_attempt_times(self):
        transient = Failure("Transient", "busy")
        run = Harness().activity_results("flaky", [transient] * 5 + ["ok"]).start(with_backoff, 1.2)
        run.run_to_completion()
        self.assertEqual(run.output, "ok")
        at = [event["next_attempt_at"] for event in run.history if event["type"] == "ActivityRetrying"]
        # Waits of 1000, 1200, 1440 and 1728 ms, then 2073.6 capped at the maximum, 2 s.
        self.assertEqual(
            at,
            ["2023-11-14T22:13:21.000Z", "2023-11-14T22:13:22.200Z", "2023-11-14T22:13:23.640Z",
             "2023-11-14T22:13:25.368Z", "2023-11-14T22:13:27.368Z"],
        )  # fmt: skip

    def test_the_recorded_retry_policy_is_the_hosts_json(self):
        run = Harness().activity_results("flaky", ["ok"]).start(with_retry)
        scheduled = next(event for event in run.history if event["type"] == "ActivityScheduled")
        self.assertEqual(
            scheduled["options"],
            {
                "retry": {
                    "max_attempts": 4,
                    "first_retry_interval_ms": 1000,
                    "backoff_coefficient": 2.0,
                    "non_retryable_errors": ["Fatal"],
                }
            },
        )


class TimersAndEvents(unittest.TestCase):
    def test_a_thirty_day_timer_fires_when_the_clock_reaches_it(self):
        run = Harness().start(approval)
        self.assertEqual((run.status, run.custom_status), ("Running", "waiting"))
        run.advance(timedelta(days=30) - timedelta(milliseconds=1))
        self.assertEqual(run.status, "Running")
        run.advance(timedelta(milliseconds=1))
        fire_at = DEFAULT_START_MS + 30 * 86_400_000
        self.assertEqual(run.output, {"approved": False, "fired_at": fire_at})
        self.assertEqual(run.history[-2], {"seq": len(run.history) - 2, "type": "TimerFired", "task_id": 1})
        self.assertEqual(run.history[-3]["time"], "2023-12-14T22:13:20.000Z", "the episode runs at the fire time")

    def test_an_event_raised_before_the_timeout_wins_the_race(self):
        run = Harness().start(approval).advance(timedelta(days=1)).raise_event("Approval", {"by": "alice"})
        self.assertEqual(run.output, {"approved": True, "by": "alice"})
        self.assertEqual(
            run.commands,
            ["wait for event 'Approval'", "schedule a timer", "complete the orchestration"],
        )

    def test_events_raised_before_a_wait_are_buffered_oldest_first(self):
        run = Harness().start(two_events).raise_event("Item", 1).raise_event("Item", 2)
        self.assertEqual(run.status, "Running")
        self.assertEqual(run.advance(60).output, [1, 2])

    def test_the_clock_does_not_go_back(self):
        run = Harness().start(approval)
        with self.assertRaisesRegex(ValueError, "at least 0"):
            run.advance(-1)
        with self.assertRaises(ValueError):
            run.advance(timedelta(seconds=-5))
        self.assertEqual(run.now, DEFAULT_START_MS)

    def test_run_to_completion_skips_timers_and_names_an_event_never_raised(self):
        run = Harness().start(two_events)
        with self.assertRaisesRegex(HarnessError, r"waits for event 'Item', which nothing will deliver"):
            run.run_to_completion()
        self.assertEqual(run.now, DEFAULT_START_MS + 60_000, "the timer was skipped to")

    def test_the_start_time_sets_the_orchestrators_clock(self):
        start = datetime(2024, 2, 29, 12, 0, tzinfo=timezone.utc)
        run = greeter().start_time(start).start(guids)
        self.assertEqual(run.output[2], int(start.timestamp() * 1000))

    def test_an_event_after_the_end_is_an_error_of_the_test(self):
        run = greeter().start(chain, [])
        with self.assertRaisesRegex(HarnessError, "after the orchestration ended"):
            run.raise_event("Late")


def approvals(ctx: OrchestrationContext, _input):
    """Answers two `approve` updates (the first with its input upper-cased, the second with a
    failure), then returns who approved."""
    first = ctx.wait_for_update("approve").result()
    ctx.reply_update(first, first.input.upper())
    second = ctx.wait_for_update("approve").result()
    ctx.reply_update(second.id, failure=ValueError("one approval is enough"))
    return [first.input, second.input, first.id, second.id]


class Updates(unittest.TestCase):
    def test_updates_are_answered_and_recorded_as_the_host_records_them(self):
        run = Harness().start(approvals)
        first = run.update("approve", "alice")
        self.assertTrue(first.answered)
        self.assertEqual((first.id, first.output, first.failure), ("update-1", "ALICE", None))
        second = run.update("approve", "bob")
        self.assertEqual(second.failure.error_type, "ValueError")
        self.assertEqual(second.failure.message, "one approval is enough")
        self.assertEqual(run.output, ["alice", "bob", "update-1", "update-2"])
        self.assertEqual(
            run.commands,
            ["wait for update 'approve'", "answer update 'update-1'", "wait for update 'approve'",
             "answer update 'update-2'", "complete the orchestration"],
        )  # fmt: skip
        received = [e for e in run.history if e["type"] == "UpdateReceived"]
        self.assertEqual(received[0], {"seq": 4, "type": "UpdateReceived", "update_id": "update-1", "name": "approve",
                                       "input": "alice"})  # fmt: skip
        replied = [e for e in run.history if e["type"] == "UpdateReplied"]
        self.assertEqual(replied[0]["reply"], {"output": '"ALICE"'})
        self.assertEqual(replied[1]["reply"]["failure"]["error_type"], "ValueError")
        # The run's history replays through the host's rules.
        self.assertEqual(replay(run.history, approvals).commands, run.commands)

    def test_an_update_sent_before_the_wait_is_buffered(self):
        def late(ctx: OrchestrationContext, _input):
            ctx.create_timer(60).result()
            update = ctx.wait_for_update("approve").result()
            ctx.reply_update(update, "late")
            return update.input

        run = Harness().start(late)
        early = run.update("approve", "carol")
        self.assertFalse(early.answered, "the orchestrator waits on its timer")
        with self.assertRaises(HarnessError):
            early.output
        run.advance(60)
        self.assertEqual(run.answer("update-1").output, "late")
        self.assertEqual(run.output, "carol")

    def test_an_update_wait_loses_a_race_and_stays_pending_for_the_next(self):
        def race(ctx: OrchestrationContext, _input):
            update = ctx.wait_for_update("approve")
            if ctx.task_any([update, ctx.create_timer(10)]) is not update:
                got = update.result()
                ctx.reply_update(got, "after the timer")
                return "timer"
            return "update"

        run = Harness().start(race)
        run.advance(10)
        self.assertEqual(run.status, "Running")
        self.assertEqual(run.update("approve", 1).output, "after the timer")
        self.assertEqual(run.output, "timer")

    def test_answering_twice_or_an_unknown_update_traps_the_guest(self):
        def twice(ctx: OrchestrationContext, _input):
            update = ctx.wait_for_update("approve").result()
            ctx.reply_update(update, 1)
            ctx.reply_update(update, 2)

        run = Harness().start(twice)
        run.update("approve", None)
        self.assertEqual(run.status, "Failed")
        self.assertEqual(run.failure.error_type, "GuestTrapped")
        self.assertIn("answered update 'update-1', which it has not received or has already answered",
                      run.failure.message)  # fmt: skip

        def unknown(ctx: OrchestrationContext, _input):
            ctx.reply_update("never-sent", 1)

        run = Harness().start(unknown)
        self.assertEqual(run.failure.error_type, "GuestTrapped")

    def test_an_update_the_execution_never_answers_stays_unanswered(self):
        def deaf(ctx: OrchestrationContext, _input):
            return ctx.wait_for_external_event("stop").result()

        run = Harness().start(deaf)
        self.assertFalse(run.update("approve", 1).answered)
        run.raise_event("stop", "done")
        self.assertEqual(run.output, "done")
        self.assertFalse(run.answer("update-1").answered)
        with self.assertRaises(HarnessError):
            run.update("approve", 2)

    def test_an_answer_that_is_not_json_answers_nothing_and_raises_invalid_output(self):
        def bad(ctx: OrchestrationContext, _input):
            update = ctx.wait_for_update("approve").result()
            try:
                ctx.reply_update(update, object())
            except Failure as failure:
                ctx.reply_update(update, failure.error_type)

        run = Harness().start(bad)
        self.assertEqual(run.update("approve", 1).output, "InvalidOutput")

    def test_a_changed_update_wait_is_a_nondeterminism(self):
        run = Harness().start(approvals)
        run.update("approve", "alice")

        def renamed(ctx: OrchestrationContext, _input):
            ctx.wait_for_update("accept").result()

        with self.assertRaises(NondeterminismError) as diverged:
            replay(run.history, renamed)
        self.assertIn("[wait for update 'approve' (task 0)], but on replay it did [wait for update 'accept']",
                      str(diverged.exception))  # fmt: skip

    def test_the_delivered_update_is_an_update_object(self):
        def show(ctx: OrchestrationContext, _input):
            update = ctx.wait_for_update("approve").result()
            self.assertIsInstance(update, Update)
            ctx.reply_update(update, {"id": update.id, "name": update.name, "input": update.input})

        run = Harness().start(show)
        self.assertEqual(run.update("approve", {"n": 1.5}).output, {"id": "update-1", "name": "approve", "input": {"n": 1.5}})


class Validators(unittest.TestCase):
    """The ``UpdateValidators`` export as the host calls it: JSON text in, ``Err`` out."""

    @classmethod
    def setUpClass(cls):
        @update_validator("sdk-test-amount")
        def amount(check: UpdateCheck, value):
            if value <= 0:
                raise Failure("NotPositive", f"{value} is not positive")
            if check.custom_status == {"closed": True}:
                raise Failure("Closed", f"{check.orchestrator} is closed")

        @update_validator("sdk-test-boolean")
        def boolean(check: UpdateCheck, value):
            return value

    def refusal(self, update, payload, status=None):
        try:
            UpdateValidators().validate("acct", update, payload, status)
        except Err as refused:
            return refused.value.error_type, refused.value.message
        return None

    def test_a_validator_accepts_by_returning_and_refuses_by_raising(self):
        self.assertIsNone(self.refusal("sdk-test-amount", "5"))
        self.assertEqual(self.refusal("sdk-test-amount", "0"), ("NotPositive", "0 is not positive"))
        self.assertEqual(self.refusal("sdk-test-amount", "5", '{"closed": true}'), ("Closed", "acct is closed"))

    def test_an_update_without_a_validator_is_accepted(self):
        self.assertIsNone(self.refusal("sdk-test-unchecked", "not even json"))

    def test_bad_input_and_a_raising_validator_refuse_with_a_failure_not_a_crash(self):
        self.assertEqual(self.refusal("sdk-test-amount", "{")[0], "InvalidInput")
        self.assertEqual(self.refusal("sdk-test-amount", '"ten"')[0], "TypeError")
        self.assertEqual(self.refusal("sdk-test-amount", "1", "{")[0], "InvalidState")

    def test_a_validator_that_returns_a_value_refuses(self):
        error_type, message = self.refusal("sdk-test-boolean", "false")
        self.assertEqual(error_type, "InvalidOutput")
        self.assertIn("refuses by raising", message)

    def test_one_update_has_one_validator(self):
        with self.assertRaises(ValueError):
            update_validator("sdk-test-amount")(lambda check, value: None)


class Determinism(unittest.TestCase):
    def test_uuids_are_the_same_on_every_run_and_differ_per_instance(self):
        one = greeter().start(guids).output
        self.assertEqual(one, greeter().start(guids).output)
        self.assertNotEqual(one[:2], greeter().instance_id("other").start(guids).output[:2])
        self.assertNotEqual(one[0], one[1])

    def test_an_orchestrator_that_decides_from_unrecorded_state_fails_as_the_host_fails_it(self):
        _RUNS["count"] = 0
        message = (
            "nondeterminism at history position 2: the history records that the orchestrator did "
            "[schedule activity 'greet' (task 0)], but on replay it did [schedule activity 'other']; the "
            "orchestrator's code changed under a running instance, or depends on something the host does not record"
        )
        run = greeter().start(not_deterministic, None)
        self.assertEqual(run.status, "Failed")
        self.assertEqual((run.failure.error_type, run.failure.message), ("NondeterminismError", message))
        # `Replayer::abort` while replaying: the failure is recorded where the history ended, and
        # the episode's delivery (the activity's result) is dropped with the refused replay.
        self.assertEqual(
            run.history[3:],
            [
                {
                    "seq": 3,
                    "type": "ExecutionFailed",
                    "failure": {"error_type": "NondeterminismError", "message": message},
                }
            ],
        )
        self.assertEqual(run.commands[-1], "fail the orchestration")

    def test_a_childs_nondeterminism_reaches_its_parent_as_a_failed_sub_orchestration(self):
        _RUNS["count"] = 0
        run = greeter().orchestrator("child", not_deterministic).start(parent_of_one)
        self.assertEqual(run.status, "Completed")
        self.assertEqual(
            run.output,
            {
                "type": "SubOrchestrationFailed",
                "message": "sub-orchestration 'child' (instance test-instance:1:0) failed: nondeterminism at "
                "history position 2: the history records that the orchestrator did [schedule activity 'greet' "
                "(task 0)], but on replay it did [schedule activity 'other']; the orchestrator's code changed under "
                "a running instance, or depends on something the host does not record",
                "cause": "NondeterminismError",
            },
        )
        self.assertEqual(run.child_history("test-instance:1:0")[-1]["type"], "ExecutionFailed")

    def test_a_broken_critical_section_fails_the_instance_with_lock_violation(self):
        run = Harness().entity("Counter", counter).start(nests_locks)
        self.assertEqual(run.status, "Failed")
        self.assertEqual(
            (run.failure.error_type, run.failure.message),
            (
                "LockViolation",
                "critical section: critical sections cannot be nested: release the locks held before taking others",
            ),
        )
        self.assertEqual(run.custom_status, None, "the code's finally blocks ran no further host call")
        # Live, nothing is dropped: the episode's lock request and grant stay recorded.
        self.assertEqual(
            [e["type"] for e in run.history][-4:],
            ["EntityLockRequested", "EpisodeStarted", "EntityCompleted", "ExecutionFailed"],
        )

    def test_code_that_swallows_the_unwinding_of_a_wait_does_not_end_the_instance(self):
        def swallows(ctx: OrchestrationContext, _input):
            try:
                ctx.create_timer(60).result()
            except BaseException:  # noqa: BLE001  (the point of the test)
                return "swallowed"
            return "fired"

        run = Harness().start(swallows)
        self.assertEqual(run.status, "Running")
        self.assertEqual(run.advance(60).output, "fired")

    def test_a_wait_on_a_task_never_scheduled_traps_the_guest(self):
        run = Harness().start(waits_on_nothing)
        self.assertEqual(run.status, "Failed")
        self.assertEqual(
            (run.failure.error_type, run.failure.message),
            ("GuestTrapped", "the orchestrator waited on task 7, which it never scheduled"),
        )

    def test_a_version_is_recorded_once_and_taken_by_a_new_instance(self):
        run = greeter().start(versioned).run_to_completion()
        self.assertEqual(run.output, "Hello, v!")
        marks = [event for event in run.history if event["type"] == "VersionMarked"]
        self.assertEqual(marks, [{"seq": 2, "type": "VersionMarked", "change_id": "use-timer", "version": 1}])
        self.assertEqual(run.commands[0], "schedule a timer")


class SubOrchestrations(unittest.TestCase):
    def test_children_run_on_the_same_clock_and_their_failures_are_wrapped(self):
        harness = Harness().orchestrator("child", child).activity("double", lambda ctx, n: n * 2)
        run = harness.start(parent, [21, 13])
        self.assertEqual(run.status, "Running", "the first child waits for its timer")
        run.advance(5)
        self.assertEqual(
            run.output,
            {
                "doubled": 42,
                "refused": {
                    "type": "SubOrchestrationFailed",
                    "message": "sub-orchestration 'child' (instance the-child) failed: 13 is refused",
                    "cause": "Unlucky",
                },
            },
        )
        scheduled = [event for event in run.history if event["type"] == "SubOrchestrationScheduled"]
        self.assertEqual([event["instance_id"] for event in scheduled], ["test-instance:1:0", "the-child"])
        self.assertEqual(
            [e["type"] for e in run.child_history("test-instance:1:0")][-3:],
            ["EpisodeStarted", "ActivityCompleted", "ExecutionCompleted"],
        )
        self.assertEqual(run.commands[:2], ["start sub-orchestration 'child'", "start sub-orchestration 'child'"])

    def test_a_child_whose_id_is_taken_fails_the_task_as_on_the_host(self):
        def twice(ctx: OrchestrationContext, _input):
            ctx.call_sub_orchestrator("child", 1, instance_id="only-one")
            try:
                ctx.call_sub_orchestrator("child", 2, instance_id="only-one")
            except TaskFailedError as error:
                return [error.error_type, error.message, error.cause.error_type, error.cause.message]

        harness = Harness().orchestrator("child", lambda ctx, n: n)
        run = harness.start(twice)
        self.assertEqual(
            run.output,
            [
                "SubOrchestrationFailed",
                "sub-orchestration 'child' (instance only-one) failed: an instance with id 'only-one' already exists",
                "InstanceExists",
                "an instance with id 'only-one' already exists",
            ],
        )
        self.assertEqual(run.child_history("only-one")[1]["input"], 1, "the first child ran, once")

    def test_what_sub_orchestrations_cannot_do_here_is_refused_with_what_to_do(self):
        def with_retry(ctx: OrchestrationContext, _input):
            return ctx.call_sub_orchestrator("child", 1, retry=RetryPolicy(3, first_retry_interval=1.0))

        harness = Harness().orchestrator("child", lambda ctx, n: ctx.continue_as_new(n + 1))
        with self.assertRaisesRegex(Unsupported, r"retry policies on sub-orchestrations .*Harness\(\)\.start\(child\)"):
            harness.start(with_retry)
        with self.assertRaisesRegex(
            Unsupported, r"continue_as_new in a sub-orchestration \('child', instance test-instance:1:0\): test the "
            r"child on its own with Harness\(\)\.start\(child\)"
        ):
            harness.start(lambda ctx, _input: ctx.call_sub_orchestrator("child", 1))

    def test_an_unknown_child_is_an_error_of_the_test(self):
        with self.assertRaisesRegex(HarnessError, r"harness.orchestrator\('child', fn\)"):
            Harness().start(parent, [1, 2])


def counter(ctx):
    value = ctx.get_state(lambda: 0)
    if ctx.operation_name == "add":
        if ctx.get_input() < 0:
            raise Failure("Negative", "only additions")
        ctx.set_state(value + ctx.get_input())
    elif ctx.operation_name == "delete":
        ctx.delete_state()
    elif ctx.operation_name == "tell":
        ctx.signal_entity(EntityId("Counter", "other"), "add", 1)
    return value


def counts(ctx: OrchestrationContext, key):
    entity = EntityId("Counter", key)
    ctx.signal_entity(entity, "add", 2)
    try:
        ctx.call_entity(entity, "add", -1)
    except TaskFailedError as error:
        refused = [error.error_type, error.message, error.cause.error_type]
    with ctx.lock([entity]):
        before = ctx.call_entity(entity, "add", 3)
    return {"refused": refused, "before": before}


class Entities(unittest.TestCase):
    def test_operations_run_in_order_on_the_state_and_failures_change_nothing(self):
        run = Harness().entity("Counter", counter).start(counts, "k")
        self.assertEqual(
            run.output,
            {
                "refused": ["EntityOperationFailed", "operation 'add' on entity @Counter@k failed: only additions",
                            "Negative"],
                "before": 2,
            },
        )  # fmt: skip
        self.assertEqual(run.entity_state(EntityId("Counter", "k")), 5)
        locked = next(event for event in run.history if event["type"] == "EntityCalled" and event["input"] == 3)
        self.assertTrue(locked["in_critical_section"])

    def test_a_deleted_entity_has_no_state(self):
        run = Harness().entity("Counter", counter).start(uses_entities)
        self.assertEqual(run.output, 0)
        deleting = Harness().entity("Counter", counter).start(
            lambda ctx, _input: [ctx.call_entity(EntityId("Counter", "c"), op, 1) for op in ("add", "delete")]
        )
        self.assertIsNone(deleting.entity_state(EntityId("Counter", "c")))

    def test_an_unknown_entity_is_an_error_of_the_test(self):
        with self.assertRaisesRegex(HarnessError, r"harness.entity\('Counter', fn\)"):
            Harness().start(uses_entities)

    def test_what_an_operation_does_besides_its_state_is_refused_by_name(self):
        tell = lambda ctx, _input: ctx.call_entity(EntityId("Counter", "c"), "tell")  # noqa: E731
        with self.assertRaisesRegex(
            Unsupported, r"does not simulate signal_entity from an entity operation \(on @Counter@c\).*against a host"
        ):
            Harness().entity("Counter", counter).start(tell)


class Replay(unittest.TestCase):
    def test_a_history_the_host_recorded_replays(self):
        replayed = replay(GOLDEN_RACE.read_text(), first_of)
        self.assertEqual(replayed.status, "Completed")
        self.assertEqual(replayed.output, {"winner": 0, "value": 10})
        self.assertEqual(replayed.commands, ["schedule activity 'process_item'"] * 3 + ["complete the orchestration"])

    def test_the_commands_of_a_replay_are_the_ones_the_code_issued(self):
        run = greeter().start(chain, ["a", "b"])
        self.assertEqual(replay(run.history, chain).commands, run.commands)
        # A command recorded after the end is history's, not the code's: the code never issues it.
        extra = dict(run.history[2], seq=len(run.history))
        replayed = replay(run.history + [extra], chain)
        self.assertEqual(replayed.commands, run.commands)
        # And a replay cut where the code waits lists what it issued up to there.
        self.assertEqual(replay(run.history[:6], chain).commands, ["schedule activity 'greet'"] * 2)

    def test_the_harness_records_the_history_the_host_recorded(self):
        run = Harness().activity("process_item", process_item).start(first_of, [1, 2, 4])
        golden = json.loads(GOLDEN_RACE.read_text())["executions"][-1]["events"]
        # The component and the payloads' spacing are the only differences allowed.
        mine = [dict(e, component=None) if e["type"] == "ExecutionStarted" else e for e in run.history]
        theirs = [dict(e, component=None) if e["type"] == "ExecutionStarted" else e for e in golden]
        for event in theirs:
            for key in ("input", "output"):
                if key in event:
                    event[key] = json.loads(event[key])
            if "time" in event:
                event["time"] = "2023-11-14T22:13:20.000Z"
        self.assertEqual(mine, theirs)

    def test_a_changed_orchestrator_gets_the_hosts_error_and_position(self):
        with self.assertRaises(NondeterminismError) as raised:
            replay(GOLDEN_RACE.read_text(), first_of_after_a_timer)
        self.assertEqual(
            str(raised.exception),
            "nondeterminism at history position 2: the history records that the orchestrator did "
            "[schedule activity 'process_item' (task 0)], but on replay it did [schedule a timer]; the "
            "orchestrator's code changed under a running instance, or depends on something the host does not record",
        )
        # What the instance would fail with on the host (Rust's `testing::replay` returns it).
        failure = raised.exception.failure()
        self.assertEqual((failure.error_type, failure.message), ("NondeterminismError", str(raised.exception)))

    def test_a_replayed_broken_critical_section_is_reported_as_the_hosts_lock_violation(self):
        run = Harness().entity("Counter", counter).start(nests_locks)
        with self.assertRaises(LockViolationError) as raised:
            replay(run.history, nests_locks)
        self.assertEqual(raised.exception.failure().error_type, "LockViolation")
        self.assertEqual(raised.exception.failure().message, run.failure.message)

    def test_a_runs_history_replays_and_the_end_of_a_history_is_checked(self):
        # `Run.history` as JSON text. What the CLI itself prints (`reprise history ID --json` on
        # the host's database) is replayed by host_agreement.py.
        run = greeter().start(chain, ["a", "b"])
        self.assertEqual(replay(json.dumps(run.history), chain).output, ["Hello, a!", "Hello, b!"])
        # Cut after the first completion's episode: the code goes on, where the recorded run waited.
        cut = run.history[:5]
        with self.assertRaises(NondeterminismError) as raised:
            replay(cut, chain)
        self.assertEqual(raised.exception.position, 5)
        self.assertEqual(raised.exception.recorded, "wait for a task that had not completed (end of recorded history)")
        # Cut where the recorded run waited: compatible, still running.
        self.assertEqual(replay(run.history[:6], chain).status, "Running")

    def test_a_waiting_orchestrator_that_issues_more_diverges_at_the_next_episode(self):
        run = greeter().start(chain, ["a", "b"])
        with self.assertRaises(NondeterminismError) as raised:
            replay(run.history, lambda ctx, names: chain(ctx, names + ["c"]))
        self.assertEqual(raised.exception.recorded, "complete the orchestration")
        self.assertEqual(raised.exception.issued, "schedule activity 'greet'")
        self.assertEqual(raised.exception.position, 8)

    def test_a_later_execution_replays_with_its_own_number(self):
        # After a continue-as-new the host numbers the execution 2: its UUIDs (and the default ids
        # of its children) are derived from that number.
        namespace = uuid.UUID("6b1e0c52-8e1f-4c3d-9a57-2f109d447e21")  # `Replayer::new_guid`'s
        expected = [str(uuid.uuid5(namespace, f"order-7/2/{n}")) for n in (1, 2)]
        run = greeter().instance_id("order-7").start(guids)
        stored = load_history(run.history).events  # as a bundle holds them
        bundle = {
            "format": "reprise-bundle",
            "instance": {"instance_id": "order-7"},
            "executions": [{"execution": 2, "events": stored}, {"execution": 1, "events": []}],
        }
        self.assertEqual(replay(json.dumps(bundle), guids).output[:2], expected)
        # A `history --json` text does not say: the caller does.
        self.assertEqual(replay(run.history, guids, instance_id="order-7", execution=2).output[:2], expected)
        self.assertEqual(replay(run.history, guids, instance_id="order-7").output, run.output, "execution 1 else")

    def test_a_version_answers_zero_on_a_history_from_before_the_change(self):
        before = greeter().start(lambda ctx, _input: ctx.call_activity("greet", "v"))
        self.assertEqual(replay(before.history, versioned).output, "Hello, v!")


if __name__ == "__main__":
    unittest.main()
