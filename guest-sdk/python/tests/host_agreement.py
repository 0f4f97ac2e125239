"""The harness against the real host, scenario by scenario: run by
``tests/all/sdk_testing_python.rs``, which runs each scenario on the host first and leaves in
``$REPRISE_AGREEMENT_DIR`` a ``manifest.json`` (what the host did: its commands in its own words,
the end it reached) and each history as a bundle stores it.

For each scenario it (a) replays the host's history with ``reprise.testing.replay`` and checks
the end it reaches, and (b) runs the scenario fresh through the harness, with the guests' own
activities and entities (and Python stand-ins for those in other languages), and checks that it issues the
host's commands and reaches the host's end. Not named ``test_*``: it needs the host's output, so
plain discovery leaves it to the Rust test, which always provides it.
"""

import importlib.util
import json
import os
import unittest
from pathlib import Path

from reprise import Failure, OrchestrationContext
from reprise._replay import format_time
from reprise.testing import Harness, replay

ROOT = Path(__file__).resolve().parents[3]


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
    raise AssertionError(f"no harness world for {orchestrator}")


def replayed_start(bundle_text: str) -> str:
    """The first episode's time in a bundle, as ``Run.history`` shows times."""
    return format_time(json.loads(bundle_text)["executions"][-1]["events"][0]["time"])


class HostAgreement(unittest.TestCase):
    def test_the_harness_replays_and_reproduces_every_host_scenario(self):
        directory = os.environ.get("REPRISE_AGREEMENT_DIR")
        self.assertIsNotNone(directory, "run by tests/all/sdk_testing_python.rs, which sets REPRISE_AGREEMENT_DIR")
        manifest = json.loads((Path(directory) / "manifest.json").read_text())
        self.assertEqual(len(manifest), 6)
        for scenario in manifest:
            with self.subTest(scenario["id"]):
                fn, harness = _world(scenario["orchestrator"])
                history = (Path(directory) / scenario["history"]).read_text()

                replayed = replay(history, fn)
                self.assertEqual(replayed.status, scenario["status"])
                self.assertEqual(replayed.commands, scenario["commands"], "replay saw the recorded commands")
                self.assertEqual(replayed.output, scenario["output"])

                harness.instance_id(scenario["id"]).start_time(scenario["started_at"])
                run = harness.start(fn, scenario["input"])
                if scenario["then"] == "approve":
                    run.raise_event("Approval", {"by": "alice"})
                elif scenario["then"] == "move-time":
                    run.run_to_completion()
                self.assertEqual(run.commands, scenario["commands"])
                self.assertEqual(run.status, scenario["status"])
                self.assertEqual(run.output, scenario["output"])
                self.assertEqual(run.custom_status, scenario["custom_status"])
                self.assertEqual(run.history[0]["time"], replayed_start(history), "the clocks start alike")
                if scenario["failure"] is not None:
                    failure = {"error_type": run.failure.error_type, "message": run.failure.message}
                    self.assertEqual(failure, scenario["failure"])
                # And the harness's own history replays through the same check.
                self.assertEqual(replay(run.history, fn).commands, scenario["commands"])


if __name__ == "__main__":
    unittest.main()
