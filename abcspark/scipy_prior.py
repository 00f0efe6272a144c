"""`ScipyDistribution`: a frozen ``scipy.stats`` distribution as a `Prior` component.

``Prior(mu=scipy.stats.norm(170, 10))`` wraps the frozen distribution in a
`ScipyDistribution`: its draws come from the batch's ``rng`` (``rvs(random_state=rng)``), so a
run stays bit-identical on every engine and parallelism; its support (and so any truncation,
e.g. ``scipy.stats.truncnorm``) is the distribution's own ``support()``. scipy is needed only
by the user who passes one; abcspark does not import it otherwise.

abcspark's own distributions stay the fast path for log densities, which PMC computes for
every particle of every generation. Measured (``benchmarks/scipy_priors.py``, 10^6 values,
best of 5, alternating): scipy's draws take 0.9-1.5x the time of abcspark's (normal, uniform,
gamma, Poisson) and its log densities 2.1-3.1x, 30-60 ms per million values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from abcspark.distributions import Distribution


def is_scipy_frozen(value: Any) -> bool:
    """Whether ``value`` looks like a frozen ``scipy.stats`` distribution; scipy not imported."""
    return type(value).__module__.startswith("scipy.stats") and hasattr(value, "rvs")


class ScipyDistribution(Distribution):
    """A frozen univariate ``scipy.stats`` distribution, continuous or discrete.

    Parameters
    ----------
    frozen : scipy.stats frozen distribution
        E.g. ``scipy.stats.norm(0, 1)``, ``scipy.stats.gamma(2, scale=3)``,
        ``scipy.stats.truncnorm(-1, 2)`` or ``scipy.stats.poisson(4)``, with scalar parameters.
        `Prior` wraps such an object by itself.

    Raises
    ------
    TypeError
        If ``frozen`` is not a frozen univariate scipy distribution (a multivariate one, an
        unfrozen one such as ``scipy.stats.norm``).
    ValueError
        If its parameters are not scalars or scipy finds them invalid (its support is NaN).

    Examples
    --------
    >>> import scipy.stats
    >>> from abcspark import Prior
    >>> prior = Prior(mu=scipy.stats.norm(170, 10), n=scipy.stats.poisson(3))
    >>> prior.components["mu"]
    ScipyDistribution(name='norm', args=[170.0, 10.0], kwds={})
    >>> prior.discrete_names
    ['n']
    """

    _fields = ("name", "args", "kwds")

    def __init__(self, frozen: Any) -> None:
        dist = getattr(frozen, "dist", None)
        kind = _kind(dist)
        if kind is None or not hasattr(frozen, "support"):
            raise TypeError(
                f"a scipy.stats prior must be a frozen univariate distribution (got {frozen!r} "
                f"that is a {type(frozen)}); freeze it with its parameters, e.g. "
                "scipy.stats.norm(0, 1), and use abcspark.MultivariateNormal for a vector."
            )
        self.frozen = frozen
        self.name = str(dist.name)
        self.args = [_scalar(self.name, value) for value in frozen.args]
        self.kwds = {key: _scalar(self.name, value) for key, value in frozen.kwds.items()}
        self.discrete = kind == "discrete"
        low, high = (float(bound) for bound in frozen.support())
        if math.isnan(low) or math.isnan(high):
            raise ValueError(
                f"scipy.stats.{self.name} with args={self.args} and kwds={self.kwds} has invalid "
                "parameters (scipy gives it the support (nan, nan)); fix them, e.g. a positive "
                "scale."
            )
        self._bounds = (low, high)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.frozen.rvs(size=n, random_state=rng)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        density = self.frozen.logpmf if self.discrete else self.frozen.logpdf
        return np.asarray(density(v), dtype=np.float64)


def _kind(dist: Any) -> Any:
    """``'continuous'`` or ``'discrete'`` for a scipy univariate distribution, else None."""
    module = type(dist).__module__
    if not module.startswith("scipy.stats"):
        return None
    import scipy.stats

    if isinstance(dist, scipy.stats.rv_continuous):
        return "continuous"
    if isinstance(dist, scipy.stats.rv_discrete):
        return "discrete"
    return None


def _scalar(name: str, value: Any) -> float:
    array = np.asarray(value)
    if array.ndim != 0 or array.dtype.kind not in "iuf" or not np.isfinite(array):
        raise ValueError(
            f"scipy.stats.{name} parameters must be real scalars (got {value!r}); one "
            "distribution per parameter: give a vector prior one component per column, or "
            "use abcspark.MultivariateNormal."
        )
    return float(array)
