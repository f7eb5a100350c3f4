"""The notebooks of ``notebooks/`` run from top to bottom (small sizes:
``ICLV_NOTEBOOK_SMALL=1``) in a Jupyter kernel of this Python, with clean outputs (no
warning, nothing on stderr, every fit converged, no NaN standard error: see
``notebooks/execute_notebooks.py``, which ``make notebooks`` runs), and are stored as
``notebooks/make_notebooks.py`` writes them: without outputs.

Measured on the shared two-core machine: quickstart 69 s and drug choice 41 s (both
estimated to a verified optimum: 150 people, 20 draws), benchmarks 13 s, Bayesian
30 s (both formulations sampled on 100 people, 2 chains x (60 + 60)); gradient
debugging about 60 s (marked slow: the four together would exceed 2.5 min).
"""

import importlib
import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in FOLDER.glob("*.ipynb"))
SLOW = {"02_gradient_debugging.ipynb", "05_bayesian.ipynb"}  # 05: NUTS runs (test_bayes_sampling)


def _script(name: str):
    """``notebooks/<name>.py`` as a module."""
    sys.path.insert(0, str(FOLDER))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(FOLDER))


def test_every_notebook_is_stored_as_generated_and_without_outputs():
    make_notebooks = _script("make_notebooks")
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


def _stream(name: str, text: str):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_output_problems_finds_warnings_stderr_unconverged_fits_and_nan_standard_errors():
    """The checks the executed notebooks must pass, on hand-made outputs: each kind of
    problem is named with its cell, a clean output passes."""
    problems_of = _script("execute_notebooks").output_problems
    summary = (
        "  information share of curvature   nan\n"  # not computed: no problem
        "                 estimate       se      t\n"
        "beta_price       -0.72      0.018  -40.2\n"
    )
    clean = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell()])
    clean.cells[0].outputs = [_stream("stdout", summary)]
    assert problems_of(clean) == []
    bad = [
        _stream("stderr", "TqdmWarning: IProgress not found\n"),
        _stream("stdout", "UserWarning: estimation did not converge\n"),
        _stream("stdout", "converged  False (...; NOT converged: relative gradient)\n"),
        _stream("stdout", summary + "lambda           nan        nan    nan\n"),
        nbformat.v4.new_output("error", ename="ValueError", evalue="x", traceback=["boom"]),
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell() for _ in bad])
    for cell, output in zip(notebook.cells, bad, strict=True):
        cell.outputs = [output]
    found = problems_of(notebook)
    assert [p.split(":")[0] for p in found] == [
        f"cell {i} ({o.output_type})" for i, o in enumerate(bad)
    ]
    assert "stderr: TqdmWarning" in found[0] and "a warning" in found[1]
    assert "unconverged" in found[2] and "NaN in a row: lambda nan nan nan" in found[3]
    assert "error ValueError" in found[4]


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NOTEBOOKS]
)
def test_notebook_runs_with_clean_outputs(name):
    """Executed in a ``python3`` kernel that must be this interpreter (jupyter_client
    runs ``sys.executable`` for the kernelspec ipykernel installs in ``sys.prefix``)
    importing this checkout's ``iclv_jax``; any error, warning, stderr output,
    unconverged fit or NaN standard error fails the test."""
    runner = _script("execute_notebooks")
    notebook = nbformat.read(FOLDER / name, as_version=4)
    notebook.cells.insert(0, _probe_cell())
    runner.execute(notebook, small=True)
    assert runner.output_problems(notebook) == []
    (printed,) = [
        out["text"]
        for out in notebook.cells[0].outputs
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    ]
    executable, package = json.loads(printed)
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(package).resolve() == ROOT / "iclv_jax" / "__init__.py"
