"""Choice models on utilities ``V_tj = mu (x_tj . beta + theta_j . eta + custom terms)``.

``log_prob`` returns ``(T,)`` for ``eta`` ``(LK,)`` (one draw) and ``(T, R)`` for
``eta`` ``(LK, R)`` (all draws, draws last; see
:func:`~iclv_jax.components.measurement.along_draws`)."""

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.nn import logsumexp
from jaxtyping import Array, Bool, Float, Int

from .measurement import along_draws, log_interval_probability, log_normal_cdf


class CustomTerm(NamedTuple):
    """A custom utility term placed in the model: ``fn(p, x, lv)`` added to utility
    ``utility``; ``parameters`` pairs names with positions in ``custom_params``,
    ``attributes`` names with design columns, ``lvs`` names with LV positions."""

    fn: Callable
    utility: int
    parameters: tuple[tuple[str, int], ...]
    attributes: tuple[tuple[str, int], ...]
    lvs: tuple[tuple[str, int], ...]


class _LinearUtility(eqx.Module):
    """``V_tj = mu (x_tj . beta + theta_j . eta + custom_j(x_t, eta) + sum_k c_k x_tjk)``;
    ``x . beta`` is draw-free and computed once; ``mu`` is the choice scale (1 unless the
    model frees it); ``c_k`` are random coefficients (``eta`` then holds the LVs followed
    by them).  With custom or random terms the draw-free part is ``(x . beta, x)``."""

    beta: Float[Array, " P"]
    theta: Float[Array, "J L"]
    scale: Float[Array, ""]
    custom_params: Float[Array, " Q"]
    custom_terms: tuple[CustomTerm, ...] = eqx.field(static=True)
    # (utility j, design column, position in eta) of every random-coefficient term
    random_terms: tuple[tuple[int, int, int], ...] = eqx.field(static=True)

    def base_utility(self, design: Float[Array, "T J PA"]):
        linear = design[..., : self.beta.shape[0]] @ self.beta
        return (linear, design) if self.custom_terms or self.random_terms else linear

    def random(self, design: Float[Array, "T J PA"], eta: Float[Array, " LK"]):
        """``sum_k c_k x_tjk`` (``c_k = eta[L + k]``, the person's random coefficients)."""
        total = jnp.zeros(design.shape[:2], design.dtype)
        for utility, column, position in self.random_terms:
            total = total.at[:, utility].add(eta[position] * design[:, utility, column])
        return total

    def custom(self, design: Float[Array, "T J PA"], eta: Float[Array, " L"]):
        """``custom_j(x_t, eta)`` of every term, ``(T, J)``."""
        total = jnp.zeros(design.shape[:2], design.dtype)
        for term in self.custom_terms:
            p = {name: self.custom_params[q] for name, q in term.parameters}
            x = {name: design[:, term.utility, column] for name, column in term.attributes}
            lv = {name: eta[l] for name, l in term.lvs}
            value = jnp.broadcast_to(term.fn(p, x, lv), design.shape[:1])
            total = total.at[:, term.utility].add(value)
        return total

    def utilities(self, base, eta: Float[Array, " LK *R"]):
        """``V`` ``(T, J)`` for ``eta`` ``(LK,)``, ``(T, J, R)`` for ``eta`` ``(LK, R)``
        (custom and random terms are evaluated draw by draw)."""
        if self.custom_terms or self.random_terms:
            linear, design = base

            def extra(eta_draw):
                return self.custom(design, eta_draw) + self.random(design, eta_draw)

            terms = extra(eta) if eta.ndim == 1 else jax.vmap(extra, 1, 2)(eta)
            return self.scale * (along_draws(linear, eta) + self.theta @ eta + terms)
        return self.scale * (along_draws(base, eta) + self.theta @ eta)


class BinaryProbitChoice(_LinearUtility):
    """``log P(y_t) = log Phi((2 y_t - 1) V_t)``."""

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available):
        v = self.utilities(base, eta)[:, 0]
        return log_normal_cdf(jnp.where(along_draws(chosen == 1, eta), v, -v))


class OrderedProbitChoiceModule(_LinearUtility):
    """``log P(y_t = j) = log(Phi(c[j+1] - V_t) - Phi(c[j] - V_t))`` (0-based j)."""

    cuts: Float[Array, " Jp1"]

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available):
        v = self.utilities(base, eta)[:, 0]
        return log_interval_probability(along_draws(self.cuts[chosen], eta) - v,
                                        along_draws(self.cuts[chosen + 1], eta) - v, "probit")


class MultinomialLogitChoice(_LinearUtility):
    """``log P(y_t = i) = V_ti - log sum_{j available} exp(V_tj)``."""

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available: Bool[Array, "T J"]):
        v = self.utilities(base, eta)
        chosen_v = jnp.take_along_axis(v, along_draws(chosen[:, None], eta), axis=1)[:, 0]
        return chosen_v - logsumexp(v, axis=1, where=along_draws(available, eta))


class NoChoiceModule(_LinearUtility):
    """No choice model: contributes ``log 1 = 0`` per situation."""

    def log_prob(self, base, eta, chosen: Int[Array, " T"], available):
        return jnp.zeros(chosen.shape + eta.shape[1:], eta.dtype)
