"""Gradient check: an implementation and central finite differences against autodiff,
per parameter, with relative differences ``|a - b| / max(|a|, |b|, floor)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import cast

import numpy as np
import pandas as pd

from ..analytic import CUSTOM_NOT_COVERED, covers
from ..analytic import loglike_and_grad as analytic_loglike_and_grad
from ..components import AbstractChoice
from ..draws import Draws
from .evaluation import as_problem, autodiff_at, free_internal_at, relative_difference
from .finite_differences import EPS, finite_difference_gradient, finite_steps, natural_scales
from .gradients import GradientFn, resolve_gradient
from .tables import coarse_block, format_names, table_text

__all__ = ["GradientCheck", "check_gradients"]


@dataclass
class GradientCheck:
    """Autodiff, analytic and finite-difference gradients, one row per free parameter.

    ``table`` columns: ``block``, ``value`` (internal ``u``), ``autodiff``, ``analytic``
    (the implementation checked, see ``implementation``), ``finite_difference``,
    ``fd_step``, ``fd_noise`` (the rounding noise ``eps |log L| / h`` of the central
    difference), ``rel_analytic`` (analytic vs autodiff), ``rel_fd`` (finite
    differences vs autodiff), ``ok``.  All gradients are ``d log L / du`` in the
    internal space.
    """

    table: pd.DataFrame
    loglike: float
    loglike_implementation: float
    implementation: str
    analytic_tolerance: float
    fd_tolerance: float
    floor: float
    # parameters the checked implementation does not cover (checked by autodiff against
    # finite differences alone): a custom term's own parameters for the analytic scores
    not_covered: list[str] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float:
        """Largest relative difference analytic vs autodiff."""
        return float(self.table["rel_analytic"].max())

    @property
    def max_rel_error_fd(self) -> float:
        """Largest relative difference finite differences vs autodiff."""
        return float(self.table["rel_fd"].max())

    @property
    def loglike_ok(self) -> bool:
        """The implementation's log-likelihood equals autodiff's (to 1e-10 relative)."""
        return abs(self.loglike_implementation - self.loglike) <= 1e-10 * max(
            1.0, abs(self.loglike)
        )

    @property
    def failed(self) -> list[str]:
        return [str(n) for n in self.table.index[~self.table["ok"]]]

    @property
    def ok(self) -> bool:
        return bool(self.table["ok"].all()) and self.loglike_ok

    def __str__(self) -> str:
        verdict = (
            "OK"
            if self.ok
            else "FAILED" + (f" for {format_names(self.failed)}" if self.failed else "")
        )
        if not self.loglike_ok:
            verdict += (
                f"; its log-likelihood {self.loglike_implementation:.10g} is not "
                f"autodiff's {self.loglike:.10g}"
            )
        lines = [
            f"Gradient check of {self.implementation!r} against autodiff and central "
            "finite differences",
            f"  gradients d log L / du in the internal parameter space; log L = {self.loglike:.6f}",
            f"  relative = |a - b| / max(|a|, |b|, floor); floor = {self.floor:g} / s_i "
            "(s_i the BHHH scale), for finite differences at least 10 fd_noise / tolerance",
            f"  max relative difference: analytic vs autodiff {self.max_rel_error:.2e} "
            f"(tolerance {self.analytic_tolerance:g}); finite differences vs autodiff "
            f"{self.max_rel_error_fd:.2e} (tolerance {self.fd_tolerance:g})",
            f"  {verdict}",
        ]
        if self.not_covered:
            lines.insert(
                -1,
                f"  not covered by {self.implementation.split()[0]} (autodiff vs finite "
                f"differences alone): {format_names(self.not_covered)}",
            )
        columns = [
            "block",
            "autodiff",
            "analytic",
            "finite_difference",
            "rel_analytic",
            "rel_fd",
            "ok",
        ]
        return "\n".join(lines) + "\n" + table_text(self.table, columns)

    __repr__ = __str__


def check_gradients(
    model,
    data=None,
    params=None,
    draws: int | Draws = 100,
    gradient: str | GradientFn = "analytic",
    finite_differences: bool = True,
    analytic_tolerance: float = 1e-6,
    fd_tolerance: float = 1e-5,
    floor: float = 1e-6,
    chunk_size: int | None = None,
) -> GradientCheck:
    """Compare the ``gradient`` implementation and central finite differences with autodiff.

    Args:
        model: an :class:`~iclv_jax.spec.ICLVModel` (with ``data``), or a
            :class:`~iclv_jax.Problem` (``data=None``; ``draws`` unused).
        data: one row per choice situation.
        params: where to evaluate: reported values as ``Problem.free_internal``
            accepts (dict, number, ``None`` for the defaults) or the free internal
            array.
        draws: draws per person.
        gradient: the implementation checked: ``"analytic"``, ``"autodiff"`` or a
            callable ``(likelihood, free_internal) -> (loglike, grad)``.  For a model
            with custom utility terms (:class:`~iclv_jax.Custom`) or random
            coefficients, or latent classes, the analytic scores
            do not exist: ``implementation`` says so, the ``analytic`` column is NaN
            and ``ok`` rests on autodiff against finite differences alone.
        finite_differences: also compute the ``2 F`` likelihood evaluations of the
            central differences, with steps ``h_i = eps^(1/3) min(max(|u_i|, 1), s_i)``.
        analytic_tolerance, fd_tolerance: largest relative differences accepted.
        floor: the absolute floor of the relative differences in the scaled
            coordinates ``v = u / s`` (``floor / s_i`` for parameter ``i``): a gradient
            entry that small is zero for the optimiser.  Finite differences get a
            floor of at least ``10 fd_noise / fd_tolerance``: a difference within ten
            times the rounding noise ``eps |log L| / h_i`` of the central difference
            is not an error (with ``|log L|`` of 1e7, as at raw-price starts, finite
            differences cannot resolve small gradient entries).
    """
    problem = as_problem(model, data, draws, chunk_size)
    likelihood = problem.likelihood
    u = free_internal_at(problem, params)
    name, gradient_fn = resolve_gradient(gradient)
    ll, auto = autodiff_at(likelihood, u)
    choice = dict(problem.layout.choice.static)
    # a kernel without hand-written scores (latent classes) is checked like custom terms
    kernel = cast(type[AbstractChoice], problem.layout.choice.component)
    kernel_analytic = kernel.analytic_scores
    custom = gradient == "analytic" and (
        bool(choice["custom_terms"] or choice["random_terms"]) or not kernel_analytic
    )
    partly = custom and kernel_analytic and covers(choice["custom_terms"], choice["random_terms"])
    uncovered = custom and not partly
    if partly:  # NaN scores for the custom terms' own parameters
        name = "analytic (custom terms' parameters: autodiff vs finite differences)"
        gradient_fn = partial(analytic_loglike_and_grad, uncovered=True)
    if uncovered:  # autodiff is checked against finite differences alone
        if not finite_differences:
            raise ValueError(
                f"{CUSTOM_NOT_COVERED}: check_gradients needs "
                "finite_differences=True to check such a model"
            )
        name = (
            "analytic not available for custom terms, random coefficients or "
            f"{kernel.__name__}; autodiff vs finite differences"
        )
        ll_impl, impl = np.asarray(ll), np.full_like(np.asarray(auto), np.nan)
    else:
        ll_impl, impl = (np.asarray(x) for x in gradient_fn(likelihood, u))
    scales = natural_scales(likelihood, u)
    floors = floor / scales
    steps = finite_steps(u, scales)
    noise = EPS * max(1.0, abs(float(ll))) / steps
    if finite_differences:
        fd = finite_difference_gradient(likelihood, u, steps)
        rel_fd = relative_difference(fd, auto, np.maximum(floors, 10 * noise / fd_tolerance))
    else:
        fd, rel_fd = np.full_like(auto, np.nan), np.zeros_like(auto)
    rel_analytic = relative_difference(impl, auto, floors)
    covered = ~np.isnan(impl)
    ok = ((rel_analytic <= analytic_tolerance) | ~covered) & (rel_fd <= fd_tolerance)
    table = pd.DataFrame(
        {
            "block": [coarse_block(b) for b in problem.space.blocks()],
            "value": np.asarray(u),
            "autodiff": auto,
            "analytic": impl,
            "finite_difference": fd,
            "fd_step": steps,
            "fd_noise": noise,
            "rel_analytic": rel_analytic,
            "rel_fd": rel_fd,
            "ok": ok,
        },
        index=pd.Index(list(problem.space.free_names), name="parameter"),
    )
    return GradientCheck(
        table=table,
        loglike=float(ll),
        loglike_implementation=float(ll_impl),
        implementation=name,
        analytic_tolerance=analytic_tolerance,
        fd_tolerance=fd_tolerance,
        floor=floor,
        not_covered=[str(n) for n in table.index[~covered]] if custom else [],
    )
