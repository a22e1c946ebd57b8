#!/usr/bin/env python3
"""Optuna's GPSampler continuing sweepd's own runs: does a seed's end depend
on the model, or on where its first runs went?

    cargo run --release --bin bayes-bench -- --funcs hartmann6 --seeds 60 --budgets 50,100 \
        --methods bayes --parallel 1 --overhead 0 --points --out ours-points.jsonl
    OMP_NUM_THREADS=1 peer-venv/bin/python scripts/peer-continue.py ours-points.jsonl \
        --fn hartmann6 --first 9 --evals 100 --seeds 0-34

For each seed, Optuna is given sweepd's first `--first` runs of that seed
(study.add_trial) and asked for the rest, up to `--evals`, with the same
sampler settings as ../shared/bench/peer_bench.py's `optuna_gp`. Prints each
seed's regret at `--evals` for sweepd and for the continuation, and how many
seeds of each end above `--stuck` (hartmann6's second basin is at 0.119).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import optuna

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
import peer_bench  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)


def seed_range(text):
    lo, _, hi = text.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("points", help="bayes-bench --points output")
    ap.add_argument("--fn", default="hartmann6", choices=list(peer_bench.FUNCS))
    ap.add_argument("--first", type=int, default=9)
    ap.add_argument("--evals", type=int, default=100)
    ap.add_argument("--seeds", type=seed_range, default=seed_range("0-19"))
    ap.add_argument("--stuck", type=float, default=0.05)
    args = ap.parse_args()

    func, space, _ = peer_bench.FUNCS[args.fn]
    fstar = peer_bench.fstar_of(args.fn)
    dists = peer_bench._optuna_dists(space)
    runs = {}
    for line in open(args.points):
        r = json.loads(line)
        if r.get("kind") == "run" and r["fn"] == args.fn and r["workers"] == 1 and "points" in r:
            runs[r["seed"]] = r
    stuck = {"sweepd": 0, "optuna": 0, "both": 0}
    for seed in args.seeds:
        run = runs.get(seed)
        if run is None:
            sys.exit(f"seed {seed} of {args.fn} is not in {args.points} (run bayes-bench with --points)")
        study = optuna.create_study(sampler=peer_bench._optuna_sampler("optuna_gp", seed), direction="minimize")
        for params, value in list(zip(run["points"], run["values"]))[: args.first]:
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value))
        while len(study.trials) < args.evals:
            trial = study.ask(fixed_distributions=dists)
            study.tell(trial, func([trial.params[f"x{i}"] for i in range(len(space))]))
        ours = min(run["values"][: args.evals]) - fstar
        theirs = study.best_value - fstar
        stuck["sweepd"] += ours > args.stuck
        stuck["optuna"] += theirs > args.stuck
        stuck["both"] += ours > args.stuck and theirs > args.stuck
        print(f"seed {seed}: sweepd {ours:.3g}, Optuna from sweepd's first {args.first}: {theirs:.3g}", flush=True)
    print(f"above {args.stuck} at {args.evals} evaluations: sweepd {stuck['sweepd']}, "
          f"Optuna continuing {stuck['optuna']}, both {stuck['both']} (of {len(args.seeds)} seeds)")


if __name__ == "__main__":
    main()
