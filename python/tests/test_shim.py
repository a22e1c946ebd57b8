"""`import wandb` under sweepd: the shim (python/shim) in both its modes,
and `python -m sweepd SCRIPT`."""

import json
import os
import textwrap
import unittest

from tests._util import PYTHON_DIR, SHIM_DIR, clean_env, run_python, temp_home
from tests.test_command_run import START, STOP, records

# A stand-in for the real wandb package: its module-level globals behave as
# W&B's do (init points wandb.log and wandb.config at the run's; finish
# points them back).
FAKE_REAL_WANDB = '''
import os
IS_REAL = True
logged = []
init_env = {}

class _Config(dict):
    def update(self, values, allow_val_change=False):
        dict.update(self, values)

class Run:
    def __init__(self, config):
        self.config = _Config(config or {})
    def log(self, data, step=None, commit=None):
        logged.append(sorted(data))
    def finish(self, exit_code=None):
        _unset()
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.finish()

def _preinit_log(*args, **kwargs):
    raise RuntimeError("You must call wandb.init() before wandb.log()")

log = _preinit_log
run = None
config = None

def init(config=None, **kwargs):
    global run, log
    init_env["WANDB_MODE"] = os.environ.get("WANDB_MODE")
    run = Run(config)
    globals()["config"] = run.config
    log = run.log
    return run

def finish(exit_code=None):
    if run is not None:
        run.finish()

def _unset():
    global run, log
    run = None
    log = _preinit_log
'''


class Shim(unittest.TestCase):
    def setUp(self):
        self.run_dir = temp_home(self)
        with open(os.path.join(self.run_dir, "params.json"), "w") as f:
            json.dump({"lr": 0.01}, f)
        self.sweep_env = dict(
            SWEEP_RUN_ID="s/1", SWEEP_RUN_DIR=self.run_dir, SWEEP_ID="s", WANDB_RUN_ID="s-0001"
        )

    def test_import_wandb_is_sweepd(self):
        env = clean_env(PYTHONPATH=os.pathsep.join([SHIM_DIR, PYTHON_DIR]), **self.sweep_env)
        code = textwrap.dedent("""
            import sys, wandb, sweepd
            import wandb.errors
            assert wandb is sweepd, wandb
            assert wandb.errors.Error is sweepd.errors.Error
            assert wandb.run is None
            run = wandb.init(config={"lr": 1.0, "bs": 4})
            assert wandb.run is run and wandb.config is run.config
            print("cfg", wandb.config.lr, wandb.config.bs, file=sys.stderr)
            wandb.log({"loss": 0.5})
            run.log({"loss": 0.25})
            wandb.summary["best"] = 0.25
            wandb.finish()
            assert wandb.run is None
        """)
        status, out, err = run_python(code, env, stdin=START.encode())
        self.assertEqual(status, 0, err)
        self.assertIn("cfg 0.01 4", err)
        self.assertEqual(records(out), [{"loss": 0.5}, {"loss": 0.25}])

    def test_offline_wraps_the_real_wandb(self):
        real = temp_home(self)
        os.makedirs(os.path.join(real, "wandb"))
        with open(os.path.join(real, "wandb", "__init__.py"), "w") as f:
            f.write(FAKE_REAL_WANDB)
        env = clean_env(
            PYTHONPATH=os.pathsep.join([SHIM_DIR, PYTHON_DIR, real]),
            SWEEPD_WANDB="offline",
            **self.sweep_env,
        )
        code = textwrap.dedent("""
            import os, sys, wandb
            assert getattr(wandb, "IS_REAL", False), wandb
            assert not any(p.rstrip("/").endswith("shim") for p in sys.path), sys.path
            with wandb.init(config={"lr": 1.0, "bs": 4}) as run:
                print("cfg", wandb.config["lr"], wandb.config["bs"],
                      wandb.init_env["WANDB_MODE"], file=sys.stderr)
                wandb.log({"loss": 0.5})
                run.log({"loss": 0.25, "img": object()})
            print("real", wandb.logged, file=sys.stderr)
        """)
        status, out, err = run_python(code, env, stdin=START.encode())
        self.assertEqual(status, 0, err)
        self.assertIn("cfg 0.01 4 offline", err)
        self.assertIn("real [['loss'], ['img', 'loss']]", err)
        self.assertEqual(records(out), [{"loss": 0.5}, {"loss": 0.25}])
        self.assertNotIn("dropped", err)
        self.assertTrue(os.path.exists(os.path.join(self.run_dir, "wandb-summary.json")))

        # A stop line reaches the wrapped log as it reaches sweepd's.
        stop = textwrap.dedent("""
            import time, wandb
            wandb.init()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                wandb.log({"x": 1})
                time.sleep(0.001)
            raise SystemExit(7)
        """)
        status, _, err = run_python(stop, env, stdin=(START + STOP).encode())
        self.assertEqual(status, 0, err)
        self.assertIn("asked to stop (early_terminate)", err)

    def test_offline_without_the_real_wandb_falls_back(self):
        env = clean_env(
            PYTHONPATH=os.pathsep.join([SHIM_DIR, PYTHON_DIR]),
            SWEEPD_WANDB="offline",
            **self.sweep_env,
        )
        code = "import wandb, sweepd\nassert wandb is sweepd\nimport wandb\nwandb.init()\nwandb.log({'x': 1})\n"
        status, out, err = run_python(code, env, stdin=START.encode())
        self.assertEqual(status, 0, err)
        self.assertEqual(err.count("SWEEPD_WANDB=offline, but the wandb package cannot be imported"), 1)
        self.assertEqual(records(out), [{"x": 1}])

    def test_python_m_sweepd_runs_a_wandb_script(self):
        folder = temp_home(self)
        with open(os.path.join(folder, "helper_mod.py"), "w") as f:
            f.write("VALUE = 42\n")
        script = os.path.join(folder, "train.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent("""
                import sys
                import wandb
                import helper_mod
                import sweepd
                assert wandb is sweepd
                print("main", __name__, sys.argv[1:], helper_mod.VALUE)
                wandb.init(config={"a": 1})
                wandb.log({"a": wandb.config.a})
            """))
        status, out, err = run_python(
            None, clean_env(), args=["-m", "sweepd", script, "--x", "1"], cwd=temp_home(self)
        )
        self.assertEqual(status, 0, err)
        self.assertEqual(out, "main __main__ ['--x', '1'] 42\n")

        status, out, err = run_python(None, clean_env(), args=["-m", "sweepd"])
        self.assertEqual(status, 2)
        self.assertIn("usage: python -m sweepd SCRIPT [ARGS...]", err)


if __name__ == "__main__":
    unittest.main()
