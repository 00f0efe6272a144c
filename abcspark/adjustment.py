"""Regression adjustment: correct accepted particles for how far their statistics missed.

Beaumont, Zhang and Balding (2002): regress the parameters on the statistics' differences to
the observed ones, locally around them (Epanechnikov weights on the distance), and move each
particle along the fitted slope to where its statistics would have hit the observed ones.
Bounded parameters are adjusted in a transformed space (logit for a box, log for a lower
bound, ``-log(high - x)`` for an upper bound), so adjusted particles never leave the prior's
support.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

EDGE = 1e-12
"""How far inside its bounds a particle on a bound is moved before the transform."""


def to_unbounded(theta: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Map ``theta (n, d)`` with per-column ``bounds (d, 2)`` to the real line."""
    low, high = bounds[:, 0], bounds[:, 1]
    width = np.where(np.isfinite(high - low), high - low, 1.0)
    inside = np.clip(theta, low + EDGE * width, high - EDGE * width)
    with np.errstate(invalid="ignore", divide="ignore"):  # np.where computes every branch
        return _to_unbounded(theta, inside, low, high, width)


def _to_unbounded(
    theta: np.ndarray, inside: np.ndarray, low: np.ndarray, high: np.ndarray, width: np.ndarray
) -> np.ndarray:
    boxed = (inside - low) / width
    return np.where(
        np.isfinite(low) & np.isfinite(high),
        np.log(boxed) - np.log1p(-boxed),
        np.where(
            np.isfinite(low),
            np.log(inside - low),
            np.where(np.isfinite(high), -np.log(high - inside), theta),
        ),
    )


def from_unbounded(z: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_unbounded`."""
    low, high = bounds[:, 0], bounds[:, 1]
    width = np.where(np.isfinite(high - low), high - low, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(
            np.isfinite(low) & np.isfinite(high),
            low + width / (1.0 + np.exp(-z)),
            np.where(
                np.isfinite(low),
                low + np.exp(z),
                np.where(np.isfinite(high), high - np.exp(-z), z),
            ),
        )


def local_linear(
    theta: np.ndarray,
    stats: np.ndarray,
    observed: np.ndarray,
    distances: np.ndarray,
    weights: np.ndarray,
    bounds: np.ndarray,
) -> Tuple[np.ndarray, np.ndarray]:
    """Adjusted particles ``(n, d)`` and their normalised weights ``(n,)``.

    The bandwidth is the largest distance, so every particle inside it counts, with weight
    ``w (1 - (distance / h)^2)``.

    References
    ----------
    Beaumont, M. A., Zhang, W. and Balding, D. J. (2002). Approximate Bayesian computation in
    population genetics. Genetics 162(4), 2025-2035.
    """
    h = distances.max() * (1.0 + 1e-9)
    kernel = weights * (1.0 - (distances / h) ** 2) if h > 0 else weights.copy()
    kernel = kernel / kernel.sum()
    z = to_unbounded(theta, bounds)
    design = np.column_stack([np.ones(len(theta)), stats - observed])
    root = np.sqrt(kernel)[:, None]
    coefficients = np.linalg.lstsq(design * root, z * root, rcond=None)[0]
    adjusted = z - (stats - observed) @ coefficients[1:]
    return from_unbounded(adjusted, bounds), kernel
