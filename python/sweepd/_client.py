"""The control socket client: sweepd's home, connecting, JSON lines.

The home is `$SWEEPS_HOME`, else `~/.sweeps`; sweepd listens on
`HOME/sweepd.sock`. A client sends `{"op":"hello","version":1}` first and
expects `{"type":"hello","version":1,"pid":N}`; `busy` (too many
connections) is tried again for a while, `refused` is an error.
"""

import collections
import json
import os
import socket
import time

from .errors import CommError, Error, NoDaemon

VERSION = 1

# How long a busy sweepd is tried again (as sweepctl does).
BUSY_FOR = 15.0
# How long to wait for the answer to hello.
HELLO_TIMEOUT = 10.0


def home():
    """The sweeps home: $SWEEPS_HOME, else ~/.sweeps."""
    return os.environ.get("SWEEPS_HOME") or os.path.join(os.path.expanduser("~"), ".sweeps")


def socket_path(home_dir=None):
    return os.path.join(home_dir or home(), "sweepd.sock")


class Closed(CommError):
    """sweepd closed the connection."""


class Connection:
    """One connection to sweepd: send objects, read objects, line by line."""

    def __init__(self, sock):
        self.sock = sock
        self._partial = b""
        self._lines = collections.deque()

    def fileno(self):
        return self.sock.fileno()

    def send(self, message):
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Closed("cannot talk to sweepd: %s" % e) from None

    def take_pending(self):
        """The messages already read and not yet taken (no reading)."""
        messages = list(self._lines)
        self._lines.clear()
        return messages

    def receive(self, timeout=None):
        """The next message, waiting at most `timeout` seconds (None: as
        long as it takes). Raises Closed when sweepd hangs up."""
        while not self._lines:
            self.sock.settimeout(timeout)
            try:
                self._fill()
            except socket.timeout:
                raise CommError("no answer from sweepd within %gs" % timeout) from None
            finally:
                self.sock.settimeout(None)
        return self._lines.popleft()

    def receive_ready(self):
        """Read what the socket holds (call when a selector says it is
        readable) and return the messages now complete."""
        self._fill()
        return self.take_pending()

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            raise Closed("sweepd closed the connection")
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                self._lines.append(message)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _connect_once(path):
    """A greeted Connection, None when nothing listens, or the busy text."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        sock.close()
        return None
    except OSError as e:
        sock.close()
        raise CommError("cannot connect to %s: %s" % (path, e)) from None
    conn = Connection(sock)
    try:
        conn.send({"op": "hello", "version": VERSION})
        answer = conn.receive(HELLO_TIMEOUT)
    except CommError:
        conn.close()
        raise
    kind = answer.get("type")
    if kind == "hello":
        if answer.get("version") != VERSION:
            conn.close()
            raise CommError(
                "sweepd speaks control protocol %s, this package %d: restart sweepd"
                % (answer.get("version"), VERSION)
            )
        return conn
    conn.close()
    if kind == "busy":
        return str(answer.get("message") or "sweepd is busy")
    if kind == "refused":
        raise Error("sweepd refused: %s" % answer.get("message"))
    raise CommError("unexpected answer from sweepd: %r" % (answer,))


def connect(home_dir=None, then="sweep()"):
    """Connect to the sweepd of `home_dir` (default: home()) and greet it.

    Raises NoDaemon when none answers (its message ends "then call THEN
    again").
    """
    home_dir = home_dir or home()
    path = socket_path(home_dir)
    start = time.monotonic()
    wait = 0.05
    while True:
        result = _connect_once(path)
        if isinstance(result, Connection):
            return result
        if result is None:
            raise NoDaemon(no_daemon_message(home_dir, then))
        if time.monotonic() - start >= BUSY_FOR:
            raise CommError(result)
        time.sleep(wait)  # sweepd asked to be tried again shortly
        wait = min(wait * 2, 1.0)


def no_daemon_message(home_dir, then="sweep()"):
    return (
        "no sweepd runs for %s (no answer on %s): start one with `sweepd &` "
        "(or `sweepctl service install` for a systemd user service), then call "
        "%s again" % (home_dir, socket_path(home_dir), then)
    )
