"""After estimation: functions of parameters, posterior LVs, prediction, elasticities, tests.

Everything here works from estimated parameter values and, where the likelihood is
needed, the model, the data and the draws passed explicitly
(``results, model, data, draws``): :class:`~iclv_jax.results.Results` may carry the
model (``results.model``) and records its draws as a repr, which
:func:`~iclv_jax.persistence.draws_from_repr` turns back into a draws object, so
``model`` and ``draws`` may be left out when the results know them.

Notation: person ``n``, draw ``r`` with log integration weight ``log w_r`` (``-log R``),
``eta_nr`` the LVs from the structural equations at draw ``zeta_nr``,

    m_nr = sum_k log P(I_nk | eta_nr)               (measurement),
    c_nr = sum_t log P(y_nt | eta_nr)               (choices),
    log L_n = logsumexp_r(log w_r + m_nr + c_nr)    (the simulated likelihood).
"""

from __future__ import annotations

import ast
import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.nn import logsumexp
from jax.scipy.special import ndtr
from scipy.special import logsumexp as logsumexp_np
from scipy.stats import chi2, norm

from .components import (
    BinaryProbitChoice,
    MultinomialLogitChoice,
    OrderedProbitChoiceModule,
    log_interval_probability,
)
from .data import DataError, person_index, prepare_data, situation_slots
from .draws import Draws, as_draws
from .estimation import Problem
from .likelihood import draw_terms
from .results import Results
from .spec import BinaryProbit, ICLVModel, MultinomialLogit, NoChoice, OrderedProbitChoice

__all__ = [
    "LikelihoodRatioTest",
    "delta_method",
    "elasticities",
    "loglike_constants_only",
    "lr_test",
    "market_shares",
    "posterior_lv",
    "predict",
    "rho_squared",
    "wtp",
]

# ------------------------------------------------------------------------------------
# functions of parameters: the delta method
# ------------------------------------------------------------------------------------

_FUNCTIONS: dict[str, Callable] = {"exp": jnp.exp, "log": jnp.log, "sqrt": jnp.sqrt,
                                   "abs": jnp.abs}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_QUOTED = re.compile(r"`([^`]+)`")


def parse_expression(text: str, names: Sequence[str]) -> Callable[[Mapping], jnp.ndarray]:
    """Compile an arithmetic expression of parameter names into a function of a dict.

    The grammar is numbers, parameter names, ``+ - * / **``, unary ``+ -``,
    parentheses and the functions ``exp, log, sqrt, abs``.  A name that is not a
    Python identifier (or is a keyword, like ``lambda``) may be quoted with backticks:
    ``-`beta x` / beta_price``.  Nothing is ``eval``-ed: the text is parsed with
    :mod:`ast` and only the nodes above are interpreted, so any other name, attribute,
    subscript or call raises ``ValueError``.
    """
    if not isinstance(text, str):
        raise TypeError(f"expression must be a string or a callable, not {type(text).__name__}")
    known = set(names)
    placeholders: dict[str, str] = {}

    def placeholder(name: str) -> str:
        if name not in known:
            raise ValueError(f"unknown parameter {name!r} in {text!r}")
        key = f"_p{len(placeholders)}_"
        placeholders[key] = name
        return key

    body = _QUOTED.sub(lambda m: placeholder(m.group(1)), text)

    def identifier(match: re.Match) -> str:
        word = match.group(0)
        if word in placeholders or (word in _FUNCTIONS and word not in known):
            return word
        return placeholder(word)

    body = _IDENTIFIER.sub(identifier, body)
    try:
        tree = ast.parse(body.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"cannot parse expression {text!r}: {error.msg}") from None

    def build(node) -> Callable:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
                and not isinstance(node.value, bool):
            value = float(node.value)
            return lambda p: value
        if isinstance(node, ast.Name) and node.id in placeholders:
            name = placeholders[node.id]
            return lambda p: p[name]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            op, left, right = _BINARY[type(node.op)], build(node.left), build(node.right)
            return lambda p: op(left(p), right(p))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            op, operand = _UNARY[type(node.op)], build(node.operand)
            return lambda p: op(operand(p))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCTIONS and len(node.args) == 1 and not node.keywords):
            fn, argument = _FUNCTIONS[node.func.id], build(node.args[0])
            return lambda p: fn(argument(p))
        raise ValueError(f"expression {text!r}: {ast.dump(node)[:60]} is not allowed "
                         "(use numbers, parameter names, + - * / **, exp, log, sqrt, abs)")

    return build(tree.body)


def _as_function(expression, names) -> Callable:
    return expression if callable(expression) else parse_expression(expression, names)


def _label(expression) -> str:
    return expression if isinstance(expression, str) else getattr(expression, "__name__",
                                                                  repr(expression))


def delta_method(results: Results, expression, robust: bool = True) -> pd.DataFrame:
    """Value and delta-method standard error of functions of the estimated parameters.

    For ``g(theta)`` with ``theta`` the free reported parameters (fixed ones enter as
    constants) and ``V`` their covariance (robust sandwich by default, else classical),

        se(g) = sqrt( grad g(theta)' V grad g(theta) ),

    with the gradient by JAX autodiff.  ``t = g / se`` and ``p`` its two-sided normal
    p-value, as in the parameter table.

    Args:
        results: estimation results.
        expression: a callable taking a dict ``name -> jnp scalar`` (every parameter)
            and returning a scalar; or a string such as
            ``"beta_health_label / beta_price"`` (see :func:`parse_expression`; parsed,
            never ``eval``-ed); or a mapping ``label -> expression`` / a list of them
            for several rows.
        robust: use ``results.robust_covariance`` (default) or ``results.covariance``.

    Returns:
        DataFrame indexed by expression with columns ``estimate, se, t, p``;
        ``.attrs["covariance"]`` holds the covariance of the expressions
        (``J V J'``) and ``.attrs["robust"]`` the flag.
    """
    if isinstance(expression, Mapping):
        labels, expressions = list(expression), list(expression.values())
    elif isinstance(expression, str) or callable(expression):
        labels, expressions = [_label(expression)], [expression]
    else:
        expressions = list(expression)
        labels = [_label(e) for e in expressions]
    names = list(results.table.index)
    everything = list(results.estimates)
    functions = [_as_function(e, everything) for e in expressions]
    constants = {k: jnp.asarray(v, dtype=float) for k, v in results.estimates.items()}
    x0 = jnp.asarray(results.table["estimate"].to_numpy(dtype=float))

    @jax.jit
    def g(x):
        params = {**constants, **dict(zip(names, x, strict=True))}
        return jnp.stack([jnp.asarray(f(params), dtype=float).reshape(()) for f in functions])

    values = np.asarray(g(x0))
    jacobian = np.asarray(jax.jacobian(g)(x0))
    cov = results.robust_covariance if robust else results.covariance
    cov = cov.loc[names, names].to_numpy(dtype=float)
    covariance = jacobian @ cov @ jacobian.T
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = values / se
    table = pd.DataFrame({"estimate": values, "se": se, "t": t, "p": 2 * norm.sf(np.abs(t))},
                         index=pd.Index(labels, name="expression"))
    table.attrs["covariance"] = pd.DataFrame(covariance, index=labels, columns=labels)
    table.attrs["robust"] = robust
    return table


def wtp(results: Results, numerator, denominator: str = "beta_price",
        robust: bool = True) -> pd.DataFrame:
    """Willingness to pay ``WTP_k = -beta_k / beta_cost`` with delta-method SEs.

    The sign convention is the economic one: with a negative cost coefficient a liked
    attribute has a positive WTP, in the cost column's units.  (For the plain ratio use
    :func:`delta_method` with ``"beta_k / beta_cost"``.)  With ``a = beta_k``,
    ``b = beta_cost``, the gradient is ``(-1/b, a/b^2)``, so
    ``var = v_aa / b^2 - 2 a v_ab / b^3 + a^2 v_bb / b^4``.

    Args:
        numerator: a parameter name or a list of them (one row each).
        denominator: the cost coefficient.
    """
    numerators = [numerator] if isinstance(numerator, str) else list(numerator)
    for name in [*numerators, denominator]:
        if name not in results.estimates:
            raise ValueError(f"unknown parameter {name!r}")
    return delta_method(
        results,
        {name: (lambda p, a=name: -p[a] / p[denominator]) for name in numerators},
        robust=robust,
    )


# ------------------------------------------------------------------------------------
# the likelihood's pieces per draw: posterior weights, prediction
# ------------------------------------------------------------------------------------

CONDITIONAL = (False, "indicators", "all")


def _mode(conditional) -> str:
    if conditional is True:
        return "indicators"
    if conditional not in CONDITIONAL:
        raise ValueError(f"conditional must be one of {CONDITIONAL} (True = 'indicators'), "
                         f"got {conditional!r}")
    return "prior" if conditional is False else conditional


def _log_posterior_weights(components, person, zeta, log_weights, mode: str):
    """``eta`` ``(R, L)``, and ``log w_nr`` normalised over ``r`` for ``mode``:
    ``prior`` (``log w_r``), ``indicators`` (``+ m_nr``) or ``all`` (``+ m_nr + c_nr``)."""
    eta, measurement, choices = draw_terms(components, person, zeta)
    log_w = log_weights
    if mode in ("indicators", "all"):
        log_w = log_w + measurement
    if mode == "all":
        log_w = log_w + choices
    return eta.T, log_w - logsumexp(log_w)


def outcome_probabilities(choice, base, eta, available):
    """``P(y_t = k | eta)`` for every situation ``t`` and outcome ``k``, shape ``(T, K)``.

    MNL: ``exp(V_tk) / sum_{j available} exp(V_tj)`` (0 if ``k`` is unavailable);
    binary probit: ``(Phi(-V_t), Phi(V_t))`` for ``y = 0, 1``; ordered probit:
    ``Phi(tau_k - V_t) - Phi(tau_{k-1} - V_t)`` for levels ``k = 1..J``.
    """
    v = choice.utilities(base, eta)
    if isinstance(choice, MultinomialLogitChoice):
        return jax.nn.softmax(v, axis=1, where=available)
    if isinstance(choice, BinaryProbitChoice):
        return jnp.stack([ndtr(-v[:, 0]), ndtr(v[:, 0])], axis=1)
    if isinstance(choice, OrderedProbitChoiceModule):
        lower = choice.cuts[None, :-1] - v[:, :1]
        upper = choice.cuts[None, 1:] - v[:, :1]
        return jnp.exp(log_interval_probability(lower, upper, "probit"))
    raise ValueError("the model has no choice part: nothing to predict")


def _map_people(fn, likelihood, u):
    """``fn(components, person, zeta, log_weights)`` for every real person, the
    components at ``u``: in the likelihood's chunks (``lax.map`` over chunks, ``vmap``
    within) on every device's block of people (see
    :meth:`~iclv_jax.likelihood.SimulatedLikelihood.map_people`).  The log
    weights are the person's ``(R,)`` row: shared by everyone (simulation, quadrature)
    or per person (adaptive quadrature)."""
    def chunk(v, panel, zeta, log_weights):
        components = likelihood.components(v)
        return jax.vmap(lambda p, z, w: fn(components, p, z, w))(panel, zeta, log_weights)

    return likelihood.map_people(chunk, u)


@eqx.filter_jit
def _posterior_moments(likelihood, u, mode: str):
    def person(components, p, zeta, log_weights):
        eta, log_w = _log_posterior_weights(components, p, zeta, log_weights, mode)
        w = jnp.exp(log_w)[:, None]
        mean = (w * eta).sum(axis=0)
        sd = jnp.sqrt((w * (eta - mean) ** 2).sum(axis=0))
        return mean, sd, 1.0 / (jnp.exp(log_w) ** 2).sum()

    return _map_people(person, likelihood, u)


@eqx.filter_jit
def _log_likelihood_parts(likelihood, u):
    """Per person ``logsumexp_r(log w_r + m_nr + c_nr)``, the same without ``c``
    (measurement only) and without ``m`` (choices only, the LV from the structural
    model)."""
    def person(components, p, zeta, lw):
        _, m, c = draw_terms(components, p, zeta)
        return logsumexp(lw + m + c), logsumexp(lw + m), logsumexp(lw + c)

    return _map_people(person, likelihood, u)


def _probabilities(likelihood, u, mode: str, multiplier=None):
    """``(N, T, K)`` probabilities ``sum_r w_nr P(y_nt = k | eta_nr)``; ``multiplier``
    ``(J, P)`` rescales the design (for elasticities)."""
    if multiplier is not None:
        likelihood = eqx.tree_at(lambda lik: lik.panel.design, likelihood,
                                 likelihood.panel.design * multiplier)

    def person(components, p, zeta, log_weights):
        choice = components[3]
        eta, log_w = _log_posterior_weights(components, p, zeta, log_weights, mode)
        base = choice.base_utility(p.design)
        probs = jax.vmap(lambda e: outcome_probabilities(choice, base, e, p.available))(eta)
        return jnp.einsum("r,rtk->tk", jnp.exp(log_w), probs)

    return _map_people(person, likelihood, u)


_probabilities_jit = eqx.filter_jit(_probabilities)


@eqx.filter_jit
def _probabilities_and_tangents(likelihood, u, mode: str, multipliers, tangents):
    """Probabilities and their derivatives along each tangent of the log design scale
    ``s`` (``multiplier = exp(s * mask)``), by forward-mode autodiff."""
    def probs(s):
        return _probabilities(likelihood, u, mode, jnp.exp(jnp.tensordot(s, multipliers, 1)))

    zero = jnp.zeros(multipliers.shape[0], multipliers.dtype)
    value = probs(zero)
    derivatives = jax.vmap(lambda t: jax.jvp(probs, (zero,), (t,))[1])(tangents)
    return value, derivatives


# ------------------------------------------------------------------------------------
# set-up shared by the data-based functions
# ------------------------------------------------------------------------------------

def _model_of(results, model) -> ICLVModel:
    model = model if model is not None else getattr(results, "model", None)
    if model is None:
        raise ValueError("pass the model: these results do not carry it (results.model is None)")
    return model


def _draws_of(results, draws) -> Draws:
    if draws is not None:
        return as_draws(draws)
    if not isinstance(results, Results):
        raise ValueError("pass draws= when giving parameter values instead of results")
    from .persistence import draws_from_repr

    return draws_from_repr(results.draws)


def _parameters_of(results) -> dict[str, float]:
    if isinstance(results, Results):
        return dict(results.estimates)
    if isinstance(results, Mapping):
        return {k: float(v) for k, v in results.items()}
    raise TypeError(f"expected Results or a dict of parameter values, not "
                    f"{type(results).__name__}")


def _setup(results, model, data, draws) -> tuple[Problem, jnp.ndarray]:
    """The problem on ``data`` and the free internal vector of the estimates."""
    problem = Problem(model, data, _draws_of(results, draws))
    params = _parameters_of(results)
    names = set(problem.space.names)
    missing = sorted(names - set(params))
    extra = sorted(set(params) - names)
    if missing or extra:
        raise ValueError(f"the parameter values do not fit the model: missing {missing}, "
                         f"unknown {extra}")
    adapt = getattr(problem, "adapt", None)
    if adapt is not None:  # adaptive quadrature: nodes centred at these parameters
        adapt(params)
    return problem, problem.free_internal(params)


def _row_positions(model: ICLVModel, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(person index, situation slot)`` of every row of ``data`` in its order, as
    :func:`iclv_jax.prepare_data` lays the panel out (:func:`~iclv_jax.data.person_index`,
    rows kept in order)."""
    person = person_index(data, model.person_id)[1]
    return person, situation_slots(person)


def outcome_labels(model: ICLVModel) -> list:
    """Column labels of :func:`predict`: MNL alternative names, ``0, 1`` for binary
    probit, levels ``1..J`` for ordered choice."""
    choice = model.choice
    if isinstance(choice, MultinomialLogit):
        return [alt.name for alt in choice.alternatives]
    if isinstance(choice, BinaryProbit):
        return [0, 1]
    if isinstance(choice, OrderedProbitChoice):
        return list(range(1, choice.levels + 1))
    raise ValueError("the model has no choice part (NoChoice): nothing to predict")


def prediction_frame(model: ICLVModel, data: pd.DataFrame, need_indicators: bool,
                     need_choice: bool = False) -> pd.DataFrame:
    """``data`` completed with placeholder columns the likelihood set-up requires but an
    unconditional prediction does not read.

    - no person-id column: every row is its own person (ids ``0..rows-1``);
    - no choice column (only where ``need_choice`` is false): the first available
      alternative (MNL), ``0`` (binary), or levels ``1..J`` in turn (ordered; in turn so
      that the set-up's default thresholds are increasing);
    - no indicator column (only where ``need_indicators`` is false): levels ``1..J``
      in turn over people (ordered), ``0.0`` (continuous).

    The placeholders never enter an unconditional prediction: only the structural
    model, the covariates and the attributes do.  Raises :class:`DataError` where a
    column that is needed is missing.
    """
    filled = {}
    if model.person_id in data.columns:
        person = person_index(data, model.person_id)[1]
    else:
        person = filled[model.person_id] = np.arange(len(data))
    choice = model.choice
    if choice.choice is not None and choice.choice not in data.columns:
        if need_choice:
            raise DataError(f"column {choice.choice!r} (choice) is not in the data; "
                            "conditioning on choices needs it")
        if isinstance(choice, MultinomialLogit):
            available = np.ones((len(data), len(choice.alternatives)), dtype=bool)
            for j, alt in enumerate(choice.alternatives):
                if alt.available is not None and alt.available in data.columns:
                    available[:, j] = data[alt.available].to_numpy(dtype=float) == 1.0
            codes = np.array([alt.code for alt in choice.alternatives])
            filled[choice.choice] = codes[available.argmax(axis=1)]
        elif isinstance(choice, OrderedProbitChoice):
            filled[choice.choice] = 1 + np.arange(len(data)) % choice.levels
        else:
            filled[choice.choice] = np.zeros(len(data), dtype=np.int64)
    for ind in model.indicators:
        if ind.name not in data.columns:
            if need_indicators:
                raise DataError(f"column {ind.name!r} (indicator) is not in the data; "
                                "conditioning on indicators needs it")
            filled[ind.name] = 1 + person % ind.levels if ind.ordered else 0.0
    return data.assign(**filled) if filled else data


def _rows(model, data, array) -> np.ndarray:
    person, slot = _row_positions(model, data)
    return np.asarray(array)[person, slot]


# ------------------------------------------------------------------------------------
# posterior LVs, prediction, market shares, elasticities
# ------------------------------------------------------------------------------------

def posterior_lv(results, model: ICLVModel | None, data: pd.DataFrame, draws=None,
                 choices: bool = True, ess: bool = False) -> pd.DataFrame:
    """Conditional (posterior) means and SDs of the LVs of every person.

    Given person ``n``'s indicators and (with ``choices=True``) choices, by importance
    sampling with the structural model as proposal:

        w_nr = softmax_r( log w_r + m_nr [+ c_nr] ),
        E[eta_n | data]  = sum_r w_nr eta_nr,
        SD[eta_n | data] = sqrt( sum_r w_nr (eta_nr - E[eta_n | data])^2 ).

    The Monte-Carlo error grows as the effective number of draws
    ``1 / sum_r w_nr^2`` falls (``ess=True`` adds it as a column ``ess``).

    Args:
        results: :class:`Results` or a dict of parameter values (every parameter).
        model: the specification (``None``: ``results.model``).
        data: the estimation data or new data with the same columns.
        draws: draws object or count (default: the draws of the estimation, recreated
            from ``results.draws``).
        choices: condition on the choices too (default), or on the indicators only.

    Returns:
        DataFrame indexed by person id (sorted), columns ``<lv>_mean``, ``<lv>_sd`` per
        LV (in topological order).
    """
    model = _model_of(results, model)
    frame = data if choices else prediction_frame(model, data, need_indicators=True)
    problem, u = _setup(results, model, frame, draws)
    mode = "all" if choices else "indicators"
    mean, sd, effective = (np.asarray(a) for a in
                           _posterior_moments(problem.likelihood, u, mode))
    columns = {}
    for l, lv in enumerate(model.lv_names):
        columns[f"{lv}_mean"] = mean[:, l]
        columns[f"{lv}_sd"] = sd[:, l]
    if ess:
        columns["ess"] = effective
    return pd.DataFrame(columns, index=pd.Index(problem.panel.person_ids, name=model.person_id))


def _prediction_setup(results, model, data, draws, conditional):
    """What :func:`predict` and :func:`elasticities` share: ``(model, outcome labels,
    weighting mode, prediction frame, problem, internal estimates)``."""
    model = _model_of(results, model)
    mode = _mode(conditional)
    frame = prediction_frame(model, data, need_indicators=mode != "prior",
                             need_choice=mode == "all")
    problem, u = _setup(results, model, frame, draws)
    return model, outcome_labels(model), mode, frame, problem, u


def predict(results, model: ICLVModel | None, data: pd.DataFrame, draws=None,
            conditional=False) -> pd.DataFrame:
    """Choice probabilities of every row of ``data`` with the LVs integrated out.

    Unconditional (default): ``P(y_nt = k) = sum_r w_r P(y_nt = k | eta_nr)``, the LVs
    drawn from the structural model given the person's covariates; indicators and
    choices in ``data`` are not used and may be absent (see :func:`prediction_frame`),
    as may the person-id column (each row is then its own person).
    ``conditional="indicators"`` (or ``True``) weights the draws by the posterior given
    each person's indicators, ``w_nr = softmax_r(log w_r + m_nr)``; ``"all"`` given
    indicators and observed choices (``+ c_nr``), an in-sample quantity.

    Returns:
        DataFrame with ``data``'s index and one column per outcome (see
        :func:`outcome_labels`): MNL alternative names, ``0, 1`` for binary probit
        (column ``1`` is ``P(y = 1)``), levels ``1..J`` for ordered choice.  Rows sum
        to 1.
    """
    model, labels, mode, frame, problem, u = _prediction_setup(
        results, model, data, draws, conditional)
    probs = _probabilities_jit(problem.likelihood, u, mode)
    return pd.DataFrame(_rows(model, frame, probs), index=data.index,
                        columns=pd.Index(labels, name="outcome"))


def market_shares(results, model: ICLVModel | None, data: pd.DataFrame, draws=None,
                  conditional=False) -> pd.Series:
    """Predicted market shares: the mean of :func:`predict` over the rows of ``data``,
    ``S_k = (1 / #rows) sum_{n,t} P(y_nt = k)``."""
    return predict(results, model, data, draws, conditional).mean(axis=0).rename("share")


def _attribute_entries(model: ICLVModel, problem: Problem, label: str):
    """``(utility labels, (J, P) 0/1 masks)``: for each utility with attribute ``label``
    the entry of the design holding its column."""
    utilities = model.choice.utilities()
    names = problem.panel.linear_names
    rows, masks = [], []
    for j, (alt, utility) in enumerate(utilities.items()):
        if label not in utility.attributes:
            continue
        suffix = model.choice.lv_suffix(alt)
        specific = label in utility.specific and suffix is not None
        mask = np.zeros(problem.panel.design.shape[2:])
        mask[j, names.index(f"beta_{label}_{suffix}" if specific else f"beta_{label}")] = 1.0
        rows.append(alt if alt else label)
        masks.append(mask)
    if not rows:
        known = sorted({a for u in utilities.values() for a in u.attributes})
        raise ValueError(f"no utility has attribute {label!r}; attributes: {known}")
    return rows, np.stack(masks)


def elasticities(results, model: ICLVModel | None, data: pd.DataFrame, attribute_label: str,
                 draws=None, conditional=False, aggregate: bool = False) -> pd.DataFrame:
    """Point elasticities of the choice probabilities w.r.t. an attribute, averaged.

    For situation ``t``, utility ``j`` carrying attribute ``attribute_label`` (column
    ``x_tj``) and outcome ``k``, the elasticity is
    ``e_tkj = (dP_tk / dx_tj) x_tj / P_tk``, with ``P`` the prediction of
    :func:`predict` (LVs integrated).  The derivative is exact: forward-mode autodiff
    of the prediction along ``s_j`` in ``x_tj -> x_tj exp(s_j)``, since
    ``dP_tk / ds_j = (dP_tk / dx_tj) x_tj`` at ``s_j = 0``.

    ``aggregate=False`` (default) reports the sample average
    ``(1 / #rows) sum_t e_tkj`` over the rows where ``P_tk > 0`` and (MNL) alternative
    ``j`` is available; ``aggregate=True`` the elasticity of the predicted share of
    ``k`` over the same rows, ``sum_t P_tk e_tkj / sum_t P_tk``.  ``conditional`` is as
    in :func:`predict` (with ``"all"`` the posterior weights move with the attribute
    too, and the derivative follows them).

    Returns:
        DataFrame, one row per utility with the attribute (MNL alternative name, or the
        attribute label for binary/ordered choice), one column per outcome: the direct
        elasticities are where the row's alternative meets its own column (MNL), the
        others cross elasticities.
    """
    model, labels, mode, frame, problem, u = _prediction_setup(
        results, model, data, draws, conditional)
    rows, masks = _attribute_entries(model, problem, attribute_label)
    tangents = jnp.eye(len(rows))
    value, derivatives = _probabilities_and_tangents(
        problem.likelihood, u, mode, jnp.asarray(masks), tangents)
    p = _rows(model, frame, value)
    table = np.empty((len(rows), len(labels)))
    for i, row in enumerate(rows):
        d = _rows(model, frame, derivatives[i])
        positive = p > 0
        if isinstance(model.choice, MultinomialLogit):  # rows where the changed one exists
            positive &= p[:, labels.index(row)][:, None] > 0
        if aggregate:
            table[i] = np.where(positive, d, 0.0).sum(axis=0) / np.where(positive, p, 0.0).sum(0)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                e = np.where(positive, d / p, 0.0)
            table[i] = e.sum(axis=0) / positive.sum(axis=0)
    return pd.DataFrame(table, index=pd.Index(rows, name=f"{attribute_label} of"),
                        columns=pd.Index(labels, name="probability of"))


# ------------------------------------------------------------------------------------
# tests and fit
# ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LikelihoodRatioTest:
    """``statistic = 2 (LL_u - LL_r)``, ``df = K_u - K_r``, ``p = P(chi2_df > statistic)``."""

    statistic: float
    df: int
    p_value: float
    loglike_restricted: float
    loglike_unrestricted: float

    def __str__(self) -> str:
        return (f"LR = {self.statistic:.4f}, df = {self.df}, p = {self.p_value:.4g} "
                f"(LL {self.loglike_restricted:.4f} -> {self.loglike_unrestricted:.4f})")


def lr_test(restricted: Results, unrestricted: Results) -> LikelihoodRatioTest:
    """Likelihood-ratio test of a restricted model nested in an unrestricted one.

    ``LR = 2 (LL_u - LL_r)`` is asymptotically ``chi2`` with
    ``df = K_u - K_r`` (free parameters) under the restriction.  Raises ``ValueError``
    if ``df <= 0`` (not nested by parameter count) or the two were estimated on
    different numbers of people or observations; warns if the restricted LL is above
    the unrestricted one (not nested, or one estimate is not the maximum) or the
    restricted free parameters are not among the unrestricted ones.

    With simulated likelihoods both must use the same data and draws.
    """
    df = unrestricted.n_params - restricted.n_params
    if df <= 0:
        raise ValueError(f"the restricted model must have fewer free parameters: "
                         f"{restricted.n_params} vs {unrestricted.n_params}")
    if (restricted.n_people, restricted.n_observations) != (unrestricted.n_people,
                                                            unrestricted.n_observations):
        raise ValueError("the two results were estimated on different data "
                         f"({restricted.n_people}/{restricted.n_observations} vs "
                         f"{unrestricted.n_people}/{unrestricted.n_observations} "
                         "people/observations)")
    outside = sorted(set(restricted.table.index) - set(unrestricted.table.index))
    if outside:
        warnings.warn(f"restricted parameters not in the unrestricted model: {outside}; "
                      "are the models nested?", stacklevel=2)
    statistic = 2.0 * (unrestricted.loglike - restricted.loglike)
    if statistic < -1e-6 * max(1.0, abs(unrestricted.loglike)):
        warnings.warn(f"the restricted LL ({restricted.loglike:.4f}) is above the "
                      f"unrestricted one ({unrestricted.loglike:.4f}): not nested, or an "
                      "estimate is not at the maximum", stacklevel=2)
    return LikelihoodRatioTest(statistic=float(statistic), df=int(df),
                               p_value=float(chi2.sf(max(statistic, 0.0), df)),
                               loglike_restricted=float(restricted.loglike),
                               loglike_unrestricted=float(unrestricted.loglike))


def _constants_loglike_mnl(chosen: np.ndarray, available: np.ndarray) -> float:
    """Maximised LL of an MNL with alternative-specific constants only.

    The constants solve ``n_j = sum_t P_tj(a)``, found by the fixed point
    ``a_j <- a_j + log(n_j / sum_t P_tj)``; never-chosen alternatives get
    ``a_j = -inf`` (probability 0).
    """
    counts = np.bincount(chosen, minlength=available.shape[1]).astype(float)
    chosen_any = counts > 0
    avail = available & chosen_any[None, :]
    a = np.zeros(available.shape[1])
    for _ in range(10000):
        v = np.where(avail, a[None, :], -np.inf)
        p = np.exp(v - logsumexp_np(v, axis=1, keepdims=True))
        expected = p.sum(axis=0)
        gap = np.abs(expected - counts)[chosen_any].max()
        if gap < 1e-10 * len(chosen):
            break
        a[chosen_any] += np.log(counts[chosen_any] / expected[chosen_any])
        a -= a[chosen_any][0]
    v = np.where(avail, a[None, :], -np.inf)
    log_p = v - logsumexp_np(v, axis=1, keepdims=True)
    return float(log_p[np.arange(len(chosen)), chosen].sum())


def loglike_constants_only(model: ICLVModel, data: pd.DataFrame) -> float:
    """LL of the choice model with constants only (no attributes, no LVs), maximised.

    Every situation is treated as independent (as in Biogeme/Apollo ``LL(C)``):

    - binary probit and ordered choice: the observed shares,
      ``sum_k n_k log(n_k / n)``;
    - MNL: alternative-specific constants, maximised under each row's availability
      (equal to ``sum_k n_k log(n_k / n)`` when all are always available).
    """
    if isinstance(model.choice, NoChoice):
        raise ValueError("the model has no choice part")
    panel = prepare_data(model, data)
    mask = panel.situation_mask
    chosen, available = panel.chosen[mask], panel.available[mask]
    if isinstance(model.choice, MultinomialLogit):
        return _constants_loglike_mnl(chosen, available)
    counts = np.bincount(chosen).astype(float)
    counts = counts[counts > 0]
    return float((counts * np.log(counts / counts.sum())).sum())


def rho_squared(results: Results, model: ICLVModel | None, data: pd.DataFrame,
                draws=None) -> pd.Series:
    """Goodness of fit of the choice part of an ICLV model.

    The ICLV log-likelihood includes the measurement equations, so it cannot be set
    against a choice-only baseline.  Here the fit is that of the *choice part alone*,
    at the estimates, with the LVs integrated over their structural distribution
    (the indicators are not used):

        LL_choice = sum_n log sum_r w_r prod_t P(y_nt | eta_nr),

    the likelihood of the choices the model predicts for a person of whom only the
    covariates and attributes are known.  Against it:

    - ``loglike_null``: equal shares, :meth:`iclv_jax.Problem.null_choice_loglike`
      (``-sum_t log #available_t`` for MNL, ``n log 1/2`` binary, ``n log 1/J``
      ordered — for ordered choice this is not the "all parameters zero" LL, which
      is undefined with thresholds);
    - ``loglike_constants``: :func:`loglike_constants_only`.

    ``rho_squared_null = 1 - LL_choice / LL_null``,
    ``adjusted_rho_squared_null = 1 - (LL_choice - K) / LL_null`` with ``K`` the free
    parameters of the choice part (blocks ``choice`` and ``choice_lv``: betas, ascs,
    choice thresholds and LV coefficients; the structural parameters also shape
    ``LL_choice`` but are not counted), and
    ``rho_squared_constants = 1 - LL_choice / LL_constants``.  Also returned:
    ``loglike_measurement`` (the indicators alone, LVs integrated) and ``loglike``
    (everything, equal to ``results.loglike`` on the estimation data and draws).
    """
    model = _model_of(results, model)
    if isinstance(model.choice, NoChoice):
        raise ValueError("the model has no choice part: rho-squared is not defined")
    problem, u = _setup(results, model, data, draws)
    total, measurement, choice = (float(np.asarray(x).sum())
                                  for x in _log_likelihood_parts(problem.likelihood, u))
    null = problem.null_choice_loglike()
    constants = loglike_constants_only(model, data)
    k = sum(block in ("choice", "choice_lv") for block in problem.space.blocks())
    return pd.Series({
        "loglike": total,
        "loglike_measurement": measurement,
        "loglike_choice": choice,
        "loglike_null": null,
        "loglike_constants": constants,
        "n_choice_params": k,
        "rho_squared_null": 1.0 - choice / null,
        "adjusted_rho_squared_null": 1.0 - (choice - k) / null,
        "rho_squared_constants": 1.0 - choice / constants if constants != 0 else math.nan,
    }, name="fit")
