"""W&B's sweeps tutorial (../shared/tutorial), as its users run it, on sweepd.

- The notebook, executed cell by cell by a real Jupyter kernel (nbclient, the
  venv's python3 kernel), with the one line a user changes: the cell
  `import wandb` becomes `import sweepd as wandb`. Nothing else changes.
- The script, unchanged: `python -m sweepd sweeps_tutorial.py`.

Each runs in a world of its own (tests/python/_harness.py): a temporary HOME =
SWEEPS_HOME = working directory holding MNIST/raw/ (links to the four files
scripts/setup-trainer fetched), a real sweepd, CUDA hidden. Both make the
tutorial's sweep (random search, 5 runs through `wandb.agent(..., count=5)`,
1 epoch on a fifth of MNIST on the CPU) and the same checks follow.
"""

import math
import os
import re
import sys
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402
from _harness import PYTHON, TUTORIAL, WorldTest, about, explained  # noqa: E402

NOTEBOOK = os.path.join(TUTORIAL, "sweeps-tutorial.ipynb")
SCRIPT = os.path.join(TUTORIAL, "sweeps_tutorial.py")

# The one change a user makes to the notebook.
ORIGINAL_CELL = "import wandb"
REPLACED_CELL = "import sweepd as wandb"

RUNS = 5  # wandb.agent(sweep_id, train, count=5)
# build_dataset: a Subset of every 5th of MNIST's 60,000 training images.
SAMPLES = len(range(0, 60000, 5))
CREATED = re.compile(r"created sweep (\S+)")

# Executes a notebook with nbclient; argv: the notebook, where to write the
# executed notebook. Run in the world's environment and directory, so the
# kernel (and Jupyter's own files) are the world's.
RUN_NOTEBOOK = r"""
import sys
import warnings
warnings.filterwarnings("ignore", message="Cell is missing an id field")
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from jupyter_client.kernelspec import KernelSpecManager

spec = KernelSpecManager().get_kernel_spec("python3")
# jupyter_client runs "python" in a kernel's argv as sys.executable: this venv's.
print("kernel python3:", spec.resource_dir, spec.argv, "->", sys.executable, flush=True)
nb = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(nb, kernel_name="python3", timeout=900, allow_errors=False)
try:
    client.execute(cwd=".")
except CellExecutionError as e:
    print(e, file=sys.stderr)
    sys.exit(3)
finally:
    nbformat.write(nb, sys.argv[2])
"""


def _read(nbformat, path):
    # The shared notebook is nbformat 4.5 without cell ids: nbformat warns
    # (MissingIDFieldWarning) at each read and write.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cell is missing an id field")
        return nbformat.read(path, as_version=4)


def _write(nbformat, nb, path):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cell is missing an id field")
        nbformat.write(nb, path)


def _text_outputs(nb):
    """Every stream text and error of an executed notebook, in order."""
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") == "error":
                parts.append("%s: %s\n%s" % (out.get("ename"), out.get("evalue"),
                                             "\n".join(out.get("traceback", []))))
    return "".join(parts)


class TutorialChecks:
    """The checks both forms of the tutorial share."""

    def check_tutorial_sweep(self, sweep, output):
        world = self.world
        self.assertEqual(world.sweep_ids(), [sweep], "exactly the tutorial's sweep is in the home")
        self.assertIn("created sweep %s" % sweep, output)

        # The agent has returned after its 5 runs; sweepd has recorded them.
        status = world.wait_runs_final(sweep, RUNS, within=60)
        states = [r["summary"]["state"] for r in status["runs"]]
        self.assertEqual(states, ["finished"] * RUNS, "status --json: %s" % states)

        run_dirs = world.run_dirs(sweep)
        self.assertEqual(len(run_dirs), RUNS, run_dirs)
        for run_dir in run_dirs:
            with about(run_dir):
                for name in ("params.json", "summary.json", "metrics.jsonl", "stdout.log",
                             "stderr.log"):
                    self.assertTrue(os.path.isfile(os.path.join(run_dir, name)), name)
                summary = world.summary(run_dir)
                self.assertEqual(summary["state"], "finished", summary)
                self.assertEqual(summary.get("exit_code"), 0, summary)
                params = world.params(run_dir)
                self.assertIn(params["optimizer"], ("adam", "sgd"))
                self.assertIn(params["fc_layer_size"], (128, 256, 512))
                self.assertEqual(params["epochs"], 1)
                records = world.metrics(run_dir)
                batch = [r for r in records if "batch loss" in r]
                epoch = [r for r in records if "loss" in r and "epoch" in r]
                self.assertTrue(batch, "no `batch loss` records")
                self.assertTrue(epoch, "no record with `loss` and `epoch`")
                # One `batch loss` per batch of the tutorial's loader, one
                # `loss` per epoch: nothing lost, nothing doubled.
                self.assertEqual(len(batch), math.ceil(SAMPLES / params["batch_size"]))
                self.assertEqual([r["epoch"] for r in epoch], [0])
                for r in batch + epoch:
                    for key in ("_step", "_timestamp", "_runtime"):
                        self.assertIn(key, r)
                # sweepd saw the sweep's metric (`loss`) of this run.
                self.assertEqual(summary["metric"]["name"], "loss")
                self.assertEqual(summary["metric"]["count"], 1)
                self.assertAlmostEqual(summary["metric"]["last"], epoch[-1]["loss"])

        # What a user reads: `sweepctl status SWEEP` lists 5 runs, each finished,
        # and the list of sweeps says 5 done, none running, none failed.
        text = world.sweepctl("status", sweep).stdout
        rows = [line.split() for line in text.splitlines() if re.match(r"^\d+\s", line)]
        self.assertEqual([row[0] for row in rows], [str(i) for i in range(1, RUNS + 1)], text)
        self.assertEqual([row[1] for row in rows], ["finished"] * RUNS, text)
        listing = world.sweepctl("status").stdout
        line = [l for l in listing.splitlines() if l.startswith(sweep)]
        self.assertEqual(len(line), 1, listing)
        for count in (r"\b%d done\b" % RUNS, r"\b0 running\b", r"\b0 failed\b"):
            self.assertRegex(line[0], count)

        report = os.path.join(world.dir, "x.html")
        done = world.sweepctl("report", sweep, "-o", report)
        self.assertEqual(done.returncode, 0)
        self.assertTrue(os.path.isfile(report), "no report written")
        with open(report, encoding="utf-8") as f:
            html = f.read()
        self.assertGreater(len(html), 1000)
        self.assertIn("<html", html.lower())

        # torchvision read the four linked files and downloaded nothing.
        raw = os.path.join(world.dir, "MNIST", "raw")
        self.assertEqual(sorted(os.listdir(raw)), sorted(_harness.MNIST_FILES))


class NotebookTest(TutorialChecks, WorldTest, unittest.TestCase):
    world_name = "notebook"

    @explained
    def test_notebook_on_a_jupyter_kernel(self):
        import nbformat

        world = self.world
        world.start_daemon()
        world.link_mnist()

        nb = _read(nbformat, NOTEBOOK)
        # The user's one change: the first cell, exactly `import wandb`, the
        # only one that imports wandb.
        self.assertEqual(nb.cells[0].cell_type, "code")
        self.assertEqual(nb.cells[0].source, ORIGINAL_CELL)
        self.assertEqual(sum(1 for c in nb.cells if "import wandb" in c.source), 1)
        nb.cells[0].source = REPLACED_CELL
        given = os.path.join(world.dir, "sweeps-tutorial.ipynb")
        executed = os.path.join(world.dir, "executed.ipynb")
        _write(nbformat, nb, given)

        done = world.run([PYTHON, "-c", RUN_NOTEBOOK, given, executed], timeout=1200)
        world.note("nbclient's output", done.stdout + done.stderr)
        self.assertEqual(done.returncode, 0, "the notebook failed:\n%s" % done.stderr[-6000:])
        ran = _read(nbformat, executed)
        outputs = _text_outputs(ran)
        world.note("the notebook's outputs", outputs[-6000:])
        for cell in ran.cells:
            if cell.cell_type == "code":
                self.assertIsNotNone(cell.execution_count, cell.source[:60])
                errors = [o for o in cell.outputs if o.get("output_type") == "error"]
                self.assertEqual(errors, [], cell.source[:60])
        # Nothing else of the notebook changed.
        original = _read(nbformat, NOTEBOOK)
        self.assertEqual(
            [c.source for c in ran.cells],
            [REPLACED_CELL] + [c.source for c in original.cells][1:],
        )
        created = CREATED.findall(outputs)
        self.assertEqual(len(created), 1, outputs[-3000:])
        self.check_tutorial_sweep(created[0], outputs)


class ScriptTest(TutorialChecks, WorldTest, unittest.TestCase):
    world_name = "script"

    @explained
    def test_script_with_python_m_sweepd(self):
        world = self.world
        world.start_daemon()
        world.link_mnist()
        # Run from the world's directory, the shared script unchanged, in place.
        done = world.run([PYTHON, "-m", "sweepd", SCRIPT], timeout=1200)
        world.note("the script's output", (done.stdout + done.stderr)[-6000:])
        self.assertEqual(done.returncode, 0, "the script failed:\n%s" % done.stderr[-6000:])
        created = CREATED.findall(done.stderr)
        self.assertEqual(len(created), 1, done.stderr[-3000:])
        self.check_tutorial_sweep(created[0], done.stdout + done.stderr)


if __name__ == "__main__":
    unittest.main()
