#!/usr/bin/env python3
"""W&B's hyperband decisions on 27 scripted runs, as sweepd takes them: after
every logged value. Writes (or, with --check, compares against) expected.json,
which core/src/early_stop/tests.rs replays through sweepd's rule.

    .venv-wandb/bin/python tests/wandb-oracle/hyperband/stops.py [--check]

The scenario: run k (0..26) starts at time 2k and logs one value of `loss`
per time step, 27 in all unless stopped; events are taken in (time, run)
order. A second, sequential one (run k starts when run k-1 has ended, as with
max_parallel 1) is what tests/daemon.rs replays through the real daemon. After each value, W&B's `hyperband_stop_runs` is asked which runs to
stop, given every run started so far (running, finished, or killed when an
earlier decision stopped it). A run that logs its 27th value finishes.
"""
import argparse
import json
import math
import os
import sys

from sweeps import RunState, SweepRun
from sweeps.hyperband_stopping import hyperband_stop_runs

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS, STEPS = 27, 27

# name -> (goal, early_terminate)
CONFIGS = {
    "max27-s3-eta3": ("minimize", {"type": "hyperband", "max_iter": 27, "s": 3, "eta": 3}),
    "min2-eta2": ("minimize", {"type": "hyperband", "min_iter": 2, "eta": 2}),
    "min3-eta3-not-strict": ("minimize", {"type": "hyperband", "min_iter": 3, "eta": 3, "strict": False}),
    "max27-s2-eta3-maximize": ("maximize", {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3}),
}


def curve(k):
    """Run k's values: decaying curves of different speeds and floors, a
    wobble, some that get worse, and a few equal to others (ties)."""
    floor = 0.2 + 0.05 * ((k * 7) % 11)
    start = 2.0 + 0.1 * ((k * 5) % 7)
    speed = 0.15 + 0.05 * (k % 5)
    out = []
    for i in range(STEPS):
        v = floor + (start - floor) * math.exp(-speed * i) + 0.03 * math.sin(1.7 * k + 0.9 * i)
        if k % 9 == 4:
            v += 0.02 * i  # gets worse
        out.append(round(v, 6))
    if k in (13, 22):
        out = curve(k - 9)  # the same curve as an earlier run: ties
    return out


def simulate(goal, early_terminate, curves, sequential=False):
    config = {
        "method": "random",
        "metric": {"name": "loss", "goal": goal},
        "early_terminate": early_terminate,
        "parameters": {"x": {"values": [1]}},
    }
    if sequential:
        events = [(0, k, i) for k in range(RUNS) for i in range(STEPS)]
    else:
        events = sorted((2 * k + i, k, i) for k in range(RUNS) for i in range(STEPS))
    history = {}
    state = {}
    stops = []
    for _, k, i in events:
        if state.get(k, RunState.running) != RunState.running:
            continue
        history.setdefault(k, []).append(curves[k][i])
        state[k] = RunState.finished if i == STEPS - 1 else RunState.running
        runs = [
            SweepRun(name=str(r), state=state[r], history=[{"loss": v} for v in history[r]])
            for r in sorted(history)
        ]
        for run in hyperband_stop_runs(runs, config):
            r = int(run.name)
            state[r] = RunState.killed
            stops.append([r, len(history[r])])
    return stops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare with expected.json instead of writing it")
    args = ap.parse_args()
    curves = [curve(k) for k in range(RUNS)]
    result = {
        "curves": curves,
        "configs": {
            name: {"goal": goal, "early_terminate": et, "stops": simulate(goal, et, curves)}
            for name, (goal, et) in CONFIGS.items()
        },
        "sequential": {
            name: simulate(goal, et, curves, sequential=True) for name, (goal, et) in CONFIGS.items()
        },
    }
    path = os.path.join(HERE, "expected.json")
    text = json.dumps(result, indent=1) + "\n"
    if args.check:
        if open(path).read() != text:
            print("hyperband: W&B's stops differ from expected.json", file=sys.stderr)
            return 1
        n = sum(len(c["stops"]) for c in result["configs"].values()) + sum(map(len, result["sequential"].values()))
        print(f"hyperband: W&B's engine stops the same {n} runs at the same iterations as expected.json")
        return 0
    open(path, "w").write(text)
    for name, c in result["configs"].items():
        print(name, len(c["stops"]), "stops:", c["stops"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
