"""Plots of posterior LVs and of observed against predicted indicator and choice shares:
the figures hold one panel per LV or indicator, the bars' heights are the data's shares
and the predictions (checked against a closed form)."""

import dataclasses

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import iclv_jax as ij
from iclv_jax import datasets, plots

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DRAWS = ij.Halton(200, seed=1)


@pytest.fixture(scope="module")
def one_lv():
    """The one-LV beverage model at its true values, 40 people."""
    df, model, params = datasets.beverage_one_lv(n_people=40, seed=5)
    return df, model, params


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _heights(ax):
    """Bar heights of an axis: the observed bars first, then the predicted."""
    return np.array([patch.get_height() for patch in ax.patches])


def test_lv_posteriors_has_a_panel_per_lv_and_counts_every_person(one_lv):
    df, model, params = one_lv
    posterior = ij.posterior_lv(params, model, df, draws=DRAWS)
    fig = plots.lv_posteriors(posterior, bins=10)
    assert len(fig.axes) == 1
    assert _heights(fig.axes[0]).sum() == len(posterior) == df["id"].nunique()
    three = pd.DataFrame(
        {f"{lv}_{stat}": np.arange(7.0) for lv in "abc" for stat in ("mean", "sd")}
    )
    fig = plots.lv_posteriors(three, bins=4)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["a", "b", "c"]
    assert all(_heights(ax).sum() == 7 for ax in fig.axes)
    with pytest.raises(ValueError, match="_mean"):
        plots.lv_posteriors(pd.DataFrame({"x": [1.0]}))


def test_indicator_shares_bars_are_the_data_and_the_closed_form(one_lv):
    df, model, params = one_lv
    fig = plots.indicator_shares(params, model, df, draws=DRAWS)
    people = df.drop_duplicates("id")
    predicted = plots.predicted_indicator_shares(params, model, df, draws=DRAWS)
    assert len(fig.axes) == 3
    for ax, item in zip(fig.axes, ("pi1", "pi2", "pi3"), strict=True):
        heights = _heights(ax)
        assert ax.get_title() == item and len(heights) == 2 * 5
        observed = [np.mean(people[item] == level) for level in range(1, 6)]
        assert heights[:5] == pytest.approx(observed, abs=1e-15)
        assert heights[5:] == pytest.approx(predicted.loc[item, "predicted"].to_numpy())
    # closed form: eta = b'x + zeta, P(I <= j | x) = Phi((tau_j - lambda b'x) / sqrt(1 + lambda^2))
    mean = sum(
        params[f"b_{c}_to_purchase_intention"] * people[c].to_numpy() for c in ("age", "female")
    )
    for item in ("pi1", "pi2", "pi3"):
        lam = params[f"lambda_{item}"]
        taus = [-np.inf, *(params[f"tau_{item}_{j}"] for j in range(1, 5)), np.inf]
        cdf = norm.cdf((np.array(taus)[None, :] - lam * mean[:, None]) / np.hypot(1, lam))
        exact = np.diff(cdf, axis=1).mean(axis=0)
        assert predicted.loc[item, "predicted"].to_numpy() == pytest.approx(exact, abs=2e-3)


def test_choice_shares_binary_and_mnl(one_lv):
    df, model, params = one_lv
    fig = plots.choice_shares(params, model, df, draws=DRAWS)
    heights = _heights(fig.axes[0])
    assert len(fig.axes) == 1 and len(heights) == 4
    assert heights[:2] == pytest.approx([1 - df["buy"].mean(), df["buy"].mean()], abs=1e-15)
    shares = ij.market_shares(params, model, df, draws=DRAWS)
    assert heights[2:] == pytest.approx(shares[[0, 1]].to_numpy(), abs=1e-15)

    logit, _, _ = datasets.beverage(n_people=30, n_situations=4, seed=2, choice="logit")
    mnl = dataclasses.replace(model, choice=datasets.beverage_choice_model("logit"))
    mnl_params = {
        **{k: v for k, v in params.items() if not k.startswith(("asc", "beta"))},
        "asc_sugar": 0.5,
        "asc_sugar_free": 0.2,
        "beta_price": -3e-4,
        "beta_health_label": 0.3,
        "theta_purchase_intention_sugar": 0.4,
        "theta_purchase_intention_sugar_free": 0.6,
    }
    mnl_params.pop("theta_purchase_intention")
    fig = plots.choice_shares(mnl_params, mnl, logit, draws=ij.Halton(20))
    heights = _heights(fig.axes[0])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["sugar", "sugar_free", "none"]
    assert heights[:3] == pytest.approx([np.mean(logit["choice"] == c) for c in (1, 2, 3)])
    assert heights[3:].sum() == pytest.approx(1.0)
