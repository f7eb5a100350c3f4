"""The exact Hessian of the simulated log-likelihood, one chunk of people at a time.

For person ``n`` with draw log-likelihoods ``a_nr`` and log-weights ``log w_nr``,
``log L_n = logsumexp_r(a_nr + log w_nr)``.  With softmax weights
``p_nr = softmax_r(a_nr + log w_nr)`` and ``g_n = sum_r p_nr da_nr/du``:

    H_n = sum_r p_nr (d^2 a_nr + da_nr da_nr') - g_n g_n'.

``a = sum_k m_k + c`` is a sum of additive terms (one per measurement row ``m_k``, the
choice model ``c``) that share only the LVs; :func:`hessian_plan` compresses
``sum p d^2 a`` into ``K`` Hessian-vector products from that structure
(Curtis-Powell-Reid), and :func:`chunk_hessian` evaluates it.  The same forward passes
give every term's per-draw derivative along each seed, hence the per-draw gradients
``da_nr/du`` (a term's private parameter is alone in its seed for that term).  The
choice model's parameters that enter its utilities linearly (``V = mu (x'beta + theta
eta + ...)``, the kernel's ``linear_fields``) need no seed: the kernel gives their
per-draw gradients and second derivatives in closed form (``linear_derivatives``),
mapped to ``u`` by the plan's ``closed_gather``.  When every parameter the choice uses
itself is of that kind and the structural parameters are used nowhere else, those
reach every term only through the LVs: their products come from the terms' derivatives
in the LVs (forward tangents, one per LV for the choice, one for all rows, each row
reading its own LV) instead of passing their seeds through the items and the
utilities (:func:`through_lvs`).  The crossed products with the items' parameters come
from the items' seeds, whose reverse passes give every row's slope in its LV.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .layout import Layout
from .params import ToReported
from .placement import PanelArrays


class HessianPlan(eqx.Module):
    """Compressed second derivatives of the draw log-likelihood ``a`` (see
    :func:`hessian_plan`): ``seeds`` ``[K, F]``; ``d^2 a / du_i du_j`` is entry
    ``[source_seed[i, j], source_index[i, j]]`` of the ``K`` Hessian-vector products,
    where ``nonzero[i, j]``, and 0 elsewhere.  ``measurement_seeds`` and
    ``choice_seeds``: the seeds whose products involve the measurement rows and the
    choice model (the others are 0 for that part, which is then not evaluated).
    ``lv_seeds``: the seeds of the structural parameters, whose products come through
    the LVs instead (:func:`through_lvs`; they are then in neither of the others), when
    those are used nowhere else and every parameter the choice uses itself is in its
    closed-form block (else empty).
    ``closed``: the free parameters whose block ``d^2 a / du_closed du_closed'`` comes in
    closed form from the choice kernel (no seed); ``closed_gather`` ``[E, C]``: the
    derivatives of the kernel's linear field entries (``linear_fields`` flattened and
    concatenated) with respect to them.  ``da_r / du_f = sum_kt measurement_draws[f, k, t]
    dm_rt[k] + sum_k choice_draws[f, k] dc_r[k]``, ``dm_rt[k]`` the derivative of
    measurement row ``t`` along measurement seed ``k``, ``dc_r[k]`` the choice's along
    choice seed ``k``: one term along the seed of a private parameter, all along that of
    a shared one, none for a closed one (the kernel gives it) or a structural one in
    ``lv_seeds`` (:func:`through_lvs` gives it)."""

    seeds: Float[Array, "K F"]
    source_seed: Int[Array, "F F"]
    source_index: Int[Array, "F F"]
    nonzero: Bool[Array, "F F"]
    measurement_seeds: Int[Array, " Km"]
    choice_seeds: Int[Array, " Kc"]
    lv_seeds: Int[Array, " S"]
    closed: Int[Array, " C"]
    closed_gather: Float[Array, "E C"]
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
    shared = [f for f in range(n_free) if group_of[f] is None]
    rank = {}
    for f in range(n_free):
        if group_of[f] is not None and f not in closed:
            rank[f] = sum(1 for e in range(f) if group_of[e] == group_of[f] and e not in closed)
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
            nonzero[i, j] = None in (group_of[i], group_of[j]) or group_of[i] == group_of[j]
            # column j holds entry (i, j) when j is seeded and shared, or i is private
            if j in seed and (group_of[j] is None or group_of[i] is not None):
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
        measurement_draws=jnp.asarray(measurement_draws),
        choice_draws=jnp.asarray(choice_draws),
    )


class DrawFunctions(NamedTuple):
    """One person's pieces of the draw log-likelihood at free internal ``u``, for
    :func:`chunk_hessian` (``person`` one person's :class:`PanelArrays`, ``zeta`` ``(R,
    L)``, ``eta`` the LVs ``(LK, R)``, ``x`` every measurement row's LV ``(Rows, R)``):

    - ``rows(u, person, zeta)``: the measurement rows ``(Rows, R)`` and the choice term
      ``(R,)``;
    - ``linear_derivatives(u, panel, zeta, weights)``: over a chunk, the choice kernel's
      per-draw slopes ``[n, R, E]`` in its linear field entries and their block ``[E, E]``;
    - ``lvs(u, person, zeta)``: ``eta``;
    - ``item_lvs(u, eta)``: ``x``, row ``k``'s LV (linear in ``eta``);
    - ``rows_at(u, person, x)``: the measurement rows given ``x`` (row ``k`` reads
      ``x_k`` alone);
    - ``lv_derivatives(u, person, eta, weights)``: the choice's ``(g, h, q, slopes,
      block)`` in the LVs (:func:`~iclv_jax.drawterms.draw_lv_derivatives`).
    """

    rows: Callable
    linear_derivatives: Callable
    lvs: Callable
    item_lvs: Callable
    rows_at: Callable
    lv_derivatives: Callable


class HessianSums(eqx.Module):
    """What :func:`chunk_hessian` adds up over people: the ``K`` seeds' products of
    ``sum p d^2 a`` ``[K, F]``, the closed-form block in the choice kernel's linear field
    entries ``[E, E]`` and ``sum_n (sum_r p_nr da da' - g_n g_n')`` ``[F, F]``;
    :func:`assemble_hessian` makes the Hessian of them (linear, so once for all
    chunks)."""

    products: Float[Array, "K F"]
    block: Float[Array, "E E"]
    outer: Float[Array, "F F"]


def assemble_hessian(plan: HessianPlan, sums: HessianSums) -> Float[Array, "F F"]:
    """The Hessian from the sums: every entry read from its seed's product (0 where the
    additive structure says so), plus the closed-form block mapped to ``u`` by
    ``closed_gather``, plus the outer products."""
    if plan.seeds.shape[0]:
        second = jnp.where(plan.nonzero, sums.products[plan.source_seed, plan.source_index], 0.0)
    else:  # everything in closed form (an MNL without LVs)
        second = jnp.zeros_like(sums.outer)
    gather = plan.closed_gather.astype(sums.block.dtype)
    second = second.at[plan.closed[:, None], plan.closed[None, :]].add(
        gather.T @ sums.block @ gather
    )
    return second + sums.outer


def chunk_lvs(draws: DrawFunctions, u, panel, zeta):
    """Every person's LVs ``[n, LK, R]``."""
    return jax.vmap(lambda person, z: draws.lvs(u, person, z))(panel, zeta)


def chunk_item_lvs(draws: DrawFunctions, u, eta):
    """Every person's measurement rows' LVs ``[n, Rows, R]`` from their LVs."""
    return jax.vmap(lambda e: draws.item_lvs(u, e))(eta)


def chunk_rows_at(draws: DrawFunctions, u, panel, x):
    """Every person's measurement rows ``[n, Rows, R]`` given the rows' LVs ``x``."""
    return jax.vmap(lambda person, xk: draws.rows_at(u, person, xk))(panel, x)


def through_lvs(plan: HessianPlan, draws: DrawFunctions, u, panel, zeta, wp, x_adjoints, into_free):
    """The products along the structural seeds ``s`` (``plan.lv_seeds``), whose
    parameters reach every term only through the LVs ``eta_nr(u)``, without passing a
    seed through the terms.  With ``J_s = d eta / du_s`` and ``X_s = d x / du_s`` (forward
    tangents of the structural equations; ``x`` the measurement rows' LVs), per draw the
    choice's ``g = dc/d eta``, ``h = d^2 c / d eta d eta'``, ``q = d^2 c / d eta d
    gamma`` (``gamma`` its linear field entries) and every row's ``g_k = dm_k/dx_k``,
    ``h_k = d^2 m_k / dx_k^2`` (tangents of 1 on every draw and row: each reads its own
    LV), and the weights ``wp = w_n p_nr``:

        sum wp d^2 a / du_s du_t = sum wp (J_s' h J_t + sum_k X_sk h_k X_tk)
                                   + d^2 [sum wp (g . eta(u) + sum_k g_k x_k(u))] / du_s du_t,
        sum wp d^2 a / du_s d gamma = sum wp J_s' q,
        sum wp d^2 a / du_s du_f = sum X_sk d(wp dm_k/dx_k)/du_f   (f in the rows),

    the second line's last term a forward-over-reverse product of the structural
    equations alone (slopes held fixed), the last line from ``x_adjoints`` ``[Km, n,
    Rows, R]``, the measurement seeds' tangents of ``wp dm_k / dx_k``, mapped to the
    parameters by ``plan.measurement_draws``.  Per draw, ``da/du_s = g . J_s + sum_k g_k
    X_sk``.  Returns the choice kernel's slopes ``[n, R, E]`` and block ``[E, E]`` (as
    ``linear_derivatives``), the products ``[S, F]`` and the per-draw gradients ``[n, R,
    F]`` in the structural parameters (``into_free``: the closed block's field entries
    to the free parameters, ``closed_gather`` placed)."""
    seeds = plan.seeds[plan.lv_seeds].astype(u.dtype)

    def lvs_at(v):
        return chunk_lvs(draws, v, panel, zeta)

    def item_lvs_at(eta):
        return chunk_item_lvs(draws, u, eta)

    def rows_of(x):
        return chunk_rows_at(draws, u, panel, x)

    def rows_slope(x):  # every row's dm_k/dx_k
        return jax.jvp(rows_of, (x,), (jnp.ones_like(x),))[1]

    eta = lvs_at(u)
    eta_dots = jax.vmap(lambda seed: jax.jvp(lvs_at, (u,), (seed,))[1])(seeds)  # [S,n,LK,R]
    x = item_lvs_at(eta)
    x_dots = jax.vmap(item_lvs_at)(eta_dots)  # [S, n, Rows, R]
    g_rows, h_rows = jax.jvp(rows_slope, (x,), (jnp.ones_like(x),))
    g, h, q, slopes, block = jax.vmap(lambda p, e, w: draws.lv_derivatives(u, p, e, w))(
        panel, eta, wp
    )

    def slopes_times_lvs(v):  # sum wp (g . eta(v) + g_rows . x(v)), slopes held fixed
        e = lvs_at(v)
        return jnp.sum(wp[:, None, :] * (g * e)) + jnp.sum(wp[:, None, :] * g_rows * item_lvs_at(e))

    curvature = jax.vmap(lambda seed: jax.jvp(jax.grad(slopes_times_lvs), (u,), (seed,))[1])(seeds)
    second = jnp.einsum("snlr,nlmr,tnmr,nr->st", eta_dots, h, eta_dots, wp) + jnp.einsum(
        "snkr,nkr,tnkr,nr->st", x_dots, h_rows, x_dots, wp
    )
    choice_cross = jnp.einsum("snlr,nlre,nr->se", eta_dots, q, wp) @ into_free
    row_cross = jnp.einsum(
        "snkr,jnkr,fjk->sf", x_dots, x_adjoints, plan.measurement_draws.astype(u.dtype)
    )
    products = second @ seeds + curvature + choice_cross + row_cross
    draw_grads = jnp.einsum("nlr,snlr,sf->nrf", g, eta_dots, seeds) + jnp.einsum(
        "nkr,snkr,sf->nrf", g_rows, x_dots, seeds
    )
    return slopes, block.sum(axis=0), products, draw_grads


def chunk_hessian(
    plan: HessianPlan, draws: DrawFunctions, free_internal, panel: PanelArrays, zeta, log_weights
) -> HessianSums:
    """The sums over a chunk of people (see :class:`HessianSums`) of
    ``d^2 log L_n / du du'``, from ``log L_n = logsumexp_r(a_nr + log w_nr)`` with
    softmax weights ``p_nr`` and ``g_n = sum_r p_nr da_nr/du``:

        H_n = sum_r p_nr (d^2 a_nr + da_nr da_nr') - g_n g_n'.

    A forward pass gives ``a`` and ``p``; ``sum p d^2 a`` (``p`` held fixed) comes from
    forward-over-reverse products with the plan's ``K`` seeds, the measurement and
    choice parts each with only the seeds that involve it, whose forward tangents also
    give the per-draw gradients (the measurement's also the tangents of ``wp dm_k /
    dx_k``, its rows' slopes in their LVs); the closed-form parts come from the choice
    kernel (per-draw slopes ``[n, R, E]`` and the block ``[E, E]`` in its linear field
    entries), and the structural seeds' products through the LVs (:func:`through_lvs`)
    where ``plan.lv_seeds`` has them.  ``draws``: the person-level pieces
    (:class:`DrawFunctions`)."""
    dtype = free_internal.dtype

    def terms_at(u):  # measurement rows [n, Rows, R], the choice [n, 1, R]
        measurement, choices = jax.vmap(lambda p, z: draws.rows(u, p, z))(panel, zeta)
        return measurement, choices[:, None, :]

    measurement, choices = terms_at(free_internal)
    if plan.measurement_draws.shape[2] != measurement.shape[1]:
        raise ValueError(
            f"the plan has {plan.measurement_draws.shape[2]} measurement rows, "
            f"the likelihood {measurement.shape[1]}"
        )
    p = jax.nn.softmax(measurement.sum(axis=1) + choices[:, 0] + log_weights, axis=1)
    weighted_p = p * panel.weight[:, None]

    def measurement_products(seed_rows):
        """For the seeds ``seed_rows``: ``d^2 (sum wp m) / du du' . seed`` ``[k, F]``, the
        tangents of ``wp dm_k / dx_k`` ``[k, n, Rows, R]`` and of the rows themselves."""

        def weighted(u, dx):  # the rows at their LVs x(u) + dx
            x = chunk_item_lvs(draws, u, chunk_lvs(draws, u, panel, zeta)) + dx
            rows = chunk_rows_at(draws, u, panel, x)
            return jnp.sum(weighted_p[:, None, :] * rows), rows

        grad = jax.grad(weighted, argnums=(0, 1), has_aux=True)
        dx = jnp.zeros_like(measurement)

        def along(seed):
            (grad_u, grad_x), rows = jax.jvp(grad, (free_internal, dx), (seed, jnp.zeros_like(dx)))[
                1
            ]
            return grad_u, grad_x, rows

        return jax.vmap(along)(plan.seeds[seed_rows].astype(dtype))

    def choice_products(seed_rows):
        """For the seeds ``seed_rows``: ``d^2 (sum wp c) / du du' . seed`` ``[k, F]`` and
        the choice's per-draw derivatives along the seed ``[k, n, R]``."""

        def weighted(u):
            choice = terms_at(u)[1][:, 0]
            return jnp.sum(weighted_p * choice), choice

        grad = jax.grad(weighted, has_aux=True)
        return jax.vmap(lambda seed: jax.jvp(grad, (free_internal,), (seed.astype(dtype),))[1])(
            plan.seeds[seed_rows]
        )

    n_seeds = plan.seeds.shape[0]  # one-hot matmuls rather than scatters (slow on CPU)
    row_products, x_adjoints, row_tangents = measurement_products(plan.measurement_seeds)
    products = jax.nn.one_hot(plan.measurement_seeds, n_seeds, dtype=dtype).T @ row_products
    draw_grads = jnp.einsum("fkt,kntr->nrf", plan.measurement_draws.astype(dtype), row_tangents)
    if plan.choice_seeds.shape[0]:
        choice_part, choice_tangents = choice_products(plan.choice_seeds)
        products = (
            products + jax.nn.one_hot(plan.choice_seeds, n_seeds, dtype=dtype).T @ choice_part
        )
        draw_grads = draw_grads + jnp.einsum(
            "fk,knr->nrf", plan.choice_draws.astype(dtype), choice_tangents
        )
    gather = plan.closed_gather.astype(dtype)
    into_free = gather @ jax.nn.one_hot(plan.closed, draw_grads.shape[-1], dtype=dtype)
    if plan.lv_seeds.shape[0]:
        slopes, block, lv_products, lv_draw_grads = through_lvs(
            plan, draws, free_internal, panel, zeta, weighted_p, x_adjoints, into_free
        )
        products = products + jax.nn.one_hot(plan.lv_seeds, n_seeds, dtype=dtype).T @ lv_products
        draw_grads = draw_grads + slopes @ into_free + lv_draw_grads
    elif plan.closed.shape[0]:
        slopes, block = draws.linear_derivatives(free_internal, panel, zeta, weighted_p)
        draw_grads = draw_grads + slopes @ into_free
    else:
        block = jnp.zeros((gather.shape[0],) * 2, dtype)
    person_grads = jnp.einsum("nr,nrf->nf", p, draw_grads)
    outer = jnp.einsum("nr,nri,nrj->ij", weighted_p, draw_grads, draw_grads) - jnp.einsum(
        "n,ni,nj->ij", panel.weight, person_grads, person_grads
    )
    return HessianSums(products, block, outer)
