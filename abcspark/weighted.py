"""Statistics of weighted samples: the one home of quantiles, covariances and the ESS."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def quantile(values: np.ndarray, weights: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles of weighted samples (linear interpolation between weighted midpoints).

    Examples
    --------
    >>> quantile(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4), [0.5])
    array([2.5])
    """
    order = np.argsort(values, kind="mergesort")
    values, weights = values[order], weights[order]
    cdf = (np.cumsum(weights) - 0.5 * weights) / weights.sum()
    return np.interp(q, cdf, values)


def covariance(values: np.ndarray, weights: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """Weighted covariance of ``values (n, d)`` under normalised ``weights (n,)``, ``(d, d)``.

    With ``unbiased``, the reliability-weighted correction ``1 / (1 - sum w**2)`` is applied
    (the weighted analogue of dividing by ``n - 1``).
    """
    centred = values - weights @ values
    cov = (centred * weights[:, None]).T @ centred
    if unbiased and len(values) > 1:
        cov = (1.0 / (1.0 - np.sum(weights**2))) * cov
    return cov


def ess(weights: np.ndarray) -> float:
    """Effective sample size ``1 / sum(w**2)`` of normalised ``weights``."""
    return float(1.0 / np.sum(weights**2))
