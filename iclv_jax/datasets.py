"""Data sets with a model attached: synthetic data with known truth, and a real one.

:func:`beverage` simulates the beverage study of the project notes (a chain of three
latent variables measured by Likert items and driving repeated purchase choices) and
returns the data, the :class:`~iclv_jax.spec.ICLVModel` that generated it and the
true parameter values under the library's parameter names.  The simulation is plain
numpy, written independently of the likelihood code so that it can test it.

:func:`drug_choice` reads the public drug-choice data of the R package apollo and
returns it with its standard 37-parameter ICLV and the usual starting values.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .spec import (
    Alternative,
    BinaryProbit,
    ICLVModel,
    Indicator,
    LatentVariable,
    MultinomialLogit,
    OrderedProbitChoice,
    Utility,
)

# --- the beverage study --------------------------------------------------------------

BEVERAGE_LVS = (
    LatentVariable("health_concern", covariates=("age", "female")),
    LatentVariable("perceived_benefit", predictors=("health_concern",)),
    LatentVariable("purchase_intention", predictors=("perceived_benefit",)),
)

BEVERAGE_STRUCTURAL = {
    "gamma_health_concern_to_perceived_benefit": 0.7,
    "gamma_perceived_benefit_to_purchase_intention": 0.6,
    "b_age_to_health_concern": 0.5,
    "b_female_to_health_concern": 0.4,
}

LIKERT_LEVELS = 5
BASE_THRESHOLDS = (-1.8, -0.6, 0.5, 1.7)

# indicator -> (LV, true loading, shift of BASE_THRESHOLDS)
BEVERAGE_ITEMS = {
    "hc1": ("health_concern", 1.2, 0.0),
    "hc2": ("health_concern", 0.9, -0.2),
    "hc3": ("health_concern", 1.5, 0.3),
    "hc4": ("health_concern", 0.8, 0.1),
    "pb1": ("perceived_benefit", 1.0, -0.3),
    "pb2": ("perceived_benefit", 1.3, 0.2),
    "pb3": ("perceived_benefit", 0.85, 0.0),
    "pi1": ("purchase_intention", 1.4, 0.1),
    "pi2": ("purchase_intention", 1.1, -0.1),
    "pi3": ("purchase_intention", 0.95, 0.25),
}

BEVERAGE_CHOICE = {
    "probit": {
        "asc_sugar": 1.0,
        "asc_sugar_free": 1.3,
        "beta_price": -0.0004,
        "beta_health_label": 0.5,
        "theta_purchase_intention": 0.6,
    },
    "logit": {
        "asc_sugar": 1.5,
        "asc_sugar_free": 1.8,
        "beta_price": -0.0004,
        "beta_health_label": 0.5,
        "theta_purchase_intention_sugar": 0.4,
        "theta_purchase_intention_sugar_free": 0.8,
    },
    "ordered": {
        "beta_price": -0.0004,
        "beta_health_label": 0.5,
        "beta_sugar": -0.3,
        "theta_purchase_intention": 0.6,
        "tau_likelihood_1": -2.5,
        "tau_likelihood_2": -1.5,
        "tau_likelihood_3": -0.6,
        "tau_likelihood_4": 0.4,
    },
}

CHOICE_KINDS = tuple(BEVERAGE_CHOICE)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def beverage_indicators() -> tuple[Indicator, ...]:
    """The ten five-point Likert items, ordered probit."""
    return tuple(
        Indicator(name, lv, kind="ordered_probit", levels=LIKERT_LEVELS)
        for name, (lv, _, _) in BEVERAGE_ITEMS.items()
    )


def beverage_measurement_truth() -> dict[str, float]:
    """``lambda_<item>`` and ``tau_<item>_<j> = BASE_THRESHOLDS[j] + shift``."""
    truth = {}
    for name, (_, loading, shift) in BEVERAGE_ITEMS.items():
        truth[f"lambda_{name}"] = loading
        for j, tau in enumerate(BASE_THRESHOLDS, start=1):
            truth[f"tau_{name}_{j}"] = round(tau + shift, 10)
    return truth


def beverage_choice_model(choice: str):
    """The choice part of the beverage model for ``choice`` in :data:`CHOICE_KINDS`."""
    if choice == "probit":
        return BinaryProbit(
            choice="buy",
            utility=Utility(
                attributes={"price": "price", "health_label": "health_label"},
                constants={"sugar": "sugar", "sugar_free": "sugar_free"},
                lvs=["purchase_intention"],
            ),
        )
    if choice == "logit":
        return MultinomialLogit(
            choice="choice",
            alternatives=[
                Alternative(
                    name=product,
                    code=code,
                    asc=True,
                    utility=Utility(
                        attributes={
                            "price": f"price_{product}",
                            "health_label": f"health_label_{product}",
                        },
                        lvs=["purchase_intention"],
                    ),
                )
                for code, product in ((1, "sugar"), (2, "sugar_free"))
            ]
            + [Alternative(name="none", code=3)],
        )
    if choice == "ordered":
        return OrderedProbitChoice(
            choice="likelihood",
            levels=5,
            utility=Utility(
                attributes={"price": "price", "health_label": "health_label", "sugar": "sugar"},
                lvs=["purchase_intention"],
            ),
        )
    raise ValueError(f"choice must be one of {CHOICE_KINDS}, got {choice!r}")


def simulate_lvs(
    lvs, covariates: dict[str, np.ndarray], truth: dict[str, float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``eta_l = sum_m gamma_{m_to_l} eta_m + sum_c b_{c_to_l} x_c + zeta_l``, ``zeta ~ N(0, 1)``.

    ``lvs`` must list predictors before the LVs they predict.
    """
    n = len(next(iter(covariates.values())))
    eta: dict[str, np.ndarray] = {}
    for lv in lvs:
        value = rng.standard_normal(n)
        for upstream in lv.predictors:
            value = value + truth[f"gamma_{upstream}_to_{lv.name}"] * eta[upstream]
        for cov in lv.covariates:
            value = value + truth[f"b_{cov}_to_{lv.name}"] * covariates[cov]
        eta[lv.name] = value
    return eta


def ordered_response(index: np.ndarray, thresholds, rng: np.random.Generator) -> np.ndarray:
    """``y = 1 + #{j : tau_j < index + eps}``, ``eps ~ N(0, 1)``, so that
    ``P(y = j) = Phi(tau_j - index) - Phi(tau_{j-1} - index)``."""
    latent = index + rng.standard_normal(index.shape)
    return 1 + (latent[..., None] > np.asarray(thresholds)).sum(axis=-1)


def _people(n_people: int, rng: np.random.Generator) -> pd.DataFrame:
    """Person ids ``1..N``, ``age = (years - 45) / 15`` with years uniform on 18..75,
    and ``female`` Bernoulli(1/2)."""
    years = rng.integers(18, 76, size=n_people)
    return pd.DataFrame(
        {
            "id": np.arange(1, n_people + 1),
            "age": (years - 45) / 15.0,
            "female": rng.integers(0, 2, size=n_people),
        }
    )


def _prices(shape, rng: np.random.Generator) -> np.ndarray:
    """Prices uniform on 1,000..5,000 in steps of 10 (raw currency units)."""
    return 10.0 * rng.integers(100, 501, size=shape)


def _simulate_probit(rows: pd.DataFrame, intention: np.ndarray, truth, rng) -> pd.DataFrame:
    """One product per situation; ``buy = 1[V + eps > 0]``, ``eps ~ N(0, 1)``,
    ``V = asc_sugar sugar + asc_sugar_free sugar_free + beta_price price
    + beta_health_label health_label + theta_purchase_intention PI``."""
    rows = _one_product(rows, rng)
    v = (
        _one_product_utility(rows, truth)
        + truth["asc_sugar"] * rows["sugar"]
        + truth["asc_sugar_free"] * rows["sugar_free"]
        + truth["theta_purchase_intention"] * intention
    )
    return rows.assign(buy=(v + rng.standard_normal(len(rows)) > 0).astype(np.int64))


def _simulate_ordered(rows: pd.DataFrame, intention: np.ndarray, truth, rng) -> pd.DataFrame:
    """One product per situation; ``likelihood`` in ``1..5`` is an ordered probit on
    ``V = beta_price price + beta_health_label health_label + beta_sugar sugar
    + theta_purchase_intention PI`` with thresholds ``tau_likelihood_j``."""
    rows = _one_product(rows, rng)
    v = (
        _one_product_utility(rows, truth)
        + truth["beta_sugar"] * rows["sugar"]
        + truth["theta_purchase_intention"] * intention
    )
    taus = [truth[f"tau_likelihood_{j}"] for j in range(1, 5)]
    return rows.assign(likelihood=ordered_response(v.to_numpy(), taus, rng))


def _one_product(rows: pd.DataFrame, rng) -> pd.DataFrame:
    sugar = rng.integers(0, 2, size=len(rows))
    return rows.assign(
        sugar=sugar,
        sugar_free=1 - sugar,
        price=_prices(len(rows), rng),
        health_label=rng.integers(0, 2, size=len(rows)),
    )


def _one_product_utility(rows: pd.DataFrame, truth) -> pd.Series:
    return truth["beta_price"] * rows["price"] + truth["beta_health_label"] * rows["health_label"]


def _simulate_logit(rows: pd.DataFrame, intention: np.ndarray, truth, rng) -> pd.DataFrame:
    """Both products shown; ``choice = argmax_j (V_j + e_j)`` coded 1 (sugar), 2 (sugar
    free), 3 (none), ``e_j`` Gumbel, ``V_none = 0`` and for product ``p``
    ``V_p = asc_p + beta_price price_p + beta_health_label health_label_p
    + theta_purchase_intention_p PI``."""
    n = len(rows)
    columns, utilities = {}, []
    for product in ("sugar", "sugar_free"):
        price = _prices(n, rng)
        label = rng.integers(0, 2, size=n)
        columns[f"price_{product}"] = price
        columns[f"health_label_{product}"] = label
        utilities.append(
            truth[f"asc_{product}"]
            + truth["beta_price"] * price
            + truth["beta_health_label"] * label
            + truth[f"theta_purchase_intention_{product}"] * intention
        )
    utilities.append(np.zeros(n))
    noisy = np.stack(utilities, axis=1) + rng.gumbel(size=(n, 3))
    return rows.assign(**columns, choice=1 + noisy.argmax(axis=1))


_SIMULATORS = {"probit": _simulate_probit, "logit": _simulate_logit, "ordered": _simulate_ordered}


def beverage(
    n_people: int = 326, n_situations: int = 10, seed: int = 0, choice: str = "probit"
) -> tuple[pd.DataFrame, ICLVModel, dict[str, float]]:
    """Simulate the beverage study: ``(df, model, truth)``.

    Structural chain ``health_concern -> perceived_benefit -> purchase_intention``
    with ``health_concern = b_age age + b_female female + zeta`` and unit-variance
    errors; ten ordered-probit Likert items (``hc1..hc4``, ``pb1..pb3``, ``pi1..pi3``)
    with ``P(I = j) = Phi(tau_j - lambda eta) - Phi(tau_{j-1} - lambda eta)``; and
    ``n_situations`` choices per person, all driven by the same purchase intention
    ``PI``:

    - ``"probit"``: binary ``buy`` of one shown product (``sugar``/``sugar_free``,
      ``price`` in 1,000..5,000, ``health_label``);
    - ``"logit"``: MNL ``choice`` among sugar (1), sugar free (2) and none (3), each
      product with its own ``price_<p>`` and ``health_label_<p>``;
    - ``"ordered"``: five-level purchase ``likelihood`` of one shown product.

    Rows are ``id`` (1..N) by ``situation`` (1..T); person-level columns (``age``,
    ``female``, the items) repeat on every row of a person.  ``truth`` holds the true
    value of every free parameter of ``model``.  The same ``seed`` gives the same data.
    """
    n_people = _check_count("n_people", n_people)
    n_situations = _check_count("n_situations", n_situations)
    choice_model = beverage_choice_model(choice)
    truth = {**BEVERAGE_STRUCTURAL, **beverage_measurement_truth(), **BEVERAGE_CHOICE[choice]}

    rng = np.random.default_rng(seed)
    people = _people(n_people, rng)
    eta = simulate_lvs(
        BEVERAGE_LVS, {c: people[c].to_numpy() for c in ("age", "female")}, truth, rng
    )
    for name, (lv, _, _) in BEVERAGE_ITEMS.items():
        taus = [truth[f"tau_{name}_{j}"] for j in range(1, LIKERT_LEVELS)]
        people[name] = ordered_response(truth[f"lambda_{name}"] * eta[lv], taus, rng)

    rows = people.loc[people.index.repeat(n_situations)].reset_index(drop=True)
    rows.insert(1, "situation", np.tile(np.arange(1, n_situations + 1), n_people))
    intention = np.repeat(eta["purchase_intention"], n_situations)
    df = _SIMULATORS[choice](rows, intention, truth, rng)
    model = ICLVModel(
        latent_variables=BEVERAGE_LVS,
        indicators=beverage_indicators(),
        choice=choice_model,
        person_id="id",
    )
    return df, model, truth


# --- the drug-choice data (apollo) ---------------------------------------------------

DRUG_FILE = "drugchoice.csv"
DRUG_INDICATORS = (
    "attitude_quality",
    "attitude_ingredients",
    "attitude_patent",
    "attitude_dominance",
)
DRUG_COVARIATES = ("regular_user", "university_educated", "over_50")
DRUG_ALTERNATIVES = (1, 2, 3, 4)
DRUG_BRANDED = (1, 2)
# attribute -> (label, value); the reference levels Artemis, USA and "standard" have none
DRUG_DUMMIES = {
    "brand": {
        "Novum": "Novum",
        "BestValue": "BestValue",
        "Supermarket": "Supermarket",
        "PainAway": "PainAway",
    },
    "country": {
        "Switzerland": "Switzerland",
        "Denmark": "Denmark",
        "India": "India",
        "Russia": "Russia",
        "Brazil": "Brazil",
    },
    "char": {"fast": "fast acting", "double": "double strength"},
}
DRUG_REFERENCE = {"brand": "Artemis", "country": "USA", "char": "standard"}
DRUG_THRESHOLD_STARTS = (-2.0, -1.0, 1.0, 2.0)


def drug_choice_path() -> Path:
    """``$ICLV_JAX_DATA/drugchoice.csv`` if that variable is set, else
    ``<repo root>/../shared/data/drugchoice.csv`` (repo root: the parent of the package)."""
    folder = os.environ.get("ICLV_JAX_DATA")
    if folder:
        return Path(folder) / DRUG_FILE
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / DRUG_FILE


def drug_dummies(raw: pd.DataFrame) -> pd.DataFrame:
    """Add ``<attribute>_<label>_<j>`` = ``1[<attribute>_j == value]`` for every dummy of
    :data:`DRUG_DUMMIES` and alternative ``j``.

    Raises ValueError on a level that is neither a dummy nor the reference.
    """
    columns = {}
    for attribute, levels in DRUG_DUMMIES.items():
        known = {*levels.values(), DRUG_REFERENCE[attribute]}
        for j in DRUG_ALTERNATIVES:
            values = raw[f"{attribute}_{j}"]
            unknown = sorted(set(values.unique()) - known)
            if unknown:
                raise ValueError(
                    f"column {attribute}_{j} has unexpected levels {unknown}; "
                    f"expected {sorted(known)}"
                )
            for label, value in levels.items():
                columns[f"{attribute}_{label}_{j}"] = (values == value).astype(np.int64)
    return raw.assign(**columns)


def drug_choice_model() -> ICLVModel:
    """The standard ICLV on the drug-choice data (37 free parameters).

    ``attitude = b' (regular_user, university_educated, over_50) + zeta``; four
    ordered-logit indicators with loadings ``lambda_<item>`` and thresholds
    ``tau_<item>_1..4``; MNL on ``best`` over ``alt1..alt4`` with generic
    ``beta_brand_*``, ``beta_country_*``, ``beta_char_*``, ``beta_risk`` (side effects),
    ``beta_price`` and ``lambda * attitude`` in the branded alternatives 1 and 2.
    """
    alternatives = []
    for j in DRUG_ALTERNATIVES:
        attributes = {
            f"{attribute}_{label}": f"{attribute}_{label}_{j}"
            for attribute, levels in DRUG_DUMMIES.items()
            for label in levels
        }
        attributes.update(risk=f"side_effects_{j}", price=f"price_{j}")
        lvs = {"attitude": "lambda"} if j in DRUG_BRANDED else {}
        alternatives.append(
            Alternative(name=f"alt{j}", code=j, utility=Utility(attributes=attributes, lvs=lvs))
        )
    return ICLVModel(
        latent_variables=[LatentVariable("attitude", covariates=DRUG_COVARIATES)],
        indicators=[
            Indicator(name, "attitude", kind="ordered_logit", levels=5) for name in DRUG_INDICATORS
        ],
        choice=MultinomialLogit(choice="best", alternatives=alternatives),
        person_id="ID",
    )


def drug_choice_start() -> dict[str, float]:
    """Betas and b's 0, ``lambda`` and every loading 1, thresholds -2, -1, 1, 2."""
    start = {f"b_{cov}_to_attitude": 0.0 for cov in DRUG_COVARIATES}
    for name in DRUG_INDICATORS:
        start[f"lambda_{name}"] = 1.0
        for j, tau in enumerate(DRUG_THRESHOLD_STARTS, start=1):
            start[f"tau_{name}_{j}"] = tau
    for attribute, levels in DRUG_DUMMIES.items():
        for label in levels:
            start[f"beta_{attribute}_{label}"] = 0.0
    start["beta_risk"] = start["beta_price"] = 0.0
    start["lambda"] = 1.0
    return start


def drug_choice(
    path: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, ICLVModel, dict[str, float]]:
    """The apollo drug-choice data with dummy columns, its ICLV and starting values.

    ``path`` defaults to :func:`drug_choice_path`.  Raises FileNotFoundError naming the
    place looked in when the file is absent.
    """
    path = Path(path) if path is not None else drug_choice_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"drug-choice data not found at {path}; pass its path, or set ICLV_JAX_DATA "
            f"to the folder holding {DRUG_FILE}"
        )
    return drug_dummies(pd.read_csv(path)), drug_choice_model(), drug_choice_start()


def beverage_one_lv(n_people=326, seed=0):
    """The beverage study's one-LV variant: ``purchase_intention`` alone, with its three
    items ``pi1..pi3`` and the binary probit purchases.

    The data are the full three-LV simulation.  Integrating out health concern and
    perceived benefit, ``PI = b' x + (zeta_PI + g2 zeta_PB + g1 g2 zeta_HC)`` (reduced
    form: ``b = g1 g2 b_HC``, a normal error of variance ``s^2 = 1 + g2^2 (1 + g1^2)``
    independent of ``x``), and ``pi1..pi3`` and the choices depend on the other LVs only
    through ``PI``: a correctly specified one-LV ICLV with covariates ``age``,
    ``female``.  ``params`` are its true values in the unit-variance normalisation
    (``b / s``, loadings and ``theta`` times ``s``).
    """
    df, _, truth = beverage(n_people=n_people, seed=seed, choice="probit")
    g1 = truth["gamma_health_concern_to_perceived_benefit"]
    g2 = truth["gamma_perceived_benefit_to_purchase_intention"]
    s = math.sqrt(1 + g2**2 * (1 + g1**2))
    model = ICLVModel(
        [LatentVariable("purchase_intention", covariates=("age", "female"))],
        [item for item in beverage_indicators() if item.name.startswith("pi")],
        beverage_choice_model("probit"),
        person_id="id",
    )
    params = {
        f"b_{c}_to_purchase_intention": truth[f"b_{c}_to_health_concern"] * g1 * g2 / s
        for c in ("age", "female")
    }
    for k in (1, 2, 3):
        params[f"lambda_pi{k}"] = truth[f"lambda_pi{k}"] * s
        params.update({f"tau_pi{k}_{j}": truth[f"tau_pi{k}_{j}"] for j in range(1, 5)})
    for name in ("asc_sugar", "asc_sugar_free", "beta_price", "beta_health_label"):
        params[name] = truth[name]
    params["theta_purchase_intention"] = truth["theta_purchase_intention"] * s
    return df, model, params
