"""Metric records: turning a logged dict into one JSON line, and writing
those lines to file descriptor 1 in batches.

The trainer protocol (docs/protocol.md) reads each JSON object line on a
run's stdout as a record. `encode()` takes the fast path (the C encoder,
NaN refused) and only when that fails cleans the record: NaN and infinities
become null, objects with `.item()` (numpy and torch scalars) their value,
and anything else JSON cannot hold (an Image, a Table, a tensor of many
elements) is dropped with one warning per key.

`RecordWriter` writes each encoded line with `os.write(1, ...)` at once.
"""

import json
import math
import os
import sys
import threading
from collections.abc import Mapping

# The fast encoder: compact, ASCII (a line is always valid UTF-8), NaN/inf
# refused (they are not JSON), so a record holding one takes the cleaning path.
_encode_fast = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode

_DROP = object()

# Keys already warned about, once per process.
_warned = set()


def encode(record, quiet=False):
    """The record as one JSON line (str, no newline) and the record as kept.

    Returns (line, record): the record is the input itself on the fast path,
    else its cleaned copy (what the line says).
    """
    try:
        return _encode_fast(record), record
    except (TypeError, ValueError, OverflowError):
        pass
    cleaned = clean_dict(record, "", quiet)
    return _encode_fast(cleaned), cleaned


def clean_dict(record, prefix="", quiet=False):
    """A copy of `record` that JSON can hold: see the module's docstring."""
    out = {}
    for key, value in record.items():
        name = key if isinstance(key, str) else str(key)
        path = prefix + name
        kept = _clean(value, path, quiet)
        if kept is not _DROP:
            out[name] = kept
    return out


def _clean(value, path, quiet):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return clean_dict(value, path + ".", quiet)
    if isinstance(value, (list, tuple)):
        items = [_clean(v, path, True) for v in value]
        if any(v is _DROP for v in items):
            return _drop(value, path, quiet)
        return items
    item = getattr(value, "item", None)
    if callable(item):
        try:
            plain = item()
        except Exception:  # a tensor of more than one element, say
            return _drop(value, path, quiet)
        if plain is None or isinstance(plain, (bool, int, float, str)):
            return _clean(plain, path, quiet)
    return _drop(value, path, quiet)


def _drop(value, path, quiet):
    if not quiet and path not in _warned:
        _warned.add(path)
        warn(
            "dropped %r from wandb.log: %s is not a number sweepd can keep"
            % (path, type(value).__name__)
        )
    return _DROP


def warn(message):
    """One line on stderr, prefixed `sweepd: `."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write("sweepd: " + message + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def write_all(fd, data):
    """Write all of `data` to `fd` (a pipe may take it in parts)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class RecordWriter:
    """Writes record lines to one file descriptor (fd 1: the run's stdout),
    each at once: sweepd's early termination judges a run by what it has
    read, so a record must not wait in a buffer (a write to the run's log
    file costs a few microseconds). Before each write sys.stdout is
    flushed, so the user's prints and the records reach the file in the
    order they were made.
    """

    def __init__(self, fd=1):
        self._fd = fd
        self._lock = threading.Lock()
        self._broken = False

    def add(self, line):
        """Write one record line (bytes ending in a newline)."""
        with self._lock:
            if self._broken:
                return
            stdout = sys.stdout
            if stdout is not None:
                try:
                    stdout.flush()
                except (OSError, ValueError):
                    pass
            try:
                write_all(self._fd, line)
            except OSError:
                # The reader went away (sweepd was killed): nothing to tell.
                self._broken = True

    def flush(self):
        """Nothing waits: records are written as they are added."""
