"""The Biogeme side's plumbing for ``peer_biogeme.py``: its venv, the model translated to
named parameters (``flat_model``), the data and draws written as Biogeme reads them, and
the worker subprocess (``_biogeme_worker.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from iclv_jax.spec import BinaryProbit, ICLVModel, MultinomialLogit, OrderedProbitChoice

HERE = Path(__file__).resolve().parent
VENV = HERE / ".biogeme-venv"
WORKER = HERE / "_biogeme_worker.py"
BIOGEME_REQUIREMENT = "biogeme>=3.3,<3.4"


# --- the Biogeme venv ----------------------------------------------------------------


def python312() -> str:
    """A Python 3.12 interpreter: pyenv's 3.12.x, else ``python3.12`` on the PATH."""
    try:
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
        found = sorted(Path(root, "versions").glob("3.12*/bin/python"))
        if found:
            return str(found[-1])
    except (OSError, subprocess.CalledProcessError):
        pass
    exe = shutil.which("python3.12")
    if exe is None:
        raise RuntimeError(
            "Biogeme 3.3 needs Python >= 3.12: install it (pyenv install 3.12) "
            "or put python3.12 on the PATH"
        )
    return exe


def biogeme_python() -> Path:
    """The venv's interpreter, creating the venv and installing Biogeme if needed."""
    python = VENV / "bin" / "python"
    ready = (
        python.exists()
        and subprocess.run(
            [str(python), "-c", "import biogeme.biogeme"], capture_output=True
        ).returncode
        == 0
    )
    if not ready:
        print(f"creating {VENV} with Biogeme (about 1.2 GB)", file=sys.stderr)
        subprocess.run([python312(), "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", BIOGEME_REQUIREMENT], check=True)
    return python


# --- export: the model, data and draws as Biogeme reads them -------------------------


def flat_model(model: ICLVModel, free_names) -> dict:
    """The model with every parameter named (``panel``: whether rows of a person share
    draws, else one row per person): LVs (``covariates``: parameter -> column,
    ``predictors``: parameter -> upstream LV), indicators (column, LV, kind, loading,
    thresholds) and the choice (terms: parameter -> column or ``None`` for 1; lvs:
    parameter -> LV), the free and the fixed parameters.  Raises ValueError for parts the
    worker does not translate, and where a derived name is not a parameter."""
    lvs = [
        {
            "name": lv.name,
            "covariates": {f"b_{c}_to_{lv.name}": c for c in lv.covariates},
            "predictors": {f"gamma_{m}_to_{lv.name}": m for m in lv.predictors},
        }
        for lv in model.latent_variables
    ]
    indicators = []
    for ind in model.indicators:
        if ind.kind not in ("ordered_logit", "ordered_probit"):
            raise ValueError(
                f"indicator {ind.name!r}: kind {ind.kind!r} is not translated "
                "to Biogeme (ordered_logit and ordered_probit are)"
            )
        indicators.append(
            {
                "column": ind.name,
                "lv": ind.lv,
                "kind": ind.kind,
                "loading": f"lambda_{ind.name}",
                "thresholds": [f"tau_{ind.name}_{j}" for j in range(1, ind.levels)],
            }
        )
    choice = model.choice
    utilities = choice.utilities()
    if isinstance(choice, MultinomialLogit):
        flat_choice = {
            "kind": "multinomial_logit",
            "column": choice.choice,
            "alternatives": [
                {
                    "code": alt.code,
                    "available": alt.available,
                    "terms": utilities[alt.name].linear_terms(choice.lv_suffix(alt.name)),
                    "lvs": _lv_terms(utilities[alt.name], choice.lv_suffix(alt.name)),
                }
                for alt in choice.alternatives
            ],
        }
    elif isinstance(choice, BinaryProbit | OrderedProbitChoice):
        utility = utilities[""]
        flat_choice = {
            "kind": ("binary_probit" if isinstance(choice, BinaryProbit) else "ordered_probit"),
            "column": choice.choice,
            "terms": utility.linear_terms(None),
            "lvs": _lv_terms(utility, None),
        }
        if isinstance(choice, OrderedProbitChoice):
            flat_choice["thresholds"] = [
                f"tau_{choice.choice}_{j}" for j in range(1, choice.levels)
            ]
    else:
        raise ValueError(f"choice model {type(choice).__name__} is not translated to Biogeme")
    flat = {
        "person_id": model.person_id,
        "panel": model.panel,
        "lvs": lvs,
        "indicators": indicators,
        "choice": flat_choice,
        "free": list(free_names),
        "fixed": dict(model.fixed),
    }
    unknown = sorted(set(_parameters(flat)) - set(free_names) - set(model.fixed))
    if unknown:
        raise ValueError(f"derived parameter names {unknown} are not parameters of the model")
    return flat


def _lv_terms(utility, suffix) -> dict[str, str]:
    """``parameter -> LV`` of a utility (its ``lv_parameters`` inverted)."""
    return {parameter: lv for lv, parameter in utility.lv_parameters(suffix).items()}


def _parameters(flat: dict) -> list[str]:
    found = [p for lv in flat["lvs"] for p in (*lv["covariates"], *lv["predictors"])]
    for ind in flat["indicators"]:
        found += [ind["loading"], *ind["thresholds"]]
    choice = flat["choice"]
    for part in choice.get("alternatives", [choice]):
        found += [*part["terms"], *part["lvs"]]
    return found + choice.get("thresholds", [])


def model_columns(flat: dict) -> list[str]:
    """Every data column the flat model reads, person id first."""
    columns = [flat["person_id"]]
    for lv in flat["lvs"]:
        columns += lv["covariates"].values()
    columns += [ind["column"] for ind in flat["indicators"]]
    choice = flat["choice"]
    columns.append(choice["column"])
    for part in choice.get("alternatives", [choice]):
        columns += [c for c in part["terms"].values() if c is not None]
        if part.get("available"):
            columns.append(part["available"])
    return list(dict.fromkeys(columns))


def export_arrays(path: Path, data, columns: list[str], normals: np.ndarray) -> None:
    """Write ``data[columns]`` as float64 (rows sorted by person, stably) and the draws."""
    frame = data[columns].astype(float)
    frame = frame.sort_values(columns[0], kind="stable")
    np.savez(path, data=frame.to_numpy(), columns=np.array(columns), normals=normals)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}


def run_worker(python: Path, job: dict, folder: Path) -> dict:
    """Run the worker on ``job`` in a fresh process; its answer, with ``launched_unix``
    (``time.time()`` just before the process started: cold fits are timed from there)."""
    job_path, out_path = folder / "job.json", folder / "out.json"
    job_path.write_text(json.dumps(job))
    launched = time.time()
    subprocess.run([str(python), str(WORKER), str(job_path), str(out_path)], check=True)
    return {**json.loads(out_path.read_text()), "launched_unix": launched}
