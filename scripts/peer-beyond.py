#!/usr/bin/env python3
"""Optuna on the problems of `bayes-bench --beyond` (core/src/bin/bayes-bench/beyond.rs):
several objectives, input and outcome constraints, conditional parameters.

    python3 -m venv peer-venv && peer-venv/bin/pip install optuna==5.0.0 torch scipy
    OMP_NUM_THREADS=1 peer-venv/bin/python scripts/peer-beyond.py --seeds 20 --out peers-beyond.jsonl

Samplers: NSGAIISampler, TPESampler(multivariate=True) (with group=True on the
conditional problem, Optuna's define-by-run way) and GPSampler, each given the
constraints through constraints_func where a problem has them (Optuna has no
input constraints: both kinds reach it as constraints on a trial's values).
Scores, as bayes-bench computes them: hypervolume of everything evaluated
from the same reference point (two objectives), or regret of the best value
among trials that keep the constraints.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings

import optuna

warnings.filterwarnings("ignore")
optuna.logging.set_verbosity(optuna.logging.ERROR)


def branin(x1, x2):
    a, b, c, r, s, t = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def currin(x1, x2):
    factor = 1.0 if x2 == 0 else 1 - math.exp(-1 / (2 * x2))
    return factor * (2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60) / (100 * x1**3 + 500 * x1**2 + 4 * x1 + 20)


H3_A = [[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]]
H3_P = [[0.3689, 0.1170, 0.2673], [0.4699, 0.4387, 0.7470], [0.1091, 0.8732, 0.5547], [0.0381, 0.5743, 0.8828]]
ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann3(x):
    return -sum(
        ALPHA[i] * math.exp(-sum(H3_A[i][j] * (x[j] - H3_P[i][j]) ** 2 for j in range(3))) for i in range(4)
    )


def hypervolume_2d(points, ref):
    inside = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    area, ceiling = 0.0, ref[1]
    for p in inside:
        if p[1] < ceiling:
            area += (ref[0] - p[0]) * (ceiling - p[1])
            ceiling = p[1]
    return area


# Each problem: kind, objective(trial) -> value(s), and the constraint value
# (<= 0 kept) stored as a user attribute.


def branin_currin(trial):
    u1, u2 = trial.suggest_float("x1", 0, 1), trial.suggest_float("x2", 0, 1)
    return branin(15 * u1 - 5, 15 * u2), currin(u1, u2)


def dtlz2(trial):
    x = [trial.suggest_float(f"x{i}", 0, 1) for i in range(1, 7)]
    g = sum((v - 0.5) ** 2 for v in x[1:])
    a = x[0] * math.pi / 2
    return (1 + g) * math.cos(a), (1 + g) * math.sin(a)


def branin_product(trial):
    x1, x2 = trial.suggest_float("x1", -5, 10), trial.suggest_float("x2", 0, 15)
    trial.set_user_attr("c", 30 - x1 * x2)
    return branin(x1, x2)


def toy_outcome(trial):
    x1, x2 = trial.suggest_float("x1", 0, 6), trial.suggest_float("x2", 0, 6)
    trial.set_user_attr("c", math.cos(x1 + x2) - 0.5)
    return math.cos(2 * x1) * math.cos(x2) + math.sin(x1)


def branches(trial):
    if trial.suggest_categorical("model", ["a", "b"]) == "a":
        u1, u2 = trial.suggest_float("a.x1", 0, 1), trial.suggest_float("a.x2", 0, 1)
        return branin(15 * u1 - 5, 15 * u2)
    return hartmann3([trial.suggest_float(f"b.x{i}", 0, 1) for i in (1, 2, 3)]) + 4.5


# The optima bayes-bench states (beyond.rs computes the constrained ones).
PROBLEMS = {
    "branin-currin": ("objectives", branin_currin, [18.0, 6.0]),
    "dtlz2": ("objectives", dtlz2, [1.1, 1.1]),
    "branin-product": ("constrained", branin_product, 0.784343),
    "toy-outcome": ("constrained", toy_outcome, -2.0),
    "branches": ("plain", branches, 0.39788735772973816),
}


def constraints(trial):
    return [trial.user_attrs["c"]]


def sampler(name, seed, kind):
    c = constraints if kind == "constrained" else None
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=c)
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=(kind == "plain"), constraints_func=c
        )
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, deterministic_objective=True, constraints_func=c)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SystemExit(f"unknown sampler {name}")


def score(kind, target, trials, budget):
    done = trials[:budget]
    if kind == "objectives":
        return hypervolume_2d([t.values for t in done], target)
    kept = [t.value for t in done if kind == "plain" or t.user_attrs["c"] <= 0]
    return max(0.0, min(kept) - target) if kept else math.inf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    ap.add_argument("--samplers", nargs="+", default=["nsga2", "tpe", "gp"])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--budgets", nargs="+", type=int, default=[50, 100])
    ap.add_argument("--out", default="peers-beyond.jsonl")
    args = ap.parse_args()
    evals = max(args.budgets)
    with open(args.out, "a") as out:
        for name in args.problems:
            kind, objective, target = PROBLEMS[name]
            directions = ["minimize", "minimize"] if kind == "objectives" else ["minimize"]
            for s in args.samplers:
                if s == "nsga2" and kind == "plain":
                    continue  # one objective without constraints: not NSGA-II's problem
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    study = optuna.create_study(directions=directions, sampler=sampler(s, seed, kind))
                    start = time.perf_counter()
                    study.optimize(objective, n_trials=evals)
                    seconds = time.perf_counter() - start
                    trials = study.trials
                    for b in args.budgets:
                        row = {"kind": "beyond", "problem": name, "optimizer": "optuna_" + s, "seed": seed,
                               "budget": b, "score": score(kind, target, trials, b), "seconds": seconds}
                        out.write(json.dumps(row) + "\n")
                    out.flush()
                    print(name, s, seed, f"{seconds:.1f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
