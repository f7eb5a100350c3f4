"""Ordered cut-points as gathers: free or symmetric thresholds, padded, and their
data-based starting values."""

from __future__ import annotations

import numpy as np
from scipy.special import logit, ndtri

from .declarations import Declarations

__all__ = ["declare_thresholds", "padded_cuts", "threshold_name", "threshold_starts"]


def threshold_name(group: str, j: int | str) -> str:
    """``tau_<group>_<j>``: threshold ``j`` of a threshold set."""
    return f"tau_{group}_{j}"


def padded_cuts(thresholds: list, width: int) -> list:
    """``(-, tau_1, ..., tau_J-1, +, +, ...)`` of length ``width``."""
    return ["-", *thresholds] + ["+"] * (width - len(thresholds) - 1)


def _symmetric_cuts(upper: list[str], n_thresholds: int, width: int) -> tuple[list, list]:
    """Cut-points ``(-, -tau_J-1, ..., -tau_u, [0,] tau_u, ..., tau_J-1, +, ...)`` from the
    upper half ``upper`` (``0`` in the middle when ``n_thresholds`` is odd), and their
    signs."""
    middle = [None] * (n_thresholds % 2)
    names = padded_cuts([*reversed(upper), *middle, *upper], width)
    signs = [1.0] + [-1.0] * len(upper) + [1.0] * (width - len(upper) - 1)
    return names, signs


def _symmetric_starts(free: np.ndarray) -> np.ndarray:
    """The upper half of symmetric thresholds closest to free starts ``free``: half
    the spread of each mirrored pair after centring (positive and increasing)."""
    half = len(free) // 2
    centred = free - free.mean()
    return 0.5 * (centred[len(free) - half :] - centred[:half][::-1])


def threshold_starts(levels: np.ndarray, n_levels: int, link: str) -> np.ndarray:
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


def declare_thresholds(
    declarations: Declarations,
    group: str,
    block: str,
    levels: np.ndarray,
    n_levels: int,
    link: str,
    form: str,
    width: int,
) -> tuple[list, list]:
    """Declare the thresholds ``tau_<group>_<j>`` of ``n_levels`` ordered levels (observed
    0-based ``levels`` give the starts) and return the padded cut-point gather of
    ``width`` and its signs.  ``form="free"``: ``J - 1`` increasing thresholds;
    ``"symmetric"``: the positive upper half, mirrored below (``0`` in the middle when
    ``J - 1`` is odd)."""
    starts = threshold_starts(levels, n_levels, link)
    if form == "symmetric":
        first = n_levels - len(starts) // 2
        upper = [
            declarations.add(
                threshold_name(group, first + j),
                block,
                float(value),
                "positive_threshold",
                group=group,
            )
            for j, value in enumerate(_symmetric_starts(starts))
        ]
        return _symmetric_cuts(upper, n_levels - 1, width)
    names = [
        declarations.add(
            threshold_name(group, j + 1), block, float(value), "threshold", group=group
        )
        for j, value in enumerate(starts)
    ]
    return padded_cuts(names, width), [1.0] * width
