"""The loop of a population algorithm: generations of weighted particles, a falling epsilon.

:class:`SequentialABC` owns resume from a checkpoint, one generation after another, each
checkpointed and told to the callbacks (the progress display first), until a stop rule holds,
and the posterior. An algorithm on it supplies three hooks: the next epsilon, the proposal,
and the weights of the accepted particles (:class:`~abcspark.PMCABC` is a page of them).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from abcspark.adaptive import refit
from abcspark.algorithms.base import Algorithm
from abcspark.algorithms.run import Run, open_checkpoint
from abcspark.budget import budget_message, kept_from, merged, within
from abcspark.callbacks import Callback, Callbacks
from abcspark.checkpoint import Checkpoint
from abcspark.history import GenerationRecord, forecast_rate
from abcspark.pooling import earlier_frame
from abcspark.posterior import Posterior
from abcspark.problem import Problem, auto_batch_size
from abcspark.progress import Progress
from abcspark.rng import check_seed
from abcspark.sampling import BudgetExhausted, Sample, sample_until
from abcspark.validation import optional_seconds, population_size, positive_int, real
from abcspark.weighted import ess

log = logging.getLogger("abcspark")

FORECAST_SHARE = 0.8  # a later generation's first round aims at this share of its forecast
UNTIL_BUDGET = 10**6  # the generations of a run that goes on until its budget is spent
DEFAULT_MAX_SIMULATIONS = 10**8  # the cap of a run given no budget


class SequentialABC(Algorithm):
    """A population algorithm: generations of weighted particles with a falling epsilon.

    Parameters
    ----------
    problem : Problem
    n_particles : int
        Accepted particles per generation.
    generations : int or None
        Most generations to run (including generation 0); None: until the budget is spent.
    min_epsilon : float
        Stop after the generation that reaches it.
    max_simulations : int or None
        The budget in simulator calls (proposals outside the support are free), never exceeded
        by more than one batch; the plan sizes the last generation to it. One it cuts short runs
        on to its end, and is kept if big enough (``kept_from``). None: a cap of 1e8.
    min_acceptance_rate : float
        Stop after a generation whose acceptance rate falls below it.
    min_epsilon_difference : float
        Stop when epsilon falls by less than this from one generation to the next (not with
        an adaptive distance, whose epsilons change units).
    max_walltime : float, optional
        Seconds; no generation starts after the run has taken this long.
    progress : bool, optional
        Progress display per generation; default on in Jupyter and in a terminal.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        n_particles: int,
        generations: Optional[int],
        min_epsilon: float,
        max_simulations: Optional[int],
        min_acceptance_rate: float,
        min_epsilon_difference: float = 0.0,
        max_walltime: Optional[float] = None,
        progress: Optional[bool],
    ):
        super().__init__(problem)
        self.n_particles = population_size(n_particles)
        self.until_budget = generations is None
        wanted = UNTIL_BUDGET if generations is None else generations
        self.generations = positive_int("generations", wanted, "5")
        self.min_epsilon = real("min_epsilon", min_epsilon, 0, example="0.1")
        cap = DEFAULT_MAX_SIMULATIONS if max_simulations is None else max_simulations
        self.max_simulations = positive_int("max_simulations", cap, "10**6")
        self.min_acceptance_rate = real("min_acceptance_rate", min_acceptance_rate, 0, 1)
        self.min_epsilon_difference = real(
            "min_epsilon_difference", min_epsilon_difference, 0, example="0.01"
        )
        self.max_walltime = optional_seconds("max_walltime", max_walltime)
        self.progress = progress
        if self.problem.batch_size is None:  # the default cap is no budget to spend
            self.problem.batch_size = auto_batch_size(self.n_particles, cap, max_simulations)

    def settings(self) -> dict:
        return {
            **self.problem.settings(),
            "n_particles": self.n_particles,
            "generations": self.generations,
            "min_epsilon": self.min_epsilon,
            "max_simulations": self.max_simulations,
            "min_acceptance_rate": self.min_acceptance_rate,
            "min_epsilon_difference": self.min_epsilon_difference,
        }

    # The hooks an algorithm supplies.

    def _plan(self, g: int, run: Run) -> Optional[Tuple[float, int]]:
        """(epsilon, particles) of generation ``g``; None when the budget left cannot buy it."""
        raise NotImplementedError

    def _proposal(self, g: int, population: Optional[pd.DataFrame], epsilon: float) -> Any:
        """What generation ``g`` samples from: ``sample(n, rng) -> (n, d)``."""
        raise NotImplementedError

    def _weights(self, g: int, theta: np.ndarray, proposal: Any) -> np.ndarray:
        """Normalised weights of the accepted ``theta (n, d)``."""
        raise NotImplementedError

    def run(
        self,
        observed: Any,
        *,
        seed: Optional[int] = None,
        checkpoint: Optional[str] = None,
        callbacks: Optional[Sequence[Callback]] = None,
    ) -> Posterior:
        """Run on ``observed``; resume from ``checkpoint`` if it holds earlier generations.

        Parameters
        ----------
        observed : array-like, shape (k,)
            Observed summary statistics (any object with ``vectorized=False``).
        seed : int, optional
            Keys all randomness; required with ``checkpoint``.
        checkpoint : str, optional
            Folder or URI where each finished generation is saved atomically; a rerun of the
            same call resumes after the last whole generation and ends with the same posterior.
        callbacks : list of Callback, optional
            Told of the run's start, each generation and its end (:class:`~abcspark.Callback`),
            after the progress display; e.g. ``[abcspark.MLflowLogger()]``.

        Returns
        -------
        Posterior
            The last generation, with ``history`` and ``metadata``.
        """
        if checkpoint is not None and seed is None:
            raise ValueError(
                "seed must be given with checkpoint (got seed=None); a resumed run must use the "
                "same seed, e.g. run(observed, seed=1, checkpoint=path)."
            )
        seed = check_seed(seed)
        watchers = Callbacks(callbacks)
        budget = self.max_simulations if self.until_budget else None
        watchers.callbacks.insert(0, Progress(self.generations, self.progress, self.name, budget))
        watchers.on_run_start(self, seed)
        try:
            posterior = self._run(observed, seed, checkpoint, watchers)
        except BaseException:
            watchers.on_run_end(None)
            raise
        watchers.on_run_end(posterior)
        return posterior

    def _run(self, observed: Any, seed: int, path: Optional[str], watchers: Callbacks) -> Posterior:
        started = time.perf_counter()
        observed, distance = self.problem.prepare(observed, seed)
        run = Run(observed, distance, self.problem.engine(), seed, started)
        run.checkpoint = store = open_checkpoint(path, self, run)
        try:
            stop = self._generations(run, store, watchers)
        finally:
            if store is not None:
                store.close()  # the folder's lock, also when a generation raised
        return self._posterior(
            run.population,
            run.population["weight"].to_numpy(),
            run.records,
            run.engine,
            run.observed,
            seed=seed,
            stop_reason="max_simulations" if stop in ("dropped", "unaffordable") else stop,
            n_simulations_dropped=run.n_dropped,
            wall_seconds=time.perf_counter() - started,
            earlier=earlier_frame(run.earlier, self.problem.prior.names),
        )

    def _generations(self, run: Run, store: Optional[Checkpoint], watchers: Callbacks) -> str:
        """Resume, then run generations until a stop rule holds; return its name."""
        keep = self.pools_generations and self.problem.keep_statistics and not self.problem.adaptive
        if store is not None:
            run.population, run.records, run.earlier = store.resume(keep)
        stop = self._stop_reason(run) if run.records else None
        for record in run.records:
            watchers.on_generation(record)
        while stop is None:
            before, stop = run.population, self._generation(len(run.records), run)
            if stop not in ("dropped", "unaffordable"):
                run.earlier += [before] if keep and before is not None else []
                if store is not None:
                    store.save(run.records[-1].generation, run.population, run.records[-1])
                watchers.on_generation(run.records[-1])
                stop = stop or self._stop_reason(run)
        return stop

    def _generation(self, g: int, run: Run) -> Optional[str]:
        """Sample generation ``g`` into ``run``; a stop reason if the budget ended it.

        Returns None, ``'max_simulations'`` (the budget ended it; kept), ``'dropped'`` (too
        early to keep) or ``'unaffordable'`` (it did not start).
        """
        started = time.perf_counter()
        plan = self._plan(g, run)
        if plan is None:
            left = self.max_simulations - run.n_used
            log.warning("stopping before generation %d: %d simulations left cannot buy it", g, left)
            return "unaffordable"
        epsilon, n_particles = plan  # another size than n_particles: the last, sized to the budget
        proposal = self._proposal(g, run.population, epsilon)
        sample = self._sample(g, proposal, epsilon, n_particles, run)
        ends = n_particles != self.n_particles or sample.stop != "complete"  # budget's last
        population = self._population(g, sample, proposal, epsilon, ends, run)
        if sample.stop != "complete":
            if g == 0:
                raise BudgetExhausted(
                    budget_message(sample, self.n_particles, self.max_simulations)
                )
            least, weak = kept_from(run.records[-1], self.n_particles)
            if len(population) < least or ess(population["weight"].to_numpy()) < weak:
                message = budget_message(sample, n_particles, self.max_simulations)
                kept = f"kept from {least:.3g} particles and an ESS of {weak:.3g}"
                log.warning("dropping generation %d (a cut one is %s): %s", g, kept, message)
                run.n_dropped += sample.n_simulations + sample.n_discarded
                return "dropped"
        run.population, run.proposal = population, proposal
        if self.problem.adaptive:  # refit, and the distances it gives
            run.distance, run.population = refit(run.distance, sample, run.population, run.observed)
            self.problem.fitted_distance = run.distance.to_dict()
        weights, seconds = run.population["weight"].to_numpy(), time.perf_counter() - started
        reused = len(run.population) - len(sample.particles)
        run.records.append(GenerationRecord.of(g, epsilon, sample, weights, seconds, reused))
        log.info("%s %s", self.name, run.records[-1].describe())
        return None if sample.stop == "complete" else "max_simulations"

    def _population(
        self, g: int, sample: Sample, proposal: Any, epsilon: float, ends: bool, run: Run
    ) -> pd.DataFrame:
        """Generation ``g``'s weighted particles; the budget's last also the last ones within."""
        theta = sample.particles[self.problem.prior.names].to_numpy()
        weights = self._weights(g, theta, proposal) if len(theta) else None
        population = sample.particles.drop(columns=["batch", "index"]).assign(weight=weights)
        if g > 0 and ends and not self.problem.adaptive:
            population = merged(within(run.population, epsilon), population)
        return population

    def _sample(
        self, g: int, proposal: Any, epsilon: float, n_particles: int, run: Run, kept: int = 0
    ) -> Sample:
        """Generation ``g``'s ``n_particles``, of which ``kept`` come from the last (recycled)."""
        rate = forecast_rate(run.records, run.population, epsilon)
        # Hopeless only below the particles that keep it; one sized to the budget runs to its end.
        normal = g > 0 and n_particles == self.n_particles
        least = kept_from(run.records[-1], self.n_particles)[0] if normal else 0
        task = self.problem.task(run.seed, g, proposal, epsilon, run.observed, run.distance)
        return sample_until(
            run.engine,
            task,
            n_particles - kept,
            self.max_simulations - run.n_used,
            rate,
            f"abcspark {self.name} generation {g}",
            first_round=1.0 if g == 0 else FORECAST_SHARE,
            max_failed_share=self.problem.max_failed_share,
            give_up_below=max(math.ceil(least) - kept, 0),
        )

    def _stop_reason(self, run: Run) -> Optional[str]:
        records, last = run.records, run.records[-1]
        if len(records) >= self.generations:
            return "generations"
        if last.epsilon <= self.min_epsilon:
            return "min_epsilon"
        if run.n_used >= self.max_simulations:
            return "max_simulations"
        if last.acceptance_rate < self.min_acceptance_rate:
            return "min_acceptance_rate"
        if (
            len(records) > 1
            and not self.problem.adaptive  # its epsilons change units each generation
            and records[-2].epsilon - last.epsilon < self.min_epsilon_difference
        ):
            return "min_epsilon_difference"
        if self.max_walltime is not None and time.perf_counter() - run.started > self.max_walltime:
            return "max_walltime"
        return None
