"""The command line's report files: ``statistics.csv``, ``results.tex`` and
``report.html`` beside ``estimate``'s tables, and the PNG figures of ``iclv-jax plot``
(LV posteriors, observed against predicted indicator and choice shares)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .report import latex_report, statistics_frame
from .reportfigures import html_report, matplotlib_missing, report_figures

__all__ = ["PLOT_OUTPUTS", "REPORT_OUTPUTS", "add_plot_command", "write_plots", "write_report"]

#: what ``estimate`` writes into ``--out`` beside the tables and the JSON
REPORT_OUTPUTS = ("statistics.csv", "results.tex", "report.html")
#: what ``plot`` writes into ``--out`` (those that apply to the model)
PLOT_OUTPUTS = ("lv_posteriors.png", "indicator_shares.png", "choice_shares.png")


def write_report(results, data, out: Path) -> list[Path]:
    """``statistics.csv`` (key, label, value as shown, number), ``results.tex`` (the
    statistics and the parameter table) and ``report.html`` (with the figures of
    :func:`~iclv_jax.reportfigures.report_figures` on ``data``) in ``out``."""
    statistics_frame(results).to_csv(out / "statistics.csv")
    (out / "results.tex").write_text(latex_report(results))
    html_report(results, out / "report.html", data)
    return [out / name for name in REPORT_OUTPUTS]


def write_plots(results, data, out: Path, draws=None) -> list[Path]:
    """``<name>.png`` in ``out`` for every figure of
    :func:`~iclv_jax.reportfigures.report_figures` on ``data`` (none, and a line
    saying why, without matplotlib)."""
    note = matplotlib_missing()
    if note is not None:
        print(note)
        return []
    written = []
    for name, png in report_figures(results, data, draws).items():
        (out / f"{name}.png").write_bytes(png)
        written.append(out / f"{name}.png")
    return written


def add_plot_command(commands, existing_file, positive_int) -> argparse.ArgumentParser:
    """The ``plot`` subcommand: ``RESULTS.json DATA.csv [--out DIR] [--draws R]``."""
    plot = commands.add_parser(
        "plot",
        help="plot LV posteriors and observed vs predicted indicator and choice shares "
        "of saved results on a CSV file",
    )
    plot.add_argument("results", type=existing_file, help="results.json written by estimate")
    plot.add_argument("data", type=existing_file, help="CSV, one row per choice situation")
    plot.add_argument(
        "--out",
        type=Path,
        default=Path("iclv-plots"),
        metavar="DIR",
        help="output folder (default ./iclv-plots, created if needed)",
    )
    plot.add_argument(
        "--draws",
        type=positive_int,
        metavar="R",
        help="scrambled Halton draws for the predictions (default: the estimation's draws)",
    )
    return plot
