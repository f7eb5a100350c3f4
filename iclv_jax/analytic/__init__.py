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
  ``d l / d sigma_l = a_l zeta_l``; a structural intercept ``c_l`` (``eta = (I -
  G)^{-1} (B x + c + sigma zeta)``) has ``d l / d c_l = a_l``.
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

Files.  :mod:`.scores` holds the derivatives of the structural equations, the
indicators and the utilities (:class:`AnalyticScores`); each choice kind registers
``d log P / d V`` for its kernel in a file of its own (:mod:`.binary_probit`,
:mod:`.ordered_probit`, :mod:`.multinomial_logit`, :mod:`.nested_logit`, :mod:`.no_choice`; see
:mod:`.registry`); :mod:`.drivers` sums them over draws, people and chunks.

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

from . import (  # registrations
    binary_probit,
    multinomial_logit,
    nested_logit,
    no_choice,
    ordered_probit,
)
from .drivers import loglike_and_grad, per_person_and_scores
from .registry import CHOICE_DERIVATIVES, choice_derivative, register
from .scores import (
    CUSTOM_NOT_COVERED,
    DEFAULT,
    AnalyticScores,
    ChoiceScores,
    ContinuousScores,
    OrderedScores,
    covers,
    interval_scores,
    log_density,
    structural_adjoint,
)

__all__ = [
    "CHOICE_DERIVATIVES",
    "CUSTOM_NOT_COVERED",
    "DEFAULT",
    "AnalyticScores",
    "ChoiceScores",
    "ContinuousScores",
    "OrderedScores",
    "binary_probit",
    "choice_derivative",
    "covers",
    "interval_scores",
    "log_density",
    "loglike_and_grad",
    "multinomial_logit",
    "nested_logit",
    "no_choice",
    "ordered_probit",
    "per_person_and_scores",
    "register",
    "structural_adjoint",
]
