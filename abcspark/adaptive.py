"""An adaptive distance: scales refitted after every generation of a population algorithm."""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np
import pandas as pd

from abcspark.distances import Euclidean, ScaledEuclidean, spread
from abcspark.rows import statistics


class AdaptiveEuclidean(ScaledEuclidean):
    """A scaled Euclidean distance refitted after every generation of a population algorithm.

    After generation ``t``, each statistic's scale is refitted (MAD times 1.4826, or the sd
    where the MAD is 0) on the statistics of the first ``n_sample`` simulations of that
    generation, accepted or not, and the population's distances are recomputed before the
    next epsilon is chosen (Prangle 2017; pyABC's ``AdaptivePNormDistance``). Generation 0,
    at epsilon inf, runs unscaled, so no pilot run is spent. The sample comes from the first
    batches of the generation, in batch order, so it is the same on every engine; only those
    batches send more than their accepted particles to the driver. A statistic constant in
    the sample keeps its last scale. Not yet with checkpoints.

    Parameters
    ----------
    scale : array_like, shape (k,), optional
        Starting scales; None (the default) means unscaled until the first refit.
    n_sample : int, default 1000
        Simulations per generation the scales are refitted on, >= 2.

    Examples
    --------
    >>> import numpy as np
    >>> d = AdaptiveEuclidean().fit(np.array([[0.0, 0.0], [1.0, 100.0], [2.0, 200.0]]))
    >>> np.round(d.scale, 4).tolist()
    [1.4826, 148.26]
    """

    adaptive = True

    def __init__(self, scale: np.ndarray | None = None, n_sample: int = 1000) -> None:
        if (
            isinstance(n_sample, bool)
            or not isinstance(n_sample, (int, np.integer))
            or n_sample < 2
        ):
            raise ValueError(
                f"n_sample must be an int >= 2 (got {n_sample!r}); e.g. n_sample=1000."
            )
        super().__init__(scale, n_pilot=n_sample)
        self.needs_pilot = False

    def fit(self, sample_stats: np.ndarray) -> AdaptiveEuclidean:
        """The distance with scales fitted on ``sample_stats`` (finite rows used; >= 2 needed).

        Statistics that do not vary over the sample keep their current scale (1 if none).
        """
        stats = np.asarray(sample_stats, dtype=np.float64)
        stats = stats[np.isfinite(stats).all(axis=1)]
        if len(stats) < 2:
            return self
        scales = spread(stats)
        current = np.ones(len(scales)) if self.scale is None else self.scale
        return AdaptiveEuclidean(np.where(scales > 0, scales, current), n_sample=self.n_pilot)

    def _distance(self, stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
        if self.scale is None:
            return Euclidean()._distance(stats, observed)
        return super()._distance(stats, observed)

    def to_dict(self) -> dict:
        """``{"type": "AdaptiveEuclidean", "scale": [...] or None, "n_sample": 1000}``."""
        scale = None if self.scale is None else self.scale.tolist()
        return {"type": "AdaptiveEuclidean", "scale": scale, "n_sample": self.n_pilot}

    def __repr__(self) -> str:
        return f"AdaptiveEuclidean(scale={self.to_dict()['scale']}, n_sample={self.n_pilot})"


def refit(
    distance: AdaptiveEuclidean, sample: Any, population: pd.DataFrame, observed: np.ndarray
) -> Tuple[AdaptiveEuclidean, pd.DataFrame]:
    """``distance`` refitted on a generation's ``sample.statistics_sample``, and ``population``
    with its distances recomputed by it (from the particles' statistics)."""
    found = sample.statistics_sample  # None if every simulation of the sample failed
    fitted = distance if found is None else distance.fit(found)
    return fitted, population.assign(distance=fitted(statistics(population), observed))
