"""What every Python end-to-end test needs: a world of its own.

A `World` is a temporary directory that is the HOME, the SWEEPS_HOME and the
working directory of everything a test starts, a real `sweepd` serving it
(optionally in a network namespace with only loopback up), an environment
for its processes (sweepd's binaries first on PATH, CUDA hidden, nothing of
the caller's W&B or sweepd settings), and the means to read what sweepd
recorded. Readiness is a greeting on the control socket, polled with a
bound; nothing waits by sleeping a fixed time.

Configuration (environment of the test process):
  SWEEPD_BIN_DIR   where sweepd and sweepctl are (default: target/debug)
  SWEEPD_MNIST_DIR the four MNIST files (default: what scripts/setup-trainer
                   fetched, ${XDG_DATA_HOME:-~/.local/share}/sweepd/mnist)
  SWEEPD_TEST_KEEP=1 keeps each world's directory (its path is printed)
"""

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.path.abspath(os.environ.get("SWEEPD_BIN_DIR") or os.path.join(ROOT, "target", "debug"))
SWEEPD = os.path.join(BIN_DIR, "sweepd")
SWEEPCTL = os.path.join(BIN_DIR, "sweepctl")
# The Python the tests run with is the venv's (tests/python/run).
PYTHON = sys.executable
TUTORIAL = os.path.realpath(os.path.join(ROOT, "..", "shared", "tutorial"))
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FINAL_STATES = {"finished", "failed", "killed", "crashed", "interrupted"}

# Bounds: how long anything may take before the test fails with what it saw.
READY_WITHIN = 30.0
STOP_WITHIN = 30.0

# The caller's variables that would reach into a world (another sweepd's
# home or settings, a sweep's run, W&B's settings): dropped.
_DROPPED_PREFIXES = ("SWEEP_", "SWEEPD_", "WANDB_", "XDG_", "JUPYTER_", "IPYTHON")
_DROPPED = {"SWEEPS_HOME", "SWEEPCTL", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
            "VIRTUAL_ENV", "CUDA_VISIBLE_DEVICES", "PYTHONUNBUFFERED"}


def mnist_dir():
    named = os.environ.get("SWEEPD_MNIST_DIR")
    if named:
        return os.path.realpath(named)
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.realpath(os.path.join(data_home, "sweepd", "mnist"))


def check_binaries():
    """A clear message when the binaries are not there."""
    missing = [p for p in (SWEEPD, SWEEPCTL) if not os.access(p, os.X_OK)]
    if missing:
        raise RuntimeError(
            "no %s: build sweepd first (cargo build), or set SWEEPD_BIN_DIR to the folder "
            "holding sweepd and sweepctl" % " and ".join(missing)
        )


def _tail(path, lines=80):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read().splitlines()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    cut = text[-lines:]
    head = "(last %d of %d lines)\n" % (len(cut), len(text)) if len(text) > lines else ""
    return head + "\n".join(cut)


_netns_prefix = None


def netns_prefix():
    """The command prefix that runs a program in a new network namespace
    with only loopback up: `unshare -n` as root, else `unshare -r -n` (a user
    namespace) where the kernel allows it. Fails, with what was tried,
    where neither is permitted: these tests are skip-free."""
    global _netns_prefix
    if _netns_prefix is not None:
        return _netns_prefix
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        raise AssertionError(
            "the network-namespace tests need `unshare` (util-linux) and `ip` (iproute2); "
            "scripts/setup-python installs them"
        )
    script = 'ip link set lo up && exec "$0" "$@"'
    tried = []
    for flags in (["-n"], ["-r", "-n"]):
        probe = ["unshare", *flags, "sh", "-c", script, "sh", "-c", "exit 0"]
        done = subprocess.run(probe, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode == 0:
            _netns_prefix = ["unshare", *flags, "sh", "-c", script]
            return _netns_prefix
        tried.append("unshare %s: %s" % (" ".join(flags), (done.stderr or done.stdout).strip()))
    raise AssertionError(
        "cannot run sweepd in a network namespace with only loopback up, which this test "
        "needs to show that no network connection is attempted (run the tests as root, or "
        "where unprivileged user namespaces are allowed): " + "; ".join(tried)
    )


class World:
    """A temporary HOME = SWEEPS_HOME = working directory, and its sweepd."""

    def __init__(self, name="test"):
        check_binaries()
        self.dir = os.path.realpath(tempfile.mkdtemp(prefix="sweepd-py-%s-" % name))
        self.home = self.dir
        self.daemon = None
        self.daemon_log = os.path.join(self.dir, "sweepd.log")
        self.daemon_rc = None
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in _DROPPED and not k.startswith(_DROPPED_PREFIXES)
        }
        self.env.update(
            HOME=self.dir,
            SWEEPS_HOME=self.dir,
            PATH=BIN_DIR + os.pathsep + os.path.dirname(PYTHON) + os.pathsep
            + os.environ.get("PATH", "/usr/bin:/bin"),
            # Hides every GPU from sweepd too (docs/gpus.md): runs on the CPU.
            CUDA_VISIBLE_DEVICES="",
            # No __pycache__ beside sources that are not the world's
            # (../shared/tutorial, the checkout).
            PYTHONDONTWRITEBYTECODE="1",
        )
        self.notes = []  # (title, text) shown when the test fails

    # -- the daemon -------------------------------------------------------
    def start_daemon(self, netns=False, extra=()):
        """Start sweepd for this world (in a network namespace with only
        loopback up, with `netns`) and wait until it answers."""
        argv = [SWEEPD, "--allow-root", "--settle", "100ms", *extra]
        if netns:
            argv = netns_prefix() + argv
        self._daemon_log_file = open(self.daemon_log, "ab")
        self.daemon = subprocess.Popen(
            argv,
            cwd=self.dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._daemon_log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()
        return self.daemon

    def socket_path(self):
        return os.path.join(self.home, "sweepd.sock")

    def wait_ready(self):
        """Until sweepd answers hello on its socket (bounded), or has died."""
        deadline = time.monotonic() + READY_WITHIN
        last = "no socket yet"
        while True:
            code = self.daemon.poll()
            if code is not None:
                raise AssertionError(
                    "sweepd exited with status %s before it was ready:\n%s"
                    % (code, _tail(self.daemon_log))
                )
            try:
                if self._hello():
                    return
            except OSError as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise AssertionError(
                    "sweepd did not answer on %s within %gs (%s):\n%s"
                    % (self.socket_path(), READY_WITHIN, last, _tail(self.daemon_log))
                )
            time.sleep(0.02)  # polling interval, not a synchronisation

    def _hello(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.socket_path())
            s.sendall(b'{"op":"hello","version":1}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    return False
                data += chunk
        return json.loads(data).get("type") == "hello"

    def stop_daemon(self):
        """SIGTERM, then wait (bounded); SIGKILL and fail if it hangs."""
        if self.daemon is None:
            return
        proc, self.daemon = self.daemon, None
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_WITHIN)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    raise AssertionError(
                        "sweepd did not stop within %gs of SIGTERM" % STOP_WITHIN
                    )
            self.daemon_rc = proc.returncode
        finally:
            self._daemon_log_file.close()

    def close(self, keep=False):
        """Stop sweepd (it must exit 0 on SIGTERM) and remove the directory
        (kept when asked, or when something failed)."""
        problem = None
        try:
            self.stop_daemon()
        except AssertionError as e:
            problem = e
        if problem is None and self.daemon_rc not in (None, 0):
            problem = AssertionError(
                "sweepd exited with status %s after SIGTERM:\n%s"
                % (self.daemon_rc, _tail(self.daemon_log))
            )
        if keep or problem is not None or os.environ.get("SWEEPD_TEST_KEEP") == "1":
            sys.stderr.write("\n(world kept: %s)\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problem is not None:
            raise problem

    # -- processes --------------------------------------------------------
    def run(self, argv, timeout=600, cwd=None, env=None, check=False):
        """Run argv in the world (its env and directory), output captured."""
        done = subprocess.run(
            argv,
            cwd=cwd or self.dir,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                "%s exited with status %d\n--- stdout\n%s\n--- stderr\n%s"
                % (" ".join(argv), done.returncode, done.stdout, done.stderr)
            )
        return done

    def sweepctl(self, *args, check=True, timeout=120):
        return self.run([SWEEPCTL, *args], check=check, timeout=timeout)

    # -- what sweepd recorded ---------------------------------------------
    def sweep_ids(self):
        folder = os.path.join(self.home, "sweeps")
        try:
            # sweepd makes a sweep's folder as .tmp-ID, then renames it.
            return sorted(n for n in os.listdir(folder) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def sweep_dir(self, sweep):
        return os.path.join(self.home, "sweeps", sweep)

    def run_dirs(self, sweep):
        runs = os.path.join(self.sweep_dir(sweep), "runs")
        try:
            names = sorted(n for n in os.listdir(runs) if n.isdigit())
        except FileNotFoundError:
            return []
        return [os.path.join(runs, n) for n in names]

    def status_json(self, sweep):
        done = self.sweepctl("status", sweep, "--json")
        return json.loads(done.stdout)

    def wait_runs_final(self, sweep, count, within=120.0):
        """Until the sweep has `count` runs, every one in a final state (as
        `sweepctl status --json` says), bounded; the status."""
        deadline = time.monotonic() + within
        while True:
            status = self.status_json(sweep)
            runs = status.get("runs") or []
            states = [r["summary"].get("state") for r in runs]
            if len(runs) >= count and all(s in FINAL_STATES for s in states):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(
                    "sweep %s: wanted %d runs in a final state within %gs, have %s"
                    % (sweep, count, within, states)
                )
            time.sleep(0.1)  # polling interval

    def metrics(self, run_dir):
        records = []
        with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    records.append(json.loads(line))
        return records

    def summary(self, run_dir):
        with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
            return json.load(f)

    def params(self, run_dir):
        with open(os.path.join(run_dir, "params.json"), encoding="utf-8") as f:
            return json.load(f)

    # -- data -------------------------------------------------------------
    def link_mnist(self):
        """MNIST/raw/ in the world's directory: symlinks to the four files."""
        source = mnist_dir()
        raw = os.path.join(self.dir, "MNIST", "raw")
        os.makedirs(raw, exist_ok=True)
        for name in MNIST_FILES:
            path = os.path.join(source, name)
            if not os.path.isfile(path):
                raise AssertionError(
                    "no MNIST file %s: run scripts/setup-trainer (or set SWEEPD_MNIST_DIR)" % path
                )
            os.symlink(path, os.path.join(raw, name))

    # -- failure reports --------------------------------------------------
    def note(self, title, text):
        self.notes.append((title, text))

    def diagnostics(self):
        parts = ["world: %s" % self.dir]
        for title, text in self.notes:
            parts.append("--- %s\n%s" % (title, text))
        parts.append("--- sweepd's log (%s)\n%s" % (self.daemon_log, _tail(self.daemon_log, 120)))
        for sweep in self.sweep_ids():
            try:
                status = self.sweepctl("status", sweep, check=False, timeout=30)
                parts.append("--- sweepctl status %s\n%s%s" % (sweep, status.stdout, status.stderr))
            except Exception as e:  # the report must not hide the failure
                parts.append("--- sweepctl status %s: %s" % (sweep, e))
            for run_dir in self.run_dirs(sweep):
                for name in ("summary.json", "stderr.log"):
                    path = os.path.join(run_dir, name)
                    if os.path.exists(path):
                        parts.append("--- %s\n%s" % (path, _tail(path, 40)))
        return "\n".join(parts)


@contextlib.contextmanager
def about(what):
    """Failures inside name `what` (a run's folder, say). Not subTest: a
    failed subTest does not reach `explained`."""
    try:
        yield
    except AssertionError as e:
        raise AssertionError("%s: %s" % (what, e)) from e


def explained(method):
    """A test method whose failure prints its world's diagnostics (sweepd's
    log, the sweeps' status, each run's stderr) before it propagates."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            world = getattr(self, "world", None)
            if world is not None:
                try:
                    text = world.diagnostics()
                except Exception as e:
                    text = "(no diagnostics: %s)" % e
                sys.stderr.write("\n===== %s: what the world shows\n%s\n=====\n" % (self.id(), text))
                world.keep = True
            raise

    return wrapper


class WorldTest:
    """Mixin for unittest.TestCase: self.world, made and closed per test
    (kept on disk when the test failed)."""

    world_name = "test"

    def setUp(self):
        super().setUp()
        self.world = World(self.world_name)
        self.world.keep = False
        self.addCleanup(lambda: self.world.close(keep=self.world.keep))
