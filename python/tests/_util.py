"""Helpers shared by the tests: paths, a clean environment for child
Pythons, and the fake sweepd (fake_sweepd.py) as a context manager."""

import json
import os
import subprocess
import sys
import tempfile

TESTS = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(TESTS)
SHIM_DIR = os.path.join(PYTHON_DIR, "shim")
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

# Variables of a surrounding sweep or W&B setup that would change what the
# package does.
_SCRUB = (
    "SWEEP_RUN_ID", "SWEEP_RUN_DIR", "SWEEP_ID", "WANDB_RUN_ID", "SWEEPD_WANDB",
    "WANDB_MODE", "SWEEPCTL", "SWEEPS_HOME", "PYTHONPATH",
)


def clean_env(**extra):
    """os.environ without sweep variables, PYTHONPATH = python/, plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["PYTHONPATH"] = PYTHON_DIR
    env.update(extra)
    return env


def run_python(code, env, stdin=b"", cwd=None, args=()):
    """Run `python -c code` (or args when given); (returncode, stdout, stderr) as text."""
    argv = [sys.executable] + (list(args) if args else ["-c", code])
    done = subprocess.run(
        argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, cwd=cwd, timeout=30,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


class FakeSweepd:
    """fake_sweepd.py in its own process, listening on HOME/sweepd.sock."""

    def __init__(self, home, **scenario):
        self.home = home
        scenario["socket"] = os.path.join(home, "sweepd.sock")
        self.path = os.path.join(home, "scenario.json")
        with open(self.path, "w") as f:
            json.dump(scenario, f)
        self.events = []
        self._cursor = 0

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TESTS, "fake_sweepd.py"), self.path],
            stdout=subprocess.PIPE, env=clean_env(),
        )
        line = self.proc.stdout.readline()
        assert json.loads(line) == "ready", line
        return self

    def until(self, predicate):
        """Read events (as the fake prints them: no sleeping) up to the next
        that satisfies predicate; all events so far."""
        while True:
            if self._cursor == len(self.events):
                line = self.proc.stdout.readline()
                if not line:
                    raise AssertionError("the fake sweepd ended; events: %r" % self.events)
                self.events.append(json.loads(line))
            event = self.events[self._cursor]
            self._cursor += 1
            if predicate(event):
                return self.events

    def ops(self, op):
        return [e for e in self.events if e.get("op") == op]

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def temp_home(test):
    """A fresh folder, removed after the test."""
    holder = tempfile.TemporaryDirectory(prefix="sweepd-test-")
    test.addCleanup(holder.cleanup)
    return holder.name


def json_objects(lines):
    """The JSON object lines among `lines`: a run's records, as sweepd reads them."""
    out = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out
