"""A W&B training script as a command run: `import wandb`, wandb.init,
wandb.config, wandb.log, with no change for sweepd.

The sweep names `program: train.py` and a command of W&B's macros with the
venv's python; the script reads its hyperparameters from wandb.config (its
init(config=...) defaults are overridden by the sweep's). Two cases:

- default (`sweepd.wandb` unset): the daemon's `wandb` shim makes the
  script's `import wandb` the sweepd package: the parameters are in
  wandb.config, the logged values in metrics.jsonl, and no `wandb/` folder
  (W&B's offline runs) is written;
- `sweepd: {wandb: offline}`: the real wandb package (pinned in
  scripts/setup-python), offline: the same checks, plus W&B's own
  `wandb/offline-run-*` folder for each run in the run's directory.

No network: sweepd (and so every run) runs in a network namespace with only
loopback up, and each run's Python has an audit hook (a sitecustomize.py on
the PYTHONPATH that the sweep's `sweepd.env` gives) that writes down every
connect() to an AF_INET/AF_INET6 address that is not loopback. The file must
stay empty; the hook shows that it was armed in each run.
"""

import glob
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import PYTHON, WorldTest, about, explained, netns_prefix  # noqa: E402

TRAIN = '''\
import json, os, socket, sys
import wandb

run = wandb.init(config={"lr": 0.1, "epochs": 2})
lr = wandb.config.lr
epochs = wandb.config.epochs
loss = 1.0
for epoch in range(epochs):
    loss = loss * (1.0 - lr)
    wandb.log({"loss": loss, "epoch": epoch, "lr_seen": lr, "epochs_seen": epochs})
wandb.summary["final_loss"] = loss
wandb.finish()

# What the test checks beyond the records: which wandb this was, and the
# network this process saw (a namespace of its own, loopback only).
os.makedirs("facts", exist_ok=True)
with open(os.path.join("facts", os.environ["WANDB_RUN_ID"] + ".json"), "w") as f:
    json.dump({
        "wandb_file": wandb.__file__,
        "wandb_version": getattr(wandb, "__version__", None),
        "netns": os.readlink("/proc/self/ns/net"),
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
        "argv": sys.argv,
    }, f)
'''

# Imported by every Python process of a run (site imports `sitecustomize`
# from the PYTHONPATH). Never raises: an audit hook that raises would break
# the run it watches.
SITECUSTOMIZE = '''\
import ipaddress
import os
import socket
import sys

_OUT = os.environ.get("NETWATCH_OUT")
_ARMED = os.environ.get("NETWATCH_ARMED")
_ALL = os.environ.get("NETWATCH_ALL")


def _loopback(host):
    if not isinstance(host, str):
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a name, not an address: not known to be loopback
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _append(path, line):
    if path:
        with open(path, "a") as f:
            f.write(line + "\\n")


def _hook(event, args):
    if event != "socket.connect":
        return
    try:
        sock, address = args
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        host = address[0] if isinstance(address, tuple) else address
        line = "%d %s %r" % (os.getpid(), sock.family.name, address)
        _append(_ALL, line)
        if not _loopback(host):
            _append(_OUT, line)
    except Exception as e:
        try:
            _append(_OUT, "hook error in %d: %r" % (os.getpid(), e))
        except Exception:
            pass


if _OUT:
    sys.addaudithook(_hook)
    _append(_ARMED, "%d %s" % (os.getpid(), " ".join(sys.argv) or "-"))
'''

SWEEP = '''\
program: train.py
method: grid
metric:
  name: loss
  goal: minimize
command: ["${{env}}", {python}, "${{program}}", "${{args}}"]
parameters:
  lr:
    values: [0.25, 0.5]
  epochs:
    value: 3
sweepd:
  gpus_per_run: 0
  env:
    PYTHONPATH: {audit}
    NETWATCH_OUT: {out}
    NETWATCH_ARMED: {armed}
    NETWATCH_ALL: {all}
{extra}'''

RUNS = 2


class WandbCommandTest(WorldTest, unittest.TestCase):
    world_name = "wandb"

    def write_audit(self):
        """The audit hook's folder (for PYTHONPATH) and its three files."""
        world = self.world
        self.audit = os.path.join(world.dir, "audit")
        os.makedirs(self.audit)
        with open(os.path.join(self.audit, "sitecustomize.py"), "w") as f:
            f.write(SITECUSTOMIZE)
        self.netlog = os.path.join(world.dir, "nonlocal-connects.txt")
        self.armed = os.path.join(world.dir, "hook-armed.txt")
        self.all_connects = os.path.join(world.dir, "all-connects.txt")
        open(self.netlog, "w").close()

    def sweep(self, extra=""):
        world = self.world
        self.write_audit()
        with open(os.path.join(world.dir, "train.py"), "w") as f:
            f.write(TRAIN)
        text = SWEEP.format(
            python=json.dumps(PYTHON),
            audit=json.dumps(self.audit),
            out=json.dumps(self.netlog),
            armed=json.dumps(self.armed),
            all=json.dumps(self.all_connects),
            extra=extra,
        )
        path = os.path.join(world.dir, "sweep.yaml")
        with open(path, "w") as f:
            f.write(text)
        world.note("sweep.yaml", text)

        world.start_daemon(netns=True)
        done = world.sweepctl("submit", "sweep.yaml")
        sweep = done.stdout.strip().splitlines()[-1]
        status = world.wait_runs_final(sweep, RUNS, within=300)
        return sweep, status

    def check(self, sweep, status):
        """The checks both cases share; the runs' facts files."""
        world = self.world
        states = [r["summary"]["state"] for r in status["runs"]]
        self.assertEqual(states, ["finished"] * RUNS, states)
        facts = {}
        run_dirs = world.run_dirs(sweep)
        self.assertEqual(len(run_dirs), RUNS)
        for run_dir in run_dirs:
            with about(run_dir):
                params = world.params(run_dir)
                self.assertEqual(params["epochs"], 3)
                records = world.metrics(run_dir)
                losses = [r for r in records if "loss" in r]
                # The sweep's values, not init(config=...)'s defaults, reached
                # wandb.config: 3 epochs at the run's lr.
                self.assertEqual([r["epoch"] for r in losses], [0, 1, 2], records)
                for r in losses:
                    self.assertEqual(r["lr_seen"], params["lr"])
                    self.assertEqual(r["epochs_seen"], 3)
                self.assertAlmostEqual(losses[-1]["loss"], (1.0 - params["lr"]) ** 3)
                summary = world.summary(run_dir)
                self.assertEqual(summary["metric"]["count"], 3)
                # run.summary is kept in the run's folder, in either mode.
                with open(os.path.join(run_dir, "wandb-summary.json")) as f:
                    kept = json.load(f)
                self.assertAlmostEqual(kept["final_loss"], losses[-1]["loss"])
                number = int(os.path.basename(run_dir))
                wandb_id = "%s-%04d" % (sweep, number)
                with open(os.path.join(world.dir, "facts", wandb_id + ".json")) as f:
                    fact = json.load(f)
                # W&B's command macros: the venv's python, train.py, --name=value.
                self.assertEqual(fact["argv"][0], "train.py")
                self.assertEqual(sorted(fact["argv"][1:]),
                                 sorted(["--lr=%s" % params["lr"], "--epochs=3"]))
                facts[number] = fact

        # The runs ran in the network namespace: only loopback, not ours.
        ours = os.readlink("/proc/self/ns/net")
        for number, fact in facts.items():
            self.assertEqual(fact["interfaces"], ["lo"], fact)
            self.assertNotEqual(fact["netns"], ours, fact)
        # The hook was armed in every run's Python, and saw no connect() to
        # anything but loopback.
        with open(self.armed) as f:
            armed = f.read()
        world.note("audit hook armed in", armed)
        self.assertGreaterEqual(len([l for l in armed.splitlines() if "train.py" in l]), RUNS, armed)
        if os.path.exists(self.all_connects):
            with open(self.all_connects) as f:
                world.note("connect() calls to AF_INET/AF_INET6 addresses", f.read())
        with open(self.netlog) as f:
            self.assertEqual(f.read(), "", "connect() to a non-loopback address")
        return facts

    @explained
    def test_the_audit_hook_sees_connects(self):
        """The control for the runs' empty record: the same hook, in the same
        kind of namespace (nothing leaves it), writes down a connect() to a
        documentation address (TEST-NET-1, 2001:db8::) and not loopback's."""
        self.write_audit()
        probe = (
            "import socket\n"
            "for family, address in [(socket.AF_INET, ('127.0.0.1', 9)),\n"
            "                        (socket.AF_INET, ('192.0.2.1', 9)),\n"
            "                        (socket.AF_INET6, ('::1', 9)),\n"
            "                        (socket.AF_INET6, ('2001:db8::1', 9))]:\n"
            "    with socket.socket(family, socket.SOCK_STREAM) as s:\n"
            "        s.settimeout(2)\n"
            "        try:\n"
            "            s.connect(address)\n"
            "        except OSError:\n"
            "            pass\n"
        )
        env = dict(self.world.env, PYTHONPATH=self.audit, NETWATCH_OUT=self.netlog,
                   NETWATCH_ARMED=self.armed, NETWATCH_ALL=self.all_connects)
        self.world.run(netns_prefix() + [PYTHON, "-c", probe], env=env, timeout=60, check=True)
        with open(self.netlog) as f:
            nonlocal_ = f.read()
        with open(self.all_connects) as f:
            every = f.read()
        self.world.note("non-loopback", nonlocal_)
        self.world.note("all", every)
        self.assertEqual(len(every.splitlines()), 4, every)
        self.assertEqual(len(nonlocal_.splitlines()), 2, nonlocal_)
        self.assertIn("192.0.2.1", nonlocal_)
        self.assertIn("2001:db8::1", nonlocal_)
        self.assertNotIn("127.0.0.1", nonlocal_)
        self.assertNotIn("'::1'", nonlocal_)

    @explained
    def test_default_is_sweepds_own_wandb(self):
        sweep, status = self.sweep()
        facts = self.check(sweep, status)
        python_home = os.path.join(self.world.home, "python")
        for fact in facts.values():
            # `import wandb` gave the sweepd package that sweepd put first on
            # the run's PYTHONPATH.
            self.assertTrue(fact["wandb_file"].startswith(python_home + os.sep), fact)
            self.assertEqual(os.path.basename(os.path.dirname(fact["wandb_file"])), "sweepd")
        self.assertFalse(os.path.exists(os.path.join(self.world.dir, "wandb")),
                         "a wandb/ folder was written")

    @explained
    def test_offline_uses_the_real_wandb(self):
        sweep, status = self.sweep(extra="  wandb: offline\n")
        facts = self.check(sweep, status)
        import wandb as real  # the venv's, pinned by scripts/setup-python

        for fact in facts.values():
            self.assertEqual(fact["wandb_file"], real.__file__, fact)
            self.assertEqual(fact["wandb_version"], real.__version__)
        # W&B's offline runs, one per run, in the runs' directory.
        offline = sorted(glob.glob(os.path.join(self.world.dir, "wandb", "offline-run-*")))
        self.assertEqual(len(offline), RUNS, offline)
        for folder in offline:
            self.assertTrue(glob.glob(os.path.join(folder, "run-*.wandb")), folder)


if __name__ == "__main__":
    unittest.main()
