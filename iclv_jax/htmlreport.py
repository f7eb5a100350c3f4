"""The estimation report as one self-contained HTML file (styles inline, figures as
base64 PNG), like Biogeme's.

Every number is shown formatted and also carried at full precision in a
``data-value`` attribute (``repr`` of the float), so a program can read the report
back: statistics as ``<td data-key="...">`` in ``<table id="statistics">``, the
parameter table as ``<tr data-parameter="...">`` rows of ``<td data-column="...">``
in ``<table id="parameters">`` (fixed parameters and estimates at a bound marked in
the ``status`` column and the row's class), the correlation matrix in
``<table id="correlation">`` (two decimals, cells in the header's order).
"""

from __future__ import annotations

import base64
import math
from html import escape
from typing import TYPE_CHECKING

import numpy as np

from . import report

if TYPE_CHECKING:
    from .results import Results

__all__ = ["results_to_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td.label { text-align: left; }
tr.fixed { color: #777; font-style: italic; }
tr.bound { background: #fff3cd; }
li.warning { color: #a00; }
figure { display: inline-block; margin: 0.5em; }
img { max-width: 900px; }
"""


def _number(value: object, spec: str) -> tuple[str, str]:
    """``(shown text, data-value)`` of a cell."""
    if isinstance(value, bool | str) or value is None:
        return ("" if value is None else str(value)), ("" if value is None else str(value))
    if isinstance(value, int | np.integer):
        return str(value), str(int(value))
    number = float(np.asarray(value, dtype=float))
    shown = "" if math.isnan(number) else format(number, spec or ".5g")
    return shown, repr(number)


def _cell(value: object, spec: str, attributes: str) -> str:
    shown, data = _number(value, spec)
    return f'<td {attributes} data-value="{escape(data)}">{escape(shown)}</td>'


def _statistics_table(results: Results) -> str:
    rows = [
        f'<tr><th class="label">{escape(label)}</th>'
        + _cell(value, spec, f'data-key="{escape(key)}"')
        + "</tr>"
        for key, label, value, spec in report.statistics(results)
    ]
    return '<table id="statistics">\n' + "\n".join(rows) + "\n</table>"


def _parameter_table(results: Results) -> str:
    table = report.report_table(results)
    header = "".join(f"<th>{escape(str(c))}</th>" for c in ["parameter", *table.columns])
    rows = []
    for name, row in table.iterrows():
        status = row["status"]
        css = "fixed" if status == "fixed" else ("bound" if status else "")
        cells = "".join(
            _cell(row[c], ".5g", f'data-column="{escape(str(c))}"') for c in table.columns
        )
        rows.append(
            f'<tr class="{css}" data-parameter="{escape(str(name))}">'
            f'<td class="label">{escape(str(name))}</td>{cells}</tr>'
        )
    return f'<table id="parameters">\n<tr>{header}</tr>\n' + "\n".join(rows) + "\n</table>"


def _correlation_table(results: Results) -> str:
    """The correlation matrix to two decimals; a cell's column is the header's at its
    position (no attributes, to keep large matrices small)."""
    matrix = results.correlation()
    names = list(matrix.index)
    header = "".join(f"<th>{escape(n)}</th>" for n in ["", *names])
    rows = []
    for a in names:
        cells = "".join(
            f"<td>{'' if math.isnan(v) else format(v, '.2f')}</td>"
            for v in matrix.loc[a].to_numpy(dtype=float)
        )
        rows.append(f'<tr data-parameter="{escape(a)}"><th>{escape(a)}</th>{cells}</tr>')
    return f'<table id="correlation">\n<tr>{header}</tr>\n' + "\n".join(rows) + "\n</table>"


def _figures(figures: dict[str, bytes]) -> str:
    return "\n".join(
        f'<figure><img alt="{escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}"><figcaption>{escape(name)}</figcaption>'
        "</figure>"
        for name, png in figures.items()
    )


def results_to_html(
    results: Results,
    figures: dict[str, bytes] | None = None,
    figures_note: str | None = None,
    correlation: bool = True,
) -> str:
    """The report as HTML text: notes (warnings, conditioning, the simulation error's
    verdict), statistics, the parameter table, the message, sign anchors and missing
    answers, the correlation matrix of the estimates (``correlation``), and the
    ``figures`` (``name -> PNG bytes``, :func:`iclv_jax.reportfigures.report_figures`)
    or ``figures_note`` saying why there are none."""
    notes = report.notes(results)
    items = "".join(
        f'<li class="{"warning" if n.startswith("WARNING") else "note"}">{escape(n)}</li>'
        for n in notes
    )
    extra = [f"<p>Optimizer message: {escape(results.message)}</p>"]
    if results.sign_anchors:
        anchors = ", ".join(f"{lv}: {name} > 0" for lv, name in results.sign_anchors.items())
        extra.append(
            f"<p>Sign anchors (each LV's mirror image has the same likelihood): "
            f"{escape(anchors)}</p>"
        )
    if results.missing_answers:
        missing = ", ".join(f"{k} {v}" for k, v in results.missing_answers.items())
        extra.append(f"<p>Missing indicator answers (integrated out): {escape(missing)}</p>")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>iclv_jax estimation report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>iclv_jax estimation report</h1>",
        f'<ul id="notes">{items}</ul>' if items else "",
        "<h2>Fit</h2>",
        _statistics_table(results),
        *extra,
        "<h2>Parameters</h2>",
        _parameter_table(results),
    ]
    if correlation:
        parts += ["<h2>Correlation of the estimates</h2>", _correlation_table(results)]
    parts.append("<h2>Figures</h2>")
    if figures:
        parts.append(_figures(figures))
    if figures_note:
        parts.append(f'<p id="figures-note">{escape(figures_note)}</p>')
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"
