"""Random coefficients as the user declares them, independent or correlated, and the
checks that tie them to the utilities.

A model's random coefficients form one vector per person (per row for cross-sectional
data).  With ``z`` the person's standard normal draws (the LVs' ``zeta`` first, then
one per random coefficient) and ``L`` a lower-triangular Cholesky factor,

    e = L z,   c_k = mu_k + e_k (normal),  exp(mu_k + e_k) (lognormal),
    -exp(mu_k + e_k) (negative_lognormal),

so ``(e_k)`` is normal with covariance ``Sigma = L L'`` and ``Cov(zeta_l, e_k) =
L[k, l]``.  The diagonal ``L[k, k] = sigma_<k>`` is kept positive (log-transformed):
flipping the sign of a column of ``L`` leaves the distribution of ``e`` unchanged, so a
free-signed diagonal (Biogeme's and Apollo's way of writing the Cholesky terms) has
``2^K`` equally good optima and a positive one makes ``L`` unique (the Cholesky factor
of ``Sigma``).  The off-diagonal ``chol_<k>_<j>`` are free-signed; they exist only where
:attr:`RandomCoefficient.correlated_with` asks for them (else 0: independent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .components.structural import cholesky_names
from .errors import SpecificationError
from .utility import declared_utilities

__all__ = [
    "cholesky_names",
    "RANDOM_DISTRIBUTIONS",
    "RandomCoefficient",
    "check_random_coefficients",
    "correlated_model",
]

RANDOM_DISTRIBUTIONS = ("normal", "lognormal", "negative_lognormal", "triangular")


@dataclass(frozen=True)
class RandomCoefficient:
    """A random choice coefficient ``c_n`` with its own standard normal draw ``z_n`` per
    person (per row for cross-sectional data), integrated alongside the LVs.

    ``normal``: ``c = mu + e``; ``lognormal``: ``exp(mu + e)``;
    ``negative_lognormal``: ``-exp(mu + e)`` (e.g. a price coefficient), with
    ``e = sigma z`` when independent;
    ``triangular``: ``mu + sigma T`` with ``T`` triangular on ``[-1, 1]``
    (``T = sqrt(2 u) - 1`` for ``u = Phi(z) < 1/2``, else ``1 - sqrt(2 (1 - u))``).
    Parameters ``mu_<name>`` and ``sigma_<name>`` (``sigma > 0``).  Utilities use it
    with ``Utility(random={name: column})`` or by its name in an expression
    (``"asc_car + price * cost_car"``: linearly, times data or alone).

    ``correlated_with``: random coefficients declared before this one and latent
    variables whose draws enter it, ``e = sigma z + sum_j chol_<name>_<j> z_j``
    (see :mod:`iclv_jax.randomcoefficients`); every earlier coefficient named gives a
    full Cholesky row.  Not for ``triangular``.
    """

    name: str
    distribution: str = "normal"
    correlated_with: Sequence[str] = ()

    def __post_init__(self):
        object.__setattr__(self, "correlated_with", tuple(self.correlated_with))
        if self.distribution not in RANDOM_DISTRIBUTIONS:
            raise SpecificationError(
                f"random coefficient {self.name!r}: unknown distribution "
                f"{self.distribution!r}; use one of {RANDOM_DISTRIBUTIONS}"
            )
        if self.correlated_with and self.distribution == "triangular":
            raise SpecificationError(
                f"random coefficient {self.name!r}: a triangular coefficient cannot be "
                "correlated (correlation is of normal draws); use normal or lognormal"
            )


def correlated_model(model) -> bool:
    """Whether any random coefficient is correlated with another or with an LV."""
    return any(rc.correlated_with for rc in model.random_coefficients)


def _used_names(model) -> tuple[set[str], set[str]]:
    """``(used, unsure)``: random coefficients a utility uses as such, and names an
    expression mentions before the data tell columns from parameters."""
    declared = {rc.name for rc in model.random_coefficients}
    used: set[str] = set()
    unsure: set[str] = set()
    for utility in declared_utilities(model.choice, model.lv_names).values():
        used.update(utility.random)
        unsure.update(set(utility.terms) & declared)
        if utility.extra is not None:
            unsure.update(set(utility.extra.parameters) & declared)
    return used, unsure


def check_random_coefficients(model) -> None:
    """Every random coefficient is declared once and used; every use is declared; each
    ``correlated_with`` names an LV or an earlier coefficient, once."""
    declared = [rc.name for rc in model.random_coefficients]
    duplicated = sorted({n for n in declared if declared.count(n) > 1})
    if duplicated:
        raise SpecificationError(f"random coefficients declared twice: {duplicated}")
    used, unsure = _used_names(model)
    if used - set(declared):
        raise SpecificationError(
            f"utilities use undeclared random coefficients {sorted(used - set(declared))}; "
            "declare them: ICLVModel(..., random_coefficients=[RandomCoefficient(name)])"
        )
    if set(declared) - used - unsure:
        raise SpecificationError(
            f"random coefficients {sorted(set(declared) - used - unsure)} are in no utility"
        )
    for k, rc in enumerate(model.random_coefficients):
        allowed = [*model.lv_names, *declared[:k]]
        wrong = [name for name in rc.correlated_with if name not in allowed]
        twice = {n for n in rc.correlated_with if rc.correlated_with.count(n) > 1}
        if wrong or twice:
            raise SpecificationError(
                f"random coefficient {rc.name!r}: correlated_with {list(rc.correlated_with)} "
                f"must name, once each, latent variables or coefficients declared before it "
                f"({allowed}); {sorted(set(wrong) | twice)} are not"
            )
        if rc.name in model.lv_names:
            raise SpecificationError(
                f"random coefficient {rc.name!r} is also a latent variable; rename one"
            )
