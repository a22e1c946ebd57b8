"""A run under sweepd (SWEEP_RUN_ID set): a real Python subprocess given a
run folder with params.json and the start line on stdin, as sweepd gives
a command run."""

import json
import os
import unittest

from tests._util import clean_env, json_objects, run_python, temp_home

START = json.dumps({"type": "start", "protocol": 1, "sweep_id": "s", "run_id": "s/3",
                    "params": {"lr": 0.01}}) + "\n"
STOP = json.dumps({"type": "stop", "reason": "early_terminate"}) + "\n"


def records(stdout):
    """The JSON object lines of a run's stdout, as sweepd reads them."""
    return json_objects(stdout.splitlines())


class CommandRun(unittest.TestCase):
    def setUp(self):
        self.run_dir = temp_home(self)
        with open(os.path.join(self.run_dir, "params.json"), "w") as f:
            json.dump({"lr": 0.01, "optimizer": {"name": "adam"}}, f)
        self.env = clean_env(
            SWEEP_RUN_ID="20261205-101500-x-k3q7/3",
            SWEEP_RUN_DIR=self.run_dir,
            SWEEP_ID="20261205-101500-x-k3q7",
            WANDB_RUN_ID="20261205-101500-x-k3q7-0003",
        )

    def run_script(self, code, stdin=START):
        return run_python(code, self.env, stdin=stdin.encode())

    def test_params_records_and_summary(self):
        code = r"""
import sys, sweepd as wandb
class Scalar:                      # a torch/numpy scalar
    def item(self):
        return 0.5
class Tensor:                      # a tensor of more than one element
    def item(self):
        raise ValueError("only one element tensors can be converted")
run = wandb.init(config={"lr": 1.0, "epochs": 2})
print("plain text")
print("config", wandb.config.lr, wandb.config.epochs, wandb.config.optimizer["name"],
      file=sys.stderr)
print("ids", run.id, run.sweep_id, run.dir, file=sys.stderr)
wandb.log({"a": 1}, commit=False)
wandb.log({"b": 2.5})
wandb.log({"loss": float("nan"), "inf": float("inf"), "t": Scalar(), "nested": {"x": 1}},
          step=5)
wandb.log({"examples": wandb.Image("x.png"), "acc": 0.9})
wandb.log({"examples": wandb.Image("y.png"), "w": Tensor(), "acc": 0.95})
wandb.summary["best"] = 0.1
wandb.finish()
"""
        code_, out, err = self.run_script(code)
        self.assertEqual(code_, 0, err)
        self.assertIn("config 0.01 2 adam", err)
        self.assertIn(
            "ids 20261205-101500-x-k3q7-0003 20261205-101500-x-k3q7 %s" % self.run_dir, err
        )
        self.assertIn("plain text", out.splitlines())
        self.assertEqual(
            records(out),
            [
                {"a": 1, "b": 2.5},
                {"loss": None, "inf": None, "t": 0.5, "nested": {"x": 1}, "_step": 5},
                {"acc": 0.9},
                {"acc": 0.95},
            ],
        )
        self.assertEqual(
            err.count(
                "sweepd: dropped 'examples' from wandb.log: Image is not a number sweepd can keep"
            ),
            1,
        )
        self.assertIn("sweepd: dropped 'w' from wandb.log: Tensor", err)
        with open(os.path.join(self.run_dir, "wandb-summary.json")) as f:
            summary = json.load(f)
        self.assertEqual(summary["acc"], 0.95)
        self.assertEqual(summary["best"], 0.1)
        self.assertEqual(summary["t"], 0.5)
        self.assertEqual(summary["_step"], 5)
        self.assertNotIn("examples", summary)
        self.assertEqual(
            [n for n in os.listdir(self.run_dir) if n.startswith("wandb-summary")],
            ["wandb-summary.json"],
        )

    def test_summary_and_records_at_exit_without_finish(self):
        code = "import sweepd as wandb\nwandb.init()\nwandb.log({'x': 1})\nwandb.log({'x': 2})\n"
        status, out, err = self.run_script(code)
        self.assertEqual(status, 0, err)
        self.assertEqual(records(out), [{"x": 1}, {"x": 2}])
        with open(os.path.join(self.run_dir, "wandb-summary.json")) as f:
            self.assertEqual(json.load(f), {"x": 2})

    def test_init_does_not_wait_for_stdin(self):
        # stdin stays open and says nothing: init() must not block on it.
        code = "import sweepd as wandb\nrun = wandb.init()\nprint(wandb.config.lr)\n"
        import subprocess
        import sys

        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env,
        )
        try:
            out = proc.stdout.readline()
            self.assertEqual(out.strip(), b"0.01")
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
            proc.stdout.close()
            proc.stderr.close()

    def test_stop_line_ends_the_run_with_status_0(self):
        code = r"""
import time, sweepd as wandb
wandb.init()
deadline = time.monotonic() + 10
i = 0
while time.monotonic() < deadline:
    wandb.log({"i": i})
    i += 1
    time.sleep(0.001)
raise SystemExit(7)   # never stopped
"""
        status, out, err = self.run_script(code, stdin=START + STOP)
        self.assertEqual(status, 0, err)
        self.assertIn("sweepd: this run was asked to stop (early_terminate); ending it", err)
        self.assertEqual(err.count("asked to stop"), 1)
        self.assertNotIn("Traceback", err)
        logged = records(out)
        self.assertTrue(logged)
        self.assertEqual([r["i"] for r in logged], list(range(len(logged))))
        self.assertTrue(os.path.exists(os.path.join(self.run_dir, "wandb-summary.json")))

    def test_stop_inside_with_block(self):
        code = r"""
import time, sweepd as wandb
with wandb.init():
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        wandb.log({"x": 1})
        time.sleep(0.001)
raise SystemExit(7)
"""
        status, _, err = self.run_script(code, stdin=START + STOP)
        self.assertEqual(status, 0, err)

    def test_params_from_start_line_without_params_json(self):
        os.remove(os.path.join(self.run_dir, "params.json"))
        code = "import sweepd as wandb\nwandb.init(config={'lr': 5})\nprint(wandb.config.lr)\n"
        status, out, err = self.run_script(code)
        self.assertEqual(status, 0, err)
        self.assertEqual(out.strip(), "0.01")


if __name__ == "__main__":
    unittest.main()
