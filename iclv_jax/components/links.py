"""Log-probabilities of ordered outcomes and the normal CDF, accurate in the tails, and
the broadcasting rule of per-draw arrays (draws last)."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

# Cut-points beyond the outermost thresholds: finite, so that gradients and Hessians
# of the outer categories stay finite (F(+-1e6) is 1 or 0 to machine precision).
OUTER_CUT = 1e6


# Below this upper end (float64; float32: ``-10``) the normal interval probability is
# evaluated by the asymptotic series of log Phi instead of erfc (which underflows near
# -37, or -13 in float32); the series' first omitted term is below 2e-12 (1e-7) there.
NORMAL_TAIL = {"float64": -30.0, "float32": -10.0}


ROOT_TWO_PI = math.sqrt(2.0 * math.pi)
ROOT_HALF = math.sqrt(0.5)


def _mills_series(x):
    """``S(x) = 1 - 1/x^2 + 3/x^4 - 15/x^6 + 105/x^8``: ``Phi(x) ~ phi(x) S(x) / (-x)`` for
    ``x << 0`` (the asymptotic series of the Mills ratio)."""
    w = 1.0 / x**2
    return 1.0 + w * (-1.0 + w * (3.0 + w * (-15.0 + 105.0 * w)))


def _tail_split(x, tail: float):
    """``(x_body, x_tail)``: ``x`` where it lies on that side of ``tail``, else ``tail``
    (each branch only sees arguments where it is finite, the double-``where`` rule)."""
    in_tail = x < tail
    return jnp.where(in_tail, tail, x), jnp.where(in_tail, x, tail)


def _log_normal_cdf_parts(x):
    """``(log Phi(x), phi(x) / Phi(x))`` from one ``erfc``, one ``log`` and one ``exp``.

    Above :data:`NORMAL_TAIL` ``Phi = erfc(-x / sqrt 2) / 2``; below it
    ``Phi = phi(x) q`` with ``q = S(x) / (-x)`` (:func:`_mills_series`), so
    ``log Phi = -x^2/2 - log sqrt(2 pi) + log q`` and ``phi / Phi = 1 / q``: one ``log``
    of the selected ``Phi`` or ``q`` (no branch evaluates a second one), and the slope
    as ``exp(log phi - log Phi)`` (``exp(-log q)``), whose own derivative stays finite
    where ``Phi^2`` would underflow."""
    tail = NORMAL_TAIL[jnp.result_type(x).name]
    in_tail = x < tail
    x_body, x_tail = _tail_split(x, tail)
    half_square = -0.5 * x * x
    scaled = jnp.where(
        in_tail,
        _mills_series(x_tail) / -x_tail,
        0.5 * jax.scipy.special.erfc(-x_body * ROOT_HALF),
    )
    log_scaled, log_density = jnp.log(scaled), half_square - math.log(ROOT_TWO_PI)
    log_cdf = log_scaled + jnp.where(in_tail, log_density, 0.0)
    return log_cdf, jnp.exp(jnp.where(in_tail, 0.0, log_density) - log_scaled)


def density_log_slope(x, link: str):
    """``kappa(x) = f'(x) / f(x)`` of the link's density ``f``: ``-x`` (probit),
    ``1 - 2 F(x) = -tanh(x / 2)`` (logit)."""
    return -jnp.tanh(0.5 * x) if link == "logit" else -x


def slope_change(slope, kappa):
    """``d/dx (f(x) / G) = slope (kappa - slope)`` for ``slope = f(x) / G`` where
    ``dG/dx = f(x)`` (``G`` the CDF, or an interval probability in its upper end; with
    ``slope = -f(x) / G`` in its lower end, where ``dG/dx = -f(x)``, the same form)."""
    return slope * (kappa - slope)


@jax.custom_jvp
def log_normal_cdf_parts(x):
    """``(log Phi(x), phi(x) / Phi(x))`` (:func:`_log_normal_cdf_parts`); their
    derivatives in closed form from the same values (custom JVP): ``d log Phi = s dx``,
    ``ds = s (-x - s) dx`` (:func:`slope_change`), so second derivatives do not
    differentiate ``erfc``."""
    return _log_normal_cdf_parts(x)


@log_normal_cdf_parts.defjvp
def _log_normal_cdf_parts_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    log_cdf, slope = log_normal_cdf_parts(x)
    return (log_cdf, slope), (slope * dx, slope_change(slope, density_log_slope(x, "probit")) * dx)


@jax.custom_jvp
def log_normal_cdf(x):
    """``log Phi(x)``, accurate in both tails (see :func:`_log_normal_cdf_parts`); its
    derivative ``phi(x) / Phi(x)`` comes from the same evaluation (custom JVP), and that
    slope's own derivative in closed form (:func:`log_normal_cdf_parts`)."""
    return _log_normal_cdf_parts(x)[0]


@log_normal_cdf.defjvp
def _log_normal_cdf_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    log_cdf, slope = log_normal_cdf_parts(x)
    return log_cdf, slope * dx


def _probit_interval_parts(lower, upper):
    """``(log P, d log P / d lower, d log P / d upper)`` of ``P = Phi(upper) - Phi(lower)``
    from two ``erfc``, two ``exp`` and one ``log``.

    By the symmetry ``Phi(u) - Phi(l) = Phi(-l) - Phi(-u)`` the interval is reflected to
    ``a < b``, ``a + b <= 0`` (both ``Phi`` relatively accurate).  With
    ``d = phi(a) / phi(b) = exp(-(a - b)(a + b) / 2)`` (in ``(0, 1]``) and
    ``W = P / phi(b)``:

    - above :data:`NORMAL_TAIL`: ``P = (erfc(-b/sqrt 2) - erfc(-a/sqrt 2)) / 2``;
    - below it (``b`` in the far left tail, where ``erfc`` underflows):
      ``W = S(b) / (-b) - d S(a) / (-a)`` (:func:`_mills_series`), so
      ``log P = -b^2/2 - log sqrt(2 pi) + log W``.

    The slopes are ``phi(b) / P`` and ``-phi(a) / P = -d phi(b) / P``, mapped back
    through the reflection, with ``phi(b) / P = exp(log phi(b) - log P)`` (``1 / W`` in
    the tail), whose derivative stays finite where ``P^2`` would underflow.
    """
    reflect = lower + upper > 0
    a = jnp.where(reflect, -upper, lower)
    b = jnp.where(reflect, -lower, upper)
    tail = NORMAL_TAIL[jnp.result_type(b).name]
    in_tail = b < tail
    b_body, b_tail = _tail_split(b, tail)
    a_body, a_tail = jnp.where(in_tail, tail - 1.0, a), jnp.where(in_tail, a, tail - 1.0)
    half_square = -0.5 * b * b
    ratio_ab = jnp.exp(-0.5 * (a - b) * (a + b))
    mills_b = _mills_series(b_tail) / -b_tail
    scaled = jnp.where(
        in_tail,
        mills_b - ratio_ab * _mills_series(a_tail) / -a_tail,
        0.5
        * (
            jax.scipy.special.erfc(-b_body * ROOT_HALF)
            - jax.scipy.special.erfc(-a_body * ROOT_HALF)
        ),
    )
    # an interval that rounding collapsed to a point (``a == b`` where the index is
    # beyond the cut-points' resolution, |index| > ~1e8): ``log Phi(b)`` and unit
    # slopes, finite at the data bound as ``log(1 - exp(0))`` clamped used to give
    collapsed = scaled <= 0.0
    scaled = jnp.where(collapsed, mills_b, scaled)
    log_scaled, log_density = jnp.log(scaled), half_square - math.log(ROOT_TWO_PI)
    log_p = log_scaled + jnp.where(in_tail, log_density, 0.0)
    slope_b = jnp.where(collapsed, 1.0, jnp.exp(jnp.where(in_tail, 0.0, log_density) - log_scaled))
    slope_a = jnp.where(collapsed, 1.0, slope_b * ratio_ab)
    return log_p, -jnp.where(reflect, slope_b, slope_a), jnp.where(reflect, slope_a, slope_b)


def _logit_interval_parts(lower, upper):
    """``(log P, d log P / d lower, d log P / d upper)`` of ``P = F(u) - F(l)``, ``F`` the
    logistic CDF, from two ``exp``, one ``expm1`` and one ``log``.

    ``F(u) - F(l) = F(u) F(-l) (1 - e^(l-u))`` and ``log F(x) = min(x, 0) - log(1 + e^-|x|)``:
    ``log P = min(u, 0) + min(-l, 0) + log(-m / ((1 + e^-|u|)(1 + e^-|l|)))`` with
    ``m = expm1(l - u)``, exact everywhere.  Slopes: ``(-F(l) - r, F(-u) + r)`` with
    ``r = e^(l-u) / (1 - e^(l-u)) = (1 + m) / -m``.
    """
    exp_upper, exp_lower = jnp.exp(-jnp.abs(upper)), jnp.exp(-jnp.abs(lower))
    inverse_upper, inverse_lower = 1.0 / (1.0 + exp_upper), 1.0 / (1.0 + exp_lower)
    gap = jnp.expm1(lower - upper)
    log_p = (
        jnp.minimum(upper, 0.0)
        + jnp.minimum(-lower, 0.0)
        + jnp.log(-gap * inverse_upper * inverse_lower)
    )
    ratio = (1.0 + gap) / -gap
    cdf_lower = jnp.where(lower >= 0, inverse_lower, exp_lower * inverse_lower)
    survival_upper = jnp.where(upper <= 0, inverse_upper, exp_upper * inverse_upper)
    return log_p, -cdf_lower - ratio, survival_upper + ratio


def _interval_parts(lower, upper, link: str):
    """``(log P, d log P / d lower, d log P / d upper)`` under ``link``."""
    if link == "logit":
        return _logit_interval_parts(lower, upper)
    return _probit_interval_parts(lower, upper)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def log_interval_parts(lower, upper, link: str):
    """``(log P, s_l, s_u)``, ``s_l = d log P / d lower = -f(lower) / P`` and
    ``s_u = d log P / d upper = f(upper) / P`` (:func:`_interval_parts`); their
    derivatives in closed form from the same values (custom JVP):

        d s_l = s_l (kappa(lower) - s_l) d lower - s_l s_u d upper,
        d s_u = -s_l s_u d lower + s_u (kappa(upper) - s_u) d upper,

    ``kappa = f'/f`` (:func:`density_log_slope`), so second derivatives (the exact
    Hessian's forward-over-reverse products) do not differentiate ``erfc``."""
    return _interval_parts(lower, upper, link)


def interval_derivatives(lower, upper, link: str):
    """``(log P, s_l, s_u, h_ll, h_lu, h_uu)``: :func:`log_interval_parts` and the second
    derivatives of ``log P`` in its ends, ``h_ll = s_l (kappa(lower) - s_l)``,
    ``h_lu = -s_l s_u``, ``h_uu = s_u (kappa(upper) - s_u)``."""
    log_p, slope_lower, slope_upper = log_interval_parts(lower, upper, link)
    return (
        log_p,
        slope_lower,
        slope_upper,
        slope_change(slope_lower, density_log_slope(lower, link)),
        -slope_lower * slope_upper,
        slope_change(slope_upper, density_log_slope(upper, link)),
    )


@log_interval_parts.defjvp
def _log_interval_parts_jvp(link: str, primals, tangents):
    lower, upper = primals
    d_lower, d_upper = tangents
    log_p, slope_lower, slope_upper, lower_lower, cross, upper_upper = interval_derivatives(
        lower, upper, link
    )
    d_slope_lower = lower_lower * d_lower + cross * d_upper
    d_slope_upper = cross * d_lower + upper_upper * d_upper
    return (log_p, slope_lower, slope_upper), (
        slope_lower * d_lower + slope_upper * d_upper,
        d_slope_lower,
        d_slope_upper,
    )


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def log_interval_probability(lower, upper, link: str):
    """``log P = log(F(upper) - F(lower))`` for ``lower < upper`` without cancellation
    (:func:`_probit_interval_parts`, :func:`_logit_interval_parts`).

    One fused evaluation gives the value and both slopes ``d log P / d upper =
    f(upper) / P`` and ``d log P / d lower = -f(lower) / P``, finite wherever ``log P``
    is: the custom JVP reuses them (the value alone compiles without the slopes), and
    their own derivatives come in closed form (:func:`log_interval_parts`)."""
    return _interval_parts(lower, upper, link)[0]


@log_interval_probability.defjvp
def _log_interval_probability_jvp(link: str, primals, tangents):
    lower, upper = primals
    d_lower, d_upper = tangents
    log_p, slope_lower, slope_upper = log_interval_parts(lower, upper, link)
    return log_p, slope_lower * d_lower + slope_upper * d_upper


def along_draws(values, eta):
    """``values`` (leading axis per item, situation, ...) with a unit axis for each of
    ``eta``'s trailing draw axes, so it broadcasts against per-draw arrays.

    Component methods take ``eta`` as ``(L,)`` (one draw) or ``(L, R)`` (all draws,
    draws last: on CPU the innermost, vectorised axis is then the long draw axis
    rather than the handful of items)."""
    return jnp.reshape(values, jnp.shape(values) + (1,) * (eta.ndim - 1))


def per_link(function, links: tuple[str, ...], *arrays):
    """``function(*arrays, link)`` with each item (the first axis of ``arrays``) under its
    own link: one call when every item shares a link (no extra cost), else one call per
    link on its items (indices fixed at trace time), put back in item order.  ``function``
    returns an array or a tuple of arrays shaped like its inputs."""
    distinct = tuple(dict.fromkeys(links))
    if len(distinct) <= 1:
        return function(*arrays, distinct[0] if distinct else "probit")
    parts, order = [], []
    for link in distinct:
        index = np.flatnonzero(np.asarray(links) == link)
        parts.append(function(*(array[index] for array in arrays), link))
        order.append(index)
    inverse = np.argsort(np.concatenate(order))
    return jax.tree.map(lambda *pieces: jnp.concatenate(pieces)[inverse], *parts)
