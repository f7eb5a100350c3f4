"""The choice kernels' closed-form Hessian block (MNL, binary probit), the choice's part
of the structural parameters' products through the LVs, and the per-draw gradients read
off the seeds' tangents give the exact Hessian: equal to ``jax.hessian`` of the
log-likelihood and to the generic path (one seed per private parameter, every seed
through the choice)."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import analytic_study

import iclv_jax as ij
from iclv_jax import datasets
from iclv_jax.hessianplan import hessian_plan


def generic(likelihood):
    """The same likelihood with the generic plan: no closed form, every parameter seeded."""
    plan = hessian_plan(likelihood.layout, likelihood.to_reported, closed_form=False)
    return eqx.tree_at(lambda lik: lik.plan, likelihood, plan)


def assert_exact(problem, u, witness: bool = False):
    """The Hessian equals ``jax.hessian`` (and, with ``witness``, the generic path) to
    1e-8 relative; some parameters take the closed form, and they have no seed."""
    likelihood = problem.likelihood
    plan = likelihood.plan
    closed = np.asarray(plan.closed)
    assert closed.size > 0
    assert not np.asarray(plan.seeds)[:, closed].any()
    dense = np.asarray(jax.hessian(likelihood.loglike)(u))
    got = np.asarray(likelihood.hessian(u))
    scale = np.abs(dense).max()
    np.testing.assert_allclose(got, dense, rtol=0, atol=1e-8 * scale)
    if witness:
        np.testing.assert_allclose(
            got, np.asarray(generic(likelihood).hessian(u)), rtol=0, atol=1e-8 * scale
        )


@pytest.mark.parametrize(
    ("measurement", "choice"), [("ordered_logit", "mnl"), ("ordered_probit", "binary_probit")]
)
def test_hessian_equals_jax_hessian_with_availability_panels_and_lvs(measurement, choice):
    """Two chained LVs in the utilities, a shared LV coefficient, availability columns,
    ragged panels (1 to 4 situations), at a random point."""
    df, model = analytic_study(measurement, choice, n_people=10)
    problem = ij.Problem(model, df, draws=ij.Halton(4, seed=0), chunk_size=5)
    u = 0.4 * np.random.default_rng(3).normal(size=problem.space.n_free)
    assert_exact(problem, u)


def test_mnl_with_a_free_scale_and_the_closed_form_seeds_less():
    """``V = mu (x beta + theta eta)``: the block carries ``mu^2``; the scale itself is
    seeded."""
    df, model = analytic_study("ordered_probit", "mnl", n_people=12, seed=4)
    model = dataclasses.replace(model, choice=dataclasses.replace(model.choice, scale=True))
    problem = ij.Problem(model, df, draws=ij.Halton(5, seed=1), chunk_size=4)
    u = 0.3 * np.random.default_rng(5).normal(size=problem.space.n_free)
    assert_exact(problem, u)
    scale = problem.space.free_names.index("scale_pick")
    assert scale not in np.asarray(problem.likelihood.plan.closed)
    # a seeded choice parameter: the structural seeds go through the choice's utilities
    assert problem.likelihood.plan.lv_seeds.shape[0] == 0


def test_drug_choice_hessian_is_exact_with_fewer_seeds():
    """The drug-choice ICLV (MNL, 4 ordered-logit items, one LV in two utilities) on 25
    people: 14 choice parameters need no seed."""
    df, model, start = datasets.drug_choice()
    df = df[df["ID"].isin(np.unique(df["ID"])[:25])]
    problem = ij.Problem(model, df, draws=ij.ApolloHalton(5), chunk_size=5)
    u = problem.free_internal(start) + 0.1 * np.random.default_rng(0).normal(
        size=problem.space.n_free
    )
    assert_exact(problem, u, witness=True)
    likelihood = problem.likelihood
    assert likelihood.plan.closed.shape[0] == 14
    assert likelihood.plan.seeds.shape[0] < generic(likelihood).plan.seeds.shape[0] - 8
    # the three structural seeds reach the MNL through the LV, none through its utilities
    assert likelihood.plan.choice_seeds.shape[0] == 0
    assert likelihood.plan.lv_seeds.shape[0] == 3
    assert generic(likelihood).plan.lv_seeds.shape[0] == 0
    # the items' 20 parameters take the rows' closed form: no seed goes through a row
    assert likelihood.plan.rows_closed.shape[0] == 20
    assert likelihood.plan.measurement_seeds.shape[0] == 0
    assert likelihood.plan.seeds.shape[0] == 3


def test_structural_products_through_the_lvs_with_mixed_items_shared_thresholds_and_gaps():
    """The structural seeds pass through no term: ordered and continuous items, two
    ordered items sharing one threshold set (a shared, non-structural parameter), a
    location-scale item and missing answers (coded, integrated out) give the exact
    Hessian, equal to the generic path's."""
    df, model = analytic_study("mixed", "mnl", n_people=14, seed=7)
    df["q4"] = df["q1"]
    df.loc[df["id"] % 5 == 0, "q3"] = 9  # a missing-answer code
    items = [
        *(
            dataclasses.replace(ind, missing_codes=(9,)) if ind.name == "q3" else ind
            for ind in model.indicators
        ),
        ij.Indicator("q4", "b", levels=4, threshold_set="q1", location_scale=True),
    ]
    model = dataclasses.replace(model, indicators=items)
    problem = ij.Problem(model, df, draws=ij.Halton(4, seed=2), chunk_size=7)
    u = 0.3 * np.random.default_rng(8).normal(size=problem.space.n_free)
    assert_exact(problem, u, witness=True)
    plan = problem.likelihood.plan
    assert plan.lv_seeds.shape[0] > 0 and plan.choice_seeds.shape[0] == 0
    # every item parameter, the shared thresholds too, takes the rows' closed form
    # (the ordered items' written out, the continuous items' by forward mode)
    names = problem.space.free_names
    in_rows = [
        f
        for f, name in enumerate(names)
        if name.startswith(("lambda_", "tau_", "alpha_", "sigma_"))
    ]
    assert sorted(np.asarray(plan.rows_closed).tolist()) == in_rows
    assert plan.measurement_seeds.shape[0] == 0


def test_lvs_without_structural_parameters_take_the_rows_closed_form_alone():
    """An LV with no covariate: no structural seed at all, the items' parameters in the
    rows' closed form, the choice's in its block; the Hessian is still exact."""
    df, model = analytic_study("ordered_logit", "mnl", n_people=9, seed=3)
    lvs = [dataclasses.replace(lv, covariates=()) for lv in model.latent_variables]
    model = dataclasses.replace(model, latent_variables=lvs)
    problem = ij.Problem(model, df, draws=ij.Halton(4, seed=5), chunk_size=3)
    u = 0.3 * np.random.default_rng(2).normal(size=problem.space.n_free)
    assert_exact(problem, u, witness=True)
    plan = problem.likelihood.plan
    assert plan.rows_closed.shape[0] > 0


def test_ordered_items_written_out_derivatives_equal_forward_mode():
    """:meth:`OrderedIndicators.local_derivatives` (written out, without location-scale)
    equals the generic forward mode of :class:`AbstractMeasurement`, with probit and
    logit items, the outer categories and a missing answer."""
    rng = np.random.default_rng(4)
    n_items, n_draws = 6, 7
    cuts = np.tile([-1e6, -1.0, 0.2, 1.1, 1e6], (n_items, 1))
    item = ij.components.OrderedIndicators(
        loadings=jnp.asarray(rng.normal(size=n_items)),
        cuts=jnp.asarray(cuts),
        intercepts=jnp.zeros(n_items),
        scales=jnp.ones(n_items),
        lv_index=jnp.zeros(n_items, dtype=int),
        links=("probit", "logit", "probit", "probit", "logit", "probit"),
        location_scale=False,
    )
    levels = jnp.asarray([0, 1, 2, 3, -1, 3])
    x, weights = jnp.asarray(rng.normal(size=(n_items, n_draws))), jnp.asarray(rng.random(n_draws))
    theta = item.row_locals(levels)
    assert theta.shape == (n_items, 3)
    written = item.local_derivatives(theta, x, levels, weights)
    forward = ij.components.AbstractMeasurement.local_derivatives(item, theta, x, levels, weights)
    for got, expected in zip(written, forward, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)
    assert not np.asarray(written[0])[:, 4].any()  # the missing answer
