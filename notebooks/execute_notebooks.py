"""Execute the notebooks of this folder and check what they print.

    python notebooks/execute_notebooks.py [--small] [--out DIR] [NAME ...]

Each notebook (all, or the ``NAME``s given) runs top to bottom in a ``python3``
Jupyter kernel of this Python (nbclient and ipykernel, the ``dev`` extra), importing
this checkout's ``iclv_jax``; ``--small`` sets ``ICLV_NOTEBOOK_SMALL=1`` (the test
suite's sizes).  The executed copies, outputs included, go to ``DIR`` (default
``notebooks/executed/``, not tracked).  Exit status 1 when a cell fails or an output
shows a problem (:func:`output_problems`): a warning, anything on stderr, an
unconverged fit or a NaN standard error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbclient
import nbformat
from traitlets.config import Config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CELL_SECONDS = 600  # a hung kernel fails instead of blocking
#: a NaN printed as a number, not inside a word
NAN = re.compile(r"(?<![A-Za-z])nan(?![A-Za-z])", re.IGNORECASE)
#: a number as pandas and the summary print it
NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def nan_in_a_row_of_numbers(line: str) -> bool:
    """Whether ``line`` is a table row (a name, then at least two values, each a number
    or NaN: a parameter's estimate, SE, t, p ...) holding a NaN; a summary line such as
    ``information share of curvature  nan`` (a quantity not computed for this fit) is
    not one."""
    values = line.split()[1:]
    numeric = [bool(NUMBER.match(v)) or bool(NAN.fullmatch(v)) for v in values]
    return len(values) >= 2 and all(numeric) and any(NAN.fullmatch(v) for v in values)


def _texts(output) -> list[str]:
    """The text of one output: a stream's text, an error's traceback, a result's
    ``text/plain``."""
    if output.get("output_type") == "stream":
        return [output.get("text", "")]
    if output.get("output_type") == "error":
        return ["\n".join(output.get("traceback", [])) or output.get("ename", "error")]
    return [output.get("data", {}).get("text/plain", "")]


def output_problems(notebook) -> list[str]:
    """What is wrong in an executed notebook's outputs, one line per problem naming the
    cell: an error; any stderr output (warnings, progress bars: a clean run writes
    none); the word ``Warning`` anywhere; a fit ``NOT converged``; a NaN in a row of
    numbers printed on stdout (where ``results.summary()`` prints each parameter's
    estimate and standard errors)."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            where = f"cell {index} ({output.get('output_type')})"
            problems += [f"{where}: {problem}" for problem in _problems_of(output)]
    return problems


def _problems_of(output) -> list[str]:
    """The problems of one output (see :func:`output_problems`)."""
    problems = []
    for text in _texts(output):
        first = next((line for line in text.splitlines() if line.strip()), "")
        if output.get("output_type") == "error":
            problems.append(f"error {output.get('ename')}: {first}")
            continue
        if output.get("name") == "stderr":
            problems.append(f"stderr: {first}")
            continue
        if "Warning" in text:
            problems.append(f"a warning: {first}")
        if "NOT converged" in text:
            problems.append("an unconverged fit")
        rows = [line for line in text.splitlines() if nan_in_a_row_of_numbers(line)]
        if output.get("name") == "stdout" and rows:
            problems.append(f"NaN in a row: {' '.join(rows[0].split())}")
    return problems


def execute(notebook, small: bool, kernel_env: dict | None = None):
    """Run ``notebook`` in place in a ``python3`` kernel whose working folder is this
    one; a failing cell stops it (its error is kept in the outputs)."""
    environment = dict(os.environ if kernel_env is None else kernel_env)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    if small:
        environment["ICLV_NOTEBOOK_SMALL"] = "1"
    with tempfile.TemporaryDirectory() as sockets:  # IPC: local sockets, not TCP
        transport = {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}
        client = nbclient.NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=CELL_SECONDS,
            resources={"metadata": {"path": str(HERE)}},
            config=Config({"KernelManager": transport}),
        )
        try:
            client.execute(env=environment)  # the kernel's whole environment
        except nbclient.exceptions.CellExecutionError:
            pass  # the error is in the cell's outputs, reported by output_problems
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--small", action="store_true", help="ICLV_NOTEBOOK_SMALL=1")
    parser.add_argument("--out", type=Path, default=HERE / "executed")
    args = parser.parse_args(argv)
    names = args.names or sorted(p.name for p in HERE.glob("*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in names:
        began = time.perf_counter()
        notebook = execute(nbformat.read(HERE / name, as_version=4), args.small)
        nbformat.write(notebook, args.out / name)
        problems = output_problems(notebook)
        seconds = time.perf_counter() - began
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        print(f"{name}: {status} in {seconds:.0f} s -> {args.out / name}", flush=True)
        for problem in problems:
            print(f"    {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
