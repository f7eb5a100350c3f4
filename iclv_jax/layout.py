"""Where each named parameter goes in the components.

:func:`build_layout` names every parameter of a model (with data-based default
starting values) and records, for every field of every component, which entry of the
reported parameter vector fills it.  :meth:`Layout.components` then turns a reported
vector into the pure component modules with one gather per field.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int
from scipy.special import logit, ndtri

from .components import (
    BinaryProbitChoice,
    ContinuousIndicators,
    CustomTerm,
    MultinomialLogitChoice,
    NoChoiceModule,
    OrderedIndicators,
    OrderedProbitChoiceModule,
    Structural,
)
from .components.measurement import OUTER_CUT
from .data import Panel
from .params import Parameter, ParameterSpace
from .spec import (
    BinaryProbit,
    ICLVModel,
    MultinomialLogit,
    NoChoice,
    OrderedProbitChoice,
    SpecificationError,
    scale_parameter,
)

# Extra slots appended to the reported vector so that every field is a pure gather.
ZERO, LOWER, UPPER, ONE = 0, 1, 2, 3
EXTRAS = np.array([0.0, -OUTER_CUT, OUTER_CUT, 1.0])


class _Registry:
    """Collects parameters in order; the same name twice is one parameter."""

    def __init__(self):
        self.parameters: dict[str, Parameter] = {}

    def add(self, name: str, block: str, default: float, transform="identity", group=None) -> str:
        self.parameters.setdefault(name, Parameter(name, transform, block, default, group))
        return name

    def index(self, names, shape) -> jnp.ndarray:
        """Index of each name (nested lists of ``shape``); ``None``, ``"-"``, ``"+"`` and
        ``"1"`` select the extra slots 0, ``-OUTER_CUT``, ``OUTER_CUT`` and 1."""
        keys = {name: i for i, name in enumerate(self.parameters)}
        n = len(keys)
        keys.update({None: n + ZERO, "-": n + LOWER, "+": n + UPPER, "1": n + ONE})
        flat = np.asarray(names, dtype=object).reshape(-1)
        return jnp.asarray([keys[name] for name in flat], dtype=jnp.int64).reshape(shape)


class Layout(eqx.Module):
    """Gather indices into ``concat(theta, EXTRAS)`` per field.

    The ordered cut-points are the gathered values times ``ordered_cut_signs`` (``-1``
    for the mirrored lower half of symmetric thresholds, else ``1``).
    """

    gamma: Int[Array, "L L"]
    b: Int[Array, "L C"]
    structural_sigma: Int[Array, " L"]
    ordered_loadings: Int[Array, " Ko"]
    ordered_cuts: Int[Array, "Ko Jp1"]
    ordered_cut_signs: Float[Array, "Ko Jp1"]
    ordered_intercepts: Int[Array, " Ko"]
    ordered_scales: Int[Array, " Ko"]
    ordered_lv: Int[Array, " Ko"]
    continuous_intercepts: Int[Array, " Kc"]
    continuous_loadings: Int[Array, " Kc"]
    continuous_sigmas: Int[Array, " Kc"]
    continuous_lv: Int[Array, " Kc"]
    beta: Int[Array, " P"]
    theta: Int[Array, "J L"]
    choice_cuts: Int[Array, " Jc"]
    choice_scale: Int[Array, ""]
    custom_params: Int[Array, " Q"]
    random_mean: Int[Array, " K"]
    random_sd: Int[Array, " K"]
    custom_terms: tuple[CustomTerm, ...] = eqx.field(static=True)
    random_terms: tuple[tuple[int, int, int], ...] = eqx.field(static=True)
    random_kinds: tuple[str, ...] = eqx.field(static=True)
    ordered_link: str = eqx.field(static=True)
    choice_kind: str = eqx.field(static=True)

    def components(self, reported):
        """The component modules for one reported parameter vector."""
        extended = jnp.concatenate([reported, jnp.asarray(EXTRAS, reported.dtype)])
        choice_cls = {
            "binary_probit": BinaryProbitChoice,
            "ordered_probit": OrderedProbitChoiceModule,
            "multinomial_logit": MultinomialLogitChoice,
            "none": NoChoiceModule,
        }[self.choice_kind]
        choice_fields = {"beta": extended[self.beta], "theta": extended[self.theta],
                         "scale": extended[self.choice_scale],
                         "custom_params": extended[self.custom_params],
                         "custom_terms": self.custom_terms,
                         "random_terms": self.random_terms}
        if self.choice_kind == "ordered_probit":
            choice_fields["cuts"] = extended[self.choice_cuts]
        return (
            Structural(gamma=extended[self.gamma], b=extended[self.b],
                       sigma=extended[self.structural_sigma],
                       random_mean=extended[self.random_mean],
                       random_sd=extended[self.random_sd], random_kinds=self.random_kinds),
            OrderedIndicators(
                loadings=extended[self.ordered_loadings],
                cuts=extended[self.ordered_cuts] * self.ordered_cut_signs.astype(extended.dtype),
                intercepts=extended[self.ordered_intercepts],
                scales=extended[self.ordered_scales],
                lv_index=self.ordered_lv,
                link=self.ordered_link,
            ),
            ContinuousIndicators(
                intercepts=extended[self.continuous_intercepts],
                loadings=extended[self.continuous_loadings],
                sigmas=extended[self.continuous_sigmas],
                lv_index=self.continuous_lv,
            ),
            choice_cls(**choice_fields),
        )


def _cuts(thresholds: list[str], width: int) -> list:
    """``(-, tau_1, ..., tau_J-1, +, +, ...)`` of length ``width``."""
    return ["-", *thresholds] + ["+"] * (width - len(thresholds) - 1)


def _symmetric_cuts(upper: list[str], n_thresholds: int, width: int) -> tuple[list, list]:
    """Cut-points ``(-, -tau_J-1, ..., -tau_u, [0,] tau_u, ..., tau_J-1, +, ...)`` from the
    upper half ``upper`` (``0`` in the middle when ``n_thresholds`` is odd), and their
    signs."""
    middle = [None] * (n_thresholds % 2)
    names = _cuts([*reversed(upper), *middle, *upper], width)
    signs = [1.0] + [-1.0] * len(upper) + [1.0] * (width - len(upper) - 1)
    return names, signs


def _symmetric_defaults(free: np.ndarray) -> np.ndarray:
    """The upper half of symmetric thresholds closest to free defaults ``free``: half
    the spread of each mirrored pair after centring (positive and increasing)."""
    half = len(free) // 2
    centred = free - free.mean()
    return 0.5 * (centred[len(free) - half:] - centred[:half][::-1])


def _ordered_defaults(levels: np.ndarray, n_levels: int, link: str) -> np.ndarray:
    """Thresholds at the inverse link of the observed cumulative shares (kept increasing).

    With loading 1 the latent index has variance ``var(eps) + 1``; the cuts are scaled
    by its standard deviation.
    """
    counts = np.bincount(levels, minlength=n_levels)[: n_levels - 1] + 0.5
    shares = np.cumsum(counts) / (len(levels) + 0.5 * n_levels)
    shares = np.clip(shares, 1e-3, 1 - 1e-3)
    if link == "probit":
        return ndtri(shares) * np.sqrt(2.0)
    return logit(shares) * np.sqrt(1.0 + 3.0 / np.pi**2)


def _ordered_link(model: ICLVModel) -> str:
    links = {ind.kind for ind in model.indicators if ind.ordered}
    if len(links) > 1:
        raise SpecificationError(
            "mixing ordered probit and ordered logit indicators in one model is not "
            "supported yet; use one link for all ordered indicators"
        )
    return "logit" if links == {"ordered_logit"} else "probit"


def _custom_terms(model: ICLVModel, panel: Panel, registry: _Registry,
                  lv_position: dict[str, int]) -> tuple[list[str], tuple[CustomTerm, ...]]:
    """The parameter names gathered into ``custom_params`` and the placed custom terms
    (attribute columns after the ``P`` linear ones in the design)."""
    names: list[str] = []
    terms = []
    first_column = len(panel.linear_names)
    for j, utility in enumerate(model.choice.utilities().values()):
        custom = utility.extra
        if custom is None:
            continue
        parameters = []
        for name in custom.parameters:
            registry.add(name, "choice", 0.0)
            if name not in names:
                names.append(name)
            parameters.append((name, names.index(name)))
        terms.append(CustomTerm(
            fn=custom.fn, utility=j, parameters=tuple(parameters),
            attributes=tuple((c, first_column + panel.custom_columns.index(c))
                             for c in custom.attributes),
            lvs=tuple((lv, lv_position[lv]) for lv in custom.lvs)))
    return names, tuple(terms)


def build_layout(model: ICLVModel, panel: Panel) -> tuple[ParameterSpace, Layout]:
    """Name every parameter, pick default starts from the data, and build the gathers."""
    registry = _Registry()
    lvs = model.lv_names
    lv_position = {name: i for i, name in enumerate(lvs)}
    covariates = model.covariates

    gamma = [[None] * len(lvs) for _ in lvs]
    b = [[None] * len(covariates) for _ in lvs]
    for l, name in enumerate(lvs):
        lv = model.lv(name)
        for upstream in lv.predictors:
            gamma[l][lv_position[upstream]] = registry.add(
                f"gamma_{upstream}_to_{name}", "structural", 0.0
            )
        for cov in lv.covariates:
            b[l][covariates.index(cov)] = registry.add(f"b_{cov}_to_{name}", "structural", 0.0)
    structural_sigma = ["1" if model.lv(name).reference is None
                        else registry.add(f"sigma_{name}", "structural", 1.0, "log")
                        for name in lvs]
    references = {model.lv(name).reference for name in lvs} - {None}

    link = _ordered_link(model)
    ordered = [ind for ind in model.indicators if ind.ordered]
    width = max((ind.levels for ind in ordered), default=2) + 1
    ordered_loadings, ordered_cuts, cut_signs, ordered_intercepts, ordered_scales = (
        [], [], [], [], [])
    for k, ind in enumerate(ordered):
        ordered_loadings.append("1" if ind.name in references
                                else registry.add(f"lambda_{ind.name}", "measurement", 1.0))
        ordered_intercepts.append(registry.add(f"alpha_{ind.name}", "measurement", 0.0)
                                  if ind.location_scale else None)
        ordered_scales.append(registry.add(f"sigma_{ind.name}", "measurement", 1.0, "log")
                              if ind.location_scale else "1")
        answered = panel.ordered_levels[:, k]
        defaults = _ordered_defaults(answered[answered >= 0], ind.levels, link)
        group = ind.threshold_group
        if ind.thresholds == "symmetric":
            first = ind.levels - len(defaults) // 2
            upper = [registry.add(f"tau_{group}_{first + j}", "measurement", float(value),
                                  "positive_threshold", group=group)
                     for j, value in enumerate(_symmetric_defaults(defaults))]
            names, signs = _symmetric_cuts(upper, ind.levels - 1, width)
        else:
            names = _cuts([registry.add(f"tau_{group}_{j + 1}", "measurement", float(value),
                                        "threshold", group=group)
                           for j, value in enumerate(defaults)], width)
            signs = [1.0] * width
        ordered_cuts.append(names)
        cut_signs.append(signs)

    continuous = [ind for ind in model.indicators if not ind.ordered]
    intercepts, cont_loadings, sigmas = [], [], []
    for k, ind in enumerate(continuous):
        values = panel.continuous_values[:, k]
        values = values[~np.isnan(values)]  # missing answers
        spread = float(np.std(values)) or 1.0
        intercepts.append(registry.add(f"alpha_{ind.name}", "measurement", float(np.mean(values))))
        cont_loadings.append(registry.add(f"lambda_{ind.name}", "measurement", 0.5 * spread))
        sigmas.append(registry.add(f"sigma_{ind.name}", "measurement", 0.8 * spread, "log"))

    beta = [registry.add(name, "choice", 0.0) for name in panel.linear_names]
    utilities = model.choice.utilities()
    n_random = len(model.random_coefficients)
    theta = [[None] * (len(lvs) + n_random) for _ in utilities]
    for j, (alt, utility) in enumerate(utilities.items()):
        for lv, name in utility.lv_parameters(model.choice.lv_suffix(alt)).items():
            theta[j][lv_position[lv]] = registry.add(name, "choice_lv", 0.0)
    choice_cuts = [None, None]
    if isinstance(model.choice, OrderedProbitChoice):
        levels = panel.chosen[panel.situation_mask]
        defaults = _ordered_defaults(levels, model.choice.levels, "probit")
        choice_cuts = _cuts(
            [registry.add(f"tau_{model.choice.choice}_{j + 1}", "choice", float(value),
                          "threshold", group=model.choice.choice)
             for j, value in enumerate(defaults)],
            model.choice.levels + 1,
        )
    custom_params, custom_terms = _custom_terms(model, panel, registry, lv_position)
    random_mean = [registry.add(f"mu_{rc.name}", "choice", 0.0)
                   for rc in model.random_coefficients]
    random_sd = [registry.add(f"sigma_{rc.name}", "choice", 0.5, "log")
                 for rc in model.random_coefficients]
    random_position = {rc.name: len(lvs) + k for k, rc in enumerate(model.random_coefficients)}
    first_column = len(panel.linear_names)
    random_terms = tuple(
        (j, first_column + panel.custom_columns.index(column), random_position[name])
        for j, utility in enumerate(utilities.values())
        for name, column in utility.random.items())
    scale = scale_parameter(model.choice)
    choice_scale = "1" if scale is None else registry.add(scale, "choice", 1.0, "log")
    choice_kind = {
        BinaryProbit: "binary_probit",
        OrderedProbitChoice: "ordered_probit",
        MultinomialLogit: "multinomial_logit",
        NoChoice: "none",
    }[type(model.choice)]

    def gather(names, shape=None):
        return registry.index(names, (len(names),) if shape is None else shape)

    layout = Layout(
        gamma=gather(gamma, (len(lvs), len(lvs))),
        b=gather(b, (len(lvs), len(covariates))),
        structural_sigma=gather(structural_sigma),
        ordered_loadings=gather(ordered_loadings),
        ordered_cuts=gather(ordered_cuts, (len(ordered), width)),
        ordered_cut_signs=jnp.asarray(cut_signs, dtype=float).reshape(len(ordered), width),
        ordered_intercepts=gather(ordered_intercepts),
        ordered_scales=gather(ordered_scales),
        ordered_lv=jnp.asarray([lv_position[ind.lv] for ind in ordered], dtype=jnp.int64),
        continuous_intercepts=gather(intercepts),
        continuous_loadings=gather(cont_loadings),
        continuous_sigmas=gather(sigmas),
        continuous_lv=jnp.asarray([lv_position[ind.lv] for ind in continuous], dtype=jnp.int64),
        beta=gather(beta),
        theta=gather(theta, (len(utilities), len(lvs) + n_random)),
        choice_cuts=gather(choice_cuts),
        choice_scale=registry.index([choice_scale], ()),
        custom_params=gather(custom_params),
        random_mean=gather(random_mean),
        random_sd=gather(random_sd),
        custom_terms=custom_terms,
        random_terms=random_terms,
        random_kinds=tuple(rc.distribution for rc in model.random_coefficients),
        ordered_link=link,
        choice_kind=choice_kind,
    )
    space = ParameterSpace(list(registry.parameters.values()), model.fixed, model.bounds)
    return space, layout
