"""Tests for iclv_jax.datasets."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import refused
from scipy.special import ndtr, softmax

from iclv_jax.data import prepare_data
from iclv_jax.datasets import beverage, drug_choice, drug_choice_path
from iclv_jax.layout import build_layout
from iclv_jax.spec import BinaryProbit, MultinomialLogit, OrderedProbitChoice

CHOICES = ("probit", "logit", "ordered")
CHOICE_COLUMN = {"probit": "buy", "logit": "choice", "ordered": "likelihood"}
CHOICE_VALUES = {"probit": {0, 1}, "logit": {1, 2, 3}, "ordered": {1, 2, 3, 4, 5}}
ITEMS = ("hc1", "hc2", "hc3", "hc4", "pb1", "pb2", "pb3", "pi1", "pi2", "pi3")
DRUG_DATA = drug_choice_path()
needs_drug_data = pytest.mark.skipif(not DRUG_DATA.is_file(), reason=f"{DRUG_DATA} absent")


def names_by_rule(model) -> set[str]:
    """Every parameter name of ``model``, from the naming rules of the spec's docs."""
    names = set()
    for lv in model.latent_variables:
        names |= {f"gamma_{m}_to_{lv.name}" for m in lv.predictors}
        names |= {f"b_{c}_to_{lv.name}" for c in lv.covariates}
    for ind in model.indicators:
        names |= {f"lambda_{ind.name}"} | {f"tau_{ind.name}_{j}" for j in range(1, ind.levels)}
    choice = model.choice
    if isinstance(choice, MultinomialLogit):
        for alt in choice.alternatives:
            u = alt.utility
            names |= {f"asc_{alt.name}"} if alt.asc else set()
            names |= {f"asc_{c}" for c in u.constants} | {f"beta_{a}" for a in u.attributes}
            lvs = u.lvs
            names |= (
                set(lvs.values())
                if isinstance(lvs, dict)
                else {f"theta_{lv}_{alt.name}" for lv in lvs}
            )
        return names
    u = choice.utility
    names |= {f"asc_{c}" for c in u.constants} | {f"beta_{a}" for a in u.attributes}
    names |= {f"theta_{lv}" for lv in u.lvs}
    if isinstance(choice, OrderedProbitChoice):
        names |= {f"tau_{choice.choice}_{j}" for j in range(1, choice.levels)}
    return names


def model_columns(model) -> set[str]:
    columns = {model.person_id, model.choice.choice, *model.covariates}
    columns |= {ind.name for ind in model.indicators}
    utilities = (
        [alt.utility for alt in model.choice.alternatives]
        if isinstance(model.choice, MultinomialLogit)
        else [model.choice.utility]
    )
    for u in utilities:
        columns |= set(u.attributes.values()) | {c for c in u.constants.values() if c}
    return columns


def person_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby("id", sort=True).first()


def lv_draws(people: pd.DataFrame, truth: dict, n_draws: int, seed: int) -> dict:
    """``(N, R)`` draws of each LV given the person covariates, from the truth."""
    rng = np.random.default_rng(seed)
    shape = (len(people), n_draws)
    age = people["age"].to_numpy()[:, None]
    female = people["female"].to_numpy()[:, None]
    hc = (
        truth["b_age_to_health_concern"] * age
        + truth["b_female_to_health_concern"] * female
        + rng.standard_normal(shape)
    )
    pb = truth["gamma_health_concern_to_perceived_benefit"] * hc + rng.standard_normal(shape)
    pi = truth["gamma_perceived_benefit_to_purchase_intention"] * pb + rng.standard_normal(shape)
    return {"health_concern": hc, "perceived_benefit": pb, "purchase_intention": pi}


def ordered_probs(index: np.ndarray, taus) -> np.ndarray:
    """``P(y = j) = Phi(tau_j - index) - Phi(tau_{j-1} - index)`` on a new last axis."""
    cuts = np.concatenate([[-np.inf], taus, [np.inf]])
    return np.diff(ndtr(cuts - index[..., None]), axis=-1)


def implied_choice_probs(df: pd.DataFrame, choice: str, truth: dict) -> np.ndarray:
    """Per row, the probability of each outcome averaged over the LV distribution."""
    people = person_rows(df)
    pi = lv_draws(people, truth, 40, seed=123)["purchase_intention"]
    pi = pi[np.searchsorted(people.index.to_numpy(), df["id"].to_numpy())]  # (rows, R)
    col = lambda name: df[name].to_numpy(dtype=float)[:, None]  # noqa: E731
    if choice == "probit":
        v = (
            truth["asc_sugar"] * col("sugar")
            + truth["asc_sugar_free"] * col("sugar_free")
            + truth["beta_price"] * col("price")
            + truth["beta_health_label"] * col("health_label")
            + truth["theta_purchase_intention"] * pi
        )
        p_buy = ndtr(v).mean(axis=1)
        return np.stack([1 - p_buy, p_buy], axis=1)
    if choice == "logit":
        v = [
            truth[f"asc_{p}"]
            + truth["beta_price"] * col(f"price_{p}")
            + truth["beta_health_label"] * col(f"health_label_{p}")
            + truth[f"theta_purchase_intention_{p}"] * pi
            for p in ("sugar", "sugar_free")
        ]
        return softmax(np.stack([*v, np.zeros_like(pi)], axis=-1), axis=-1).mean(axis=1)
    v = (
        truth["beta_price"] * col("price")
        + truth["beta_health_label"] * col("health_label")
        + truth["beta_sugar"] * col("sugar")
        + truth["theta_purchase_intention"] * pi
    )
    taus = [truth[f"tau_likelihood_{j}"] for j in range(1, 5)]
    return ordered_probs(v, taus).mean(axis=1)


@pytest.fixture(scope="module")
def large():
    return {
        choice: beverage(n_people=5000, n_situations=10, seed=7, choice=choice)
        for choice in CHOICES
    }


@pytest.mark.parametrize("choice", CHOICES)
def test_beverage_layout_of_rows(choice):
    df, model, _ = beverage(n_people=40, n_situations=6, seed=1, choice=choice)
    assert len(df) == 40 * 6
    assert model_columns(model) <= set(df.columns)
    assert isinstance(
        model.choice,
        {"probit": BinaryProbit, "logit": MultinomialLogit, "ordered": OrderedProbitChoice}[choice],
    )
    assert model.person_id == "id"
    assert df["id"].value_counts().to_dict() == {i: 6 for i in range(1, 41)}
    assert (df.groupby("id")["situation"].apply(list) == [list(range(1, 7))] * 40).all()
    person_level = ["age", "female", *ITEMS]
    assert (df.groupby("id")[person_level].nunique() == 1).all().all()
    assert df[list(ITEMS)].isin(range(1, 6)).all().all()
    assert set(df["female"]) <= {0, 1}
    assert df["age"].between(-2.0, 2.1).all()
    assert set(df[CHOICE_COLUMN[choice]]) <= CHOICE_VALUES[choice]
    prices = df.filter(regex="^price").to_numpy()
    assert prices.size and ((prices >= 1000) & (prices <= 5000) & (prices % 10 == 0)).all()
    labels = df.filter(regex="^health_label").to_numpy()
    assert set(np.unique(labels)) <= {0, 1}
    if choice != "logit":
        assert (df["sugar"] + df["sugar_free"] == 1).all()
        assert set(df["sugar"]) == {0, 1}


@pytest.mark.parametrize("choice", CHOICES)
def test_truth_names_every_free_parameter(choice):
    df, model, truth = beverage(n_people=60, n_situations=3, seed=2, choice=choice)
    assert set(truth) == names_by_rule(model)
    space, _ = build_layout(model, prepare_data(model, df))
    assert set(truth) == set(space.free_names)
    assert all(np.isfinite(v) for v in truth.values())


def test_truth_values_are_sensible():
    _, _, truth = beverage(n_people=5, choice="probit")
    loadings = [truth[f"lambda_{item}"] for item in ITEMS]
    assert min(loadings) >= 0.8 and max(loadings) <= 1.5 and len(set(loadings)) > 3
    for item in ITEMS:
        taus = [truth[f"tau_{item}_{j}"] for j in range(1, 5)]
        assert np.all(np.diff(taus) > 0)
    assert truth["beta_price"] == pytest.approx(-0.0004)
    assert truth["theta_purchase_intention"] == pytest.approx(0.6)


@pytest.mark.parametrize("choice", CHOICES)
def test_choice_shares_match_truth(large, choice):
    df, _, truth = large[choice]
    observed = df[CHOICE_COLUMN[choice]].to_numpy()
    implied = implied_choice_probs(df, choice, truth)
    outcomes = sorted(CHOICE_VALUES[choice])
    shares = np.array([(observed == k).mean() for k in outcomes])
    np.testing.assert_allclose(shares, implied.mean(axis=0), atol=0.015)
    assert shares.min() > 0.1
    # the price effect: shares among the cheaper and the dearer half separately
    price = df["price" if choice != "logit" else "price_sugar"].to_numpy()
    for half in (price <= 3000, price > 3000):
        np.testing.assert_allclose(
            [(observed[half] == k).mean() for k in outcomes], implied[half].mean(axis=0), atol=0.02
        )


def test_buy_share_in_range_and_price_lowers_it(large):
    df, _, _ = large["probit"]
    assert 0.3 < df["buy"].mean() < 0.7
    cheap = df.loc[df["price"] <= 2000, "buy"].mean()
    dear = df.loc[df["price"] >= 4000, "buy"].mean()
    assert cheap - dear > 0.2


def test_indicators_match_truth(large):
    df, model, truth = large["probit"]
    people = person_rows(df)
    eta = lv_draws(people, truth, 20, seed=99)
    for ind in model.indicators:
        taus = [truth[f"tau_{ind.name}_{j}"] for j in range(1, 5)]
        implied = ordered_probs(truth[f"lambda_{ind.name}"] * eta[ind.lv], taus)
        shares = [(people[ind.name] == j).mean() for j in range(1, 6)]
        np.testing.assert_allclose(shares, implied.mean(axis=(0, 1)), atol=0.02)
    hc_mean = people[["hc1", "hc2", "hc3", "hc4"]].mean(axis=1)
    assert np.sign(np.corrcoef(hc_mean, people["age"])[0, 1]) == np.sign(
        truth["b_age_to_health_concern"]
    )
    assert np.corrcoef(hc_mean, people["age"])[0, 1] > 0.15
    assert np.corrcoef(hc_mean, people["female"])[0, 1] > 0.05
    pi_mean = people[["pi1", "pi2", "pi3"]].mean(axis=1)
    assert np.corrcoef(pi_mean, df.groupby("id")["buy"].mean())[0, 1] > 0.2


@pytest.mark.parametrize("choice", CHOICES)
def test_reproducible_by_seed(choice):
    a, _, truth_a = beverage(n_people=30, n_situations=4, seed=11, choice=choice)
    b, _, truth_b = beverage(n_people=30, n_situations=4, seed=11, choice=choice)
    c, _, _ = beverage(n_people=30, n_situations=4, seed=12, choice=choice)
    pd.testing.assert_frame_equal(a, b)
    assert truth_a == truth_b
    assert not a.equals(c)


def test_defaults_are_the_study_size():
    df, _, _ = beverage()
    assert df["id"].nunique() == 326 and len(df) == 3260


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="probit.*logit.*ordered"):
        beverage(choice="tobit")
    for kwargs in ({"n_people": 0}, {"n_situations": 0}, {"n_situations": True}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            beverage(**kwargs)
    with refused(ValueError, match="n_people"):
        beverage(n_people=2.5)


def test_one_person_one_situation():
    df, model, _ = beverage(n_people=1, n_situations=1, choice="logit")
    assert len(df) == 1
    assert prepare_data(model, df).n_people == 1


@pytest.fixture(scope="module")
def drug():
    return drug_choice()


@needs_drug_data
def test_drug_choice_sizes_and_names(drug):
    df, model, start = drug
    assert len(df) == 10_000 and df["ID"].nunique() == 1000
    assert (df.groupby("ID").size() == 10).all()
    names = names_by_rule(model)
    assert len(names) == 37
    assert set(start) == names
    space, _ = build_layout(model, prepare_data(model, df))
    assert space.n_free == 37 and set(space.free_names) == names
    assert model_columns(model) <= set(df.columns)


@needs_drug_data
def test_drug_choice_start_values(drug):
    _, _, start = drug
    assert start["lambda"] == 1.0
    for item in ("quality", "ingredients", "patent", "dominance"):
        assert start[f"lambda_attitude_{item}"] == 1.0
        assert [start[f"tau_attitude_{item}_{j}"] for j in range(1, 5)] == [-2, -1, 1, 2]
    others = {k: v for k, v in start.items() if k.startswith(("beta_", "b_"))}
    assert len(others) == 16 and set(others.values()) == {0.0}


@needs_drug_data
def test_drug_choice_dummies(drug):
    df, model, _ = drug
    alternatives = model.choice.alternatives
    assert [(a.name, a.code, a.asc) for a in alternatives] == [
        (f"alt{j}", j, False) for j in range(1, 5)
    ]
    assert [dict(a.utility.lvs) for a in alternatives] == [{"attitude": "lambda"}] * 2 + [{}] * 2
    labels = alternatives[0].utility.attributes
    assert all(a.utility.attributes.keys() == labels.keys() for a in alternatives)
    for label in labels:  # no coefficient multiplies only zeros
        assert any(df[a.utility.attributes[label]].abs().sum() > 0 for a in alternatives)
    references = {"brand": "Artemis", "country": "USA", "char": "standard"}
    for j in range(1, 5):
        for attribute, reference in references.items():
            dummies = df.filter(regex=f"^{attribute}_[A-Za-z]+_{j}$")
            total = dummies.sum(axis=1) + (df[f"{attribute}_{j}"] == reference)
            assert (total == 1).all()
        assert (df["char_fast_" + str(j)] == (df[f"char_{j}"] == "fast acting")).all()
        assert (df["brand_Novum_" + str(j)] == (df[f"brand_{j}"] == "Novum")).all()
    assert df[["char_double_3", "char_double_4"]].sum().sum() == 0
    assert df["char_double_1"].sum() > 3000


def test_drug_choice_missing_file(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        drug_choice(tmp_path / "nowhere.csv")
    monkeypatch.setenv("ICLV_JAX_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="ICLV_JAX_DATA"):
        drug_choice()


@needs_drug_data
def test_drug_choice_reads_env_folder(tmp_path, monkeypatch):
    pd.read_csv(DRUG_DATA).head(20).to_csv(tmp_path / "drugchoice.csv", index=False)
    monkeypatch.setenv("ICLV_JAX_DATA", str(tmp_path))
    df, _, _ = drug_choice()
    assert len(df) == 20
    assert Path(drug_choice_path()) == tmp_path / "drugchoice.csv"


@needs_drug_data
def test_drug_choice_rejects_unknown_level(tmp_path):
    raw = pd.read_csv(DRUG_DATA).head(5)
    raw.loc[0, "country_3"] = "Atlantis"
    raw.to_csv(tmp_path / "drugchoice.csv", index=False)
    with pytest.raises(ValueError, match="Atlantis"):
        drug_choice(tmp_path / "drugchoice.csv")
