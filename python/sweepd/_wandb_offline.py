"""SWEEPD_WANDB=offline: the real `wandb` package, offline, wrapped for sweepd.

Used by the `wandb` shim (python/shim/wandb). The real package keeps its
own offline run (media, tables, `wandb sync` later); the wrappers make each
logged dict also a sweepd record (a JSON line on stdout, through a sweepd
run of our own, which also hears sweepd's stop lines), and put the sweep's
parameters in the real run's config, over `init(config=...)`'s defaults.
"""

import importlib
import json
import os
import sys

from . import _run
from ._records import warn


def _same(path, folder):
    return os.path.realpath(path or os.curdir) == folder


def load_real(shim_root):
    """Import the real wandb in place of the shim (whose folder, `shim_root`,
    leaves sys.path), wrapped. False, after one warning, when it cannot be
    imported: the caller then uses the sweepd package."""
    folder = os.path.realpath(shim_root)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if not _same(p, folder)]
    sys.modules.pop("wandb", None)
    os.environ["WANDB_MODE"] = "offline"
    os.environ.setdefault("WANDB_SILENT", "true")
    # W&B's "redirect" console capture would put fd 1, where sweepd's records
    # go, behind a pipe of its own; "wrap" captures at the Python level.
    os.environ.setdefault("WANDB_CONSOLE", "wrap")
    try:
        real = importlib.import_module("wandb")
    except ImportError as e:
        for name in [n for n in sys.modules if n == "wandb" or n.startswith("wandb.")]:
            del sys.modules[name]
        sys.path[:] = saved
        warn(
            "SWEEPD_WANDB=offline, but the wandb package cannot be imported (%s): "
            "using sweepd's own wandb API" % e
        )
        return False
    install(real)
    sys.modules["wandb"] = real
    return True


def _patch(obj, name, value):
    try:
        setattr(obj, name, value)
    except (AttributeError, TypeError):
        pass


def install(real):
    """Wrap `real.init` and `real.finish`; each run's `log` and `finish` are
    wrapped when init makes it."""
    real_init = real.init
    real_finish = real.finish

    def init(*args, **kwargs):
        run = real_init(*args, **kwargs)
        if run is None:
            return run
        if _run.current() is not None:
            _run.current().finish()
        ours = _run.init(quiet=True)
        if _run.in_sweep():
            params = _run._sweep_params()
            if params:
                run.config.update(params, allow_val_change=True)
        _wrap_run(real, run, ours)
        return run

    def finish(*args, **kwargs):
        if _run.current() is not None and getattr(real, "run", None) is not None:
            _copy_summary(real.run, _run.current())
        try:
            return real_finish(*args, **kwargs)
        finally:
            if _run.current() is not None:
                _run.current().finish()

    init.__doc__ = real_init.__doc__
    finish.__doc__ = real_finish.__doc__
    real.init = init
    real.finish = finish


def _wrap_run(real, run, ours):
    run_log = run.log
    run_finish = run.finish

    def log(data, step=None, commit=None, **kwargs):
        snapshot = dict(data) if isinstance(data, dict) else data
        result = run_log(data, step=step, commit=commit, **kwargs)
        ours.log(snapshot, step=step, commit=commit)  # may end the run: RunStopped
        return result

    def finish(*args, **kwargs):
        _copy_summary(run, ours)
        try:
            return run_finish(*args, **kwargs)
        finally:
            ours.finish()

    log.__doc__ = getattr(run_log, "__doc__", None)
    _patch(run, "log", log)
    _patch(run, "finish", finish)
    # The real init pointed wandb.log at the run's own log.
    real.log = log


def _copy_summary(run, ours):
    """What the script put in W&B's `run.summary` (the values JSON can
    hold), into sweepd's summary too."""
    try:
        items = [(k, run.summary[k]) for k in list(run.summary.keys())]
    except Exception:
        return
    for key, value in items:
        if str(key).startswith("_"):
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            continue
        ours.summary[key] = value
