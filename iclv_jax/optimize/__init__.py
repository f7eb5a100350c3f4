"""Optimisers on the scaled problem, with progress, history, checkpoints and verification.

The optimiser works on ``v = u / s``: ``u`` the internal parameters (see params.py)
and ``s`` per-parameter scales from the exact Hessian's diagonal at the start (the
BHHH diagonal ``mean_n s_ni^2`` where that is ~0), ``s_i = (|H_ii| / N)^{-1/2}``, so
every coordinate has unit curvature whatever the units of the data (raw prices of
1,000-5,000 included).  It minimises ``f(v) = -log L(s v) / N``.

After the optimiser, exact-Hessian Newton steps run until the relative gradient
``max_i |g_i| max(|u_i|, s_i) / max(|log L|, 1)`` is below the tolerance and the
Hessian is negative definite: a verified optimum, not an assumed one.  Both tests use
the scales ``s`` at the final point (the Hessian as ``D H D``, ``D = diag(s)``), so
rescaling a data column changes neither.

Bounds are a box ``lower <= u <= upper`` on the internal parameters (bounded
coefficients are their own internal values), kept by the optimisers themselves:
projected Newton (Bertsekas 1982) in the line-search methods, SciPy's L-BFGS-B.  At
the end a coordinate on a bound with the gradient of ``log L`` pointing out of the box
is *held* there, and the tests above apply to the others (the Karush-Kuhn-Tucker
conditions of the bounded problem).  The other optimisers refuse bounds.

One job per module:

- :mod:`.optimality`: the scales ``s`` and the scale-free tests of an optimum;
- :mod:`.evaluator`: ``log L``, gradient, scores and Hessian at a point, cached;
- :mod:`.progress`: the progress line, history and checkpoint of every iteration;
- :mod:`.objective`: ``f(v)`` and the box of ``v``, as the optimisers see them;
- :mod:`.newton`: line-search (modified, projected) Newton, BHHH or exact Hessian;
- :mod:`.external`: SciPy's trust-exact, BFGS, L-BFGS-B and optax's L-BFGS;
- :mod:`.methods`: :func:`minimise`, one of :data:`OPTIMIZERS` by name;
- :mod:`.verification`: the Newton steps that verify the optimum.
"""

from .evaluator import GRADIENTS, Evaluator
from .methods import BOUNDED_OPTIMIZERS, OPTIMIZERS, minimise
from .objective import ScaledObjective
from .optimality import (
    clearly_negative_definite,
    flat_threshold,
    on_active_bound,
    relative_gradient,
    scaled_curvature,
    scales_from_curvature,
    unbounded,
)
from .progress import Tracker
from .verification import Verified, verify

__all__ = [
    "BOUNDED_OPTIMIZERS",
    "GRADIENTS",
    "OPTIMIZERS",
    "Evaluator",
    "ScaledObjective",
    "Tracker",
    "Verified",
    "clearly_negative_definite",
    "flat_threshold",
    "minimise",
    "on_active_bound",
    "relative_gradient",
    "scaled_curvature",
    "scales_from_curvature",
    "unbounded",
    "verify",
]
