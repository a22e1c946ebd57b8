"""`Run` and the module-level `init()`, `log()`, `finish()`.

A run takes one of two paths, chosen by the environment:

- **Under sweepd** (`SWEEP_RUN_ID` is set: a command run, or a function run
  in an agent's child, whose environment is the same): the parameters come
  from `$SWEEP_RUN_DIR/params.json`; a daemon thread watches stdin for stop
  lines; `log()` writes each record as a JSON line to file descriptor 1 (at
  once) and, once sweepd asked the run to stop, ends it with
  `RunStopped`; `finish()` writes `$SWEEP_RUN_DIR/wandb-summary.json`.
- **Outside any sweep**: W&B's `mode="disabled"`. The run works (its config
  holds `init(config=...)`, its summary the last logged values, in memory)
  and writes nothing anywhere.
"""

import atexit
import json
import os
import random
import string
import sys
import tempfile
import time
from collections.abc import Mapping

from . import _records
from ._config import Config, Summary, as_mapping
from ._records import RecordWriter, encode, warn
from ._stdin import StdinWatcher
from .errors import RunStopped, UsageError

# Process state. An agent's child resets it (`reset_for_child`).
_current = None  # the open Run, or None
_writer = None  # RecordWriter for fd 1, made at the first run under sweepd
_watcher = None  # StdinWatcher, started at the first run under sweepd
_params = None  # the sweep's parameters, read once per process
_preset_params = None  # the parameters an agent handed its child
_placeholder = None  # (Config, Summary) for wandb.config/summary before init

_NOT_STARTED = "call sweepd.init() before sweepd.log()"

# How long init() waits for the start line when params.json is missing.
_START_WAIT = 5.0


def current():
    """The open run, or None (`sweepd.run`)."""
    return _current


def placeholder():
    """The (Config, Summary) that `sweepd.config`/`summary` are before init."""
    global _placeholder
    if _placeholder is None:
        _placeholder = (Config(), Summary())
    return _placeholder


def in_sweep():
    return bool(os.environ.get("SWEEP_RUN_ID"))


def reset_for_child(params=None):
    """Fresh module state in an agent's child: no run, no threads inherited
    from the parent (they do not survive fork), `params` as handed out."""
    global _current, _writer, _watcher, _params, _preset_params, _placeholder
    _current = None
    _writer = None
    _watcher = None
    _params = None
    _preset_params = params
    _placeholder = None
    _records._warned.clear()


def _random_id():
    alphabet = string.ascii_lowercase + string.digits
    return "".join(random.SystemRandom().choice(alphabet) for _ in range(8))


def _sweep_params():
    """The run's parameters: params.json, else what the agent handed over,
    else the start line's (read by the stdin thread)."""
    global _params
    if _params is not None:
        return _params
    params = None
    run_dir = os.environ.get("SWEEP_RUN_DIR")
    if run_dir:
        try:
            with open(os.path.join(run_dir, "params.json"), encoding="utf-8") as f:
                params = json.load(f)
        except FileNotFoundError:
            pass
    if params is None and _preset_params is not None:
        params = _preset_params
    if params is None and _watcher is not None:
        _watcher.start_seen.wait(_START_WAIT)
        if _watcher.start is not None:
            params = _watcher.start.get("params")
    if not isinstance(params, dict):
        params = {}
    _params = params
    return params


class Run:
    """One run, as `wandb.init()` returns it; also a context manager."""

    def __init__(
        self,
        config=None,
        sweep_params=None,
        writer=None,
        run_id=None,
        name=None,
        project=None,
        entity=None,
        tags=None,
        notes=None,
        group=None,
        job_type=None,
        dir=None,
        quiet=False,
    ):
        self.config = Config(config, sweep_params)
        self.summary = Summary()
        self.id = run_id or _random_id()
        self.name = name or self.id
        self.sweep_id = os.environ.get("SWEEP_ID") if writer is not None else None
        self.project = project
        self.entity = entity
        self.tags = tuple(tags or ())
        self.notes = notes
        self.group = group
        self.job_type = job_type
        self.url = None
        self.start_time = time.time()
        self.disabled = writer is None
        self.offline = False
        self.resumed = False
        self.step = 0
        if writer is not None:
            self.dir = os.environ.get("SWEEP_RUN_DIR") or os.getcwd()
        else:
            self.dir = dir or tempfile.gettempdir()
        self._writer = writer
        self._quiet = quiet
        self._pending = None
        self._pending_step = None
        self._finished = False
        self._told_stop = False

    @property
    def path(self):
        return "/".join(p for p in (self.entity, self.project, self.id) if p)

    # -- logging ----------------------------------------------------------
    def log(self, data, step=None, commit=None, sync=None):
        """Record a dict of metrics, like wandb.log.

        `commit=False` merges `data` into a pending record written by the
        next committed log; `step` is written as "_step".
        """
        if self._finished:
            raise UsageError(_NOT_STARTED)
        if type(data) is not dict and not isinstance(data, Mapping):
            raise ValueError("wandb.log takes a dict, not %s" % type(data).__name__)
        if commit is False:
            if self._pending is None:
                self._pending = {}
            self._pending.update(data)
            if step is not None:
                self._pending_step = step
            return
        record = data
        if self._pending is not None:
            record = self._pending
            record.update(data)
            if step is None:
                step = self._pending_step
            self._pending = None
            self._pending_step = None
        if step is not None:
            if record is data:
                record = dict(data)
            record["_step"] = int(step)
        self._commit(record)
        # The stop check costs one global read and one attribute read.
        watcher = _watcher
        if watcher is not None and watcher.stop_reason is not None:
            self._stop(watcher.stop_reason)

    def _commit(self, record):
        """Write one record (under sweepd) and keep its values as the
        summary's last logged ones."""
        self.step += 1
        writer = self._writer
        if writer is None:
            self.summary._logged.update(record)
            return
        line, kept = encode(record, self._quiet)
        writer.add((line + "\n").encode("utf-8"))
        self.summary._logged.update(kept)

    def _stop(self, reason):
        if self._writer is not None:
            self._writer.flush()
        if not self._told_stop:
            self._told_stop = True
            warn("this run was asked to stop (%s); ending it" % reason)
        raise RunStopped(reason)

    # -- ending -----------------------------------------------------------
    def finish(self, exit_code=None, quiet=None):
        """Write pending records and the summary; the run is then closed."""
        global _current
        if self._finished:
            return
        self._finished = True
        pending, self._pending = self._pending, None
        if pending is not None:
            # W&B commits what `commit=False` left pending.
            if self._pending_step is not None:
                pending["_step"] = int(self._pending_step)
            self._commit(pending)
        if _current is self:
            _current = None
        if self._writer is not None:
            self._writer.flush()
            self._write_summary()

    def _write_summary(self):
        run_dir = os.environ.get("SWEEP_RUN_DIR")
        if not run_dir:
            return
        line, _ = encode(self.summary.as_dict(), quiet=True)
        path = os.path.join(run_dir, "wandb-summary.json")
        tmp = "%s.tmp-%d" % (path, os.getpid())
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            warn("cannot write %s: %s" % (path, e))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        failed = exc_type is not None and not (
            issubclass(exc_type, SystemExit) and exc.code in (0, None)
        )
        self.finish(exit_code=1 if failed else 0)
        return False

    # -- accepted for W&B's sake ------------------------------------------
    def define_metric(self, *args, **kwargs):
        """Accepted; sweepd reads the sweep's metric from the sweep file."""

    def watch(self, *args, **kwargs):
        """Accepted; sweepd keeps no gradients."""

    def unwatch(self, *args, **kwargs):
        pass

    def save(self, *args, **kwargs):
        """Accepted; files stay where the run wrote them."""
        return []

    def alert(self, title="", text="", level=None, wait_duration=None):
        alert(title, text, level, wait_duration)

    def log_artifact(self, *args, **kwargs):
        return None

    def use_artifact(self, *args, **kwargs):
        return None

    def log_code(self, *args, **kwargs):
        return None

    def mark_preempting(self):
        pass

    def __repr__(self):
        return "<sweepd Run %s%s>" % (self.id, " (disabled)" if self.disabled else "")


def init(
    config=None,
    project=None,
    entity=None,
    name=None,
    reinit=None,
    mode=None,
    tags=None,
    notes=None,
    group=None,
    job_type=None,
    dir=None,
    settings=None,
    id=None,
    config_exclude_keys=None,
    config_include_keys=None,
    quiet=False,
    **kwargs
):
    """Start a run (W&B's signature; `mode`, `settings` and other cloud
    options are accepted and have no effect). Returns the `Run`.

    While a run is open, init() returns it, unless `reinit` asks for a new
    one (then the open one is finished first).
    """
    global _current, _writer, _watcher
    if _current is not None:
        if reinit in (None, False, "default", "return_previous"):
            return _current
        _current.finish()
    defaults = as_mapping(config)
    if config_include_keys:
        defaults = {k: v for k, v in defaults.items() if k in config_include_keys}
    if config_exclude_keys:
        defaults = {k: v for k, v in defaults.items() if k not in config_exclude_keys}
    writer = None
    params = None
    run_id = id
    if in_sweep():
        if _writer is None:
            _writer = RecordWriter(1)
        if _watcher is None:
            _watcher = StdinWatcher(0)
        writer = _writer
        params = _sweep_params()
        run_id = os.environ.get("WANDB_RUN_ID") or id
    _current = Run(
        config=defaults,
        sweep_params=params,
        writer=writer,
        run_id=run_id,
        name=name,
        project=project or os.environ.get("WANDB_PROJECT"),
        entity=entity or os.environ.get("WANDB_ENTITY"),
        tags=tags,
        notes=notes,
        group=group,
        job_type=job_type,
        dir=dir,
        quiet=quiet,
    )
    return _current


def log(data, step=None, commit=None, sync=None):
    """`run.log` of the open run; before init (or after finish) an error."""
    run = _current
    if run is None:
        raise UsageError(_NOT_STARTED)
    run.log(data, step, commit)


def finish(exit_code=None, quiet=None):
    """Finish the open run, if any."""
    if _current is not None:
        _current.finish(exit_code)


def watch(*args, **kwargs):
    """Accepted; sweepd keeps no gradients."""


def unwatch(*args, **kwargs):
    pass


def save(*args, **kwargs):
    """Accepted; files stay where the run wrote them."""
    return []


def define_metric(*args, **kwargs):
    """Accepted; sweepd reads the sweep's metric from the sweep file."""


def log_artifact(*args, **kwargs):
    return None


def use_artifact(*args, **kwargs):
    return None


def alert(title="", text="", level=None, wait_duration=None):
    """W&B sends an alert to Slack or email; sweepd prints it to stderr."""
    stream = sys.stderr
    if stream is not None:
        stream.write("sweepd alert: %s: %s\n" % (title, text))
        stream.flush()


@atexit.register
def _at_exit():
    # A script that never called finish() (or ended by RunStopped): write
    # its records and summary as W&B would.
    try:
        if _current is not None:
            _current.finish()
        if _writer is not None:
            _writer.flush()
    except Exception:
        pass
