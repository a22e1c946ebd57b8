"""sweepd's Python API: W&B's API for everything sweeps use, offline.

    import sweepd as wandb

    sweep_id = wandb.sweep(sweep_config, project="demo")   # submitted to the local sweepd
    def train():
        with wandb.init():
            for epoch in range(wandb.config.epochs):
                wandb.log({"loss": ...})
    wandb.agent(sweep_id, train, count=5)                   # each run a forked child

Standard library only. `wandb.run`, `wandb.config` and `wandb.summary` are
looked up when read (PEP 562), so they are always the open run's. Outside a
sweep, `init()` is W&B's mode="disabled": everything works, nothing is kept.
`python -m sweepd script.py` runs a script that does `import wandb` on
sweepd; the `shim/` folder beside this package does the same for `import
wandb` in runs that sweepd starts.
"""

import os as _os
import sys as _sys

# Before torch is imported: torch.cuda.is_available() then asks NVML and
# does not initialise CUDA in the caller, so agent()'s forked children can
# (see _agent.py).
_os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

from . import errors  # noqa: E402
from ._accepted import (  # noqa: E402
    AlertLevel,
    Settings,
    login,
    require,
    setup,
    teardown,
    termerror,
    termlog,
    termwarn,
)
from ._agent import agent  # noqa: E402
from ._config import Config, Summary  # noqa: E402
from ._media import (  # noqa: E402
    Artifact,
    Audio,
    Graph,
    Histogram,
    Html,
    Image,
    Molecule,
    Object3D,
    Plotly,
    Table,
    Video,
    plot,
)
from ._run import (  # noqa: E402
    Run,
    alert,
    define_metric,
    finish,
    init,
    log,
    log_artifact,
    save,
    unwatch,
    use_artifact,
    watch,
)
from ._sweep import sweep  # noqa: E402
from .errors import Error  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AlertLevel", "Artifact", "Audio", "Config", "Error", "Graph", "Histogram", "Html",
    "Image", "Molecule", "Object3D", "Plotly", "Run", "Settings", "Summary", "Table",
    "Video", "agent", "alert", "config", "define_metric", "errors", "finish", "init",
    "log", "log_artifact", "login", "plot", "require", "run", "save", "setup", "summary",
    "sweep", "teardown", "termerror", "termlog", "termwarn", "unwatch", "use_artifact",
    "watch",
]


def __getattr__(name):
    """`run`, `config` and `summary`: the open run's, read when asked."""
    from . import _run

    if name == "run":
        return _run.current()
    if name in ("config", "summary"):
        run = _run.current()
        if run is not None:
            return getattr(run, name)
        config, summary = _run.placeholder()
        return config if name == "config" else summary
    raise AttributeError("module 'sweepd' has no attribute %r" % name)


def _as_wandb():
    """Make `import wandb` (and `import wandb.errors`) give this package."""
    _sys.modules["wandb"] = _sys.modules[__name__]
    _sys.modules["wandb.errors"] = errors
