#!/usr/bin/env python3
"""Benchmark of sweepd's Python side (not a test; run it by hand):

  (i)  agent overhead: a function sweep (random, run_cap 30, no program or
       command) served by `sweepd.agent(id, f, count=30)` in this process,
       against a real sweepd of its own; f is
           t = time.monotonic(); wandb.init(); wandb.log({"loss": 1.0}); wandb.finish()
       and writes down when it started and when it ended. The overhead is
       the time from one run's end (f's last line, in its forked child) to
       the next run's f's first line (the next child): the child's exit, the
       agent telling sweepd, sweepd recording the run and handing out the
       next, the fork. CLOCK_MONOTONIC is one clock for every process.
  (ii) log() of 5 floats, N calls, in subprocesses side by side: the sweepd
       package as in a command run (SWEEP_RUN_ID set, SWEEP_RUN_DIR holding
       params.json, stdout a file, stdin a pipe) and the real wandb package
       with init(mode="offline"), also with stdout a file; the time of the
       N calls (and of the N calls plus finish(), which W&B needs to write
       them), per call, for each, and their ratio; each measured --repeat
       times, the median taken.

Prints one JSON line of results on stdout, a human summary on stderr.

  usage: .venv-torch/bin/python tests/python/bench_agent.py [--runs 30] [--logs 20000] [--repeat 3]
  (tests/python/run's setup, scripts/setup-python, installs what it needs;
  SWEEPD_BIN_DIR: where sweepd and sweepctl are, default target/debug)
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

LOG_BENCH = r"""
import json, os, sys, time
which, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
if which == "sweepd":
    import sweepd as wandb
    run = wandb.init()
else:
    import wandb
    run = wandb.init(mode="offline", project="bench", dir=os.getcwd())
t1 = time.perf_counter()
records = [{"a": i * 0.5, "b": i * 0.25, "c": 1.0 / (i + 1), "d": i * 1e-3, "e": -i * 2.0}
           for i in range(n)]
t2 = time.perf_counter()
for r in records:
    wandb.log(r)
t3 = time.perf_counter()
wandb.finish()
t4 = time.perf_counter()
with open(out, "w") as f:
    json.dump({"module": wandb.__file__, "version": getattr(wandb, "__version__", None),
               "init_s": t1 - t0, "log_s": t3 - t2, "finish_s": t4 - t3}, f)
"""


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100.0 * len(ordered)) - 1)]


def bench_agent(world, runs):
    os.environ.update(
        SWEEPS_HOME=world.home,
        PATH=world.env["PATH"],
        CUDA_VISIBLE_DEVICES="",
    )
    for name in [k for k in os.environ if k.startswith(("SWEEP_", "WANDB_"))]:
        del os.environ[name]
    import sweepd as wandb

    times = os.path.join(world.dir, "times.jsonl")

    def f():
        t = time.monotonic()
        wandb.init()
        wandb.log({"loss": 1.0})
        wandb.finish()
        end = time.monotonic()
        line = json.dumps({"start": t, "end": end, "pid": os.getpid()}) + "\n"
        fd = os.open(times, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    saved = sys.stderr
    with open(os.path.join(world.dir, "agent.log"), "w") as log:
        sys.stderr = log  # the agent's one line per run start and end
        try:
            sweep_id = wandb.sweep({
                "name": "bench-agent",
                "method": "random",
                "run_cap": runs,
                "metric": {"name": "loss", "goal": "minimize"},
                "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
            })
            t0 = time.monotonic()
            wandb.agent(sweep_id, f, count=runs)
            wall = time.monotonic() - t0
        finally:
            sys.stderr = saved
    with open(times) as fh:
        rows = sorted((json.loads(line) for line in fh), key=lambda r: r["start"])
    if len(rows) != runs:
        raise SystemExit("bench: %d runs wrote their times, not %d" % (len(rows), runs))
    status = world.wait_runs_final(sweep_id, runs, within=60)
    states = [r["summary"]["state"] for r in status["runs"]]
    if states != ["finished"] * runs:
        raise SystemExit("bench: the runs are not all finished: %s" % states)
    gaps = [(b["start"] - a["end"]) * 1e3 for a, b in zip(rows, rows[1:])]
    inside = [(r["end"] - r["start"]) * 1e3 for r in rows]
    return {
        "runs": runs,
        "gaps": len(gaps),
        "median_ms": round(statistics.median(gaps), 2),
        "p90_ms": round(percentile(gaps, 90), 2),
        "min_ms": round(min(gaps), 2),
        "max_ms": round(max(gaps), 2),
        "in_function_median_ms": round(statistics.median(inside), 3),
        "wall_s": round(wall, 3),
        "runs_per_s": round(runs / wall, 2),
    }


def one_log_bench(which, n, scratch):
    folder = tempfile.mkdtemp(prefix="log-%s-" % which, dir=scratch)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SWEEP_", "WANDB_")) and k not in ("PYTHONPATH", "SWEEPS_HOME")}
    env.update(HOME=folder, CUDA_VISIBLE_DEVICES="")
    if which == "sweepd":
        run_dir = os.path.join(folder, "run")
        os.makedirs(run_dir)
        with open(os.path.join(run_dir, "params.json"), "w") as fh:
            fh.write("{}\n")
        env.update(SWEEP_ID="bench", SWEEP_RUN_ID="bench/1", SWEEP_RUN_DIR=run_dir,
                   WANDB_RUN_ID="bench-0001", PYTHONUNBUFFERED="1")
    else:
        env.update(WANDB_SILENT="true", WANDB_DISABLE_CODE="true")
    out = os.path.join(folder, "result.json")
    with open(os.path.join(folder, "stdout.log"), "wb") as stdout, \
            open(os.path.join(folder, "stderr.log"), "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", LOG_BENCH, which, out, str(n)],
            cwd=folder, env=env, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
        )
        try:
            code = proc.wait(600)
        finally:
            proc.stdin.close()
    if code != 0:
        with open(os.path.join(folder, "stderr.log"), errors="replace") as fh:
            raise SystemExit("bench: the %s log benchmark failed (%d):\n%s" % (which, code, fh.read()))
    with open(out) as fh:
        result = json.load(fh)
    if which == "sweepd":
        # Every record reached the run's stdout, as sweepd would read it.
        with open(os.path.join(folder, "stdout.log")) as fh:
            lines = sum(1 for line in fh if line.startswith("{"))
        if lines != n:
            raise SystemExit("bench: sweepd wrote %d records, not %d" % (lines, n))
    return result


def bench_log(n, repeat, scratch):
    results = {"sweepd": [], "wandb_offline": []}
    for _ in range(repeat):  # interleaved, so both see the same machine
        results["sweepd"].append(one_log_bench("sweepd", n, scratch))
        results["wandb_offline"].append(one_log_bench("wandb", n, scratch))
    summary = {"calls": n, "repeat": repeat}
    for name, runs in results.items():
        summary[name] = {
            "log_us": round(statistics.median(r["log_s"] for r in runs) / n * 1e6, 3),
            "log_and_finish_us": round(
                statistics.median(r["log_s"] + r["finish_s"] for r in runs) / n * 1e6, 3),
            "init_s": round(statistics.median(r["init_s"] for r in runs), 3),
            "finish_s": round(statistics.median(r["finish_s"] for r in runs), 3),
            "all_log_us": [round(r["log_s"] / n * 1e6, 3) for r in runs],
            "version": runs[0]["version"],
        }
    summary["ratio_log"] = round(
        summary["wandb_offline"]["log_us"] / summary["sweepd"]["log_us"], 2)
    summary["ratio_log_and_finish"] = round(
        summary["wandb_offline"]["log_and_finish_us"] / summary["sweepd"]["log_and_finish_us"], 2)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="function runs (default 30)")
    parser.add_argument("--logs", type=int, default=20000, help="log() calls (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="log benchmarks each (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    world = _harness.World("bench")
    ok = False
    try:
        world.start_daemon()
        agent = bench_agent(world, args.runs)
        world.stop_daemon()
        log = bench_log(args.logs, args.repeat, world.dir)
        ok = True
    except BaseException:
        sys.stderr.write(world.diagnostics() + "\n")
        raise
    finally:
        world.close(keep=args.keep or not ok)

    result = {
        "bench": "sweepd-python",
        "agent_overhead": agent,
        "log_5_floats": log,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "sweepd": _harness.SWEEPD,
    }
    print(json.dumps(result, sort_keys=True), flush=True)
    s, w = log["sweepd"], log["wandb_offline"]
    sys.stderr.write(
        "agent overhead, run end -> next function's first line, %d gaps: median %.1f ms, "
        "p90 %.1f ms (min %.1f, max %.1f); %d runs in %.2f s (%.1f runs/s)\n"
        % (agent["gaps"], agent["median_ms"], agent["p90_ms"], agent["min_ms"],
           agent["max_ms"], agent["runs"], agent["wall_s"], agent["runs_per_s"])
        + "log() of 5 floats, %d calls, median of %d: sweepd %.2f us/call "
        "(%.2f with finish), wandb %s offline %.2f us/call (%.2f with finish): "
        "wandb/sweepd = %.1fx (%.1fx with finish)\n"
        % (log["calls"], log["repeat"], s["log_us"], s["log_and_finish_us"], w["version"],
           w["log_us"], w["log_and_finish_us"], log["ratio_log"], log["ratio_log_and_finish"])
    )


if __name__ == "__main__":
    main()
