"""``Posterior``: the result of Bayesian estimation, posterior samples by name.

The samples of each free parameter are an array ``(chains, draws)`` on the reported
scale (the scale of ``Results.table``: ``sigma``, not ``log sigma``).  The summary
(:mod:`iclv_jax.bayes.summary`) gives the posterior mean, SD, Monte Carlo error,
quantiles, rank-normalised split R-hat and bulk/tail ESS; functions of the parameters
(WTP) are posterior samples too (:mod:`iclv_jax.bayes.functions`); ``save`` writes one
``.npz`` file (:mod:`iclv_jax.bayes.storage`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..jsonvalues import encode_value
from ..spec import ICLVModel
from .arvizdata import inference_data
from .functions import FunctionOfParameters, evaluate_function, wtp_functions
from .storage import read_posterior, write_posterior
from .summary import summary_frame
from .text import header_lines, summary_text, warning_lines

__all__ = ["FORMULATIONS", "Posterior", "load_posterior"]

#: "integrated": the LVs integrated out by simulation or quadrature (as in MSL);
#: "augmented": each person's LV errors sampled with the parameters
FORMULATIONS = ("integrated", "augmented")
#: fields written as JSON (compared through their JSON encoding)
_JSON_FIELDS = ("fixed", "priors", "formulation", "draws", "sampler", "mle")


def _same_frame(a: pd.DataFrame | None, b: pd.DataFrame | None) -> bool:
    """Both None, or equal frames with equal index, columns and dtypes."""
    if a is None or b is None:
        return a is None and b is None
    return (
        a.equals(b)
        and a.index.equals(b.index)
        and a.columns.equals(b.columns)
        and list(a.dtypes) == list(b.dtypes)
    )


@dataclass(frozen=True, eq=False, repr=False)
class Posterior:
    """Posterior samples of a model's free parameters, and what produced them.

    Attributes:
        samples: free parameter name -> array ``(chains, draws)``, reported scale, in
            the model's parameter order.
        fixed: the fixed parameters (not sampled) and their values.
        priors: free parameter name -> its prior, as text (``"Normal(0, 10)"``).
        formulation: ``"integrated"`` or ``"augmented"`` (:data:`FORMULATIONS`).
        draws: the draws' record (:func:`iclv_jax.drawsdict.draws_to_dict`) for
            "integrated", None for "augmented".
        sampler: what ran (library, algorithm, warm-up, seed, seconds, acceptance,
            step sizes ...), JSON-able; the summary prints every entry.
        diverging: bool ``(chains, draws)``, the divergent transitions.
        mle: the maximum-likelihood estimates the chains started from, or None.
        lv_summary: "augmented" only: each person's LV posterior mean and SD, or None.
        model: the model, or None.

    ``==`` compares every field exactly (arrays with ``np.array_equal``), so a
    :meth:`save` / :func:`load_posterior` round trip can be checked with ``==``.
    """

    samples: dict[str, np.ndarray]
    fixed: dict[str, float]
    priors: dict[str, str]
    formulation: str
    draws: dict | None
    sampler: dict
    diverging: np.ndarray
    mle: dict[str, float] | None
    lv_summary: pd.DataFrame | None
    model: ICLVModel | None = None

    def __post_init__(self):
        shape = np.shape(self.diverging)
        if len(shape) != 2 or np.asarray(self.diverging).dtype != bool:
            raise ValueError(f"diverging must be a bool (chains, draws) array, not {shape}")
        for name, x in self.samples.items():
            if np.shape(x) != shape:
                raise ValueError(
                    f"samples of {name!r} have shape {np.shape(x)}, not (chains, draws) = "
                    f"{shape} as diverging"
                )
        if self.formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {FORMULATIONS}, not {self.formulation!r}")
        if set(self.priors) != set(self.samples):
            missing = sorted(set(self.samples) ^ set(self.priors))
            raise ValueError(f"priors and samples must name the same parameters: {missing}")
        both = sorted(set(self.samples) & set(self.fixed))
        if both:
            raise ValueError(f"parameters both sampled and fixed: {both}")

    def __eq__(self, other) -> bool:
        if not isinstance(other, Posterior):
            return NotImplemented
        return (
            list(self.samples) == list(other.samples)
            and all(np.array_equal(self.samples[k], other.samples[k]) for k in self.samples)
            and np.array_equal(self.diverging, other.diverging)
            and all(
                encode_value(getattr(self, f)) == encode_value(getattr(other, f))
                for f in _JSON_FIELDS
            )
            and _same_frame(self.lv_summary, other.lv_summary)
            and self.model == other.model
        )

    @property
    def shape(self) -> tuple[int, int]:
        """``(chains, draws)``."""
        chains, draws = np.shape(self.diverging)
        return int(chains), int(draws)

    @property
    def n_divergent(self) -> int:
        """The number of divergent transitions, all chains together."""
        return int(np.sum(self.diverging))

    @cached_property
    def table(self) -> pd.DataFrame:
        """The summary table (see :meth:`summary_table`), computed once."""
        table = summary_frame(self.samples, "parameter")
        table["prior"] = pd.Series(self.priors, dtype=object)
        if self.mle is not None:
            table["mle"] = pd.Series(self.mle, dtype=float)
        return table

    def summary_table(self) -> pd.DataFrame:
        """DataFrame indexed by parameter: ``mean, sd, mcse, q5, q50, q95, r_hat,
        ess_bulk, ess_tail, prior`` (and ``mle`` when the MLE is known).

        ``mcse = sd / sqrt(ess_bulk)`` is the Monte Carlo standard error of the mean;
        R-hat is the rank-normalised split R-hat and the ESS the bulk and tail ones of
        Vehtari et al. (2021), computed by NumPyro (:mod:`iclv_jax.bayes.summary`).
        """
        return self.table.copy()

    def summary(self) -> str:
        """The header (formulation, chains x draws, divergences, the sampler's entries,
        the draws), the table, the priors, the fixed parameters, and warnings when
        any R-hat exceeds 1.01 or any transition diverged."""
        return summary_text(
            header_lines(self.formulation, self.sampler, self.shape, self.n_divergent, self.draws),
            self.table,
            self.priors,
            self.fixed,
            warning_lines(self.table, self.n_divergent),
        )

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        chains, draws = self.shape
        return (
            f"Posterior({self.formulation}, {chains} chains x {draws} draws, "
            f"parameters {list(self.samples)})"
        )

    def draws_of(self, name: str) -> np.ndarray:
        """The samples of parameter ``name``, all chains one after another."""
        if name not in self.samples:
            raise ValueError(
                f"unknown parameter {name!r}"
                + (" (it is fixed)" if name in self.fixed else f" (known: {list(self.samples)})")
            )
        return np.asarray(self.samples[name]).reshape(-1)

    def to_frame(self) -> pd.DataFrame:
        """One row per draw: columns ``chain, draw`` and one per free parameter."""
        chains, draws = self.shape
        columns = {
            "chain": np.repeat(np.arange(chains), draws),
            "draw": np.tile(np.arange(draws), chains),
        }
        return pd.DataFrame({**columns, **{name: self.draws_of(name) for name in self.samples}})

    def parameters(self) -> dict[str, Any]:
        """Every parameter: the free ones as ``(chains, draws)`` arrays, the fixed ones
        as floats (the argument of the functions given to :meth:`function`)."""
        return {**self.fixed, **self.samples}

    def function(self, fn: Callable | str, name: str = "f") -> FunctionOfParameters:
        """Posterior samples of a function of the parameters.

        ``fn`` gets :meth:`parameters` (name -> ``(chains, draws)`` array; fixed ones
        as scalars) and returns an array of that shape, labelled ``name``, or a dict
        label -> such arrays; or ``fn`` is an expression of parameter names such as
        ``"beta_a / beta_b"`` (:func:`iclv_jax.delta.parse_expression`).  Returns a
        :class:`FunctionOfParameters`: ``.samples`` by label and ``.table`` (the
        summary columns without prior and MLE).
        """
        return FunctionOfParameters(evaluate_function(fn, self.parameters(), self.shape, name))

    def wtp(self, numerator, denominator: str = "beta_price") -> FunctionOfParameters:
        """Posterior samples of the willingness to pay ``WTP_k = -beta_k / beta_cost``
        (the sign convention of :func:`iclv_jax.wtp`), one row per numerator.

        Args:
            numerator: a parameter name or a list of them.
            denominator: the cost coefficient.
        """
        numerators = [numerator] if isinstance(numerator, str) else list(numerator)
        fn = wtp_functions(numerators, denominator, list(self.parameters()))
        return self.function(fn)

    def to_arviz(self) -> Any:
        """The samples as ``arviz.InferenceData``: a ``posterior`` group with one
        variable per free parameter, ``sample_stats`` with ``diverging``; the
        formulation, priors, sampler and draws as attributes of both.  ``ImportError``
        with the pip command when ArviZ is not installed."""
        attrs = {
            "formulation": self.formulation,
            "priors": self.priors,
            "sampler": self.sampler,
            "draws": self.draws,
        }
        return inference_data(self.samples, self.diverging, attrs)

    def save(self, path: str | os.PathLike) -> Path:
        """Write one ``.npz`` file at ``path`` (:mod:`iclv_jax.bayes.storage`); returns
        the path.  A model with a custom Python utility term cannot be written: save
        ``dataclasses.replace(posterior, model=None)`` then."""
        stored = {name: getattr(self, name) for name in (*_JSON_FIELDS, "lv_summary")}
        return write_posterior(path, self.samples, self.diverging, stored, self.model)


def load_posterior(path: str | os.PathLike) -> Posterior:
    """The :class:`Posterior` written by :meth:`Posterior.save` at ``path``
    (``ValueError`` naming the path for a file that is not one)."""
    return Posterior(**read_posterior(path))
