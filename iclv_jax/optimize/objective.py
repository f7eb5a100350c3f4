"""The problem as the optimisers see it: ``f(v) = -log L(s v) / N`` on a box of ``v``."""

from __future__ import annotations

import numpy as np

from .evaluator import Evaluator
from .optimality import on_active_bound, relative_gradient, unbounded
from .progress import Tracker

__all__ = ["ScaledObjective"]


class ScaledObjective:
    """``f(v) = -log L(s v) / N`` with gradient, BHHH matrix and exact Hessian.

    The evaluator caches by point, so SciPy's separate ``fun``/``jac``/``hess``/
    ``callback`` calls cost one likelihood pass.  ``v0`` maps to exactly ``u0`` (``v0 *
    s`` may differ from ``u0`` in the last bit), so the evaluations made at the start
    values before the optimiser are reused.  A non-finite log-likelihood returns
    ``+inf`` (a rejected step), never a NaN.  ``bounds``: the box of ``u`` (default
    none); ``self.lower``, ``self.upper`` are the box of ``v``.
    """

    def __init__(
        self,
        evaluator: Evaluator,
        scales: np.ndarray,
        tracker: Tracker,
        v0=None,
        u0=None,
        bounds=None,
    ):
        self.evaluator, self.scales, self.tracker = evaluator, scales, tracker
        self.n = evaluator.likelihood.n_people
        self._start = None if v0 is None else (np.asarray(v0).tobytes(), np.asarray(u0))
        self.bounds = unbounded(len(scales)) if bounds is None else bounds
        self.lower, self.upper = (np.asarray(b) / scales for b in self.bounds)

    def internal(self, v) -> np.ndarray:
        """``u = s v`` (exactly ``u0`` at ``v0``, exactly the bound of ``u`` where ``v``
        is on a bound of ``v``)."""
        v = np.asarray(v)
        if self._start is not None and v.tobytes() == self._start[0]:
            return self._start[1]
        lower, upper = self.bounds
        return np.where(
            v <= self.lower,
            lower,
            np.where(v >= self.upper, upper, np.clip(v * self.scales, lower, upper)),
        )

    def project(self, v) -> np.ndarray:
        """The nearest point of the box to ``v``."""
        return np.clip(v, self.lower, self.upper)

    def _evaluate(self, v):
        return self.evaluator.scores(self.internal(v))

    def value_and_grad(self, v):
        ll, grad, _ = self._evaluate(v)
        if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(v)
        return -ll / self.n, -grad * self.scales / self.n

    @staticmethod
    def _finite(matrix):
        """A rejected (non-finite) point still needs a finite matrix for SciPy."""
        return matrix if np.all(np.isfinite(matrix)) else np.eye(len(matrix))

    def bhhh(self, v):
        _, _, scores = self._evaluate(v)
        scaled = scores * self.scales
        return self._finite(scaled.T @ scaled / self.n)

    def exact_hessian(self, v):
        h = self.evaluator.hessian(self.internal(v))
        return self._finite(-h * np.outer(self.scales, self.scales) / self.n)

    def relative_gradient(self, v) -> float:
        """iclv_jax's stopping quantity at ``v`` (in ``u`` and ``log L`` terms, with the
        optimiser's scales), with the coordinates held at a bound left out."""
        ll, grad, _ = self._evaluate(v)
        u = self.internal(v)
        return relative_gradient(
            np.where(on_active_bound(u, grad, *self.bounds), 0.0, grad), u, ll, self.scales
        )

    def callback(self, intermediate_result=None, *_):
        v = np.asarray(getattr(intermediate_result, "x", intermediate_result))
        ll, grad, _ = self._evaluate(v)
        self.tracker.record(self.internal(v), ll, grad, scaled=v)
