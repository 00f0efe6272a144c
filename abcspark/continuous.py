"""Continuous univariate distributions: Uniform, Normal, LogNormal, TruncatedNormal, Beta, Gamma.

Each is a `~abcspark.distributions.Distribution` of one column; their parameters and supports
are tabled in `abcspark.distributions`.

Examples
--------
>>> import numpy as np
>>> Uniform(150, 200).sample(3, np.random.default_rng(0)).shape
(3, 1)
>>> Beta(2, 3).log_pdf([[0.5], [1.5]]).round(3).tolist()
[0.405, -inf]
"""

from __future__ import annotations

import math

import numpy as np

from abcspark.distributions import LOG_2PI, MAX_MAGNITUDE, Distribution, real_parameter

_MIN_MASS = 1e-6
_MAX_LOG = 230.0  # exp(230) < 1e100: draws stay within the parameters' magnitude limit


def _interval(owner: str, low: object, high: object) -> tuple[float, float]:
    low, high = real_parameter(owner, "low", low), real_parameter(owner, "high", high)
    if not low < high:
        raise ValueError(
            f"{owner} low must be < high (got low={low!r}, high={high!r}); "
            "swap them or widen the interval."
        )
    return low, high


def _xlogy(c: float, v: np.ndarray) -> np.ndarray:
    """``c * log(v)`` with ``0 * log(0) = 0``, so the ends of a support stay finite."""
    if c == 0:
        return np.zeros_like(v)
    with np.errstate(divide="ignore"):
        return c * np.log(v)


def _normal_log_pdf(v: np.ndarray, mean: float, sd: float) -> np.ndarray:
    z = (v - mean) / sd
    with np.errstate(over="ignore"):  # z*z = inf beyond 1e154 sds: the density is 0 there
        return -0.5 * z * z - math.log(sd) - 0.5 * LOG_2PI


def _normal_mass(a: float, b: float) -> float:
    """Standard normal mass of [a, b]; reflecting to the right keeps far tails accurate."""
    a, b = (-b, -a) if a + b < 0 else (a, b)
    return 0.5 * (math.erfc(a / math.sqrt(2)) - math.erfc(b / math.sqrt(2)))


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
        self.mean = real_parameter("Normal", "mean", mean)
        self.sd = real_parameter("Normal", "sd", sd, True)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(self.mean, self.sd, n)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        return _normal_log_pdf(v, self.mean, self.sd)


class LogNormal(Distribution):
    """Log-normal distribution: ``log x`` is Normal with mean ``mu`` and sd ``sigma``."""

    _fields = ("mu", "sigma")
    _bounds = (5e-324, np.inf)  # the smallest positive float: 0 is outside the support

    def __init__(self, mu: float, sigma: float) -> None:
        self.mu = real_parameter("LogNormal", "mu", mu)
        self.sigma = real_parameter("LogNormal", "sigma", sigma, True)
        if abs(self.mu) + 10 * self.sigma > _MAX_LOG:
            raise ValueError(
                f"LogNormal needs |mu| + 10 sigma <= {_MAX_LOG:g} (got mu={self.mu!r}, "
                f"sigma={self.sigma!r}), or its draws exp(mu + sigma z) overflow to inf or "
                "underflow to 0; rescale the parameter (e.g. other units), or put a Normal "
                "prior on its log."
            )

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
        self.mean = real_parameter("TruncatedNormal", "mean", mean)
        self.sd = real_parameter("TruncatedNormal", "sd", sd, True)
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
        self.a = real_parameter("Beta", "a", a, True)
        self.b = real_parameter("Beta", "b", b, True)
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
        self.shape = real_parameter("Gamma", "shape", shape, True)
        self.scale = real_parameter("Gamma", "scale", scale, True)
        if self.shape * self.scale > MAX_MAGNITUDE:
            raise ValueError(
                f"Gamma mean shape * scale must be <= {MAX_MAGNITUDE:g} (got shape={shape!r}, "
                f"scale={scale!r}); rescale the parameter (e.g. other units)."
            )

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, n)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        norm = math.lgamma(self.shape) + self.shape * math.log(self.scale)
        return _xlogy(self.shape - 1, v) - v / self.scale - norm
