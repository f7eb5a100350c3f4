"""Command line.

- ``iclv-jax demo``: simulate the beverage study, estimate it, print beside the truth
  (``--html PATH``: the HTML report).
- ``iclv-jax estimate MODEL.yaml DATA.csv``: estimate a model file on a CSV file and
  write the table (CSV, Markdown), the results (JSON) and convergence plots (PNG),
  the fit statistics (CSV, LaTeX) and the single-file HTML report.  Every iteration is
  checkpointed (``--out``/checkpoint.json, or ``--checkpoint``); Ctrl-C stops the run
  with exit status 130 and one line giving the command that continues it (the same
  with ``--resume``).
- ``iclv-jax plot RESULTS.json DATA.csv``: LV posteriors and observed against
  predicted indicator and choice shares (PNG).
- ``iclv-jax check-gradients MODEL.yaml DATA.csv``: autodiff, analytic and finite-
  difference gradients at the start values; exit status 1 when they disagree.

Bad arguments, unreadable files, a model that does not fit the data, draws whose
arrays cannot fit in memory and an ``--out`` that cannot take the results (a file, not
writable, a result name linked outside the folder) end with one line ``iclv-jax ...:
error: ...`` on stderr (at most :data:`MAX_MESSAGE` characters) and exit status 2,
before any estimation.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import reprlib
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import datasets, plots
from .clireport import PLOT_OUTPUTS, REPORT_OUTPUTS, add_plot_command, write_plots, write_report
from .clisample import add_sample_command, run_sample
from .data import DataError, prepare_data
from .diagnostics import check_gradients
from .draws import (
    MLHS,
    ApolloHalton,
    DrawsMemoryError,
    Halton,
    PseudoRandom,
    Sobol,
    check_draws_memory,
)
from .errors import SpecificationError
from .estimation import estimate
from .modelfile import load_model
from .persistence import load_results
from .placement import available_memory_bytes
from .report import markdown_report
from .reportfigures import html_report

DRAW_TYPES = ("halton", "mlhs", "sobol", "pseudo", "apollo-halton")
USAGE_ERROR = 2
#: what ``estimate`` writes into ``--out``
OUTPUTS = (
    ("results.csv", "results.md", "results.json", "convergence.png", "gradient_scales.png")
    + REPORT_OUTPUTS
    + PLOT_OUTPUTS
)
#: the longest error line printed (longer messages are cut, saying how long they were)
MAX_MESSAGE = 2000
#: the checkpoint ``estimate`` writes into ``--out`` unless ``--checkpoint`` says where
CHECKPOINT = "checkpoint.json"
#: the exit status of a run stopped by Ctrl-C (SIGINT): 128 + 2, as shells report it
INTERRUPTED = 130


class InputError(Exception):
    """A file or value given on the command line cannot be used (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    return path


def _model_and_data_arguments(command) -> None:
    command.add_argument("model", type=_existing_file, help="model file (.yaml, .yml, .toml)")
    command.add_argument("data", type=_existing_file, help="CSV, one row per choice situation")
    command.add_argument(
        "--draws",
        type=_positive_int,
        default=100,
        metavar="R",
        help="draws per person (default 100)",
    )
    command.add_argument(
        "--draw-type",
        choices=DRAW_TYPES,
        default="halton",
        help="draws (default: scrambled Halton)",
    )
    command.add_argument("--seed", type=int, default=0, help="seed of the draws")
    command.add_argument(
        "--id-column", metavar="COL", help="person-id column (default: the model file's person_id)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="iclv-jax", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="simulate the beverage study, estimate it, print estimates beside the truth"
    )
    demo.add_argument("--people", type=_positive_int, default=326)
    demo.add_argument("--draws", type=_positive_int, default=100)
    demo.add_argument("--choice", choices=("probit", "logit", "ordered"), default="probit")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", metavar="PATH", help="write estimates, SEs and truth as JSON")
    demo.add_argument("--html", metavar="PATH", help="write the HTML report with its figures")

    estimate = commands.add_parser(
        "estimate", help="estimate a model file on a CSV file; write tables, JSON and plots"
    )
    _model_and_data_arguments(estimate)
    estimate.add_argument(
        "--out",
        type=Path,
        default=Path("iclv-results"),
        metavar="DIR",
        help="output folder (default ./iclv-results, created if needed)",
    )
    estimate.add_argument(
        "--max-iterations", type=_positive_int, metavar="K", help="iteration limit of the optimiser"
    )
    estimate.add_argument("--optimizer", default="hybrid", help="see iclv_jax.estimate")
    estimate.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help=f"the state after every iteration (default: DIR/{CHECKPOINT}); Ctrl-C stops "
        "the run cleanly and prints the command that resumes it",
    )
    estimate.add_argument(
        "--resume",
        action="store_true",
        help="continue from the checkpoint (same model, data, draws and optimizer)",
    )

    check = commands.add_parser(
        "check-gradients",
        help="compare analytic, autodiff and finite-difference gradients at the start values",
    )
    _model_and_data_arguments(check)
    add_plot_command(commands, _existing_file, _positive_int)
    add_sample_command(commands, _model_and_data_arguments, _positive_int)
    return parser


# --- demo -----------------------------------------------------------------------------


def run_demo(args) -> dict:
    df, model, truth = datasets.beverage(n_people=args.people, seed=args.seed, choice=args.choice)
    print(
        f"beverage study ({args.choice}): {args.people} people, {len(df)} choice situations, "
        f"raw prices 1,000-5,000, {args.draws} Halton draws",
        flush=True,
    )
    results = estimate(model, df, draws=Halton(args.draws, seed=args.seed))
    print(results.summary())
    table = results.table[["estimate", "robust_se"]].copy()
    table["truth"] = [truth.get(name, np.nan) for name in table.index]
    table["(est-truth)/se"] = (table["estimate"] - table["truth"]) / table["robust_se"]
    print("\nestimates beside the true values\n")
    print(table.to_string(float_format=lambda x: f"{x:.5g}"))
    report = {
        "estimates": results.table["estimate"].to_dict(),
        "se": results.table["se"].to_dict(),
        "robust_se": results.table["robust_se"].to_dict(),
        "truth": truth,
        "loglike": results.loglike,
        "converged": results.converged,
        "iterations": results.iterations,
        "n_params": results.n_params,
        "seconds": results.seconds,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    if args.html:
        html_report(results, args.html, df)
    return report


# --- model file + data ----------------------------------------------------------------


def make_draws(draw_type: str, n_draws: int, seed: int):
    """The draws object of ``--draw-type`` (see :data:`DRAW_TYPES`)."""
    if draw_type == "apollo-halton":
        return ApolloHalton(n_draws)
    classes = {"halton": Halton, "mlhs": MLHS, "sobol": Sobol, "pseudo": PseudoRandom}
    try:
        return classes[draw_type](n_draws, seed=seed)
    except ValueError as error:
        raise InputError(f"--draw-type {draw_type} with --draws {n_draws}: {error}") from None


def read_csv(path: Path) -> pd.DataFrame:
    """The CSV file; empty cells (and ``NA``, ``NaN``, ...) are read as NaN, which an
    indicator with ``missing_codes: [NaN]`` (or ``missing_indicators: integrate``)
    takes as a missing answer and any other column refuses."""
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        message = " ".join(str(error).split())
        raise InputError(f"{path}: cannot read the CSV file: {message}") from None


def _ordered_parts(model) -> list[tuple[str, str, int]]:
    """``(what, column, levels)`` of every ordered indicator and an ordered choice."""
    return [
        ("indicator", ind.name, ind.levels) for ind in model.indicators if ind.ordered
    ] + model.choice.ordered_columns()


def check_against_data(model, df: pd.DataFrame, source: Path):
    """Refuse data that do not fit the model before estimating.

    :func:`iclv_jax.prepare_data` names missing or non-numeric columns, values outside
    ``1..levels`` and the like (raising :class:`~iclv_jax.DataError`); on top of that,
    every level ``1..levels`` of an ordered indicator or choice must occur in the
    data, since the threshold of a level nobody chose is not identified (it runs off
    to infinity).  Returns the prepared panel.
    """
    try:
        panel = prepare_data(model, df)
    except DataError as error:
        raise InputError(f"{source}: the data do not fit the model: {error}") from None
    for what, column, levels in _ordered_parts(model):
        observed = set(df[column].dropna())  # NaN: a declared missing answer
        unused = [level for level in range(1, levels + 1) if level not in observed]
        if unused:
            raise InputError(
                f"{source}: {what} {column!r} has levels: {levels} in the model but "
                f"{len(unused)} level(s) {reprlib.repr(unused)} never occur in the data; set "
                "levels to the data's or recode"
            )
    return panel


def check_draws_fit(model, panel, draws) -> None:
    """Refuse draws whose arrays cannot fit in the memory available (see
    :func:`iclv_jax.draws.check_draws_memory`), before anything is allocated."""
    n_draws = draws.for_dims(model.n_draw_dims).n_draws
    try:
        check_draws_memory(panel.n_people, n_draws, model.n_draw_dims, available_memory_bytes())
    except DrawsMemoryError as error:
        raise InputError(f"--draws {draws.n_draws}: {error}") from None


def load_inputs(args):
    """``(model, data, draws)`` from the command line, every problem as :class:`InputError`."""
    try:
        model = load_model(args.model)
        if args.id_column is not None:
            model = dataclasses.replace(model, person_id=args.id_column)
    except SpecificationError as error:  # ModelFileError included
        raise InputError(str(error)) from None
    data = read_csv(args.data)
    panel = check_against_data(model, data, args.data)
    draws = make_draws(args.draw_type, args.draws, args.seed)
    check_draws_fit(model, panel, draws)
    return model, data, draws


def _check_links(out: Path) -> None:
    """Refuse an output name in ``out`` that is a symbolic link leading outside it."""
    folder = out.resolve()
    for name in OUTPUTS:
        target = out / name
        if target.is_symlink() and not target.resolve().is_relative_to(folder):
            raise InputError(
                f"--out {out}: {name} is a symbolic link to {target.resolve()}, "
                "outside the output folder; remove it or choose another folder"
            )


def prepare_out(out: Path) -> None:
    """Create the output folder before estimating and check it takes the results: not
    a file, writable (a temporary file is created and removed), no output name a
    symbolic link leading outside it."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as error:
        raise InputError(f"--out {out}: cannot write there: {error.strerror}") from None
    _check_links(out)


def save_figure(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt  # the optional plots extra

    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def write_outputs(results, out: Path) -> list[Path]:
    """``results.csv``, ``results.md``, ``results.json``, ``convergence.png`` and
    ``gradient_scales.png`` in ``out``; the plots where there is an iteration history
    and matplotlib is installed (the ``plots`` extra).  Links are checked again (see
    :func:`prepare_out`): one may have appeared during the estimation."""
    out.mkdir(parents=True, exist_ok=True)
    _check_links(out)
    results.report_table().to_csv(out / "results.csv")
    (out / "results.md").write_text(markdown_report(results))
    written = [out / "results.csv", out / "results.md", results.save(out / "results.json")]
    if importlib.util.find_spec("matplotlib") is None:
        print("plots skipped: matplotlib is not installed (pip install 'iclv_jax[plots]')")
    elif len(results.history):
        import matplotlib  # the optional plots extra

        matplotlib.use("Agg")

        written.append(save_figure(plots.convergence(results), out / "convergence.png"))
        written.append(save_figure(plots.gradient_scales(results), out / "gradient_scales.png"))
    return written


def checkpoint_path(args) -> Path:
    """``--checkpoint``, or ``checkpoint.json`` in ``--out``."""
    return args.checkpoint if args.checkpoint is not None else args.out / CHECKPOINT


def run_estimate(args):
    model, data, draws = load_inputs(args)
    prepare_out(args.out)
    checkpoint = checkpoint_path(args)
    if args.resume and not checkpoint.is_file():
        raise InputError(f"--resume: there is no checkpoint {str(checkpoint)!r} to resume from")
    if not args.resume and checkpoint.is_file():
        print(f"{checkpoint} exists: starting afresh and overwriting it (--resume continues it)")
    print(
        f"{args.model}: {len(model.lv_names)} latent variables, {len(model.indicators)} "
        f"indicators; {args.data}: {len(data)} rows; draws {draws.for_dims(model.n_draw_dims)!r}",
        flush=True,
    )
    options = {} if args.max_iterations is None else {"max_iterations": args.max_iterations}
    try:
        results = estimate(
            model,
            data,
            draws=draws,
            optimizer=args.optimizer,
            verbose=True,
            checkpoint=str(checkpoint),
            resume=str(checkpoint) if args.resume else None,
            **options,
        )
    except ValueError as error:  # e.g. an unknown optimizer, a non-finite start
        raise InputError(str(error)) from None
    print(results.summary())
    for path in write_outputs(results, args.out) + write_report(results, data, args.out):
        print(f"wrote {path}")
    return results


def run_plot(args):
    """``plot``: the figures of saved results on a CSV file, PNGs in ``--out``."""
    try:
        results = load_results(args.results)
    except ValueError as error:
        raise InputError(str(error)) from None
    if results.model is None:
        raise InputError(f"{args.results}: the results file holds no model")
    data = read_csv(args.data)
    check_against_data(results.model, data, args.data)
    prepare_out(args.out)
    draws = None if args.draws is None else make_draws("halton", args.draws, 0)
    for path in write_plots(results, data, args.out, draws):
        print(f"wrote {path}")


def run_check_gradients(args):
    model, data, draws = load_inputs(args)
    report = check_gradients(model, data, draws=draws)
    print(report)
    return report


def command_line(argv: list[str], resume: bool) -> str:
    """This command line as the shell would take it, with ``--resume`` or without
    (``iclv-jax`` when run as that script, else this Python with ``-m iclv_jax``)."""
    program = (
        ["iclv-jax"] if Path(sys.argv[0]).name == "iclv-jax" else [sys.executable, "-m", "iclv_jax"]
    )
    kept = [a for a in argv if a != "--resume"]
    return shlex.join([*program, *kept, *(["--resume"] if resume else [])])


def checkpoint_of_this_run(path: Path, resumed: bool, started: float) -> dict | None:
    """The checkpoint at ``path`` if this run wrote it (since ``started``, a
    :func:`time.time`) or resumed from it, and it is readable; else None."""
    try:
        if not resumed and path.stat().st_mtime < started:
            return None  # an earlier run's, not yet overwritten
        saved = json.loads(path.read_text())
        return saved if isinstance(saved, dict) and {"iteration", "loglike"} <= set(saved) else None
    except (OSError, ValueError):
        return None


def interrupted_message(args, argv: list[str], started: float) -> str:
    """What an interrupted command says: for ``estimate``, where the last iterate is
    and the command that resumes from it, or, with no checkpoint of this run, the
    command that starts it again."""
    if args.command != "estimate":
        return f"iclv-jax {args.command}: interrupted"
    checkpoint = checkpoint_path(args)
    saved = checkpoint_of_this_run(checkpoint, args.resume, started)
    if saved is None:
        return (
            "iclv-jax estimate: interrupted before the first iteration was checkpointed; "
            f"start again with: {command_line(argv, resume=False)}"
        )
    return (
        f"iclv-jax estimate: interrupted; the last iterate (iteration {saved['iteration']}, "
        f"LL {saved['loglike']:.6f}) is in {checkpoint}; resume with: "
        f"{command_line(argv, resume=True)}"
    )


def main(argv=None) -> int:
    """Run a command; returns the exit status (2: bad input, 1: gradient check failed,
    130: interrupted by Ctrl-C, which prints one line saying how to resume)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    started = time.time()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse has printed its one-line error (or the help)
        return stop.code if isinstance(stop.code, int) else USAGE_ERROR
    try:
        if args.command == "demo":
            run_demo(args)
        elif args.command == "estimate":
            run_estimate(args)
        elif args.command == "plot":
            run_plot(args)
        elif args.command == "sample":
            run_sample(args, load_inputs, prepare_out, InputError)
        elif args.command == "check-gradients":
            return 0 if run_check_gradients(args).ok else 1
    except InputError as error:
        print(f"iclv-jax {args.command}: error: {one_line(str(error))}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(interrupted_message(args, argv, started), file=sys.stderr, flush=True)
        return INTERRUPTED
    return 0


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line, cut to ``limit`` characters (saying how long it was)."""
    line = " ".join(message.split())
    if len(line) <= limit:
        return line
    return f"{line[:limit]}... (cut; {len(line)} characters)"


if __name__ == "__main__":
    sys.exit(main())
