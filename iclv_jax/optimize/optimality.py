"""The per-parameter scales ``s`` and the scale-free tests of an optimum.

Every quantity here is judged in the scaled coordinates ``v = u / s``
(:func:`scales_from_curvature`), so rescaling a data column changes none of them:
the relative gradient (:func:`relative_gradient`), the curvature ``-D H D``
(:func:`scaled_curvature`) and its flatness threshold (:func:`flat_threshold`,
:func:`clearly_negative_definite`), and which coordinates a bound holds
(:func:`on_active_bound`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "clearly_negative_definite",
    "flat_threshold",
    "on_active_bound",
    "relative_gradient",
    "scaled_curvature",
    "scales_from_curvature",
    "unbounded",
]


def relative_gradient(gradient, internal, loglike, scales) -> float:
    """``max_i |g_i| max(|u_i|, s_i) / max(|log L|, 1)``: Biogeme's stopping quantity
    with each parameter's own scale ``s_i`` (:func:`scales_from_curvature`) in place of
    Biogeme's 1.  Rescaling a data column by ``c`` multiplies its coefficient's ``g_i``
    by ``c`` and divides ``u_i`` and ``s_i`` by ``c``, so the quantity does not change:
    the test is blind to the units of the data."""
    gradient, internal = np.asarray(gradient), np.asarray(internal)
    size = np.maximum(np.abs(internal), np.asarray(scales))
    return float(np.max(np.abs(gradient) * size) / max(abs(float(loglike)), 1.0))


def on_active_bound(x, ascent, lower, upper) -> np.ndarray:
    """The coordinates held at a bound: on it, with the ascent direction (the gradient
    of ``log L``) pointing out of the box ``lower <= x <= upper`` (or zero).  At a
    maximum of the bounded problem (Karush-Kuhn-Tucker) the gradient is zero on every
    other coordinate."""
    return ((x >= upper) & (ascent >= 0)) | ((x <= lower) & (ascent <= 0))


def unbounded(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The box of ``n`` parameters without bounds."""
    return np.full(n, -np.inf), np.full(n, np.inf)


def scales_from_curvature(hessian: np.ndarray | None, scores: np.ndarray) -> np.ndarray:
    """Per-parameter scales ``s_i = (|H_ii| / N)^{-1/2}`` from the exact Hessian's diagonal.

    Where the exact diagonal is ~0 next to the BHHH diagonal ``b_i = mean_n s_ni^2``
    (``|H_ii| / N <= 1e-8 b_i``, or no Hessian given) ``b_i`` stands in, and 1 where
    both are 0.  In ``v = u / s`` every coordinate then has unit curvature per person.
    (BHHH alone overstates the curvature far in a probit tail, by the squared utility,
    which is why the exact diagonal comes first.)  Each parameter is judged only
    against itself, so rescaling a data column by ``c`` divides its coefficient's
    scale by exactly ``c`` and leaves the others alone.
    """
    n = scores.shape[0]
    bhhh = np.mean(scores**2, axis=0)
    exact = np.zeros_like(bhhh) if hessian is None else np.abs(np.diag(hessian)) / n
    curvature = np.where(exact > 1e-8 * bhhh, exact, bhhh)
    usable = np.isfinite(curvature) & (curvature > 0)
    return np.where(usable, 1.0 / np.sqrt(np.where(usable, curvature, 1.0)), 1.0)


def scaled_curvature(hessian: np.ndarray, scales) -> np.ndarray:
    """``-D H D`` with ``D = diag(s)``: the curvature of ``-log L`` in ``v = u / s``
    (about ``N`` on the diagonal with :func:`scales_from_curvature`), whose
    eigenvalues do not depend on the units of the data."""
    scales = np.asarray(scales)
    return -np.asarray(hessian) * np.outer(scales, scales)


def flat_threshold(curvature: np.ndarray) -> float:
    """``1e-10 max(1, max_i |C_ii|)``: an eigenvalue of the scaled curvature ``C`` at or
    below it is a flat (or wrong-way) direction."""
    return 1e-10 * max(1.0, float(np.max(np.abs(np.diag(curvature)))))


def clearly_negative_definite(hessian: np.ndarray, scales) -> bool:
    """``min eig(C) > 1e-10 max(1, max |C_ii|)`` for the scaled curvature ``C = -D H D``
    (:func:`scaled_curvature`, :func:`flat_threshold`): the test
    :mod:`iclv_jax.inference` uses too, so a flat direction is never both "verified"
    and "not a maximum"; in scaled coordinates it does not depend on the data's units."""
    curvature = scaled_curvature(hessian, scales)
    return bool(np.linalg.eigvalsh(curvature)[0] > flat_threshold(curvature))
