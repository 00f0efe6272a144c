"""Discrete distributions: Poisson and Categorical, whose draws are integer-valued floats.

Each is a `~abcspark.distributions.Distribution` of one column with ``discrete = True``: its
log mass is ``-inf`` at non-integers. Their parameters are tabled in `abcspark.distributions`.

Examples
--------
>>> import numpy as np
>>> Poisson(3.5).log_pdf([[0.0], [1.5]]).tolist()
[-3.5, -inf]
>>> Categorical([0.2, 0.0, 0.8]).sample(4, np.random.default_rng(0)).ravel().tolist()
[2.0, 2.0, 0.0, 0.0]
"""

from __future__ import annotations

import math

import numpy as np

from abcspark.distributions import LOG_2PI, Distribution, real_array_parameter, real_parameter

MAX_RATE = 1e18
"""Largest Poisson rate NumPy draws from (it refuses rates above about 9.2e18)."""

# log(k!) is exact below 20; above, Stirling's series (to 1/k**7) errs by less than 1e-15.
_LOG_FACTORIAL = np.array([math.lgamma(k + 1.0) for k in range(20)])


def _poisson_log_pmf(k: np.ndarray, rate: float) -> np.ndarray:
    """log P(k) of a Poisson(rate) at non-negative integer-valued floats, accurate at any rate.

    Below 20, ``k log(rate) - rate - log(k!)`` with log(k!) from a table. Above, Stirling's
    form ``-(k log(k/rate) + rate - k) - log(2 pi k) / 2 - series(k)``, whose first term is
    computed near the mean as ``k log1p(d/rate) - d`` with ``d = k - rate``: there it is of order 1
    while ``k log(rate)`` and ``log(k!)`` are each of order ``rate log(rate)``, so taking one
    from the other (the plain formula) lost all of it at large rates (at 1e16 their rounding
    alone is 64, in a log mass of about -19).
    """
    small = k < len(_LOG_FACTORIAL)
    out = np.empty_like(k)
    few = k[small]
    out[small] = few * math.log(rate) - rate - _LOG_FACTORIAL[few.astype(np.intp)]
    big = k[~small]
    inv2 = (1.0 / big) ** 2  # not 1 / big**2, which overflows for big > 1e154
    series = (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680))) / big
    d = big - rate
    log_ratio = np.log(big) - math.log(rate)  # log(k/rate): k/rate overflows at tiny rates
    near = np.abs(d) < 0.25 * rate
    log_ratio[near] = np.log1p(d[near] / rate)  # exact where the cancellation is
    deviance = big * log_ratio - d
    out[~small] = -deviance - 0.5 * (LOG_2PI + np.log(big)) - series
    return out


class Poisson(Distribution):
    """Poisson distribution on 0, 1, 2, ... with mean ``rate``."""

    discrete = True
    _fields = ("rate",)
    _bounds = (0.0, np.inf)

    def __init__(self, rate: float) -> None:
        self.rate = real_parameter("Poisson", "rate", rate, True)
        if self.rate > MAX_RATE:
            raise ValueError(
                f"Poisson rate must be <= {MAX_RATE:g} (got rate={rate!r}), the largest NumPy "
                "draws from; use a Normal(rate, sqrt(rate)) prior for such counts."
            )

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(self.rate, n)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        return _poisson_log_pmf(v, self.rate)


class Categorical(Distribution):
    """Distribution on 0, ..., K-1 with probabilities ``probs``, shape (K,)."""

    discrete = True
    _fields = ("probs",)

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = real_array_parameter("Categorical", "probs", probs, ndim=1)
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
