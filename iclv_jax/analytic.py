"""Hand-written analytic scores: the independent witness of the autodiff gradient.

Estimation uses autodiff (:mod:`iclv_jax.likelihood`).  This module computes the same
per-person scores and total gradient with plain array maths, one hand-derived formula
per component, so that the two implementations can be checked against each other (and
a component whose derivative ignores the chain rule, as in the seed failure, shows up
at once).  No automatic differentiation is used anywhere in this module.

The maths.  For person ``n`` with draws ``zeta_nr`` and integration weights ``w_r``
(or per-person ``w_nr``, adaptive quadrature; then read ``w_nr`` for ``w_r`` below):

    log L_n = logsumexp_r( log w_r + l_nr ),
    l_nr    = sum_k log P(I_nk | eta_nr) + sum_t mask_t log P(y_nt | eta_nr),
    eta_nr  = (I - G)^{-1} (B x_n + zeta_nr),

    d log L_n / d theta = sum_r w_nr d l_nr / d theta,   w_nr = softmax_r(log w_r + l_nr).

Per draw, every component gives the derivative of its log-probability with respect to
its own fields and with respect to ``eta`` (treated as free); the structural piece then
carries ``g = d l / d eta`` back to ``G`` and ``B`` through the whole LV chain:

- ordered probit / logit indicator, ``a = c_j - lambda eta``, ``b = c_{j+1} - lambda eta``,
  ``P = F(b) - F(a)``: ``d log P / d b = f(b) / P``, ``d log P / d a = -f(a) / P``, both
  formed as ``exp(log f - log P)`` so they stay finite in the tails (and are exactly 0
  at the padding cut-points ``+-OUTER_CUT``).  Loading: ``-eta (d_a + d_b)``; cut-points:
  ``d_a`` at position ``j`` and ``d_b`` at ``j + 1``; eta: ``-lambda (d_a + d_b)``.
  ``f`` is the normal density (probit) or ``F (1 - F)`` (logit).
- continuous, ``mu = alpha + lambda eta``: ``d / d alpha = (x - mu) / sigma^2``,
  loading ``eta (x - mu) / sigma^2``, ``d / d sigma = -1 / sigma + (x - mu)^2 / sigma^3``,
  eta ``lambda (x - mu) / sigma^2``.
- choice, ``V_tj = x_tj . beta + theta_j . eta``, first ``d log P / d V``:
  binary probit ``s phi(s V) / Phi(s V)`` with ``s = 2 y - 1`` (log-space ratio);
  ordered probit as the ordered indicators with ``c - V`` (cut-points get ``d_a, d_b``,
  ``V`` gets ``-(d_a + d_b)``); multinomial logit ``1[j = chosen] - P_j`` (``P_j = 0``
  for unavailable alternatives).  Then ``beta: sum_tj dV_tj x_tj``,
  ``theta_j: (sum_t dV_tj) eta``, ``eta: sum_tj dV_tj theta_j``.
- structural DAG (LVs in topological order, ``G`` strictly lower triangular): the
  adjoint ``a = (I - G)^{-T} g`` by back substitution in reverse topological order,
  then ``d l / d G[l, m] = a_l eta_m`` and ``d l / d B[l, c] = a_l x_c``.  This is the
  chain rule through every downstream LV (the part the seed's code missed).  With free
  LV scales (reference indicators), ``eta = (I - G)^{-1} (B x + sigma zeta)`` and
  ``d l / d sigma_l = a_l zeta_l``.
- ordered items with an intercept and scale (``location_scale``): the arguments are
  ``a = (c_j - alpha - lambda eta) / s`` and ``b`` likewise; every derivative above is
  divided by ``s``, ``d / d alpha = -(d_a + d_b) / s`` and
  ``d / d s = -(a d_a + b d_b) / s``.
- gather transpose: every component field was gathered from
  ``concat(theta_reported, EXTRAS)`` (``0, -OUTER_CUT, OUTER_CUT, 1``) with the
  :class:`~iclv_jax.layout.Layout` indices (ordered cut-points times their signs, ``-1``
  for the mirrored half of symmetric thresholds), so the reported gradient is the
  scatter-add of each (signed) field's gradient, the extra slots dropped.  A threshold
  set shared by several items is one set of slots: the scatter-add sums their parts.
- missing answers (ordered level ``-1``, continuous NaN) contribute ``log 1``: every
  derivative of that item is 0 for that person.
- choice scale ``V = mu W``: ``d / d mu = sum_tj dV_tj W_tj``, and the ``W`` pieces
  above receive ``mu dV``.
- reparametrisation (reported ``theta`` -> internal ``u``): identity ``1`` (bounded
  coefficients too: the optimiser keeps their box); log ``d theta / d u = exp(u)``;
  thresholds
  ``tau_i = sum_{j <= i in group} inc_j`` with ``inc_first = u`` (``exp(u)`` for the
  positive upper half of symmetric thresholds) and ``inc_j = exp(u_j)``, so
  ``d / d u_j = inc'_j sum_{i >= j in group} d / d tau_i`` (``cumulate`` transposed);
  then the free entries are selected.

Replacing one piece.  Every step is a method of :class:`AnalyticScores`; both public
functions take ``scores=`` (default :data:`DEFAULT`).  Subclass and override one
method to plant a bug or try another formula, e.g. the seed's structural derivative::

    class SeedStructural(AnalyticScores):
        def structural(self, module, eta, zeta, covariates, d_eta):
            # sum_r w_r (target - gamma pred) / sigma^2 * pred, target and predictor
            # both from the draws (sigma = 1); the weighting by w_r is done by the caller
            d_gamma = (eta[:, None] - module.gamma * eta[None, :]) * eta[None, :]
            return d_gamma, jnp.outer(d_eta, covariates)

    per_person_and_scores(likelihood, u, scores=SeedStructural())

or a sign error in the derivative of one ordered threshold::

    class FlippedThreshold(AnalyticScores):
        def ordered(self, module, eta, levels, log_prob):
            out = super().ordered(module, eta, levels, log_prob)
            return eqx.tree_at(lambda o: o.cuts, out, out.cuts.at[:, 2].multiply(-1.0))

The ``structural``, ``ordered``, ``continuous`` and ``choice`` methods work on one draw
of one person (the caller vmaps them and forms the ``w_nr``-weighted sums); ``beta``
works on the weighted ``d l / d V`` of one person (it is linear in it); ``gather`` and
``transform`` work on reported-space vectors.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.nn import logsumexp, softmax
from jaxtyping import Array, Bool, Float, Int

from .components import (
    BinaryProbitChoice,
    ContinuousIndicators,
    MultinomialLogitChoice,
    NoChoiceModule,
    OrderedIndicators,
    OrderedProbitChoiceModule,
    Structural,
    log_interval_probability,
)
from .layout import EXTRAS, Layout
from .likelihood import SimulatedLikelihood
from .params import ToReported
from .placement import PanelArrays

__all__ = [
    "CUSTOM_NOT_COVERED",
    "DEFAULT",
    "AnalyticScores",
    "ChoiceScores",
    "ContinuousScores",
    "FieldScores",
    "OrderedScores",
    "interval_scores",
    "log_density",
    "loglike_and_grad",
    "per_person_and_scores",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
CUSTOM_NOT_COVERED = ("analytic scores are not available for custom utility terms "
                      "(ij.Custom) or random coefficients; use gradient='autodiff'")


def log_density(x, link: str):
    """``log f(x)``: the standard normal density (probit) or ``F (1 - F)`` (logit)."""
    if link == "probit":
        return -0.5 * x * x - _LOG_SQRT_2PI
    # log F(x) + log F(-x) = -(|x| + 2 log(1 + exp(-|x|)))
    magnitude = jnp.abs(x)
    return -(magnitude + 2.0 * jnp.log1p(jnp.exp(-magnitude)))


def interval_scores(lower, upper, link: str, log_p=None):
    """``(d log P / d lower, d log P / d upper)`` for ``P = F(upper) - F(lower)``.

    ``(-f(lower) / P, f(upper) / P)``, each as ``exp(log f - log P)``: finite however far
    in a tail, and exactly 0 at a cut-point of ``+-OUTER_CUT``.  ``log_p`` is ``log P``
    if already known (else from :func:`log_interval_probability`).
    """
    if log_p is None:
        log_p = log_interval_probability(lower, upper, link)
    return (-jnp.exp(log_density(lower, link) - log_p),
            jnp.exp(log_density(upper, link) - log_p))


def structural_adjoint(module: Structural, d_eta: Float[Array, " L"]):
    """``a = (I - G)^{-T} d_eta``: in reverse topological order
    ``a_l = d_eta_l + sum_{m > l} G[m, l] a_m``."""
    adjoint = d_eta
    for l in reversed(range(d_eta.shape[0] - 1)):
        adjoint = adjoint.at[l].set(d_eta[l] + module.gamma[l + 1:, l] @ adjoint[l + 1:])
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
    ``d l / d`` (cut-points of an ordered choice, else ``None``), ``d l / d theta``,
    ``d l / d eta`` and ``d l / d mu`` (the scale)."""

    utility: Float[Array, "T J"]
    cuts: Float[Array, " Jc"] | None
    theta: Float[Array, "J L"]
    eta: Float[Array, " L"]
    scale: Float[Array, ""]


class FieldScores(eqx.Module):
    """``d log L / d`` every component field; names as in :class:`~iclv_jax.layout.Layout`
    (``choice_cuts`` is ``None`` unless the choice is ordered probit)."""

    gamma: Float[Array, "L L"]
    b: Float[Array, "L C"]
    structural_sigma: Float[Array, " L"]
    ordered_loadings: Float[Array, " Ko"]
    ordered_cuts: Float[Array, "Ko Jp1"]
    ordered_intercepts: Float[Array, " Ko"] | None
    ordered_scales: Float[Array, " Ko"] | None
    continuous_intercepts: Float[Array, " Kc"]
    continuous_loadings: Float[Array, " Kc"]
    continuous_sigmas: Float[Array, " Kc"]
    beta: Float[Array, " P"]
    theta: Float[Array, "J L"]
    choice_cuts: Float[Array, " Jc"] | None
    choice_scale: Float[Array, ""]


_FIELDS = ("gamma", "b", "structural_sigma", "ordered_loadings", "ordered_cuts",
           "ordered_intercepts", "ordered_scales", "continuous_intercepts",
           "continuous_loadings", "continuous_sigmas", "beta", "theta", "choice_cuts",
           "choice_scale")


class AnalyticScores(eqx.Module):
    """The hand-written derivative of each component; override a method to replace one.

    See the module docstring for the maths and for examples of overriding.
    """

    def structural(self, module: Structural, eta: Float[Array, " L"],
                   zeta: Float[Array, " L"], covariates: Float[Array, " C"],
                   d_eta: Float[Array, " L"]):
        """``(d l / d G [L, L], d l / d B [L, C])`` for one draw.

        ``d_eta`` is ``d l / d eta`` with eta treated as free (measurement + choice).
        Adjoint ``a = (I - G)^{-T} d_eta`` (:func:`structural_adjoint`); then
        ``d G[l, m] = a_l eta_m``, ``d B[l, c] = a_l x_c``.  ``zeta`` is not needed
        here (kept for overrides).
        """
        adjoint = structural_adjoint(module, d_eta)
        return jnp.outer(adjoint, eta), jnp.outer(adjoint, covariates)

    def structural_scale(self, module: Structural, zeta: Float[Array, " L"],
                         d_eta: Float[Array, " L"]):
        """``d l / d sigma_l = a_l zeta_l`` (``eta = (I - G)^{-1} (B x + sigma zeta)``)."""
        return structural_adjoint(module, d_eta) * zeta

    def ordered(self, module: OrderedIndicators, eta: Float[Array, " L"],
                levels: Int[Array, " K"], log_prob: Float[Array, " K"]) -> OrderedScores:
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
        d_lower, d_upper = interval_scores(lower, upper, module.link,
                                           jnp.where(answered, log_prob, 0.0))
        d_lower = jnp.where(answered, d_lower, 0.0) / module.scales
        d_upper = jnp.where(answered, d_upper, 0.0) / module.scales
        d_index = -(d_lower + d_upper)
        positions = jnp.arange(module.cuts.shape[1])
        cuts = (d_lower[:, None] * (positions == levels[:, None])
                + d_upper[:, None] * (positions == levels[:, None] + 1))
        return OrderedScores(
            loadings=d_index * eta_k,
            cuts=cuts,
            eta=_per_lv(d_index * module.loadings, module.lv_index, eta.shape[0]),
            intercepts=d_index,
            scales=-(d_lower * lower + d_upper * upper),
        )

    def continuous(self, module: ContinuousIndicators, eta: Float[Array, " L"],
                   values: Float[Array, " K"]) -> ContinuousScores:
        """Normal items at one draw: ``r = (x - mu) / sigma^2`` for alpha, ``r eta`` for
        the loading, ``-1 / sigma + (x - mu)^2 / sigma^3`` for sigma, ``lambda r`` for eta;
        all zero for a missing (NaN) answer."""
        eta_k = eta[module.lv_index]
        observed = ~jnp.isnan(values)  # a missing answer (NaN) contributes nothing
        residual = jnp.where(observed, values - module.intercepts - module.loadings * eta_k,
                             0.0)
        d_mean = residual / module.sigmas**2
        return ContinuousScores(
            intercepts=d_mean,
            loadings=d_mean * eta_k,
            sigmas=jnp.where(observed, (residual * d_mean - 1.0) / module.sigmas, 0.0),
            eta=_per_lv(d_mean * module.loadings, module.lv_index, eta.shape[0]),
        )

    def choice(self, module, base: Float[Array, "T J"], eta: Float[Array, " L"],
               chosen: Int[Array, " T"], available: Bool[Array, "T J"],
               mask: Bool[Array, " T"], log_prob: Float[Array, " T"]) -> ChoiceScores:
        """Choices at one draw, ``V = mu W``, ``W_tj = x_tj . beta + theta_j . eta``:
        ``d l / d W_tj = mu d l / d V_tj`` (zero on padded situations), the cut-points of
        an ordered choice, ``mu: sum_tj dV_tj W_tj``, ``theta_j: (sum_t dW_tj) eta`` and
        ``eta: sum_tj dW_tj theta_j``.  ``log_prob`` is each situation's ``log P(y_t)``
        at this draw (``module.log_prob(...)``, before masking)."""
        if module.custom_terms or module.random_terms:
            raise NotImplementedError(CUSTOM_NOT_COVERED)
        v = module.utilities(base, eta)
        cuts = None
        if isinstance(module, BinaryProbitChoice):
            sign = jnp.where(chosen == 1, 1.0, -1.0)
            sv = sign * v[:, 0]
            d_v = (sign * jnp.exp(log_density(sv, "probit") - log_prob))[:, None]
        elif isinstance(module, OrderedProbitChoiceModule):
            d_lower, d_upper = interval_scores(module.cuts[chosen] - v[:, 0],
                                               module.cuts[chosen + 1] - v[:, 0], "probit",
                                               log_prob)
            d_lower = jnp.where(mask, d_lower, 0.0)
            d_upper = jnp.where(mask, d_upper, 0.0)
            cuts = (jnp.zeros_like(module.cuts)
                    .at[chosen].add(d_lower)
                    .at[chosen + 1].add(d_upper))
            d_v = -(d_lower + d_upper)[:, None]
        elif isinstance(module, MultinomialLogitChoice):
            # log sum_j exp(V_j) over the available = V_chosen - log P(chosen)
            chosen_v = jnp.take_along_axis(v, chosen[:, None], axis=1)
            log_p = v - (chosen_v - log_prob[:, None])
            prob = jnp.exp(jnp.where(available, log_p, -jnp.inf))
            d_v = jax.nn.one_hot(chosen, v.shape[1], dtype=v.dtype) - prob
        elif isinstance(module, NoChoiceModule):
            d_v = jnp.zeros_like(v)
        else:
            raise TypeError(f"no analytic score for choice module {type(module).__name__}")
        d_v = jnp.where(mask[:, None], d_v, 0.0)
        # V = mu W with W = x . beta + theta . eta: d/d mu = sum dV W, d/d W = mu dV
        d_scale = (d_v * (base + module.theta @ eta)).sum()
        d_w = module.scale * d_v
        per_utility = d_w.sum(axis=0)
        return ChoiceScores(
            utility=d_w,
            cuts=cuts,
            theta=jnp.outer(per_utility, eta),
            eta=module.theta.T @ per_utility,
            scale=d_scale,
        )

    def beta(self, design: Float[Array, "T J P"], d_utility: Float[Array, "T J"]):
        """``d / d beta_p = sum_tj dV_tj x_tjp`` (applied to the draw-weighted ``dV``)."""
        return jnp.einsum("tj,tjp->p", d_utility, design)

    def gather(self, layout: Layout, fields: FieldScores, n_params: int):
        """The transpose of the layout's gathers: scatter-add every field's gradient into
        ``concat(theta, EXTRAS)`` and drop the extra slots.  Ordered cut-points were
        gathered times ``ordered_cut_signs``, so their gradients are multiplied by it."""
        names = [name for name in _FIELDS if getattr(fields, name) is not None]
        signed = {"ordered_cuts": fields.ordered_cuts * layout.ordered_cut_signs}
        values = jnp.concatenate([signed.get(name, getattr(fields, name)).reshape(-1)
                                  for name in names])
        index = jnp.concatenate([getattr(layout, name).reshape(-1) for name in names])
        extended = jnp.zeros(n_params + len(EXTRAS), values.dtype).at[index].add(values)
        return extended[:n_params]

    def transform(self, to_reported: ToReported, free_internal: Float[Array, " F"],
                  d_reported: Float[Array, " P"]) -> Float[Array, " F"]:
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


def _person(scores: AnalyticScores, components, person: PanelArrays, zeta, log_weights):
    """``(log L_n, FieldScores)`` for one person; ``zeta`` is ``(R, L)``."""
    structural, ordered, continuous, choice = components
    base = choice.base_utility(person.design)

    def draw(z):
        eta = structural(person.covariates, z)
        items = ordered.log_prob(eta, person.ordered_levels)
        choices = choice.log_prob(base, eta, person.chosen, person.available)
        loglike = (items.sum() + continuous.log_prob(eta, person.continuous_values).sum()
                   + jnp.where(person.situation_mask, choices, 0.0).sum())

        o = scores.ordered(ordered, eta, person.ordered_levels, items)
        c = scores.continuous(continuous, eta, person.continuous_values)
        ch = scores.choice(choice, base, eta, person.chosen, person.available,
                           person.situation_mask, choices)
        d_eta = o.eta + c.eta + ch.eta
        d_gamma, d_b = scores.structural(structural, eta, z, person.covariates, d_eta)
        d_sigma = scores.structural_scale(structural, z, d_eta)
        fields = (d_gamma, d_b, d_sigma, o.loadings, o.cuts, o.intercepts, o.scales,
                  c.intercepts, c.loadings, c.sigmas, ch.utility, ch.theta, ch.cuts, ch.scale)
        return loglike, fields

    loglikes, per_draw = jax.vmap(draw)(zeta)
    shifted = loglikes + log_weights
    weights = softmax(shifted) * person.weight
    summed = jax.tree.map(lambda g: jnp.tensordot(weights, g, axes=1), per_draw)
    (d_gamma, d_b, d_sigma, o_load, o_cuts, o_int, o_scale, c_int, c_load, c_sig, d_utility,
     d_theta, ch_cuts, ch_scale) = summed
    fields = FieldScores(
        gamma=d_gamma, b=d_b, structural_sigma=d_sigma, ordered_loadings=o_load,
        ordered_cuts=o_cuts, ordered_intercepts=o_int, ordered_scales=o_scale,
        continuous_intercepts=c_int, continuous_loadings=c_load, continuous_sigmas=c_sig,
        beta=scores.beta(person.design, d_utility), theta=d_theta, choice_cuts=ch_cuts,
        choice_scale=ch_scale,
    )
    return logsumexp(shifted) * person.weight, fields


def _chunk(likelihood: SimulatedLikelihood, scores: AnalyticScores, free_internal, panel,
           zeta, log_weights):
    """``(log L_n, FieldScores)`` for every person of a chunk."""
    return jax.vmap(_person, in_axes=(None, None, 0, 0, 0))(
        scores, likelihood.components(free_internal), panel, zeta, log_weights
    )


def _to_free(likelihood: SimulatedLikelihood, scores: AnalyticScores, free_internal,
             fields: FieldScores):
    n_params = likelihood.to_reported.fixed_internal.shape[0]
    d_reported = scores.gather(likelihood.layout, fields, n_params)
    return scores.transform(likelihood.to_reported, free_internal, d_reported)


@eqx.filter_jit
def per_person_and_scores(likelihood: SimulatedLikelihood, free_internal,
                          scores: AnalyticScores = DEFAULT):
    """``(log L_n [N], d log L_n / du [N, F])`` for every real person, by hand-written
    derivatives (same contract as :meth:`SimulatedLikelihood.per_person_and_scores`).

    Evaluated in chunks of ``likelihood.chunk_size`` people (``lax.map``) on every
    device's block of people.  ``scores`` replaces the per-component derivatives (see
    the module docstring).
    """
    def chunk_scores(u, panel, zeta, log_weights):
        values, fields = _chunk(likelihood, scores, u, panel, zeta, log_weights)
        return values, jax.vmap(lambda f: _to_free(likelihood, scores, u, f))(fields)

    return likelihood.map_people(chunk_scores, free_internal)


@eqx.filter_jit
def loglike_and_grad(likelihood: SimulatedLikelihood, free_internal,
                     scores: AnalyticScores = DEFAULT):
    """``(log L, d log L / du)`` by hand-written derivatives.

    Field gradients are summed over people chunk by chunk (``lax.map``) and over
    devices, and mapped to the free internal space once.  ``scores`` replaces the
    per-component derivatives.
    """
    def chunk_sum(u, panel, zeta, log_weights):
        values, fields = _chunk(likelihood, scores, u, panel, zeta, log_weights)
        return values.sum(), jax.tree.map(lambda g: g.sum(axis=0), fields)

    value, fields = likelihood.sum_people(chunk_sum, free_internal)
    return value, _to_free(likelihood, scores, free_internal, fields)
