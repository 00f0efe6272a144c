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

from abcspark.transforms import from_unbounded, to_unbounded


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
