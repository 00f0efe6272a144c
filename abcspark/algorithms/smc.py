"""Adaptive SMC-ABC (Del Moral, Doucet and Jasra 2012) on the sequential loop.

Each step lowers epsilon so that the ESS falls by ``alpha``, reweights, resamples when the
ESS is low, then moves every live particle by one Metropolis-Hastings step: one engine job
(:mod:`abcspark.mcmc_move`). The loop (:class:`~.sequential.SequentialABC`) keeps resume,
checkpoints, callbacks and stop rules; a step is one of its generations.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Any, Callable, Optional, Tuple

import numpy as np
import pandas as pd

from abcspark.algorithms.run import Run
from abcspark.algorithms.sequential import SequentialABC
from abcspark.batch import SimulationError
from abcspark.history import GenerationRecord
from abcspark.mcmc_move import (
    MoveTask,
    as_random_walk,
    distance_columns,
    distance_matrix,
    merged,
)
from abcspark.priors import Prior
from abcspark.problem import Problem
from abcspark.rng import RESAMPLING, batch_rng
from abcspark.rows import COUNTS
from abcspark.smc_weights import RESAMPLING_SCHEMES, epsilon_for_ess, resample, reweight
from abcspark.validation import positive_int, real
from abcspark.weighted import ess

log = logging.getLogger("abcspark")


class SMCABC(SequentialABC):
    """Adaptive sequential Monte Carlo ABC (Del Moral, Doucet and Jasra 2012).

    Step 0 draws ``n_particles`` from the prior, each with ``n_datasets`` simulations ``M``.
    Each later step lowers epsilon to the distance at which the effective sample size of the
    reweighted particles, ``w_i * #{k: d_ik <= eps_n} / #{k: d_ik <= eps_(n-1)}``, falls to
    ``alpha`` times the last one (bisection over the distances); resamples when it is below
    ``resample_threshold * n_particles``; then moves every particle of nonzero weight by one
    Metropolis-Hastings step: ``theta'`` from a Gaussian random walk (twice the weighted
    covariance), ``M`` simulations at it (none outside the prior's support, where the move is
    rejected for free), accepted with probability ``min(1, #{k: d'_k <= eps_n} / #{k: d_ik <=
    eps_n} * prior(theta') / prior(theta_i))``. All the particles' moves are one engine job.

    The posterior holds the last step's particles of nonzero weight. A step is a generation
    of ``posterior.history``: ``ess`` is the ESS at its epsilon before resampling,
    ``acceptance_rate`` accepted moves per move proposed (1 for step 0), ``n_proposals`` the
    moves proposed.

    Parameters
    ----------
    prior, simulate, distance, vectorized, on_error, batch_timeout
        As for :class:`~abcspark.RejectionABC`; the prior's parameters must be continuous.
    engine, parallelism, spark, keep_statistics
        As for :class:`~abcspark.RejectionABC`; the statistics kept are those of each
        particle's nearest dataset (its ``distance``).
    store : str, optional
        As for :class:`~abcspark.RejectionABC`: every simulation of every step, in
        ``<store>/generation=<step>/batch-<block>.parquet``, ``index`` ``i * n_datasets + k``
        for dataset ``k`` of the block's particle ``i`` (:mod:`abcspark.mcmc_move`).
    batch_size : int, optional
        Particles per block of the move (each costs ``n_datasets`` simulations); by default a
        tenth of ``n_particles``, between 10 and 1,000, and at least a 100,000th of a given
        ``max_simulations``.
    n_particles : int, default 1000
    n_datasets : int, default 1
        Simulations per particle, ``M``.
    alpha : float, default 0.9
        Each step's ESS over the last one's, in (0, 1); 0.9 is the paper's, 0.5-0.95 usual.
    resample_threshold : float, default 0.5
        Resample when the ESS falls below this share of ``n_particles`` (the paper's N/2).
    resampling : {'systematic', 'multinomial'}, default 'systematic'
    kernel : 'gaussian' or Kernel, default 'gaussian'
        The random walk: :class:`~abcspark.GaussianKernel` (twice the weighted covariance), or
        any kernel that fits one covariance for all particles (a symmetric walk).
    generations : int, default 100
        Most steps, step 0 included.
    min_epsilon : float, default 0
        Stop after the step that reaches it (epsilon never goes below it).
    max_simulations : int, optional
        Simulator calls; a step whose move could exceed what is left does not start. Without
        it, a cap of 1e8.
    min_acceptance_rate : float, default 0.015
        Stop after a move whose acceptance rate falls below it (the paper's rule).
    max_walltime : float, optional
        Seconds; no step starts after the run has taken this long.
    progress : bool, optional
        Progress display per step; default on in Jupyter and in a terminal.

    References
    ----------
    Del Moral, P., Doucet, A. and Jasra, A. (2012). An adaptive sequential Monte Carlo method
    for approximate Bayesian computation. Statistics and Computing 22(5), 1009-1020.

    Examples
    --------
    >>> from abcspark import Normal, Prior
    >>> def simulate(theta, rng):
    ...     return theta + rng.normal(0.0, 0.3, size=theta.shape)
    >>> smc = SMCABC(Prior(mu=Normal(0, 2)), simulate, n_particles=200, min_epsilon=0.2,
    ...              engine="numpy", progress=False)
    >>> post = smc.run([1.0], seed=1)
    >>> post.metadata["stop_reason"], float(post.epsilon)
    ('min_epsilon', 0.2)
    """

    name = "SMCABC"
    pools_generations = False  # see Algorithm.pools_generations

    def __init__(
        self,
        prior: Prior,
        simulate: Callable,
        distance: Any = "euclidean",
        *,
        n_particles: int = 1000,
        n_datasets: int = 1,
        alpha: float = 0.9,
        resample_threshold: float = 0.5,
        resampling: str = "systematic",
        kernel: Any = "gaussian",
        generations: int = 100,
        min_epsilon: float = 0.0,
        max_simulations: Optional[int] = None,
        min_acceptance_rate: float = 0.015,
        max_walltime: Optional[float] = None,
        progress: Optional[bool] = None,
        **problem: Any,
    ):
        super().__init__(
            Problem(prior, simulate, "euclidean" if distance is None else distance, **problem),
            n_particles=n_particles,
            generations=generations,
            min_epsilon=min_epsilon,
            max_simulations=max_simulations,
            min_acceptance_rate=min_acceptance_rate,
            max_walltime=max_walltime,
            progress=progress,
        )
        self.n_datasets = positive_int("n_datasets", n_datasets, "1")
        self.alpha = real("alpha", alpha, 0, 1, open_low=True, open_high=True, example="0.9")
        self.resample_threshold = real(
            "resample_threshold", resample_threshold, 0, 1, example="0.5"
        )
        if resampling not in RESAMPLING_SCHEMES:
            raise ValueError(
                f"resampling must be one of {RESAMPLING_SCHEMES} (got {resampling!r}); e.g. "
                "resampling='systematic'."
            )
        self.resampling = resampling
        self.kernel = as_random_walk(kernel)
        self._check_problem()

    def _check_problem(self) -> None:
        problem, first = self.problem, self.n_particles * self.n_datasets
        if problem.prior.discrete_names:
            raise ValueError(
                f"the prior's parameters must be continuous for SMCABC's Gaussian moves (got "
                f"discrete {problem.prior.discrete_names}); use PMCABC, whose discrete_kernel "
                "moves them."
            )
        if problem.adaptive:
            raise ValueError(
                "distance must keep its scales from step to step in SMCABC (got an adaptive "
                "distance); the weights compare distances of two steps: use ScaledEuclidean."
            )
        if self.max_simulations < first:
            raise ValueError(
                f"max_simulations must be at least n_particles * n_datasets = {first} (got "
                f"{self.max_simulations}); step 0 simulates every particle: raise it."
            )

    def _posterior(
        self, particles: pd.DataFrame, weights: np.ndarray, *args: Any, **kw: Any
    ) -> Any:
        live = weights > 0  # dead particles are never moved nor weighted again
        chosen = particles[live].reset_index(drop=True)
        return super()._posterior(chosen, weights[live], *args, **kw)

    def settings(self) -> dict:
        return {
            **super().settings(),
            "n_datasets": self.n_datasets,
            "alpha": self.alpha,
            "resample_threshold": self.resample_threshold,
            "resampling": self.resampling,
            "kernel": self.kernel.to_dict(),
        }

    def _generation(self, g: int, run: Run) -> Optional[str]:
        """Step ``g``: reweight at the next epsilon, resample if need be, move; or stop."""
        started = time.perf_counter()
        population, epsilon, step_ess = None, np.inf, float(self.n_particles)
        n_moves = self.n_particles
        if g > 0:
            population, epsilon, step_ess = self._reweighted(g, run)
            n_moves = int(np.count_nonzero(population["weight"].to_numpy() > 0))
            left = self.max_simulations - run.n_used
            if n_moves * self.n_datasets > left:
                log.warning("stopping before step %d: %d simulations left cannot buy it", g, left)
                return "unaffordable"
        rows = self._move(g, run, self._task(g, run, population, epsilon))
        run.population, n_accepted, tally = merged(population, rows, self.problem.batch_size)
        n_simulations, n_failed = (int(tally[c].sum()) for c in COUNTS)
        if n_failed > self.problem.max_failed_share * n_simulations:
            raise SimulationError(
                f"the share of failed simulations must stay within max_failed_share="
                f"{self.problem.max_failed_share} (got {n_failed} of {n_simulations} in step "
                f"{g}); fix the simulator, or raise max_failed_share."
            )
        run.records.append(
            GenerationRecord(
                generation=g,
                epsilon=float(epsilon),
                n_proposals=n_moves,
                n_simulations=n_simulations,
                acceptance_rate=n_accepted / max(n_moves, 1) if g else 1.0,
                ess=step_ess,
                n_failed=n_failed,
                n_discarded=0,
                seconds=time.perf_counter() - started,
            )
        )
        log.info("%s %s", self.name, run.records[-1].describe())
        return None

    def _reweighted(self, g: int, run: Run) -> Tuple[pd.DataFrame, float, float]:
        """Step ``g``'s population (resampled if its ESS is low), epsilon and ESS at it."""
        population = run.population
        distances = distance_matrix(population, self.n_datasets)
        weights = population["weight"].to_numpy()
        previous = run.records[-1].epsilon
        epsilon = epsilon_for_ess(distances, weights, previous, self.alpha * ess(weights))
        epsilon = max(epsilon, self.min_epsilon)
        weights = reweight(distances, weights, epsilon, previous)
        step_ess = ess(weights)
        population = population.assign(weight=weights)
        if step_ess < self.resample_threshold * self.n_particles:
            rng = batch_rng(run.seed, g, 0, stream=RESAMPLING)
            picks = resample(weights, rng, self.resampling)
            population = population.iloc[picks].reset_index(drop=True)
            population = population.assign(weight=1.0 / self.n_particles)
        return population, epsilon, step_ess

    def _task(
        self, g: int, run: Run, population: Optional[pd.DataFrame], epsilon: float
    ) -> MoveTask:
        """Step ``g``'s move (step 0: the draw from the prior) as one task of blocks."""
        problem, names = self.problem, list(self.problem.prior.names)
        task = MoveTask(
            simulation=problem.task(run.seed, g, problem.prior, np.inf, run.observed, run.distance),
            names=names + distance_columns(self.n_datasets),
            prior=problem.prior,
            n_particles=self.n_particles,
            n_datasets=self.n_datasets,
        )
        if population is None:
            return task
        weights = population["weight"].to_numpy()
        live = weights > 0
        walk = self.kernel.fit(
            population[names].to_numpy()[live],
            weights[live] / weights[live].sum(),
            population["distance"].to_numpy()[live],
            epsilon,
        )
        if walk.chol.ndim != 2:
            raise ValueError(
                f"kernel must fit one covariance for all particles, a symmetric random walk "
                f"(got {self.kernel!r}, one per particle); use kernel='gaussian'."
            )
        return replace(
            task,
            epsilon=epsilon,
            walk=walk,
            positions=np.where(live, np.cumsum(live) - 1, -1),
            counts=(distance_matrix(population, self.n_datasets) <= epsilon).sum(axis=1),
        )

    def _move(self, g: int, run: Run, task: MoveTask) -> pd.DataFrame:
        """Run the task's blocks as one engine job; its rows."""
        shared = run.engine.share(task)
        blocks = range(math.ceil(self.n_particles / task.batch_size))
        what = "draw from the prior" if g == 0 else "move"
        try:
            return run.engine.run(shared, blocks, None, f"abcspark {self.name} step {g} {what}")
        finally:
            run.engine.release(shared)
