"""Log-likelihood, gradient, per-person scores and exact Hessian at a point, cached."""

from __future__ import annotations

from collections import OrderedDict

import jax.numpy as jnp
import numpy as np

from .. import analytic
from ..likelihood import SimulatedLikelihood

__all__ = ["GRADIENTS", "Evaluator"]

#: where the gradient comes from: JAX autodiff or the hand-written scores
GRADIENTS = ("autodiff", "analytic")


class Evaluator:
    """Log-likelihood, gradient, per-person scores and exact Hessian at a point ``u``,
    from autodiff or the analytic code, each computed once per point.

    ``log L`` and its gradient are the sums of the per-person values and scores, so one
    compiled function serves the optimiser, the verification and the robust standard
    errors (on CPU it costs the same as the summed gradient alone).  The last
    ``cache_size`` points are kept: the start values (scales, then the first
    iteration) and the final point (the optimiser's last iterate, the verification and
    the standard errors) are each evaluated once.  ``computed`` counts the actual
    computations (``"scores"``, ``"hessian"``).
    """

    def __init__(
        self, likelihood: SimulatedLikelihood, gradient: str = "autodiff", cache_size: int = 4
    ):
        if gradient not in GRADIENTS:
            raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
        self.likelihood, self.gradient, self.cache_size = likelihood, gradient, cache_size
        if gradient == "analytic":
            self._scores = lambda u: analytic.per_person_and_scores(likelihood, u)
        else:
            self._scores = likelihood.per_person_and_scores
        self._points: OrderedDict = OrderedDict()
        self.computed = {"scores": 0, "hessian": 0}

    def _at(self, u, what: str, compute):
        """The cached ``what`` at ``u`` (bit for bit), computed by ``compute(u)`` if new."""
        u = np.asarray(u, dtype=float)
        key = u.tobytes()
        entry = self._points.pop(key, {})
        self._points[key] = entry  # most recently used last
        while len(self._points) > self.cache_size:
            self._points.popitem(last=False)
        if what not in entry:
            entry[what] = compute(jnp.asarray(u))
            self.computed[what] += 1
        return entry[what]

    @staticmethod
    def _read_only(array) -> np.ndarray:
        """A host copy that callers cannot change (it is cached and shared)."""
        array = np.array(array)
        array.flags.writeable = False
        return array

    def _compute_scores(self, u) -> tuple[float, np.ndarray, np.ndarray]:
        """``(sum_n log L_n, g = sum_n s_n, scores s_n)`` at ``u``.

        Far from the optimum (a line-search trial in a probit tail, prices in raw units)
        every ``s_n`` can be finite while ``sum_n s_n`` exceeds the largest float64: that
        gradient is ``+-inf`` by IEEE rounding, said here on purpose rather than by a
        numpy overflow warning, and the point is then a rejected one
        (:meth:`ScaledObjective.value_and_grad` gives ``+inf`` for a non-finite gradient).
        """
        per_person, scores = self._scores(u)
        scores = self._read_only(scores)
        with np.errstate(over="ignore"):  # out of range: +-inf, a rejected point
            gradient = scores.sum(axis=0)
        return float(np.asarray(per_person).sum()), self._read_only(gradient), scores

    def _compute_hessian(self, u) -> np.ndarray:
        return self._read_only(self.likelihood.hessian(u))

    def value_and_grad(self, u) -> tuple[float, np.ndarray]:
        ll, grad, _ = self.scores(u)
        return ll, grad

    def scores(self, u) -> tuple[float, np.ndarray, np.ndarray]:
        """``(log L, gradient, per-person scores)``."""
        return self._at(u, "scores", self._compute_scores)

    def hessian(self, u) -> np.ndarray:
        return self._at(u, "hessian", self._compute_hessian)
