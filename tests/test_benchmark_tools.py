"""The pure halves of ``benchmarks/refactor_equivalence.py`` (tolerance rules, matching
parameters by name) and ``benchmarks/side_by_side.py`` (collecting timings, the table).

Measuring needs two source trees and minutes per tree; it is not run here.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import refactor_equivalence as eq  # noqa: E402
import side_by_side as sbs  # noqa: E402

NAMES = ("b_x", "lambda_i", "tau_i_1")


def measurement(rng: np.random.Generator, names=NAMES) -> dict[str, np.ndarray]:
    """A synthetic measurement of one study at one point, shaped as ``measure()``'s."""
    n_people, f = 7, len(names)
    scores = rng.normal(scale=100.0, size=(n_people, f))
    root = rng.normal(size=(f, f))
    units = np.diag([1.0, 100.0, 0.1])  # parameters of very different scales
    hessian = -units @ root @ root.T @ units
    return {
        "s.free_names": np.array(names),
        "s.p.loglike": np.asarray(-1234.5),
        "s.p.scores": scores,
        "s.p.grad": scores.sum(axis=0),
        "s.p.hessian": hessian,
        "s.p.per_person": rng.normal(size=n_people) - 3.0,
        "s.fit.estimates": np.array([2.0, -3e-4, 0.0]),
        "s.fit.se": np.array([0.1, 2e-5, 0.05]),
        "s.fit.robust_se": np.array([0.1, 3e-5, 0.06]),
        "s.fit.iterations": np.asarray(12),
    }


def failed(rows) -> list[str]:
    return [row["key"] for row in rows if not row["ok"]]


def test_identical_measurements_pass():
    a = measurement(np.random.default_rng(0))
    rows = eq.compare(a, {k: v.copy() for k, v in a.items()})
    assert failed(rows) == []
    assert {row["key"] for row in rows} >= {"s.p.hessian", "s.fit.se", "s.fit.iterations"}


@pytest.mark.parametrize(
    ("key", "index"), [("s.p.loglike", ()), ("s.p.scores", (3, 1)), ("s.p.per_person", (2,))]
)
def test_values_are_judged_relative_to_max_of_one_and_their_size(key, index):
    a = measurement(np.random.default_rng(1))
    allowed = eq.EVAL_TOL * max(1.0, abs(a[key][index]))
    for factor, ok in ((0.5, True), (2.0, False)):
        b = {k: v.copy() for k, v in a.items()}
        b[key][index] += factor * allowed
        assert (key not in failed(eq.compare(a, b))) is ok


def test_hessian_off_diagonal_is_judged_on_the_cauchy_schwarz_scale():
    """An off-diagonal element is allowed 1e-10 of sqrt(|H_ii H_jj|), not of itself."""
    a = measurement(np.random.default_rng(2))
    a["s.p.hessian"][0, 2] = a["s.p.hessian"][2, 0] = 1e-3
    scale = np.sqrt(abs(a["s.p.hessian"][0, 0] * a["s.p.hessian"][2, 2]))
    assert scale > 10 * abs(a["s.p.hessian"][0, 2])
    for factor, ok in ((0.5, True), (2.0, False)):
        b = {k: v.copy() for k, v in a.items()}
        b["s.p.hessian"][0, 2] += factor * eq.EVAL_TOL * max(1.0, scale)
        assert ("s.p.hessian" not in failed(eq.compare(a, b))) is ok


def test_gradient_is_judged_on_the_scale_of_the_scores_it_sums():
    a = measurement(np.random.default_rng(3))
    a["s.p.grad"][1] = 1e-7  # an optimum: the scores cancel
    total = np.abs(a["s.p.scores"][:, 1]).sum()
    for factor, ok in ((0.5, True), (2.0, False)):
        b = {k: v.copy() for k, v in a.items()}
        b["s.p.grad"][1] += factor * eq.EVAL_TOL * total
        assert ("s.p.grad" not in failed(eq.compare(a, b))) is ok


def test_estimates_on_the_scale_of_their_standard_error_and_ses_relative():
    a = measurement(np.random.default_rng(4))
    for key, index, scale in (
        ("s.fit.estimates", 2, a["s.fit.se"][2]),  # estimate 0
        ("s.fit.estimates", 1, abs(a["s.fit.estimates"][1])),
        ("s.fit.se", 1, a["s.fit.se"][1]),
    ):
        for factor, ok in ((0.5, True), (2.0, False)):
            b = {k: v.copy() for k, v in a.items()}
            b[key][index] += factor * eq.FIT_TOL * scale
            assert (key not in failed(eq.compare(a, b))) is ok, (key, index, factor)


def test_parameters_are_matched_by_name():
    """B lists the same parameters in another order: every array is permuted back; a
    different set of names fails."""
    a = measurement(np.random.default_rng(5))
    order = np.array([2, 0, 1])
    b = {k: eq.aligned(v, k.split(".")[-1], order) for k, v in a.items()}
    b["s.free_names"] = a["s.free_names"][order]
    assert not np.array_equal(b["s.p.hessian"], a["s.p.hessian"])
    assert failed(eq.compare(a, b)) == []
    b["s.free_names"] = np.array(["b_x", "lambda_i", "tau_i_9"])
    assert failed(eq.compare(a, b)) == ["s.free_names"]


def test_missing_quantity_nan_and_shape_changes_fail():
    a = measurement(np.random.default_rng(6))
    for change in ("missing", "nan", "shape"):
        b = {k: v.copy() for k, v in a.items()}
        if change == "missing":
            del b["s.p.per_person"]
        elif change == "nan":
            b["s.p.per_person"][0] = np.nan
        else:
            b["s.p.per_person"] = b["s.p.per_person"][:-1]
        assert failed(eq.compare(a, b)) == ["s.p.per_person"], change


def test_compare_exit_status(tmp_path, capsys):
    a = measurement(np.random.default_rng(7))
    b = {k: v.copy() for k, v in a.items()}
    np.savez(tmp_path / "a.npz", **a)
    np.savez(tmp_path / "same.npz", **b)
    b["s.p.loglike"] = b["s.p.loglike"] + 1e-6
    np.savez(tmp_path / "b.npz", **b)
    assert eq.main(["--compare", str(tmp_path / "a.npz"), str(tmp_path / "same.npz")]) == 0
    assert eq.main(["--compare", str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 1
    assert "FAILED: s.p.loglike" in capsys.readouterr().out


def test_rounded_keeps_significant_digits():
    values = {"a": -0.000412345678, "b": 123456.789, "c": 0.0}
    out = eq.rounded(values, digits=4)
    for name, value in values.items():
        assert out[name] == pytest.approx(value, rel=5e-4, abs=0.0)
        assert out[name] == float(
            np.format_float_positional(value, precision=4, unique=False, fractional=False)
        )


def test_timings_keep_times_and_ratios_only():
    payload = {
        "machine": {"cpu_count": 2},
        "settings": {"repeats": 3},
        "beverage": {
            "n_people": 1000,
            "hessian_s": 2.5,
            "hessian_over_grad": 11.0,
            "full": {"loglike_s": 0.1, "loglike_and_grad_s": 0.2},
        },
        "cases": {
            "x": {
                "timing": {
                    "R=10": {
                        "iclv_jax": {
                            "loglike_and_grad": {
                                "first_s": 9.0,
                                "median_s": 0.03,
                                "min_s": 0.02,
                                "repeats": 3,
                            },
                            "first_call_s": 8.0,
                        }
                    }
                },
                "ratios": {"loglike_and_grad R=10": 1.7},
                "converged": True,
            }
        },
    }
    assert sbs.timings(payload) == {
        "beverage/hessian_s": 2.5,
        "beverage/hessian_over_grad": 11.0,
        "beverage/full/loglike_s": 0.1,
        "beverage/full/loglike_and_grad_s": 0.2,
        "cases/x/timing/R=10/iclv_jax/loglike_and_grad/median_s": 0.03,
        "cases/x/timing/R=10/iclv_jax/first_call_s": 8.0,
        "cases/x/ratios/loglike_and_grad R=10": 1.7,
    }


def test_summary_medians_ratio_spread_and_noise():
    a = [{"t": 1.0, "u": 2.0, "only_a": 1.0}, {"t": 1.2, "u": 2.0}, {"t": 0.9, "u": 2.0}]
    b = [{"t": 1.1, "u": 3.0}, {"t": 1.0, "u": 3.1}, {"t": 1.3, "u": 2.9}]
    rows = {row["quantity"]: row for row in sbs.summarise(a, b)}
    assert set(rows) == {"t", "u"}
    t, u = rows["t"], rows["u"]
    assert t["ratio"] == pytest.approx(np.median([1.1, 1.0, 1.3]) / np.median([1.0, 1.2, 0.9]))
    assert t["a_spread"] == pytest.approx((1.2 - 0.9) / 1.0)
    assert (t["paired_min"], t["paired_max"]) == pytest.approx((1.0 / 1.2, 1.3 / 0.9))
    assert t["within_noise"] and not u["within_noise"]
    report = {
        "trees": {"A": {"path": "/a", "commit": "0" * 40}, "B": {"path": "/b", "commit": "1" * 40}},
        "machine": {
            "cpu_count": 2,
            "cpu_model": "cpu",
            "platform": "linux",
            "python": "3.11",
            "versions": {"jax": "0"},
        },
        "rounds": 3,
        "load_before": [1.0, 2.0],
        "tables": {"script": list(rows.values())},
        "skipped": None,
    }
    text = sbs.markdown(report)
    assert "| u | 2 | 3 | 1.500 |" in text and "**no**" in text


def test_program_fingerprint_ignores_numbering_and_order_only():
    program = "\n".join(
        [
            "func.func @main(%arg0: tensor<3xf64>) {",
            "  %0 = stablehlo.exp %arg0 : tensor<3xf64>",
            "  %1 = stablehlo.log %arg0 : tensor<3xf64>",
            "  %2 = stablehlo.add %0, %1 : tensor<3xf64>",
        ]
    )
    reordered = "\n".join(
        [
            "func.func @main(%arg0: tensor<3xf64>) {",
            "    %7 = stablehlo.log %arg0 : tensor<3xf64>",
            "    %8 = stablehlo.exp %arg0 : tensor<3xf64>",
            "    %9 = stablehlo.add %8, %7 : tensor<3xf64>",
        ]
    )
    changed = program.replace("stablehlo.log", "stablehlo.sqrt")
    assert eq.program_fingerprint(program) == eq.program_fingerprint(reordered)
    assert eq.program_fingerprint(program) != eq.program_fingerprint(changed)


def test_programs_are_reported_not_tested():
    a = measurement(np.random.default_rng(8))
    a["s.program.hessian"] = np.array("abc")
    b = {**a, "s.program.hessian": np.array("abd")}
    rows = {row["key"]: row for row in eq.compare(a, b)}
    assert rows["s.program.hessian"]["ok"]
    assert "operations differ" in rows["s.program.hessian"]["note"]
    assert (
        "same operations"
        in {row["key"]: row for row in eq.compare(a, a)}["s.program.hessian"]["note"]
    )
