"""The generations of a PMC or APMC run as one sample, for regression adjustment.

Each generation is an importance sample of the ABC posterior at its epsilon, and regression
adjustment (:mod:`abcspark.adjustment`) maps a sample at any epsilon towards the exact
posterior. So :meth:`~abcspark.Posterior.adjust` fits its slopes on, and moves, the last
population and the generations before it whose epsilon is within :data:`WITHIN` times the
last one's, when the run kept them (``keep_statistics``): more particles and a wider spread of
statistics than the last population alone. Generations far wider lie where no line fits a
curved posterior (README, "Accuracy", where the factor was chosen and measured).
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from abcspark.rows import statistics_in
from abcspark.weighted import ess

GENERATION = "_generation"
"""The column of :func:`earlier_frame` naming each particle's generation."""

WITHIN = 2.0
"""The generations pooled are those whose epsilon is within this factor of the last one's."""


def earlier_frame(populations: Sequence[pd.DataFrame], names: List[str]) -> Optional[pd.DataFrame]:
    """The populations before the last as one frame: parameters ``names``, ``weight``,
    ``distance``, the statistics and :data:`GENERATION` (0, 1, ...); None if there are none.
    """
    if not populations:
        return None
    frames = []
    for g, population in enumerate(populations):
        stats = statistics_in(population)
        frame = population[[*names, "weight", "distance", *stats]].reset_index(drop=True)
        frames.append(frame.assign(**{GENERATION: g}))
    return pd.concat(frames, ignore_index=True)


def pooled(earlier: pd.DataFrame, last: pd.DataFrame, epsilons: np.ndarray) -> pd.DataFrame:
    """``earlier``'s generations within :data:`WITHIN` times the last epsilon and the ``last``
    population as one weighted sample; ``epsilons`` holds every generation's, the last's last.

    Both are frames of parameters, ``weight``, ``distance`` and statistics, ``last`` without
    :data:`GENERATION` (the result has it for every row). Each generation's weights,
    normalised, are scaled by its share of the generations' summed ESS: any fixed shares give
    a consistent sample once adjusted, and these are close to the shares of least variance
    (as :func:`abcspark.budget.merged`).
    """
    columns = list(last.columns)
    near = [g for g, epsilon in enumerate(epsilons[:-1]) if epsilon <= WITHIN * epsilons[-1]]
    groups = [earlier[earlier[GENERATION] == g] for g in near] + [last]
    weights = [frame["weight"].to_numpy() / frame["weight"].sum() for frame in groups]
    shares = np.array([ess(w) for w in weights])
    shares /= shares.sum()
    frames = [
        frame[columns].assign(weight=w * share, **{GENERATION: g})
        for frame, w, share, g in zip(groups, weights, shares, [*near, len(epsilons) - 1])
    ]
    return pd.concat(frames, ignore_index=True)
