"""sweep(): the daemon check, and `sweepctl submit` (a fake sweepctl that
records what it was given and answers as the real one does)."""

import io
import json
import os
import stat
import sys
import unittest
from contextlib import redirect_stderr
from unittest import mock

from tests._util import FakeSweepd, temp_home

import sweepd

FAKE_SWEEPCTL = '''#!%(python)s
import json, os, shutil, sys
record = os.environ["FAKE_SWEEPCTL_RECORD"]
with open(record, "w") as f:
    json.dump({"argv": sys.argv[1:], "home": os.environ.get("SWEEPS_HOME"),
               "text": open(sys.argv[2]).read()}, f)
mode = os.environ.get("FAKE_SWEEPCTL_MODE", "ok")
if mode == "ok":
    sys.stderr.write(sys.argv[2] + ": warning: a random sweep without `run_cap` runs until it is stopped (as in W&B)\\n")
    print("20261205-101500-demo-k3q7")
    sys.exit(0)
if mode == "invalid":
    sys.stderr.write(sys.argv[2] + ":5:7: error: parameters.lr: `min` must be less than `max`\\n")
    sys.stderr.write(sys.argv[2] + ": invalid, not submitted\\n")
    sys.exit(1)
sys.stderr.write("error: cannot create the sweeps home\\n")
sys.exit(2)
'''

CONFIG = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"min": 0, "max": 0.1}, "epochs": {"value": 1}},
}


class Sweep(unittest.TestCase):
    def setUp(self):
        self.home = temp_home(self)
        tools = temp_home(self)
        self.sweepctl = os.path.join(tools, "sweepctl")
        with open(self.sweepctl, "w") as f:
            f.write(FAKE_SWEEPCTL % {"python": sys.executable})
        os.chmod(self.sweepctl, stat.S_IRWXU)
        self.record = os.path.join(tools, "record.json")
        patcher = mock.patch.dict(os.environ, {
            "SWEEPS_HOME": self.home, "SWEEPCTL": self.sweepctl,
            "FAKE_SWEEPCTL_RECORD": self.record,
        })
        patcher.start()
        self.addCleanup(patcher.stop)
        self.err = io.StringIO()

    def submitted(self):
        with open(self.record) as f:
            return json.load(f)

    def test_submits_and_returns_the_id(self):
        with FakeSweepd(self.home), redirect_stderr(self.err):
            sweep_id = sweepd.sweep(CONFIG, project="pytorch sweeps/demo")
        self.assertEqual(sweep_id, "20261205-101500-demo-k3q7")
        given = self.submitted()
        self.assertEqual(given["argv"][0], "submit")
        self.assertEqual(os.path.basename(given["argv"][1]), "pytorch-sweeps-demo.json")
        self.assertEqual(given["home"], self.home)
        self.assertEqual(json.loads(given["text"]), dict(CONFIG, project="pytorch sweeps/demo"))
        self.assertFalse(os.path.exists(given["argv"][1]))  # the temp file is gone
        self.assertIn("without `run_cap`", self.err.getvalue())
        self.assertIn("sweepd: created sweep 20261205-101500-demo-k3q7", self.err.getvalue())
        self.assertNotIn("project", CONFIG)  # the caller's dict is left alone

    def test_a_file_is_submitted_as_it_is(self):
        path = os.path.join(temp_home(self), "mnist.yaml")
        with open(path, "w") as f:
            f.write("method: grid\n")
        with FakeSweepd(self.home), redirect_stderr(self.err):
            sweepd.sweep(path)
        self.assertEqual(self.submitted()["argv"], ["submit", path])

    def test_invalid_config_raises_the_checkers_messages(self):
        os.environ["FAKE_SWEEPCTL_MODE"] = "invalid"
        with FakeSweepd(self.home), redirect_stderr(self.err):
            with self.assertRaises(sweepd.errors.SweepConfigError) as caught:
                sweepd.sweep(CONFIG)
        text = str(caught.exception)
        self.assertIn("sweep.json:5:7: error: parameters.lr: `min` must be less than `max`", text)
        self.assertIn("invalid, not submitted", text)

    def test_other_failures_raise_error(self):
        os.environ["FAKE_SWEEPCTL_MODE"] = "broken"
        with FakeSweepd(self.home), redirect_stderr(self.err):
            with self.assertRaises(sweepd.errors.Error) as caught:
                sweepd.sweep(CONFIG)
        self.assertNotIsInstance(caught.exception, sweepd.errors.SweepConfigError)
        self.assertIn("cannot create the sweeps home", str(caught.exception))

    def test_no_daemon(self):
        with self.assertRaises(sweepd.errors.NoDaemon) as caught:
            sweepd.sweep(CONFIG)
        sock = os.path.join(self.home, "sweepd.sock")
        self.assertEqual(
            str(caught.exception),
            "no sweepd runs for %s (no answer on %s): start one with `sweepd &` (or "
            "`sweepctl service install` for a systemd user service), then call sweep() "
            "again" % (self.home, sock),
        )
        self.assertFalse(os.path.exists(self.record))

    def test_missing_sweepctl(self):
        os.environ["SWEEPCTL"] = os.path.join(self.home, "nothing-here")
        with self.assertRaises(sweepd.errors.Error) as caught:
            sweepd.sweep(CONFIG)
        self.assertIn("SWEEPCTL", str(caught.exception))

    def test_busy_daemon_is_tried_again(self):
        with FakeSweepd(self.home, hello="busy_once") as daemon, redirect_stderr(self.err):
            self.assertEqual(sweepd.sweep(CONFIG), "20261205-101500-demo-k3q7")
            daemon.until(lambda e: len(daemon.ops("hello")) == 2)
        self.assertEqual(len(daemon.ops("hello")), 2)  # busy, then greeted

    def test_refusing_daemon(self):
        with FakeSweepd(self.home, hello="refused"):
            with self.assertRaises(sweepd.errors.Error) as caught:
                sweepd.sweep(CONFIG)
        self.assertIn("not yours", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
