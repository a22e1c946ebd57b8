"""`python -m sweepd SCRIPT [ARGS...]`: run a W&B script on sweepd, unchanged.

The script runs as `__main__` (runpy), with `sys.argv` = [SCRIPT, ARGS...],
its folder first on sys.path as Python puts it, and `import wandb` giving
the sweepd package: a script that calls wandb.sweep and wandb.agent itself
(W&B's sweeps tutorial) then runs its sweep on the local sweepd.
"""

import os
import runpy
import sys

import sweepd

USAGE = """usage: python -m sweepd SCRIPT [ARGS...]

Runs SCRIPT (a W&B script: `import wandb`, wandb.sweep, wandb.agent, ...)
with `wandb` being sweepd's package, so its sweep runs on the local sweepd."""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    script = argv[0]
    if not os.path.isfile(script):
        print("sweepd: no script %s\n\n%s" % (script, USAGE), file=sys.stderr)
        return 2
    sweepd._as_wandb()
    sys.argv = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
