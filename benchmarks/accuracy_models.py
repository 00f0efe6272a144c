"""The four models of the accuracy benchmark, each with its exact posterior.

This module needs only NumPy and SciPy: it is imported by ``accuracy.py`` (abcspark's side) and
by ``peer_pyabc_accuracy.py`` under pyABC's own python, so both tools simulate the same
statistics from the same priors (written here as plain ``(name, family, parameters)`` specs
that each side turns into its own prior objects).

Every simulator is vectorized, ``simulate(theta (n, d), rng) -> stats (n, k)``, and every
exact posterior is the posterior given those statistics (each is sufficient, or is the data):

``gaussian10``  theta ~ N(0, I_10); the sample mean of Gaussian data with known covariance,
                drawn from its exact law N(theta, C), C = 0.1 * 0.6^|i - j|; closed form.
``bimodal``     theta ~ U(-2, 2)^2; y = (theta_1^2 + theta_2 + N(0, 0.1^2), theta_2 +
                N(0, 0.3^2)): two crescents at theta_1 = +-sqrt(y_1 - theta_2); a grid.
``gamma``       shape k, scale s ~ LogNormal(0, 1); five Gamma(k, s) draws summarised by
                (log mean y, mean log y), which are sufficient; a skewed, correlated
                posterior, on a grid in (log k, log s).
``sir``         R0 ~ U(0.5, 4), recovery probability g ~ U(0.05, 0.6); a chain-binomial SIR
                (population 200, 5 infectious at the start, 10 steps) observed as the new
                infections and recoveries of each step, whose likelihood is a product of
                binomials; a grid on the prior's rectangle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Sequence, Tuple

import numpy as np
from scipy.special import gammaln

PriorSpec = Tuple[Tuple[str, str, Tuple[float, ...]], ...]
"""``((name, family, parameters), ...)``: ``uniform (low, high)``, ``normal (mean, sd)``,
``lognormal (mu, sigma)`` (mean and sd of the log)."""

OBSERVATION_SEED = 20_000
"""Observation i is simulated at the model's i-th true parameter with seed 20,000 + i."""


@dataclass(frozen=True)
class Model:
    """A benchmark problem: prior, simulator, true parameters and exact posterior.

    ``exact(observed, n, rng)`` returns ``n`` draws, shape ``(n, d)``, of the exact posterior
    given the statistics ``observed`` (shape ``(k,)``).
    """

    name: str
    prior: PriorSpec
    simulate: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    truths: Tuple[Tuple[float, ...], ...]
    exact: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

    @property
    def names(self) -> list:
        return [name for name, _, _ in self.prior]

    def observed(self, i: int) -> np.ndarray:
        """The statistics of observation ``i`` (simulated at ``truths[i]``)."""
        theta = np.asarray([self.truths[i]], dtype=np.float64)
        return self.simulate(theta, np.random.default_rng(OBSERVATION_SEED + i))[0]

    @property
    def log_columns(self) -> list:
        """Which parameters are positive (log-normal priors): smoothed on the log scale."""
        return [family == "lognormal" for _, family, _ in self.prior]

    def in_support(self, theta: np.ndarray) -> np.ndarray:
        """Which rows of ``theta (n, d)`` have a positive prior density."""
        inside = np.ones(len(theta), dtype=bool)
        for j, (_, family, args) in enumerate(self.prior):
            if family == "uniform":
                inside &= (theta[:, j] >= args[0]) & (theta[:, j] <= args[1])
            elif family == "lognormal":
                inside &= theta[:, j] > 0
        return inside


def grid_draws(
    log_density: np.ndarray,
    axes: Sequence[np.ndarray],
    n: int,
    rng: np.random.Generator,
    whole_support: bool = True,
) -> np.ndarray:
    """``n`` draws from a density tabled at the centres of a regular 2-D grid of cells.

    A cell is chosen with probability proportional to its density, and the draw is spread
    uniformly over the cell, so the draws are continuous (no ties for the classifier). Unless
    the grid covers the prior's whole support, it must hold the whole posterior: a cut tail
    would bias every method's score, so an edge above 1e-8 of the peak raises.
    """
    edges = [log_density[[0, -1], :].max(), log_density[:, [0, -1]].max()]
    edge = max(edges) - log_density.max()
    if not whole_support and edge > np.log(1e-8):
        raise ValueError(f"the grid cuts the posterior (edge/peak density {np.exp(edge):.2g})")
    p = np.exp(log_density - log_density.max()).ravel()
    cells = rng.choice(p.size, size=n, p=p / p.sum())
    rows, cols = np.unravel_index(cells, log_density.shape)
    widths = [a[1] - a[0] for a in axes]
    jitter = rng.uniform(-0.5, 0.5, size=(n, 2)) * widths
    return np.column_stack([axes[0][rows], axes[1][cols]]) + jitter


def centres(low: float, high: float, n: int) -> np.ndarray:
    """Centres of ``n`` equal cells covering ``[low, high]``."""
    width = (high - low) / n
    return low + width * (np.arange(n) + 0.5)


# a. Conjugate Gaussian in 10 dimensions.

GAUSS_DIM = 10
_LAG = np.abs(np.subtract.outer(np.arange(GAUSS_DIM), np.arange(GAUSS_DIM)))
GAUSS_COV = 0.1 * 0.6**_LAG
"""Covariance of the sample mean (the data's known covariance over the sample size)."""
_GAUSS_CHOL = np.linalg.cholesky(GAUSS_COV)


def gaussian_simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return theta + rng.standard_normal(theta.shape) @ _GAUSS_CHOL.T


def gaussian_exact(observed: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    # Prior N(0, I), likelihood N(y | theta, C): precision I + C^-1, mean cov @ C^-1 y.
    data_precision = np.linalg.inv(GAUSS_COV)
    cov = np.linalg.inv(np.eye(GAUSS_DIM) + data_precision)
    mean = cov @ data_precision @ observed
    return mean + rng.standard_normal((n, GAUSS_DIM)) @ np.linalg.cholesky(cov).T


# b. Two crescents: a bimodal, curved posterior.

BIMODAL_SD = (0.1, 0.3)


def bimodal_simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean = np.column_stack([theta[:, 0] ** 2 + theta[:, 1], theta[:, 1]])
    return mean + rng.standard_normal(mean.shape) * BIMODAL_SD


def bimodal_exact(observed: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    axes = [centres(-2, 2, 1600), centres(-2, 2, 1600)]
    a, b = np.meshgrid(*axes, indexing="ij")
    z1 = (observed[0] - a**2 - b) / BIMODAL_SD[0]
    z2 = (observed[1] - b) / BIMODAL_SD[1]
    return grid_draws(-0.5 * (z1**2 + z2**2), axes, n, rng)  # uniform prior: flat


# c. Gamma shape and scale under log-normal priors: skewed and correlated.

GAMMA_N = 5


def gamma_simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Drawn on the log scale: a Gamma(k) draw with a small shape k underflows to 0, but
    # Gamma(k) = Gamma(k + 1) * U^(1 / k) in law, whose log is finite.
    k, scale = theta[:, :1], theta[:, 1:2]
    size = (len(theta), GAMMA_N)
    log_y = np.log(scale * rng.gamma(k + 1, size=size)) + np.log(rng.uniform(size=size)) / k
    top = log_y.max(axis=1)
    log_mean = top + np.log(np.exp(log_y - top[:, None]).mean(axis=1))
    return np.column_stack([log_mean, log_y.mean(axis=1)])


def gamma_exact(observed: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    # Sufficient statistics sum(y) and sum(log y); a grid in u = (log k, log s), where the
    # LogNormal(0, 1) priors are standard normal densities.
    total, total_log = GAMMA_N * np.exp(observed[0]), GAMMA_N * observed[1]
    axes = [centres(-7, 7, 1400), centres(-7, 7, 1400)]
    u, v = np.meshgrid(*axes, indexing="ij")
    k, s = np.exp(u), np.exp(v)
    log_lik = (k - 1) * total_log - total / s - GAMMA_N * (k * v + gammaln(k))
    log_density = log_lik - 0.5 * (u**2 + v**2)
    return np.exp(grid_draws(log_density, axes, n, rng, whole_support=False))


# d. Chain-binomial SIR observed at every step.

SIR_POPULATION, SIR_INFECTIOUS, SIR_STEPS = 200, 5, 10
SIR_BOUNDS = ((0.5, 4.0), (0.05, 0.6))


def sir_simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Each step: a susceptible is infected with probability 1 - exp(-beta I / N), beta =
    # R0 * g; an infectious person recovers with probability g.
    r0, g = theta[:, 0], theta[:, 1]
    s = np.full(len(theta), SIR_POPULATION - SIR_INFECTIOUS, dtype=np.int64)
    i = np.full(len(theta), SIR_INFECTIOUS, dtype=np.int64)
    out = np.empty((len(theta), 2 * SIR_STEPS))
    for t in range(SIR_STEPS):
        infected = rng.binomial(s, -np.expm1(-r0 * g * i / SIR_POPULATION))
        recovered = rng.binomial(i, g)
        out[:, t], out[:, SIR_STEPS + t] = infected, recovered
        s, i = s - infected, i + infected - recovered
    return out


def sir_exact(observed: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    infected, recovered = observed[:SIR_STEPS], observed[SIR_STEPS:]
    s = SIR_POPULATION - SIR_INFECTIOUS - np.concatenate([[0], np.cumsum(infected)[:-1]])
    i = SIR_INFECTIOUS + np.concatenate([[0], np.cumsum(infected - recovered)[:-1]])
    axes = [centres(*SIR_BOUNDS[0], 1000), centres(*SIR_BOUNDS[1], 1000)]
    r0, g = np.meshgrid(*axes, indexing="ij")
    log_lik = np.zeros_like(r0)
    # log Binomial(infected | s, p) with log(1 - p) = -beta i / N, and Binomial(recovered | i, g)
    # (the binomial coefficients do not depend on the parameters). Steps without infectious
    # people contribute nothing: no one can be infected.
    for s_t, i_t, infected_t in zip(s, i, infected):
        if i_t > 0:
            rate = r0 * g * i_t / SIR_POPULATION
            log_lik += infected_t * np.log(-np.expm1(-rate)) - (s_t - infected_t) * rate
    log_lik += recovered.sum() * np.log(g) + (i - recovered).sum() * np.log1p(-g)
    return grid_draws(log_lik, axes, n, rng)


MODELS: Dict[str, Model] = {
    m.name: m
    for m in (
        Model(
            "gaussian10",
            tuple((f"theta{j}", "normal", (0.0, 1.0)) for j in range(GAUSS_DIM)),
            gaussian_simulate,
            tuple(
                tuple(np.random.default_rng(seed).standard_normal(GAUSS_DIM).round(3).tolist())
                for seed in (1, 2)
            ),
            gaussian_exact,
        ),
        Model(
            "bimodal",
            (("theta1", "uniform", (-2.0, 2.0)), ("theta2", "uniform", (-2.0, 2.0))),
            bimodal_simulate,
            ((1.0, 0.2), (-1.4, -0.6)),
            bimodal_exact,
        ),
        Model(
            "gamma",
            (("shape", "lognormal", (0.0, 1.0)), ("scale", "lognormal", (0.0, 1.0))),
            gamma_simulate,
            ((2.0, 1.0), (0.7, 3.0)),
            gamma_exact,
        ),
        Model(
            "sir",
            (("R0", "uniform", SIR_BOUNDS[0]), ("g", "uniform", SIR_BOUNDS[1])),
            sir_simulate,
            ((2.5, 0.3), (1.6, 0.15)),
            sir_exact,
        ),
    )
}
