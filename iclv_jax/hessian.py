"""The exact Hessian of the simulated log-likelihood, one chunk of people at a time.

For person ``n`` with draw log-likelihoods ``a_nr`` and log-weights ``log w_nr``,
``log L_n = logsumexp_r(a_nr + log w_nr)``.  With softmax weights
``p_nr = softmax_r(a_nr + log w_nr)`` and ``g_n = sum_r p_nr da_nr/du``:

    H_n = sum_r p_nr (d^2 a_nr + da_nr da_nr') - g_n g_n'.

``a = sum_k m_k + c`` is a sum of additive terms (one per measurement row ``m_k``, the
choice model ``c``) that share only the LVs;
:func:`~iclv_jax.hessianplan.hessian_plan` compresses
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
utilities (:func:`through_lvs`).  The items' parameters then need no seed either: each
row's derivatives in its few locals (the numbers it reads given its answer) and its LV,
mapped to ``u`` once per chunk, give their block, their per-draw gradients and their
crossed products with the structural parameters (:func:`rows_closed_form`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .hessianplan import HessianPlan
from .placement import PanelArrays


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
      block)`` in the LVs (:func:`~iclv_jax.drawterms.draw_lv_derivatives`);
    - ``row_locals(u, person)``: every row's locals ``theta_k`` ``(Rows, P)``
      (:func:`~iclv_jax.drawterms.measurement_locals`);
    - ``local_derivatives(u, person, theta, x, weights)``: the rows' per-draw gradient
      and Hessian column in ``x`` ``(P + 1, Rows, R)`` in ``(theta_k, x_k)``, and their
      Hessian block in ``theta`` summed over the draws with ``weights`` ``(P, P, Rows)``
      (:func:`~iclv_jax.drawterms.measurement_local_derivatives`).
    """

    rows: Callable
    linear_derivatives: Callable
    lvs: Callable
    item_lvs: Callable
    rows_at: Callable
    lv_derivatives: Callable
    row_locals: Callable
    local_derivatives: Callable


class HessianSums(eqx.Module):
    """What :func:`chunk_hessian` adds up over people: the ``K`` seeds' products of
    ``sum p d^2 a`` ``[K, F]``, the closed-form block in the choice kernel's linear field
    entries ``[E, E]``, the rows' closed block ``[F, F]`` (:func:`rows_closed_form`;
    0 without) and ``sum_n (sum_r p_nr da da' - g_n g_n')`` ``[F, F]``;
    :func:`assemble_hessian` makes the Hessian of them (linear, so once for all
    chunks)."""

    products: Float[Array, "K F"]
    block: Float[Array, "E E"]
    rows_block: Float[Array, "F F"]
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
    return second + sums.rows_block + sums.outer


def chunk_lvs(draws: DrawFunctions, u, panel, zeta):
    """Every person's LVs ``[n, LK, R]``."""
    return jax.vmap(lambda person, z: draws.lvs(u, person, z))(panel, zeta)


def chunk_item_lvs(draws: DrawFunctions, u, eta):
    """Every person's measurement rows' LVs ``[n, Rows, R]`` from their LVs."""
    return jax.vmap(lambda e: draws.item_lvs(u, e))(eta)


def chunk_rows_at(draws: DrawFunctions, u, panel, x):
    """Every person's measurement rows ``[n, Rows, R]`` given the rows' LVs ``x``."""
    return jax.vmap(lambda person, xk: draws.rows_at(u, person, xk))(panel, x)


class RowsInLVs(NamedTuple):
    """The measurement rows' derivatives that :func:`through_lvs` needs: every row's
    ``g_k = dm_k/dx_k`` and ``h_k = d^2 m_k/dx_k^2`` per draw ``[n, Rows, R]``, and
    ``crossed(X)``: ``sum X_sk d(wp dm_k/dx_k)/du_f`` ``[S, F]`` for the tangents ``X``
    ``[S, n, Rows, R]`` of the rows' LVs."""

    slope: Array
    curvature: Array
    crossed: Callable


def rows_in_lvs_by_seeds(plan: HessianPlan, draws: DrawFunctions, u, panel, x, x_adjoints):
    """:class:`RowsInLVs` from tangents of 1 on every draw and row (each reads its own
    LV) and the measurement seeds' tangents of ``wp dm_k/dx_k`` (``x_adjoints`` ``[Km, n,
    Rows, R]``), mapped to the parameters by ``plan.measurement_draws``."""

    def rows_slope(xk):  # every row's dm_k/dx_k
        return jax.jvp(lambda v: chunk_rows_at(draws, u, panel, v), (xk,), (jnp.ones_like(xk),))[1]

    slope, curvature = jax.jvp(rows_slope, (x,), (jnp.ones_like(x),))

    def crossed(x_dots):
        return jnp.einsum(
            "snkr,jnkr,fjk->sf", x_dots, x_adjoints, plan.measurement_draws.astype(u.dtype)
        )

    return RowsInLVs(slope, curvature, crossed)


def rows_closed_form(draws: DrawFunctions, u, panel, x, wp):
    """The rows' part of the Hessian in the parameters used only by measurement rows,
    without seeds, from every row's per-draw gradient ``G`` and Hessian ``H`` in its
    locals and LV, ``v = (theta_k, x_k)`` (``draws.local_derivatives``: ``H`` in the
    locals only summed over the draws), with ``T =
    d theta / du`` (``[n, Rows, P, F]``, forward mode over the locals' map alone):

        sum wp d^2 m / du du' = sum_nk T' (sum_r wp H_theta theta) T
                                + d^2 [sum_nk (sum_r wp G_theta) . theta(u)] / du du',
        dm_r / du = sum_k G_theta,r T,    d(wp dm_k/dx_k)/du = wp H_x theta T.

    Returns the block ``[F, F]`` (every entry between two such parameters), the rows'
    per-draw gradients ``[n, R, F]`` and :class:`RowsInLVs`."""

    def locals_at(v):
        return jax.vmap(lambda person: draws.row_locals(v, person))(panel)

    theta = locals_at(u)
    n_local = theta.shape[-1]
    gradient, in_x, local_block = jax.vmap(
        lambda person, t, xk, w: draws.local_derivatives(u, person, t, xk, w)
    )(panel, theta, x, wp)
    jacobian = jax.jacfwd(locals_at)(u)
    local_gradient = gradient[:, :n_local]
    held_slopes = jnp.einsum("nr,npkr->nkp", wp, local_gradient)
    block = jnp.einsum("nkpf,npqk,nkqg->fg", jacobian, local_block, jacobian) + jax.hessian(
        lambda v: jnp.sum(held_slopes * locals_at(v))
    )(u)
    draw_grads = jnp.einsum("npkr,nkpf->nrf", local_gradient, jacobian)
    crossed_in_x = wp[:, None, None, :] * in_x[:, :n_local]

    def crossed(x_dots):
        return jnp.einsum("snkr,npkr,nkpf->sf", x_dots, crossed_in_x, jacobian)

    return block, draw_grads, RowsInLVs(gradient[:, n_local], in_x[:, n_local], crossed)


def through_lvs(
    plan: HessianPlan, draws: DrawFunctions, u, panel, zeta, wp, rows: RowsInLVs, into_free
):
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
    equations alone (slopes held fixed), the rows' ``g_k``, ``h_k`` and last line from
    ``rows`` (:class:`RowsInLVs`: from the measurement seeds or the rows' closed form).
    Per draw, ``da/du_s = g . J_s + sum_k g_k
    X_sk``.  Returns the choice kernel's slopes ``[n, R, E]`` and block ``[E, E]`` (as
    ``linear_derivatives``), the products ``[S, F]`` and the per-draw gradients ``[n, R,
    F]`` in the structural parameters (``into_free``: the closed block's field entries
    to the free parameters, ``closed_gather`` placed)."""
    seeds = plan.seeds[plan.lv_seeds].astype(u.dtype)

    def lvs_at(v):
        return chunk_lvs(draws, v, panel, zeta)

    def item_lvs_at(eta):
        return chunk_item_lvs(draws, u, eta)

    eta = lvs_at(u)
    eta_dots = jax.vmap(lambda seed: jax.jvp(lvs_at, (u,), (seed,))[1])(seeds)  # [S,n,LK,R]
    x_dots = jax.vmap(item_lvs_at)(eta_dots)  # [S, n, Rows, R]
    g_rows, h_rows = rows.slope, rows.curvature
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
    products = second @ seeds + curvature + choice_cross + rows.crossed(x_dots)
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
    entries), the structural seeds' products through the LVs (:func:`through_lvs`)
    where ``plan.lv_seeds`` has them, and the items' parameters' block and per-draw
    gradients from the rows' derivatives in their locals (:func:`rows_closed_form`)
    where ``plan.rows_closed`` has them (then no seed passes through a row).  ``draws``:
    the person-level pieces (:class:`DrawFunctions`)."""
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
            x = chunk_item_lvs(draws, u, lvs_of(u)) + dx
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

    # with the structural seeds routed through the LVs, no measurement seed moves the
    # LVs (and their products' structural columns are read from the LV route): the
    # measurement pass holds them at their value instead of differentiating the
    # structural equations along every seed
    held = chunk_lvs(draws, free_internal, panel, zeta)

    def lvs_of(u):
        return held if plan.lv_seeds.shape[0] else chunk_lvs(draws, u, panel, zeta)

    n_free, n_seeds = free_internal.shape[0], plan.seeds.shape[0]
    products = jnp.zeros((n_seeds, n_free), dtype)
    draw_grads = jnp.zeros((*weighted_p.shape, n_free), dtype)
    rows_block = jnp.zeros((n_free, n_free), dtype)
    x_adjoints = jnp.zeros((0, *measurement.shape), dtype)
    item_lvs = chunk_item_lvs(draws, free_internal, held)
    if plan.measurement_seeds.shape[0]:  # one-hot matmuls rather than scatters (slow on CPU)
        row_products, x_adjoints, row_tangents = measurement_products(plan.measurement_seeds)
        products = jax.nn.one_hot(plan.measurement_seeds, n_seeds, dtype=dtype).T @ row_products
        draw_grads = jnp.einsum("fkt,kntr->nrf", plan.measurement_draws.astype(dtype), row_tangents)
    if plan.rows_closed.shape[0]:
        rows_block, rows_grads, rows = rows_closed_form(
            draws, free_internal, panel, item_lvs, weighted_p
        )
        draw_grads = draw_grads + rows_grads
    elif plan.lv_seeds.shape[0]:  # the rows' slopes in their LVs, crossed through the seeds
        rows = rows_in_lvs_by_seeds(plan, draws, free_internal, panel, item_lvs, x_adjoints)
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
            plan, draws, free_internal, panel, zeta, weighted_p, rows, into_free
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
    return HessianSums(products, block, rows_block, outer)
