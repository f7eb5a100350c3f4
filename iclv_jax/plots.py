"""Plots: convergence (from :attr:`Results.history <iclv_jax.results.Results.history>`),
posterior LV distributions, and observed against predicted shares of the indicator
levels and of the choices.

matplotlib is optional: it is imported inside each function, so importing this module
needs no matplotlib and works without a display (use the Agg backend on a server).  The
one-panel functions draw on ``ax`` when given (its figure is returned) and otherwise on
a new figure; the others make a figure with one panel per LV or indicator.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .data import person_index, situation_slots
from .posthoc import map_people, model_of, setup_problem
from .prediction import market_shares, outcome_labels

__all__ = [
    "choice_shares",
    "convergence",
    "gradient_scales",
    "indicator_shares",
    "lv_posteriors",
    "observed_choice_shares",
    "observed_indicator_shares",
    "predicted_indicator_shares",
]

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
            ax.annotate(
                str(stages[i]),
                (iterations[i] - 0.5, 1.0),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color="grey",
            )


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
    ax.plot(
        x, history["loglike"].to_numpy(dtype=float), color="C0", marker=".", label="log-likelihood"
    )
    ax.set_xlabel("iteration")
    ax.set_ylabel("log-likelihood", color="C0")
    loglike = np.abs(history["loglike"].to_numpy(dtype=float))
    loglike = loglike[np.isfinite(loglike) & (loglike > 0)]
    if loglike.size and loglike.max() > 100 * loglike.min():
        ax.set_yscale("symlog")  # from a start far off (LL -1e7) to the optimum (-6e3)
    right = ax.twinx()
    right.plot(
        x,
        _positive(history["gradient_norm"]),
        color="C3",
        linestyle="--",
        marker=".",
        label="gradient norm",
    )
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
        ax.plot(x, _positive(history[column]), marker=".", label=column[len(GRADIENT_PREFIX) :])
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean |gradient| in block")
    ax.legend(fontsize=8)
    _mark_stages(ax, history)
    ax.set_title("gradient scale per block")
    return fig


# --- posterior LVs ---------------------------------------------------------------------


def _axes_grid(n: int, width: float = 3.2, height: float = 2.6, columns: int = 3):
    """A figure with ``n`` axes in rows of ``columns`` (spare cells removed)."""
    import matplotlib.pyplot as plt

    columns = min(columns, n)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        fig.delaxes(ax)
    return fig, axes.ravel()[:n]


def lv_posteriors(posterior, bins: int = 20):
    """Histograms of the people's posterior LV means, one panel per LV.

    ``posterior`` is :func:`iclv_jax.posterior_lv`'s frame (columns ``<lv>_mean``,
    ``<lv>_sd``): each panel shows the distribution over people of
    ``E[eta_n | indicators, choices]``, with the mean posterior SD
    (``mean_n SD[eta_n | data]``, the uncertainty left about one person) in the title.
    Returns the figure.
    """
    names = [c[: -len("_mean")] for c in posterior.columns if c.endswith("_mean")]
    if not names:
        raise ValueError("expected posterior_lv's frame with <lv>_mean columns")
    fig, axes = _axes_grid(len(names))
    for ax, name in zip(axes, names, strict=True):
        ax.hist(posterior[f"{name}_mean"].to_numpy(dtype=float), bins=bins, color="C0")
        ax.set_title(f"{name}\nmean posterior SD {posterior[f'{name}_sd'].mean():.3g}", fontsize=9)
        ax.set_xlabel("posterior mean")
        ax.set_ylabel("people")
    fig.tight_layout()
    return fig


# --- indicator levels: observed and predicted -----------------------------------------


def _ordered_indicators(model):
    return [ind for ind in model.indicators if ind.ordered]


def observed_indicator_shares(model, data) -> pd.DataFrame:
    """Share of people answering each level of each ordered indicator (indicators are
    person level: one answer per person, from the person's first row).  Rows:
    ``(indicator, level)`` for levels ``1..J``; column ``observed``."""
    first_rows = situation_slots(person_index(data, model.person_id)[1]) == 0
    people = data[first_rows]
    rows = {}
    for ind in _ordered_indicators(model):
        counts = people[ind.name].value_counts(normalize=True)
        for level in range(1, ind.levels + 1):
            rows[(ind.name, level)] = float(counts.get(level, 0.0))
    return pd.Series(rows, name="observed").rename_axis(["indicator", "level"]).to_frame()


@eqx.filter_jit
def _level_probabilities(likelihood, u):
    """``(N, K, Jmax)``: ``P(I_nk = j) = sum_r w_r P(I_k = j | eta_nr)`` (the measurement
    model's own probabilities) with ``eta_nr`` drawn from the structural model given
    person ``n``'s covariates (levels beyond an item's ``J`` get 0)."""

    def person(components, p, zeta, log_weights):
        structural, ordered = components[:2]
        eta = structural(p.covariates, zeta.T)  # (L, R), draws last
        n_items, n_levels = ordered.cuts.shape[0], ordered.cuts.shape[1] - 1
        log_p = jax.vmap(lambda j: ordered.log_prob(eta, jnp.full(n_items, j)))(
            jnp.arange(n_levels)
        )  # (Jmax, K, R)
        probabilities = jnp.exp(log_p) @ jax.nn.softmax(log_weights)
        return probabilities.T  # (K, Jmax)

    return map_people(person, likelihood, u)


def predicted_indicator_shares(results, model, data, draws=None) -> pd.DataFrame:
    """Predicted share of each level of each ordered indicator, the LVs integrated out
    over the structural model (not conditioned on any answer):
    ``S_kj = (1 / N) sum_n sum_r w_r P(I_nk = j | eta_nr)``.  Arguments as
    :func:`iclv_jax.predict`; rows ``(indicator, level)``, column ``predicted``."""
    model = model_of(results, model)
    problem, u = setup_problem(results, model, data, draws)
    shares = np.asarray(_level_probabilities(problem.likelihood, u)).mean(axis=0)
    rows = {
        (ind.name, level): float(shares[k, level - 1])
        for k, ind in enumerate(_ordered_indicators(model))
        for level in range(1, ind.levels + 1)
    }
    return pd.Series(rows, name="predicted").rename_axis(["indicator", "level"]).to_frame()


def _paired_bars(ax, labels, observed, predicted) -> None:
    x = np.arange(len(labels))
    ax.bar(x - 0.2, observed, width=0.4, color="C0", label="observed")
    ax.bar(x + 0.2, predicted, width=0.4, color="C1", label="predicted")
    ax.set_xticks(x, [str(label) for label in labels])
    ax.set_ylabel("share")


def indicator_shares(results, model, data, draws=None):
    """Observed against predicted shares of the answer levels, one panel per ordered
    indicator (:func:`observed_indicator_shares` beside
    :func:`predicted_indicator_shares`: blue observed, orange predicted).  Continuous
    indicators are not drawn.  Returns the figure."""
    model = model_of(results, model)
    shares = observed_indicator_shares(model, data).join(
        predicted_indicator_shares(results, model, data, draws)
    )
    names = [ind.name for ind in _ordered_indicators(model)]
    if not names:
        raise ValueError("the model has no ordered indicators")
    fig, axes = _axes_grid(len(names))
    for ax, name in zip(axes, names, strict=True):
        rows = shares.loc[name]
        _paired_bars(ax, rows.index, rows["observed"], rows["predicted"])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("level")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- choices: observed and predicted --------------------------------------------------


def observed_choice_shares(model, data) -> pd.Series:
    """Share of the rows (choice situations) with each outcome, labelled as
    :func:`iclv_jax.predict`'s columns (MNL alternative names, ``0, 1``, levels)."""
    labels = outcome_labels(model)
    counts = pd.Series(model.choice.observed_labels(data)).value_counts(normalize=True)
    return pd.Series(
        [float(counts.get(label, 0.0)) for label in labels],
        index=pd.Index(labels, name="outcome"),
        name="observed",
    )


def choice_shares(results, model, data, draws=None, ax=None):
    """Observed choice shares beside the predicted market shares
    (:func:`iclv_jax.market_shares`, unconditional: ``S_k = mean_{n,t} P(y_nt = k)``),
    one pair of bars per outcome.  Returns the figure."""
    import matplotlib.pyplot as plt

    model = model_of(results, model)
    observed = observed_choice_shares(model, data)
    predicted = market_shares(results, model, data, draws)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    _paired_bars(ax, observed.index, observed.to_numpy(), predicted[observed.index].to_numpy())
    ax.set_xlabel(f"{model.choice.choice}")
    ax.set_title("choice shares: observed and predicted")
    ax.legend(fontsize=8)
    return fig
