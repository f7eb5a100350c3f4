"""Convergence diagnostics and the summary table of posterior samples.

Every array here is ``(chains, draws)``.  The diagnostics are those of Vehtari,
Gelman, Simpson, Carpenter and Buerkner (2021), "Rank-normalization, folding, and
localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis
16(2), with the R-hat and the effective sample size themselves computed by NumPyro
(``numpyro.diagnostics.gelman_rubin`` and ``effective_sample_size``, Geyer's initial
monotone sequence estimator as in Stan); NumPyro is imported inside the functions, so
``import iclv_jax`` works without it.

- split chains: each chain cut into its first and last ``draws // 2`` draws (the
  middle one dropped when ``draws`` is odd), giving ``2 * chains`` chains;
- rank normalisation ``z = Phi^-1((r - 3/8) / (S + 1/4))`` with ``r`` the average rank
  of each draw among all ``S`` (split) draws;
- R-hat = max(split R-hat of ``z(x)``, split R-hat of ``z(|x - median(x)|)``): the
  bulk and the folded (tail) R-hat;
- bulk ESS = ESS of ``z(x)`` over the split chains;
- tail ESS = min over ``q`` in {5%, 95%} of the ESS of the indicator ``x <= q`` over
  the split chains (the quantile ESS; the indicator of ``x >= q95`` is one minus that
  of ``x < q95``, so it has the same ESS but for draws equal to ``q95``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .extra import import_numpyro

__all__ = ["COLUMNS", "ess_bulk", "ess_tail", "r_hat", "summary_frame", "summary_row"]

#: the columns of :func:`summary_frame`
COLUMNS = ["mean", "sd", "mcse", "q5", "q50", "q95", "r_hat", "ess_bulk", "ess_tail"]


def _split(x: np.ndarray) -> np.ndarray:
    """``(chains, draws)`` -> ``(2 chains, draws // 2)``: each chain's first and last
    halves as two chains."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank normalisation ``Phi^-1((r - 3/8) / (S + 1/4))``, ``r`` the average rank of
    each element among all ``S`` elements of ``x`` (same shape as ``x``)."""
    rank = stats.rankdata(x, method="average", axis=None).reshape(x.shape)
    return stats.norm.ppf((rank - 0.375) / (x.size + 0.25))


def _enough(x: np.ndarray) -> bool:
    """Finite and at least four draws a chain (two per split half)."""
    return x.shape[1] >= 4 and bool(np.all(np.isfinite(x)))


def r_hat(x: np.ndarray) -> float:
    """Rank-normalised split R-hat (the max of the bulk and the folded one; see the
    module docstring); NaN with fewer than four draws a chain or non-finite draws."""
    gelman_rubin = import_numpyro().diagnostics.gelman_rubin

    if not _enough(x):
        return float("nan")
    split = _split(np.asarray(x, dtype=float))
    folded = np.abs(split - np.median(split))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(max(gelman_rubin(_z_scale(split)), gelman_rubin(_z_scale(folded))))


def _ess(x: np.ndarray) -> float:
    """NumPyro's effective sample size ``S / tau`` of ``x`` (``(chains, draws)``, ``S``
    draws in all) with Stan's bound on the integrated autocorrelation time,
    ``tau >= 1 / log10(S)`` (NumPyro has none: on short, antithetic chains its ``tau``
    can come out negative); NaN when ``x`` is constant (no variance to estimate)."""
    effective_sample_size = import_numpyro().diagnostics.effective_sample_size

    if np.all(x == x.flat[0]):
        return float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        ess = float(effective_sample_size(x))
    largest = x.size * np.log10(x.size)
    return ess if 0 < ess <= largest else float(largest)


def ess_bulk(x: np.ndarray) -> float:
    """Bulk effective sample size: the ESS of the rank-normalised split chains."""
    if not _enough(x):
        return float("nan")
    return _ess(_z_scale(_split(np.asarray(x, dtype=float))))


def ess_tail(x: np.ndarray) -> float:
    """Tail effective sample size: the smaller of the quantile ESS at 5% and 95% (the
    ESS of the indicator ``x <= q`` over the split chains)."""
    if not _enough(x):
        return float("nan")
    x = np.asarray(x, dtype=float)
    split = _split(x)
    return min(_ess((split <= q).astype(float)) for q in np.quantile(x, [0.05, 0.95]))


def summary_row(x: np.ndarray) -> dict[str, float]:
    """The :data:`COLUMNS` of one quantity's samples ``x`` (``(chains, draws)``):
    mean, SD (``ddof=1``) and 5/50/95% quantiles of all draws pooled, ``mcse = sd /
    sqrt(ess_bulk)`` (the Monte Carlo standard error of the mean, with the bulk ESS
    standing in for the ESS of the mean), and the diagnostics above."""
    x = np.asarray(x, dtype=float)
    flat = x.reshape(-1)
    sd = float(np.std(flat, ddof=1)) if flat.size > 1 else float("nan")
    bulk = ess_bulk(x)
    q5, q50, q95 = np.quantile(flat, [0.05, 0.5, 0.95])
    return {
        "mean": float(np.mean(flat)),
        "sd": sd,
        "mcse": sd / np.sqrt(bulk),
        "q5": float(q5),
        "q50": float(q50),
        "q95": float(q95),
        "r_hat": r_hat(x),
        "ess_bulk": bulk,
        "ess_tail": ess_tail(x),
    }


def summary_frame(samples: Mapping[str, np.ndarray], index_name: str) -> pd.DataFrame:
    """One :func:`summary_row` per entry of ``samples``, indexed by its name (index
    named ``index_name``), in the order of ``samples``."""
    return pd.DataFrame(
        [summary_row(x) for x in samples.values()],
        index=pd.Index(list(samples), name=index_name, dtype=object),
        columns=COLUMNS,
        dtype=float,
    )
