"""`sweep()`: submit a sweep configuration to the local sweepd.

The configuration is checked by `sweepctl submit` (sweepd's own checker, in
Rust), never here: this module writes the dict as a JSON file, makes sure a
daemon answers, runs `sweepctl submit FILE` and returns the sweep id it
prints.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping

from . import _client
from ._records import warn
from .errors import Error, SweepConfigError


def find_sweepctl():
    """$SWEEPCTL, else `sweepctl` on PATH, else beside the Python running
    this (a virtual environment's bin), else in a checkout's target/."""
    named = os.environ.get("SWEEPCTL")
    if named:
        if not os.access(named, os.X_OK):
            raise Error("SWEEPCTL names %s, which is not an executable file" % named)
        return named
    found = shutil.which("sweepctl")
    if found:
        return found
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [
        os.path.join(os.path.dirname(sys.executable), "sweepctl"),
        os.path.join(os.path.expanduser("~"), ".cargo", "bin", "sweepctl"),
        os.path.join(here, "..", "..", "target", "release", "sweepctl"),
        os.path.join(here, "..", "..", "target", "debug", "sweepctl"),
    ]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.normpath(path)
    raise Error(
        "cannot find sweepctl: install sweepd's binaries (`cargo install --path cli` "
        "and `cargo install --path daemon` in the sweepd repository) so that sweepctl "
        "is on PATH, or set SWEEPCTL to its path"
    )


def _file_name(project):
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", project or "sweep").strip("-")[:64]
    return (stem or "sweep") + ".json"


def _plain(value):
    """numpy/torch scalars and arrays in a configuration, as JSON values."""
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return convert()
            except Exception:
                pass
    raise TypeError(
        "%s is not a value a sweep configuration can hold" % type(value).__name__
    )


def sweep(sweep, entity=None, project=None, prior_runs=None):
    """Submit a sweep and return its id, as W&B's `wandb.sweep` does.

    `sweep` is the configuration (a dict, or a function returning one) or
    the path of a .yaml, .yml or .json file. Raises NoDaemon when no sweepd runs, SweepConfigError
    (with the checker's messages) when the configuration is invalid or
    rejected.
    """
    if prior_runs:
        warn("prior_runs is ignored: sweepd has no W&B runs to attach")
    sweepctl = find_sweepctl()
    _client.connect(then="sweep()").close()
    if callable(sweep):  # W&B accepts a function that returns the dict
        sweep = sweep()
    if isinstance(sweep, (str, os.PathLike)):
        path = os.fspath(sweep)
        if not os.path.isfile(path):
            raise Error("no sweep configuration file %s" % path)
        return _submit(sweepctl, path)
    if not isinstance(sweep, Mapping):
        raise TypeError(
            "sweep() takes a configuration dict or the path of a YAML or JSON file, not %s"
            % type(sweep).__name__
        )
    config = dict(sweep)
    if project:
        config["project"] = project
    if entity:
        config["entity"] = entity
    try:
        text = json.dumps(config, indent=2, default=_plain, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise SweepConfigError("the sweep configuration cannot be written as JSON: %s" % e)
    with tempfile.TemporaryDirectory(prefix="sweepd-") as folder:
        path = os.path.join(folder, _file_name(project or config.get("name")))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        return _submit(sweepctl, path)


def _submit(sweepctl, path):
    try:
        done = subprocess.run(
            [sweepctl, "submit", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as e:
        raise Error("cannot run %s: %s" % (sweepctl, e)) from None
    out = done.stdout.decode("utf-8", "replace")
    err = done.stderr.decode("utf-8", "replace")
    if done.returncode == 1:
        raise SweepConfigError(err.strip() or out.strip() or "the sweep was rejected")
    if done.returncode != 0:
        raise Error(
            "sweepctl submit failed (exit status %d): %s"
            % (done.returncode, err.strip() or out.strip())
        )
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if not lines or " " in lines[-1]:
        # "sweepd is not running on ...": it stopped since we asked.
        raise Error(
            "sweepctl submit gave no sweep id: %s" % (out.strip() or err.strip())
        )
    if err.strip():
        sys.stderr.write(err if err.endswith("\n") else err + "\n")
    sweep_id = lines[-1]
    warn("created sweep %s" % sweep_id)
    return sweep_id
