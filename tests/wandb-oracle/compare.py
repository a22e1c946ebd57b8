#!/usr/bin/env python3
"""Compare sweepctl with W&B's own sweep engine (the `sweeps` package, 0.3.0).

Four checks, each against W&B itself:

1. verdicts: `sweepctl validate` over the W&B config corpus agrees with W&B's
   recorded verdict (VALIDATION-sweeps-0.3.0.json), except the deliberate
   deviations listed in docs/wandb-compatibility.md, and every listed deviation
   still is one; and over the edge cases in verdicts/ it agrees with W&B's
   verdict computed here and now, except files marked `# deviation: why`;
2. grids: for every grid sweep that both accept (the corpus, examples/, and the
   edge cases in grids/), `sweepctl preview --json` lists exactly the runs W&B's
   engine proposes, in the same order, with the same value types;
3. random: for every distribution, 4,000 draws of ours and 4,000 of W&B's are
   compared (two-sample Kolmogorov-Smirnov, or chi-square for discrete values)
   and must not differ at the 0.1% level; value types must match.

Only reads W&B's engine and its outputs; nothing of it is copied.
Usage: compare.py --sweepctl PATH [--corpus DIR] [--require-corpus]
"""

import argparse
import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.stats
import sweeps
from ruamel.yaml import YAML

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DOC = ROOT / "docs" / "wandb-compatibility.md"

failures = []


def fail(message):
    failures.append(message)
    print(f"  FAIL {message}")


def load(path):
    """The config as sweepd reads it: YAML 1.2 (ruamel), or JSON."""
    text = Path(path).read_text()
    if path.suffix == ".json":
        return json.loads(text)
    return YAML(typ="safe", pure=True).load(text)


def plain(value):
    """numpy scalars to Python ones, recursively, keeping int/float/bool apart."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def same(a, b):
    """Equal values of equal types (1 and 1.0 differ; True and 1 differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def sweepctl(exe, *args):
    return subprocess.run([exe, *args], capture_output=True, text=True)


def wandb_runs(config, n):
    """W&B's next n proposals, unwrapped from {name: {value: v}}."""
    runs = sweeps.next_runs(config, [], n=n)
    return [plain({k: v["value"] for k, v in r.config.items()}) for r in runs if r is not None]


def deviations():
    """Rows `| file | W&B | sweepd | why |` of the corpus table in the docs."""
    table = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.match(r"`?\d{3}-", cells[0]):
            table[cells[0].strip("`")] = (cells[1], cells[2], cells[3])
    return table


def check_verdicts(exe, corpus, require):
    print("1. verdicts over the W&B corpus")
    recorded = corpus / "VALIDATION-sweeps-0.3.0.json"
    if not recorded.exists():
        message = f"no corpus at {corpus}"
        if require:
            fail(message)
        else:
            print(f"  (skipped: {message}; CI has it at ../shared)")
        return
    results = json.loads(recorded.read_text())["results"]
    listed = deviations()
    files = [corpus / r["file"] for r in results]
    out = sweepctl(exe, "validate", "--json", *map(str, files))
    ours = {Path(j["file"]).name: j for j in map(json.loads, out.stdout.splitlines())}
    rows = []
    for r in results:
        name = r["file"]
        wandb_runs_it = (r["schema_valid"] or r["only_deprecation_violations"]) and r["next_run"] == "ok"
        we_run_it = ours[name]["valid"]
        agree = wandb_runs_it == we_run_it
        verdict = lambda ok: "valid" if ok else "invalid"
        rows.append((name, verdict(wandb_runs_it), verdict(we_run_it), agree))
        if not agree and name not in listed:
            fail(f"{name}: W&B says {verdict(wandb_runs_it)}, sweepd {verdict(we_run_it)}, "
                 "and docs/wandb-compatibility.md does not list it")
        if agree and name in listed:
            fail(f"{name}: listed as a deviation but sweepd now agrees with W&B")
        if name in listed and not agree:
            want = listed[name]
            if want[0] != verdict(wandb_runs_it) or want[1] != verdict(we_run_it):
                fail(f"{name}: the docs table says {want[:2]}, the run says "
                     f"{(verdict(wandb_runs_it), verdict(we_run_it))}")
    for name in listed:
        if name not in ours:
            fail(f"{name}: listed in the docs but not in the corpus")
    agreed = sum(1 for row in rows if row[3])
    print(f"  {agreed} of {len(rows)} files agree with W&B 0.3.0; "
          f"{len(rows) - agreed} are the documented deviations")
    print("  | file | W&B 0.3.0 | sweepd |")
    for name, w, s, agree in rows:
        print(f"  | {name} | {w} | {s} |{'' if agree else ' deviation'}")


def wandb_verdict(path):
    """Would W&B run this file? Its CLI reads YAML with PyYAML; the file is
    valid when the schema check passes (or complains only of deprecated
    forms) and the engine can propose a first run."""
    import yaml

    text = path.read_text()
    try:
        config = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        violations = sweeps.schema_violations_from_proposed_config(config)
        if any("specify base-e exponents" not in v for v in violations):
            return False
        sweeps.next_run(config, [])
        return True
    except Exception:
        return False


def check_live_verdicts(exe):
    print("1b. verdicts on edge cases, W&B's computed here")
    files = sorted(HERE.glob("verdicts/*.yaml")) + sorted(HERE.glob("verdicts/*.json"))
    out = sweepctl(exe, "validate", "--json", *map(str, files))
    ours = {Path(j["file"]).name: j["valid"] for j in map(json.loads, out.stdout.splitlines())}
    deviations = 0
    for path in files:
        theirs = wandb_verdict(path)
        marked = "# deviation:" in path.read_text()
        verdict = lambda ok: "valid" if ok else "invalid"
        if ours[path.name] != theirs and not marked:
            fail(f"verdicts/{path.name}: W&B says {verdict(theirs)}, sweepd {verdict(ours[path.name])}")
        elif ours[path.name] == theirs and marked:
            fail(f"verdicts/{path.name}: marked as a deviation but both say {verdict(theirs)}")
        deviations += marked
    print(f"  {len(files) - deviations} cases agree with W&B, {deviations} are marked deviations")


def grid_files(corpus):
    files = sorted(HERE.glob("grids/*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))
    if corpus.exists():
        files += sorted(p for p in corpus.iterdir() if p.suffix in (".yaml", ".json") and p.name[0].isdigit())
    return files


def check_grids(exe, corpus):
    print("2. grid order and contents against W&B's engine")
    compared = 0
    for path in grid_files(corpus):
        try:
            config = load(path)
        except Exception:
            continue
        if not isinstance(config, dict) or config.get("method") != "grid":
            continue
        # Every run: preview shows at most 10,000 of a grid unless told more.
        out = sweepctl(exe, "preview", "--json", "-n", "1000000", str(path))
        if out.returncode != 0:
            continue
        ours = [json.loads(line) for line in out.stdout.splitlines()]
        block = config.pop("sweepd", None) or {}
        cap = config.pop("run_cap", None)
        if block.get("conditions"):
            # W&B has no conditional parameters: it would run every parameter always.
            print(f"  skipped {path.name}: sweepd.conditions, which W&B cannot express")
            continue
        if block.get("constraints"):
            # W&B's grid, less the points that break a constraint, in W&B's order.
            try:
                theirs = wandb_runs(config, 10**6)
            except Exception as e:
                fail(f"{path.name}: sweepd lists a grid, W&B's engine raises {e!r}")
                continue
            compared += 1
            rest = iter(theirs)
            if all(any(same(a, b) for b in rest) for a in ours) and len(ours) < len(theirs):
                print(f"  ok {path.name}: {len(ours)} runs, W&B's {len(theirs)} in order less "
                      "those that break sweepd.constraints")
            else:
                fail(f"{path.name}: the {len(ours)} runs are not W&B's {len(theirs)} in order, "
                     "less those that break the constraints")
            continue
        try:
            theirs = wandb_runs(config, len(ours) + 1 if cap is None else len(ours))
        except Exception as e:
            fail(f"{path.name}: sweepd lists a grid, W&B's engine raises {e!r}")
            continue
        compared += 1
        if cap is None and len(theirs) != len(ours):
            fail(f"{path.name}: {len(ours)} runs here, {len(theirs)} in W&B")
            continue
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if not same(a, b):
                fail(f"{path.name}: run {i + 1} is {a} here and {b} in W&B")
                break
        else:
            print(f"  ok {path.name}: {len(ours)} runs, same order and values")
    if compared == 0:
        fail("no grid was compared")


def check_random(exe):
    print("3. random draws against W&B's engine (4,000 each, 0.1% level)")
    path = HERE / "all-distributions.yaml"
    config = load(path)
    n = 4000
    out = sweepctl(exe, "preview", "--json", "-n", str(n), "--seed", "1", str(path))
    if out.returncode != 0:
        fail(f"{path.name}: sweepctl preview failed: {out.stderr}")
        return
    ours = [json.loads(line) for line in out.stdout.splitlines()]
    config.pop("sweepd", None)
    config.pop("run_cap", None)
    random.seed(1)
    np.random.seed(1)
    theirs = wandb_runs(config, n)
    for name in sorted(config["parameters"]):
        a = [run[name] for run in ours]
        b = [run[name] for run in theirs]
        kinds_a = sorted({type(v).__name__ for v in a})
        kinds_b = sorted({type(v).__name__ for v in b})
        if kinds_a != kinds_b:
            fail(f"{name}: value types {kinds_a} here, {kinds_b} in W&B")
            continue
        keys = sorted({json.dumps(v) for v in a} | {json.dumps(v) for v in b})
        if len(keys) <= 60:
            if len(keys) == 1:
                print(f"  ok {name}: always {keys[0]} in both")
                continue
            table = [[sum(json.dumps(v) == k for v in a) for k in keys],
                     [sum(json.dumps(v) == k for v in b) for k in keys]]
            # Pool cells too small for chi-square into one.
            cols = [list(c) for c in zip(*table)]
            small = [c for c in cols if sum(c) < 10]
            cols = [c for c in cols if sum(c) >= 10] + ([[sum(x) for x in zip(*small)]] if small else [])
            if len(cols) < 2:
                print(f"  ok {name}: {len(keys)} values, too few draws per value to test")
                continue
            p = scipy.stats.chi2_contingency(list(zip(*cols)))[1]
            test = "chi-square"
        else:
            p = scipy.stats.ks_2samp(a, b).pvalue
            test = "KS"
        if p < 0.001:
            fail(f"{name}: our draws and W&B's differ ({test} p = {p:.2g})")
        else:
            print(f"  ok {name}: {test} p = {p:.3f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweepctl", required=True)
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "conformance" / "wandb-configs"))
    parser.add_argument("--require-corpus", action="store_true")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    check_verdicts(args.sweepctl, corpus, args.require_corpus)
    check_live_verdicts(args.sweepctl)
    check_grids(args.sweepctl, corpus)
    check_random(args.sweepctl)
    if failures:
        print(f"\n{len(failures)} disagreement(s) with W&B")
        sys.exit(1)
    print("\nsweepctl agrees with W&B's engine (deviations as documented)")


if __name__ == "__main__":
    main()
