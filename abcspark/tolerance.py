"""What an ABC posterior owes to its tolerance, read from the regression adjustment's slopes,
and the choice it informs: whether the budget's last generation goes to a smaller epsilon or
spends the rest of the budget at the last one (:func:`abcspark.budget.next_plan`).

Under local-linear regression (:mod:`abcspark.adjustment`) each accepted particle's
(transformed) parameter is the exact posterior's draw plus ``x @ beta``, ``x`` its statistics'
offset from the observed ones. So across a population the mean of ``x @ beta`` is how far the
tolerance shifts the posterior's mean, and its variance over the rest's how much it widens the
posterior (a variance ratio ``rho``: the spread grows by about ``rho / 2``). A smaller epsilon
shrinks both; fewer particles there add Monte Carlo error. On ``benchmarks/accuracy.py``'s
models the estimate is large where a smaller epsilon was measured closer (1e3 simulations,
the 10-d Gaussian and sir) and tiny where the lost ESS cost more than it bought (the bimodal
model at pyABC's count): README, "Accuracy".
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np
import pandas as pd

from abcspark.adjustment import ridge_slopes
from abcspark.rows import statistics_in
from abcspark.transforms import to_unbounded

ERROR_PER_ESS = 1.5
"""The squared Monte Carlo error of a population, times its ESS, in units of the posterior's
variance: 1 for its mean, 1/2 for its spread."""


def tolerance_error(
    population: pd.DataFrame, prior: Any, observed: Any
) -> Optional[Tuple[float, float]]:
    """``(shift, spread)``: the squared shift of the posterior's mean and the squared relative
    excess of its spread that the tolerance makes, in units of the posterior's variance and
    averaged over the parameters; None without the particles' statistics (or with any missing,
    as in a population resumed from a checkpoint saved without them) or with discrete
    parameters.

    ``population`` holds ``prior.names``, ``weight`` and the statistics columns; ``observed``
    the observed statistics. The slopes are :func:`abcspark.adjustment.ridge_slopes`', fitted
    on the prior's unbounded scale (:func:`abcspark.transforms.to_unbounded`).
    """
    stats = statistics_in(population)
    if not stats or prior.discrete_names or len(population) < 2:
        return None
    z = to_unbounded(population[prior.names].to_numpy(), prior.bounds())
    x = population[stats].to_numpy() - np.asarray(observed, dtype=np.float64)
    if not np.isfinite(x).all():
        return None
    weights = population["weight"].to_numpy()
    weights = weights / weights.sum()
    made = x @ ridge_slopes(x, z, weights)  # the tolerance's part of each particle
    rest = z - made
    shift = weights @ made
    widening = weights @ (made - shift) ** 2
    variance = weights @ (rest - weights @ rest) ** 2
    live = variance > 0
    if not live.any():
        return None
    shifted = float(np.mean(shift[live] ** 2 / variance[live]))
    widened = float(np.mean((widening[live] / variance[live] / 2) ** 2))
    return shifted, widened


def join_pays(
    error: Tuple[float, float], ratio: float, ess_smaller: float, ess_joined: float
) -> bool:
    """Whether spending the rest at the last epsilon (a population of ESS ``ess_joined``) comes
    closer than a generation at ``ratio`` times it (ESS ``ess_smaller``), given the last
    population's :func:`tolerance_error`.

    The shift shrinks with epsilon and the widening with its square, so the smaller epsilon
    takes ``shift * (1 - ratio**2) + spread * (1 - ratio**4)`` off the squared error and adds
    :data:`ERROR_PER_ESS` times ``1 / ess_smaller - 1 / ess_joined`` to it.
    """
    shift, spread = error
    gain = shift * (1 - ratio**2) + spread * (1 - ratio**4)
    return gain < ERROR_PER_ESS * (1 / max(ess_smaller, 1e-12) - 1 / ess_joined)
