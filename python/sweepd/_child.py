"""The forked child of an agent: one function run, start to `os._exit`.

`run_child()` makes the child what sweepd expects of a run (a process group
of its own, stdin the agent's pipe, stdout and stderr its run folder's logs,
the run's environment) and resets sweepd's module state, so `init()` in the
function takes the same path as in a command run. `TeeWriter` stands in for
sys.stdout/sys.stderr: what the function prints goes both to the log and,
through a pipe, to the agent, which shows it where the caller sees output
(a notebook's cell).
"""

import io
import os
import signal
import sys
import traceback

from . import _run
from ._records import write_all


class TeeWriter(io.TextIOBase):
    """Line-buffered text stream writing each line both to `fd` (the run's
    log) and to `display_fd` (a pipe to the agent; dropped once the agent
    is gone)."""

    encoding = "utf-8"
    errors = "backslashreplace"
    # Past this many bytes without a newline, write all the same.
    LIMIT = 8192

    def __init__(self, fd, display_fd):
        super().__init__()
        self._fd = fd
        self._display = display_fd
        self._pending = bytearray()
        self.buffer = _BinaryTee(self)

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        self._pending += text.encode("utf-8", "backslashreplace")
        if "\n" in text or "\r" in text or len(self._pending) >= self.LIMIT:
            self.flush()
        return len(text)

    def write_bytes(self, data):
        self._pending += data
        self.flush()

    def flush(self):
        if not self._pending:
            return
        data = bytes(self._pending)
        del self._pending[:]
        try:
            write_all(self._fd, data)
        except OSError:
            pass
        if self._display is not None:
            try:
                write_all(self._display, data)
            except OSError:
                self._display = None

    def isatty(self):
        return False

    def fileno(self):
        return self._fd

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False

    @property
    def line_buffering(self):
        return True


class _BinaryTee:
    """`sys.stdout.buffer` for code that writes bytes."""

    def __init__(self, tee):
        self._tee = tee

    def write(self, data):
        self._tee.write_bytes(bytes(data))
        return len(data)

    def flush(self):
        self._tee.flush()

    def fileno(self):
        return self._tee.fileno()

    def isatty(self):
        return False


def _die_with_parent(parent_pid):
    """Ask the kernel to SIGKILL this child when the agent dies
    (PR_SET_PDEATHSIG), where libc allows; sweepd then sees the agent's
    connection close and records the run. Failure is ignored."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except Exception:
        return
    if os.getppid() != parent_pid:
        os._exit(1)  # the agent died before prctl took effect


def _call(function):
    """Call function(); its exit status as a process's."""
    try:
        function()
        return 0
    except SystemExit as e:  # RunStopped included: code 0
        code = e.code
        if code is None:
            return 0
        if isinstance(code, int) and not isinstance(code, bool):
            return code & 0xFF
        sys.stderr.write("%s\n" % (code,))
        return 1
    except BaseException as e:
        # The traceback from the function down, without this frame.
        traceback.print_exception(type(e), e, e.__traceback__.tb_next)
        return 1


def run_child(function, message, parent_pid, stdin_fd, out_fd, err_fd,
              display_out, display_err, close_fds):
    """Run `function` as the run `message` describes; never returns."""
    status = 1
    try:
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
        _die_with_parent(parent_pid)
        os.dup2(stdin_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in set(close_fds) | {stdin_fd, out_fd, err_fd}:
            if fd > 2:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for pair in message.get("env") or ():
            if isinstance(pair, (list, tuple)) and len(pair) == 2:
                os.environ[str(pair[0])] = str(pair[1])
        _run.reset_for_child(message.get("params"))
        sys.stdout = TeeWriter(1, display_out)
        sys.stderr = TeeWriter(2, display_err)
        # The caller (a notebook's kernel) may have handlers of its own.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        status = _call(function)
        try:
            _run.finish(exit_code=status)
        except BaseException:
            traceback.print_exc()
            status = status or 1
    except BaseException:
        try:
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        try:
            if _run._writer is not None:
                _run._writer.flush()
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
        except BaseException:
            pass
        # Never return into the caller's code (the notebook): leave now,
        # without atexit handlers or the parent's buffered output.
        os._exit(status)
