"""What a new user meets first: the package's attributes, the message for a list where a
mapping belongs, the README agreeing with the code, and the declared dependencies
being the ones the package imports (issue 17, point 6)."""

import ast
import inspect
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import iclv_jax as ij
from iclv_jax.optimize import OPTIMIZERS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "iclv_jax"
README = (ROOT / "README.md").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: distribution name -> the module it installs, where they differ
MODULE_OF = {"pyyaml": "yaml", "tomli-w": "tomli_w"}

#: run without the test run's type checks (tests/conftest.py), as a user runs it
USER_SESSION = """
import json
import iclv_jax as ij
df, model, truth = ij.datasets.beverage(n_people=4)
try:
    ij.Utility(attributes=["price_1"])
except ij.SpecificationError as error:
    message = str(error)
print(json.dumps([len(df), callable(ij.plots.convergence), message]))
"""


def test_a_plain_import_reaches_datasets_and_plots_and_a_list_of_attributes_is_explained():
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    run = subprocess.run(
        [sys.executable, "-c", USER_SESSION],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    rows, plots, message = json.loads(run.stdout.strip().splitlines()[-1])
    assert rows == 4 * 10 and plots
    assert "attributes must be a mapping label -> column" in message
    assert "attributes={'price_1': 'price_1'}" in message and "['price_1']" in message


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def _imported_modules() -> set[str]:
    """Top-level names of every module imported anywhere in ``iclv_jax/``."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_is_imported_by_the_package():
    """Core dependencies and the ``plots``/``files``/``cuda``/``bayes`` extras (``dev`` holds
    tools); a module loaded by name (``importlib.import_module("tomli_w")``) counts."""
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    imported = _imported_modules()
    extras = PYPROJECT["project"]["optional-dependencies"]
    declared = PYPROJECT["project"]["dependencies"] + [
        r for extra in ("plots", "files", "cuda", "bayes") for r in extras[extra]
    ]
    unused = []
    for requirement in declared:
        module = MODULE_OF.get(_requirement_name(requirement), _requirement_name(requirement))
        if module not in imported and f'"{module}"' not in source:
            unused.append(requirement)
    assert unused == []
    assert {"optimistix", "jaxopt", "tqdm"}.isdisjoint(map(_requirement_name, declared))
    assert "jaxopt" not in extras


def _lower_bound(requirement: str) -> tuple[int, ...]:
    (bound,) = re.findall(r">=\s*([0-9.]+)", requirement)
    return tuple(int(part) for part in bound.split("."))


#: jax APIs the package calls, with the first jax release providing them, read off the
#: released wheels: ``jax/__init__.py`` exports ``shard_map`` from 0.6.1 on,
#: ``jax/lax/__init__.py`` ``pcast`` from 0.8.2 on, and ``all_gather`` accepts
#: ``to="invarying"`` from 0.10.0 on (0.8.2-0.9.2 refuse it: the sharding test fails
#: on jax 0.8.2 with "unexpected `to` value for `jax.lax.all_gather`")
NEWEST_API = {"jax.shard_map(": (0, 6, 1), "lax.pcast(": (0, 8, 2), 'to="invarying"': (0, 10, 0)}


def test_jax_lower_bound_has_every_newer_api_the_package_calls():
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    assert all(call in source for call in NEWEST_API)
    jax_requirements = [
        r
        for r in PYPROJECT["project"]["dependencies"]
        + PYPROJECT["project"]["optional-dependencies"]["cuda"]
        if _requirement_name(r) == "jax"
    ]
    assert len(jax_requirements) == 2
    assert all(_lower_bound(r) >= max(NEWEST_API.values()) for r in jax_requirements)


def test_pyyaml_is_a_core_dependency_since_model_files_are_a_main_path():
    core = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert "pyyaml" in core
    assert "yaml" in _imported_modules()


def test_readme_and_docstring_describe_the_same_default_optimizer():
    default = inspect.signature(ij.estimate).parameters["optimizer"].default
    assert default == "hybrid" == OPTIMIZERS[0]
    doc = " ".join(ij.estimate.__doc__.split())
    assert f'``"{default}"`` (default) is line-search Newton' in doc
    assert "trust region" not in doc.split("optimizer:")[1].split("gradient:")[0]
    readme = " ".join(README.split())
    assert f'`"{default}"` (default: line-search Newton' in readme


def test_readme_documents_the_drug_choice_loader():
    assert "ij.datasets.drug_choice()" in README
    assert "ICLV_JAX_DATA" in README
