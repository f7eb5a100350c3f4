"""Log-probabilities of ordered outcomes and the normal CDF, accurate in the tails, and
the broadcasting rule of per-draw arrays (draws last)."""

import functools

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


def _log_sigmoid(x):
    """``log F(x) = min(x, 0) - log(1 + exp(-|x|))`` for the logistic ``F``."""
    return jnp.minimum(x, 0.0) - jnp.log1p(jnp.exp(-jnp.abs(x)))


def _log1mexp(x):
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2``.

    Each branch only sees arguments where it is finite (the double-``where`` rule), so
    the gradient of the branch not taken cannot turn into a NaN.
    """
    x = jnp.minimum(x, -1e-300)
    near_zero = x > -jnp.log(2.0)
    x_near = jnp.where(near_zero, x, -1.0)
    x_far = jnp.where(near_zero, -1.0, x)
    return jnp.where(near_zero, jnp.log(-jnp.expm1(x_near)), jnp.log1p(-jnp.exp(x_far)))


def _log_normal_pdf(x):
    """``log phi(x)``, the standard normal density."""
    return -0.5 * x**2 - 0.5 * jnp.log(2.0 * jnp.pi)


def _mills_series(x):
    """``S(x) = 1 - 1/x^2 + 3/x^4 - 15/x^6 + 105/x^8``: ``Phi(x) ~ phi(x) S(x) / (-x)`` for
    ``x << 0`` (the asymptotic series of the Mills ratio)."""
    w = 1.0 / x**2
    return 1.0 + w * (-1.0 + w * (3.0 + w * (-15.0 + 105.0 * w)))


def _log_normal_cdf_tail(x):
    """``log Phi(x) = log phi(x) - log(-x) + log S(x)`` for ``x << 0``."""
    return _log_normal_pdf(x) - jnp.log(-x) + jnp.log(_mills_series(x))


@jax.custom_jvp
def log_normal_cdf(x):
    """``log Phi(x)``: ``log(erfc(-x / sqrt 2) / 2)`` down to :data:`NORMAL_TAIL`, the
    asymptotic series below; derivative ``phi(x) / Phi(x) = exp(log phi - log Phi)``.
    A cheaper equal of :func:`jax.scipy.special.log_ndtr` (one ``erfc``, no branches
    evaluated twice)."""
    tail = NORMAL_TAIL[jnp.result_type(x).name]
    in_tail = x < tail
    body = jnp.log(0.5 * jax.scipy.special.erfc(-jnp.where(in_tail, tail, x) * jnp.sqrt(0.5)))
    return jnp.where(in_tail, _log_normal_cdf_tail(jnp.where(in_tail, x, tail)), body)


@log_normal_cdf.defjvp
def _log_normal_cdf_jvp(primals, tangents):
    """``d log Phi / dx = phi(x) / Phi(x)``: ``exp(log phi - log Phi)``, and in the tail
    ``-x / S(x)`` (no cancellation between two large logs)."""
    (x,), (dx,) = primals, tangents
    log_cdf = log_normal_cdf(x)
    tail = NORMAL_TAIL[jnp.result_type(x).name]
    in_tail = x < tail
    x_tail = jnp.where(in_tail, x, tail)
    slope = jnp.where(
        in_tail, -x_tail / _mills_series(x_tail), jnp.exp(_log_normal_pdf(x) - log_cdf)
    )
    return log_cdf, slope * dx


def _log_normal_interval(a, b):
    """``log(Phi(b) - Phi(a))`` for ``a < b``, ``a + b <= 0``: ``erfc`` differences
    ``(erfc(-b/sqrt 2) - erfc(-a/sqrt 2)) / 2`` (each ``Phi`` relatively accurate on the
    left), and in the far left tail (``b`` below :data:`NORMAL_TAIL`) the asymptotic
    ``log Phi`` with ``log Phi(b) + log(1 - exp(log Phi(a) - log Phi(b)))``."""
    tail = NORMAL_TAIL[jnp.result_type(b).name]
    in_tail = b < tail
    a_body, b_body = jnp.where(in_tail, tail - 1.0, a), jnp.where(in_tail, tail, b)
    a_tail, b_tail = jnp.where(in_tail, a, tail - 1.0), jnp.where(in_tail, b, tail)
    root_half = jnp.sqrt(0.5)
    body = jnp.log(
        0.5
        * (
            jax.scipy.special.erfc(-b_body * root_half)
            - jax.scipy.special.erfc(-a_body * root_half)
        )
    )
    log_b = _log_normal_cdf_tail(b_tail)
    far = log_b + _log1mexp(_log_normal_cdf_tail(a_tail) - log_b)
    return jnp.where(in_tail, far, body)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def log_interval_probability(lower, upper, link: str):
    """``log P = log(F(upper) - F(lower))`` for ``lower < upper`` without cancellation.

    Logit: ``F(u) - F(l) = F(u) F(-l) (1 - exp(l - u))``, so
    ``log P = log F(u) + log F(-l) + log(-expm1(l - u))``, exact everywhere.
    Probit: by the symmetry ``Phi(u) - Phi(l) = Phi(-l) - Phi(-u)`` the interval is first
    reflected to the left of the median (``a + b <= 0``), where both ``Phi`` values are
    relatively accurate (see :func:`_log_normal_interval`).

    Derivatives come from a custom JVP (:func:`_interval_slopes`), so autodiff does not
    run back through the branches: ``d log P / d upper = f(upper) / P`` and
    ``d log P / d lower = -f(lower) / P``, finite wherever ``log P`` is.
    """
    if link == "logit":
        return _log_sigmoid(upper) + _log_sigmoid(-lower) + jnp.log(-jnp.expm1(lower - upper))
    reflect = lower + upper > 0
    return _log_normal_interval(
        jnp.where(reflect, -upper, lower), jnp.where(reflect, -lower, upper)
    )


def _interval_slopes(lower, upper, link: str, log_p):
    """``(d log P / d lower, d log P / d upper)``.

    Probit: ``(-phi(l) / P, phi(u) / P)``, each as ``exp(log phi - log P)`` (a Mills
    ratio in the tails).  Logit, from ``log P = log F(u) + log F(-l) + log(1 - e^(l-u))``:
    ``(-F(l) - r, F(-u) + r)`` with ``r = e^(l-u) / (1 - e^(l-u))``.
    """
    if link == "logit":
        ratio = jnp.exp(lower - upper) / -jnp.expm1(lower - upper)
        return -jax.nn.sigmoid(lower) - ratio, jax.nn.sigmoid(-upper) + ratio
    return -jnp.exp(_log_normal_pdf(lower) - log_p), jnp.exp(_log_normal_pdf(upper) - log_p)


@log_interval_probability.defjvp
def _log_interval_probability_jvp(link: str, primals, tangents):
    lower, upper = primals
    d_lower, d_upper = tangents
    log_p = log_interval_probability(lower, upper, link)
    slope_lower, slope_upper = _interval_slopes(lower, upper, link, log_p)
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
