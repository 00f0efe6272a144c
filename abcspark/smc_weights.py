"""SMC-ABC's weights on the driver: at a new epsilon, the epsilon of a target ESS, resampling.

With ``M`` datasets per particle and distances ``d_ik``, lowering epsilon from ``e0`` to ``e``
reweights ``w_i <- w_i * #{k: d_ik <= e} / #{k: d_ik <= e0}`` (Del Moral, Doucet and Jasra
2012). :func:`epsilon_for_ess` picks ``e`` among the distances themselves by bisection, so
the result is exact and the same on every machine: no tolerance on epsilon is involved.
"""

from __future__ import annotations

import numpy as np

from abcspark.weighted import ess

RESAMPLING_SCHEMES = ("systematic", "multinomial")


def reweight(
    distances: np.ndarray, weights: np.ndarray, epsilon: float, previous: float
) -> np.ndarray:
    """Normalised weights at ``epsilon`` of particles weighted ``weights`` at ``previous``.

    Parameters
    ----------
    distances : ndarray, shape (n, M)
        NaN for a failed simulation (never within any epsilon).
    weights : ndarray, shape (n,)
    epsilon, previous : float

    Returns
    -------
    ndarray, shape (n,)
        All zeros if no particle has a dataset within ``epsilon``.

    Examples
    --------
    >>> reweight(np.array([[0.1, 0.2], [0.3, 0.9]]), np.array([0.5, 0.5]), 0.4, np.inf)
    array([0.66666667, 0.33333333])
    """
    new = (distances <= epsilon).sum(axis=1)
    old = (distances <= previous).sum(axis=1)
    ratio = np.divide(new, old, out=np.zeros(len(new)), where=old > 0)
    moved = weights * ratio
    total = moved.sum()
    return moved / total if total > 0 else moved


def epsilon_for_ess(
    distances: np.ndarray, weights: np.ndarray, previous: float, target: float
) -> float:
    """The smallest distance ``e <= previous`` at which the ESS of the reweighted particles
    reaches ``target``, by bisection over the sorted distances.

    The ESS at ``previous`` is the current one, so a ``target`` below it is reached. The ESS
    need not grow with epsilon when ``M > 1``; bisection then returns a distance where it
    crosses the target from below: at ``e`` it is ``>= target``, at the next smaller distance
    ``< target``.

    Parameters
    ----------
    distances : ndarray, shape (n, M)
    weights : ndarray, shape (n,)
        The current normalised weights (at ``previous``).
    previous : float
        The current epsilon (``inf`` after the prior).
    target : float
        The ESS wanted, e.g. ``alpha * ess(weights)``.

    Returns
    -------
    float

    Examples
    --------
    >>> d = np.arange(1.0, 11.0)[:, None]  # ten particles, one dataset each
    >>> epsilon_for_ess(d, np.full(10, 0.1), np.inf, 7.5)  # the 8 particles within 8.0
    8.0
    """
    candidates = np.unique(distances[weights > 0])
    candidates = candidates[candidates <= previous]  # NaN (failed) compares False
    low, high = 0, len(candidates) - 1
    while low < high:
        middle = (low + high) // 2
        if ess_at(distances, weights, candidates[middle], previous) >= target:
            high = middle
        else:
            low = middle + 1
    return float(candidates[low])


def ess_at(distances: np.ndarray, weights: np.ndarray, epsilon: float, previous: float) -> float:
    """The ESS of the particles reweighted from ``previous`` to ``epsilon`` (0 if none live)."""
    moved = reweight(distances, weights, epsilon, previous)
    return ess(moved) if moved.any() else 0.0


def resample(weights: np.ndarray, rng: np.random.Generator, method: str) -> np.ndarray:
    """``n`` particle indexes drawn by ``weights``, in increasing order.

    ``'systematic'``: one uniform ``u`` and the points ``(u + j) / n``, which keeps each
    particle ``floor(n w_i)`` or ``ceil(n w_i)`` times; ``'multinomial'``: ``n`` independent
    uniforms.

    Examples
    --------
    >>> from abcspark.rng import batch_rng
    >>> resample(np.array([0.5, 0.0, 0.5]), batch_rng(1, 0, 0), "systematic")
    array([0, 2, 2])
    """
    n = len(weights)
    if method == "systematic":
        points = (rng.random() + np.arange(n)) / n
    else:
        points = np.sort(rng.random(n))
    cumulative = np.cumsum(weights)
    cumulative /= cumulative[-1]  # the last sum may fall a rounding short of 1
    return np.minimum(np.searchsorted(cumulative, points, side="right"), n - 1)
