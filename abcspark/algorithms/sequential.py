"""The loop of a population algorithm: generations of weighted particles, a falling epsilon.

:class:`SequentialABC` owns resume from a checkpoint, one generation after another, each
checkpointed and shown in the progress display, until a stop rule holds, and the posterior.
An algorithm on it supplies three hooks: the next epsilon, the proposal, and the weights of the
accepted particles (:class:`~abcspark.PMCABC` is a page of them).
"""

from __future__ import annotations

import logging
import time
from typing import Any, List, Optional, Tuple

import numpy as np
import pandas as pd

from abcspark.algorithms.base import Algorithm
from abcspark.checkpoint import Checkpoint
from abcspark.engines import Engine
from abcspark.history import GenerationRecord
from abcspark.posterior import Posterior
from abcspark.problem import Problem
from abcspark.progress import Progress
from abcspark.rng import check_seed
from abcspark.sampling import BudgetExhausted, Sample, sample_until
from abcspark.validation import positive_int, real
from abcspark.weighted import ess

log = logging.getLogger("abcspark")


class SequentialABC(Algorithm):
    """A population algorithm: generations of weighted particles with a falling epsilon.

    Parameters
    ----------
    problem : Problem
    n_particles : int
        Accepted particles per generation.
    generations : int
        Most generations to run (including generation 0).
    min_epsilon : float
        Stop after the generation that reaches it.
    max_simulations : int
        Stop when the run has used this many proposals; a generation cut short is dropped.
    min_acceptance_rate : float
        Stop after a generation whose acceptance rate falls below it.
    progress : bool, optional
        Progress display per generation; default on in Jupyter and in a terminal.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        n_particles: int,
        generations: int,
        min_epsilon: float,
        max_simulations: int,
        min_acceptance_rate: float,
        progress: Optional[bool],
    ):
        super().__init__(problem)
        self.n_particles = positive_int("n_particles", n_particles)
        self.generations = positive_int("generations", generations, "5")
        self.min_epsilon = real("min_epsilon", min_epsilon, 0, example="0.1")
        self.max_simulations = positive_int("max_simulations", max_simulations, "10**6")
        self.min_acceptance_rate = real("min_acceptance_rate", min_acceptance_rate, 0, 1)
        self.progress = progress

    def settings(self) -> dict:
        return {
            **self.problem.settings(),
            "n_particles": self.n_particles,
            "generations": self.generations,
            "min_epsilon": self.min_epsilon,
            "max_simulations": self.max_simulations,
            "min_acceptance_rate": self.min_acceptance_rate,
        }

    # The hooks an algorithm supplies.

    def _epsilon(self, g: int, population: Optional[pd.DataFrame]) -> float:
        """Epsilon of generation ``g`` given the last population (None before generation 0)."""
        raise NotImplementedError

    def _proposal(self, g: int, population: Optional[pd.DataFrame], epsilon: float) -> Any:
        """What generation ``g`` samples from: ``sample(n, rng) -> (n, d)``."""
        raise NotImplementedError

    def _weights(self, g: int, theta: np.ndarray, proposal: Any) -> np.ndarray:
        """Normalised weights of the accepted ``theta (n, d)``."""
        raise NotImplementedError

    def run(
        self, observed: Any, *, seed: Optional[int] = None, checkpoint: Optional[str] = None
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

        Returns
        -------
        Posterior
            The last complete generation, with ``history`` and ``metadata``.
        """
        if checkpoint is not None and seed is None:
            raise ValueError(
                "seed must be given with checkpoint (got seed=None); a resumed run must use the "
                "same seed, e.g. run(observed, seed=1, checkpoint=path)."
            )
        seed = check_seed(seed)
        started = time.perf_counter()
        observed, distance = self.problem.prepare(observed, seed)
        engine = self.problem.engine()
        store = self._checkpoint(checkpoint, seed, observed, engine)
        population, records = store.resume() if store else (None, [])
        stop = self._stop_reason(records) if records else None
        progress = Progress(self.generations, self.progress, self.name)
        for record in records:
            progress.update(record)
        while stop is None:
            g = len(records)
            try:
                population, record = self._generation(
                    g, population, records, observed, distance, engine, seed
                )
            except BudgetExhausted as exc:
                if g == 0:
                    raise
                log.warning("stopping before generation %d: %s", g, exc)
                stop = "max_simulations"
                break
            if store is not None:
                store.save(g, population, record)
            records.append(record)
            progress.update(record)
            stop = self._stop_reason(records)
        progress.close()
        return self._posterior(
            population,
            population["weight"].to_numpy(),
            records,
            engine,
            seed=seed,
            stop_reason=stop,
            wall_seconds=time.perf_counter() - started,
        )

    def _checkpoint(
        self, path: Optional[str], seed: int, observed: Any, engine: Engine
    ) -> Optional[Checkpoint]:
        if path is None:
            return None
        described = observed.tolist() if isinstance(observed, np.ndarray) else repr(observed)
        problem = {
            "algorithm": self.name,
            "seed": seed,
            "settings": self.settings(),
            "observed": described,
        }
        store = Checkpoint(path, problem, getattr(engine, "spark", None))
        store.open()
        return store

    def _generation(
        self,
        g: int,
        population: Optional[pd.DataFrame],
        records: List[GenerationRecord],
        observed: Any,
        distance: Any,
        engine: Engine,
        seed: int,
    ) -> Tuple[pd.DataFrame, GenerationRecord]:
        """Sample generation ``g``: its population (parameters, weight, distance) and record."""
        started = time.perf_counter()
        epsilon = self._epsilon(g, population)
        proposal = self._proposal(g, population, epsilon)
        sample = self._sample(
            g, proposal, epsilon, records, population, observed, distance, engine, seed
        )
        names = self.problem.prior.names
        weights = self._weights(g, sample.particles[names].to_numpy(), proposal)
        new = sample.particles.drop(columns=["batch", "index"]).assign(weight=weights)
        record = GenerationRecord(
            generation=g,
            epsilon=float(epsilon),
            n_proposals=(int(sample.particles["batch"].iloc[-1]) + 1) * self.problem.batch_size,
            n_simulations=sample.n_simulations,
            acceptance_rate=sample.acceptance_rate,
            ess=ess(weights),
            n_failed=sample.n_failed,
            seconds=time.perf_counter() - started,
        )
        log.info(
            "%s generation %d: epsilon %.4g, acceptance rate %.3g, %d simulations, ESS %.1f, "
            "%.1f s",
            self.name,
            g,
            epsilon,
            record.acceptance_rate,
            record.n_simulations,
            record.ess,
            record.seconds,
        )
        return new.reset_index(drop=True), record

    def _sample(
        self,
        g: int,
        proposal: Any,
        epsilon: float,
        records: List[GenerationRecord],
        population: Optional[pd.DataFrame],
        observed: Any,
        distance: Any,
        engine: Engine,
        seed: int,
    ) -> Sample:
        used = sum(r.n_simulations for r in records)
        rate = _rate_guess(records, population, epsilon)
        shared = engine.share(self.problem.task(seed, g, proposal, epsilon, observed, distance))
        try:
            return sample_until(
                engine,
                shared,
                self.n_particles,
                self.problem.batch_size,
                self.max_simulations - used,
                rate,
                f"abcspark {self.name} generation {g}",
            )
        finally:
            engine.release(shared)

    def _stop_reason(self, records: List[GenerationRecord]) -> Optional[str]:
        last = records[-1]
        if len(records) >= self.generations:
            return "generations"
        if last.epsilon <= self.min_epsilon:
            return "min_epsilon"
        if sum(r.n_simulations for r in records) >= self.max_simulations:
            return "max_simulations"
        if last.acceptance_rate < self.min_acceptance_rate:
            return "min_acceptance_rate"
        return None


def _rate_guess(
    records: List[GenerationRecord], population: Optional[pd.DataFrame], epsilon: float
) -> float:
    """Particles per proposal to expect in the next generation, to size its first round.

    The last rate times the share of the last (weighted) particles within the new epsilon;
    from generation 3 on, the last rate carried along the trend of generations 1 and later
    (generation 0 samples the prior, which says little about the kernel's rates). Never below
    a quarter of the last rate, so a guess of zero cannot ask for an endless round.
    """
    rates = [r.acceptance_rate * r.n_simulations / r.n_proposals for r in records]
    if not rates:
        return 1.0
    if len(rates) <= 2:
        within = population["distance"].to_numpy() <= epsilon
        guess = rates[-1] * float(population["weight"].to_numpy() @ within)
    else:
        guess = rates[-1] * min(1.0, rates[-1] / max(rates[-2], 1e-12))
    return max(guess, rates[-1] / 4)
