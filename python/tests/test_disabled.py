"""Outside any sweep: W&B's mode="disabled", in this process."""

import argparse
import io
import os
import unittest
from contextlib import redirect_stderr
from unittest import mock

from tests import _util  # noqa: F401  (puts python/ on sys.path)

import sweepd
from sweepd import _run


class DisabledMode(unittest.TestCase):
    def setUp(self):
        patcher = mock.patch.dict(os.environ)
        patcher.start()
        self.addCleanup(patcher.stop)
        for name in ("SWEEP_RUN_ID", "SWEEP_RUN_DIR", "SWEEP_ID", "WANDB_RUN_ID"):
            os.environ.pop(name, None)
        _run.reset_for_child()
        self.addCleanup(_run.reset_for_child)
        self.cwd = os.getcwd()
        self.before = sorted(os.listdir(self.cwd))

    def tearDown(self):
        # Nothing written anywhere (the cwd, at least).
        self.assertEqual(sorted(os.listdir(self.cwd)), self.before)

    def test_log_before_init_raises(self):
        self.assertIsNone(sweepd.run)
        with self.assertRaises(sweepd.errors.Error) as caught:
            sweepd.log({"loss": 1.0})
        self.assertIn("call sweepd.init() before sweepd.log()", str(caught.exception))

    def test_init_gives_a_working_run(self):
        run = sweepd.init(config={"lr": 0.1, "layers": 2}, project="p", name="first")
        self.assertIs(sweepd.run, run)
        self.assertIs(sweepd.config, run.config)
        self.assertIs(sweepd.summary, run.summary)
        self.assertEqual(run.name, "first")
        self.assertEqual(run.project, "p")
        self.assertEqual(len(run.id), 8)
        self.assertIsNone(run.sweep_id)
        self.assertIsNone(run.url)
        self.assertEqual(sweepd.config.lr, 0.1)
        self.assertEqual(sweepd.config["layers"], 2)
        sweepd.config.update({"layers": 3, "extra": "x"}, allow_val_change=True)
        sweepd.config.dropout = 0.5
        self.assertEqual(
            sweepd.config.as_dict(), {"lr": 0.1, "layers": 3, "extra": "x", "dropout": 0.5}
        )
        self.assertEqual(sorted(sweepd.config.keys()), ["dropout", "extra", "layers", "lr"])
        self.assertEqual(dict(sweepd.config.items())["extra"], "x")
        self.assertIn("lr", sweepd.config)
        self.assertEqual(sorted(sweepd.config), ["dropout", "extra", "layers", "lr"])
        self.assertEqual(sweepd.config.get("missing", 7), 7)
        with self.assertRaises(AttributeError):
            sweepd.config.missing
        self.assertEqual(run.save("x"), [])
        run.define_metric("loss", summary="min")
        run.watch(object())

    def test_config_from_namespace_and_none(self):
        run = sweepd.init(config=argparse.Namespace(batch_size=32))
        self.assertEqual(run.config.batch_size, 32)
        run.finish()
        run = sweepd.init(config=None)
        self.assertEqual(len(run.config), 0)

    def test_log_keeps_last_values_and_writes_nothing(self):
        out = io.StringIO()
        with mock.patch("sys.stdout", out):
            run = sweepd.init()
            sweepd.log({"loss": 1.0, "acc": 0.5})
            sweepd.log({"loss": 0.5}, commit=False)
            run.log({"epoch": 2}, step=9)
            run.summary["best"] = 0.1
            run.summary.update({"loss": 0.25})
            sweepd.finish()
        self.assertEqual(out.getvalue(), "")
        self.assertEqual(run.summary["acc"], 0.5)
        self.assertEqual(run.summary.epoch, 2)
        self.assertEqual(run.summary["_step"], 9)
        # An explicit summary value wins over the last logged one.
        self.assertEqual(run.summary["loss"], 0.25)
        self.assertEqual(run.summary.best, 0.1)

    def test_finish_ends_the_run(self):
        run = sweepd.init()
        sweepd.finish()
        self.assertIsNone(sweepd.run)
        with self.assertRaises(sweepd.errors.Error):
            sweepd.log({"x": 1})
        with self.assertRaises(sweepd.errors.Error):
            run.log({"x": 1})
        again = sweepd.init()
        self.assertIsNot(again, run)
        self.assertIs(sweepd.run, again)

    def test_init_while_open_returns_the_open_run(self):
        run = sweepd.init()
        self.assertIs(sweepd.init(), run)
        self.assertIsNot(sweepd.init(reinit=True), run)

    def test_context_manager_finishes_and_keeps_exceptions(self):
        with sweepd.init(config={"a": 1}) as run:
            self.assertIs(sweepd.run, run)
            self.assertEqual(sweepd.config.a, 1)
        self.assertIsNone(sweepd.run)
        with self.assertRaises(KeyError):
            with sweepd.init() as run:
                raise KeyError("kept")
        self.assertIsNone(sweepd.run)

    def test_log_needs_a_dict(self):
        run = sweepd.init()
        with self.assertRaises(ValueError):
            run.log([1, 2])

    def test_login_alert_and_media(self):
        err = io.StringIO()
        with redirect_stderr(err):
            self.assertTrue(sweepd.login())
            self.assertTrue(sweepd.login(key="x"))
            sweepd.alert(title="Done", text="loss 0.1")
        self.assertEqual(
            err.getvalue().count("sweepd: no account needed; runs stay on this machine"), 1
        )
        self.assertIn("sweepd alert: Done: loss 0.1", err.getvalue())
        table = sweepd.Table(columns=["a", "b"])
        table.add_data(1, 2)
        self.assertEqual(table.data, [[1, 2]])
        sweepd.Image("x.png", caption="c")
        sweepd.Histogram([1, 2, 3])
        sweepd.Settings(start_method="thread")
        self.assertFalse(hasattr(sweepd.Image(1), "item"))

    def test_sweep_params_win_over_defaults(self):
        config = sweepd.Config({"lr": 1.0, "bs": 8}, sweep_params={"lr": 0.01})
        self.assertEqual(config.lr, 0.01)
        self.assertEqual(config.bs, 8)
        err = io.StringIO()
        with redirect_stderr(err):
            config.update({"lr": 5.0, "bs": 16})
            config.lr = 6.0
            config["lr"] = 7.0
        self.assertEqual(config.lr, 0.01)
        self.assertEqual(config.bs, 16)
        self.assertEqual(err.getvalue().count("'lr'"), 1)


if __name__ == "__main__":
    unittest.main()
