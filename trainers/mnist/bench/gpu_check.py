"""What sweepd does on a real GPU, measured in one go (issue 20); run by
scripts/gpu-check, which has checked that there is a GPU, found the binaries,
the Python with torch and MNIST, and points LD_LIBRARY_PATH at that torch's
lib folder so that the trainer and PyTorch use the same libtorch.

  doctor     sweepctl doctor --gpu --json
  accuracy   the tutorial's recipe (1 epoch on the 1/5 subset, adam, lr 0.001,
             fc 512, dropout 0.3, batch 64) with sweepd-mnist on CUDA and on
             the CPU, seeds 0..--seeds-1: test accuracy, and whether the two
             means differ by no more than the seeds' spread
  steps      training steps/s on preloaded tensors: mnist-steps against
             PyTorch's steps.py, both on cuda:0, timed between synchronisations,
             rounds interleaved; the median of each and their ratio
  sweeps     the tutorial's sweep of --runs runs through a private sweepd, once
             with gpus_per_run 0.25 and once with whole GPUs: wall time from
             submit to finished, and each GPU's mean utilisation and peak
             memory (nvidia-smi every second) side by side

Everything goes to one JSON file (--out). --rehearse runs it all on the CPU
with the fake nvidia-smi (tests/fakes/nvidia-smi) to check the script itself:
its figures mean nothing.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", "..", ".."))
p = argparse.ArgumentParser()
p.add_argument("--bin", required=True, help="folder of sweepd, sweepctl, sweepd-mnist, mnist-steps")
p.add_argument("--out", required=True)
p.add_argument("--seeds", type=int, default=3)
p.add_argument("--rounds", type=int, default=3)
p.add_argument("--steps", type=int, default=2000)
p.add_argument("--runs", type=int, default=16)
p.add_argument("--sweep-limit", type=float, default=240, help="seconds a sweep may take before it is stopped")
p.add_argument("--rehearse", action="store_true")
a = p.parse_args()

bin_ = lambda name: os.path.join(a.bin, name)
cuda = "cpu" if a.rehearse else "cuda"
results = {
    "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    "host": platform.node(),
    "rehearsal": a.rehearse,
    "ld_library_path": os.environ.get("LD_LIBRARY_PATH", ""),
}
started = time.monotonic()


def say(what):
    print(f"gpu-check [{time.monotonic() - started:6.1f} s] {what}", flush=True)


def save():
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2)


def smi(*args):
    program = os.environ.get("SWEEPD_NVIDIA_SMI", "nvidia-smi")
    out = subprocess.run([program, *args], capture_output=True, text=True, timeout=20)
    return out.stdout


def gpus():
    lines = smi("--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu",
                "--format=csv,noheader,nounits").strip().splitlines()
    keys = ["index", "uuid", "name", "memory_total_mib", "memory_used_mib", "utilization_pct"]
    rows = [[v.strip() for v in line.split(",")] for line in lines]
    return [dict(zip(keys, row)) for row in rows if len(row) == len(keys)]


def phase(name, measure):
    """One phase's figures, or what went wrong: a later phase runs anyway."""
    say(name)
    try:
        results[name] = measure()
    except Exception as e:  # noqa: BLE001 (recorded, and the next phase runs)
        results[name] = {"error": f"{type(e).__name__}: {e}"}
    save()


results["gpus"] = gpus()
save()

home = tempfile.mkdtemp(prefix="gpu-check-")


def doctor():
    limit = 200 + 70 * len(results["gpus"])
    out = subprocess.run([bin_("sweepctl"), "--home", os.path.join(home, "doctor"), "doctor", "--gpu", "--json",
                          "--trainer", bin_("sweepd-mnist")], capture_output=True, text=True, timeout=limit)
    try:
        report = json.loads(out.stdout)
    except ValueError:
        report = {"stdout": out.stdout, "stderr": out.stderr}
    report["exit"] = out.returncode
    return report


phase("doctor", doctor)

# accuracy
TUTORIAL = ["--optimizer=adam", "--learning_rate=0.001", "--fc_layer_size=512", "--dropout=0.3",
            "--batch_size=64", "--epochs=1"]


def tutorial_run(device, seed):
    env = dict(os.environ, SWEEPD_MNIST_DEVICE=device, SWEEPD_MNIST_THREADS="1", OMP_NUM_THREADS="1")
    for name in ("SWEEP_RUN_ID", "SWEEP_RUN_DIR", "SWEEP_RESUME_DIR"):
        env.pop(name, None)
    t0 = time.perf_counter()
    out = subprocess.run([bin_("sweepd-mnist"), *TUTORIAL, f"--seed={seed}"], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        return {"device": device, "seed": seed, "error": out.stderr.strip()[-2000:]}
    records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    epochs = [r for r in records if "val_accuracy" in r]
    if not epochs:
        return {"device": device, "seed": seed, "error": "no epoch record with val_accuracy"}
    epoch = epochs[-1]
    return {"device": device, "seed": seed, "val_accuracy": epoch["val_accuracy"], "loss": epoch.get("loss"),
            "wall_s": wall}


def accuracy():
    runs = [tutorial_run(device, seed) for seed in range(a.seeds) for device in (cuda, "cpu")]

    def accuracies(device):
        return [r["val_accuracy"] for r in runs if r["device"] == device and "val_accuracy" in r]

    acc_gpu, acc_cpu = accuracies(cuda), accuracies("cpu")
    found = {"runs": runs}
    if acc_gpu and acc_cpu:
        spread = max(max(acc_gpu) - min(acc_gpu), max(acc_cpu) - min(acc_cpu))
        difference = abs(statistics.mean(acc_gpu) - statistics.mean(acc_cpu))
        found.update({"mean_gpu": statistics.mean(acc_gpu), "mean_cpu": statistics.mean(acc_cpu),
                      "difference": difference, "seed_spread": spread,
                      "within_seed_spread": difference <= spread})
    return found


phase("accuracy", accuracy)

# steps
def steps():
    rust, python = [], []
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for _ in range(a.rounds):
        for argv, into in (([bin_("mnist-steps"), f"--steps={a.steps}", f"--device={cuda}"], rust),
                           ([sys.executable, os.path.join(here, "steps.py"), f"--steps={a.steps}",
                             f"--device={cuda}"], python)):
            out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
            if out.returncode == 0:
                into.append(json.loads(out.stdout.strip().splitlines()[-1]))
            else:
                into.append({"error": out.stderr.strip()[-2000:]})
    ok = lambda xs: [x["steps_per_s"] for x in xs if "steps_per_s" in x]
    found = {"sweepd_mnist": rust, "pytorch": python, "batch_size": 64, "fc_layer_size": 512, "device": cuda}
    if ok(rust) and ok(python):
        found.update({"median_sweepd_mnist": statistics.median(ok(rust)),
                      "median_pytorch": statistics.median(ok(python)),
                      "ratio": statistics.median(ok(rust)) / statistics.median(ok(python))})
    return found


phase("steps", steps)


# sweeps
def sweep(share):
    folder = os.path.join(home, f"sweep-{share}")
    os.makedirs(folder)
    text = f"""name: gpu-check-{share}
program: {bin_('sweepd-mnist')}
command:
  - ${{program}}
  - ${{args}}
method: random
metric: {{name: loss, goal: minimize}}
run_cap: {a.runs}
parameters:
  optimizer: {{values: [adam, sgd]}}
  fc_layer_size: {{values: [128, 256, 512]}}
  dropout: {{values: [0.3, 0.4, 0.5]}}
  epochs: {{value: 1}}
  learning_rate: {{distribution: uniform, min: 0, max: 0.1}}
  batch_size: {{distribution: q_log_uniform_values, q: 8, min: 32, max: 256}}
sweepd: {{seed: 1, gpus_per_run: {share}, max_parallel: {a.runs}, env: {{SWEEPD_MNIST_THREADS: "1"}}}}
"""
    with open(os.path.join(folder, "sweep.yaml"), "w") as f:
        f.write(text)
    args = [bin_("sweepd"), "--home", os.path.join(folder, "home"), "--settle", "100ms",
            "--gpu-sample-every", "1s", "--gpu-cooldown", "0s", "--gpu-lock-dir", os.path.join(folder, "locks"),
            "--max-running", str(max(os.cpu_count() or 1, 4))]
    if os.geteuid() == 0:
        args.append("--allow-root")
    log = open(os.path.join(folder, "sweepd.log"), "w")
    daemon = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    ctl = [bin_("sweepctl"), "--home", os.path.join(folder, "home")]
    for _ in range(200):
        if os.path.exists(os.path.join(folder, "home", "sweepd.sock")):
            break
        time.sleep(0.05)
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            try:
                samples.append(gpus())
            except (subprocess.SubprocessError, OSError):
                pass
            stop.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        submitted = subprocess.run([*ctl, "submit", os.path.join(folder, "sweep.yaml")], capture_output=True,
                                   text=True)
        if submitted.returncode != 0:
            return {"gpus_per_run": share, "error": submitted.stdout + submitted.stderr}
        sid = submitted.stdout.strip()
        state_file = os.path.join(folder, "home", "sweeps", sid, "state.json")
        state = "?"
        while time.perf_counter() - t0 < a.sweep_limit:
            try:
                with open(state_file) as f:
                    state = json.load(f)["state"]
            except (OSError, ValueError):
                pass
            if state in ("finished", "failed", "canceled"):
                break
            time.sleep(0.2)
        wall = time.perf_counter() - t0
        status = subprocess.run([*ctl, "status", sid, "--json"], capture_output=True, text=True).stdout
    finally:
        stop.set()
        try:
            subprocess.run([*ctl, "shutdown", "--stop-runs"], capture_output=True, text=True, timeout=120)
            daemon.wait(timeout=120)
        except subprocess.TimeoutExpired:
            daemon.kill()
    per_gpu = {}
    for look in samples:
        for g in look:
            entry = per_gpu.setdefault(g["index"], {"utilization": [], "memory": []})
            for key, field in (("utilization", "utilization_pct"), ("memory", "memory_used_mib")):
                try:
                    entry[key].append(float(g[field]))
                except ValueError:
                    pass
    gpu_use = {i: {"mean_utilization_pct": statistics.mean(e["utilization"]) if e["utilization"] else None,
                   "peak_memory_used_mib": max(e["memory"]) if e["memory"] else None}
               for i, e in per_gpu.items()}
    try:
        lines = json.loads(status)
    except ValueError:
        lines = status
    return {"gpus_per_run": share, "runs": a.runs, "state": state, "wall_s": wall, "gpus": gpu_use,
            "samples": len(samples), "status": lines}


def sweeps():
    found = {}
    for share in ("0.25", "1"):
        say(f"a sweep of {a.runs} tutorial runs with gpus_per_run {share}")
        try:
            found[share] = sweep(share)
        except Exception as e:  # noqa: BLE001 (recorded; the other sweep runs)
            found[share] = {"error": f"{type(e).__name__}: {e}"}
    if "wall_s" in found["0.25"] and "wall_s" in found["1"]:
        found["wall_ratio_whole_over_shared"] = found["1"]["wall_s"] / found["0.25"]["wall_s"]
    return found


phase("sweeps", sweeps)
results["total_s"] = time.monotonic() - started
save()
shutil.rmtree(home, ignore_errors=True)
say(f"done: {a.out}")
print(json.dumps({k: results[k] for k in ("accuracy", "steps") if k in results}, default=str)[:2000])
