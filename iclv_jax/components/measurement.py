"""Measurement equations: ordered probit/logit and continuous indicators, each
declaring its own parameters (:meth:`OrderedIndicators.declare`,
:meth:`ContinuousIndicators.declare`)."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from jaxtyping import Array, Float, Int

from .declarations import AbstractComponent, ComponentPlan, Declarations
from .links import along_draws, log_interval_probability, per_link
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
    def log_prob_at(self, item_eta: Float[Array, " K *R"], answers):
        """``log P(I_k | x_k)`` of every item ``k`` given the value ``x_k`` of its LV
        (:meth:`item_lvs`; ``0`` for a missing answer): item ``k`` reads ``x_k`` alone."""

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

    def log_prob_at(self, item_eta: Float[Array, " K *R"], levels: Int[Array, " K"]):
        """``z = (c - alpha) / s - (lambda / s) x``: the per-item constants (the answer's
        two cut-points, picked once per person) are formed before the draws, so every
        item-draw costs one multiply-add per end before the interval probability."""
        answered = jnp.maximum(levels, 0)  # a missing answer reads level 0, then masked
        inverse = 1.0 / self.scales
        lower = (_pick(self.cuts, answered) - self.intercepts) * inverse
        upper = (_pick(self.cuts, answered + 1) - self.intercepts) * inverse
        slope = along_draws(self.loadings * inverse, item_eta) * item_eta
        log_p = per_link(
            log_interval_probability,
            self.links,
            along_draws(lower, item_eta) - slope,
            along_draws(upper, item_eta) - slope,
        )
        return jnp.where(along_draws(levels >= 0, item_eta), log_p, 0.0)

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
            static=(("links", links),),
        )


class ContinuousIndicators(AbstractMeasurement):
    """``I_k = alpha_k + lambda_k eta + sigma_k eps``, ``eps ~ N(0, 1)``; a NaN value is a
    missing answer contributing ``log 1 = 0``.  Shapes as :class:`OrderedIndicators`."""

    intercepts: Float[Array, " K"]
    loadings: Float[Array, " K"]
    sigmas: Float[Array, " K"]
    lv_index: Int[Array, " K"]

    def log_prob_at(self, item_eta: Float[Array, " K *R"], values: Float[Array, " K"]):
        x = item_eta
        mean = along_draws(self.intercepts, x) + along_draws(self.loadings, x) * x
        observed = along_draws(~jnp.isnan(values), x)
        log_p = norm.logpdf(
            jnp.where(observed, along_draws(values, x), mean), mean, along_draws(self.sigmas, x)
        )
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
