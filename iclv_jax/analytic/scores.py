"""The hand-written derivative of each component (see :mod:`iclv_jax.analytic`)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ..components import (
    ContinuousIndicators,
    OrderedIndicators,
    Structural,
)
from ..components.links import per_link
from ..layout import Layout
from ..params import ToReported
from .registry import choice_derivative

__all__ = [
    "CUSTOM_NOT_COVERED",
    "covers",
    "DEFAULT",
    "AnalyticScores",
    "ChoiceScores",
    "ContinuousScores",
    "OrderedScores",
    "interval_scores",
    "log_density",
    "structural_adjoint",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
CUSTOM_NOT_COVERED = (
    "analytic scores do not cover custom utility terms (ij.Custom, or the non-linear "
    "terms of a utility expression) or random coefficients; use gradient='autodiff'"
)


def covers(custom_terms, random_terms) -> bool:
    """Whether the hand-written scores cover a choice kernel: not with random
    coefficients or custom terms of LVs (their derivatives in ``eta`` would be
    autodiff's); custom terms of data alone are covered but for their own parameters,
    whose scores are NaN."""
    return not random_terms and not any(term.lvs for term in custom_terms)


def log_density(x, link: str):
    """``log f(x)``: the standard normal density (probit) or ``F (1 - F)`` (logit)."""
    if link == "probit":
        return -0.5 * x * x - _LOG_SQRT_2PI
    # log F(x) + log F(-x) = -(|x| + 2 log(1 + exp(-|x|)))
    magnitude = jnp.abs(x)
    return -(magnitude + 2.0 * jnp.log1p(jnp.exp(-magnitude)))


def interval_scores(lower, upper, log_p, link: str):
    """``(d log P / d lower, d log P / d upper)`` for ``P = F(upper) - F(lower)``.

    ``(-f(lower) / P, f(upper) / P)``, each as ``exp(log f - log P)``: finite however far
    in a tail, and exactly 0 at a cut-point of ``+-OUTER_CUT``; ``log_p`` is ``log P``
    (:func:`~iclv_jax.components.log_interval_probability`).
    """
    return (-jnp.exp(log_density(lower, link) - log_p), jnp.exp(log_density(upper, link) - log_p))


def structural_adjoint(module: Structural, d_eta: Float[Array, " L"]):
    """``a = (I - G)^{-T} d_eta``: in reverse topological order
    ``a_l = d_eta_l + sum_{m > l} G[m, l] a_m``."""
    adjoint = d_eta
    for l in reversed(range(d_eta.shape[0] - 1)):
        adjoint = adjoint.at[l].set(d_eta[l] + module.gamma[l + 1 :, l] @ adjoint[l + 1 :])
    return adjoint


def _per_lv(values: Float[Array, " K"], lv_index: Int[Array, " K"], n_lvs: int):
    """``sum_{k: lv(k) = l} values_k`` for every LV ``l``."""
    return (lv_index[None, :] == jnp.arange(n_lvs)[:, None]).astype(values.dtype) @ values


class OrderedScores(eqx.Module):
    """One draw's ``d l / d`` (loadings, cut-points, eta, intercepts, scales) of the
    ordered indicators (``None`` for intercepts and scales: not computed)."""

    loadings: Float[Array, " K"]
    cuts: Float[Array, "K Jp1"]
    eta: Float[Array, " L"]
    intercepts: Float[Array, " K"] | None = None
    scales: Float[Array, " K"] | None = None


class ContinuousScores(eqx.Module):
    """One draw's ``d l / d`` (intercepts, loadings, sigmas, eta) of continuous indicators."""

    intercepts: Float[Array, " K"]
    loadings: Float[Array, " K"]
    sigmas: Float[Array, " K"]
    eta: Float[Array, " L"]


class ChoiceScores(eqx.Module):
    """One draw's choice derivatives: ``d l / d W`` (the unscaled utility, masked),
    ``d l / d`` the kind's own fields (e.g. the cut-points of an ordered choice),
    ``d l / d theta``, ``d l / d eta`` and ``d l / d mu`` (the scale)."""

    utility: Float[Array, "T J"]
    own: dict[str, Array]
    theta: Float[Array, "J L"]
    eta: Float[Array, " L"]
    scale: Float[Array, ""]


class AnalyticScores(eqx.Module):
    """The hand-written derivative of each component; override a method to replace one.

    See the module docstring for the maths and for examples of overriding.
    """

    def structural(
        self,
        module: Structural,
        eta: Float[Array, " L"],
        zeta: Float[Array, " L"],
        covariates: Float[Array, " C"],
        d_eta: Float[Array, " L"],
    ):
        """``(d l / d G [L, L], d l / d B [L, C])`` for one draw.

        ``d_eta`` is ``d l / d eta`` with eta treated as free (measurement + choice).
        Adjoint ``a = (I - G)^{-T} d_eta`` (:func:`structural_adjoint`); then
        ``d G[l, m] = a_l eta_m``, ``d B[l, c] = a_l x_c``.  ``zeta`` is not needed
        here (kept for overrides).
        """
        adjoint = structural_adjoint(module, d_eta)
        return jnp.outer(adjoint, eta), jnp.outer(adjoint, covariates)

    def structural_scale(
        self, module: Structural, zeta: Float[Array, " L"], d_eta: Float[Array, " L"]
    ):
        """``d l / d sigma_l = a_l zeta_l`` (``eta = (I - G)^{-1} (B x + sigma zeta)``)."""
        return structural_adjoint(module, d_eta) * zeta

    def structural_intercept(self, module: Structural, d_eta: Float[Array, " L"]):
        """``d l / d c_l = a_l`` (``eta = (I - G)^{-1} (B x + c + sigma zeta)``)."""
        return structural_adjoint(module, d_eta)

    def ordered(
        self,
        module: OrderedIndicators,
        eta: Float[Array, " L"],
        levels: Int[Array, " K"],
        log_prob: Float[Array, " K"],
    ) -> OrderedScores:
        """Ordered probit/logit items at one draw: with ``m = alpha + lambda eta``,
        ``a = (c[j] - m) / s``, ``b = (c[j + 1] - m) / s`` and ``(d_a, d_b)`` from
        :func:`interval_scores`, ``d_m = -(d_a + d_b) / s``: loading ``eta d_m``,
        intercept ``d_m``, scale ``-(a d_a + b d_b) / s``, ``c[j] += d_a / s``,
        ``c[j + 1] += d_b / s``, eta ``lambda d_m`` summed per LV.  ``log_prob`` is
        each item's ``log P`` at this draw (``module.log_prob(eta, levels)``).  Missing
        answers (level ``-1``) get zero derivatives."""
        eta_k = eta[module.lv_index]
        index = module.intercepts + eta_k * module.loadings
        answered = levels >= 0  # a missing answer (-1) contributes nothing
        levels = jnp.maximum(levels, 0)
        lower_cut = jnp.take_along_axis(module.cuts, levels[:, None], axis=1)[:, 0]
        upper_cut = jnp.take_along_axis(module.cuts, levels[:, None] + 1, axis=1)[:, 0]
        lower = (lower_cut - index) / module.scales
        upper = (upper_cut - index) / module.scales
        d_lower, d_upper = per_link(
            interval_scores, module.links, lower, upper, jnp.where(answered, log_prob, 0.0)
        )
        d_lower = jnp.where(answered, d_lower, 0.0) / module.scales
        d_upper = jnp.where(answered, d_upper, 0.0) / module.scales
        d_index = -(d_lower + d_upper)
        positions = jnp.arange(module.cuts.shape[1])
        cuts = d_lower[:, None] * (positions == levels[:, None]) + d_upper[:, None] * (
            positions == levels[:, None] + 1
        )
        return OrderedScores(
            loadings=d_index * eta_k,
            cuts=cuts,
            eta=_per_lv(d_index * module.loadings, module.lv_index, eta.shape[0]),
            intercepts=d_index,
            scales=-(d_lower * lower + d_upper * upper),
        )

    def continuous(
        self, module: ContinuousIndicators, eta: Float[Array, " L"], values: Float[Array, " K"]
    ) -> ContinuousScores:
        """Normal items at one draw: ``r = (x - mu) / sigma^2`` for alpha, ``r eta`` for
        the loading, ``-1 / sigma + (x - mu)^2 / sigma^3`` for sigma, ``lambda r`` for eta;
        all zero for a missing (NaN) answer."""
        eta_k = eta[module.lv_index]
        observed = ~jnp.isnan(values)  # a missing answer (NaN) contributes nothing
        residual = jnp.where(observed, values - module.intercepts - module.loadings * eta_k, 0.0)
        d_mean = residual / module.sigmas**2
        return ContinuousScores(
            intercepts=d_mean,
            loadings=d_mean * eta_k,
            sigmas=jnp.where(observed, (residual * d_mean - 1.0) / module.sigmas, 0.0),
            eta=_per_lv(d_mean * module.loadings, module.lv_index, eta.shape[0]),
        )

    def choice(
        self,
        module,
        base: Float[Array, "T J"] | tuple[Float[Array, "T J"], Float[Array, "T J PA"]],
        eta: Float[Array, " L"],
        chosen: Int[Array, " T"],
        available: Bool[Array, "T J"],
        mask: Bool[Array, " T"],
        log_prob: Float[Array, " T"],
    ) -> ChoiceScores:
        """Choices at one draw, ``V = mu W``, ``W_tj = x_tj . beta + theta_j . eta``:
        ``d l / d W_tj = mu d l / d V_tj`` (zero on padded situations), the cut-points of
        an ordered choice, ``mu: sum_tj dV_tj W_tj``, ``theta_j: (sum_t dW_tj) eta`` and
        ``eta: sum_tj dW_tj theta_j``.  ``log_prob`` is each situation's ``log P(y_t)``
        at this draw (``module.log_prob(...)``, before masking).  ``d l / d V`` and the
        kind's own fields come from the derivative registered for the kernel's class
        (:func:`~iclv_jax.analytic.registry.choice_derivative`)."""
        if not covers(module.custom_terms, module.random_terms):
            raise NotImplementedError(CUSTOM_NOT_COVERED)
        v = module.utilities(base, eta)
        d_v, own = choice_derivative(module)(module, v, chosen, available, mask, log_prob)
        d_v = jnp.where(mask[:, None], d_v, 0.0)
        unscaled = module.theta @ eta
        if module.custom_terms:  # draw-free terms: W gains custom(x), d/d eta does not
            linear, design = base
            unscaled = unscaled + linear + module.custom(design, eta)
            own = own | {"custom_params": jnp.full_like(module.custom_params, jnp.nan)}
        else:
            unscaled = unscaled + base
        # V = mu W with W = x . beta + theta . eta (+ custom): d/d mu = sum dV W,
        # d/d W = mu dV; the custom terms' own parameters are not covered (NaN)
        d_scale = (d_v * unscaled).sum()
        d_w = module.scale * d_v
        per_utility = d_w.sum(axis=0)
        return ChoiceScores(
            utility=d_w,
            own=own,
            theta=jnp.outer(per_utility, eta),
            eta=module.theta.T @ per_utility,
            scale=d_scale,
        )

    def beta(self, design: Float[Array, "T J P"], d_utility: Float[Array, "T J"]):
        """``d / d beta_p = sum_tj dV_tj x_tjp`` (applied to the draw-weighted ``dV``)."""
        return jnp.einsum("tj,tjp->p", d_utility, design)

    def gather(self, layout: Layout, fields: tuple[dict, ...], n_params: int):
        """The transpose of the layout's gathers: every component's field gradients
        (``fields``, one dict per component in layout order) scatter-added into the
        reported gradient (:meth:`~iclv_jax.layout.Layout.scatter`)."""
        dtype = jnp.result_type(*jax.tree.leaves(fields))
        return layout.scatter(fields, n_params, dtype)

    def transform(
        self,
        to_reported: ToReported,
        free_internal: Float[Array, " F"],
        d_reported: Float[Array, " P"],
    ) -> Float[Array, " F"]:
        """Reported gradient -> free internal gradient (chain rule of :class:`ToReported`):
        identity ``1``, log ``exp(u)``, thresholds ``inc'_j sum_{i >= j in group} d tau_i``
        (``inc'_j = exp(u_j)`` for exponentiated increments, else 1)."""
        tr = to_reported
        internal = tr.internal(free_internal)
        d_increments = tr.cumulate.T @ jnp.where(tr.is_threshold, d_reported, 0.0)
        exponentiated = tr.exp_increment | tr.is_log
        slope = jnp.where(exponentiated, jnp.exp(jnp.where(exponentiated, internal, 0.0)), 1.0)
        d_internal = slope * jnp.where(tr.is_threshold, d_increments, d_reported)
        return d_internal[tr.free_index]


DEFAULT = AnalyticScores()
