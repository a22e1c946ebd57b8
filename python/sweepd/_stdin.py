"""The run's stdin, as sweepd writes it: a start line, later perhaps stop lines.

`StdinWatcher` reads file descriptor 0 on a daemon thread, so the main
thread never blocks on it: it keeps the start message (`{"type":"start",
...}`, whose params `init()` uses only when params.json is missing) and
remembers the reason of the first `{"type":"stop","reason":R}`.
"""

import json
import os
import threading


class StdinWatcher:
    def __init__(self, fd=0):
        self.fd = fd
        self.stop_reason = None
        self.start = None
        self.start_seen = threading.Event()
        self._thread = threading.Thread(
            target=self._read, name="sweepd-stdin", daemon=True
        )
        self._thread.start()

    def _read(self):
        pending = b""
        try:
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._message(line)
        except OSError:
            pass
        finally:
            # No start line is coming any more.
            self.start_seen.set()

    def _message(self, line):
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "start" and self.start is None:
            self.start = message
            self.start_seen.set()
        elif kind == "stop" and self.stop_reason is None:
            self.stop_reason = str(message.get("reason") or "user")
