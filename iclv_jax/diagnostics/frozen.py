"""Frozen-gradient detector: does each parameter's gradient respond when the parameter
moves, as autodiff's Hessian-vector product ``H e_i`` says it must?

Verdicts: ``ok``, ``wrong gradient code`` or ``flat likelihood / unidentified``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..draws import Draws
from ..optimize.optimality import scales_from_curvature
from .evaluation import as_problem, autodiff_at, free_internal_at, relative_difference
from .finite_differences import gradient_response, hessian_vector_products
from .flatness import flat_directions, typical_curvature
from .gradients import GradientFn, resolve_gradient
from .tables import coarse_block, format_names, table_text

__all__ = ["FLAT", "OK", "WRONG", "FrozenReport", "detect_frozen"]

WRONG, FLAT, OK = "wrong gradient code", "flat likelihood / unidentified", "ok"


@dataclass
class FrozenReport:
    """Does each parameter's gradient respond when the parameter moves, as autodiff's
    curvature says it must?

    ``table`` (one row per free parameter, internal space ``u``): ``block``,
    ``autodiff`` and ``implementation`` gradients and their ``rel_gradient``;
    ``curvature`` ``H_ii`` (autodiff, from ``H e_i`` by ``jax.jvp``) and ``response``
    ``(g_i(u + h e_i) - g_i(u - h e_i)) / 2h`` of the implementation;
    ``scaled_curvature`` ``s_i^2 H_ii / c`` and ``scaled_response`` likewise, with
    ``s`` the BHHH scales and ``c`` the typical curvature ``median_j s_j^2 |H_jj|``
    (so ~0 means: tiny beside the squared scores); ``response_error``
    ``max_j t_i t_j |dg_i/du_j (implementation, finite differences) - H_ij| / c_t`` with
    curvature scales ``t_i = (|H_ii| / N)^{-1/2}`` (each row against its own
    curvature) and ``worst_partner`` the ``j`` attaining it; ``step``; ``verdict`` and
    ``reason``.
    """

    table: pd.DataFrame
    implementation: str
    typical_curvature: float
    flat_directions: list[dict[str, float]]
    tolerances: dict[str, float]

    @property
    def wrong(self) -> list[str]:
        """Parameters whose gradient code is wrong."""
        return [str(n) for n in self.table.index[self.table["verdict"] == WRONG]]

    @property
    def flat(self) -> list[str]:
        """Parameters along which the likelihood itself is flat (autodiff agrees)."""
        return [str(n) for n in self.table.index[self.table["verdict"] == FLAT]]

    @property
    def ok(self) -> bool:
        """No wrong gradient code and no flat direction."""
        return not self.wrong and not self.flat

    @property
    def message(self) -> str:
        if self.ok:
            return (
                f"every parameter's {self.implementation!r} gradient responds to it as "
                "autodiff's curvature says; no flat direction"
            )
        parts = []
        if self.wrong:
            wrong = self.table.loc[self.wrong]
            reasons = "; ".join(
                f"{name}: {reason}"
                for name, reason in zip(wrong.index, wrong["reason"], strict=True)
            )
            parts.append(
                f"WRONG GRADIENT CODE in {self.implementation!r} for {len(self.wrong)} "
                f"parameter(s): {format_names(self.wrong)}.  The implementation disagrees "
                f"with autodiff, which is the truth; fix the derivative code.  "
                f"Details: {reasons}"
            )
        if self.flat:
            directions = "; ".join(
                " ".join(f"{w:+.2f} {n}" for n, w in d.items()) for d in self.flat_directions
            )
            parts.append(
                f"FLAT LIKELIHOOD / UNIDENTIFIED for {len(self.flat)} parameter(s): "
                f"{format_names(self.flat)}.  Autodiff agrees: the curvature (relative "
                f"to the typical {self.typical_curvature:.3g} in BHHH-scaled units) and "
                f"every person's score are ~0 along: {directions}.  This is the model or the data "
                "(not identified), not the gradient code."
            )
        return "\n".join(parts)

    def __str__(self) -> str:
        head = (
            f"Frozen-gradient check of {self.implementation!r} against autodiff "
            f"Hessian-vector products (internal parameter space)\n{self.message}"
        )
        columns = [
            "block",
            "autodiff",
            "implementation",
            "rel_gradient",
            "scaled_curvature",
            "scaled_response",
            "response_error",
            "verdict",
        ]
        return head + "\n" + table_text(self.table, columns)

    __repr__ = __str__


def detect_frozen(
    model,
    data=None,
    params=None,
    draws: int | Draws = 100,
    gradient: str | GradientFn = "analytic",
    gradient_tolerance: float = 1e-6,
    response_tolerance: float = 1e-3,
    flat_tolerance: float = 1e-6,
    floor: float = 1e-6,
    relative_step: float = 1e-4,
    batch_size: int = 4,
    chunk_size: int | None = None,
) -> FrozenReport:
    """Flag parameters whose ``gradient`` does not respond when they move.

    For each free parameter ``i`` the implementation's gradient is evaluated at
    ``u +- h_i e_i`` (``h_i = relative_step min(max(|u_i|, 1), t_i)``, ``t_i`` the
    curvature scale below), giving its response column
    ``dg/du_i``; autodiff's exact column is ``H e_i``, a Hessian-vector product
    (``jax.jvp`` of the autodiff gradient, ``batch_size`` at a time).  In the scaled
    coordinates ``v = u / s`` (BHHH scales) with ``c = median_j s_j^2 |H_jj|``, and
    in curvature units ``t_i = (|H_ii| / N)^{-1/2}`` (``c_t = median_j t_j^2 |H_jj|``,
    i.e. ``N``; the estimator's :func:`~iclv_jax.optimize.scales_from_curvature`, each
    parameter judged against itself) for the responses:

    - ``wrong gradient code``: the implementation's gradient ``g_i`` differs from
      autodiff's (relative difference above ``gradient_tolerance``, floor
      ``floor / s_i``); or ``g_i`` does not respond to ``u_i`` (``t_i^2 |response| <=
      flat_tolerance c_t``) where autodiff's curvature is clearly non-zero
      (``t_i^2 |H_ii| > response_tolerance c_t``); or row ``i`` of the
      implementation's response differs from ``H`` by more than ``response_tolerance``
      in curvature units in some column ``j`` (``g_i`` responds wrongly to ``u_j``:
      cross-effects count, e.g. gamma's gradient must respond to gamma).  Errors are
      attributed to the gradient entry (row) whose code is wrong.
    - ``flat likelihood / unidentified``: the implementation agrees with autodiff, and
      the likelihood is flat along a direction ``d`` involving the parameter: ``d`` in
      the span of the scaled Hessian's eigenvectors with ``|lambda| <= flat_tolerance
      c``, and every person's score zero along it too (``d' B d <= flat_tolerance``,
      ``B`` the scaled BHHH matrix, unit diagonal).  A parameter that does not enter
      the likelihood, or two that enter only together (``flat_directions`` lists
      them).  Tiny curvature beside large scores (e.g. a saturated probit at raw
      prices and 0.1 starts) is not flatness.
    - ``ok`` otherwise.

    The step is larger than the ``eps^(1/3)`` of :func:`finite_steps` because a
    gradient carries more rounding noise than ``eps`` times its size: in a saturated
    probit tail (raw prices, 0.1 starts) about ``1e-12`` relative, which ``1e-4``
    steps keep below ``1e-6`` of the curvature while the truncation error stays
    ``~1e-8``.

    Cost: ``2 F`` gradient evaluations of the implementation, ``F`` Hessian-vector
    products and one pass of per-person scores.  Arguments as in
    :func:`check_gradients`.
    """
    problem = as_problem(model, data, draws, chunk_size)
    likelihood = problem.likelihood
    names = list(problem.space.free_names)
    u = free_internal_at(problem, params)
    impl_name, gradient_fn = resolve_gradient(gradient)
    _, auto = autodiff_at(likelihood, u)
    impl = np.asarray(gradient_fn(likelihood, u)[1])
    n = len(names)
    scores = np.asarray(likelihood.scores(u))
    scales = scales_from_curvature(None, scores)
    hessian = hessian_vector_products(likelihood, u, np.eye(n), batch_size).T
    curvature_scales = scales_from_curvature(hessian, scores)
    steps = relative_step * np.minimum(np.maximum(np.abs(np.asarray(u)), 1.0), curvature_scales)
    u_np = np.asarray(u, dtype=float)
    response = gradient_response(gradient_fn, likelihood, u_np, steps)

    # BHHH-scaled units (flatness, displayed curvature): c = median_j s_j^2 |H_jj|
    outer = np.outer(scales, scales)
    scaled_h, scaled_r = hessian * outer, response * outer
    typical = typical_curvature(np.abs(np.diag(scaled_h)))
    scaled_scores = scores * scales
    scaled_bhhh = scaled_scores.T @ scaled_scores / max(1, scores.shape[0])
    flat_dirs = flat_directions(scaled_h, scaled_bhhh, names, typical, flat_tolerance)
    in_flat = {name for d in flat_dirs for name in d}
    # curvature-scaled units (responses): every row judged against its own curvature
    outer = np.outer(curvature_scales, curvature_scales)
    response_scale = typical_curvature(np.abs(np.diag(hessian * outer)))
    unit_h, unit_r = hessian * outer / response_scale, response * outer / response_scale
    errors = np.abs(unit_r - unit_h)
    partner = np.argmax(errors, axis=1)  # a NaN wins, and then counts as wrong
    response_error = errors[np.arange(n), partner]
    rel_gradient = relative_difference(impl, auto, floor / scales)

    verdicts, reasons = [], []
    for i, name in enumerate(names):
        h_ii, r_ii = unit_h[i, i], unit_r[i, i]
        problems = []
        if not rel_gradient[i] <= gradient_tolerance:  # NaN counts as wrong
            problems.append(
                f"gradient {impl[i]:.9g} but autodiff {auto[i]:.9g} "
                f"(relative difference {rel_gradient[i]:.2g})"
            )
        if abs(r_ii) <= flat_tolerance and abs(h_ii) > response_tolerance:
            problems.append(
                f"gradient does not respond when it moves (d g/d u = "
                f"{response[i, i]:.3g}, autodiff curvature {hessian[i, i]:.3g})"
            )
        elif not response_error[i] <= response_tolerance:
            j = partner[i]
            problems.append(
                f"gradient responds wrongly to {names[j]} (d g/d u = "
                f"{response[i, j]:.4g}, autodiff H = {hessian[i, j]:.4g})"
            )
        if problems:
            verdicts.append(WRONG)
            reasons.append("; ".join(problems))
        elif name in in_flat:
            verdicts.append(FLAT)
            reasons.append(
                "autodiff curvature and scores ~0 along a direction "
                f"involving it (scaled H_ii = {scaled_h[i, i] / typical:.2g})"
            )
        else:
            verdicts.append(OK)
            reasons.append("")

    table = pd.DataFrame(
        {
            "block": [coarse_block(b) for b in problem.space.blocks()],
            "value": u_np,
            "autodiff": auto,
            "implementation": impl,
            "rel_gradient": rel_gradient,
            "curvature": np.diag(hessian),
            "response": np.diag(response),
            "scaled_curvature": np.diag(scaled_h) / typical,
            "scaled_response": np.diag(scaled_r) / typical,
            "response_error": response_error,
            "worst_partner": [names[j] for j in partner],
            "step": steps,
            "verdict": verdicts,
            "reason": reasons,
        },
        index=pd.Index(names, name="parameter"),
    )
    return FrozenReport(
        table=table,
        implementation=impl_name,
        typical_curvature=typical,
        flat_directions=flat_dirs,
        tolerances={
            "gradient": gradient_tolerance,
            "response": response_tolerance,
            "flat": flat_tolerance,
            "floor": floor,
        },
    )
