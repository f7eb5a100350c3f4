"""The report's figures: convergence, LV posteriors, observed against predicted indicator
and choice shares (:mod:`iclv_jax.plots`), as PNG bytes for the HTML report and the
``iclv-jax plot`` command.  matplotlib is optional (the ``plots`` extra):
:func:`matplotlib_missing` says so in words where it is not installed."""

from __future__ import annotations

import importlib.util
import io
import os

from . import plots
from .posterior import posterior_lv

__all__ = ["figure_png", "html_report", "matplotlib_missing", "report_figures"]


def matplotlib_missing() -> str | None:
    """``None`` where matplotlib can be imported, else the note the reports show."""
    if importlib.util.find_spec("matplotlib") is None:
        return "plots skipped: matplotlib is not installed (pip install 'iclv_jax[plots]')"
    return None


def figure_png(figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt  # the optional plots extra

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def report_figures(results, data=None, draws=None) -> dict[str, bytes]:
    """``name -> PNG`` of the figures that apply: ``convergence`` and
    ``gradient_scales`` where there is an iteration history; with ``data`` (the
    estimation data, or any data of the model; ``draws`` default to the estimation's)
    ``lv_posteriors`` (posterior LV means, :func:`iclv_jax.posterior_lv`),
    ``indicator_shares`` (ordered indicators) and ``choice_shares`` (a choice part).
    Needs matplotlib (see :func:`matplotlib_missing`)."""
    figures: dict[str, bytes] = {}
    if len(results.history):
        figures["convergence"] = figure_png(plots.convergence(results))
        figures["gradient_scales"] = figure_png(plots.gradient_scales(results))
    if data is None:
        return figures
    model = results.model
    if model is None:
        raise ValueError("these results do not carry their model: the data cannot be read")
    if model.lv_names:
        posterior = posterior_lv(results, None, data, draws)
        figures["lv_posteriors"] = figure_png(plots.lv_posteriors(posterior))
    if any(ind.ordered for ind in model.indicators):
        figures["indicator_shares"] = figure_png(plots.indicator_shares(results, None, data, draws))
    if not model.choice.empty:
        figures["choice_shares"] = figure_png(plots.choice_shares(results, None, data, draws))
    return figures


def html_report(
    results,
    path: str | os.PathLike | None = None,
    data=None,
    draws=None,
    plots: bool = True,
    correlation: bool = True,
) -> str:
    """The single-file HTML report of ``results`` with its figures
    (:func:`report_figures` on ``data``, when ``plots`` and matplotlib is installed;
    otherwise a line says why there are none), written to ``path`` if given."""
    note = matplotlib_missing() if plots else "plots not asked for"
    figures = report_figures(results, data, draws) if note is None else {}
    return results.to_html(path, figures, correlation, note)
