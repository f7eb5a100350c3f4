"""Measurement equations: ordered probit/logit and continuous indicators, each
declaring its own parameters (:meth:`OrderedIndicators.declare`,
:meth:`ContinuousIndicators.declare`)."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from jaxtyping import Array, Float, Int

from .declarations import AbstractComponent, ComponentPlan, Declarations
from .links import along_draws, interval_derivatives, log_interval_probability, per_link
from .thresholds import declare_thresholds

__all__ = [
    "AbstractMeasurement",
    "ContinuousIndicators",
    "OrderedIndicators",
    "intercept_name",
    "loading_name",
    "scale_name",
]


def loading_name(item: str) -> str:
    """``lambda_<item>``: an item's loading on its LV."""
    return f"lambda_{item}"


def intercept_name(item: str) -> str:
    """``alpha_<item>``: an item's intercept."""
    return f"alpha_{item}"


def scale_name(item: str) -> str:
    """``sigma_<item>``: an item's scale (a continuous item's error standard deviation)."""
    return f"sigma_{item}"


def _lv_index(model, items) -> Array:
    """The position (topological order) of the LV each item measures."""
    position = {name: i for i, name in enumerate(model.lv_names)}
    return jnp.asarray([position[item.lv] for item in items], dtype=jnp.int64)


def ordered_links(items) -> tuple[str, ...]:
    """``"probit"`` or ``"logit"`` for each ordered item, in order."""
    return tuple("logit" if ind.kind == "ordered_logit" else "probit" for ind in items)


def _loading_direction(model, item) -> float:
    """The sign of the reference loading of ``item``'s LV (1 without one): free loadings
    start in the reference item's direction, so the default starts of a model with
    ``reference_loading=-r`` are the mirror image of those with ``r``."""
    return float(np.sign(model.lv(item.lv).reference_loading))


def item_lvs(eta: Float[Array, " L *R"], lv_index: Int[Array, " K"]):
    """``eta[lv_index]`` ``(K, *R)``, as ``sum_l 1[lv_k = l] eta_l``: a sum of products with
    a one-hot matrix rather than a gather, so that the reverse pass adds over items
    instead of scattering every item-draw (a serial loop on CPU)."""
    hot = (lv_index[:, None] == jnp.arange(eta.shape[0])).astype(eta.dtype)
    return (along_draws(hot, eta) * eta[None]).sum(axis=1)


def _pick(cuts: Float[Array, "K Jp1"], levels: Int[Array, " K"]) -> Float[Array, " K"]:
    """``cuts[k, levels[k]]`` for every item, as ``sum_j cuts[k, j] 1[j = levels[k]]``
    (the reverse pass multiplies instead of scattering)."""
    return (cuts * (levels[:, None] == jnp.arange(cuts.shape[1]))).sum(axis=1)


class AbstractMeasurement(AbstractComponent):
    """Indicators of the LVs, one row per item; each item is one additive term of the
    draw log-likelihood.  A final kind defines :meth:`log_prob` and declares its
    parameters (``declare``)."""

    additive: ClassVar = "rows"
    lv_index: eqx.AbstractVar[Int[Array, " K"]]

    def item_lvs(self, eta: Float[Array, " L *R"]) -> Float[Array, " K *R"]:
        """``x_k = eta[lv_k]``: the value of the LV each item measures."""
        return item_lvs(eta, self.lv_index)

    @abc.abstractmethod
    def row_locals(self, answers) -> Float[Array, "K P"]:
        """``theta_k``: the few numbers row ``k``'s probability reads from the parameters,
        given its answer (:meth:`log_prob_local`)."""

    @abc.abstractmethod
    def log_prob_local(
        self, locals_: Float[Array, "K P"], item_eta: Float[Array, " K *R"], answers
    ):
        """``log P(I_k | theta_k, x_k)`` of every row ``k`` from its locals ``theta_k``
        (:meth:`row_locals`) and the value ``x_k`` of its LV (``0`` for a missing
        answer): row ``k`` reads ``theta_k`` and ``x_k`` alone."""

    def log_prob_at(self, item_eta: Float[Array, " K *R"], answers):
        """``log P(I_k | x_k)`` of every item ``k`` given the value ``x_k`` of its LV
        (:meth:`item_lvs`; ``0`` for a missing answer): item ``k`` reads ``x_k`` alone."""
        return self.log_prob_local(self.row_locals(answers), item_eta, answers)

    def local_derivatives(
        self, locals_: Float[Array, "K P"], item_eta: Float[Array, "K R"], answers, weights
    ):
        """Per row, the derivatives of :meth:`log_prob_local` in ``v = (theta_k, x_k)``
        (``x_k`` last) that the exact Hessian needs: per draw the gradient ``G`` ``(P + 1,
        K, R)`` and the Hessian's column in ``x``, ``H[:, x]`` ``(P + 1, K, R)``, and the
        Hessian's block in the locals summed over the draws with ``weights`` ``(R,)``,
        ``sum_r w_r H[:P, :P]`` ``(P, P, K)``.  Each row reads its own ``v`` alone, so a
        tangent of 1 on entry ``a`` of every row's ``v`` gives every row's derivative in
        its own entry ``a`` (forward over forward, ``P + 1`` directions); a kind may
        write them out instead."""
        n_local = locals_.shape[1]
        unit = jnp.eye(n_local + 1, dtype=locals_.dtype)
        # built from the point itself, so that they vary over devices as it does
        directions = (
            0.0 * locals_[None] + unit[:, None, :n_local],
            0.0 * item_eta[None] + unit[:, n_local, None, None],
        )

        def gradient(point):
            return jax.vmap(
                lambda direction: jax.jvp(
                    lambda v: self.log_prob_local(v[0], v[1], answers), (point,), (direction,)
                )[1]
            )(directions)

        point = (locals_, item_eta)
        hessian = jax.vmap(lambda direction: jax.jvp(gradient, (point,), (direction,))[1])(
            directions
        )
        block = jnp.einsum("pqkr,r->pqk", hessian[:n_local, :n_local], weights)
        return gradient(point), hessian[:, n_local], block

    def log_prob(self, eta, answers):
        """``log P(I_k | eta)`` of every item ``k`` (``0`` for a missing answer):
        ``(K,)`` for ``eta`` ``(L,)``, ``(K, R)`` for ``eta`` ``(L, R)``."""
        return self.log_prob_at(self.item_lvs(eta), answers)


class OrderedIndicators(AbstractMeasurement):
    """``P(I_k = j) = F((c_k[j+1] - m_k) / s_k) - F((c_k[j] - m_k) / s_k)`` (0-based j),
    ``m_k = alpha_k + lambda_k eta`` (``alpha_k = 0``, ``s_k = 1`` unless the item has
    ``location_scale``); ``F`` the normal (probit) or logistic (logit) CDF, per item
    (``links``).

    ``cuts[k] = (-OUTER_CUT, tau_k1, ..., tau_k,J-1, OUTER_CUT, ...)`` padded with
    ``OUTER_CUT`` for items with fewer levels than the longest.  A level ``-1`` marks a
    missing answer: that item contributes ``log 1 = 0``.  ``log_prob`` returns ``(K,)``
    for ``eta`` ``(L,)``, ``(K, R)`` for ``eta`` ``(L, R)``.
    """

    loadings: Float[Array, " K"]
    cuts: Float[Array, "K Jp1"]
    intercepts: Float[Array, " K"]
    scales: Float[Array, " K"]
    lv_index: Int[Array, " K"]
    links: tuple[str, ...] = eqx.field(static=True)

    location_scale: bool = eqx.field(static=True, default=True)

    def row_locals(self, levels: Int[Array, " K"]) -> Float[Array, "K P"]:
        """``theta_k = (c_lo, c_hi, lambda_k)``: the answer's two cut-points (a missing
        answer reads level 0, then is masked) and the loading; with ``location_scale``
        ``(c_lo, c_hi, alpha_k, s_k, lambda_k)`` (else ``alpha = 0``, ``s = 1``)."""
        answered = jnp.maximum(levels, 0)
        ends = [_pick(self.cuts, answered), _pick(self.cuts, answered + 1)]
        middle = [self.intercepts, self.scales] if self.location_scale else []
        return jnp.stack([*ends, *middle, self.loadings], axis=1)

    def _index(self, locals_, x):
        """``(z_lower, z_upper)`` per row and draw, ``z_e = (c_e - alpha - lambda x) / s``."""
        columns = [along_draws(column, x) for column in locals_.T]
        if not self.location_scale:
            lower_cut, upper_cut, loadings = columns
            return lower_cut - loadings * x, upper_cut - loadings * x
        lower_cut, upper_cut, intercepts, scales, loadings = columns
        inverse = 1.0 / scales
        slope = loadings * inverse * x
        return (lower_cut - intercepts) * inverse - slope, (
            upper_cut - intercepts
        ) * inverse - slope

    def log_prob_local(self, locals_, item_eta: Float[Array, " K *R"], levels: Int[Array, " K"]):
        """``log(F(z_upper) - F(z_lower))`` (:meth:`_index`): the per-item constants are
        formed before the draws, so every item-draw costs one multiply-add per end
        before the interval probability."""
        lower, upper = self._index(locals_, item_eta)
        log_p = per_link(log_interval_probability, self.links, lower, upper)
        return jnp.where(along_draws(levels >= 0, item_eta), log_p, 0.0)

    def local_derivatives(self, locals_, item_eta: Float[Array, "K R"], levels, weights):
        """Without ``location_scale`` written out, from the interval's slopes ``s_e`` and
        curvatures ``h_ee'`` in its ends (:func:`interval_derivatives`): in
        ``v = (c_lo, c_hi, lambda, x)``, ``dz_e/dv = (1_lo, 1_hi, -x, -lambda)``, so

            d log P / dv = sum_e s_e dz_e/dv,
            d^2 log P / dv dv' = sum_ee' h_ee' dz_e/dv dz_e'/dv' - (s_l + s_u) [lambda, x],

        the last term at the entry ``(lambda, x)`` alone.  With ``location_scale`` forward
        mode (:meth:`AbstractMeasurement.local_derivatives`): a written-out form in
        ``(c_lo, c_hi, alpha, s, lambda, x)`` was no faster (measured: 11.5 against 10.3
        LL+gradients for the Hessian of a model with three location-scale items)."""
        if self.location_scale:
            return super().local_derivatives(locals_, item_eta, levels, weights)
        x = item_eta
        lower, upper = self._index(locals_, x)
        _, s_lower, s_upper, h_ll, h_lu, h_uu = per_link(
            interval_derivatives, self.links, lower, upper
        )
        loadings = along_draws(locals_[:, 2], x)
        slope, lower_total, upper_total = s_lower + s_upper, h_ll + h_lu, h_lu + h_uu
        total = lower_total + upper_total
        gradient = [s_lower, s_upper, -x * slope, -loadings * slope]
        in_x = [
            -loadings * lower_total,
            -loadings * upper_total,
            x * loadings * total - slope,
            loadings * loadings * total,
        ]
        entries = {
            (0, 0): h_ll, (0, 1): h_lu, (1, 1): h_uu,
            (0, 2): -x * lower_total, (1, 2): -x * upper_total, (2, 2): x * x * total,
        }  # fmt: skip
        answered = along_draws(levels >= 0, x)

        def masked(values):
            return jnp.where(answered, jnp.stack(values), 0.0)

        sums = {key: jnp.sum(value * weights, axis=-1) for key, value in entries.items()}
        block = jnp.stack(
            [jnp.stack([sums[min(a, b), max(a, b)] for b in range(3)]) for a in range(3)]
        )
        return masked(gradient), masked(in_x), jnp.where(levels >= 0, block, 0.0)

    @classmethod
    def declare(cls, model, panel, declarations: Declarations) -> ComponentPlan:
        """Per ordered item ``k``: ``lambda_<k>`` starting at the sign of its LV's
        reference loading (a reference indicator has none: the constant slot ``1`` times
        its ``reference_loading``, a factor in ``signs``),
        ``alpha_<k>`` and ``sigma_<k>`` (log) with ``location_scale``, and its threshold
        set (see :func:`~iclv_jax.components.thresholds.declare_thresholds`), starting
        at the observed shares."""
        items = [ind for ind in model.indicators if ind.ordered]
        references = {
            lv.reference: lv.reference_loading
            for lv in model.latent_variables
            if lv.reference is not None
        }
        links = ordered_links(items)
        width = max((ind.levels for ind in items), default=2) + 1
        loadings, cuts, signs, intercepts, scales = [], [], [], [], []
        for k, ind in enumerate(items):
            loadings.append(
                "1"
                if ind.name in references
                else declarations.add(
                    loading_name(ind.name), "measurement", _loading_direction(model, ind)
                )
            )
            intercepts.append(
                declarations.add(intercept_name(ind.name), "measurement", 0.0)
                if ind.location_scale
                else None
            )
            scales.append(
                declarations.add(scale_name(ind.name), "measurement", 1.0, "log")
                if ind.location_scale
                else "1"
            )
            answered = panel.ordered_levels[:, k]
            names, item_signs = declare_thresholds(
                declarations,
                ind.threshold_group,
                "measurement",
                answered[answered >= 0],
                ind.levels,
                links[k],
                ind.thresholds,
                width,
            )
            cuts.append(names)
            signs.append(item_signs)
        n = len(items)
        return ComponentPlan(
            component=cls,
            names={
                "loadings": (loadings, (n,)),
                "cuts": (cuts, (n, width)),
                "intercepts": (intercepts, (n,)),
                "scales": (scales, (n,)),
            },
            signs={
                "cuts": np.asarray(signs, dtype=float).reshape(n, width),
                "loadings": np.asarray([references.get(ind.name, 1.0) for ind in items]),
            },
            data={"lv_index": _lv_index(model, items)},
            static=(
                ("links", links),
                ("location_scale", any(ind.location_scale for ind in items)),
            ),
        )


class ContinuousIndicators(AbstractMeasurement):
    """``I_k = alpha_k + lambda_k eta + sigma_k eps``, ``eps ~ N(0, 1)``; a NaN value is a
    missing answer contributing ``log 1 = 0``.  Shapes as :class:`OrderedIndicators`."""

    intercepts: Float[Array, " K"]
    loadings: Float[Array, " K"]
    sigmas: Float[Array, " K"]
    lv_index: Int[Array, " K"]

    def row_locals(self, values: Float[Array, " K"]) -> Float[Array, "K 3"]:
        """``theta_k = (alpha_k, lambda_k, sigma_k)``."""
        return jnp.stack([self.intercepts, self.loadings, self.sigmas], axis=1)

    def log_prob_local(self, locals_, item_eta: Float[Array, " K *R"], values: Float[Array, " K"]):
        x = item_eta
        intercepts, loadings, sigmas = (along_draws(column, x) for column in locals_.T)
        mean = intercepts + loadings * x
        observed = along_draws(~jnp.isnan(values), x)
        log_p = norm.logpdf(jnp.where(observed, along_draws(values, x), mean), mean, sigmas)
        return jnp.where(observed, log_p, 0.0)

    @classmethod
    def declare(cls, model, panel, declarations: Declarations) -> ComponentPlan:
        """Per continuous item ``k``: ``alpha_<k>``, ``lambda_<k>`` and ``sigma_<k>``
        (log), starting at the mean, half (times the sign of the LV's reference loading)
        and 0.8 of the standard deviation of the observed answers."""
        items = [ind for ind in model.indicators if not ind.ordered]
        intercepts, loadings, sigmas = [], [], []
        for k, ind in enumerate(items):
            values = panel.continuous_values[:, k]
            values = values[~np.isnan(values)]  # missing answers
            spread = float(np.std(values)) or 1.0
            intercepts.append(
                declarations.add(intercept_name(ind.name), "measurement", float(np.mean(values)))
            )
            loadings.append(
                declarations.add(
                    loading_name(ind.name),
                    "measurement",
                    0.5 * spread * _loading_direction(model, ind),
                )
            )
            sigmas.append(
                declarations.add(scale_name(ind.name), "measurement", 0.8 * spread, "log")
            )
        n = len(items)
        return ComponentPlan(
            component=cls,
            names={
                "intercepts": (intercepts, (n,)),
                "loadings": (loadings, (n,)),
                "sigmas": (sigmas, (n,)),
            },
            signs={},
            data={"lv_index": _lv_index(model, items)},
            static=(),
        )
