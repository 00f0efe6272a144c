"""Distances between simulated and observed summary statistics.

A distance maps ``stats``, shape (n, k), one row per simulation, and ``observed``, shape (k,),
to distances, shape (n,), float64. Any callable with that signature can be used: `as_distance`
wraps it. These run on every simulation, so they are plain vectorised numpy and check shapes
only, never scanning values (NaN in, NaN out; the caller decides what a NaN distance means).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_MAD_TO_SD = 1.4826  # 1 / Phi^-1(3/4): the MAD of Gaussian data times this estimates its sd


def _check_shapes(stats: object, observed: object) -> tuple[np.ndarray, np.ndarray]:
    stats, observed = np.asarray(stats, dtype=np.float64), np.asarray(observed, dtype=np.float64)
    if stats.ndim != 2 or observed.ndim != 1 or stats.shape[1] != observed.shape[0]:
        raise ValueError(
            f"stats must have shape (n, k) and observed shape (k,) (got stats {stats.shape} and "
            f"observed {observed.shape}); return one row of k summary statistics per simulation "
            "and pass the k observed ones as a 1-D array."
        )
    return stats, observed


def _check_scale(scale: object) -> np.ndarray:
    arr = np.asarray(scale)
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"scale must be an array of real numbers (got {scale!r} that is a {type(scale)}); "
            "pass one positive scale per summary statistic."
        )
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all() or (arr <= 0).any():
        raise ValueError(
            f"scale must be a non-empty 1-D array of finite numbers > 0 (got {arr.tolist()}); "
            "pass one positive scale per summary statistic, or None to fit it."
        )
    return arr.astype(np.float64)


def spread(stats: np.ndarray) -> np.ndarray:
    """Each column's MAD times 1.4826, or its sd where the MAD is 0 (0 for a constant one)."""
    mad = _MAD_TO_SD * np.median(np.abs(stats - np.median(stats, axis=0)), axis=0)
    return np.where(mad > 0, mad, stats.std(axis=0, ddof=1))


class Distance:
    """Base class: ``distance(stats, observed)`` -> distances, shape (n,).

    Attributes
    ----------
    needs_pilot : bool
        True when the distance must be fitted (`fit`) on summary statistics of a
        prior-predictive pilot run before use.
    adaptive : bool
        True when a population algorithm refits it (`fit`) after every generation, on a
        sample of that generation's simulations (:class:`abcspark.adaptive.AdaptiveEuclidean`).
    """

    needs_pilot: bool = False
    adaptive: bool = False
    n_pilot: int = 1000

    def __call__(self, stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """Distance of each row of ``stats`` to ``observed``.

        Parameters
        ----------
        stats : array_like, shape (n, k)
            Summary statistics, one row per simulation.
        observed : array_like, shape (k,)
            Observed summary statistics.

        Returns
        -------
        ndarray, shape (n,), float64
        """
        return self._distance(*_check_shapes(stats, observed))

    def fit(self, pilot_stats: np.ndarray) -> Distance:
        """Return the distance fitted on ``pilot_stats``, shape (m, k); the base returns self."""
        return self

    def to_dict(self) -> dict:
        """JSON-able description, e.g. ``{"type": "Euclidean"}``."""
        return {"type": type(self).__name__}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Euclidean(Distance):
    """Euclidean distance ``sqrt(sum((stats - observed) ** 2, axis=1))``.

    Examples
    --------
    >>> import numpy as np
    >>> Euclidean()(np.array([[3.0, 4.0], [1.0, 1.0]]), np.array([0.0, 1.0])).tolist()
    [4.242640687119285, 1.0]
    """

    def _distance(self, stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
        diff = stats - observed
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))


class Manhattan(Distance):
    """Manhattan (L1) distance ``sum(abs(stats - observed), axis=1)``."""

    def _distance(self, stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
        diff = stats - observed
        return np.einsum("ij->i", np.abs(diff, out=diff))


class ScaledEuclidean(Distance):
    """Euclidean distance after dividing each summary statistic by its scale.

    ``sqrt(sum(((stats - observed) / scale) ** 2, axis=1))``, so that statistics on different
    scales weigh alike. Without ``scale`` it must be fitted first: `fit` estimates each
    statistic's scale from a prior-predictive pilot run as its median absolute deviation
    (MAD) times 1.4826, which estimates the sd of Gaussian data (Prangle 2017).

    Parameters
    ----------
    scale : array_like, shape (k,), optional
        Positive finite scales; None (the default) means "fit on a pilot run".
    n_pilot : int, default 1000
        Number of pilot simulations the caller should run for `fit`, >= 2.

    References
    ----------
    Prangle, D. (2017). Adapting the ABC distance function. Bayesian Analysis 12(1), 289-309.
    """

    def __init__(self, scale: np.ndarray | None = None, n_pilot: int = 1000) -> None:
        if isinstance(n_pilot, bool) or not isinstance(n_pilot, (int, np.integer)):
            raise TypeError(
                f"n_pilot must be an int (got {n_pilot!r} that is a {type(n_pilot)}); "
                "pass e.g. n_pilot=1000."
            )
        if n_pilot < 2:
            raise ValueError(f"n_pilot must be >= 2 (got n_pilot={n_pilot}); pass e.g. 1000.")
        self.n_pilot = int(n_pilot)
        self.scale = None if scale is None else _check_scale(scale)
        self.needs_pilot = self.scale is None

    def fit(self, pilot_stats: np.ndarray) -> ScaledEuclidean:
        """Return a new ScaledEuclidean scaled by the MAD of each column of ``pilot_stats``.

        Parameters
        ----------
        pilot_stats : array_like, shape (m, k)
            Finite summary statistics of ``m >= 2`` prior-predictive simulations.

        Returns
        -------
        ScaledEuclidean
            ``scale`` is 1.4826 times each column's MAD, or its sd where the MAD is 0.

        Raises
        ------
        ValueError
            If ``pilot_stats`` is not 2-D with >= 2 rows, holds NaN or inf, or a column is
            constant.
        """
        pilot = np.asarray(pilot_stats, dtype=np.float64)
        if pilot.ndim != 2 or len(pilot) < 2 or not np.isfinite(pilot).all():
            raise ValueError(
                f"pilot_stats must be a finite 2-D array with >= 2 rows (got shape {pilot.shape}, "
                f"{np.size(pilot) - np.isfinite(pilot).sum()} NaN or inf); drop failed simulations."
            )
        scale = spread(pilot)
        if (scale == 0).any():
            raise ValueError(
                f"summary statistic {int(np.argmin(scale))} must vary (it is constant over the "
                f"{len(pilot)} pilot simulations); drop it or give scale= explicitly."
            )
        return ScaledEuclidean(scale, n_pilot=self.n_pilot)

    def _distance(self, stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
        if self.scale is None or len(self.scale) != len(observed):
            scale = self.to_dict()["scale"]
            raise ValueError(
                f"ScaledEuclidean scale must have one entry per summary statistic, k = "
                f"{len(observed)} (got scale={scale}); call .fit(pilot_stats) on a "
                "prior-predictive pilot run first, or give scale= explicitly."
            )
        diff = stats - observed
        return np.sqrt(np.einsum("ij,ij,j->i", diff, diff, self.scale**-2.0))

    def to_dict(self) -> dict:
        """``{"type": "ScaledEuclidean", "scale": [...] or None, "n_pilot": 1000}``."""
        scale = None if self.scale is None else self.scale.tolist()
        return {"type": "ScaledEuclidean", "scale": scale, "n_pilot": self.n_pilot}

    def __repr__(self) -> str:
        return f"ScaledEuclidean(scale={self.to_dict()['scale']}, n_pilot={self.n_pilot})"


class CallableDistance(Distance):
    """A user's callable ``(stats, observed) -> distances``, with its output shape checked.

    Parameters
    ----------
    function : callable
        Takes ``stats``, shape (n, k), and ``observed``, shape (k,), float64 arrays; returns
        distances, shape (n,). NaN is passed through.
    """

    def __init__(self, function: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.function = function

    def _distance(self, stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
        out = np.asarray(self.function(stats, observed), dtype=np.float64)
        if out.shape != (len(stats),):
            raise ValueError(
                f"distance must return shape (n,) = ({len(stats)},) (got {out.shape}); "
                "return one distance per row."
            )
        return out

    def to_dict(self) -> dict:
        """``{"type": "CallableDistance", "function": "<module>.<qualname>"}``."""
        return {"type": "CallableDistance", "function": self._name()}

    def __repr__(self) -> str:
        return f"CallableDistance({self._name()})"

    def _name(self) -> str:
        module = getattr(self.function, "__module__", type(self.function).__module__)
        name = getattr(self.function, "__qualname__", type(self.function).__qualname__)
        return f"{module}.{name}"


SHORTCUTS = {
    "euclidean": Euclidean,
    "manhattan": Manhattan,
    "scaled_euclidean": ScaledEuclidean,
}
"""Distances that may be given by name."""


def as_distance(distance: object) -> Distance:
    """Return ``distance`` as a `Distance`: one passes through, a callable is wrapped.

    Parameters
    ----------
    distance : Distance, str or callable
        A name in ``SHORTCUTS`` (``'euclidean'``, ``'manhattan'``, ``'scaled_euclidean'``), or a
        callable ``(stats, observed) -> distances`` with shapes (n, k), (k,) -> (n,).

    Returns
    -------
    Distance

    Raises
    ------
    TypeError
        If ``distance`` is not callable, or is a `Distance` class rather than an instance.
    """
    if isinstance(distance, Distance):
        return distance
    if isinstance(distance, str):
        if distance not in SHORTCUTS:
            raise ValueError(
                f"distance must be one of {tuple(SHORTCUTS)} when given by name (got "
                f"{distance!r}); or pass a Distance such as Euclidean()."
            )
        return SHORTCUTS[distance]()
    if isinstance(distance, type) and issubclass(distance, Distance):
        raise TypeError(
            f"distance must be a Distance instance (got the class {distance.__name__}); "
            f"use {distance.__name__}()."
        )
    if not callable(distance):
        raise TypeError(
            "distance must be a Distance or a callable (stats, observed) -> distances "
            f"(got {distance!r} that is a {type(distance)}); use e.g. Euclidean()."
        )
    return CallableDistance(distance)
