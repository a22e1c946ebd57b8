"""sweepd-mnist against PyTorch, side by side in one run, same libtorch, one
thread each, rounds interleaved (Rust, Python, Rust, ...) so that the machine's
load falls on both alike. Run by scripts/mnist-bench, which sets up the venv
(torch 2.11.0 with its Python dependencies, and torchvision) and builds the
release binaries. Prints Markdown tables; --json writes every measurement.

  steps      training steps/s on preloaded tensors: mnist-steps vs steps.py,
             for the tutorial's batch 64 and fc 512, and for batch 128 and
             fc 128 (the libtorch reference's measurement)
  pipeline   one epoch of the tutorial (1/5 subset, adam, lr 0.001, fc 512,
             dropout 0.3, batch 64): sweepd-mnist vs the tutorial's own
             Python pipeline (tutorial.py): start-up (spawn to the first
             batch's loss), epoch time (first batch's loss to the epoch's
             record), peak RSS, test accuracy; seed = round
  full       the same for 5 epochs on all 60,000 images, in the file's order
             (the tutorial) and shuffled, seeds 0 to --full-seeds - 1
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--bin", required=True, help="folder of the release binaries")
p.add_argument("--rounds", type=int, default=5)
p.add_argument("--steps", type=int, default=1000)
p.add_argument("--full-seeds", type=int, default=3, help="0 skips the 5-epoch runs")
p.add_argument("--json")
a = p.parse_args()
TUTORIAL = ["--optimizer=adam", "--learning_rate=0.001", "--fc_layer_size=512", "--dropout=0.3", "--batch_size=64"]
env = dict(os.environ, SWEEPD_MNIST_DEVICE="cpu", SWEEPD_MNIST_THREADS="1", OMP_NUM_THREADS="1")
env.pop("SWEEP_RUN_ID", None)
results = []


def timed(argv):
    """Run argv, reading its JSON lines as they come: start-up, epoch times,
    peak RSS and the records."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    first = None
    marks = []
    records = []
    for line in proc.stdout:
        now = time.perf_counter()
        record = json.loads(line)
        records.append(record)
        if first is None and "batch loss" in record:
            first = now
        if "epoch" in record:
            marks.append(now)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{argv}: exit status {status}: {proc.stderr.read()}")
    epochs = [r for r in records if "epoch" in r]
    edges = [first] + marks
    return {
        "startup_s": first - t0,
        "epoch_s": [b - a for a, b in zip(edges, edges[1:])],
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "val_accuracy": [r["val_accuracy"] for r in epochs],
        "loss": [r["loss"] for r in epochs],
    }


def json_run(argv):
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


STEP_CONFIGS = [(64, 512), (128, 128)]  # (batch size, fc layer size)
rust_steps = [os.path.join(a.bin, "mnist-steps"), f"--steps={a.steps}"]
py_steps = [sys.executable, os.path.join(here, "steps.py"), f"--steps={a.steps}"]
rust_trainer = [os.path.join(a.bin, "sweepd-mnist")] + TUTORIAL
py_tutorial = [sys.executable, os.path.join(here, "tutorial.py")] + TUTORIAL

# The same libtorch on both sides. (torch is not imported here: a child
# process forked from a big parent starts with the parent's RSS, which would
# count in its peak.)
probe = "import os, torch; print(torch.__version__, os.path.join(os.path.dirname(torch.__file__), 'lib', 'libtorch_cpu.so'))"
version, torch_lib = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
torch_lib = os.path.realpath(torch_lib)
ldd = subprocess.run(["ldd", rust_trainer[0]], capture_output=True, text=True, env=env).stdout
rust_lib = next(os.path.realpath(l.split("=>")[1].split()[0]) for l in ldd.splitlines() if "libtorch_cpu.so" in l)
print(f"libtorch: Python {version} {torch_lib}; Rust {rust_lib}; same file: {torch_lib == rust_lib}")
print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")

for r in range(a.rounds):
    for batch, fc in STEP_CONFIGS:
        for side, argv in (("rust", rust_steps), ("python", py_steps)):
            config = [f"--batch-size={batch}", f"--fc-layer-size={fc}"]
            results.append({"bench": f"steps {batch}/{fc}", "side": side, "round": r, **json_run(argv + config)})
    for side, argv in (("rust", rust_trainer), ("python", py_tutorial)):
        results.append({"bench": "pipeline", "side": side, "round": r, **timed(argv + [f"--seed={r}"])})
    print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
for seed in range(a.full_seeds):
    for shuffle in ("False", "True"):
        for side, argv in (("rust", rust_trainer), ("python", py_tutorial)):
            extra = [f"--seed={seed}", "--epochs=5", "--full_dataset=True", f"--shuffle={shuffle}"]
            results.append({"bench": f"full shuffle={shuffle}", "side": side, "round": seed, **timed(argv + extra)})
    print(f"5 epochs, seed {seed} done", file=sys.stderr)


def med(bench, side, key, pick=lambda v: v):
    return statistics.median(pick(x[key]) for x in results if x["bench"] == bench and x["side"] == side)


def spread(bench, side, key, pick=lambda v: v):
    vals = [pick(x[key]) for x in results if x["bench"] == bench and x["side"] == side]
    return f"{statistics.median(vals):.4g} ({min(vals):.4g}-{max(vals):.4g})"


print(f"\n### Training steps on preloaded tensors ({a.rounds} x {a.steps} steps, adam, 1 thread)\n")
print("| batch / fc | Rust (tch) steps/s | Python (PyTorch) steps/s | Rust / Python | CPU ms per step, Rust vs Python |")
print("|---|---|---|---|---|")
for batch, fc in STEP_CONFIGS:
    b = f"steps {batch}/{fc}"
    sr, sp = med(b, "rust", "steps_per_s"), med(b, "python", "steps_per_s")
    cr, cp = med(b, "rust", "cpu_ms_per_step"), med(b, "python", "cpu_ms_per_step")
    print(f"| {batch} / {fc} | {spread(b, 'rust', 'steps_per_s')} | {spread(b, 'python', 'steps_per_s')} | **{sr / sp:.2f}x** | {cr:.3f} vs {cp:.3f} |")

first = lambda v: v[0]
print(f"\n### One epoch of the tutorial: sweepd-mnist vs the tutorial's Python pipeline ({a.rounds} rounds, seeds 0-{a.rounds - 1})\n")
print("| | sweepd-mnist | tutorial (Dataset + DataLoader) | ratio |")
print("|---|---|---|---|")
for key, label, pick, better in (
    ("startup_s", "start-up, spawn to first batch loss (s)", lambda v: v, "faster"),
    ("epoch_s", "epoch time incl. test accuracy (s)", first, "faster"),
    ("wall_s", "whole run (s)", lambda v: v, "faster"),
    ("peak_rss_mb", "peak RSS (MB)", lambda v: v, "less memory"),
):
    r_, p_ = med("pipeline", "rust", key, pick), med("pipeline", "python", key, pick)
    print(f"| {label} | {spread('pipeline', 'rust', key, pick)} | {spread('pipeline', 'python', key, pick)} | {p_ / r_:.2f}x {better} |")
print(f"| test accuracy after 1 epoch | {spread('pipeline', 'rust', 'val_accuracy', first)} | {spread('pipeline', 'python', 'val_accuracy', first)} | |")

if a.full_seeds:
    print(f"\n### 5 epochs on all 60,000 training images (seeds 0-{a.full_seeds - 1}; median (min-max))\n")
    print("| order | | sweepd-mnist | tutorial (Dataset + DataLoader) | ratio |")
    print("|---|---|---|---|---|")
    last, best = (lambda v: v[-1]), max
    for shuffle in ("False", "True"):
        b = f"full shuffle={shuffle}"
        order = "shuffled" if shuffle == "True" else "file's (tutorial)"
        print(f"| {order} | test accuracy after epoch 5 | {spread(b, 'rust', 'val_accuracy', last)} | {spread(b, 'python', 'val_accuracy', last)} | |")
        print(f"| | best test accuracy of the 5 epochs | {spread(b, 'rust', 'val_accuracy', best)} | {spread(b, 'python', 'val_accuracy', best)} | |")
        wr, wp = med(b, "rust", "wall_s"), med(b, "python", "wall_s")
        print(f"| | whole run (s) | {spread(b, 'rust', 'wall_s')} | {spread(b, 'python', 'wall_s')} | {wp / wr:.2f}x faster |")
        rr, rp = med(b, "rust", "peak_rss_mb"), med(b, "python", "peak_rss_mb")
        print(f"| | peak RSS (MB) | {rr:.0f} | {rp:.0f} | {rp / rr:.2f}x less |")

if a.json:
    with open(a.json, "w") as f:
        for x in results:
            f.write(json.dumps(x) + "\n")
