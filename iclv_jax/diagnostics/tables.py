"""Text of the diagnostic reports: block names, name lists, tables."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["coarse_block", "format_names", "table_text"]


def coarse_block(block: str) -> str:
    """``choice`` for every choice block (``choice_lv``, ``choice_other``), else ``block``."""
    return "choice" if block.startswith("choice") else block


def format_names(names: Sequence[str], limit: int = 8) -> str:
    """The first ``limit`` names, comma-separated, and how many more there are."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def table_text(table: pd.DataFrame, columns: Sequence[str], rows=None) -> str:
    """``columns`` of ``table`` (the ``rows`` given, default all) as text, 4 significant
    digits."""
    view = table.loc[rows if rows is not None else table.index, list(columns)]
    with pd.option_context(
        "display.max_rows", 200, "display.width", 160, "display.float_format", "{:.4g}".format
    ):
        return view.to_string()
