"""The harness against the real host, scenario by scenario: run by
``tests/all/sdk_testing_python.rs``, which runs each scenario on the host first and leaves in
``$REPRISE_AGREEMENT_DIR`` a ``manifest.json`` (what the host did: its commands in its own words,
the end it reached, the children it started) and each history twice: as a bundle stores it
(``<id>.reprise``) and as ``reprise history ID --json`` prints it (``<id>.history.json``, the
CLI run on the host's database), children's too.

For each scenario it (a) replays both forms of the host's history with ``reprise.testing.replay``
and checks the end it reaches and the commands it issued, and (b) runs the scenario fresh
through the harness, with the guests' own activities and entities (and Python stand-ins for
those in other languages), and checks that it records the host's whole history, event for event
(and its children the host's children's), issues the host's commands and reaches the host's
end. Not named ``test_*``: it needs the host's output, so plain discovery leaves it to the Rust
test, which always provides it.
"""

import copy
import importlib.util
import json
import os
import unittest
from pathlib import Path

from reprise import Failure, OrchestrationContext
from reprise.testing import Harness, replay

ROOT = Path(__file__).resolve().parents[3]

#: How a Python traceback starts (``Failure.from_exception`` makes it the details).
TRACEBACK = "Traceback (most recent call last):"


def _guest(directory: str):
    """A guest's ``main.py``, under a name of its own (every guest's module is ``main``)."""
    path = ROOT / "guests" / directory / "main.py"
    spec = importlib.util.spec_from_file_location(f"{directory.replace('-', '_')}_main", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRANSFER = _guest("py-transfer-funds")
MIXED = _guest("py-mixed-languages")


def child_double(ctx: OrchestrationContext, item):
    """The Rust guest `sub-orchestrations`' `child_double`, which the host runs."""
    if item == 13:
        raise Failure("UnluckyNumber", "13 is not processed here")
    return ctx.call_activity("double", item)


def flaky_activity(ctx, payload):
    """The Rust guest `retry-pattern`'s `flaky_activity`: fails its first `fail_times` attempts."""
    if ctx.attempt <= payload["fail_times"]:
        raise Failure("TransientFailure", "Transient activity failure. Please retry.", f"attempt {ctx.attempt}")
    return f"Succeeded with payload: {payload['input']}"


def _world(orchestrator: str):
    """The orchestrator function and the harness of its scenarios."""
    if orchestrator == "TransferFunds":
        harness = Harness().activity("DebitAccount", TRANSFER.debit_account)
        return TRANSFER.transfer_funds, harness.activity("CreditAccount", TRANSFER.credit_account)
    if orchestrator == "py_approval":
        harness = Harness().orchestrator("child_double", child_double).activity("double", lambda ctx, n: n * 2)
        return MIXED.py_approval, harness
    if orchestrator == "py_entities":
        return MIXED.py_entities, Harness().entity("PyCounter", MIXED.py_counter)
    if orchestrator == "py_account":
        return MIXED.py_account, Harness().activity("py_audit", MIXED.py_audit)
    if orchestrator == "py_backoff":
        return MIXED.py_backoff, Harness().activity("flaky_activity", flaky_activity)
    raise AssertionError(f"no harness world for {orchestrator}")


def comparable(history):
    """A history in the shape of ``reprise history --json`` with the only parts that differ
    between the host and the harness blanked: the component ``ExecutionStarted`` names (a hash on
    the host, ``reprise.testing`` here) and the frames of a Python traceback in a failure's
    details (the component's files against this checkout's), of which the last line, the
    exception, is kept. Payloads are JSON values in this shape, so their spacing is not compared;
    everything else is: times, task ids, inputs, options, failures."""
    shown = []
    for event in copy.deepcopy(history):
        if event["type"] == "ExecutionStarted":
            event["component"] = None
        failure = event.get("failure")
        for part in [failure] + failure.get("causes", []) if failure else []:
            details = part.get("details")
            if isinstance(details, str) and details.startswith(TRACEBACK):
                part["details"] = f"{TRACEBACK} ... {details.strip().splitlines()[-1]}"
        shown.append(event)
    return shown


#: How many retries each backoff scenario records: every failed attempt but the last of all
#: (five failures, six attempts), or all but the one after which the timeout gives up.
RETRIES = {"backoff-retried": 5, "backoff-timeout": 3}


class HostAgreement(unittest.TestCase):
    def test_the_harness_replays_and_reproduces_every_host_scenario(self):
        directory = os.environ.get("REPRISE_AGREEMENT_DIR")
        self.assertIsNotNone(directory, "run by tests/all/sdk_testing_python.rs, which sets REPRISE_AGREEMENT_DIR")
        directory = Path(directory)
        manifest = json.loads((directory / "manifest.json").read_text())
        self.assertEqual(len(manifest), 9)
        for scenario in manifest:
            with self.subTest(scenario["id"]):
                fn, harness = _world(scenario["orchestrator"])
                bundle = (directory / scenario["history"]).read_text()
                printed = json.loads((directory / scenario["cli_history"]).read_text())

                # (a) The host's history, in both forms, replays to the host's end.
                for form, history in (("bundle", bundle), ("reprise history --json", printed)):
                    replayed = replay(history, fn, instance_id=scenario["id"])
                    self.assertEqual(replayed.status, scenario["status"], form)
                    self.assertEqual(replayed.commands, scenario["commands"], f"{form}: the code issued them again")
                    self.assertEqual(replayed.output, scenario["output"], form)

                # (b) The harness, started as the host was, records the host's history.
                harness.instance_id(scenario["id"]).start_time(scenario["started_at"])
                run = harness.start(fn, scenario["input"])
                if scenario["then"] == "approve":
                    run.raise_event("Approval", {"by": "alice"})
                elif scenario["then"] == "deposits":
                    for update in scenario["updates"]:
                        self.assertTrue(run.update(update["name"], update["input"]).answered, update)
                elif scenario["then"] == "move-time":
                    run.run_to_completion()
                self.assertEqual(comparable(run.history), comparable(printed), "the whole history")
                for child in scenario["children"]:
                    theirs = json.loads((directory / child["cli_history"]).read_text())
                    mine = run.child_history(child["id"])
                    self.assertEqual(comparable(mine), comparable(theirs), f"the history of child {child['id']}")
                self.assertEqual(run.commands, scenario["commands"])
                self.assertEqual(run.status, scenario["status"])
                self.assertEqual(run.output, scenario["output"])
                self.assertEqual(run.custom_status, scenario["custom_status"])
                if scenario["failure"] is not None:
                    failure = {"error_type": run.failure.error_type, "message": run.failure.message}
                    self.assertEqual(failure, scenario["failure"])
                if scenario["orchestrator"] == "py_backoff":
                    # Not vacuous: the host retried, and recorded when each attempt would run.
                    retries = [e for e in printed if e["type"] == "ActivityRetrying"]
                    self.assertEqual(len(retries), RETRIES[scenario["id"]])
                # And the harness's own history replays through the same check.
                self.assertEqual(replay(run.history, fn).commands, scenario["commands"])


if __name__ == "__main__":
    unittest.main()
