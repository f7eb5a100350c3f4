"""Gradient diagnostics: check, frozen-gradient detection, block scales.

The seed project failed twice without noticing (see the project notes): a hand-written
structural gradient that ignored the chain rule stayed frozen at the same value for
nine iterations, and raw prices made the choice gradient ~10,000 times larger than the
structural one.  This package makes both visible at once.

A *gradient* is any callable ``gradient_fn(likelihood, free_internal) -> (loglike,
grad)`` on a :class:`~iclv_jax.likelihood.SimulatedLikelihood`; the names
``"autodiff"`` (:meth:`SimulatedLikelihood.loglike_and_grad`, the truth) and
``"analytic"`` (:func:`iclv_jax.analytic.loglike_and_grad`, the hand-written witness)
resolve to one.  All gradients here are with respect to the free *internal*
parameters ``u`` (see :mod:`iclv_jax.params`) unless said otherwise.

- :func:`check_gradients`: autodiff, analytic and central finite differences per
  parameter, with relative differences ``|a - b| / max(|a|, |b|, floor)``.
- :func:`detect_frozen`: for each parameter ``i``, moves ``u_i`` both ways and checks
  that the implementation's gradient responds as autodiff's Hessian-vector product
  ``H e_i`` says it must (``jax.jvp`` of the autodiff gradient: no dense Hessian is
  formed by differentiation).  Verdicts: ``ok``, ``wrong gradient code`` or
  ``flat likelihood / unidentified``.
- :func:`detect_frozen_path`: along an optimiser's iterates, any parameter whose
  gradient stayed identical to 9 significant digits over 3 or more iterations while
  its value changed (the seed's symptom).
- :func:`gradient_scales`: mean ``|d log L / d theta|`` per block (structural,
  measurement, LV coefficients in the choice model, other choice parameters) and the
  ratios between blocks, raw and after the estimator's scaling.

Scales.  Finite-difference steps and the "typical curvature" against which a
curvature counts as zero are taken in the coordinates ``v = u / s`` with the BHHH
scales ``s_i = (mean_n s_ni^2)^{-1/2}`` the estimator uses (``s_ni`` the per-person
autodiff scores): in ``v`` every parameter's squared scores sum to ``N`` whatever the
units of the data (raw prices of 1,000-5,000 included), and near the optimum its
curvature is of order ``N`` too (the information equality).

Planted bugs (for demonstrations and tests): :class:`SeedStructuralScores` (the
seed's structural derivative), :class:`FlippedThresholdScores` (a sign error in one
ordered-indicator threshold derivative), :func:`analytic_gradient_with` and
:func:`seed_gradient`.

Files: ``gradients`` (implementations by name), ``evaluation`` (problem, point, autodiff
truth, relative differences), ``finite_differences`` (steps, central differences,
Hessian-vector products), ``check`` (:func:`check_gradients`), ``flatness`` (flat
directions), ``frozen`` (:func:`detect_frozen`), ``frozen_path``
(:func:`detect_frozen_path`), ``scales`` (:func:`gradient_scales`), ``planted``
(planted bugs), ``tables`` (report text).
"""

from .check import GradientCheck, check_gradients
from .finite_differences import (
    finite_difference_gradient,
    finite_steps,
    hessian_vector_products,
    natural_scales,
)
from .frozen import FrozenReport, detect_frozen
from .frozen_path import PathReport, detect_frozen_path
from .gradients import (
    analytic_gradient,
    analytic_gradient_with,
    autodiff_gradient,
    resolve_gradient,
)
from .planted import (
    FlippedThresholdScores,
    SeedStructuralScores,
    seed_gamma_values,
    seed_gradient,
)
from .scales import GradientScales, gradient_scales, parameter_groups, reported_gradient

__all__ = [
    "FlippedThresholdScores",
    "FrozenReport",
    "GradientCheck",
    "GradientScales",
    "PathReport",
    "SeedStructuralScores",
    "analytic_gradient",
    "analytic_gradient_with",
    "autodiff_gradient",
    "check_gradients",
    "detect_frozen",
    "detect_frozen_path",
    "finite_difference_gradient",
    "finite_steps",
    "gradient_scales",
    "hessian_vector_products",
    "natural_scales",
    "parameter_groups",
    "reported_gradient",
    "resolve_gradient",
    "seed_gamma_values",
    "seed_gradient",
]
