"""The covariance of the random coefficients, ``Sigma = L L'``, and their covariance
with the LVs' structural errors, with delta-method standard errors.

With ``L`` the ``(K, L + K)`` Cholesky factor over all draws (the LVs' ``zeta`` first;
:func:`~iclv_jax.components.structural.cholesky_names`) and ``e = L z`` the normal part
of the random coefficients (``c_k = mu_k + e_k``, or ``exp`` of it for a log-normal
one: ``Sigma`` is then the covariance of ``log |c|``, as Biogeme and Apollo report it),

    Cov(e_j, e_k) = sum_m L[j, m] L[k, m],        Cov(zeta_l, e_k) = L[k, l],

and the correlations ``Cov / sqrt(Var Var)`` (``Var zeta_l = 1``).  Each entry is a
function of the estimates, so its SE is the delta method's ``sqrt(g' V g)`` (as
:func:`~iclv_jax.delta.delta_method`, ``g`` by autodiff), over the parameters the
entry depends on.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .components.structural import cholesky_names

__all__ = ["cholesky_matrix", "covariance_pairs", "delta_se", "random_coefficient_covariance"]


def cholesky_matrix(model, values: Mapping) -> jnp.ndarray:
    """``L`` ``(K, L + K)`` at parameter ``values`` (by name; 0 where no parameter)."""
    rows = cholesky_names(model)
    return jnp.stack(
        [
            jnp.stack([jnp.asarray(0.0) if n is None else jnp.asarray(values[n]) for n in row])
            for row in rows
        ]
    )


def covariance_pairs(model) -> list[tuple[str, str]]:
    """The entries reported: every pair ``(j, k)`` of random coefficients with ``k``
    not after ``j``, then ``(lv, k)`` for every LV a coefficient is correlated with."""
    names = [rc.name for rc in model.random_coefficients]
    pairs = [(a, b) for j, a in enumerate(names) for b in names[: j + 1]]
    lvs = [
        lv
        for lv in model.lv_names
        if any(lv in rc.correlated_with for rc in model.random_coefficients)
    ]
    return pairs + [(lv, k) for lv in lvs for k in names]


def _entry(model, first: str, second: str, correlation: bool):
    """``Cov`` (or the correlation) of ``first`` and ``second`` as a function of the
    parameter values by name."""
    lvs = list(model.lv_names)
    position = {rc.name: k for k, rc in enumerate(model.random_coefficients)}

    def value(values):
        chol = cholesky_matrix(model, values)
        k = position[second]
        if first in lvs:
            covariance = chol[k, lvs.index(first)]
            scale = jnp.sqrt(chol[k] @ chol[k])
        else:
            j = position[first]
            covariance = chol[j] @ chol[k]
            scale = jnp.sqrt((chol[j] @ chol[j]) * (chol[k] @ chol[k]))
        return covariance / scale if correlation else covariance

    return value


def random_coefficient_covariance(results, robust: bool = False) -> pd.DataFrame:
    """``Cov`` and correlation of every pair of :func:`covariance_pairs` with their
    delta-method SEs (classical covariance of the estimates, or the sandwich with
    ``robust=True``): a table indexed by ``(first, second)`` with columns
    ``covariance, se, correlation, correlation_se``.  Needs ``results.model``."""
    model = results.model
    if model is None or not model.random_coefficients:
        raise ValueError(
            "random_coefficient_covariance needs results of a model with random "
            "coefficients (results.model is "
            f"{'not recorded' if model is None else 'without random coefficients'})"
        )
    pairs = covariance_pairs(model)
    functions = [_entry(model, a, b, False) for a, b in pairs]
    functions += [_entry(model, a, b, True) for a, b in pairs]
    names = list(results.table.index)
    constants = {k: jnp.asarray(v, dtype=float) for k, v in results.estimates.items()}

    def entries(x):
        values = {**constants, **dict(zip(names, x, strict=True))}
        return jnp.stack([f(values) for f in functions])

    x0 = jnp.asarray(results.table["estimate"].to_numpy(dtype=float))
    value, jacobian = np.asarray(entries(x0)), np.asarray(jax.jacobian(entries)(x0))
    estimates = results.robust_covariance if robust else results.covariance
    covariance = estimates.loc[names, names].to_numpy(dtype=float)
    se = np.array([delta_se(gradient, covariance) for gradient in jacobian])
    n = len(pairs)
    return pd.DataFrame(
        {
            "covariance": value[:n],
            "se": se[:n],
            "correlation": value[n:],
            "correlation_se": se[n:],
        },
        index=pd.MultiIndex.from_tuples(pairs, names=["first", "second"]),
    )


def delta_se(gradient: np.ndarray, covariance: np.ndarray) -> float:
    """``sqrt(g' V g)`` over the parameters ``g`` depends on (a parameter without a
    variance leaves NaN only in the entries that depend on it)."""
    used = gradient != 0
    g = gradient[used]
    return float(np.sqrt(max(g @ covariance[np.ix_(used, used)] @ g, 0.0)))
