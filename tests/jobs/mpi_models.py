"""The height model written for two ranks per model instance, and its plain vectorized twin.

Rank ``r`` of ``size`` draws its share of each parameter row's heights (columns
``np.array_split(range(n_draws), size)[r]``) from ``split_rng(rng, size)[r]``; rank 0 gathers
the shares, joins them in rank order and returns the summaries, the other ranks return None.
The twin draws share ``p`` from ``split_rng(rng, parts)[p]`` for every ``p`` in one process, so
with ``parts == size`` both see the same numbers in the same places: same statistics, bit for
bit, hence the same posterior for the same seed.
"""

import numpy as np

from abcspark import nested
from abcspark.examples import summaries
from abcspark.rng import split_rng

N_DRAWS = 67


def _share(theta, rng, columns):
    return rng.normal(theta[:, :1], theta[:, 1:2], size=(len(theta), len(columns)))


@nested(process_per_model=2)
def ranked_heights(theta, rng, comm):
    """Each rank draws its share of the heights; rank 0 gathers and returns the summaries."""
    columns = np.array_split(np.arange(N_DRAWS), comm.size)[comm.rank]
    shares = comm.gather(_share(theta, split_rng(rng, comm.size)[comm.rank], columns), root=0)
    if comm.rank == 0:
        return summaries(np.concatenate(shares, axis=1))
    return None


def twin_heights(theta, rng, parts=2):
    """``ranked_heights`` in one process: every share, drawn from the same generators."""
    generators = split_rng(rng, parts)
    shares = [
        _share(theta, generators[p], columns)
        for p, columns in enumerate(np.array_split(np.arange(N_DRAWS), parts))
    ]
    return summaries(np.concatenate(shares, axis=1))
