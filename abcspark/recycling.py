"""Recycling: a generation also keeps the last generation's own particles within its epsilon.

A particle that generation ``t - 1`` drew from its proposal ``q_{t-1}`` and accepted, and whose
distance is within generation ``t``'s smaller epsilon, is an ABC draw at that epsilon as much
as one of generation ``t``'s own. So generation ``t`` keeps both sets, weighted as draws of the
two proposals' deterministic mixture (Owen and Zhou 2000; Cornuet et al. 2012)::

    w(theta) = prior(theta) / ((m_{t-1} q_{t-1}(theta) + m_t q_t(theta)) / (m_{t-1} + m_t))

with ``m`` the proposals each generation drew, inside the prior's support or not (the draws a
proposal's density describes). Every particle is weighted by both proposals, so none keeps a
weight of one proposal where the other is dense. Only the last generation's own particles are
kept, never those it recycled in turn: each particle is used in two generations at most. The
``generation`` column says which generation drew each particle.

The kept particles count toward the generation's ``n_particles``: it draws only the rest
(:func:`reused`), at least half of them itself. On the height problem PMC then reaches
pyABC's final epsilon in 30% fewer simulations, at as large an ESS (README, "Simulations to
the same epsilon").

One exception: the rest of a budget spent at the last generation's epsilon (the last branch of
:func:`abcspark.budget.fit_budget`) buys few particles. Pooled with the last generation's own
ones only, they drop those it had recycled, and with them, often, most of its ESS (on the
Gamma model of ``benchmarks/accuracy.py`` at 1e5, from 476 to 203). Joined to the whole last
population instead, by :func:`abcspark.budget.merged` as without recycling, they keep it; but
on the 10-d Gaussian the join held less (249 against 392). So that generation keeps whichever
of the two holds the larger ESS (``PMCABC._population``).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Tuple

import numpy as np
import pandas as pd

from abcspark.kernels import importance_weights, log_sum_exp
from abcspark.sampling import Sample
from abcspark.validation import boolean

ORIGIN = "generation"
"""The column of a recycling population: the generation that drew the particle."""


class MixtureProposal:
    """Proposals as the mixture that drew their pooled particles, each weighted by its draws.

    Parameters
    ----------
    log_densities : sequence of callables
        Each proposal's ``log_density(theta (m, d)) -> (m,)``.
    draws : sequence of int
        The proposals each one drew.
    """

    def __init__(self, log_densities: Sequence[Callable], draws: Sequence[int]):
        self.log_densities = list(log_densities)
        self.log_shares = np.log(np.asarray(draws, dtype=float) / float(sum(draws)))

    def log_density(self, theta: np.ndarray) -> np.ndarray:
        """``log sum_k (m_k / m) q_k(theta)`` for ``theta (m, d)`` -> ``(m,)``."""
        terms = [f(theta) + share for f, share in zip(self.log_densities, self.log_shares)]
        return log_sum_exp(np.stack(terms, axis=1))


def recycled(
    sample: Sample,
    proposal: Any,
    last: pd.DataFrame,
    last_proposal: Tuple[Callable, int],
    generation: int,
    epsilon: float,
    prior: Any,
) -> pd.DataFrame:
    """Generation ``generation``'s population: the particles of its ``sample`` (drawn from
    ``proposal``), then the ``last`` population's own particles within ``epsilon``, all
    weighted as draws of the mixture of ``proposal`` and ``last_proposal`` (its log density and
    draws)."""
    kept = own_within(last, generation, epsilon).drop(columns="weight")
    fresh = sample.particles.drop(columns=["batch", "index"]).assign(**{ORIGIN: generation})
    pooled = pd.concat([fresh, kept], ignore_index=True)
    mixture = MixtureProposal(
        [last_proposal[0], proposal.log_density], [last_proposal[1], sample.n_proposals]
    )
    theta = pooled[prior.names].to_numpy()
    weights = importance_weights(theta, prior.log_pdf(theta), mixture) if len(theta) else None
    return pooled.assign(weight=weights)


def own_within(last: pd.DataFrame, generation: int, epsilon: float) -> pd.DataFrame:
    """The particles of ``last`` that generation ``generation - 1`` drew, within ``epsilon``."""
    own = last[last[ORIGIN].to_numpy() == generation - 1]
    return own[own["distance"].to_numpy() <= epsilon]


def reused(last: pd.DataFrame, generation: int, epsilon: float, n_particles: int) -> int:
    """How many of generation ``generation``'s ``n_particles`` the ``last`` population's own
    particles within ``epsilon`` stand for: all of them, up to half (a generation always draws
    at least half its particles itself)."""
    return min(len(own_within(last, generation, epsilon)), n_particles // 2)


def marked(population: pd.DataFrame, generation: int) -> pd.DataFrame:
    """``population`` with each particle it has no generation for marked as ``generation``'s."""
    origin = population.get(ORIGIN, pd.Series(np.nan, index=population.index, dtype=float))
    return population.assign(**{ORIGIN: origin.fillna(generation).astype(np.int64)})


def check_recycle(recycle: Any, adaptive: bool) -> bool:
    """``recycle`` checked; None: on with a fixed distance. Else ``ValueError``."""
    if recycle is None:
        return not adaptive
    if boolean("recycle", recycle) and adaptive:
        raise ValueError(
            "recycle must be False with an adaptive distance (got True): its distances change "
            "units each generation, so the last generation's cannot be compared with the new "
            "epsilon; use a fixed distance such as ScaledEuclidean to recycle."
        )
    return bool(recycle)
