"""Gauss-Hermite quadrature over the latent-variable errors, beside simulation.

With ``L`` = 1 to 3 latent variables the integral over ``zeta ~ N(0, I_L)`` is
low-dimensional, and Gauss-Hermite quadrature gives the log-likelihood to many digits
with a few dozen nodes, where simulation needs thousands of draws and is biased
(``E log`` of a simulated probability is below ``log`` of the probability).

Plain quadrature (:class:`Quadrature`).  The probabilists' Gauss-Hermite rule
``(x_i, v_i)``, ``i = 1..n`` (``numpy.polynomial.hermite_e.hermegauss``, weight
``exp(-x^2 / 2)``), normalised to ``w_i = v_i / sum v``, integrates
``E f(zeta) = sum_i w_i f(x_i)`` exactly for polynomials of degree ``2n - 1``.  For
``L`` LVs the tensor product has ``R = n^L`` nodes ``x_r`` with weights
``w_r = prod_l w_{i_l}``.  The nodes are the same for every person; they take the
place of the draws, ``log w_r`` that of ``-log R``, and the likelihood's weighted
logsumexp computes ``log sum_r w_r L_n(x_r)``.  Nothing downstream changes.

Adaptive quadrature (:class:`AdaptiveQuadrature`, Liu & Pierce 1994; as in GLMM
software: lme4's ``nAGQ``, GLMMadaptive, gllamm).  Person ``n``'s integrand
``g_n(zeta) = f_n(zeta) phi(zeta)`` is peaked where the data put the LVs; centring and
scaling the nodes there,

.. math::

    \\zeta_{nr} = \\mu_n + S_n x_r, \\qquad
    \\log w_{nr} = \\log w_r + \\log\\phi(\\zeta_{nr}) - \\log\\phi(x_r) + \\log|S_n|,

is the change of variables ``zeta = mu_n + S_n x`` in ``int g_n``, which is then a
near-Gaussian integrand in ``x`` that few nodes integrate accurately.  ``mu_n`` is the
mode of ``log g_n = sum_k log P(I_nk | eta) + sum_t log P(y_nt | eta) + log phi(zeta)``
in ``zeta`` (damped Newton from 0 with backtracking; ``log g_n`` is strictly concave
for every measurement and choice model of this package, as the log-probabilities are
concave in linear indices and ``log phi`` adds ``-I``), and ``S_n = (-H_n)^{-1/2}``
(symmetric root) with ``H_n`` the Hessian of ``log g_n`` at the mode.

When the adaptation is computed.  ``mu_n`` and ``S_n`` depend on the parameters.
Re-adapting inside every likelihood evaluation would make them functions of
``theta``: the derivatives would have to run through the Newton iterations (the
hand-written scores of :mod:`iclv_jax.analytic` could not follow), or they would be
inconsistent with the value.  Here, as in gllamm, the adaptation is *fixed* at a
parameter value and updated *between* optimiser runs:

- :meth:`iclv_jax.Problem.adapt` (``params``) recomputes ``(mu_n, S_n)`` at
  ``params`` and replaces the problem's nodes and per-person weights;
  ``Problem(...)`` adapts at the default start values;
- :func:`iclv_jax.estimate` (and each stage of ``start="sequential"``) adapts at the
  start values and optimises in rounds of at most 5 iterations, re-adapting at the
  current point before each round, until re-adapting leaves the point an optimum
  (:func:`readapt`, as gllamm updates its adaptive nodes between Newton iterations);
  the optimum is then verified, and standard errors computed, with the nodes adapted
  at the estimates.  Re-adapting matters: with the nodes fixed at the start values for
  the whole run, the optimiser can exploit them (a loading growing without bound makes
  an item a step function of the LV that a few fixed nodes cannot resolve, and the
  approximate LL rises above the true maximum; seen on a 60-person ordered-probit
  study).

For fixed ``(mu_n, S_n)`` the log-likelihood is an ordinary smooth function of
``theta`` (a person-specific quadrature rule), so the gradient, the exact Hessian, the
analytic scores, robust standard errors and the gradient checker all apply unchanged
and agree to rounding.  With enough nodes the value does not depend on where the
adaptation was made; at the optimum it is the adaptive quadrature at the estimates.

Accuracy.  The error of ``n`` adaptive nodes depends on how far each person's
posterior is from Gaussian: on the drug-choice ICLV 10 nodes are within 1e-6 of the
exact LL (1,000 people), on the one-LV beverage variant (ten binary probits per person,
skewed posteriors) within 1e-4 (1e-6 with 20 nodes).  Where the estimates diverge
(Heywood cases: a loading running to infinity) every fixed-node rule, plain quadrature
and simulation included, can be exploited by the optimiser.

Bounded memory.  Quadrature costs ``n^L`` nodes per person: it refuses ``L > 3`` or
more than :data:`MAX_NODES` nodes per person, naming the count, and points to
simulation draws (``iclv_jax.Halton``), whose cost does not grow with ``L``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import ndtr

from .draws import Draws, NoDraws, _check_count
from .likelihood import SimulatedLikelihood, person_loglike
from .optimize.evaluator import Evaluator
from .optimize.optimality import relative_gradient

__all__ = [
    "MAX_DIMS",
    "MAX_NODES",
    "MAX_NODES_PER_DIM",
    "Adaptation",
    "AdaptiveQuadrature",
    "Quadrature",
    "adapt",
    "adaptation",
    "gauss_hermite",
    "readapt",
]

#: Most latent variables quadrature accepts (tensor products grow as ``n^L``).
MAX_DIMS = 3
#: Most nodes per person (``n_nodes ** L``).
MAX_NODES = 100_000
#: Most nodes per dimension: beyond ~350 the outer Gauss-Hermite weights underflow
#: to 0 in float64, and far fewer suffice for any smooth integrand.
MAX_NODES_PER_DIM = 300


def _check_size(n_nodes: int, n_dims: int) -> None:
    """Refuse rules that do not fit in bounded memory, saying how many nodes they need."""
    total = n_nodes**n_dims
    if n_dims > MAX_DIMS or total > MAX_NODES:
        raise ValueError(
            f"Gauss-Hermite quadrature with {n_nodes} nodes in each of {n_dims} latent "
            f"variables needs {n_nodes}^{n_dims} = {total:,} nodes per person (the limit "
            f"is {MAX_NODES:,} nodes and {MAX_DIMS} latent variables); use simulation "
            f"draws instead, e.g. draws=iclv_jax.Halton(1000), whose cost does not grow "
            f"with the number of latent variables"
            + (
                ", or fewer nodes (AdaptiveQuadrature needs far fewer)"
                if n_dims <= MAX_DIMS
                else ""
            )
        )


def gauss_hermite(n_nodes: int, n_dims: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product probabilists' Gauss-Hermite rule for ``E f(zeta)``,
    ``zeta ~ N(0, I_L)``.

    Returns ``(nodes [R, L], log_weights [R])`` with ``R = n_nodes ** n_dims`` and
    ``sum exp(log_weights) = 1``; node ``r`` has multi-index ``(i_1, ..., i_L)`` in
    C order (the last dimension varies fastest).
    """
    n_nodes = _check_count("n_nodes", n_nodes, 1)
    n_dims = _check_count("n_dims", n_dims, 1)
    if n_nodes > MAX_NODES_PER_DIM:
        raise ValueError(f"n_nodes must be at most {MAX_NODES_PER_DIM}, got {n_nodes}")
    _check_size(n_nodes, n_dims)
    x, v = np.polynomial.hermite_e.hermegauss(n_nodes)
    log_w = np.log(v) - np.log(v.sum())
    grids = np.meshgrid(*([x] * n_dims), indexing="ij")
    log_grids = np.meshgrid(*([log_w] * n_dims), indexing="ij")
    nodes = np.stack([g.reshape(-1) for g in grids], axis=1)
    log_weights = np.sum([g.reshape(-1) for g in log_grids], axis=0)
    return nodes, log_weights


@dataclass(frozen=True)
class Quadrature(Draws):
    """Gauss-Hermite quadrature in place of simulation draws: ``draws=Quadrature(20)``.

    ``n_nodes`` nodes per latent variable, tensor product for 2 or 3 LVs; the same
    nodes for every person (see the module docstring).  ``n_dims`` (the number of LVs)
    is set by :class:`~iclv_jax.Problem` from the model (:meth:`for_dims`); until then
    it is ``None`` and ``n_draws`` counts the nodes of one LV.  ``n_draws`` is the
    number of nodes per person, ``n_nodes ** n_dims``.  Deterministic: ``seed`` is
    not used.

    Raises ValueError for more than :data:`MAX_DIMS` LVs or :data:`MAX_NODES` nodes
    per person (when the number of LVs becomes known), pointing to simulation draws.
    """

    n_nodes: int
    n_dims: int | None = None
    n_draws: int = field(init=False, default=1)
    seed: int = field(init=False, default=0, repr=False)

    def __post_init__(self) -> None:
        n_nodes = _check_count("n_nodes", self.n_nodes, 1)
        if n_nodes > MAX_NODES_PER_DIM:
            raise ValueError(f"n_nodes must be at most {MAX_NODES_PER_DIM}, got {n_nodes}")
        object.__setattr__(self, "n_nodes", n_nodes)
        if self.n_dims is not None:
            object.__setattr__(self, "n_dims", _check_count("n_dims", self.n_dims, 1))
            _check_size(n_nodes, self.n_dims)
        object.__setattr__(self, "n_draws", n_nodes ** (self.n_dims or 1))

    def for_dims(self, n_dims: int) -> Quadrature | NoDraws:
        """This rule in ``n_dims`` dimensions (raises if it was built for others, or if
        ``n_nodes ** n_dims`` nodes are too many); :class:`~iclv_jax.draws.NoDraws`
        for ``n_dims = 0``."""
        if n_dims == 0:
            return NoDraws()
        n_dims = _check_count("n_dims", n_dims, 1)
        if self.n_dims is None:
            return replace(self, n_dims=n_dims)
        if self.n_dims != n_dims:
            raise ValueError(f"{self!r} was built for {self.n_dims} latent variables, not {n_dims}")
        return self

    def nodes(self, n_dims: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(nodes [R, L], log_weights [R])`` of :func:`gauss_hermite`."""
        n_dims = n_dims if n_dims is not None else (self.n_dims or 1)
        self.for_dims(n_dims)  # refuses another dimension or too many nodes
        return gauss_hermite(self.n_nodes, int(n_dims))

    def _raw_uniforms(self, n_people: int, n_dims: int) -> np.ndarray:
        return ndtr(self.normals(n_people, n_dims))

    def normals(self, n_people: int, n_dims: int) -> np.ndarray:
        """The nodes, repeated for every person: float64 ``(N, R, L)``."""
        n_people = _check_count("n_people", n_people, 1)
        nodes, _ = self.nodes(n_dims)
        return np.repeat(nodes[None], n_people, axis=0)

    def log_weights(self) -> np.ndarray:
        """Normalised log weights ``log w_r`` (``sum_r w_r = 1``), shape ``(R,)``."""
        return self.nodes()[1]


@dataclass(frozen=True)
class AdaptiveQuadrature(Quadrature):
    """Adaptive Gauss-Hermite quadrature: ``draws=AdaptiveQuadrature(10)``.

    Person ``n``'s nodes are ``mu_n + S_n x_r`` with per-person weights, ``mu_n`` and
    ``S_n`` the posterior mode and curvature of the LV errors at a parameter value
    (see the module docstring for when they are computed).  ``newton_steps``: damped
    Newton iterations for the mode.  :meth:`normals` and :meth:`log_weights` give the
    unadapted rule (``mu = 0``, ``S = I``); :meth:`iclv_jax.Problem.adapt` adapts.
    """

    newton_steps: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "newton_steps", _check_count("newton_steps", self.newton_steps, 1))


class Adaptation(eqx.Module):
    """Per-person centres ``mode [N, L]`` and scale roots ``root [N, L, L]`` (symmetric,
    ``root @ root = (-H)^{-1}``), padded people included; ``gradient [N, L]`` is the
    gradient of ``log g_n`` at the mode (0 when Newton converged)."""

    mode: jax.Array
    root: jax.Array
    gradient: jax.Array


def _person_adaptation(components, person, n_lvs: int, newton_steps: int):
    """Mode and curvature root of ``log g_n(zeta) = log f_n(zeta) - |zeta|^2 / 2``.

    Damped Newton from 0: the direction ``(-H)^{-1} g`` (eigenvalues of ``-H`` made
    positive), the best of the step lengths ``1, 1/2, ..., 2^-9, 0`` (so ``log g_n``
    never decreases).  The scan runs one step more than ``newton_steps`` and reports
    the gradient and curvature at the start of each step, so those of the final point
    come out of the same traced step (one compilation of the person's derivatives).
    """

    def log_g(z):
        return person_loglike(components, person, z[None], jnp.zeros(1)) - 0.5 * z @ z

    lengths = jnp.concatenate([2.0 ** -jnp.arange(10), jnp.zeros(1)])

    def newton(z, _):
        hessian, gradient = jax.jacfwd(lambda x: (jax.grad(log_g)(x),) * 2, has_aux=True)(z)
        values, vectors = jnp.linalg.eigh(-hessian)
        values = jnp.maximum(jnp.abs(values), 1e-6)
        direction = vectors @ ((vectors.T @ gradient) / values)
        trials = z[None] + lengths[:, None] * direction[None]
        trial_values = jax.vmap(log_g)(trials)
        trial_values = jnp.where(jnp.isnan(trial_values), -jnp.inf, trial_values)
        return trials[jnp.argmax(trial_values)], (z, gradient, values, vectors)

    _, (points, gradients, values, vectors) = jax.lax.scan(
        newton, jnp.zeros(n_lvs), None, length=newton_steps + 1
    )
    values, vectors = values[-1], vectors[-1]
    root = (vectors / jnp.sqrt(values)[None, :]) @ vectors.T
    return points[-1], root, gradients[-1]


@eqx.filter_jit
def _adaptation(likelihood: SimulatedLikelihood, free_internal, newton_steps: int):
    components = likelihood.components(free_internal)
    n_lvs = likelihood.zeta.shape[2]

    def chunk(panel, _zeta):
        return jax.vmap(lambda p: _person_adaptation(components, p, n_lvs, newton_steps))(panel)

    mode, root, gradient = likelihood.map_chunks(chunk)
    flat = lambda a: a.reshape((-1,) + a.shape[2:])  # noqa: E731
    return Adaptation(mode=flat(mode), root=flat(root), gradient=flat(gradient))


def adaptation(
    likelihood: SimulatedLikelihood, free_internal, newton_steps: int = 20
) -> Adaptation:
    """Every (padded) person's posterior mode of ``zeta`` and curvature root at
    ``free_internal`` (padded people: mode 0, root ``I``)."""
    return _adaptation(likelihood, jnp.asarray(free_internal), int(newton_steps))


@eqx.filter_jit
def _adapted_nodes(found: Adaptation, nodes, log_weights):
    zeta = found.mode[:, None, :] + jnp.einsum("rl,nml->nrm", nodes, found.root)
    _, log_det = jnp.linalg.slogdet(found.root)
    log_w = (
        log_weights[None]
        - 0.5 * jnp.sum(zeta**2, axis=2)
        + 0.5 * jnp.sum(nodes**2, axis=1)[None]
        + log_det[:, None]
    )
    return zeta, log_w


def adapt(
    likelihood: SimulatedLikelihood, free_internal, draws: AdaptiveQuadrature
) -> SimulatedLikelihood:
    """``likelihood`` with every person's nodes and log-weights adapted at
    ``free_internal`` (``zeta_nr = mu_n + S_n x_r``,
    ``log w_nr = log w_r + log phi(zeta_nr) - log phi(x_r) + log |S_n|``).

    Everything else (data, compiled code for these shapes) is shared.
    """
    nodes, log_weights = draws.nodes(likelihood.zeta.shape[2])
    found = adaptation(likelihood, free_internal, draws.newton_steps)
    zeta, log_w = _adapted_nodes(found, jnp.asarray(nodes), jnp.asarray(log_weights))
    return eqx.tree_at(lambda lik: (lik.zeta, lik.log_weights), likelihood, (zeta, log_w))


def readapt(
    problem,
    evaluator: Evaluator,
    u,
    optimise,
    tolerance: float,
    max_iterations: int,
    scales,
    per_round: int = 5,
) -> tuple[np.ndarray, Evaluator, str]:
    """The optimiser on adaptive quadrature: rounds of at most ``per_round`` iterations,
    each on nodes adapted at the point the round starts from, until re-adapting leaves
    ``u`` an optimum (relative gradient below ``tolerance / 10``).

    Re-adapting between iterations keeps the nodes on the posterior as the parameters
    move: with nodes fixed for the whole run, the optimiser can exploit the fixed nodes
    (a loading growing without bound makes an item a step function of the LV that a few
    fixed nodes cannot resolve, and the approximate LL then rises above the true
    maximum).  Within a round the likelihood is one fixed smooth function, so the
    optimiser's line searches, gradients and Hessians are consistent.

    ``problem``: an :class:`~iclv_jax.Problem` with :class:`AdaptiveQuadrature` draws;
    ``optimise(evaluator, u, iterations) -> (u, iterations used, message)``; ``scales``:
    the optimiser's parameter scales (for the relative gradient).  Returns
    ``(u, evaluator, message)``, the evaluator on the last adaptation (the one to verify
    and report with).  Any adaptation gives a consistent likelihood; only its accuracy
    depends on where it was made.
    """
    u = np.asarray(u)
    used, message = 0, "nodes adapted at the start values were already at an optimum"
    while True:
        evaluator = Evaluator(problem.adapt(u), evaluator.gradient)
        loglike, gradient = evaluator.value_and_grad(u)
        done = relative_gradient(gradient, u, loglike, scales) < tolerance / 10
        if done or used >= max_iterations:
            return u, evaluator, message
        u, iterations, message = optimise(evaluator, u, min(per_round, max_iterations - used))
        u = np.asarray(u)
        if iterations == 0:  # no progress on fresh nodes: leave it to the verification
            return u, evaluator, message
        used += iterations
