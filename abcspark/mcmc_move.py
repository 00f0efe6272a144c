"""SMC-ABC's work on the executors: one MCMC move of a population, in fixed blocks of particles.

A :class:`MoveTask` is what one step of :class:`~abcspark.algorithms.smc.SMCABC` ships to the
engine (in place of a :class:`~abcspark.batch.BatchTask`, with the same ``columns``/``run``
interface and row format), so the whole move is one engine job: one ``mapInPandas`` on Spark.
Batch ``b`` is the block of particles ``b * batch_size`` to ``(b + 1) * batch_size - 1``;
everything random in it comes from ``batch_rng(seed, generation, b)``, never from a partition,
so the move is the same bits on every engine and parallelism.

In a block, each live particle (weight > 0) proposes ``theta'`` from the fitted random walk
(:meth:`~abcspark.kernels.GaussianMixture.perturb`) and draws one uniform; then its
``n_datasets`` simulations at ``theta'`` run as batch ``b`` of the problem's own ``BatchTask``
(:meth:`~abcspark.problem.Problem.task`) on the same generator, so proposals outside the
prior's support are never simulated, failures follow ``on_error``, and with ``store=uri``
every simulation of the block is written to ``<uri>/generation=<step>/batch-<b>.parquet``
(:mod:`abcspark.simulation_store`), ``index`` ``i * n_datasets + k`` for dataset ``k`` of the
block's particle ``i`` (particle ``b * batch_size + i`` of the population).
The move is accepted with probability ``min(1, #{k: d'_k <= eps} / #{k: d_k <= eps} *
prior(theta') / prior(theta))``. Only accepted moves come back (the first step's prior draws
all do), with their distances: ``distance`` is the smallest of the ``n_datasets``, whose
statistics are kept; with ``n_datasets > 1`` all of them are in ``_distance_0`` ... .
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np
import pandas as pd

from abcspark.batch import BatchTask
from abcspark.kernels import Kernel, LocalKernel, OLCMKernel, as_kernel
from abcspark.rows import COUNTS, TALLY, particle_columns, statistic_names


def distance_columns(n_datasets: int) -> list:
    """The population's columns of every dataset's distance (none with one dataset)."""
    return [f"_distance_{k}" for k in range(n_datasets)] if n_datasets > 1 else []


def distance_matrix(population: pd.DataFrame, n_datasets: int) -> np.ndarray:
    """Each particle's distances, ``(n, n_datasets)``; NaN for a failed simulation."""
    columns = distance_columns(n_datasets) or ["distance"]
    return population[columns].to_numpy()


def as_random_walk(kernel: Any) -> Kernel:
    """``kernel`` as a :class:`~abcspark.Kernel`, refused if it fits one covariance per
    particle (the acceptance ratio assumes a symmetric walk)."""
    found = as_kernel(kernel)
    if isinstance(found, (OLCMKernel, LocalKernel)):
        raise ValueError(
            f"kernel must be a symmetric random walk, one covariance for all particles (got "
            f"{kernel!r}); use kernel='gaussian' or a GaussianKernel."
        )
    return found


def merged(population: Optional[pd.DataFrame], rows: pd.DataFrame, batch_size: int) -> tuple:
    """The population with the accepted moves of ``rows``, their number, and the tally rows.

    ``population=None`` (step 0): the rows' particles, every one of them, in order, with equal
    weights.
    """
    tally = rows.loc[rows["index"] == TALLY, list(COUNTS)]
    moved = rows[rows["index"] >= 0].sort_values(["batch", "index"], kind="mergesort")
    at = moved["batch"].to_numpy() * batch_size + moved["index"].to_numpy()
    fields = moved.drop(columns=["batch", "index", *COUNTS]).reset_index(drop=True)
    if population is None:
        return fields.assign(weight=1.0 / len(fields)), len(fields), tally
    population = population.copy()
    for column in fields.columns:
        values = population[column].to_numpy().copy()
        values[at] = fields[column].to_numpy()
        population[column] = values
    return population, len(fields), tally


class BlockDraws:
    """The proposals of one block, drawn from the batch's generator before its simulations.

    ``walk=None``: prior draws (the first step); else the walk's moves of the particles at
    ``picks`` and one uniform each, for the acceptance test. The block's simulations are
    ``n_datasets`` rows per particle of the block, row ``i * n_datasets + k`` for dataset
    ``k`` of its particle ``i``; a particle that is not moved (``live`` False) has NaN rows,
    outside the support (:meth:`in_support`), so they are neither simulated nor stored.
    """

    def __init__(self, prior: Any, walk: Any, picks: np.ndarray, live: np.ndarray, n_datasets: int):
        self.prior, self.walk, self.picks, self.n_datasets = prior, walk, picks, n_datasets
        self.rows = np.repeat(live, n_datasets)
        self.theta: Optional[np.ndarray] = None
        self.uniforms: Optional[np.ndarray] = None

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, d)``: each live particle's proposal ``n_datasets`` times, NaN for the others."""
        if self.walk is None:
            self.theta = np.asarray(self.prior.sample(len(self.picks), rng), dtype=np.float64)
        else:
            self.theta = self.walk.perturb(self.picks, rng)
            self.uniforms = rng.random(len(self.picks))
        rows = np.full((n, self.theta.shape[1]), np.nan)
        rows[self.rows] = np.repeat(self.theta, self.n_datasets, axis=0)
        return rows

    def in_support(self, theta: np.ndarray) -> np.ndarray:
        """bool ``(n,)``: a live particle's proposal inside the prior's support."""
        inside = np.zeros(len(theta), dtype=bool)
        inside[self.rows] = self.prior.in_support(theta[self.rows])
        return inside


@dataclass(frozen=True)
class MoveTask:
    """One MCMC move of a population (or, with ``walk=None``, its draw from the prior).

    Parameters
    ----------
    simulation : BatchTask
        The problem's task of the step (:meth:`~abcspark.problem.Problem.task` with epsilon
        inf); its ``batch_size`` is the particles per block. Each block runs it as its batch,
        with the block's proposals, so the simulations fail, time out and are stored
        (``store=``) as a PMC batch's.
    names : list of str
        The row columns after ``distance``: the parameters, then ``_distance_k`` per dataset
        when ``n_datasets > 1``.
    prior : Prior
    n_particles : int
        Population size ``N``.
    n_datasets : int
        Simulations per particle, ``M``.
    epsilon : float
        The step's epsilon.
    walk : GaussianMixture, optional
        The random walk fitted to the live particles (one covariance, so it is symmetric).
    positions : ndarray, shape (N,), optional
        Each particle's row in ``walk.particles``; -1 for a particle of weight 0 (not moved).
    counts : ndarray, shape (N,), optional
        Each particle's datasets within ``epsilon``.
    """

    simulation: BatchTask
    names: list
    prior: Any
    n_particles: int
    n_datasets: int = 1
    epsilon: float = np.inf
    walk: Any = None
    positions: Optional[np.ndarray] = None
    counts: Optional[np.ndarray] = None

    # What the engines read of a task: the simulation's.
    batch_size = property(lambda self: self.simulation.batch_size)
    generation = property(lambda self: self.simulation.generation)
    simulate = property(lambda self: self.simulation.simulate)
    distance = property(lambda self: self.simulation.distance)
    observed = property(lambda self: self.simulation.observed)
    vectorized = property(lambda self: self.simulation.vectorized)
    keep_statistics = property(lambda self: self.simulation.keep_statistics)

    def run(self, batch: int) -> pd.DataFrame:
        """Move one block; return its accepted particles and one tally row."""
        return pd.DataFrame(self.columns(batch))

    def columns(self, batch: int, best: Optional[int] = None, bound: float = np.inf) -> dict:
        """Move block ``batch``; the columns of :meth:`run` (``best`` and ``bound`` unused).

        Returns
        -------
        dict of str to ndarray
            :func:`~abcspark.rows.particle_columns` of the accepted moves (``index`` is the
            particle's position in the block) and the block's tally of simulations.
        """
        start = batch * self.batch_size
        block = np.arange(start, min(self.n_particles, start + self.batch_size))
        live = np.ones(len(block), bool) if self.walk is None else self.positions[block] >= 0
        moved = np.flatnonzero(live)  # positions in the block of the particles moved
        picks = moved if self.walk is None else self.positions[block[moved]]
        draws = BlockDraws(self.prior, self.walk, picks, live, self.n_datasets)
        found = replace(
            self.simulation,
            batch_size=len(block) * self.n_datasets,
            proposal=draws,
            in_support=draws.in_support,
        ).columns(batch)
        distances, stats = self._per_dataset(found, len(block))
        distances = distances[moved]
        rows = np.flatnonzero(self._accept(block[moved], draws, distances))
        nearest = np.argmin(np.where(np.isnan(distances), np.inf, distances), axis=1)[rows]
        values = draws.theta[rows]
        if self.n_datasets > 1:
            values = np.hstack([values, distances[rows]])
        return particle_columns(
            self.names,
            batch,
            moved[rows],
            values,
            distances[rows, nearest],
            int(found["n_simulated"][-1]),
            int(found["n_failed"][-1]),
            stats[moved[rows] * self.n_datasets + nearest] if self.keep_statistics else None,
        )

    def _per_dataset(self, found: dict, n: int) -> tuple:
        """Distances ``(n, M)`` (NaN: failed, outside the support or not moved) and statistics
        ``(n M, k)`` of the block's ``n`` particles."""
        index = found["index"][:-1]  # the last row is the tally
        distances = np.full(n * self.n_datasets, np.nan)
        distances[index] = found["distance"][:-1]
        stats = None
        if self.keep_statistics:
            names = statistic_names(len(self.observed))
            stats = np.full((n * self.n_datasets, len(names)), np.nan)
            stats[index] = np.column_stack([found[c][:-1] for c in names])
        return distances.reshape(n, self.n_datasets), stats

    def _accept(self, who: np.ndarray, draws: BlockDraws, distances: np.ndarray) -> np.ndarray:
        """The Metropolis-Hastings test of each move: bool ``(n,)`` (all True for prior draws)."""
        if self.walk is None:
            return np.ones(len(who), dtype=bool)
        new = (distances <= self.epsilon).sum(axis=1)
        live = np.flatnonzero(new > 0)  # inside the support, and within epsilon at least once
        old = self.walk.particles[self.positions[who[live]]]
        log_ratio = (
            np.log(new[live])
            - np.log(self.counts[who[live]])
            + self.prior.log_pdf(draws.theta[live])
            - self.prior.log_pdf(old)
        )
        accepted = np.zeros(len(who), dtype=bool)
        accepted[live] = draws.uniforms[live] < np.exp(np.minimum(log_ratio, 0.0))
        return accepted
