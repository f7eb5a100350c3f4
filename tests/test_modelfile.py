"""Model files: YAML and TOML round trips, and every broken file refused with the
library's own error naming the file and the key."""

import copy

import pytest
import tomli_w
import yaml
from helpers import example_models
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import iclv_jax as ij
from iclv_jax import datasets, modelfile
from iclv_jax.modelfile import _without_nulls

SUFFIXES = [".yaml", ".yml", ".toml"]


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("model", list(example_models()))
def test_round_trip_gives_an_equal_model(model, suffix, tmp_path):
    path = ij.save_model(model, tmp_path / f"model{suffix}")
    assert ij.load_model(path) == model


@pytest.mark.parametrize("choice", datasets.CHOICE_KINDS)
def test_round_trip_gives_the_same_loglike(choice, tmp_path):
    df, model, truth = datasets.beverage(n_people=40, n_situations=3, seed=1, choice=choice)
    expected = ij.Problem(model, df, draws=ij.Halton(10, seed=2)).loglike(truth)
    for suffix in (".yaml", ".toml"):
        again = ij.load_model(ij.save_model(model, tmp_path / f"m{suffix}"))
        assert ij.Problem(again, df, draws=ij.Halton(10, seed=2)).loglike(truth) == expected


def test_a_hand_written_yaml_file_reads_as_the_python_model(tmp_path):
    path = tmp_path / "hand.yml"
    path.write_text("""
person_id: person
latent_variables:
  - {name: a, covariates: [x]}
  - {name: b, predictors: [a]}
indicators:
  - {name: i1, lv: a, kind: ordered_logit, levels: 4}
  - {name: c1, lv: b, kind: continuous}
choice:
  kind: binary_probit
  choice: y
  utility:
    attributes: {price: p}
    constants: {one: null, label: lab}
    lvs: [b]
fixed: {alpha_c1: 0}
""")
    expected = ij.ICLVModel(
        [ij.LatentVariable("a", covariates=["x"]), ij.LatentVariable("b", predictors=["a"])],
        [
            ij.Indicator("i1", "a", kind="ordered_logit", levels=4),
            ij.Indicator("c1", "b", kind="continuous"),
        ],
        choice=ij.BinaryProbit(
            "y", ij.Utility({"price": "p"}, {"one": None, "label": "lab"}, lvs=["b"])
        ),
        person_id="person",
        fixed={"alpha_c1": 0.0},
    )
    assert ij.load_model(path) == expected


VALID_YAML = """latent_variables:
  - {name: a}
indicators:
  - {name: i1, lv: a, levels: 3}
choice: {kind: binary_probit, choice: y, utility: {attributes: {p: p}, lvs: [a]}}
"""

# (file name, text, what the message must name)
BROKEN = [
    ("syntax.yaml", "latent_variables: [\n  {name: a\n", "invalid YAML: line"),
    ("tabs.yaml", "latent_variables:\n\t- name: a\n", "invalid YAML"),
    ("syntax.toml", "latent_variables = [\n", "invalid TOML"),
    ("dup.toml", "person_id = 'a'\nperson_id = 'b'\n", "invalid TOML"),
    ("empty.yaml", "", "expected a mapping"),
    ("list.yaml", "- a\n- b\n", "got list"),
    ("unknown.yaml", VALID_YAML + "colour: red\n", "unknown keys ['colour']"),
    ("missing.yaml", "latent_variables: [{name: a}]\n", "missing keys ['indicators']"),
    (
        "lv_key.yaml",
        VALID_YAML.replace("{name: a}", "{name: a, covarites: [x]}"),
        "latent variable 0: unknown keys ['covarites']",
    ),
    (
        "levels_type.yaml",
        VALID_YAML.replace("levels: 3", "levels: three"),
        "indicator 0, levels: expected an integer or null, got str 'three'",
    ),
    (
        "levels_bool.yaml",
        VALID_YAML.replace("levels: 3", "levels: true"),
        "indicator 0, levels: expected an integer",
    ),
    ("levels_one.yaml", VALID_YAML.replace("levels: 3", "levels: 1"), "levels >= 2"),
    (
        "kind.yaml",
        VALID_YAML.replace("levels: 3", "levels: 3, kind: ordered_tobit"),
        "indicator 'i1': unknown kind 'ordered_tobit'",
    ),
    (
        "choice_kind.yaml",
        VALID_YAML.replace("binary_probit", "tobit"),
        "choice: unknown kind 'tobit'",
    ),
    ("choice_kind_list.yaml", VALID_YAML.replace("binary_probit", "[]"), "choice: unknown kind []"),
    (
        "utility_type.yaml",
        VALID_YAML.replace("lvs: [a]", "lvs: 7"),
        "utility, lvs: expected a list of LV names or a mapping",
    ),
    (
        "attribute_type.yaml",
        VALID_YAML.replace("{p: p}", "[p]"),
        "utility, attributes: expected a mapping",
    ),
    (
        "covariates.yaml",
        VALID_YAML.replace("{name: a}", "{name: a, covariates: x}"),
        "latent variable 0, covariates: expected a list",
    ),
    (
        "name_type.yaml",
        VALID_YAML.replace("{name: a}", "{name: 5}"),
        "latent variable 0, name: expected a string, got int 5",
    ),
    (
        "fixed_type.yaml",
        VALID_YAML + "fixed: {lambda_i1: 1e-3}\n",
        "fixed, lambda_i1: expected a number, got str '1e-3'",
    ),
    (
        "unknown_lv.yaml",
        VALID_YAML.replace("{name: a}", "{name: a, predictors: [ghost]}"),
        "unknown predictor 'ghost'",
    ),
    (
        "indicator_lv.yaml",
        VALID_YAML.replace("lv: a", "lv: ghost"),
        "measures unknown latent variable 'ghost'",
    ),
    (
        "cycle.yaml",
        """latent_variables:
  - {name: a, predictors: [b]}
  - {name: b, predictors: [a]}
indicators: [{name: i1, lv: a, levels: 3}, {name: i2, lv: b, levels: 3}]
""",
        "cycle: ",
    ),
    (
        "alternative.toml",
        """[[latent_variables]]
name = "a"
[[indicators]]
name = "i1"
lv = "a"
levels = 3
[choice]
kind = "multinomial_logit"
choice = "y"
[[choice.alternatives]]
name = "car"
code = "one"
""",
        "alternative 0, code: expected an integer, got str 'one'",
    ),
    ("suffix.json", "{}", "unknown model file suffix '.json'"),
]


@pytest.mark.parametrize(("name", "text", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_raise_model_file_error_naming_file_and_key(name, text, message, tmp_path):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ij.ModelFileError) as info:
        ij.load_model(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert isinstance(info.value, ij.SpecificationError)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ij.ModelFileError, match="nothere.yaml: cannot read"):
        ij.load_model(tmp_path / "nothere.yaml")


# --- files that expand or nest without bound ------------------------------------------


def _laughs(levels: int) -> str:
    """A "billion laughs" file: ``a_k`` is a list of nine aliases of ``a_(k-1)``."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, levels)]
    return "\n".join([*lines, f"latent_variables: *a{levels - 1}", ""])


def test_nested_yaml_aliases_are_refused_with_their_expanded_size(tmp_path):
    """Six levels expand to ~600,000 values (nine levels, 561 bytes, to 9.7e8: that file
    hung ``load_model``); the count in the message is the closed form: ``n_0 = 10``,
    ``n_k = 1 + 9 n_(k-1)``, plus the top mapping, its 7 keys and the extra alias."""
    levels = 6
    sizes = [10]
    for _ in range(1, levels):
        sizes.append(1 + 9 * sizes[-1])
    expanded = 1 + (levels + 1) + sum(sizes) + sizes[-1]
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(levels))
    with pytest.raises(
        ij.ModelFileError, match=f"holds {expanded} values once its YAML aliases are expanded"
    ):
        ij.load_model(path)
    assert expanded > modelfile.MAX_VALUES


def test_a_yaml_alias_inside_its_own_anchor_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("latent_variables: &a [*a]\nindicators: []\n")
    with pytest.raises(ij.ModelFileError, match="contains it"):
        ij.load_model(path)


@pytest.mark.parametrize("suffix, assign", [(".yaml", ": "), (".toml", " = ")])
@pytest.mark.parametrize("depth", [40, 5000])
def test_deep_nesting_is_a_model_file_error(suffix, assign, depth, tmp_path):
    path = tmp_path / f"deep{suffix}"
    path.write_text(f"latent_variables{assign}{'[' * depth}{']' * depth}\n")
    with pytest.raises(ij.ModelFileError, match="nested"):
        ij.load_model(path)


def test_aliases_of_a_small_model_still_load(tmp_path):
    path = tmp_path / "aliases.yaml"
    path.write_text(
        "latent_variables:\n  - {name: a, covariates: &x [age, female]}\n"
        "  - {name: b, covariates: *x}\n"
        "indicators:\n  - {name: i1, lv: a, levels: 3}\n"
        "  - {name: i2, lv: b, levels: 3}\n"
    )
    model = ij.load_model(path)
    assert [lv.covariates for lv in model.latent_variables] == [("age", "female")] * 2


# --- fuzz: random deletions and type swaps of a valid model dict --------------------

VALID = ij.model_to_dict(datasets.drug_choice_model())
REPLACEMENTS = [None, 0, 1.5, True, "x", [], ["x"], {}, {"x": 1}, -3]


def _paths(value, prefix=()):
    """Every key/index path in a nested dict/list."""
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, entry in items:
        yield (*prefix, key)
        yield from _paths(entry, (*prefix, key))


PATHS = list(_paths(VALID))


def _mutated(path, action):
    data = copy.deepcopy(VALID)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = action
    return data


def _holds_a_null_list_entry(value):
    """Whether a null sits in a list: TOML has no null, so such a file cannot be
    written as TOML at all (a mapping's null is written as an absent key)."""
    if isinstance(value, dict):
        return any(_holds_a_null_list_entry(v) for v in value.values())
    if isinstance(value, list):
        return any(v is None or _holds_a_null_list_entry(v) for v in value)
    return False


@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(PATHS),
    action=st.sampled_from(["delete", *REPLACEMENTS]),
    suffix=st.sampled_from([".yaml", ".toml"]),
)
def test_mutated_files_load_or_raise_the_library_error(path, action, suffix, tmp_path):
    data = _mutated(path, action)
    assume(suffix == ".yaml" or not _holds_a_null_list_entry(data))
    file = tmp_path / f"fuzz{suffix}"
    file.write_text(
        yaml.safe_dump(data) if suffix == ".yaml" else tomli_w.dumps(_without_nulls(data))
    )
    try:
        model = ij.load_model(file)
    except ij.ModelFileError as error:
        assert str(error).startswith(f"{file}: ")
    else:  # a mutation that leaves a valid model: it reads back as itself
        assert isinstance(model, ij.ICLVModel)
        assert ij.load_model(ij.save_model(model, file)) == model
