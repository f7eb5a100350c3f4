"""The command line: ``demo``, ``estimate`` and ``check-gradients``, and one-line errors
with exit status 2 for bad input."""

import dataclasses
import json
import math
import subprocess
import sys

import pandas as pd
import pytest

import iclv_jax as ij
from iclv_jax import cli, datasets, diagnostics
from iclv_jax.cli import main

DRAWS = ["--draws", "20"]


#: people whose answer to pi3 is missing: an empty cell in the CSV file
NO_ANSWER = (5, 17, 30)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A one-LV beverage model file and 60 people's data (ids in column ``person``);
    ``pi3`` declares NaN a missing answer and is empty for :data:`NO_ANSWER`."""
    folder = tmp_path_factory.mktemp("cli")
    df, model, _ = datasets.beverage_one_lv(n_people=60, seed=4)
    df = df.rename(columns={"id": "person"})
    df["pi3"] = df["pi3"].where(~df["person"].isin(NO_ANSWER))
    model = dataclasses.replace(
        model,
        indicators=[
            dataclasses.replace(item, missing_codes=(math.nan,)) if item.name == "pi3" else item
            for item in model.indicators
        ],
    )
    df.to_csv(folder / "data.csv", index=False)
    ij.save_model(model, folder / "model.yaml")
    return folder, df, model


def _one_error_line(capsys, *expected):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err and "LL at start" not in captured.err
    for text in expected:
        assert text in lines[0]
    return lines[0]


@pytest.mark.slow  # `make demo` runs it; test_estimate_writes_... covers the same path
def test_demo_prints_the_summary_and_writes_the_json(tmp_path, capsys):
    path = tmp_path / "demo.json"
    main(["demo", "--people", "120", "--draws", "30", "--seed", "3", "--json", str(path)])
    out = capsys.readouterr().out
    assert "estimates beside the true values" in out and "beta_price" in out
    report = json.loads(path.read_text())
    assert {
        "estimates",
        "se",
        "robust_se",
        "truth",
        "loglike",
        "converged",
        "iterations",
        "n_params",
        "seconds",
    } <= set(report)
    assert set(report["estimates"]) == set(report["truth"]) == set(report["se"])
    assert report["n_params"] == len(report["estimates"])
    assert report["converged"] is True
    assert report["loglike"] < 0


def test_module_entry_point_and_bad_arguments(capsys):
    run = subprocess.run(
        [sys.executable, "-m", "iclv_jax", "demo", "--people", "0"], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "--people" in run.stderr and "must be at least 1" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert main(["demo", "--choice", "tobit"]) == 2
    _one_error_line(capsys, "invalid choice: 'tobit'")


def test_estimate_writes_tables_json_and_plots(files, tmp_path, capsys):
    folder, df, model = files
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="did not converge"):  # 4 iterations only
        status = main(
            [
                "estimate",
                str(folder / "model.yaml"),
                str(folder / "data.csv"),
                *DRAWS,
                "--draw-type",
                "mlhs",
                "--seed",
                "2",
                "--id-column",
                "person",
                "--max-iterations",
                "4",
                "--out",
                str(out),
            ]
        )
    assert status == 0
    captured = capsys.readouterr()
    assert "LL at start" in captured.err  # progress
    assert "final log-likelihood" in captured.out
    results = ij.load_results(out / "results.json")
    # the LL is that of the written estimates under the draws asked for
    again = ij.Problem(results.model, df, draws=ij.MLHS(20, seed=2))
    assert again.loglike(results.estimates) == pytest.approx(results.loglike, abs=1e-8)
    assert results.model.person_id == "person" and results.iterations <= 4 + 10
    raw = pd.read_csv(folder / "data.csv", keep_default_na=False)  # empty cells as ""
    assert set(raw.loc[raw["pi3"] == "", "person"]) == set(NO_ANSWER)
    assert results.missing_answers["pi3"] == len(NO_ANSWER)
    table = pd.read_csv(out / "results.csv", index_col=0, keep_default_na=False, na_values=[""])
    assert list(table.index) == list(results.table.index)  # no fixed parameters here
    assert table["estimate"].to_numpy() == pytest.approx(
        results.table["estimate"].to_numpy(), rel=1e-15
    )
    assert "simulation_sd" in table.columns and "status" in table.columns
    markdown = (out / "results.md").read_text()
    assert all(f"| {name} " in markdown for name in results.table.index)
    assert "| rho-squared vs LL(0) " in markdown and "NOT converged" in markdown
    for name in ("convergence.png", "gradient_scales.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    statistics = pd.read_csv(out / "statistics.csv", index_col=0)
    assert statistics.loc["loglike", "number"] == results.loglike
    assert statistics.loc["loglike_choice", "number"] == results.loglike_choice
    assert r"\caption{Estimates}" in (out / "results.tex").read_text()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and f'"{results.loglike!r}"' in html


def test_check_gradients_passes_and_a_planted_bug_fails(files, capsys, monkeypatch):
    folder, _, _ = files
    args = [
        "check-gradients",
        str(folder / "model.yaml"),
        str(folder / "data.csv"),
        *DRAWS,
        "--id-column",
        "person",
    ]
    assert main(args) == 0
    assert "  OK" in capsys.readouterr().out
    # a sign error in the derivative of tau_pi1_2 (item 0, cut-point 2)
    buggy = diagnostics.analytic_gradient_with(diagnostics.FlippedThresholdScores(0, 2))
    # resolve_gradient("analytic") looks the name up in diagnostics.gradients
    monkeypatch.setattr(diagnostics.gradients, "analytic_gradient", buggy)
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "FAILED for" in out and "tau_pi1_2" in out.split("FAILED for")[1].splitlines()[0]


def _bad(folder, tmp_path, df=None, model_text=None):
    """Paths of a (possibly edited) data file and model file."""
    data, model = folder / "data.csv", folder / "model.yaml"
    if df is not None:
        data = tmp_path / "edited.csv"
        df.to_csv(data, index=False)
    if model_text is not None:
        model = tmp_path / "edited.yaml"
        model.write_text(model_text)
    return str(model), str(data)


def test_bad_arguments_give_one_line_and_status_2(files, tmp_path, capsys):
    folder, _, _ = files
    model, data = str(folder / "model.yaml"), str(folder / "data.csv")
    cases = [
        (["estimate", str(tmp_path / "none.yaml"), data], ["no such file", "none.yaml"]),
        (["estimate", model, str(tmp_path / "none.csv")], ["no such file", "none.csv"]),
        (["estimate", model, data, "--draws", "many"], ["--draws", "'many' is not an integer"]),
        (["check-gradients", model, data, "--draws", "0"], ["must be at least 1"]),
        (
            ["estimate", model, data, "--draw-type", "lattice"],
            ["--draw-type", "invalid choice: 'lattice'"],
        ),
        (["estimate", model], ["required: data"]),
        (["fit", model, data], ["invalid choice: 'fit'"]),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        _one_error_line(capsys, *expected)


def test_a_spec_that_does_not_match_the_data_fails_before_estimation(files, tmp_path, capsys):
    folder, df, model = files
    text = (folder / "model.yaml").read_text()
    cases = [  # (data, model file text, extra arguments, what the message names)
        (df, None, [], ["'id' (person id) is not in the data"]),
        (
            df.drop(columns="age"),
            None,
            ["--id-column", "person"],
            ["edited.csv", "column 'age' (covariate) is not in the data"],
        ),
        (
            df.assign(pi1=df["pi1"].where(df["person"] != 7, 6)),
            None,
            ["--id-column", "person"],
            ["indicator 'pi1' must be an integer in 1..5", "person 7 has 6"],
        ),
        (
            None,
            text.replace("levels: 5", "levels: 7", 1),
            ["--id-column", "person"],
            ["indicator 'pi1' has levels: 7", "[6, 7] never occur"],
        ),
        (
            None,
            text.replace("kind: ordered_probit", "kind: ordered_tobit", 1),
            [],
            ["edited.yaml", "unknown kind 'ordered_tobit'"],
        ),
        (None, text + "\ncolour: red\n", [], ["edited.yaml", "unknown keys ['colour']"]),
        (
            None,
            text.replace("latent_variables:", "latent_variables: [", 1),
            [],
            ["edited.yaml", "invalid YAML: line"],
        ),
    ]
    for edited, model_text, extra, expected in cases:
        model_path, data_path = _bad(folder, tmp_path, edited, model_text)
        for command in ("estimate", "check-gradients"):
            assert (
                main(
                    [command, model_path, data_path, *DRAWS, *extra, "--out", str(tmp_path / "o")][
                        : None if command == "estimate" else -2
                    ]
                )
                == 2
            )
            line = _one_error_line(capsys, *expected)
            assert line.startswith(f"iclv-jax {command}: error: ")
    assert not (tmp_path / "o").exists()


def _laughs(levels: int) -> str:
    """A "billion laughs" model file (see test_modelfile)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, levels)]
    return "\n".join([*lines, f"latent_variables: *a{levels - 1}", ""])


def test_refusals_come_before_estimating_on_one_short_line(files, tmp_path, capsys):
    folder, df, _ = files
    model, data = str(folder / "model.yaml"), str(folder / "data.csv")
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "results.json").symlink_to(tmp_path / "outside.json")
    huge = tmp_path / "huge.yaml"
    huge.write_text((folder / "model.yaml").read_text().replace("levels: 5", "levels: 1000000", 1))
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text(_laughs(6))
    need = 2 * 8 * df["person"].nunique() * 10**9 / 2**30  # two float64 copies, one LV
    cases = [  # (arguments after the command, what the line names, for check-gradients too)
        ([model, data, "--out", str(taken)], [f"--out {taken}: exists and is not a folder"], False),
        (
            [model, data, "--out", str(linked)],
            ["results.json is a symbolic link to", "outside the output folder"],
            False,
        ),
        (
            [model, data, "--draws", "1000000000"],
            [f"need about {need:.3g} GiB", "GiB available; use fewer draws"],
            True,
        ),
        (
            [str(huge), data],
            [
                "indicator 'pi1' has levels: 1000000",
                "999995 level(s) [6, 7, 8, 9, 10, 11, ...] never occur",
            ],
            True,
        ),
        ([str(laughs), data], ["values once its YAML aliases are expanded"], True),
    ]
    for arguments, expected, both in cases:
        for command in ("estimate", "check-gradients") if both else ("estimate",):
            assert main([command, *arguments, "--id-column", "person"]) == 2, arguments
            line = _one_error_line(capsys, *expected)
            assert len(line) < 300, line[:300]
    assert taken.read_text() == "keep me"
    assert not (tmp_path / "outside.json").exists()


def test_the_library_refuses_draws_that_cannot_fit_naming_the_bytes(files):
    folder, df, model = files
    model = dataclasses.replace(model, person_id="person")
    need = 2 * 8 * df["person"].nunique() * 10**9 * model.n_draw_dims / 2**30
    with pytest.raises(ij.DrawsMemoryError, match=f"need about {need:.3g} GiB"):
        ij.Problem(model, df, draws=10**9)
    assert issubclass(ij.DrawsMemoryError, ValueError)


def test_an_error_line_is_one_line_of_bounded_length():
    message = "first\nsecond " + "x" * 10_000
    line = cli.one_line(message)
    assert "\n" not in line and line.startswith("first second xxx")
    assert line.endswith(f"... (cut; {len(message)} characters)")
    assert len(line) < cli.MAX_MESSAGE + 40
    assert cli.one_line("short\n message") == "short message"
