"""Convergence plots from :attr:`Results.history <iclv_jax.results.Results.history>`.

matplotlib is optional: it is imported inside each function, so importing this module
costs nothing and works without a display (use the Agg backend on a server).  Each
function draws on ``ax`` when given (its figure is returned) and otherwise on a new
figure.
"""

from __future__ import annotations

import numpy as np

__all__ = ["convergence", "gradient_scales"]

GRADIENT_PREFIX = "mean_abs_gradient_"


def _history(results):
    history = getattr(results, "history", results)
    if history is None or len(history) == 0:
        raise ValueError("the results hold no iteration history to plot")
    return history


def _mark_stages(ax, history) -> None:
    """A dotted vertical line where the stage changes, labelled with the new stage."""
    stages = history["stage"].to_numpy()
    iterations = history["iteration"].to_numpy()
    for i in range(1, len(stages)):
        if stages[i] != stages[i - 1]:
            ax.axvline(iterations[i] - 0.5, color="grey", linestyle=":", linewidth=1)
            ax.annotate(str(stages[i]), (iterations[i] - 0.5, 1.0), xycoords=("data",
                        "axes fraction"), rotation=90, va="top", ha="right", fontsize=7,
                        color="grey")


def _positive(values) -> np.ndarray:
    """Values for a log axis: zeros and non-finite values become NaN (gaps)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def convergence(results, ax=None):
    """Log-likelihood and gradient norm per iteration.

    Draws two lines from ``results.history`` (a :class:`~iclv_jax.results.Results` or
    the history DataFrame itself): the log-likelihood against the iteration (left
    axis, linear; symmetric-log when the LL spans more than two orders of magnitude)
    and the Euclidean norm of the gradient of ``log L`` in the internal
    parameters (right axis, log scale, dashed).  Changes of stage (``measurement``,
    ``choice``, ``simultaneous``, ``newton``) are marked by dotted vertical lines.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    history = _history(results)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    x = history["iteration"].to_numpy()
    ax.plot(x, history["loglike"].to_numpy(dtype=float), color="C0", marker=".",
            label="log-likelihood")
    ax.set_xlabel("iteration")
    ax.set_ylabel("log-likelihood", color="C0")
    loglike = np.abs(history["loglike"].to_numpy(dtype=float))
    loglike = loglike[np.isfinite(loglike) & (loglike > 0)]
    if loglike.size and loglike.max() > 100 * loglike.min():
        ax.set_yscale("symlog")  # from a start far off (LL -1e7) to the optimum (-6e3)
    right = ax.twinx()
    right.plot(x, _positive(history["gradient_norm"]), color="C3", linestyle="--", marker=".",
               label="gradient norm")
    right.set_yscale("log")
    right.set_ylabel("gradient norm", color="C3")
    _mark_stages(ax, history)
    ax.set_title("convergence")
    return fig


def gradient_scales(results, ax=None):
    """Mean absolute gradient per parameter block per iteration (log scale).

    Draws one line per ``mean_abs_gradient_<block>`` column of ``results.history``
    (blocks such as ``structural``, ``measurement``, ``choice_lv``, ``choice``),
    labelled by block, against the iteration: the gradient-scale imbalance between
    blocks, and how it closes, at a glance.  Stage changes are marked as in
    :func:`convergence`.  Returns the figure.
    """
    import matplotlib.pyplot as plt

    history = _history(results)
    columns = [c for c in history.columns if c.startswith(GRADIENT_PREFIX)]
    if not columns:
        raise ValueError(f"the history has no {GRADIENT_PREFIX}<block> columns")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    x = history["iteration"].to_numpy()
    for column in columns:
        ax.plot(x, _positive(history[column]), marker=".", label=column[len(GRADIENT_PREFIX):])
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean |gradient| in block")
    ax.legend(fontsize=8)
    _mark_stages(ax, history)
    ax.set_title("gradient scale per block")
    return fig
