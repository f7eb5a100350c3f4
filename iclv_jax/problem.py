"""A model, its validated data and draws, and the compiled likelihood: the set-up that
:func:`~iclv_jax.estimate`, the diagnostics and post-estimation share."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .binding import bind
from .data import Panel, prepare_data
from .draws import Draws, as_draws, check_draws_memory
from .layout import build_layout
from .likelihood import SimulatedLikelihood, build_likelihood
from .optimize import scales_from_curvature
from .params import ParameterSpace
from .placement import available_memory_bytes
from .quadrature import AdaptiveQuadrature, adapt
from .spec import ICLVModel

__all__ = ["Problem", "start_scales"]


class Problem:
    """A model, its validated data and draws, and the compiled likelihood.

    ``loglike(params)`` evaluates the simulated log-likelihood at reported parameter
    values (a dict by name; missing names take their defaults).  With
    :class:`~iclv_jax.AdaptiveQuadrature` the nodes are adapted at the default start
    values on construction and at ``params`` by ``loglike(params)``; :meth:`adapt`
    moves them for the lower-level ``likelihood``.  ``chunk_size``, ``memory_bytes``,
    ``dtype`` and ``devices`` are passed to
    :func:`~iclv_jax.likelihood.build_likelihood` (people per chunk, memory budget of a
    chunk, ``"float64"``/``"float32"``, devices to split the people over; defaults: from
    the free memory, float64, every visible device).
    """

    def __init__(
        self,
        model: ICLVModel,
        data: pd.DataFrame,
        draws: int | Draws = 500,
        chunk_size: int | None = None,
        memory_bytes: int | None = None,
        dtype: str = "float64",
        devices=None,
    ):
        self.model = model
        # the model with its expressions resolved against the data (bind), and the data
        # with its derived columns: what the panel and the layout are built from
        self.bound, data = bind(model, data)
        self.draws = as_draws(draws).for_dims(model.n_draw_dims)
        self.panel: Panel = prepare_data(self.bound, data, dtype=dtype)
        check_draws_memory(
            self.panel.n_people, self.draws.n_draws, model.n_draw_dims, available_memory_bytes()
        )
        self.space: ParameterSpace
        self.space, self.layout = build_layout(self.bound, self.panel)
        defaults = self.space.to_internal(self.space.start_reported(None))
        normals = self.draws.normals(self.panel.n_people, model.n_draw_dims)
        log_weights = self.draws.log_weights()
        if isinstance(self.draws, AdaptiveQuadrature):  # per-person weights
            log_weights = np.broadcast_to(log_weights, normals.shape[:2])
        self.likelihood: SimulatedLikelihood = build_likelihood(
            self.space,
            self.layout,
            self.panel,
            normals,
            log_weights,
            defaults,
            chunk_size=chunk_size,
            memory_bytes=memory_bytes,
            dtype=dtype,
            devices=devices,
        )
        self.adapt()

    def adapt(self, params=None) -> SimulatedLikelihood:
        """Adaptive quadrature only (else nothing changes): centre and scale every
        person's nodes on the LVs' posterior mode and curvature at ``params`` (reported
        values as :meth:`free_internal` takes, or the free internal array); see
        :mod:`iclv_jax.quadrature`.  Returns the (new) likelihood."""
        if isinstance(self.draws, AdaptiveQuadrature):
            u = (
                jnp.asarray(params, dtype=float)
                if isinstance(params, np.ndarray | jax.Array)
                else self.free_internal(params)
            )
            self.likelihood = adapt(self.likelihood, u, self.draws)
        return self.likelihood

    def free_internal(self, params=None) -> jnp.ndarray:
        """Free internal vector ``u`` from reported values (dict, number or None)."""
        internal = self.space.to_internal(self.space.start_reported(params))
        return jax.device_put(internal[self.space.free_index])  # jnp.asarray compiles

    def reported(self, free_internal) -> dict[str, float]:
        values = self.likelihood.to_reported.on_host(free_internal)[0]
        return dict(zip(self.space.names, values.tolist(), strict=True))

    def loglike(self, params=None) -> float:
        """Simulated (or quadrature) log-likelihood at ``params``.  With
        :class:`~iclv_jax.AdaptiveQuadrature` the nodes are first adapted at
        ``params`` themselves, so the value never depends on where they were adapted
        before (``self.likelihood.loglike`` evaluates without moving them)."""
        self.adapt(params)
        return float(self.likelihood.loglike(self.free_internal(params)))

    def null_choice_loglike(self) -> float | None:
        """Choice LL at equal shares (the choice model's ``null_loglike`` over the
        observed situations); None without a choice part.  The one definition used
        by :class:`~iclv_jax.Results` and :func:`~iclv_jax.rho_squared`."""
        mask = self.panel.situation_mask
        return self.model.choice.null_loglike(self.panel.chosen[mask], self.panel.available[mask])


def start_scales(likelihood: SimulatedLikelihood, u0) -> np.ndarray:
    """The scales ``s`` the estimator uses at ``u0`` (see
    :func:`iclv_jax.optimize.scales_from_curvature`)."""
    u0 = jnp.asarray(u0)
    return scales_from_curvature(
        np.asarray(likelihood.hessian(u0)), np.asarray(likelihood.scores(u0))
    )
