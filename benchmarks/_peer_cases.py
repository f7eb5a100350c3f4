"""The models of ``peer_biogeme.py``: a registry of cases, each built on demand.

A case is a function returning a :class:`Case`; :data:`CASES` maps its name to that
function.  Adding a model to the peer table is one function and one line in
:data:`CASES` (the Biogeme worker must translate its parts: see
``_peer_export.flat_model``).  The cold-fit child process (``_peer_cold.py``) builds its
case from here by name, so building is part of what a cold fit times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.spec import Alternative, ICLVModel, Indicator, LatentVariable, MultinomialLogit
from iclv_jax.utility import Utility


@dataclass(frozen=True)
class Case:
    """One peer model: the specification, its data, the start values (``None``:
    iclv_jax's defaults), the draws for ``R`` draws per person, a one-line label, and
    Biogeme parameters this case needs (its cold fit and Hessian timing)."""

    model: ICLVModel
    data: pd.DataFrame
    start: dict[str, float] | None
    draws: Callable[[int], ij.Draws]
    label: str
    biogeme_settings: dict[str, str] = field(default_factory=dict)


def drug_choice() -> Case:
    df, model, start = datasets.drug_choice()
    return Case(
        model,
        df,
        start,
        lambda r: ij.ApolloHalton(r),
        "drug choice (apollo): MNL + 4 ordered-logit indicators, 1 LV, N=1000 x 10, "
        "37 parameters, ApolloHalton draws",
    )


def beverage() -> Case:
    df, model, _ = datasets.beverage(n_people=326, seed=0)
    return Case(
        model,
        df,
        None,
        lambda r: ij.Halton(r, seed=0),
        "beverage: binary probit (raw prices) + 10 ordered-probit indicators, 3 chained "
        "LVs, N=326 x 10, 59 parameters, scrambled Halton draws, iclv_jax default starts",
    )


# --- the cross-sectional case --------------------------------------------------------

CROSS_ITEMS = tuple(f"q{k}" for k in range(1, 10))
CROSS_LOADINGS = (1.0, 0.8, 1.2, 0.9, 1.1, 0.7, 1.3, 0.95, 0.85)
CROSS_BASE_THRESHOLDS = (-1.5, -0.5, 0.5, 1.5)
CROSS_ALTERNATIVES = ("car", "bus", "train")  # codes 1, 2, 3; car is the reference


def cross_sectional_model() -> ICLVModel:
    """``attitude = b_age age + b_female female + zeta``; nine 5-level ordered-probit
    items ``q1..q9``; MNL over car/bus/train with generic ``beta_time``, ``beta_cost``,
    ``asc_bus``, ``asc_train`` and ``theta_attitude_<alt>`` in bus and train; one row
    per person (``panel=False``)."""
    alternatives = [
        Alternative(
            name=alt,
            code=code,
            asc=alt != "car",
            utility=Utility(
                attributes={"time": f"time_{alt}", "cost": f"cost_{alt}"},
                lvs=() if alt == "car" else ("attitude",),
            ),
        )
        for code, alt in enumerate(CROSS_ALTERNATIVES, start=1)
    ]
    return ICLVModel(
        latent_variables=[LatentVariable("attitude", covariates=("age", "female"))],
        indicators=[Indicator(q, "attitude", kind="ordered_probit", levels=5) for q in CROSS_ITEMS],
        choice=MultinomialLogit(choice="mode", alternatives=alternatives),
        person_id="id",
        panel=False,
    )


def cross_sectional_truth() -> dict[str, float]:
    """The true values: item ``k``'s thresholds are the base ones shifted by
    ``0.3 (k - 5) / 4`` (from -0.3 to 0.3)."""
    truth = {
        "b_age_to_attitude": 0.5,
        "b_female_to_attitude": -0.4,
        "asc_bus": -0.5,
        "asc_train": 0.3,
        "beta_time": -1.2,
        "beta_cost": -0.3,
        "theta_attitude_bus": 0.6,
        "theta_attitude_train": 0.9,
    }
    for k, (item, loading) in enumerate(zip(CROSS_ITEMS, CROSS_LOADINGS, strict=True)):
        truth[f"lambda_{item}"] = loading
        for j, tau in enumerate(CROSS_BASE_THRESHOLDS, start=1):
            truth[f"tau_{item}_{j}"] = tau + 0.3 * (k - 4) / 4
    return truth


def simulate_cross_sectional(n_people: int, seed: int) -> pd.DataFrame:
    """Simulate :func:`cross_sectional_model` at :func:`cross_sectional_truth`.

    ``age = (years - 45) / 15`` (years uniform on 18..75), ``female`` Bernoulli(1/2),
    ``eta = b' x + zeta``, ``zeta ~ N(0, 1)``; item ``k``: ``1 + #{j : tau_kj <
    lambda_k eta + eps}``, ``eps ~ N(0, 1)``; travel time (hours) uniform on 0.2..1.5
    and cost uniform on 1..8 per alternative; ``mode = argmax_j (V_j + e_j)``, ``e``
    standard Gumbel (codes 1..3).  Deterministic in ``seed``.
    """
    truth = cross_sectional_truth()
    rng = np.random.default_rng(seed)
    years = rng.integers(18, 76, size=n_people)
    df = pd.DataFrame(
        {
            "id": np.arange(1, n_people + 1),
            "age": (years - 45) / 15.0,
            "female": rng.integers(0, 2, size=n_people),
        }
    )
    eta = (
        truth["b_age_to_attitude"] * df["age"].to_numpy()
        + truth["b_female_to_attitude"] * df["female"].to_numpy()
        + rng.standard_normal(n_people)
    )
    for item in CROSS_ITEMS:
        thresholds = [truth[f"tau_{item}_{j}"] for j in range(1, 5)]
        df[item] = datasets.ordered_response(truth[f"lambda_{item}"] * eta, thresholds, rng)
    utilities = []
    for alt in CROSS_ALTERNATIVES:
        df[f"time_{alt}"] = rng.uniform(0.2, 1.5, size=n_people)
        df[f"cost_{alt}"] = rng.uniform(1.0, 8.0, size=n_people)
        v = truth["beta_time"] * df[f"time_{alt}"] + truth["beta_cost"] * df[f"cost_{alt}"]
        if alt != "car":
            v = v + truth[f"asc_{alt}"] + truth[f"theta_attitude_{alt}"] * eta
        utilities.append(v.to_numpy())
    noisy = np.stack(utilities, axis=1) + rng.gumbel(size=(n_people, len(CROSS_ALTERNATIVES)))
    df["mode"] = 1 + noisy.argmax(axis=1)
    return df


def cross_sectional() -> Case:
    return Case(
        cross_sectional_model(),
        simulate_cross_sectional(n_people=5000, seed=18),
        None,
        lambda r: ij.Halton(r, seed=0),
        "cross-sectional (simulated, seed 18): MNL over 3 modes + 9 ordered-probit "
        "indicators, 1 LV, N=5000 x 1 (panel=False), 53 parameters, scrambled Halton "
        "draws, iclv_jax default starts",
        # Biogeme's `automatic` picks its `full` jacfwd Hessian here (its estimate: 1.7
        # GB), which grew past 23 GB and was killed on a 24 GB machine at R=100
        biogeme_settings={"analytical_hessian_mode": "chunked"},
    )


#: name -> builder; the peer table's cases, in this order
CASES: dict[str, Callable[[], Case]] = {
    "drug_choice": drug_choice,
    "beverage": beverage,
    "cross_sectional": cross_sectional,
}
