"""Speak sweepd's trainer protocol (version 1) from Python, standard library only.

    import sweepd_trainer as sweep

    params = sweep.init()                 # the run's parameters, a dict
    for epoch in range(params["epochs"]):
        loss = train_one_epoch(params)
        sweep.log({"loss": loss, "epoch": epoch})
        if sweep.should_stop():           # early termination, a user's stop, a shutdown
            break

The protocol itself (docs/protocol.md): sweepd writes JSON lines to the run's
stdin, first {"type": "start", "protocol": 1, "sweep_id", "run_id", "params"},
later perhaps {"type": "stop", "reason": ...}; the run prints JSON objects on
stdout, one per line, as metric records; any other output is plain log.

Outside sweepd (no $SWEEP_RUN_ID in the environment), init() reads no stdin:
it returns the parameters in $SWEEP_RUN_DIR/params.json if there is one, else {}.
"""

import json
import os
import sys
import threading

PROTOCOL = 1

_lock = threading.Lock()
_stop_reason = None
_started = None


def init():
    """Read the start message and return the run's parameters (a dict).

    Starts a background thread that watches stdin for a stop message.
    Calling init() again returns the same parameters.
    """
    global _started
    if _started is not None:
        return _started["params"]
    message = None
    # Only under sweepd is a start message coming: elsewhere stdin may be a
    # pipe that never says anything, and reading it would hang.
    if os.environ.get("SWEEP_RUN_ID"):
        line = sys.stdin.readline()
        if line:
            try:
                message = json.loads(line)
            except ValueError:
                message = None
    if isinstance(message, dict) and message.get("type") == "start":
        if message.get("protocol") != PROTOCOL:
            raise RuntimeError(
                "sweepd speaks trainer protocol %r; this helper speaks %d"
                % (message.get("protocol"), PROTOCOL)
            )
        _started = message
        threading.Thread(target=_watch_stdin, name="sweepd-stdin", daemon=True).start()
    else:
        _started = {"params": _params_from_run_dir()}
    return _started["params"]


def log(metrics, step=None):
    """Record metrics, like wandb.log: {"loss": 0.31, "epoch": 1}.

    `step` (an integer) is written as "_step". Each call is one stdout line.
    """
    record = dict(metrics)
    if step is not None:
        record["_step"] = int(step)
    line = json.dumps(record, default=_plain)
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def should_stop():
    """True once sweepd has asked the run to stop; finish the epoch and exit."""
    return _stop_reason is not None


def stop_reason():
    """Why sweepd asked the run to stop ("early_terminate", "user", "shutdown",
    "timeout"), or None."""
    return _stop_reason


def sweep_id():
    return (_started or {}).get("sweep_id") or os.environ.get("SWEEP_ID")


def run_id():
    return (_started or {}).get("run_id") or os.environ.get("SWEEP_RUN_ID")


def _plain(value):
    """numpy and torch scalars (anything with .item()) as plain numbers."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _watch_stdin():
    global _stop_reason
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("type") == "stop":
            _stop_reason = message.get("reason") or "user"


def _params_from_run_dir():
    run_dir = os.environ.get("SWEEP_RUN_DIR")
    if run_dir:
        path = os.path.join(run_dir, "params.json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
    return {}
