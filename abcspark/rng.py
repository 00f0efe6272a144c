"""The only place where abcspark creates randomness.

Every random number a run uses comes from a generator keyed by ``(seed, stream, generation,
batch)``. A batch is a fixed number of simulations, so the numbers a batch sees do not depend
on which partition, executor or task attempt runs it: the same seed gives the same posterior
on any parallelism, after task retries and after a resume.
"""

from __future__ import annotations

import numbers

import numpy as np

SIMULATION = 0
"""Stream of the batches that propose, simulate and score particles."""
PILOT = 1
"""Stream of the driver's dry run and prior-predictive pilot run."""


def batch_rng(
    seed: int, generation: int, batch: int, stream: int = SIMULATION
) -> np.random.Generator:
    """Return the generator of one batch.

    Parameters
    ----------
    seed : int
        The run's seed (non-negative).
    generation : int
        The generation (0 for rejection ABC and for PMC's first generation).
    batch : int
        The batch number within the generation.
    stream : int, optional
        ``SIMULATION`` for batches, ``PILOT`` for the driver's dry and pilot runs.

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator seeded by ``SeedSequence([seed, stream, generation, batch])``.

    Examples
    --------
    >>> a = batch_rng(7, 2, 5).standard_normal(3)
    >>> b = batch_rng(7, 2, 5).standard_normal(3)
    >>> bool((a == b).all())
    True
    """
    key = np.random.SeedSequence([seed, stream, generation, batch])
    return np.random.Generator(np.random.PCG64(key))


def check_seed(seed: object) -> int:
    """Return ``seed`` as an int, or raise when it cannot key the generators.

    ``None`` draws a fresh seed from the operating system; runs record the seed they used, so
    even such a run can be repeated.

    Raises
    ------
    TypeError
        If ``seed`` is not an integer.
    ValueError
        If ``seed`` is negative.
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be a non-negative int (got {seed!r} that is a {type(seed)}); "
            "pass e.g. seed=1."
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int (got {seed}); pass e.g. seed=1.")
    return int(seed)
