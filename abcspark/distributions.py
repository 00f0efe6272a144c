"""Distributions: the validated, vectorised components of a `~abcspark.priors.Prior`.

Every sampler takes an explicit ``rng: numpy.random.Generator`` and returns float64 draws of
shape ``(n, dim)``; log densities have shape ``(n,)`` and are ``-inf`` outside the support.
All parameters are finite real numbers (bool and str are refused):

==============================================  ==============================================
``Uniform(low, high)``                          ``low < high``; support ``[low, high]``
``Normal(mean, sd)``                            ``sd > 0``
``LogNormal(mu, sigma)``                        mean and sd of ``log x``; ``sigma > 0``
``TruncatedNormal(mean, sd, low, high)``        ``[low, high]`` holds >= 1e-6 of the mass
``Beta(a, b)``                                  ``a, b > 0``; support ``[0, 1]``
``Gamma(shape, scale)``                         ``shape, scale > 0``; mean ``shape * scale``
``Poisson(rate)``                               ``rate > 0``; support 0, 1, 2, ...
``Categorical(probs)``                          probs, shape (K,), >= 0, sum 1 within 1e-9;
                                                support: the values 0..K-1 of positive mass
``MultivariateNormal(mean, cov)``               mean (d,); cov (d, d) symmetric pos. definite
==============================================  ==============================================
"""

from __future__ import annotations

import math
import numbers

import numpy as np

_LOG_2PI = math.log(2.0 * math.pi)
_MIN_MASS = 1e-6
# log(k!) is exact below 20; above, Stirling's series (to 1/k**7) errs by less than 1e-15.
_LOG_FACTORIAL = np.array([math.lgamma(k + 1.0) for k in range(20)])


def _real(owner: str, name: str, value: object, positive: bool = False) -> float:
    """Return ``value`` as a finite (and positive) float, or raise naming ``owner.name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{owner} {name} must be a real number (got {value!r} that is a {type(value)}); "
            f"pass e.g. {name}=1.0."
        )
    if not math.isfinite(value) or (positive and value <= 0):
        expected, fix = ("finite and > 0", "a positive") if positive else ("finite", "a finite")
        raise ValueError(
            f"{owner} {name} must be {expected} (got {name}={value!r}); pass {fix} one."
        )
    return float(value)


def _interval(owner: str, low: object, high: object) -> tuple[float, float]:
    low, high = _real(owner, "low", low), _real(owner, "high", high)
    if not low < high:
        raise ValueError(
            f"{owner} low must be < high (got low={low!r}, high={high!r}); "
            "swap them or widen the interval."
        )
    return low, high


def _real_array(owner: str, name: str, value: object, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{owner} {name} must be an array of real numbers (got {value!r} that is a "
            f"{type(value)}); pass a list of floats."
        )
    if arr.ndim != ndim or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(
            f"{owner} {name} must be a non-empty {ndim}-D array of finite numbers (got "
            f"{arr.tolist()} of shape {arr.shape}); fix its shape or values."
        )
    return arr.astype(np.float64)


def as_rows(owner: str, x: object, dim: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(
            f"{owner} input must have shape (n, {dim}) (got {arr.shape}); "
            f"pass one row per draw, e.g. x.reshape(-1, {dim})."
        )
    return arr


def check_draw(n: object, rng: object) -> None:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int (got {n!r} that is a {type(n)}); pass e.g. n=1000.")
    if n < 0:
        raise ValueError(f"n must be >= 0 (got n={n}); pass the number of draws.")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (got {rng!r} that is a {type(rng)}); "
            "use np.random.default_rng(seed)."
        )


def _xlogy(c: float, v: np.ndarray) -> np.ndarray:
    """``c * log(v)`` with ``0 * log(0) = 0``, so the ends of a support stay finite."""
    if c == 0:
        return np.zeros_like(v)
    with np.errstate(divide="ignore"):
        return c * np.log(v)


def _normal_log_pdf(v: np.ndarray, mean: float, sd: float) -> np.ndarray:
    z = (v - mean) / sd
    return -0.5 * z * z - math.log(sd) - 0.5 * _LOG_2PI


def _normal_mass(a: float, b: float) -> float:
    """Standard normal mass of [a, b]; reflecting to the right keeps far tails accurate."""
    a, b = (-b, -a) if a + b < 0 else (a, b)
    return 0.5 * (math.erfc(a / math.sqrt(2)) - math.erfc(b / math.sqrt(2)))


def _log_factorial(k: np.ndarray) -> np.ndarray:
    """log(k!) of non-negative integer-valued floats, vectorised (numpy has no lgamma)."""
    small = k < len(_LOG_FACTORIAL)
    out = np.empty_like(k)
    out[small] = _LOG_FACTORIAL[k[small].astype(np.intp)]
    big = k[~small]
    inv2 = 1.0 / (big * big)
    series = (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680))) / big
    out[~small] = (big + 0.5) * np.log(big) - big + 0.5 * _LOG_2PI + series
    return out


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


class Uniform(Distribution):
    """Uniform distribution on ``[low, high]``."""

    _fields = ("low", "high")

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = self._bounds = _interval("Uniform", low, high)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        return np.full(len(v), -math.log(self.high - self.low))


class Normal(Distribution):
    """Normal distribution with ``mean`` and standard deviation ``sd``."""

    _fields = ("mean", "sd")

    def __init__(self, mean: float, sd: float) -> None:
        self.mean, self.sd = _real("Normal", "mean", mean), _real("Normal", "sd", sd, True)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(self.mean, self.sd, n)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        return _normal_log_pdf(v, self.mean, self.sd)


class LogNormal(Distribution):
    """Log-normal distribution: ``log x`` is Normal with mean ``mu`` and sd ``sigma``."""

    _fields = ("mu", "sigma")
    _bounds = (5e-324, np.inf)  # the smallest positive float: 0 is outside the support

    def __init__(self, mu: float, sigma: float) -> None:
        self.mu, self.sigma = _real("LogNormal", "mu", mu), _real("LogNormal", "sigma", sigma, True)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, n)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        return _normal_log_pdf(np.log(v), self.mu, self.sigma) - np.log(v)


class TruncatedNormal(Distribution):
    """Normal(``mean``, ``sd``) restricted to ``[low, high]``.

    Sampling is exact rejection from whichever proposal accepts most often: the Normal, a
    uniform on ``[low, high]`` or, for an interval in one tail, an exponential from its near end.
    """

    _fields = ("mean", "sd", "low", "high")

    def __init__(self, mean: float, sd: float, low: float, high: float) -> None:
        self.mean = _real("TruncatedNormal", "mean", mean)
        self.sd = _real("TruncatedNormal", "sd", sd, True)
        self.low, self.high = self._bounds = _interval("TruncatedNormal", low, high)
        self._a, self._b = (self.low - self.mean) / self.sd, (self.high - self.mean) / self.sd
        self._mass = _normal_mass(self._a, self._b)
        if self._mass < _MIN_MASS:
            raise ValueError(
                f"TruncatedNormal [low, high] must hold at least {_MIN_MASS:g} of the Normal's "
                f"mass (got {self._mass:.3g} for low={self.low!r}, high={self.high!r}, "
                f"mean={self.mean!r}, sd={self.sd!r}); move the interval towards the mean."
            )
        self._proposal, self._rate = max(self._acceptance_rates().items(), key=lambda kv: kv[1])

    def _acceptance_rates(self) -> dict[str, float]:
        a, b, scaled_mass = self._a, self._b, self._mass * math.sqrt(2 * math.pi)
        peak, tail = min(max(0.0, a), b), (a if a > 0 else -b)
        rates = {"normal": self._mass, "uniform": scaled_mass * math.exp(peak**2 / 2) / (b - a)}
        if tail > 0:
            rates["exponential"] = scaled_mass * tail * math.exp(tail**2 / 2)
        return rates

    def _propose(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """The accepted standardised draws among ``m`` proposals."""
        a, b = self._a, self._b
        if self._proposal == "normal":
            z = rng.standard_normal(m)
            return z[(z >= a) & (z <= b)]
        if self._proposal == "uniform":
            peak = min(max(0.0, a), b)
            z = rng.uniform(a, b, m)
            return z[rng.random(m) < np.exp((peak * peak - z * z) / 2)]
        sign, tail, end = (1.0, a, b) if a > 0 else (-1.0, -b, -a)
        z = tail + rng.exponential(1.0 / tail, m)
        return sign * z[(z <= end) & (rng.random(m) < np.exp(-((z - tail) ** 2) / 2))]

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        parts, need = [np.empty(0)], n
        while need > 0:
            parts.append(self._propose(int(1.1 * need / self._rate) + 16, rng)[:need])
            need -= len(parts[-1])
        return self.mean + self.sd * np.concatenate(parts)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        return _normal_log_pdf(v, self.mean, self.sd) - math.log(self._mass)


class Beta(Distribution):
    """Beta distribution on ``[0, 1]`` with shape parameters ``a`` and ``b``."""

    _fields = ("a", "b")
    _bounds = (0.0, 1.0)

    def __init__(self, a: float, b: float) -> None:
        self.a, self.b = _real("Beta", "a", a, True), _real("Beta", "b", b, True)
        self._log_norm = math.lgamma(self.a) + math.lgamma(self.b) - math.lgamma(self.a + self.b)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.beta(self.a, self.b, n)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        return _xlogy(self.a - 1, v) + _xlogy(self.b - 1, 1 - v) - self._log_norm


class Gamma(Distribution):
    """Gamma distribution on ``[0, inf)`` with ``shape`` and ``scale``."""

    _fields = ("shape", "scale")
    _bounds = (0.0, np.inf)

    def __init__(self, shape: float, scale: float) -> None:
        self.shape = _real("Gamma", "shape", shape, True)
        self.scale = _real("Gamma", "scale", scale, True)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, n)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        norm = math.lgamma(self.shape) + self.shape * math.log(self.scale)
        return _xlogy(self.shape - 1, v) - v / self.scale - norm


class Poisson(Distribution):
    """Poisson distribution on 0, 1, 2, ... with mean ``rate``."""

    discrete = True
    _fields = ("rate",)
    _bounds = (0.0, np.inf)

    def __init__(self, rate: float) -> None:
        self.rate = _real("Poisson", "rate", rate, True)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(self.rate, n)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        return v * math.log(self.rate) - self.rate - _log_factorial(v)


class Categorical(Distribution):
    """Distribution on 0, ..., K-1 with probabilities ``probs``, shape (K,)."""

    discrete = True
    _fields = ("probs",)

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = _real_array("Categorical", "probs", probs, ndim=1)
        self._bounds = (0.0, len(self.probs) - 1.0)
        if (self.probs < 0).any() or abs(self.probs.sum() - 1.0) > 1e-9:
            raise ValueError(
                f"Categorical probs must be >= 0 and sum to 1 within 1e-9 (got "
                f"{self.probs.tolist()}, sum {float(self.probs.sum())!r}); divide by their sum."
            )

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(len(self.probs), size=n, p=self.probs)

    def _in_support(self, v: np.ndarray) -> np.ndarray:
        ok = super()._in_support(v)
        ok[ok] = self.probs[v[ok].astype(np.intp)] > 0
        return ok

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        return np.log(self.probs[v.astype(np.intp)])


class MultivariateNormal(Distribution):
    """d-variate Normal with ``mean``, shape (d,), and ``cov``, shape (d, d).

    ``cov`` must be symmetric (to 1e-12 of its largest entry) and positive definite. A
    component called ``x`` gives the `Prior` columns ``x_0``, ..., ``x_{d-1}``.
    """

    _vector = True
    _fields = ("mean", "cov")

    def __init__(self, mean: np.ndarray, cov: np.ndarray) -> None:
        self.mean = _real_array("MultivariateNormal", "mean", mean, ndim=1)
        cov = _real_array("MultivariateNormal", "cov", cov, ndim=2)
        self.dim = d = len(self.mean)
        if cov.shape != (d, d) or np.abs(cov - cov.T).max() > 1e-12 * np.abs(cov).max():
            raise ValueError(
                f"MultivariateNormal cov must be a symmetric ({d}, {d}) matrix to match mean "
                f"(got {cov.tolist()}); pass a {d} x {d} covariance matrix."
            )
        self.cov = (cov + cov.T) / 2
        try:
            self._chol = np.linalg.cholesky(self.cov)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"MultivariateNormal cov must be positive definite (got smallest eigenvalue "
                f"{np.linalg.eigvalsh(self.cov).min():.3g}); fix the correlations."
            ) from None
        self._log_norm = np.log(np.diag(self._chol)).sum() + 0.5 * d * _LOG_2PI

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.mean + rng.standard_normal((n, self.dim)) @ self._chol.T

    def _in_support(self, v: np.ndarray) -> np.ndarray:
        return np.isfinite(v).all(axis=1)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        y = np.linalg.solve(self._chol, (v - self.mean).T)
        return -0.5 * (y * y).sum(axis=0) - self._log_norm
