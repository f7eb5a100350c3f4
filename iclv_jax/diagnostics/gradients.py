"""Gradient implementations by name: autodiff (the truth), analytic (the witness).

A *gradient* is any callable ``gradient_fn(likelihood, free_internal) -> (loglike,
grad)`` on a :class:`~iclv_jax.likelihood.SimulatedLikelihood`, ``grad = d log L / du``
in the free internal parameters ``u``.  ``"autodiff"``
(:meth:`SimulatedLikelihood.loglike_and_grad`) and ``"analytic"``
(:func:`iclv_jax.analytic.loglike_and_grad`) resolve to one.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from ..analytic import AnalyticScores
from ..analytic import loglike_and_grad as _analytic_loglike_and_grad
from ..likelihood import SimulatedLikelihood

__all__ = [
    "GradientFn",
    "analytic_gradient",
    "analytic_gradient_with",
    "autodiff_gradient",
    "resolve_gradient",
]

GradientFn = Callable[[SimulatedLikelihood, jax.Array], tuple[jax.Array, jax.Array]]


def autodiff_gradient(likelihood: SimulatedLikelihood, free_internal):
    """``(log L, d log L / du)`` by autodiff (the truth)."""
    return likelihood.loglike_and_grad(free_internal)


def analytic_gradient(likelihood: SimulatedLikelihood, free_internal):
    """``(log L, d log L / du)`` by the hand-written scores of :mod:`iclv_jax.analytic`."""
    return _analytic_loglike_and_grad(likelihood, free_internal)


def resolve_gradient(gradient: str | GradientFn) -> tuple[str, GradientFn]:
    """``(name, callable)`` for ``"autodiff"``, ``"analytic"`` or a callable."""
    if callable(gradient):
        return getattr(gradient, "__name__", type(gradient).__name__), gradient
    named = {"autodiff": autodiff_gradient, "analytic": analytic_gradient}
    if gradient not in named:
        raise ValueError(
            f"gradient must be 'autodiff', 'analytic' or a callable "
            f"(likelihood, free_internal) -> (loglike, grad), got {gradient!r}"
        )
    return gradient, named[gradient]


def analytic_gradient_with(scores: AnalyticScores, name: str | None = None) -> GradientFn:
    """The analytic gradient with some per-component derivatives replaced by ``scores``."""

    def gradient(likelihood, free_internal):
        return _analytic_loglike_and_grad(likelihood, free_internal, scores)

    gradient.__name__ = name or f"analytic[{type(scores).__name__}]"
    return gradient
