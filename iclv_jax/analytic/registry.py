"""The hand-written choice derivatives, registered per kernel class.

Each choice kind's score file registers, for its kernel class, the function

    derivative(module, v, chosen, available, mask, log_prob) -> (d_v, own)

giving ``d log P(y_t) / d V_tj`` ``(T, J)`` at one draw (``v`` the scaled utilities,
``log_prob`` each situation's ``log P(y_t)``; padded situations, ``mask`` false, may be
left unmasked) and ``own``, the derivatives of the kind's own fields (e.g. ordered
cut-points: ``{"cuts": ...}``, already masked).  No autodiff.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CHOICE_DERIVATIVES", "choice_derivative", "register"]

ChoiceDerivative = Callable[..., tuple]
CHOICE_DERIVATIVES: dict[type, ChoiceDerivative] = {}


def register(kernel: type) -> Callable[[ChoiceDerivative], ChoiceDerivative]:
    """Decorator: the derivative of the choice kernel class ``kernel``."""

    def add(derivative: ChoiceDerivative) -> ChoiceDerivative:
        CHOICE_DERIVATIVES[kernel] = derivative
        return derivative

    return add


def choice_derivative(module) -> ChoiceDerivative:
    """The derivative registered for ``module``'s class; a kernel without one is an
    error naming it (a new kind needs its own score file)."""
    derivative = CHOICE_DERIVATIVES.get(type(module))
    if derivative is None:
        raise TypeError(
            f"no analytic score registered for choice kernel "
            f"{type(module).__name__}; add one with "
            "iclv_jax.analytic.registry.register"
        )
    return derivative
