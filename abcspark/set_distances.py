"""Distances between sets of replicates: iid observations that share the parameters.

When the data are ``m`` replicates (patients, plots, repeated experiments) drawn from the
same parameters, a simulator returns ``m`` replicates too, each of ``p`` statistics, flattened
to one row of ``m * p`` values (replicate by replicate); the observed data are the same shape,
``(m * p,)``. These distances compare the two sets as samples of a distribution, so the order
of the replicates does not matter: they are the same for any permutation of either set.
"""

from __future__ import annotations

import numpy as np

from abcspark.distances import Distance
from abcspark.validation import positive_int

CHUNK_FLOATS = 2**22
"""Floats of one chunk's pairwise array (32 MiB): simulations are compared a chunk at a time."""


class SetDistance(Distance):
    """Base of the distances between sets of ``m`` replicates of ``statistics`` values each.

    Parameters
    ----------
    statistics : int, default 1
        Statistics per replicate, ``p``; a row of ``m * p`` values holds ``m`` replicates.
    """

    def __init__(self, statistics: int = 1) -> None:
        self.statistics = positive_int("statistics", statistics, "1")

    def _distance(self, stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
        p = self.statistics
        if observed.shape[0] % p:
            raise ValueError(
                f"{type(self).__name__} needs rows of m replicates of {p} statistics (got "
                f"{observed.shape[0]} values, not a multiple of {p}); return the replicates "
                "flattened, replicate by replicate, or set statistics= to the per-replicate count."
            )
        sets = stats.reshape(len(stats), -1, p)
        reference = observed.reshape(-1, p)
        out = np.empty(len(stats))
        rows = max(1, CHUNK_FLOATS // (sets.shape[1] ** 2 * p))
        for start in range(0, len(stats), rows):
            out[start : start + rows] = self._between(sets[start : start + rows], reference)
        return out

    def _between(self, sets: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Distances of ``sets (r, m, p)`` to ``reference (m, p)``: ``(r,)``."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"type": type(self).__name__, "statistics": self.statistics}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(statistics={self.statistics})"


def _mean_norm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean Euclidean norm of ``a[..., i, :] - b[..., j, :]`` over all pairs i, j."""
    diff = a[..., :, None, :] - b[..., None, :, :]
    return np.sqrt(np.einsum("...ijp,...ijp->...ij", diff, diff)).mean(axis=(-2, -1))


class EnergyDistance(SetDistance):
    """The energy distance between the simulated and the observed replicates.

    ``sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|)`` over the two empirical distributions (every
    pair, the V-statistic, which is never negative), with ``|.|`` the Euclidean norm over the
    ``statistics`` of a replicate. Zero exactly when the two sets hold the same values, in any
    order; it compares whole multivariate distributions, their dependence included.

    References
    ----------
    Szekely, G. J. and Rizzo, M. L. (2013). Energy statistics: a class of statistics based on
    distances. Journal of Statistical Planning and Inference 143(8), 1249-1272.

    Examples
    --------
    >>> d = EnergyDistance()
    >>> d(np.array([[3.0, 1.0, 2.0], [1.0, 2.0, 4.0]]), np.array([1.0, 2.0, 3.0])).round(3).tolist()
    [0.0, 0.471]
    """

    def _between(self, sets: np.ndarray, reference: np.ndarray) -> np.ndarray:
        across = _mean_norm(sets, reference[None])
        within = _mean_norm(sets, sets)
        energy = 2 * across - within - _mean_norm(reference, reference)
        return np.sqrt(np.maximum(energy, 0.0))  # rounding may leave -1e-17 for equal sets


class Wasserstein(SetDistance):
    """The 1-Wasserstein distance between the replicates, per statistic, summed.

    For each of the ``statistics`` columns, the mean absolute difference between the sorted
    simulated and sorted observed values (the exact 1-D optimal transport between two equally
    sized samples); the columns' distances are added. Each statistic's distribution is compared
    on its own, so dependence between a replicate's statistics is not: use
    :class:`EnergyDistance` for that.

    Examples
    --------
    >>> d = Wasserstein()
    >>> d(np.array([[3.0, 1.0, 2.0], [1.0, 2.0, 6.0]]), np.array([1.0, 2.0, 3.0])).tolist()
    [0.0, 1.0]
    """

    def _between(self, sets: np.ndarray, reference: np.ndarray) -> np.ndarray:
        gaps = np.abs(np.sort(sets, axis=1) - np.sort(reference, axis=0)[None])
        return gaps.mean(axis=1).sum(axis=1)
