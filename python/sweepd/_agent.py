"""`agent()`: serve a function sweep, W&B's `wandb.agent(sweep_id, function=train)`.

The agent speaks docs/agents.md over sweepd's control socket: it asks for a
run, forks a child that calls `function()` with the run's environment (see
_child.py), relays sweepd's stop and signal messages to the child, copies the
child's output to the caller's sys.stdout/sys.stderr, and says how the run
ended. sweepd proposes, places and records the runs; the agent only runs them.

Why fork, and why it is safe for CUDA: each run must be a fresh process
(its own process group, its own CUDA_VISIBLE_DEVICES, killable), and a
notebook's functions cannot be pickled for a spawned interpreter, so the
child is forked (never multiprocessing). A forked child cannot use CUDA if
the parent initialised it; `import sweepd` sets
PYTORCH_NVML_BASED_CUDA_CHECK=1, so the tutorial's `torch.cuda.is_available()`
in the caller asks NVML and leaves CUDA uninitialised, and before each fork
the agent refuses to go on if CUDA was initialised all the same.
"""

import codecs
import errno
import json
import os
import selectors
import signal
import sys
import time
import warnings

from . import _client
from ._child import run_child
from ._records import warn
from .errors import CommError, Error

# The wait status of a child that someone else's SIGCHLD handler reaped
# (a real one is never negative).
LOST = -1

# How long a run interrupted by the user (KeyboardInterrupt) gets after
# SIGTERM before SIGKILL.
TERM_GRACE = 5.0
# How long, after a run ended, its output pipes are read for what is left.
DRAIN_FOR = 2.0


def agent(sweep_id, function=None, entity=None, project=None, count=None, **kwargs):
    """Run `function()` for runs of the function sweep `sweep_id`, each in a
    forked child, until `count` runs have run (None: until sweepd says the
    sweep is done). Returns None.

    W&B's signature and order; `entity`, `project` and W&B's other options
    (forward_signals, term_timeout, ...) are accepted and have no effect:
    sweepd's own settings (`sweepd.timeout`, `sweepd.retry`) govern runs."""
    if function is None:
        raise Error(
            "agent() needs function=: sweepd runs program and command sweeps itself, "
            "and an agent that runs a command for each run is `sweepctl agent SWEEP -- COMMAND`"
        )
    if not callable(function):
        raise TypeError("function must be callable, not %s" % type(function).__name__)
    _check_cuda()  # before a run is handed out, and again before each fork
    try:
        import ctypes  # noqa: F401  (loaded here, once, not in each child)
    except ImportError:
        pass
    conn = _client.connect(then="agent()")
    try:
        conn.send({"op": "agent", "sweep": sweep_id, "command": None})
        answer = _answer(conn, ("agent",))
        sweep = answer.get("sweep") or sweep_id
        ran = 0
        while count is None or ran < count:
            conn.send({"op": "next"})
            answer = _answer(conn, ("run", "done"))
            if answer.get("type") == "done":
                warn(str(answer.get("message") or "sweep %s is done" % sweep))
                break
            _run_one(conn, function, answer)
            ran += 1
    finally:
        conn.close()


def _answer(conn, wanted):
    """The next message of a wanted type; `refused` raises; others are
    skipped (a stop for a run that has ended, say)."""
    while True:
        try:
            message = conn.receive()
        except _client.Closed:
            raise CommError("sweepd went away (it closed the agent's connection)") from None
        kind = message.get("type")
        if kind == "refused":
            raise Error(str(message.get("message") or "sweepd refused the agent"))
        if kind in wanted:
            return message


def _check_cuda():
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        initialized = torch.cuda.is_initialized()
    except Exception:
        return
    if initialized:
        raise Error(
            "CUDA was initialised in this process (a tensor was put on the GPU outside "
            "the function), so runs cannot get a fresh GPU context in their forked "
            "process: keep all CUDA work inside the function, and restart the kernel"
        )


def _fork():
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a multi-threaded process (any
        # notebook kernel) may deadlock the child; the child resets what it
        # uses (sweepd's state, sys.stdout/stderr) and touches none of the
        # parent's threads' locks.
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _value(value):
    if isinstance(value, float):
        return "%.4g" % value
    return json.dumps(value)


def _short(params, limit=100):
    """The run's parameters in a line of at most `limit` characters."""
    text = ", ".join("%s=%s" % (k, _value(v)) for k, v in (params or {}).items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _run_one(conn, function, message):
    run = str(message.get("run"))
    run_dir = str(message.get("run_dir"))
    _check_cuda()
    os.makedirs(run_dir, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    opened = []
    try:
        out_fd = os.open(os.path.join(run_dir, "stdout.log"), flags, 0o644)
        opened.append(out_fd)
        err_fd = os.open(os.path.join(run_dir, "stderr.log"), flags, 0o644)
        opened.append(err_fd)
        for _ in range(3):
            opened.extend(os.pipe())
        stdin_r, stdin_w, show_out_r, show_out_w, show_err_r, show_err_w = opened[2:]
        parent = os.getpid()
        pid = _fork()
    except BaseException:
        for fd in opened:
            os.close(fd)
        raise
    if pid == 0:
        run_child(function, message, parent, stdin_r, out_fd, err_fd,
                  show_out_w, show_err_w,
                  [conn.fileno(), stdin_w, show_out_r, show_err_r])
    try:
        os.setpgid(pid, pid)  # the child does it too; whichever comes first
    except OSError:
        pass
    for fd in (out_fd, err_fd, stdin_r, show_out_w, show_err_w):
        os.close(fd)
    child = _Child(pid, stdin_w, show_out_r, show_err_r)
    try:
        child.feed(str(message.get("start_line") or "").encode("utf-8"))
        conn.send({"op": "started", "run": run, "pid": pid})
        warn("run %s started (%s)" % (run, _short(message.get("params"))))
        status = child.watch(conn, run)
    except KeyboardInterrupt:
        # The user stopped the agent (a notebook's stop button): end the
        # run, say so, and let the interrupt go on.
        status = child.terminate()
        try:
            _send_exited(conn, run, status)
        except CommError:
            pass
        raise
    except _client.Closed:
        child.kill()
        raise CommError(
            "sweepd went away while run %s ran (it closed the agent's connection); "
            "the run was killed" % run
        ) from None
    except BaseException:
        child.kill()
        raise
    else:
        _send_exited(conn, run, status)
    finally:
        child.close()


def _send_exited(conn, run, status):
    message = {"op": "exited", "run": run}
    # Neither code nor signal: sweepd records the status as lost.
    code = 0 if status == LOST else os.waitstatus_to_exitcode(status)
    if status == LOST:
        text = "exit status lost (the child was reaped by another handler)"
    elif code < 0:
        message["signal"] = -code
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal %d" % -code
        text = "killed by %s" % name
    else:
        message["code"] = code
        text = "exit %d" % code
    try:
        conn.send(message)
    finally:
        warn("run %s ended: %s" % (run, text))


def _pidfd(pid):
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError:
        return None


class _Child:
    """The agent's side of one forked run: its pid, the pipe to its stdin,
    the pipes its output comes back on, and (where the kernel has them) a
    pidfd that becomes readable when it exits."""

    def __init__(self, pid, stdin_w, show_out_r, show_err_r):
        self.pid = pid
        self.stdin = stdin_w
        os.set_blocking(stdin_w, False)
        self._stdin_pending = b""
        self.outputs = {
            show_out_r: ("stdout", codecs.getincrementaldecoder("utf-8")("replace")),
            show_err_r: ("stderr", codecs.getincrementaldecoder("utf-8")("replace")),
        }
        self.pidfd = _pidfd(pid)
        self.status = None
        self.sel = selectors.DefaultSelector()
        for fd in self.outputs:
            self.sel.register(fd, selectors.EVENT_READ, "output")
        if self.pidfd is not None:
            self.sel.register(self.pidfd, selectors.EVENT_READ, "exit")

    # -- stdin ------------------------------------------------------------
    def feed(self, data):
        """Queue bytes for the child's stdin (written as the pipe takes them)."""
        if self.stdin is None:
            return
        self._stdin_pending += data
        self._write_stdin()

    def _write_stdin(self):
        while self._stdin_pending and self.stdin is not None:
            try:
                n = os.write(self.stdin, self._stdin_pending)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: the child closed its stdin or ended
                self._stdin_pending = b""
                break
            self._stdin_pending = self._stdin_pending[n:]
        wanted = bool(self._stdin_pending) and self.stdin is not None
        registered = self.stdin in self.sel.get_map() if self.stdin is not None else False
        if wanted and not registered:
            self.sel.register(self.stdin, selectors.EVENT_WRITE, "stdin")
        elif registered and not wanted:
            self.sel.unregister(self.stdin)

    # -- output -----------------------------------------------------------
    def _read_output(self, fd):
        try:
            data = os.read(fd, 65536)
        except OSError as e:
            if e.errno == errno.EAGAIN:
                return True
            data = b""
        name, decoder = self.outputs[fd]
        text = decoder.decode(data, final=not data)
        if text:
            stream = getattr(sys, name)
            if stream is not None:
                try:
                    stream.write(text)
                    stream.flush()
                except (OSError, ValueError):
                    pass
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            del self.outputs[fd]
        return bool(data)

    # -- waiting ----------------------------------------------------------
    def _reap(self, block):
        if self.status is not None:
            return True
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped by someone else's handler
            pid, status = self.pid, LOST
        if pid == 0:
            return False
        self.status = status
        if self.pidfd is not None:
            self.sel.unregister(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        return True

    def watch(self, conn, run):
        """Serve the child until it exits; its wait status."""
        self.sel.register(conn.sock, selectors.EVENT_READ, "sweepd")
        try:
            self._messages(conn.take_pending(), run)
            while self.status is None:
                timeout = None if self.pidfd is not None else 0.05
                for key, _ in self.sel.select(timeout):
                    if key.data == "sweepd":
                        self._messages(conn.receive_ready(), run)
                    elif key.data == "output":
                        self._read_output(key.fd)
                    elif key.data == "stdin":
                        self._write_stdin()
                    elif key.data == "exit":
                        self._reap(block=True)
                if self.pidfd is None:
                    self._reap(block=False)
        finally:
            self.sel.unregister(conn.sock)
        self._finish_group()
        return self.status

    def _messages(self, messages, run):
        for message in messages:
            if message.get("run") not in (None, run):
                continue
            kind = message.get("type")
            if kind == "stop":
                line = {"type": "stop", "reason": message.get("reason") or "user"}
                self.feed((json.dumps(line) + "\n").encode("utf-8"))
            elif kind == "signal":
                self.signal(message.get("signal"))
            elif kind == "refused":
                warn("sweepd refused: %s" % message.get("message"))

    def signal(self, which):
        if isinstance(which, str):
            name = which.upper()
            which = getattr(signal, name if name.startswith("SIG") else "SIG" + name, None)
        if which is None:
            return
        try:
            os.killpg(self.pid, int(which))
        except (ProcessLookupError, PermissionError):
            pass

    def _finish_group(self):
        """After the child's exit: kill what is left of its process group
        (so nothing holds the output pipes open), then copy what the pipes
        still hold, for a bounded time (something that left the group may
        hold them)."""
        self.signal(signal.SIGKILL)
        if self.stdin is not None and self.stdin in self.sel.get_map():
            self.sel.unregister(self.stdin)
        deadline = time.monotonic() + DRAIN_FOR
        while self.outputs:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in self.sel.select(left):
                if key.data == "output":
                    self._read_output(key.fd)

    def kill(self):
        """SIGKILL the run's group and reap the child."""
        self.signal(signal.SIGKILL)
        self._reap(block=True)

    def terminate(self):
        """SIGTERM the run's group, SIGKILL after TERM_GRACE; its status."""
        try:
            self.signal(signal.SIGTERM)
            deadline = time.monotonic() + TERM_GRACE
            while not self._reap(block=False):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if self.pidfd is not None:
                    waiter = selectors.DefaultSelector()
                    waiter.register(self.pidfd, selectors.EVENT_READ)
                    waiter.select(left)
                    waiter.close()
                else:
                    time.sleep(min(0.05, left))
        finally:
            self.kill()
        return self.status

    def close(self):
        for fd in list(self.outputs):
            os.close(fd)
        self.outputs.clear()
        for fd in (self.stdin, self.pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.stdin = None
        self.pidfd = None
        self.sel.close()
