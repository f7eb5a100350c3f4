"""Which seeds the exact Hessian needs (:func:`hessian_plan`), from the additive
structure of the draw log-likelihood ``a = sum_k m_k + c`` (one term per measurement
row ``m_k``, one for the choice model ``c``, sharing only the LVs): private parameters of
different terms share a seed (Curtis-Powell-Reid), the choice's linear coefficients need
none (its closed-form block), and the structural parameters go through the LVs where
they can (:func:`~iclv_jax.hessian.through_lvs`).  :mod:`iclv_jax.hessian` evaluates
the plan."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .layout import Layout
from .params import ToReported


class HessianPlan(eqx.Module):
    """Compressed second derivatives of the draw log-likelihood ``a`` (see
    :func:`hessian_plan`): ``seeds`` ``[K, F]``; ``d^2 a / du_i du_j`` is entry
    ``[source_seed[i, j], source_index[i, j]]`` of the ``K`` Hessian-vector products,
    where ``nonzero[i, j]``, and 0 elsewhere.  ``measurement_seeds`` and
    ``choice_seeds``: the seeds whose products involve the measurement rows and the
    choice model (the others are 0 for that part, which is then not evaluated).
    ``lv_seeds``: the seeds of the structural parameters, whose products come through
    the LVs instead (:func:`~iclv_jax.hessian.through_lvs`; they are then in neither of
    the others), when those are used nowhere else and every parameter the choice uses
    itself is in its closed-form block (else empty).
    ``closed``: the free parameters whose block ``d^2 a / du_closed du_closed'`` comes in
    closed form from the choice kernel (no seed); ``closed_gather`` ``[E, C]``: the
    derivatives of the kernel's linear field entries (``linear_fields`` flattened and
    concatenated) with respect to them.  ``rows_closed``: on the LV route, the free
    parameters used only by measurement rows, whose block and per-draw gradients come
    from each row's derivatives in its locals (no seed;
    :func:`~iclv_jax.hessian.rows_closed_form`).  ``da_r / du_f = sum_kt measurement_draws[f, k, t]
    dm_rt[k] + sum_k choice_draws[f, k] dc_r[k]``, ``dm_rt[k]`` the derivative of
    measurement row ``t`` along measurement seed ``k``, ``dc_r[k]`` the choice's along
    choice seed ``k``: one term along the seed of a private parameter, all along that of
    a shared one, none for a closed one (the kernel gives it) or a structural one in
    ``lv_seeds`` (:func:`~iclv_jax.hessian.through_lvs` gives it) or in ``rows_closed``."""

    seeds: Float[Array, "K F"]
    source_seed: Int[Array, "F F"]
    source_index: Int[Array, "F F"]
    nonzero: Bool[Array, "F F"]
    measurement_seeds: Int[Array, " Km"]
    choice_seeds: Int[Array, " Kc"]
    lv_seeds: Int[Array, " S"]
    closed: Int[Array, " C"]
    closed_gather: Float[Array, "E C"]
    rows_closed: Int[Array, " M"]
    measurement_draws: Float[Array, "F Km Rows"]
    choice_draws: Float[Array, "F Kc"]


def _parameter_groups(layout: Layout, n_reported: int) -> list[set[tuple[int, int] | int | str]]:
    """For every reported parameter, the additive terms of ``a`` that use it, as each
    component declares (:class:`~iclv_jax.components.AbstractComponent`): row ``k``
    of a component whose rows add up (``(part, k)``: one measurement item), a component
    that is one term (``part``: the choice model), or ``"shared"`` (the structural
    equations, which reach every term through the LVs)."""
    groups: list[set[tuple[int, int] | int | str]] = [set() for _ in range(n_reported)]
    for part_number, part in enumerate(layout.parts):
        additive = part.component.additive
        for index in part.gathers.values():
            for position, reported in np.ndenumerate(np.asarray(index)):
                if reported < n_reported:  # beyond: the constant extra slots
                    groups[reported].add(
                        (part_number, position[0])
                        if additive == "rows"
                        else part_number
                        if additive == "whole"
                        else "shared"
                    )
    return groups


def _closed_form(layout: Layout, to_reported: ToReported, private_to_choice: list[int]):
    """The choice's free parameters whose second derivatives among themselves the kernel
    gives in closed form, and ``d field entry / du`` for them (``[E, C]``, the kernel's
    ``linear_fields`` flattened in order): each is a coefficient (reported = internal)
    gathered only into those fields, in which the utilities are linear."""
    choice = layout.choice
    fields = choice.component.linear_fields
    free_index = np.asarray(to_reported.free_index)
    nonlinear = np.asarray(to_reported.is_log) | np.asarray(to_reported.is_threshold)
    elsewhere = {
        int(i)
        for name, index in choice.gathers.items()
        if name not in fields
        for i in np.asarray(index).ravel()
    }
    closed = [
        f
        for f in private_to_choice
        if not nonlinear[free_index[f]] and int(free_index[f]) not in elsewhere
    ]
    entries = [
        (np.asarray(choice.gathers[name]).ravel(), np.ravel(choice.signs.get(name, 1.0)))
        for name in fields
    ]
    gather = np.zeros((sum(len(index) for index, _ in entries), len(closed)))
    offset = 0
    for index, sign in entries:
        for c, f in enumerate(closed):
            gather[offset : offset + len(index), c] = np.where(
                index == free_index[f], np.broadcast_to(sign, index.shape), 0.0
            )
        offset += len(index)
    return closed, gather


def _draw_gradient_map(layout: Layout, group_of: list, seed: dict, part_seeds):
    """``(measurement_draws [F, Km, Rows], choice_draws [F, Kc])`` (see
    :class:`HessianPlan`) for the seeds ``part_seeds`` (measurement, choice) of each part.
    The measurement rows are those of the ``"rows"`` components in layout order
    (:func:`draw_rows <iclv_jax.drawterms.draw_rows>`: ordered, then continuous
    items)."""
    offsets, n_rows = {}, 0
    for part_number, part in enumerate(layout.parts[:-1]):
        if part.component.additive == "rows":
            offsets[part_number] = n_rows
            n_rows += max((np.shape(index)[0] for index in part.gathers.values()), default=0)
    measurement_seeds, choice_seeds = (list(seeds) for seeds in part_seeds)
    measurement = np.zeros((len(group_of), len(measurement_seeds), n_rows))
    choice = np.zeros((len(group_of), len(choice_seeds)))
    for f, group in enumerate(group_of):
        if f not in seed:  # closed form
            continue
        if seed[f] in measurement_seeds and (group is None or isinstance(group, tuple)):
            k = measurement_seeds.index(seed[f])
            if group is None:  # shared: every term
                measurement[f, k] = 1.0
            else:  # one measurement row
                measurement[f, k, offsets[group[0]] + group[1]] = 1.0
        if seed[f] in choice_seeds and (group is None or not isinstance(group, tuple)):
            choice[f, choice_seeds.index(seed[f])] = 1.0
    return measurement, choice


def hessian_plan(layout: Layout, to_reported: ToReported, closed_form: bool = True) -> HessianPlan:
    """Seeds for the Hessian of the draw log-likelihood ``a`` from its additive structure.

    ``a`` is a sum of terms (one per measurement row, one for the choice model) that
    share only the LVs.  A free parameter used by one term alone ("private") has zero
    cross-derivatives with the private parameters of every other term, so the ``i``-th
    private parameters of all terms share one seed (Curtis-Powell-Reid compression);
    the other ("shared") parameters get a seed each.  Entries between a private and a
    shared parameter are read from the shared one's column (symmetry).  The choice's
    parameters in its closed-form block (:func:`_closed_form`) get no seed: their
    entries with other parameters are read from those parameters' columns.  ``K`` =
    shared parameters + the largest number of seeded private parameters in a term,
    instead of ``F``.  ``closed_form=False``: every parameter gets a seed (the generic
    path, the closed form's witness).
    """
    free_index = np.asarray(to_reported.free_index)
    cumulate = np.asarray(to_reported.cumulate) != 0
    is_threshold = np.asarray(to_reported.is_threshold)
    n_reported, n_free = cumulate.shape[0], free_index.shape[0]
    depends = np.where(is_threshold[:, None], cumulate, np.eye(n_reported, dtype=bool))
    reported_groups = _parameter_groups(layout, n_reported)
    choice = len(layout.parts) - 1  # the group of the choice model, the last part
    group_of, term_groups = [], []
    for f in range(n_free):
        groups = set().union(
            *(reported_groups[i] for i in np.flatnonzero(depends[:, free_index[f]]))
        )
        group_of.append(next(iter(groups)) if len(groups) == 1 and "shared" not in groups else None)
        term_groups.append(groups)
    closed, closed_gather = _closed_form(
        layout, to_reported, [f for f in range(n_free) if closed_form and group_of[f] == choice]
    )
    # the structural parameters reach the terms only through the LVs, when they are used
    # nowhere else and every parameter of the choice is in its closed form: then their
    # products come from the terms' derivatives in the LVs (:func:`through_lvs`)
    structural = [f for f in range(n_free) if term_groups[f] == {"shared"}]
    lvs_route = (
        closed_form
        and bool(layout.choice.component.linear_fields)
        and all(f in closed for f in range(n_free) if choice in term_groups[f])
        and not any("shared" in groups and len(groups) > 1 for groups in term_groups)
    )
    through_lvs_route = set(structural) if lvs_route else set()
    # on that route the parameters used only by measurement rows take the rows' closed
    # form (their derivatives in each row's locals; :func:`~iclv_jax.hessian.rows_closed_form`)
    rows_closed = [
        f
        for f in range(n_free)
        if lvs_route and term_groups[f] and all(isinstance(g, tuple) for g in term_groups[f])
    ]
    in_rows = set(rows_closed)
    unseeded = set(closed) | in_rows
    shared = [f for f in range(n_free) if group_of[f] is None and f not in unseeded]
    rank = {}
    for f in range(n_free):
        if group_of[f] is not None and f not in unseeded:
            rank[f] = sum(1 for e in range(f) if group_of[e] == group_of[f] and e not in unseeded)
    n_private_seeds = max(rank.values(), default=-1) + 1
    seed = {f: i for i, f in enumerate(shared)}
    seed.update({f: len(shared) + r for f, r in rank.items()})
    seeds = np.zeros((len(shared) + n_private_seeds, n_free))
    for f, k in seed.items():
        seeds[k, f] = 1.0
    source_seed = np.zeros((n_free, n_free), dtype=np.int64)
    source_index = np.zeros((n_free, n_free), dtype=np.int64)
    nonzero = np.zeros((n_free, n_free), dtype=bool)
    for i in range(n_free):
        for j in range(n_free):
            if i in closed and j in closed:
                continue  # the closed-form block
            if {i, j} & in_rows and not {i, j} & through_lvs_route:
                continue  # the rows' closed block, or 0 (no term uses both)
            nonzero[i, j] = None in (group_of[i], group_of[j]) or group_of[i] == group_of[j]
            # column j holds entry (i, j) when j is seeded and shared, or i is private;
            # a structural parameter's column on the LV route holds all its entries
            if i in through_lvs_route and j not in through_lvs_route:
                source_seed[i, j], source_index[i, j] = seed[i], j
            elif j in seed and (group_of[j] is None or group_of[i] is not None):
                source_seed[i, j], source_index[i, j] = seed[j], i
            else:  # from column i (symmetry)
                source_seed[i, j], source_index[i, j] = seed[i], j

    def seeds_touching(part):  # seeds with a shared parameter or one of ``part``'s
        return [
            k
            for k in range(seeds.shape[0])
            if any(group_of[f] is None or part(group_of[f]) for f in np.flatnonzero(seeds[k]))
        ]

    lv_seeds = [seed[f] for f in structural] if lvs_route else []
    part_seeds = (
        [k for k in seeds_touching(lambda group: group != choice) if k not in lv_seeds],
        [
            k
            for k in seeds_touching(lambda group: group == choice)
            if not lvs_route or any(choice in term_groups[f] for f in np.flatnonzero(seeds[k]))
        ],
    )
    measurement_draws, choice_draws = _draw_gradient_map(layout, group_of, seed, part_seeds)
    return HessianPlan(
        jnp.asarray(seeds),
        jnp.asarray(source_seed),
        jnp.asarray(source_index),
        jnp.asarray(nonzero),
        measurement_seeds=jnp.asarray(part_seeds[0], dtype=jnp.int32),
        choice_seeds=jnp.asarray(part_seeds[1], dtype=jnp.int32),
        lv_seeds=jnp.asarray(lv_seeds, dtype=jnp.int32),
        closed=jnp.asarray(closed, dtype=jnp.int32),
        closed_gather=jnp.asarray(closed_gather),
        rows_closed=jnp.asarray(rows_closed, dtype=jnp.int32),
        measurement_draws=jnp.asarray(measurement_draws),
        choice_draws=jnp.asarray(choice_draws),
    )
