"""Tests and goodness of fit: likelihood-ratio test, constants-only LL, rho-squared.

``LR = 2 (LL_u - LL_r)`` against ``chi2(K_u - K_r)``; the fit of the choice part,
``rho^2 = 1 - LL_choice / LL_0``, against equal shares or constants only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2

from .data import prepare_data
from .fitstats import loglike_parts
from .posthoc import model_of, setup_problem
from .results import Results
from .spec import ICLVModel

__all__ = ["LikelihoodRatioTest", "loglike_constants_only", "lr_test", "rho_squared"]


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """``statistic = 2 (LL_u - LL_r)``, ``df = K_u - K_r``, ``p = P(chi2_df > statistic)``."""

    statistic: float
    df: int
    p_value: float
    loglike_restricted: float
    loglike_unrestricted: float

    def __str__(self) -> str:
        return (
            f"LR = {self.statistic:.4f}, df = {self.df}, p = {self.p_value:.4g} "
            f"(LL {self.loglike_restricted:.4f} -> {self.loglike_unrestricted:.4f})"
        )


def _outcomes(results: Results) -> frozenset[str] | None:
    """What a fit's likelihood explains: its indicators by name, and ``"choices"``
    when it has a choice part (``None`` when the results do not carry their model)."""
    model = getattr(results, "model", None)
    if model is None:
        return None
    choices = () if model.choice.empty else ("choices",)
    return frozenset((*(ind.name for ind in model.indicators), *choices))


def _check_same_outcomes(parts: Sequence[Results], unrestricted: Results) -> None:
    """Refuse a restricted model whose parts do not explain exactly the data the
    unrestricted model explains (an outcome missing, or explained twice)."""
    outcomes = [found for found in map(_outcomes, parts) if found is not None]
    whole = _outcomes(unrestricted)
    if whole is None or len(outcomes) < len(parts):
        return
    seen: set[str] = set()
    for found in outcomes:
        twice = sorted(seen & found)
        if twice:
            raise ValueError(f"the restricted parts both explain {twice}: their LLs do not add")
        seen |= found
    if seen != whole:
        lacking, extra = sorted(whole - seen), sorted(seen - whole)
        raise ValueError(
            "the two likelihoods are of different data, so no LR test compares them: "
            f"only the unrestricted model explains {lacking}, only the restricted one "
            f"{extra}.  A model without latent variables is nested in an ICLV model "
            "together with the ICLV's measurement model: with every choice coefficient "
            "of the LVs at 0 the ICLV likelihood factorises into the two.  Estimate the "
            "ICLV with choice=NoChoice() on the same data and draws and pass "
            "lr_test([base, measurement], iclv)"
        )


def lr_test(restricted: Results | Sequence[Results], unrestricted: Results) -> LikelihoodRatioTest:
    """Likelihood-ratio test of a restricted model nested in an unrestricted one.

    ``LR = 2 (LL_u - LL_r)`` is asymptotically ``chi2`` with
    ``df = K_u - K_r`` (free parameters) under the restriction.  Raises ``ValueError``
    if ``df <= 0`` (not nested by parameter count) or the two were estimated on
    different numbers of people or observations; warns if the restricted LL is above
    the unrestricted one (not nested, or one estimate is not the maximum) or the
    restricted free parameters are not among the unrestricted ones.

    ``restricted`` may be a sequence of independent fits of disjoint parts of the
    data (``LL_r`` and ``K_r`` the sums).  Both sides must explain the same data
    (checked where the results carry their models): a model without latent variables
    (MNL, probit, mixed logit) explains the choices only, an ICLV model the choices
    *and* the indicators, so their LLs are not comparable.  The restricted model an
    ICLV nests is the joint base model: the choice model without LVs and the ICLV's
    measurement model (``choice=NoChoice()``), estimated apart; with every LV
    coefficient of the utilities at 0 the ICLV's likelihood is their product, so
    ``lr_test([base, measurement], iclv)`` tests those coefficients (``df`` their
    number).  Comparing the base model with the ICLV's choice part at the ICLV
    estimates (``rho_squared``'s ``loglike_choice``) is a comparison of fit, not an
    LR test: those estimates maximise the joint likelihood, not the choice part, so
    twice the difference has no ``chi2`` law.  A random coefficient's ``sigma`` is
    positive, so "MNL in mixed logit" restricts it to its boundary, where the
    ``chi2(df)`` p-value is conservative.

    With simulated likelihoods all must use the same data and draws (a model without
    random terms has an exact likelihood and needs none).
    """
    parts = [restricted] if isinstance(restricted, Results) else list(restricted)
    if not parts:
        raise ValueError("no restricted model given")
    loglike = sum(part.loglike for part in parts)
    n_params = sum(part.n_params for part in parts)
    df = unrestricted.n_params - n_params
    if df <= 0:
        raise ValueError(
            f"the restricted model must have fewer free parameters: "
            f"{n_params} vs {unrestricted.n_params}"
        )
    for part in parts:
        if (part.n_people, part.n_observations) != (
            unrestricted.n_people,
            unrestricted.n_observations,
        ):
            raise ValueError(
                "the two results were estimated on different data "
                f"({part.n_people}/{part.n_observations} vs "
                f"{unrestricted.n_people}/{unrestricted.n_observations} "
                "people/observations)"
            )
    _check_same_outcomes(parts, unrestricted)
    names = {name for part in parts for name in part.table.index}
    outside = sorted(names - set(unrestricted.table.index))
    if outside:
        warnings.warn(
            f"restricted parameters not in the unrestricted model: {outside}; "
            "are the models nested?",
            stacklevel=2,
        )
    statistic = 2.0 * (unrestricted.loglike - loglike)
    if statistic < -1e-6 * max(1.0, abs(unrestricted.loglike)):
        warnings.warn(
            f"the restricted LL ({loglike:.4f}) is above the "
            f"unrestricted one ({unrestricted.loglike:.4f}): not nested, or an "
            "estimate is not at the maximum",
            stacklevel=2,
        )
    return LikelihoodRatioTest(
        statistic=float(statistic),
        df=int(df),
        p_value=float(chi2.sf(max(statistic, 0.0), df)),
        loglike_restricted=float(loglike),
        loglike_unrestricted=float(unrestricted.loglike),
    )


def loglike_constants_only(model: ICLVModel, data: pd.DataFrame) -> float:
    """LL of the choice model with constants only (no attributes, no LVs), maximised.

    Every situation is treated as independent (as in Biogeme/Apollo ``LL(C)``):

    - binary probit and ordered choice: the observed shares,
      ``sum_k n_k log(n_k / n)``;
    - MNL: alternative-specific constants, maximised under each row's availability
      (equal to ``sum_k n_k log(n_k / n)`` when all are always available).
    """
    if model.choice.empty:
        raise ValueError("the model has no choice part")
    panel = prepare_data(model, data)
    mask = panel.situation_mask
    return model.choice.constants_loglike(panel.chosen[mask], panel.available[mask])


def rho_squared(
    results: Results | Mapping[str, float], model: ICLVModel | None, data: pd.DataFrame, draws=None
) -> pd.Series:
    """Goodness of fit of the choice part of an ICLV model.

    The ICLV log-likelihood includes the measurement equations, so it cannot be set
    against a choice-only baseline.  Here the fit is that of the *choice part alone*,
    at the estimates, with the LVs integrated over their structural distribution
    (the indicators are not used):

        LL_choice = sum_n log sum_r w_r prod_t P(y_nt | eta_nr),

    the likelihood of the choices the model predicts for a person of whom only the
    covariates and attributes are known.  Against it:

    - ``loglike_null``: equal shares, :meth:`iclv_jax.Problem.null_choice_loglike`
      (``-sum_t log #available_t`` for MNL, ``n log 1/2`` binary, ``n log 1/J``
      ordered — for ordered choice this is not the "all parameters zero" LL, which
      is undefined with thresholds);
    - ``loglike_constants``: :func:`loglike_constants_only`.

    ``rho_squared_null = 1 - LL_choice / LL_null``,
    ``adjusted_rho_squared_null = 1 - (LL_choice - K) / LL_null`` with ``K`` the free
    parameters of the choice part (blocks ``choice`` and ``choice_lv``: betas, ascs,
    choice thresholds and LV coefficients; the structural parameters also shape
    ``LL_choice`` but are not counted), and
    ``rho_squared_constants = 1 - LL_choice / LL_constants``.  Also returned:
    ``loglike_measurement`` (the indicators alone, LVs integrated) and ``loglike``
    (everything, equal to ``results.loglike`` on the estimation data and draws).
    """
    model = model_of(results, model)
    problem, u = setup_problem(results, model, data, draws)
    total, measurement, choice = (
        float(np.asarray(x).sum()) for x in loglike_parts(problem.likelihood, u)
    )
    null = problem.null_choice_loglike()
    if null is None:
        raise ValueError("the model has no choice part: rho-squared is not defined")
    constants = loglike_constants_only(model, data)
    k = sum(block in ("choice", "choice_lv") for block in problem.space.blocks())
    return pd.Series(
        {
            "loglike": total,
            "loglike_measurement": measurement,
            "loglike_choice": choice,
            "loglike_null": null,
            "loglike_constants": constants,
            "n_choice_params": k,
            "rho_squared_null": 1.0 - choice / null,
            "adjusted_rho_squared_null": 1.0 - (choice - k) / null,
            "rho_squared_constants": 1.0 - choice / constants if constants != 0 else math.nan,
        },
        name="fit",
    )
