"""Problems with known answers, shared by the README, tests, benchmarks and notebooks.

- The height problem of ABCpy's ``pmcabc_gaussian`` example: 67 observed heights,
  ``mu ~ U(150, 200)``, ``sigma ~ U(5, 25)``, heights ``~ Normal(mu, sigma)``, summaries mean
  and standard deviation.
- A conjugate Normal-mean model whose exact ABC posterior is known for every epsilon.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Tuple

import numpy as np

from abcspark.priors import Normal, Prior, Uniform


def height_observations() -> np.ndarray:
    """The 67 observed heights of ABCpy's ``pmcabc_gaussian`` example, shape (67,)."""
    text = resources.files("abcspark").joinpath("data/height_observed.txt").read_text()
    return np.array(
        [float(line) for line in text.splitlines() if line and not line.startswith("#")]
    )


def summaries(data: np.ndarray) -> np.ndarray:
    """Mean and standard deviation (ddof=1) along the last axis: ``(..., m) -> (..., 2)``."""
    return np.stack([data.mean(axis=-1), data.std(axis=-1, ddof=1)], axis=-1)


class HeightModel:
    """Simulate ``n_draws`` Normal(mu, sigma) heights per parameter row; return their summaries.

    Parameters
    ----------
    n_draws : int, default 67
        Heights per simulation (67 in ABCpy's example; the throughput benchmark uses 100).

    Examples
    --------
    >>> from abcspark.rng import batch_rng
    >>> HeightModel()(np.array([[170.0, 10.0], [180.0, 5.0]]), batch_rng(0, 0, 0)).shape
    (2, 2)
    """

    def __init__(self, n_draws: int = 67):
        self.n_draws = n_draws

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        draws = rng.normal(theta[:, :1], theta[:, 1:2], size=(len(theta), self.n_draws))
        return summaries(draws)

    def one(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The same model for one parameter vector ``(2,)``: the RDD path's shape."""
        return rng.normal(theta[0], theta[1], size=self.n_draws)


def height_problem(n_draws: int = 67) -> Tuple[Prior, HeightModel, np.ndarray]:
    """Prior, simulator and observed summaries of the height example."""
    prior = Prior(mu=Uniform(150, 200), sigma=Uniform(5, 25))
    return prior, HeightModel(n_draws), summaries(height_observations())


class NormalMean:
    """Sample mean of ``n_obs`` Normal(mu, sd) draws, simulated exactly as one draw.

    With a Normal prior on ``mu`` and the uniform ABC kernel, the ABC posterior at any epsilon
    is known (see :meth:`abc_moments`), which the statistical tests use.
    """

    def __init__(
        self, prior_mean: float = 0.0, prior_sd: float = 2.0, sd: float = 1.0, n_obs: int = 10
    ):
        self.prior_mean, self.prior_sd, self.sd, self.n_obs = prior_mean, prior_sd, sd, n_obs
        self.prior = Prior(mu=Normal(prior_mean, prior_sd))

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return theta + self.sd / math.sqrt(self.n_obs) * rng.standard_normal(theta.shape)

    def abc_moments(self, observed_mean: float, epsilon: float) -> Tuple[float, float]:
        """Mean and variance of the exact ABC posterior at ``epsilon`` (quadrature).

        ``p(mu) ~ prior(mu) * P(|xbar - observed| <= epsilon | mu)``; as epsilon -> 0 it tends
        to the conjugate posterior.
        """
        scale = self.sd / math.sqrt(self.n_obs)
        grid = np.linspace(
            self.prior_mean - 10 * self.prior_sd, self.prior_mean + 10 * self.prior_sd, 200001
        )
        cdf = np.vectorize(lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2))))
        if epsilon > 0:
            like = cdf((observed_mean + epsilon - grid) / scale) - cdf(
                (observed_mean - epsilon - grid) / scale
            )
        else:
            like = np.exp(-0.5 * ((observed_mean - grid) / scale) ** 2)
        density = like * np.exp(-0.5 * ((grid - self.prior_mean) / self.prior_sd) ** 2)
        density /= density.sum()
        mean = float(grid @ density)
        return mean, float(((grid - mean) ** 2) @ density)
