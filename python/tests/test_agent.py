"""agent() against a fake sweepd (tests/fake_sweepd.py, a real Unix socket
server in its own process) speaking docs/agents.md."""

import io
import json
import os
import signal
import sys
import time
import unittest
from unittest import mock

from tests._util import FakeSweepd, json_objects, temp_home

import sweepd
from sweepd import _run

SWEEP = "20261205-101500-tutorial-k3q7"


def records(path):
    with open(path) as f:
        return json_objects(f)


def read(path):
    with open(path) as f:
        return f.read()


# The functions the runs call (module level, as a notebook's would be).

def train():
    with sweepd.init(config={"lr": 1.0, "epochs": 2}):
        print("hello from the run")
        print("config", sweepd.config.lr, sweepd.config.epochs, file=sys.stderr)
        for epoch in range(sweepd.config.epochs):
            sweepd.log({"loss": 1.0 / (epoch + 1), "epoch": epoch, "pid": os.getpid(),
                        "run": os.environ["SWEEP_RUN_ID"]})


def fails():
    sweepd.init()
    sweepd.log({"x": 1})
    raise RuntimeError("this run fails")


def exits_3():
    sys.exit(3)


def logs_until_stopped():
    sweepd.init()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sweepd.log({"x": 1})
        time.sleep(0.001)
    sys.exit(9)  # never stopped


def hangs():
    print("waiting", flush=True)
    time.sleep(60)


class Agent(unittest.TestCase):
    def setUp(self):
        self.home = temp_home(self)
        patcher = mock.patch.dict(os.environ, {"SWEEPS_HOME": self.home})
        patcher.start()
        self.addCleanup(patcher.stop)
        for name in ("SWEEP_RUN_ID", "SWEEP_RUN_DIR", "SWEEP_ID", "WANDB_RUN_ID"):
            os.environ.pop(name, None)
        _run.reset_for_child()
        self.out = io.StringIO()
        self.err = io.StringIO()
        for name, stream in (("stdout", self.out), ("stderr", self.err)):
            p = mock.patch.object(sys, name, stream)
            p.start()
            self.addCleanup(p.stop)

    def run_message(self, n, params=None, then=None, params_json=True):
        run_dir = os.path.join(self.home, "sweeps", SWEEP, "runs", "%04d" % n)
        os.makedirs(run_dir)
        params = params if params is not None else {"lr": 0.01 * n}
        if params_json:
            with open(os.path.join(run_dir, "params.json"), "w") as f:
                json.dump(params, f)
        run = "%s/%d" % (SWEEP, n)
        message = {
            "run": run,
            "wandb_run_id": "%s-%04d" % (SWEEP, n),
            "run_dir": run_dir,
            "cwd": os.getcwd(),
            "argv": None,
            "env": [["SWEEP_ID", SWEEP], ["SWEEP_RUN_ID", run], ["SWEEP_RUN_DIR", run_dir],
                    ["WANDB_RUN_ID", "%s-%04d" % (SWEEP, n)], ["CUDA_VISIBLE_DEVICES", ""]],
            "start_line": json.dumps({"type": "start", "protocol": 1, "sweep_id": SWEEP,
                                      "run_id": run, "params": params}) + "\n",
            "params": params,
        }
        if then:
            message["then"] = then
        return message

    def fake(self, runs, **scenario):
        return FakeSweepd(self.home, agent={"sweep": SWEEP}, runs=runs, **scenario)

    def test_runs_in_a_child_and_reports(self):
        runs = [self.run_message(1), self.run_message(2, params_json=False)]
        with self.fake(runs, done="sweep %s is done" % SWEEP) as daemon:
            sweepd.agent("tutorial", function=train)
            events = daemon.until(lambda e: e.get("event") == "eof")
        self.assertEqual(events[0], {"op": "hello", "version": 1})
        self.assertEqual(events[1], {"op": "agent", "sweep": "tutorial", "command": None})
        started = daemon.ops("started")
        exited = daemon.ops("exited")
        self.assertEqual([s["run"] for s in started], [SWEEP + "/1", SWEEP + "/2"])
        self.assertEqual(exited, [{"op": "exited", "run": SWEEP + "/1", "code": 0},
                                  {"op": "exited", "run": SWEEP + "/2", "code": 0}])
        self.assertEqual(len(daemon.ops("next")), 3)
        for n, message in enumerate(runs, 1):
            logged = records(os.path.join(message["run_dir"], "stdout.log"))
            self.assertEqual([r["epoch"] for r in logged], [0, 1])
            self.assertEqual(logged[0]["pid"], started[n - 1]["pid"])
            self.assertNotEqual(logged[0]["pid"], os.getpid())
            self.assertEqual(logged[0]["run"], message["run"])
            stdout_log = read(os.path.join(message["run_dir"], "stdout.log"))
            self.assertIn("hello from the run\n", stdout_log)
            stderr_log = read(os.path.join(message["run_dir"], "stderr.log"))
            # The sweep's value wins over init(config=...)'s default, from
            # params.json or (run 2) the handed-out params.
            self.assertIn("config %s 2" % (0.01 * n), stderr_log)
            with open(os.path.join(message["run_dir"], "wandb-summary.json")) as f:
                self.assertEqual(json.load(f)["epoch"], 1)
        # The runs' prints showed in the caller's streams too, records not.
        self.assertEqual(self.out.getvalue().count("hello from the run\n"), 2)
        self.assertNotIn('"loss"', self.out.getvalue())
        self.assertIn("config 0.01 2", self.err.getvalue())
        self.assertIn("sweepd: run %s/1 started (lr=0.01)" % SWEEP, self.err.getvalue())
        self.assertIn("sweepd: run %s/1 ended: exit 0" % SWEEP, self.err.getvalue())
        self.assertIn("sweep %s is done" % SWEEP, self.err.getvalue())
        # The caller's own state is untouched by the children.
        self.assertIsNone(sweepd.run)
        self.assertNotIn("SWEEP_RUN_ID", os.environ)

    def test_exit_codes(self):
        def exits_with_a_string():
            sys.exit("bad config")

        runs = [self.run_message(1), self.run_message(2), self.run_message(3)]
        def by_run():
            # Each child is forked from the caller: pick by the run's number.
            n = int(os.environ["SWEEP_RUN_ID"].rsplit("/", 1)[1])
            [fails, exits_3, exits_with_a_string][n - 1]()

        with self.fake(runs) as daemon:
            sweepd.agent(SWEEP, function=by_run)
            daemon.until(lambda e: e.get("event") == "eof")
        codes = [e["code"] for e in daemon.ops("exited")]
        self.assertEqual(codes, [1, 3, 1])
        stderr_1 = read(os.path.join(runs[0]["run_dir"], "stderr.log"))
        self.assertIn("Traceback (most recent call last)", stderr_1)
        self.assertIn("RuntimeError: this run fails", stderr_1)
        self.assertEqual(records(os.path.join(runs[0]["run_dir"], "stdout.log")), [{"x": 1}])
        self.assertIn("RuntimeError: this run fails", self.err.getvalue())
        self.assertIn("bad config", read(os.path.join(runs[2]["run_dir"], "stderr.log")))
        self.assertIn("ended: exit 3", self.err.getvalue())

    def test_count_stops_after_count_runs(self):
        runs = [self.run_message(n) for n in (1, 2, 3)]
        with self.fake(runs) as daemon:
            sweepd.agent(SWEEP, function=exits_3, count=2)
            events = daemon.until(lambda e: e.get("event") == "eof")
        self.assertEqual(len(daemon.ops("exited")), 2)
        self.assertEqual(len(daemon.ops("next")), 2)
        self.assertEqual(events[-1], {"event": "eof"})

    def test_stop_message_ends_the_run_at_its_next_log(self):
        runs = [self.run_message(1, then="stop")]
        with self.fake(runs) as daemon:
            sweepd.agent(SWEEP, function=logs_until_stopped, count=1)
            daemon.until(lambda e: e.get("event") == "eof")
        self.assertEqual(daemon.ops("exited"), [{"op": "exited", "run": SWEEP + "/1", "code": 0}])
        stderr_log = read(os.path.join(runs[0]["run_dir"], "stderr.log"))
        self.assertIn("sweepd: this run was asked to stop (early_terminate); ending it", stderr_log)
        self.assertTrue(records(os.path.join(runs[0]["run_dir"], "stdout.log")))

    def test_signal_message_signals_the_group(self):
        runs = [self.run_message(1, then="signal:TERM")]
        with self.fake(runs) as daemon:
            sweepd.agent(SWEEP, function=hangs, count=1)
            daemon.until(lambda e: e.get("event") == "eof")
        self.assertEqual(daemon.ops("exited"),
                         [{"op": "exited", "run": SWEEP + "/1", "signal": signal.SIGTERM}])
        self.assertIn("killed by SIGTERM", self.err.getvalue())

    def test_interrupt_ends_the_run_and_goes_on(self):
        runs = [self.run_message(1, then="sigint:%d" % os.getpid())]
        handler = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.addCleanup(signal.signal, signal.SIGINT, handler)
        with self.fake(runs) as daemon:
            with self.assertRaises(KeyboardInterrupt):
                sweepd.agent(SWEEP, function=hangs)
            events = daemon.until(lambda e: e.get("event") == "eof")
        started = daemon.ops("started")[0]
        self.assertEqual(daemon.ops("exited"),
                         [{"op": "exited", "run": SWEEP + "/1", "signal": signal.SIGTERM}])
        self.assertEqual(events[-1], {"event": "eof"})
        with self.assertRaises(ProcessLookupError):
            os.kill(started["pid"], 0)

    def test_refused(self):
        with FakeSweepd(self.home, agent={"refuse": "no sweep matches 'nope'"}):
            with self.assertRaises(sweepd.errors.Error) as caught:
                sweepd.agent("nope", function=train)
        self.assertEqual(str(caught.exception), "no sweep matches 'nope'")

    def test_sweepd_going_away_kills_the_run(self):
        runs = [self.run_message(1, then="close")]
        with self.fake(runs) as daemon:
            with self.assertRaises(sweepd.errors.Error) as caught:
                sweepd.agent(SWEEP, function=hangs)
            started = daemon.until(lambda e: e.get("op") == "started")[-1]
        self.assertIn("sweepd went away", str(caught.exception))
        # Killed and reaped: no such process any more.
        with self.assertRaises(ProcessLookupError):
            os.kill(started["pid"], 0)

    def test_cuda_initialised_in_the_caller_is_refused(self):
        class Cuda:
            @staticmethod
            def is_initialized():
                return True

        torch = type(sys)("torch")
        torch.cuda = Cuda
        runs = [self.run_message(1)]
        with mock.patch.dict(sys.modules, {"torch": torch}), self.fake(runs):
            with self.assertRaises(sweepd.errors.Error) as caught:
                sweepd.agent(SWEEP, function=train)
        self.assertIn("CUDA was initialised in this process", str(caught.exception))
        self.assertFalse(os.path.exists(os.path.join(runs[0]["run_dir"], "stdout.log")))

    def test_import_sets_the_nvml_cuda_check(self):
        from tests._util import clean_env, run_python

        env = clean_env()
        env.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
        status, out, err = run_python(
            "import os, sweepd\nprint(os.environ['PYTORCH_NVML_BASED_CUDA_CHECK'])", env
        )
        self.assertEqual((status, out), (0, "1\n"), err)

    def test_no_daemon(self):
        with self.assertRaises(sweepd.errors.NoDaemon) as caught:
            sweepd.agent(SWEEP, function=train)
        self.assertIn(os.path.join(self.home, "sweepd.sock"), str(caught.exception))

    def test_function_is_required(self):
        with self.assertRaises(sweepd.errors.Error) as caught:
            sweepd.agent(SWEEP)
        self.assertIn("sweepctl agent", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
