"""`import wandb` in runs that sweepd starts (sweepd puts this folder's
parent first on PYTHONPATH).

By default `wandb` becomes the sweepd package itself (`sys.modules` is
pointed at it), so `wandb.init`, `wandb.log`, `wandb.config` and the rest are
sweepd's, and `wandb.run`/`wandb.config`/`wandb.summary` are always the open
run's.

With SWEEPD_WANDB=offline, the real `wandb` package is imported in its place
(this folder leaves sys.path), forced to WANDB_MODE=offline, and wrapped so
that every logged dict also reaches sweepd and the sweep's parameters are in
wandb.config (see sweepd/_wandb_offline.py). Without the real package, the
sweepd package stands in, after one warning.
"""

import os
import sys


def _use_sweepd():
    try:
        import sweepd
    except ImportError as e:
        raise ImportError(
            "the sweepd wandb shim needs the sweepd package (pip install the "
            "sweepd repository's python/ folder): %s" % e
        ) from None
    sweepd._as_wandb()


def _use_real_wandb():
    import sweepd._wandb_offline as offline

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not offline.load_real(here):
        _use_sweepd()


if os.environ.get("SWEEPD_WANDB") == "offline":
    _use_real_wandb()
else:
    _use_sweepd()
