"""One person's draw log-likelihood and its terms, for every draw at once (draws last).

With the components at the current parameters (structural equations, ordered and
continuous measurement, choice; see :meth:`Layout.components
<iclv_jax.layout.Layout.components>`), a person's draws ``zeta`` ``(R, L)`` give the LVs
``eta_nr``, every measurement row's LV ``x_nk = eta_nr[lv_k]``, the rows ``log P(I_nk |
x_nk)``, the choice term ``c_nr = sum_t log P(y_nt | eta_nr)`` and

    a_nr = sum_k log P(I_nk | x_nk) + c_nr,    log L_n = logsumexp_r(a_nr + log w_nr).

:mod:`iclv_jax.likelihood` maps these over people and chunks; :mod:`iclv_jax.hessian`
differentiates the pieces.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.nn import logsumexp
from jaxtyping import Array, Float

from .placement import PanelArrays


def draw_lvs(components, person: PanelArrays, zeta) -> Float[Array, "LK R"]:
    """``eta_nr`` for every draw (``zeta`` is ``(R, L)``): the structural equations."""
    return components[0](person.covariates, zeta.T)


def draw_rows(components, person: PanelArrays, zeta):
    """``(eta_nr, rows_nr, c_nr)`` for every draw (``zeta`` is ``(R, L)``): the LVs
    ``(L, R)``, the measurement rows ``log P(I_nk | eta_nr)`` ``(K, R)`` (the ordered items,
    then the continuous ones) and ``c_nr = sum_t log P(y_nt | eta_nr)`` ``(R,)``.  The
    components see all draws at once, draws last."""
    _, ordered, continuous, choice = components
    eta = draw_lvs(components, person, zeta)
    rows = jnp.concatenate(
        [
            ordered.log_prob(eta, person.ordered_levels),
            continuous.log_prob(eta, person.continuous_values),
        ]
    )
    return eta, rows, choice.person_log_prob(person, eta)


def measurement_lvs(components, eta) -> Float[Array, "K R"]:
    """``x_k = eta[lv_k]`` for every measurement row ``k`` (ordered, then continuous
    items): the LV each measures."""
    _, ordered, continuous, _ = components
    return jnp.concatenate([ordered.item_lvs(eta), continuous.item_lvs(eta)])


def _measurement_kinds(components, person: PanelArrays):
    """``(kind, answers, rows)`` for each measurement kind in row order (ordered, then
    continuous), ``rows`` the slice of the measurement rows that are its items."""
    _, ordered, continuous, _ = components
    start = 0
    for kind, answers in ((ordered, person.ordered_levels), (continuous, person.continuous_values)):
        rows = slice(start, start + kind.lv_index.shape[0])
        yield kind, answers, rows
        start = rows.stop


def measurement_rows(components, person: PanelArrays, item_eta) -> Float[Array, "K R"]:
    """The measurement rows ``log P(I_nk | x_k)`` ``(K, R)`` given every row's LV
    ``x`` (:func:`measurement_lvs`)."""
    return jnp.concatenate(
        [
            kind.log_prob_at(item_eta[rows], answers)
            for kind, answers, rows in _measurement_kinds(components, person)
        ]
    )


def measurement_locals(components, person: PanelArrays) -> Float[Array, "K P"]:
    """Every row's locals ``theta_k`` (:meth:`AbstractMeasurement.row_locals
    <iclv_jax.components.AbstractMeasurement.row_locals>`), ``P`` the most any kind
    has, a kind with fewer padded with zeros (which no row reads)."""
    parts = [
        kind.row_locals(answers) for kind, answers, _ in _measurement_kinds(components, person)
    ]
    width = max(part.shape[1] for part in parts)
    return jnp.concatenate([jnp.pad(part, ((0, 0), (0, width - part.shape[1]))) for part in parts])


def measurement_local_derivatives(components, person: PanelArrays, locals_, item_eta, weights):
    """The rows' derivatives in ``v = (theta_k, x_k)`` (locals as
    :func:`measurement_locals`, ``x_k`` last; :meth:`AbstractMeasurement.local_derivatives
    <iclv_jax.components.AbstractMeasurement.local_derivatives>`): per draw the gradient
    and the Hessian's column in ``x`` ``(P + 1, K, R)``, and the Hessian's block in the
    locals summed over the draws with ``weights`` ``(R,)``, ``(P, P, K)``."""
    width = locals_.shape[1]
    gradients, in_x, blocks = [], [], []
    for kind, answers, rows in _measurement_kinds(components, person):
        n_local = jax.eval_shape(kind.row_locals, answers).shape[1]
        gradient, column, block = kind.local_derivatives(
            locals_[rows, :n_local], item_eta[rows], answers, weights
        )
        # the kind's v padded to the widest: zeros between its locals and x
        padding = ((0, width - n_local), (0, 0), (0, 0))
        gradients.append(jnp.concatenate([jnp.pad(gradient[:-1], padding), gradient[-1:]]))
        in_x.append(jnp.concatenate([jnp.pad(column[:-1], padding), column[-1:]]))
        blocks.append(jnp.pad(block, ((0, width - n_local), (0, width - n_local), (0, 0))))
    return (
        jnp.concatenate(gradients, axis=1),
        jnp.concatenate(in_x, axis=1),
        jnp.concatenate(blocks, axis=2),
    )


def draw_terms(components, person: PanelArrays, zeta):
    """``(eta_nr, m_nr, c_nr)`` for every draw: :func:`draw_rows` with
    ``m_nr = sum_k log P(I_nk | eta_nr)``."""
    eta, rows, choices = draw_rows(components, person, zeta)
    return eta, rows.sum(axis=0), choices


def draw_linear_derivatives(components, person: PanelArrays, zeta, weights):
    """The choice kernel's closed-form derivatives in its linear field entries ``gamma``
    (its ``linear_derivatives``): per draw ``d c_nr / d gamma`` ``(R, E)`` and
    ``d^2 sum_r w_r c_nr / d gamma d gamma'``, for one person's draws ``zeta`` ``(R, L)``
    and weights ``w`` ``(R,)``."""
    choice = components[3]
    eta = draw_lvs(components, person, zeta)
    return choice.linear_derivatives(
        person.design, eta, person.chosen, person.available, person.situation_mask, weights
    )


def draw_lv_derivatives(components, person: PanelArrays, eta, weights):
    """The choice's derivatives in the LVs at ``eta`` ``(LK, R)``, per draw: ``g = d c_r /
    d eta_r`` ``(LK, R)``, ``h = d^2 c_r / d eta_r d eta_r'`` ``(LK, LK, R)`` and ``q = d
    (d c_r / d gamma) / d eta_r`` ``(LK, R, E)``, with the kernel's closed-form slopes
    ``d c_r / d gamma`` ``(R, E)`` and block (:func:`draw_linear_derivatives`).  Draw
    ``r`` depends on ``eta_r`` alone, so a tangent of 1 on LV ``l`` at every draw gives
    every draw's derivative in ``eta_lr`` at once (forward mode: as fast as the same
    derivatives written out from the kernel's ``utility_derivatives``, measured)."""
    choice = components[3]
    units = jnp.eye(eta.shape[0], dtype=eta.dtype)[:, :, None] * jnp.ones_like(eta)[None]

    def slopes_in_lvs(e):  # g at e
        _, along = jax.linearize(lambda x: choice.person_log_prob(person, x), e)
        return jax.vmap(along)(units)

    def linear(e):
        return choice.linear_derivatives(
            person.design, e, person.chosen, person.available, person.situation_mask, weights
        )

    g, g_along = jax.linearize(slopes_in_lvs, eta)
    (slopes, block), linear_along = jax.linearize(linear, eta)
    h = jax.vmap(g_along)(units)
    q = jax.vmap(lambda unit: linear_along(unit)[0])(units)
    return g, h, q, slopes, block


def draw_loglikes(components, person: PanelArrays, zeta) -> Float[Array, " R"]:
    """``a_nr = m_nr + c_nr`` for every draw: measurement rows and the choice model add
    up (see :func:`draw_terms`)."""
    _, measurement, choices = draw_terms(components, person, zeta)
    return measurement + choices


def person_loglike(components, person: PanelArrays, zeta, log_weights):
    """``log L_n`` for one person: ``zeta`` is ``(R, L)``, ``log_weights`` ``(R,)`` (this
    person's log integration weights)."""
    return logsumexp(draw_loglikes(components, person, zeta) + log_weights) * person.weight
