"""Unit tests of the HTTP guest's orchestrator with ``reprise.testing``. ``reprise.http`` needs the
host, so the activity that makes requests is given a mock:
``PYTHONPATH=guest-sdk/python python3 -B -m unittest discover -s guests/py-http``.
"""

import unittest

from reprise.testing import Harness, Unsupported

from main import call, fetch


class Call(unittest.TestCase):
    def test_call_returns_the_activitys_output(self):
        harness = Harness().activity("fetch", lambda ctx, spec: {"status": 200, "headers": {}, "body": spec["url"]})
        run = harness.start(call, {"activity": "fetch", "input": {"url": "http://example.test/"}})
        self.assertEqual(run.output, {"status": 200, "headers": {}, "body": "http://example.test/"})
        self.assertEqual(run.activity_calls, [("fetch", {"url": "http://example.test/"}, 1)])

    def test_the_real_fetch_needs_the_host(self):
        harness = Harness().activity("fetch", fetch)
        with self.assertRaisesRegex(Unsupported, "reprise.http sends requests through the host"):
            harness.start(call, {"activity": "fetch", "input": {"url": "http://example.test/"}})


if __name__ == "__main__":
    unittest.main()
