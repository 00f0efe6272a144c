"""Distributions: the validated, vectorised components of a `~abcspark.priors.Prior`.

This module holds what they share: the base class `Distribution` and the argument checks.
The distributions themselves live by kind: `abcspark.continuous` (Uniform, Normal, LogNormal,
TruncatedNormal, Beta, Gamma), `abcspark.discrete` (Poisson, Categorical) and
`abcspark.multivariate` (MultivariateNormal); `abcspark.priors` and `abcspark` re-export them.

Every sampler takes an explicit ``rng: numpy.random.Generator`` and returns float64 draws of
shape ``(n, dim)``; log densities have shape ``(n,)`` and are ``-inf`` outside the support.
All parameters are real numbers within +-1e100, positive ones at least 1e-100, so that draws
and densities stay inside float64 (bool and str are refused):

==============================================  ==============================================
``Uniform(low, high)``                          ``low < high``; support ``[low, high]``
``Normal(mean, sd)``                            ``sd > 0``
``LogNormal(mu, sigma)``                        mean and sd of ``log x``; ``|mu| + 10 sigma <= 230``
``TruncatedNormal(mean, sd, low, high)``        ``[low, high]`` holds >= 1e-6 of the mass
``Beta(a, b)``                                  ``a, b > 0``; support ``[0, 1]``
``Gamma(shape, scale)``                         ``shape, scale > 0``; ``shape * scale <= 1e100``
``Poisson(rate)``                               ``0 < rate <= 1e18``; support 0, 1, 2, ...
``Categorical(probs)``                          probs, shape (K,), >= 0, sum 1 within 1e-9;
                                                support: the values 0..K-1 of positive mass
``MultivariateNormal(mean, cov)``               mean (d,); cov (d, d) symmetric pos. definite
==============================================  ==============================================
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from abcspark.validation import as_float, is_real, shown

LOG_2PI = math.log(2.0 * math.pi)


MAX_MAGNITUDE = 1e100
"""Largest magnitude of a distribution parameter: beyond it, draws, squares and log-gamma
functions overflow float64."""
MIN_POSITIVE = 1e-100
"""Smallest positive parameter (a scale, a shape, a rate): below it, densities at the
distribution's own draws overflow."""


def real_parameter(owner: str, name: str, value: object, positive: bool = False) -> float:
    """Return ``value`` as a float in ``[-1e100, 1e100]`` (``[1e-100, 1e100]`` if ``positive``).

    Raises ``TypeError`` or ``ValueError`` naming ``owner.name``.
    """
    if not is_real(value):
        raise TypeError(
            f"{owner} {name} must be a real number (got {value!r} that is a {type(value)}); "
            f"pass e.g. {name}=1.0."
        )
    number = as_float(value)
    if (
        not math.isfinite(number)
        and not isinstance(value, numbers.Integral)
        or (positive and not number > 0)
    ):
        expected, fix = ("finite and > 0", "a positive") if positive else ("finite", "a finite")
        raise ValueError(
            f"{owner} {name} must be {expected} (got {name}={value!r}); pass {fix} one."
        )
    low = MIN_POSITIVE if positive else -MAX_MAGNITUDE
    if not low <= number <= MAX_MAGNITUDE:
        raise ValueError(
            f"{owner} {name} must be within [{low:g}, {MAX_MAGNITUDE:g}] (got "
            f"{name}={shown(value)}); beyond that float64 draws and densities overflow: "
            "rescale the parameter (e.g. other units)."
        )
    return number


def real_array_parameter(owner: str, name: str, value: object, ndim: int) -> np.ndarray:
    """Return ``value`` as a non-empty ``ndim``-D float64 array within +-1e100, or raise."""
    arr = np.asarray(value)
    if arr.dtype == object and all(is_real(v) for v in arr.ravel()):  # ints beyond int64
        arr = np.array([as_float(v) for v in arr.ravel()]).reshape(arr.shape)
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{owner} {name} must be an array of real numbers (got {value!r} that is a "
            f"{type(value)}); pass a list of floats."
        )
    values = arr.astype(np.float64)
    if arr.ndim != ndim or arr.size == 0 or not (np.abs(values) <= MAX_MAGNITUDE).all():
        raise ValueError(
            f"{owner} {name} must be a non-empty {ndim}-D array of finite numbers within "
            f"+-{MAX_MAGNITUDE:g} (got {arr.tolist()} of shape {arr.shape}); fix its shape or "
            "values."
        )
    return values


def as_rows(owner: str, x: object, dim: int) -> np.ndarray:
    """Return ``x`` as a float64 array of shape (n, ``dim``), or raise naming ``owner``."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(
            f"{owner} input must have shape (n, {dim}) (got {arr.shape}); "
            f"pass one row per draw, e.g. x.reshape(-1, {dim})."
        )
    return arr


def check_draw(n: object, rng: object) -> None:
    """Raise unless ``n`` is an int >= 0 and ``rng`` a `numpy.random.Generator`."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int (got {n!r} that is a {type(n)}); pass e.g. n=1000.")
    if n < 0:
        raise ValueError(f"n must be >= 0 (got n={n}); pass the number of draws.")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (got {rng!r} that is a {type(rng)}); "
            "use np.random.default_rng(seed)."
        )


class Distribution:
    """One named component of a `Prior`; equal when their `to_dict` are equal.

    A subclass sets ``_fields`` (its constructor arguments, in order) and ``_bounds`` (its
    closed support), and implements ``_sample(n, rng)`` and ``_log_pdf(v)``, which receives
    only values in the support, of shape (n,), or (n, dim) when ``_vector`` is True.

    Attributes
    ----------
    dim : int
        Number of columns: 1 for a scalar distribution, d for a d-variate one.
    discrete : bool
        True when the values are integers (`Poisson`, `Categorical`).
    """

    dim: int = 1
    discrete: bool = False
    _vector: bool = False
    _fields: tuple[str, ...] = ()
    _bounds: tuple[float, float] = (-np.inf, np.inf)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` values; the same ``rng`` state gives the same draws.

        Parameters
        ----------
        n : int
            Number of draws, >= 0.
        rng : numpy.random.Generator
            The only source of randomness.

        Returns
        -------
        ndarray, shape (n, dim), float64
        """
        check_draw(n, rng)
        return np.asarray(self._sample(n, rng), dtype=np.float64).reshape(n, self.dim)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log density (log mass when discrete) of each row of ``x``.

        Parameters
        ----------
        x : array_like, shape (n, dim)

        Returns
        -------
        ndarray, shape (n,)
            ``-inf`` outside the support, including non-integers of a discrete distribution.
        """
        v = self._values(x)
        ok = self._in_support(v)
        out = np.full(len(v), -np.inf)
        out[ok] = self._log_pdf(v[ok])
        return out

    def in_support(self, x: np.ndarray) -> np.ndarray:
        """Whether each row of ``x``, shape (n, dim), is in the support: bool, shape (n,)."""
        return self._in_support(self._values(x))

    def to_dict(self) -> dict:
        """JSON-able description, e.g. ``{"type": "Uniform", "low": 150.0, "high": 200.0}``."""
        out = {"type": type(self).__name__}
        for name in self._fields:
            value = getattr(self, name)
            out[name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({params})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Distribution):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self))

    def _values(self, x: np.ndarray) -> np.ndarray:
        rows = as_rows(type(self).__name__, x, self.dim)
        return rows if self._vector else rows[:, 0]

    def _in_support(self, v: np.ndarray) -> np.ndarray:
        ok = np.isfinite(v) & (v >= self._bounds[0]) & (v <= self._bounds[1])
        return ok & (v == np.floor(v)) if self.discrete else ok
