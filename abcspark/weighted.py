"""Statistics of samples: the one home of weighted quantiles, covariances and the ESS, and of
the columns' standardisation."""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np


def quantile(values: np.ndarray, weights: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles of weighted samples (linear interpolation between weighted midpoints).

    Tied values count as one point carrying their summed weight, so the result does not
    depend on the samples' order.

    Examples
    --------
    >>> quantile(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4), [0.5])
    array([2.5])
    """
    values, tie = np.unique(values, return_inverse=True)  # sorted; tied values are one point
    weights = np.bincount(tie.ravel(), weights, minlength=len(values))
    cdf = (np.cumsum(weights) - 0.5 * weights) / weights.sum()
    return np.interp(q, cdf, values)


def covariance(values: np.ndarray, weights: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """Weighted covariance of ``values (n, d)`` under normalised ``weights (n,)``, ``(d, d)``.

    With ``unbiased``, the reliability-weighted correction ``1 / (1 - sum w**2)`` is applied
    (the weighted analogue of dividing by ``n - 1``), unless one weight carries everything.
    """
    centred = values - weights @ values
    cov = (centred * weights[:, None]).T @ centred
    spread = 1.0 - np.sum(weights**2)  # 0 when one weight is 1: no spread to correct
    if unbiased and len(values) > 1 and spread > 0:
        cov = cov / spread
    return cov


def ess(weights: np.ndarray) -> float:
    """Effective sample size ``1 / sum(w**2)`` of normalised ``weights``."""
    return float(1.0 / np.sum(weights**2))


def standardisation(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(centre, scale)``: each column's mean and standard deviation, a zero one taken as 1.

    ``(values - centre) / scale`` has mean 0 and standard deviation 1 in every column that
    varies, and leaves a constant column at 0.
    """
    scale = values.std(axis=0)
    return values.mean(axis=0), np.where(scale > 0, scale, 1.0)
