"""Adding a choice kind is one component file and one analytic-score file (issue 14).

A binary logit, written here outside the library the way a kind file in
``iclv_jax/components/`` and its score file in ``iclv_jax/analytic/`` are written, works
with the likelihood, the Hessian, the hand-written scores, model files, prediction and
estimation, with no edit anywhere else.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import analytic_study, assert_scores_match

import iclv_jax as ij
from iclv_jax.analytic.registry import register
from iclv_jax.columns import read_binary, refuse_constant
from iclv_jax.components import CHOICE_KINDS, AbstractChoice, ChoiceModel
from iclv_jax.components.links import along_draws
from iclv_jax.modeldict import model_from_dict, model_to_dict


# --- the component file ---------------------------------------------------------------
class BinaryLogitChoice(AbstractChoice):
    """``log P(y_t) = log F((2 y_t - 1) V_t)``, ``F`` the logistic CDF."""

    def log_prob(self, base, eta, chosen, available):
        v = self.utilities(base, eta)[:, 0]
        return jax.nn.log_sigmoid(jnp.where(along_draws(chosen == 1, eta), v, -v))

    def probabilities(self, base, eta, available):
        v = self.utilities(base, eta)[:, 0]
        return jnp.stack([jax.nn.sigmoid(-v), jax.nn.sigmoid(v)], axis=1)


@dataclass(frozen=True)
class BinaryLogit(ChoiceModel):
    kind = "binary_logit_from_a_test"
    kernel = BinaryLogitChoice

    choice: str
    utility: ij.Utility
    scale: bool | str = False

    def utilities(self):
        return {"": self.utility}

    def outcome_labels(self):
        return [0, 1]

    def encode(self, df, person_id):
        chosen = read_binary(df, self.choice, person_id, "choice").astype(np.int64)
        return chosen, np.ones((len(df), 1), dtype=bool)

    def check_identified(self, chosen, available):
        refuse_constant(self.choice, "binary choice", chosen, "not identified")

    def null_loglike(self, chosen, available):
        return float(len(chosen) * np.log(0.5))


# --- the analytic-score file ----------------------------------------------------------
@register(BinaryLogitChoice)
def binary_logit(module, v, chosen, available, mask, log_prob):
    """``d log F(s V) / d V = s F(-s V)``."""
    sign = jnp.where(chosen == 1, 1.0, -1.0)
    return (sign * jax.nn.sigmoid(-sign * v[:, 0]))[:, None], {}


# --- the tests ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def study():
    df, model = analytic_study("ordered_probit", "binary_probit", n_people=40, seed=4)
    probit = model.choice
    logit = BinaryLogit(probit.choice, probit.utility)
    return df, ij.ICLVModel(model.latent_variables, model.indicators, logit, fixed=model.fixed)


def test_the_kind_registers_itself():
    assert CHOICE_KINDS["binary_logit_from_a_test"] is BinaryLogit


def test_the_choice_part_is_the_closed_form_logit(study):
    """With the LV coefficients at 0, ``LL = LL_measurement + sum_t log F(s_t x_t'b)``
    (every other parameter at its default, the same in both models)."""
    df, model = study
    problem = ij.Problem(model, df, draws=ij.Halton(8, seed=2))
    params = {
        name: 0.3 for name in problem.space.free_names if name.startswith(("beta_", "asc_"))
    } | {"theta_a": 0.0, "theta_b": 0.0}
    measurement = ij.Problem(
        ij.ICLVModel(model.latent_variables, model.indicators, fixed=model.fixed),
        df,
        draws=ij.Halton(8, seed=2),
    )
    index = 0.3 * df["z"].to_numpy() + 0.3
    sign = np.where(df["buy"].to_numpy() == 1, 1.0, -1.0)
    closed_form = float(-np.log1p(np.exp(-sign * index)).sum())
    measured = measurement.loglike()  # the same default measurement parameters
    np.testing.assert_allclose(problem.loglike(params) - measured, closed_form, rtol=1e-10)


def test_hand_written_scores_equal_autodiff(study):
    df, model = study
    problem = ij.Problem(model, df, draws=ij.Halton(8, seed=2))
    u = problem.free_internal({"theta_a": 0.4, "theta_b": -0.7, "beta_z": 0.5})
    assert_scores_match(problem, u)
    hessian = np.asarray(problem.likelihood.hessian(u))
    reference = np.asarray(jax.hessian(problem.likelihood.loglike)(u))
    np.testing.assert_allclose(hessian, reference, rtol=1e-7, atol=1e-7)


def test_model_dicts_round_trip_and_estimation_and_prediction_work(study):
    df, model = study
    assert model_from_dict(model_to_dict(model)) == model
    assert model_to_dict(model)["choice"]["kind"] == "binary_logit_from_a_test"
    results = ij.estimate(model, df, draws=ij.Halton(8, seed=2), verbose=False)
    assert np.isfinite(results.loglike) and results.estimates["beta_z"] != 0.0
    shares = ij.predict(results, model, df)
    assert list(shares.columns) == [0, 1]
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)
