"""Tests of sweepd_trainer, run as real processes speaking the protocol."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

PROGRAM = """
import sys, time
sys.path.insert(0, %r)
import sweepd_trainer as sweep
params = sweep.init()
sweep.log({"got": params})
sweep.log({"loss": float("nan"), "x": 1}, step=3)
while not sweep.should_stop():
    time.sleep(0.01)
print("reason", sweep.stop_reason(), sweep.run_id(), flush=True)
""" % HERE


def start(params):
    return json.dumps({"type": "start", "protocol": 1, "sweep_id": "s", "run_id": "s/1", "params": params}) + "\n"


class TrainerHelperTest(unittest.TestCase):
    def run_program(self, stdin_lines):
        process = subprocess.Popen(
            [sys.executable, "-c", PROGRAM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, SWEEP_RUN_ID="s/1"),
        )
        for line in stdin_lines:
            process.stdin.write(line)
        process.stdin.flush()
        first = process.stdout.readline()
        second = process.stdout.readline()
        process.stdin.write(json.dumps({"type": "stop", "reason": "early_terminate"}) + "\n")
        process.stdin.close()
        rest = process.stdout.read()
        self.assertEqual(process.wait(timeout=30), 0)
        return first, second, rest

    def test_params_metrics_and_stop(self):
        first, second, rest = self.run_program([start({"lr": 0.1, "opt": {"name": "adam"}})])
        self.assertEqual(json.loads(first), {"got": {"lr": 0.1, "opt": {"name": "adam"}}})
        # Python writes NaN, which sweepd reads as null; the step is _step.
        self.assertEqual(second.strip(), '{"loss": NaN, "x": 1, "_step": 3}')
        self.assertEqual(rest, "reason early_terminate s/1\n")

    def test_refuses_another_protocol_version(self):
        line = json.dumps({"type": "start", "protocol": 2, "params": {}}) + "\n"
        env = dict(os.environ, SWEEP_RUN_ID="s/1")
        result = subprocess.run([sys.executable, "-c", PROGRAM], input=line, capture_output=True, text=True, env=env)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("protocol 2", result.stderr)

    def test_outside_sweepd_params_come_from_the_run_dir(self):
        program = "import sys; sys.path.insert(0, %r); import sweepd_trainer as s; print(s.init(), s.should_stop())" % HERE
        with tempfile.TemporaryDirectory() as run_dir:
            with open(os.path.join(run_dir, "params.json"), "w") as f:
                json.dump({"lr": 0.5}, f)
            env = {k: v for k, v in os.environ.items() if k != "SWEEP_RUN_ID"}
            env["SWEEP_RUN_DIR"] = run_dir
            # stdin an open pipe that never speaks: init() must not wait on it.
            process = subprocess.Popen(
                [sys.executable, "-c", program], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
            )
            try:
                self.assertEqual(process.wait(timeout=30), 0)
            finally:
                process.kill()
                process.stdin.close()
            self.assertEqual(process.stdout.read(), "{'lr': 0.5} False\n")
            process.stdout.close()


    def test_scalars_with_item_are_logged_as_numbers(self):
        program = (
            "import sys; sys.path.insert(0, %r); import sweepd_trainer as s\n"
            "class Scalar:\n    def item(self): return 0.5\n"
            "s.log({'loss': Scalar()})" % HERE
        )
        result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)
        self.assertEqual(result.stdout, '{"loss": 0.5}\n')


if __name__ == "__main__":
    unittest.main()
