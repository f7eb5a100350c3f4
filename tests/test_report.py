"""The estimation report: fit statistics computed during ``estimate`` against independent
computations, the HTML report read back with html.parser, the verdict on the draws,
persistence of the new fields, and the CLI's report files and ``plot`` command."""

import base64
import dataclasses
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iclv_jax as ij
from iclv_jax import report
from iclv_jax.cli import main
from iclv_jax.optimize import scaled_curvature, scales_from_curvature

OLD_FILE = Path(__file__).parent / "data" / "results-format-1.json"
PNG = b"\x89PNG\r\n\x1a\n"


class _ReportReader(HTMLParser):
    """Collects the ``data-key`` / ``data-parameter`` cells, the notes and the images."""

    def __init__(self):
        super().__init__()
        self.statistics: dict[str, str] = {}
        self.shown: dict[str, str] = {}
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.row_class: dict[str, str] = {}
        self.images: list[str] = []
        self.correlation: dict[str, list[float]] = {}
        self.notes: list[str] = []
        self._table = self._row = self._cell = None
        self._in_note = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
            self.tables.setdefault(self._table, {})
        elif tag == "tr" and "data-parameter" in a:
            self._row = a["data-parameter"]
            self.tables[self._table][self._row] = {}
            if self._table == "parameters":
                self.row_class[self._row] = a.get("class", "")
        elif tag == "td" and "data-key" in a:
            self.statistics[a["data-key"]] = a["data-value"]
            self._cell = a["data-key"]
        elif tag == "td" and "data-column" in a:
            self.tables[self._table][self._row][a["data-column"]] = a["data-value"]
        elif tag == "td" and self._table == "correlation":
            self._cell = ("correlation", self._row)
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "li":
            self._in_note = True

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "li":
            self._in_note = False

    def handle_data(self, data):
        if isinstance(self._cell, tuple):
            self.correlation.setdefault(self._cell[1], []).append(float(data))
        elif self._cell is not None:
            self.shown[self._cell] = data
        if self._in_note:
            self.notes.append(data)


def _read(text: str) -> _ReportReader:
    reader = _ReportReader()
    reader.feed(text)
    return reader


def _same_number(text: str, value) -> bool:
    if isinstance(value, str | bool):
        return text == str(value)
    return (math.isnan(value) and text == "nan") or float(text) == float(value)


def test_fit_statistics_against_independent_computations(fitted_small):
    results, model, df = fitted_small
    # the measurement part: the same parameters in a model without choices
    measurement = ij.Problem(
        dataclasses.replace(model, choice=ij.NoChoice()), df, ij.draws_from_dict(results.draws)
    )
    names = set(measurement.space.names)
    params = {k: v for k, v in results.estimates.items() if k in names}
    assert results.loglike_measurement == pytest.approx(measurement.loglike(params), abs=1e-9)
    # choice baselines from the data: three alternatives always available
    counts = df["choice"].value_counts().to_numpy(dtype=float)
    assert results.loglike_null_choice == pytest.approx(-len(df) * math.log(3), rel=1e-14)
    expected = float((counts * np.log(counts / counts.sum())).sum())
    assert results.loglike_constants_choice == pytest.approx(expected, rel=1e-14)
    # the choice part and rho-squared as ij.rho_squared computes them on a new problem
    fit = ij.rho_squared(results, None, df)
    stats = results.statistics()
    assert results.loglike_choice == pytest.approx(fit["loglike_choice"], abs=1e-9)
    assert stats["rho_squared_null"] == pytest.approx(fit["rho_squared_null"], abs=1e-12)
    assert stats["adjusted_rho_squared_null"] == pytest.approx(
        fit["adjusted_rho_squared_null"], abs=1e-12
    )
    assert stats["rho_squared_constants"] == pytest.approx(fit["rho_squared_constants"])
    assert results.n_choice_params == fit["n_choice_params"] == 6
    # eigenvalues of the scaled curvature, recomputed from the Hessian and the scores
    problem = ij.Problem(model, df, ij.draws_from_dict(results.draws))
    v = problem.free_internal(results.estimates)
    hessian = np.asarray(problem.likelihood.hessian(v))
    scales = scales_from_curvature(hessian, np.asarray(problem.likelihood.scores(v)))
    eigenvalues = np.linalg.eigvalsh(scaled_curvature(hessian, scales))
    assert results.smallest_curvature == pytest.approx(eigenvalues[0], rel=1e-6)
    assert results.largest_curvature == pytest.approx(eigenvalues[-1], rel=1e-6)
    assert results.condition_number == pytest.approx(eigenvalues[-1] / eigenvalues[0], rel=1e-6)
    # correlation: covariance over the product of the SEs
    corr = results.correlation()
    se = results.table["se"]
    name_a, name_b = results.table.index[:2]
    assert corr.loc[name_a, name_b] == pytest.approx(
        results.covariance.loc[name_a, name_b] / (se[name_a] * se[name_b]), rel=1e-12
    )
    np.testing.assert_allclose(np.diag(corr), 1.0, rtol=1e-12)


def test_html_report_numbers_equal_the_results(fitted_small, tmp_path):
    results, _, df = fitted_small
    text = ij.html_report(results, tmp_path / "report.html", df)
    assert (tmp_path / "report.html").read_text() == text
    reader = _read(text)
    stats = results.statistics()
    assert set(reader.statistics) == set(stats.index)
    for key, value in stats.items():
        assert _same_number(reader.statistics[key], value), key
    assert reader.shown["loglike"] == f"{results.loglike:.4f}"
    assert float(reader.statistics["loglike"]) == results.loglike
    assert float(reader.statistics["simulation_sd_loglike"]) == results.simulation_sd_loglike
    parameters = reader.tables["parameters"]
    assert list(parameters) == list(results.table.index)
    for name, row in results.table.iterrows():
        for column, value in row.items():
            assert _same_number(parameters[name][column], value), (name, column)
        assert float(parameters[name]["simulation_sd"]) == results.simulation_sd[name]
    expected = results.correlation()
    assert list(reader.correlation) == list(expected.index)
    for a in expected.index:
        np.testing.assert_allclose(reader.correlation[a], expected.loc[a], atol=0.005)
    # every figure of point 5 embedded, as PNG
    assert len(reader.images) == 5
    for src in reader.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
    assert any("draws too few" in note for note in reader.notes)


def test_html_marks_fixed_parameters_and_bounds(fitted_small):
    results, _, _ = fitted_small
    held = results.table.index[0]
    marked = dataclasses.replace(results, fixed={"beta_fixed": -1.5}, active_bounds={held: "upper"})
    reader = _read(marked.to_html(correlation=False))
    rows = reader.tables["parameters"]
    assert rows["beta_fixed"]["status"] == "fixed" and reader.row_class["beta_fixed"] == "fixed"
    assert float(rows["beta_fixed"]["estimate"]) == -1.5
    assert rows["beta_fixed"]["se"] == "nan"
    assert rows[held]["status"] == "at upper bound" and reader.row_class[held] == "bound"
    assert "correlation" not in reader.tables and not reader.images
    table = marked.report_table()
    assert table.loc["beta_fixed", "status"] == "fixed" and math.isnan(table.loc["beta_fixed", "t"])
    assert "beta_fixed" in marked.summary() and "fixed" in marked.summary()


def test_verdict_on_the_draws_and_the_conditioning(fitted_small):
    results, _, _ = fitted_small
    se = results.table["se"]
    worst = se.index[0]
    # every simulation SD at 5% of its SE, the LL's 0.1: enough
    fine = dataclasses.replace(
        results,
        simulation_sd={n: 0.05 * se[n] for n in se.index},
        simulation_sd_loglike=0.1,
    )
    assert report.simulation_verdict(fine).startswith("draws enough")
    # one estimate's at 0.3 SE with R = 10: 10 (0.3 / 0.1)^2 = 90 draws
    sd = {n: 0.05 * se[n] for n in se.index} | {worst: 0.3 * se[worst]}
    few = dataclasses.replace(fine, simulation_sd=sd)
    verdict = report.simulation_verdict(few)
    assert verdict.startswith("draws too few") and "R = 90 for simulation SD" in verdict
    assert f"({worst})" in verdict and "AdaptiveQuadrature(10)" in verdict
    assert verdict in few.summary()
    # the LL's SD 2 against the 0.5 asked for: 10 * 16 = 160 draws
    assert "R = 160 for the LL" in report.simulation_verdict(
        dataclasses.replace(fine, simulation_sd_loglike=2.0)
    )
    # quadrature: no verdict
    assert report.simulation_verdict(dataclasses.replace(fine, simulation_sd={})) is None
    # a near-singular Hessian gets a plain-language line naming the weakest direction
    flat = dataclasses.replace(results, largest_curvature=2e6 * results.smallest_curvature)
    assert any("nearly singular" in line for line in report.notes(flat))
    assert not any("nearly singular" in line for line in report.notes(results))


def test_report_fields_survive_save_and_load_and_old_files_load(fitted_small, tmp_path):
    results, _, _ = fitted_small
    assert results.simulation_sd and math.isfinite(results.simulation_sd_loglike)
    path = results.save(tmp_path / "r.json")
    assert ij.load_results(path) == results
    old = ij.load_results(OLD_FILE)
    assert math.isnan(old.simulation_sd_loglike) and old.simulation_sd == {}
    assert old.loglike_choice is None and math.isnan(old.largest_curvature)
    assert "final log-likelihood" in old.summary()  # shown without the new numbers


def test_cli_plot_writes_pngs(fitted_small, tmp_path, capsys):
    results, _, df = fitted_small
    results.save(tmp_path / "results.json")
    df.to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "plots"
    arguments = [str(tmp_path / "results.json"), str(tmp_path / "data.csv"), "--out", str(out)]
    status = main(["plot", *arguments])
    assert status == 0
    names = ["lv_posteriors", "indicator_shares", "choice_shares", "convergence", "gradient_scales"]
    for name in names:
        assert (out / f"{name}.png").read_bytes()[:8] == PNG
    assert "wrote" in capsys.readouterr().out
    # a data file without the model's columns: one line, exit status 2
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    status = main(["plot", str(tmp_path / "results.json"), str(tmp_path / "bad.csv")])
    assert status == 2 and "error" in capsys.readouterr().err


def test_statistics_csv_holds_the_numbers(fitted_small, tmp_path):
    results, _, _ = fitted_small
    frame = report.statistics_frame(results)
    frame.to_csv(tmp_path / "s.csv")
    back = pd.read_csv(tmp_path / "s.csv", index_col=0)
    assert back.loc["loglike", "number"] == results.loglike
    assert back.loc["aic", "number"] == results.aic
    latex = report.latex_report(results)
    assert r"\caption{Fit}" in latex and "rho-squared vs LL(0)" in latex
    assert json.dumps(frame["value"].tolist())  # every shown value is text
