"""Parameter tables as text: GitHub Markdown and booktabs LaTeX.

Each cell is ``format(x, float_format)`` for a finite float, empty for NaN, ``inf`` /
``-inf`` for infinities and ``str(x)`` otherwise; the index is the first column.
Written here so that neither ``tabulate`` nor ``jinja2`` is needed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["table_to_latex", "table_to_markdown"]


def _cell(value, float_format: str) -> str:
    """One cell's text (see the module docstring)."""
    if isinstance(value, float | np.floating):
        if math.isfinite(value):
            return format(float(value), float_format)
        return "" if math.isnan(value) else str(float(value))
    return str(value)


def _cells(table: pd.DataFrame, float_format: str) -> tuple[list[str], list[list[str]]]:
    """The header (index name, column labels) and the rows as text."""
    header = [str(table.index.name or "")] + [str(c) for c in table.columns]
    rows = [
        [str(label)] + [_cell(value, float_format) for value in row]
        for label, row in zip(table.index, table.itertuples(index=False), strict=True)
    ]
    return header, rows


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


def table_to_markdown(table: pd.DataFrame, float_format: str = ".5g") -> str:
    """A GitHub-flavoured Markdown pipe table; numbers right-aligned, formatted with
    ``format(x, float_format)``, NaN as an empty cell (no ``tabulate`` needed)."""
    header, rows = _cells(table, float_format)
    widths = [
        max(3, *(len(_markdown_escape(r[i])) for r in [header, *rows])) for i in range(len(header))
    ]

    def line(cells, align):
        return (
            "| "
            + " | ".join(
                getattr(_markdown_escape(c), align[i])(widths[i]) for i, c in enumerate(cells)
            )
            + " |"
        )

    align = ["ljust"] + ["rjust"] * (len(header) - 1)
    rule = (
        "| "
        + " | ".join(
            ("-" * widths[0]) if i == 0 else ("-" * (widths[i] - 1) + ":")
            for i in range(len(header))
        )
        + " |"
    )
    return (
        "\n".join([line(header, ["ljust"] * len(header)), rule, *(line(r, align) for r in rows)])
        + "\n"
    )


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def table_to_latex(
    table: pd.DataFrame,
    float_format: str = ".5g",
    caption: str | None = None,
    label: str | None = None,
) -> str:
    """A ``booktabs`` LaTeX ``tabular`` (wrapped in a ``table`` float when ``caption``
    or ``label`` is given); special characters escaped, NaN as an empty cell.  Written
    here because pandas' ``to_latex`` needs jinja2."""
    header, rows = _cells(table, float_format)
    body = [
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in header) + r" \\",
        r"\midrule",
    ]
    body += [" & ".join(_latex_escape(c) for c in r) + r" \\" for r in rows]
    body += [r"\bottomrule", r"\end{tabular}"]
    if caption is None and label is None:
        return "\n".join(body) + "\n"
    wrapped = [r"\begin{table}[htbp]", r"\centering"]
    if caption is not None:
        wrapped.append(r"\caption{" + _latex_escape(caption) + "}")
    if label is not None:
        wrapped.append(r"\label{" + label + "}")
    return "\n".join([*wrapped, *body, r"\end{table}"]) + "\n"
