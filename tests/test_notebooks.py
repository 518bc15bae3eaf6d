"""Execute every notebook in ``notebooks/`` so the documentation cannot rot.

Each notebook runs top to bottom in a fresh ``python3`` Jupyter kernel (nbclient),
with the notebooks folder as working directory and matplotlib on the non-interactive
Agg backend; any cell error fails the test.  The notebooks contain their own asserts
(gradients, fused vs unfused values, accuracy), never timing checks.

Needs the optional packages nbclient, nbformat, ipykernel and matplotlib (the
``test`` extra); without them these tests are skipped.
"""
from __future__ import annotations

import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 120


def test_notebooks_exist():
    names = [p.name for p in NOTEBOOKS]
    for expected in ("01_quickstart.ipynb", "02_fusion.ipynb", "03_training.ipynb", "04_custom_ops.ipynb"):
        assert expected in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    # outputs (timings, plots, machine paths) belong to the reader's run, not to the repository
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name}: cell {i} has stored outputs; clear them"
            assert cell.get("execution_count") is None, f"{path.name}: cell {i} has an execution count"
        source = "".join(cell["source"])
        assert str(ROOT) not in source, f"{path.name}: cell {i} contains an absolute path"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")

    # the kernel is a child process and inherits this environment
    monkeypatch.setenv("MPLBACKEND", "Agg")
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + (os.pathsep + pythonpath if pythonpath else ""))
    # NUMGRAD_CACHE_DIR is set by conftest.py: the kernels share the test suite's cache

    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError (with the cell's traceback) on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
