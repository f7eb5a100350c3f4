"""Elasticities of the predicted choice probabilities with respect to an attribute.

With ``P_tk`` the prediction of :func:`~iclv_jax.prediction.predict` and ``x_tj``
utility ``j``'s attribute column, ``e_tkj = (dP_tk / dx_tj) x_tj / P_tk``, exact by
forward-mode autodiff along the log scale ``s_j`` of ``x_tj -> x_tj exp(s_j)``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .estimation import Problem
from .posthoc import frame_rows
from .prediction import prediction_setup, probabilities
from .spec import ICLVModel
from .utility import declared_utilities

__all__ = ["elasticities", "probabilities_and_tangents"]


@eqx.filter_jit
def probabilities_and_tangents(likelihood, u, mode: str, multipliers, tangents):
    """Probabilities and their derivatives along each tangent of the log design scale
    ``s`` (``multiplier = exp(s * mask)``), by forward-mode autodiff."""

    def probs(s):
        return probabilities(likelihood, u, mode, jnp.exp(jnp.tensordot(s, multipliers, 1)))

    zero = jnp.zeros(multipliers.shape[0], multipliers.dtype)
    value = probs(zero)
    derivatives = jax.vmap(lambda t: jax.jvp(probs, (zero,), (t,))[1])(tangents)
    return value, derivatives


def _coefficient(utility, label: str, suffix: str | None) -> str | None:
    """The linear coefficient multiplying attribute ``label`` (a column-form label, or
    the column a term of an expression multiplies) in ``utility``, if any."""
    if label in utility.attributes:
        return utility.coefficient_name(label, suffix)
    return next((name for name, column in utility.terms.items() if column == label), None)


def _attribute_entries(problem: Problem, label: str):
    """``(utility labels, (J, P) 0/1 masks)``: for each utility with attribute ``label``
    the entry of the design holding its column (read from the model bound to the data,
    so an expression's ``beta * price_1`` is attribute ``price_1``)."""
    model = problem.bound
    utilities = declared_utilities(model.choice, model.lv_names)
    names = problem.panel.linear_names
    rows, masks = [], []
    for j, (alt, utility) in enumerate(utilities.items()):
        coefficient = _coefficient(utility, label, model.choice.lv_suffix(alt))
        if coefficient is None:
            continue
        mask = np.zeros(problem.panel.design.shape[2:])
        mask[j, names.index(coefficient)] = 1.0
        rows.append(alt if alt else label)
        masks.append(mask)
    if not rows:
        known = sorted(
            {a for u in utilities.values() for a in u.attributes}
            | {c for u in utilities.values() for c in u.terms.values() if c is not None}
        )
        raise ValueError(f"no utility has attribute {label!r}; attributes: {known}")
    return rows, np.stack(masks)


def elasticities(
    results,
    model: ICLVModel | None,
    data: pd.DataFrame,
    attribute_label: str,
    draws=None,
    conditional=False,
    aggregate: bool = False,
) -> pd.DataFrame:
    """Point elasticities of the choice probabilities w.r.t. an attribute, averaged.

    For situation ``t``, utility ``j`` carrying attribute ``attribute_label`` (column
    ``x_tj``) and outcome ``k``, the elasticity is
    ``e_tkj = (dP_tk / dx_tj) x_tj / P_tk``, with ``P`` the prediction of
    :func:`~iclv_jax.prediction.predict` (LVs integrated).  The derivative is exact:
    forward-mode autodiff of the prediction along ``s_j`` in ``x_tj -> x_tj exp(s_j)``,
    since
    ``dP_tk / ds_j = (dP_tk / dx_tj) x_tj`` at ``s_j = 0``.

    ``aggregate=False`` (default) reports the sample average
    ``(1 / #rows) sum_t e_tkj`` over the rows where ``P_tk > 0`` and (MNL) alternative
    ``j`` is available; ``aggregate=True`` the elasticity of the predicted share of
    ``k`` over the same rows, ``sum_t P_tk e_tkj / sum_t P_tk``.  ``conditional`` is as
    in :func:`~iclv_jax.prediction.predict` (with ``"all"`` the posterior weights move
    with the attribute too, and the derivative follows them).

    Returns:
        DataFrame, one row per utility with the attribute (MNL alternative name, or the
        attribute label for binary/ordered choice), one column per outcome: the direct
        elasticities are where the row's alternative meets its own column (MNL), the
        others cross elasticities.
    """
    model, labels, mode, frame, problem, u = prediction_setup(
        results, model, data, draws, conditional
    )
    rows, masks = _attribute_entries(problem, attribute_label)
    tangents = jnp.eye(len(rows))
    value, derivatives = probabilities_and_tangents(
        problem.likelihood, u, mode, jnp.asarray(masks), tangents
    )
    p = frame_rows(model, frame, value)
    table = np.empty((len(rows), len(labels)))
    for i, row in enumerate(rows):
        d = frame_rows(model, frame, derivatives[i])
        positive = p > 0
        if row in labels:  # an alternative: only rows where it is available
            positive &= p[:, labels.index(row)][:, None] > 0
        if aggregate:
            table[i] = np.where(positive, d, 0.0).sum(axis=0) / np.where(positive, p, 0.0).sum(0)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                e = np.where(positive, d / p, 0.0)
            table[i] = e.sum(axis=0) / positive.sum(axis=0)
    return pd.DataFrame(
        table,
        index=pd.Index(rows, name=f"{attribute_label} of"),
        columns=pd.Index(labels, name="probability of"),
    )
