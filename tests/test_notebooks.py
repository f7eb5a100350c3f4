"""The notebooks of ``notebooks/`` run from top to bottom (small sizes:
``ICLV_NOTEBOOK_SMALL=1``) in a Jupyter kernel of this Python, and are stored as
``notebooks/make_notebooks.py`` writes them: without outputs.

Measured on the shared two-core machine under load (load average 11-16): quickstart
57 s, gradient debugging 62 s (marked slow: the four together would exceed 2.5 min),
drug choice 43 s, benchmarks 10 s.
"""

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in FOLDER.glob("*.ipynb"))
SLOW = {"02_gradient_debugging.ipynb"}
CELL_SECONDS = 300  # a hung kernel fails instead of blocking the suite


def test_every_notebook_is_stored_as_generated_and_without_outputs():
    sys.path.insert(0, str(FOLDER))
    try:
        import make_notebooks
    finally:
        sys.path.remove(str(FOLDER))
    assert NOTEBOOKS == sorted(make_notebooks.NOTEBOOKS)
    for name, cells in make_notebooks.NOTEBOOKS.items():
        stored = nbformat.read(FOLDER / name, as_version=4)
        assert stored == make_notebooks.notebook(cells), f"rerun make_notebooks.py ({name})"
        assert stored.metadata.kernelspec.name == "python3"
        for cell in stored.cells:
            assert cell.get("outputs", []) == [] and cell.get("execution_count") is None


def _probe_cell():
    """A first cell printing the kernel's interpreter and the iclv_jax it imports."""
    return nbformat.v4.new_code_cell(
        "import json, sys, iclv_jax\nprint(json.dumps([sys.executable, iclv_jax.__file__]))"
    )


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NOTEBOOKS]
)
def test_notebook_runs(name, monkeypatch):
    """Executed in a ``python3`` kernel that must be this interpreter (jupyter_client
    runs ``sys.executable`` for the kernelspec ipykernel installs in ``sys.prefix``)
    importing this checkout's ``iclv_jax``; any error in a cell fails the test."""
    monkeypatch.setenv("ICLV_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    )
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(FOLDER / name, as_version=4)
    notebook.cells.insert(0, _probe_cell())
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_SECONDS,
        resources={"metadata": {"path": str(FOLDER)}},
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    # the probe's own line is on stdout; importing iclv_jax may write warnings to stderr
    # (tqdm's "IProgress not found" in a kernel without ipywidgets)
    (printed,) = [
        out["text"]
        for out in notebook.cells[0].outputs
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    ]
    executable, package = json.loads(printed)
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(package).resolve() == ROOT / "iclv_jax" / "__init__.py"
    assert all(
        out.get("output_type") != "error"
        for cell in notebook.cells
        for out in cell.get("outputs", [])
    )
