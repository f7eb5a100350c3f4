"""After estimation: functions of parameters, posterior LVs, prediction, elasticities, tests.

This module gathers the post-estimation functions, each in a module of its own:
:mod:`~iclv_jax.delta` (expressions of parameters, delta method, WTP),
:mod:`~iclv_jax.posterior` (posterior weights and LVs), :mod:`~iclv_jax.prediction`
(probabilities, market shares), :mod:`~iclv_jax.elasticity`, :mod:`~iclv_jax.fit`
(LR test, constants-only LL, rho-squared), on the set-up of :mod:`~iclv_jax.posthoc`.

Everything here works from estimated parameter values and, where the likelihood is
needed, the model, the data and the draws passed explicitly
(``results, model, data, draws``): :class:`~iclv_jax.results.Results` may carry the
model (``results.model``) and records its draws as data, which
:func:`~iclv_jax.persistence.draws_from_dict` turns back into a draws object, so
``model`` and ``draws`` may be left out when the results know them.

Notation: person ``n``, draw ``r`` with log integration weight ``log w_r`` (``-log R``),
``eta_nr`` the LVs from the structural equations at draw ``zeta_nr``,

    m_nr = sum_k log P(I_nk | eta_nr)               (measurement),
    c_nr = sum_t log P(y_nt | eta_nr)               (choices),
    log L_n = logsumexp_r(log w_r + m_nr + c_nr)    (the simulated likelihood).
"""

from __future__ import annotations

from .delta import delta_method, parse_expression, wtp
from .elasticity import elasticities
from .fit import LikelihoodRatioTest, loglike_constants_only, lr_test, rho_squared
from .posterior import CONDITIONAL, posterior_lv
from .posthoc import prediction_frame
from .prediction import market_shares, outcome_labels, outcome_probabilities, predict

__all__ = [
    "CONDITIONAL",
    "LikelihoodRatioTest",
    "delta_method",
    "elasticities",
    "loglike_constants_only",
    "lr_test",
    "market_shares",
    "outcome_labels",
    "outcome_probabilities",
    "parse_expression",
    "posterior_lv",
    "predict",
    "prediction_frame",
    "rho_squared",
    "wtp",
]
