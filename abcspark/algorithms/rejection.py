"""Rejection ABC as a Spark pipeline: one generation of prior draws, three ways to stop."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from abcspark.algorithms.base import Algorithm
from abcspark.batch import BatchTask
from abcspark.budget import budget_message
from abcspark.callbacks import Callback, Callbacks
from abcspark.history import GenerationRecord
from abcspark.posterior import Posterior
from abcspark.priors import Prior
from abcspark.problem import Problem, auto_batch_size, batch_floor
from abcspark.rng import check_seed
from abcspark.sampling import BudgetExhausted, Sample, sample_best, sample_until
from abcspark.validation import positive_int, rejection_mode

log = logging.getLogger("abcspark")


class RejectionABC(Algorithm):
    """Rejection ABC: keep the prior draws whose simulations land close to the data.

    Three ways to stop: ``epsilon`` with ``n_samples`` (simulate until that many are
    accepted), ``quantile`` with ``n_simulations`` (keep the closest fraction of a fixed number
    of simulations, a distributed top-k), or ``epsilon`` with ``n_simulations`` (a fixed
    budget; keep whatever is accepted).

    Parameters
    ----------
    prior : Prior
        The prior; its names become the posterior's columns.
    simulate : callable
        ``simulate(theta, rng)`` with ``theta : ndarray, shape (n, d)`` and a
        ``numpy.random.Generator``, returning summary statistics ``ndarray, shape (n, k)``.
        With ``vectorized=False``: ``simulate(theta, rng)`` with ``theta`` of shape ``(d,)``,
        returning any object the distance understands (the RDD path).
    distance : Distance or callable, optional
        ``(stats (n, k), observed (k,)) -> (n,)``; default :class:`Euclidean`. With
        ``vectorized=False``: ``(simulated object, observed) -> float``.
    vectorized : bool, default True
        Whether ``simulate`` takes a batch of parameter rows.
    batch_size : int, optional
        Proposals per batch, the unit of randomness and of work. By default it follows from
        the work: a tenth of ``n_samples`` (10 to 1,000, at most a twentieth of
        ``max_simulations``), or a tenth of ``n_simulations`` (at most 1,000).
    on_error : {'raise', 'skip'}, default 'raise'
        A simulation that raises or returns NaN/inf fails the run with the generation, batch
        and parameters (``'raise'``), or is dropped and counted (``'skip'``).
    batch_timeout : float, optional
        Seconds one batch may take before it fails with a clear error.
    engine : {'spark', 'numpy'} or engine object, default 'spark'
        Spark (given, active or embedded ``local[*]`` session), this process with NumPy, or an
        object with the interface of :class:`abcspark.engines.Engine` (e.g. an
        :class:`~abcspark.engines.MPIEngine`).
    parallelism : int, optional
        Partitions per Spark job; default the session's ``defaultParallelism``.
    spark : pyspark.sql.SparkSession, optional
        The session to use; default the active one, else an embedded ``local[*]``.
    keep_statistics : bool, default False
        Keep the accepted particles' simulated statistics (``posterior.statistics``), e.g. for
        regression adjustment; vectorized simulators only.
    max_failed_share : float, default 0.5
        With ``on_error='skip'``: a warning when half this share of a generation's
        simulations failed, and a :class:`~abcspark.SimulationError` when this share did.
    store : str, optional
        A folder or URI (``s3://``, ``hdfs://``) where every simulation is also kept, accepted
        or not, one Parquet file per batch written where it ran; read it with
        ``spark.read.parquet(store)`` (:mod:`abcspark.simulation_store`).

    References
    ----------
    Pritchard, J. K., Seielstad, M. T., Perez-Lezaun, A. and Feldman, M. W. (1999).
    Population growth of human Y chromosomes: a study of Y chromosome microsatellites.
    Molecular Biology and Evolution 16(12), 1791-1798.

    Examples
    --------
    >>> import numpy as np
    >>> from abcspark import Prior, Uniform
    >>> def simulate(theta, rng):
    ...     return theta + rng.normal(0.0, 1.0, size=theta.shape)
    >>> abc = RejectionABC(Prior(mu=Uniform(-10, 10)), simulate, engine="numpy")
    >>> post = abc.run([1.0], epsilon=0.5, n_samples=200, seed=1)
    >>> len(post.samples), bool(abs(post.mean()["mu"] - 1.0) < 0.5)
    (200, True)
    """

    name = "RejectionABC"

    def __init__(
        self, prior: Prior, simulate: Callable, distance: Any = "euclidean", **problem: Any
    ):
        super().__init__(
            Problem(prior, simulate, "euclidean" if distance is None else distance, **problem)
        )
        if self.problem.adaptive:
            raise ValueError(
                "distance must not be adaptive for RejectionABC (got AdaptiveEuclidean), as "
                "it has no generations to refit it between: use ScaledEuclidean()."
            )

    def run(
        self,
        observed: Any,
        *,
        epsilon: Optional[float] = None,
        n_samples: Optional[int] = None,
        n_simulations: Optional[int] = None,
        quantile: Optional[float] = None,
        max_simulations: int = 10**9,
        seed: Optional[int] = None,
        callbacks: Optional[Sequence[Callback]] = None,
    ) -> Posterior:
        """Sample the ABC posterior for ``observed``.

        Parameters
        ----------
        observed : array-like, shape (k,)
            Observed summary statistics (any object with ``vectorized=False``).
        epsilon : float, optional
            Acceptance threshold on the distance.
        n_samples : int, optional
            With ``epsilon``: simulate until this many particles are accepted.
        n_simulations : int, optional
            With ``quantile`` or ``epsilon``: how many simulations to run (rounded up to
            whole batches).
        quantile : float, optional
            With ``n_simulations``: keep this fraction of closest simulations.
        max_simulations : int, default 1e9
            Cap on simulator calls with ``epsilon`` and ``n_samples``; the run stops early,
            with :class:`~abcspark.BudgetExhausted`, once the acceptance rate seen makes the
            request impossible within it.
        seed : int, optional
            Keys all randomness; None draws one (recorded in ``posterior.metadata``).
        callbacks : list of Callback, optional
            Told of the run's start, its one generation and its end (:class:`~abcspark.Callback`).

        Returns
        -------
        Posterior
            Equally weighted accepted particles.

        Raises
        ------
        ValueError
            On a bad combination of arguments, bad ``observed``, a failing simulator, or
            (:class:`~abcspark.BudgetExhausted`) when ``max_simulations`` runs out.
        """
        mode, epsilon, n_samples, n_simulations, quantile = rejection_mode(
            epsilon, n_samples, n_simulations, quantile
        )
        seed = check_seed(seed)
        max_simulations = positive_int("max_simulations", max_simulations, "10**9")
        stopping = dict(
            epsilon=epsilon, n_samples=n_samples, n_simulations=n_simulations, quantile=quantile
        )
        watchers = Callbacks(callbacks)
        watchers.on_run_start(self, seed)
        try:
            posterior = self._run(observed, seed, mode, stopping, max_simulations, watchers)
        except BaseException:
            watchers.on_run_end(None)
            raise
        watchers.on_run_end(posterior)
        return posterior

    def _run(
        self,
        observed: Any,
        seed: int,
        mode: str,
        stopping: dict,
        max_simulations: int,
        watchers: Callbacks,
    ) -> Posterior:
        epsilon, n_samples = stopping["epsilon"], stopping["n_samples"]
        n_simulations, quantile = stopping["n_simulations"], stopping["quantile"]
        started = time.perf_counter()
        batch_size = self._batch_size(n_samples or n_simulations, n_simulations, max_simulations)
        observed, distance = self.problem.prepare(observed, seed)
        engine = self.problem.engine()
        threshold = np.inf if mode == "quantile" else float(epsilon)
        task = self.problem.task(
            seed, 0, self.problem.prior, threshold, observed, distance, batch_size
        )
        sample = self._sample(engine, task, max_simulations, n_samples, n_simulations, quantile)
        if sample.stop != "complete":
            raise BudgetExhausted(budget_message(sample, n_samples, max_simulations))
        if len(sample.particles) == 0:
            raise ValueError(
                f"epsilon={epsilon} accepted none of {sample.n_simulations:,} simulations; "
                "raise epsilon or n_simulations, or use quantile= instead."
            )
        seconds = time.perf_counter() - started
        record = _record(sample, threshold if mode != "quantile" else None, seconds)
        watchers.on_generation(record)
        return self._posterior(
            sample.particles,
            np.ones(len(sample.particles)),
            [record],
            engine,
            observed,
            settings={**self.settings(), **stopping, "batch_size": batch_size},
            seed=seed,
            mode=mode,
            wall_seconds=seconds,
        )

    def _sample(
        self,
        engine: Any,
        task: BatchTask,
        budget: int,
        n_samples: Optional[int],
        n_simulations: Optional[int],
        quantile: Optional[float],
    ) -> Sample:
        """Until ``n_samples`` are accepted, or a fixed number of simulations (top-k or not)."""
        if n_samples is not None:
            return sample_until(
                engine,
                task,
                n_samples,
                budget,
                description=self.name,
                max_failed_share=self.problem.max_failed_share,
            )
        n_batches = math.ceil(n_simulations / task.batch_size)
        best = math.ceil(quantile * n_batches * task.batch_size) if quantile else None
        shared = engine.share(task)
        try:
            return sample_best(engine, shared, n_batches, best, task.batch_size, self.name)
        finally:
            engine.release(shared)

    def _batch_size(self, n_target: int, n_simulations: Optional[int], budget: int) -> int:
        """The given batch size, or one that follows from the work (see auto_batch_size)."""
        if self.problem.batch_size is None:
            if n_simulations is not None:  # a fixed budget: only its granularity matters
                return max(1, min(1000, n_simulations // 10), batch_floor(n_simulations))
            return auto_batch_size(n_target, budget)
        if n_simulations is not None and n_simulations < self.problem.batch_size:
            raise ValueError(
                f"n_simulations must be at least one batch, batch_size={self.problem.batch_size} "
                f"(got {n_simulations}); raise n_simulations, or leave batch_size unset."
            )
        return self.problem.batch_size


def _record(sample: Sample, epsilon: Optional[float], seconds: float) -> GenerationRecord:
    """The history row of a rejection run; without ``epsilon``, the largest distance kept."""
    reached = float(sample.particles["distance"].max()) if epsilon is None else epsilon
    log.info(
        "RejectionABC: %d accepted of %d simulations (epsilon %.4g) in %.1f s",
        len(sample.particles),
        sample.n_simulations,
        reached,
        seconds,
    )
    return GenerationRecord(
        generation=0,
        epsilon=reached,
        n_proposals=sample.n_proposals,
        n_simulations=sample.n_simulations,
        acceptance_rate=sample.acceptance_rate,
        ess=float(len(sample.particles)),
        n_failed=sample.n_failed,
        n_discarded=sample.n_discarded,
        seconds=seconds,
        n_after_last=sample.n_after_last,
    )
