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
DRAWS = 2
"""Stream of draws from a finished posterior (``Posterior.sample``)."""
PREDICTIVE = 3
"""Stream of the simulations of a posterior predictive check (``Posterior.predict``): batch
``b`` of them simulates with ``batch_rng(seed, 0, b, stream=PREDICTIVE)``."""
RESAMPLING = 4
"""Stream of SMC-ABC's driver-side resampling at step ``g``: ``batch_rng(seed, g, 0, stream=4)``."""
FOREST = 5
"""Stream of the random states of a random-forest model choice's forests."""


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
        ``SIMULATION`` for batches, ``PILOT`` for the driver's dry and pilot runs, ``DRAWS``
        and ``PREDICTIVE`` for draws and predictive simulations of a finished posterior.

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


def split_rng(rng: np.random.Generator, parts: int) -> list:
    """Split ``rng`` into ``parts`` independent generators, the same wherever ``rng`` is the same.

    Draws one 256-bit key from ``rng`` and keys part ``p`` by ``SeedSequence(key,
    spawn_key=(p,))``. Every caller whose ``rng`` has the same state gets the same parts and
    leaves ``rng`` in the same state, whichever part it then uses. So the ranks of a nested
    simulator (one process each, all given the same batch generator) can each draw their own
    share with ``split_rng(rng, comm.size)[comm.rank]``, and a vectorized twin that draws every
    part in one process, ``split_rng(rng, size)``, sees exactly the same numbers. Threads that
    split work the same way get results that do not depend on how many threads run.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator to split (advanced by one draw of four 64-bit words).
    parts : int
        Number of generators to return.

    Returns
    -------
    list of numpy.random.Generator
        ``parts`` PCG64 generators.

    Examples
    --------
    >>> a = split_rng(batch_rng(7, 0, 1), 2)[1].standard_normal(3)
    >>> b = split_rng(batch_rng(7, 0, 1), 5)[1].standard_normal(3)
    >>> bool((a == b).all())
    True
    """
    key = rng.integers(0, 2**64, size=4, dtype=np.uint64).tolist()
    return [
        np.random.Generator(np.random.PCG64(np.random.SeedSequence(key, spawn_key=(part,))))
        for part in range(parts)
    ]


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
