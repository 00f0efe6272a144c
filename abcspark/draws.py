"""Draws from a weighted posterior: resampling, or a weighted kernel density inside the support."""

from __future__ import annotations

import numpy as np

from abcspark.weighted import covariance, ess

METHODS = ("resample", "kde")


def resample(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` particles drawn by weight (multinomial)."""
    return rng.choice(len(weights), size=n, p=weights)


def systematic(weights: np.ndarray) -> np.ndarray:
    """Indices of ``len(weights)`` particles by systematic resampling at offset one half."""
    n = len(weights)
    return np.minimum(np.searchsorted(np.cumsum(weights), (np.arange(n) + 0.5) / n), n - 1)


def kde(
    values: np.ndarray,
    weights: np.ndarray,
    bounds: np.ndarray,
    n: int,
    rng: np.random.Generator,
    discrete: np.ndarray | None = None,
) -> np.ndarray:
    """``n`` draws ``(n, d)`` of a weighted Gaussian kernel density estimate inside ``bounds``.

    The bandwidth is Silverman's at the effective sample size; draws outside the support are
    drawn again (the density is truncated to the support and renormalised). Columns marked in
    ``discrete`` (bool, ``(d,)``) are not smoothed: they keep the resampled particle's value.
    """
    smooth = (
        ~np.asarray(discrete, dtype=bool)
        if discrete is not None
        else np.ones(values.shape[1], bool)
    )
    d = int(smooth.sum())
    h = (4.0 / (ess(weights) * (d + 2))) ** (1.0 / (d + 4))
    cov = h**2 * covariance(values[:, smooth], weights)
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(d) * max(np.trace(cov), 1e-300))
    out = np.empty((0, values.shape[1]))
    for _ in range(100):
        draws = values[resample(weights, n, rng)]
        draws[:, smooth] += rng.standard_normal((n, d)) @ chol.T
        inside = ((draws >= bounds[:, 0]) & (draws <= bounds[:, 1])).all(axis=1)
        out = np.concatenate([out, draws[inside]])
        if len(out) >= n:
            return out[:n]
    raise ValueError(
        "the posterior must put mass inside the prior's support (got draws of its kernel "
        "density outside it nearly always); use method='resample'."
    )
