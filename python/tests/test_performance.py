"""log() must stay cheap: a dict of 5 floats in <= 20 microseconds a call."""

import io
import json
import os
import statistics
import subprocess
import sys
import time
import unittest
from unittest import mock

from tests._util import FakeSweepd, clean_env, temp_home

import sweepd
from sweepd import _run

MEASURE = r"""
import sys, time, sweepd as wandb
wandb.init()
record = {"loss": 0.31, "acc": 0.92, "lr": 0.01, "epoch": 1.0, "batch": 7.0}
best = 1.0
for _ in range(5):
    start = time.perf_counter()
    for _ in range(5000):
        wandb.log(record)
    best = min(best, (time.perf_counter() - start) / 5000)
wandb.finish()
sys.stderr.write("%.9f\n" % best)
"""


class Performance(unittest.TestCase):
    def test_log_of_five_floats(self):
        run_dir = temp_home(self)
        env = clean_env(SWEEP_RUN_ID="s/1", SWEEP_RUN_DIR=run_dir)
        with open(os.devnull, "wb") as null:
            done = subprocess.run(
                [sys.executable, "-c", MEASURE], input=b'{"type":"start"}\n',
                stdout=null, stderr=subprocess.PIPE, env=env, timeout=60,
            )
        self.assertEqual(done.returncode, 0, done.stderr)
        per_call = float(done.stderr.decode().split()[-1])
        self.assertLessEqual(per_call, 20e-6, "log() took %.1f us" % (per_call * 1e6))
        with open(os.path.join(run_dir, "wandb-summary.json")) as f:
            self.assertEqual(json.load(f)["loss"], 0.31)


def timed():
    """A run that notes when it started and when it returned."""
    started = time.time()
    with open(os.path.join(os.environ["SWEEP_RUN_DIR"], "times"), "w") as f:
        f.write("%r %r" % (started, time.time()))


class AgentOverhead(unittest.TestCase):
    def test_from_one_runs_end_to_the_next_runs_start(self):
        home = temp_home(self)
        runs = []
        for n in range(1, 9):
            run_dir = os.path.join(home, "runs", str(n))
            os.makedirs(run_dir)
            runs.append({"run": "s/%d" % n, "run_dir": run_dir, "params": {},
                         "env": [["SWEEP_RUN_ID", "s/%d" % n], ["SWEEP_RUN_DIR", run_dir]],
                         "start_line": "{}\n"})
        _run.reset_for_child()
        with mock.patch.dict(os.environ, {"SWEEPS_HOME": home}), \
                mock.patch.object(sys, "stderr", io.StringIO()), \
                FakeSweepd(home, agent={"sweep": "s"}, runs=runs):
            sweepd.agent("s", function=timed)
        times = []
        for run in runs:
            with open(os.path.join(run["run_dir"], "times")) as f:
                times.append([float(t) for t in f.read().split()])
        gaps = [nxt[0] - prev[1] for prev, nxt in zip(times, times[1:])]
        self.assertLessEqual(statistics.median(gaps), 0.150, gaps)


if __name__ == "__main__":
    unittest.main()
