"""The models of the discrete benchmark (issue 18), each with its exact posterior.

This module needs only NumPy and SciPy: ``discrete.py`` (abcspark's side) and
``peer_pyabc_discrete.py`` (under pyABC's own python) both import it, so both tools simulate
the same statistics from the same priors, written as plain ``(name, family, parameters)``
specs that each side turns into its own prior objects.

Every simulator is vectorized, ``simulate(theta (n, d), rng) -> stats (n, k)``, integer
parameters arriving as integer-valued floats; every exact posterior is the posterior given
those statistics (which are the data), by enumeration over the integer parameter and, where
there is one, a fine grid over the continuous one:

``events``    mixed. k ~ Poisson(3) sources, each seen by a detector with probability 0.6
              and each emitting an Exponential(scale) energy, log_scale ~ N(0, 1); observed:
              (sources detected, total energy) ~ (Binomial(k, 0.6), Gamma(k, scale)). The
              count pins k from below, the energy ties scale to k: k and log_scale are
              negatively correlated a posteriori.
``category``  discrete. c ~ Categorical(0.1, 0.2, 0.3, 0.25, 0.15) on 0..4; observed:
              ((c - 2)^2 + N(0, 0.5^2), c + N(0, 2^2)). The first statistic cannot tell c
              from 4 - c, the second only weakly: a posterior with two separated modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np
from scipy import stats
from scipy.special import gammaln

PriorSpec = Tuple[Tuple[str, str, Tuple[float, ...]], ...]
"""``((name, family, parameters), ...)``: ``poisson (rate,)``, ``categorical (p_0, ...,
p_K-1)`` on 0..K-1, ``normal (mean, sd)``."""

DISCRETE_FAMILIES = ("poisson", "categorical")

OBSERVATION_SEED = 30_000
"""Observation i is simulated at the model's i-th true parameter with seed 30,000 + i."""

TAIL = 1e-10
"""A Poisson's finite domain (pyABC's jump transition needs one; the exact posterior sums
over it) ends where the prior's tail beyond it is below this."""


@dataclass(frozen=True)
class Exact:
    """An exact posterior: P(integer = values[i]) = probs[i]; the continuous one's mean, sd.

    With a continuous parameter, ``joint[i, g]`` is the probability of ``values[i]`` and the
    grid cell around ``grid[g]``.
    """

    values: np.ndarray
    probs: np.ndarray
    mean: Optional[float] = None
    sd: Optional[float] = None
    grid: Optional[np.ndarray] = None
    joint: Optional[np.ndarray] = None

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent exact draws, shape ``(n, d)`` (uniform within a grid cell)."""
        if self.joint is None:
            return rng.choice(self.values, size=n, p=self.probs).astype(np.float64)[:, None]
        cells = rng.choice(self.joint.size, size=n, p=self.joint.ravel())
        i, g = np.unravel_index(cells, self.joint.shape)
        step = self.grid[1] - self.grid[0]
        u = self.grid[g] + step * (rng.random(n) - 0.5)
        return np.column_stack([self.values[i].astype(np.float64), u])


@dataclass(frozen=True)
class DiscreteModel:
    """A benchmark problem with one integer parameter (the first) and maybe a continuous one."""

    name: str
    prior: PriorSpec
    simulate: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    truths: Tuple[Tuple[float, ...], ...]
    exact: Callable[[np.ndarray], Exact]

    @property
    def names(self) -> list:
        return [name for name, _, _ in self.prior]

    @property
    def discrete(self) -> list:
        """Which parameters are integers, by position."""
        return [family in DISCRETE_FAMILIES for _, family, _ in self.prior]

    def observed(self, i: int) -> np.ndarray:
        """The statistics of observation ``i`` (simulated at ``truths[i]``)."""
        theta = np.asarray([self.truths[i]], dtype=np.float64)
        return self.simulate(theta, np.random.default_rng(OBSERVATION_SEED + i))[0]

    def domain(self, j: int = 0) -> np.ndarray:
        """The integer values of parameter ``j``'s prior (a Poisson's cut at ``TAIL``)."""
        family, args = self.prior[j][1], self.prior[j][2]
        if family == "categorical":
            return np.arange(len(args))
        return np.arange(int(stats.poisson.isf(TAIL, args[0])) + 1)

    def prior_mass(self, j: int = 0) -> np.ndarray:
        """Prior probabilities of ``domain(j)``, renormalised over it."""
        family, args = self.prior[j][1], self.prior[j][2]
        mass = np.asarray(args, dtype=np.float64)
        if family == "poisson":
            mass = stats.poisson.pmf(self.domain(j), args[0])
        return mass / mass.sum()


# events ---------------------------------------------------------------------------------

P_DETECT = 0.6
EVENTS_RATE = 3.0
LOG_SCALE_GRID = np.linspace(-6.0, 6.0, 12_001)


def simulate_events(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k, scale = theta[:, 0], np.exp(theta[:, 1])
    detected = rng.binomial(k.astype(np.int64), P_DETECT)
    energy = rng.gamma(k, scale)  # shape 0 gives exactly 0: no sources, no energy
    return np.column_stack([detected.astype(np.float64), energy])


def exact_events(observed: np.ndarray) -> Exact:
    """Enumeration over k of ``Poisson(k; 3) Binomial(s1; k, 0.6)`` times the grid over
    log_scale of ``N(0, 1) Gamma(s2; k, e^log_scale)``."""
    detected, energy = int(observed[0]), float(observed[1])
    ks = EVENTS.domain()
    log_k = stats.poisson.logpmf(ks, EVENTS_RATE) + stats.binom.logpmf(detected, ks, P_DETECT)
    u = LOG_SCALE_GRID
    if energy > 0:
        k = np.maximum(ks, 1)[:, None]
        log_gamma = (k - 1) * math.log(energy) - energy * np.exp(-u) - k * u - gammaln(k)
        log_gamma = np.where(ks[:, None] > 0, log_gamma, -np.inf)
    else:
        log_gamma = np.where(ks[:, None] == 0, 0.0, -np.inf) * np.ones_like(u)
    log_joint = log_k[:, None] + log_gamma - 0.5 * u**2
    joint = np.exp(log_joint - log_joint[np.isfinite(log_joint)].max())
    joint /= joint.sum()
    p_u = joint.sum(axis=0)
    mean = float(p_u @ u)
    sd = float(np.sqrt(p_u @ (u - mean) ** 2))
    return Exact(ks, joint.sum(axis=1), mean, sd, grid=u, joint=joint)


EVENTS = DiscreteModel(
    name="events",
    prior=(("k", "poisson", (EVENTS_RATE,)), ("log_scale", "normal", (0.0, 1.0))),
    simulate=simulate_events,
    truths=((4.0, 0.3), (7.0, -0.5)),
    exact=exact_events,
)


# category -------------------------------------------------------------------------------

CATEGORY_PROBS = (0.1, 0.2, 0.3, 0.25, 0.15)
SQUARE_SD, LINEAR_SD = 0.5, 2.0


def simulate_category(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    c = theta[:, 0]
    noise = rng.standard_normal((len(theta), 2)) * [SQUARE_SD, LINEAR_SD]
    return np.column_stack([(c - 2.0) ** 2, c]) + noise


def exact_category(observed: np.ndarray) -> Exact:
    c = CATEGORY.domain().astype(np.float64)
    log_p = np.log(CATEGORY_PROBS)
    log_p += stats.norm.logpdf(observed[0], (c - 2.0) ** 2, SQUARE_SD)
    log_p += stats.norm.logpdf(observed[1], c, LINEAR_SD)
    p = np.exp(log_p - log_p.max())
    return Exact(c.astype(np.int64), p / p.sum())


CATEGORY = DiscreteModel(
    name="category",
    prior=(("c", "categorical", CATEGORY_PROBS),),
    simulate=simulate_category,
    truths=((3.0,), (1.0,)),
    exact=exact_category,
)

MODELS = {model.name: model for model in (EVENTS, CATEGORY)}
