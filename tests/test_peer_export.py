"""The pure-Python half of ``benchmarks/peer_biogeme.py`` (``_peer_export.py``): what it
hands to Biogeme.

The Biogeme side itself needs its own venv and is not run here.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import iclv_jax as ij
from iclv_jax import datasets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import _peer_cases  # noqa: E402
import _peer_export as peer  # noqa: E402


@pytest.mark.parametrize("choice", datasets.CHOICE_KINDS)
def test_flat_model_names_exactly_the_free_parameters(choice):
    """The names the export derives (for Biogeme's Betas) are the layout's free names
    (shared coefficients such as an MNL's generic beta_price appear once per utility)."""
    df, model, _ = datasets.beverage(n_people=12, n_situations=2, seed=1, choice=choice)
    problem = ij.Problem(model, df, draws=ij.Halton(4, seed=0))
    flat = peer.flat_model(model, problem.space.free_names)
    assert set(peer._parameters(flat)) == set(problem.space.free_names)
    assert set(peer.model_columns(flat)) <= set(df.columns)
    assert flat["panel"]


def test_cross_sectional_case_exports_one_row_per_person():
    """The simulated cross-sectional case: one row per person, ``panel`` off in the
    export, every derived name a free parameter, and the same data for the same seed."""
    df = _peer_cases.simulate_cross_sectional(n_people=40, seed=3)
    model = _peer_cases.cross_sectional_model()
    problem = ij.Problem(model, df, draws=ij.Halton(4, seed=0))
    assert problem.panel.n_people == len(df) == 40
    flat = peer.flat_model(model, problem.space.free_names)
    assert not flat["panel"]
    assert set(peer._parameters(flat)) == set(problem.space.free_names)
    assert set(_peer_cases.cross_sectional_truth()) == set(problem.space.free_names)
    assert df.equals(_peer_cases.simulate_cross_sectional(n_people=40, seed=3))


def test_flat_model_refuses_continuous_indicators():
    df, model, _ = datasets.beverage(n_people=12, n_situations=2, seed=1)
    indicators = [ij.Indicator("hc1", "health_concern", kind="continuous"), *model.indicators[1:]]
    model = ij.ICLVModel(model.latent_variables, indicators, model.choice, person_id="id")
    with pytest.raises(ValueError, match="hc1.*continuous"):
        peer.flat_model(model, ij.Problem(model, df, draws=4).space.free_names)


def test_exported_data_and_draws_round_trip(tmp_path):
    """Rows come back sorted by person (stable within a person), as floats, with the
    draws unchanged; the draws are the ones the Problem integrates over."""
    df, model, _ = datasets.beverage(n_people=15, n_situations=3, seed=2)
    shuffled = df.sample(frac=1.0, random_state=0)
    problem = ij.Problem(model, shuffled, draws=ij.Halton(5, seed=3))
    columns = peer.model_columns(peer.flat_model(model, problem.space.free_names))
    normals = problem.draws.normals(problem.panel.n_people, len(model.lv_names))
    peer.export_arrays(tmp_path / "x.npz", shuffled, columns, normals)
    back = peer.load_arrays(tmp_path / "x.npz")
    assert list(back["columns"]) == columns
    expected = shuffled[columns].sort_values("id", kind="stable").to_numpy(dtype=float)
    np.testing.assert_array_equal(back["data"], expected)
    assert np.all(np.diff(back["data"][:, 0]) >= 0)
    np.testing.assert_array_equal(back["normals"], normals)
    assert back["normals"].shape == (15, 5, 3)


def test_readme_table_is_replaced_between_the_markers_only(tmp_path):
    """``--readme`` rewrites the summary between the markers, keeps the text around
    them, and writes nothing where the markers are absent."""
    import _peer_report

    report = {
        "machine": {"cpu_count": 2},
        "settings": {"quick": False},
        "seconds": 600.0,
        "cases": {"a": {"ratios": {"LL alone R=100": 2.5}, "draws": {}}},
    }
    start, end = _peer_report.README_MARKERS
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{start}\nold table\n{end}\nafter\n")
    assert _peer_report.update_readme(readme, report)
    text = readme.read_text()
    assert "old table" not in text and "| LL alone R=100 | 2.5x |" in text
    assert text.startswith(f"before\n{start}\nFull run on 2 CPU cores, 10 min")
    assert text.endswith(f"{end}\nafter\n")
    readme.write_text("no markers\n")
    assert not _peer_report.update_readme(readme, report)
    assert readme.read_text() == "no markers\n"
