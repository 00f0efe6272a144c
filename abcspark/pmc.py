"""PMC-ABC (population Monte Carlo ABC) as a Spark pipeline, one job per round of a generation."""

from __future__ import annotations

import logging
import numbers
import time
from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import pandas as pd

from abcspark.checkpoint import Checkpoint
from abcspark.distances import Euclidean
from abcspark.generation import BudgetExhausted, sample_until
from abcspark.kernels import KERNELS, importance_weights, make_kernel
from abcspark.posterior import Posterior, weighted_quantile
from abcspark.priors import Prior
from abcspark.problem import Problem, versions
from abcspark.progress import Progress
from abcspark.rng import check_seed

log = logging.getLogger("abcspark")


class PMCABC:
    """Population Monte Carlo ABC (Beaumont, Cornuet, Marin and Robert 2009).

    Generation 0 accepts ``n_particles`` prior draws. Each later generation lowers epsilon to
    a quantile of the last generation's distances (or follows ``epsilons``), proposes from the
    weighted last population perturbed by a Gaussian kernel, drops proposals outside the prior's
    support before simulating, and weights the accepted particles by
    ``prior(theta) / sum_j w_j K(theta | theta_j)``.

    Parameters
    ----------
    prior, simulate, distance, vectorized, batch_size, on_error, batch_timeout, engine,
    parallelism, spark
        As for :class:`~abcspark.RejectionABC`.
    n_particles : int, default 1000
        Accepted particles per generation.
    generations : int, default 5
        Most generations to run (including generation 0).
    epsilon_quantile : float, default 0.5
        Next epsilon = this weighted quantile of the last generation's distances.
    epsilons : sequence of float, optional
        An explicit schedule instead (its length caps ``generations``); ``inf`` allowed first.
    min_epsilon : float, default 0
        Stop after the generation that reaches it (epsilon never goes below it).
    max_simulations : int, default 1e8
        Stop when the run has used this many proposals; a generation cut short is dropped.
    min_acceptance_rate : float, default 0
        Stop after a generation whose acceptance rate falls below it.
    kernel : {'gaussian', 'olcm'}, default 'gaussian'
        Twice the weighted covariance, or Filippi et al.'s optimal local covariance.
    progress : bool, optional
        Progress display per generation; default on in Jupyter and in a terminal.

    References
    ----------
    Beaumont, M. A., Cornuet, J.-M., Marin, J.-M. and Robert, C. P. (2009). Adaptive
    approximate Bayesian computation. Biometrika 96(4), 983-990.

    Examples
    --------
    >>> from abcspark import Prior, Uniform
    >>> def simulate(theta, rng):
    ...     return theta + rng.normal(0.0, 1.0, size=theta.shape)
    >>> pmc = PMCABC(Prior(mu=Uniform(-10, 10)), simulate, n_particles=200, generations=3,
    ...              engine="numpy")
    >>> post = pmc.run([1.0], seed=1)
    >>> list(post.history["generation"])
    [0, 1, 2]
    """

    def __init__(
        self,
        prior: Prior,
        simulate: Callable,
        distance: Any = None,
        *,
        n_particles: int = 1000,
        generations: int = 5,
        epsilon_quantile: float = 0.5,
        epsilons: Optional[Sequence[float]] = None,
        min_epsilon: float = 0.0,
        max_simulations: int = 10**8,
        min_acceptance_rate: float = 0.0,
        kernel: str = "gaussian",
        vectorized: bool = True,
        batch_size: int = 1000,
        on_error: str = "raise",
        batch_timeout: Optional[float] = None,
        engine: str = "spark",
        parallelism: Optional[int] = None,
        spark: Any = None,
        progress: Optional[bool] = None,
    ):
        self.problem = Problem(
            prior,
            simulate,
            Euclidean() if distance is None else distance,
            vectorized,
            batch_size,
            on_error,
            batch_timeout,
            engine,
            parallelism,
            spark,
        )
        if prior.discrete_names:
            raise ValueError(
                f"PMCABC's Gaussian kernel needs continuous parameters (got discrete "
                f"{prior.discrete_names}); use RejectionABC for discrete parameters."
            )
        for name, value in (
            ("n_particles", n_particles),
            ("generations", generations),
            ("max_simulations", max_simulations),
        ):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int (got {value!r}).")
        if not 0 < epsilon_quantile < 1:
            raise ValueError(
                f"epsilon_quantile must be in (0, 1) (got {epsilon_quantile!r}); e.g. 0.5."
            )
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS} (got {kernel!r}).")
        if epsilons is not None:
            epsilons = [float(e) for e in epsilons]
            if not epsilons or any(not e >= 0 for e in epsilons):
                raise ValueError(
                    f"epsilons must be a non-empty list of non-negative numbers (got {epsilons})."
                )
            generations = min(generations, len(epsilons))
        self.n_particles, self.generations = int(n_particles), int(generations)
        self.epsilon_quantile, self.epsilons = float(epsilon_quantile), epsilons
        self.min_epsilon, self.max_simulations = float(min_epsilon), int(max_simulations)
        self.min_acceptance_rate, self.kernel = float(min_acceptance_rate), kernel
        self.progress = progress

    def settings(self) -> dict:
        """Everything that decides the result, as saved in metadata and checkpoints."""
        return {
            **self.problem.settings(),
            "n_particles": self.n_particles,
            "generations": self.generations,
            "epsilon_quantile": self.epsilon_quantile,
            "epsilons": self.epsilons,
            "min_epsilon": self.min_epsilon,
            "max_simulations": self.max_simulations,
            "min_acceptance_rate": self.min_acceptance_rate,
            "kernel": self.kernel,
        }

    def run(
        self, observed: Any, *, seed: Optional[int] = None, checkpoint: Optional[str] = None
    ) -> Posterior:
        """Run PMC-ABC on ``observed``; resume from ``checkpoint`` if it holds earlier generations.

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
        store = None
        if checkpoint is not None:
            described = observed.tolist() if isinstance(observed, np.ndarray) else repr(observed)
            store = Checkpoint(
                checkpoint,
                {
                    "algorithm": "PMCABC",
                    "seed": seed,
                    "settings": self.settings(),
                    "observed": described,
                },
                getattr(engine, "spark", None),
            )
            store.open()
        population, records, stop = self._resume(store)
        progress = Progress(self.generations, self.progress)
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
            population, records, stop, seed, engine, time.perf_counter() - started
        )

    def _resume(self, store: Optional[Checkpoint]) -> tuple:
        if store is None:
            return None, [], None
        last, records = store.history()
        if last is None:
            return None, [], None
        population, _ = store.load(last)
        log.info("resuming from %s after generation %d", store.path, last)
        return population, records, self._stop_reason(records)

    def _epsilon(self, g: int, population: Optional[pd.DataFrame]) -> float:
        if self.epsilons is not None:
            return self.epsilons[g]
        if g == 0:
            return np.inf
        q = weighted_quantile(
            population["distance"].to_numpy(),
            population["weight"].to_numpy(),
            [self.epsilon_quantile],
        )[0]
        return max(float(q), self.min_epsilon)

    def _generation(
        self,
        g: int,
        population: Optional[pd.DataFrame],
        records: List[dict],
        observed: Any,
        distance: Any,
        engine: Any,
        seed: int,
    ) -> tuple:
        """Sample generation ``g``; return its population (names, weight, distance) and record."""
        started = time.perf_counter()
        prior, names = self.problem.prior, self.problem.prior.names
        epsilon = self._epsilon(g, population)
        if g == 0:
            proposal = prior
        else:
            proposal = make_kernel(
                self.kernel,
                population[names].to_numpy(),
                population["weight"].to_numpy(),
                population["distance"].to_numpy(),
                epsilon,
            )
        used = sum(r["n_simulations"] for r in records)
        rate = _rate_guess(records, population, epsilon)
        shared = engine.share(self.problem.task(seed, g, proposal, epsilon, observed, distance))
        try:
            sample = sample_until(
                engine,
                shared,
                self.n_particles,
                self.problem.batch_size,
                self.max_simulations - used,
                rate,
                f"abcspark PMCABC generation {g}",
            )
        finally:
            engine.release(shared)
        theta = sample.particles[names].to_numpy()
        if g == 0:
            weights = np.full(len(theta), 1.0 / len(theta))
        else:
            weights = importance_weights(theta, prior.log_pdf(theta), proposal)
        new = sample.particles[names].assign(weight=weights, distance=sample.particles["distance"])
        record = {
            "generation": g,
            "epsilon": float(epsilon),
            "n_proposals": (int(sample.particles["batch"].iloc[-1]) + 1) * self.problem.batch_size,
            "n_simulations": sample.n_simulations,
            "acceptance_rate": sample.acceptance_rate,
            "ess": float(1.0 / np.sum(weights**2)),
            "n_failed": sample.n_failed,
            "seconds": time.perf_counter() - started,
        }
        log.info(
            "PMCABC generation %d: epsilon %.4g, acceptance rate %.3g, %d simulations, "
            "ESS %.1f, %.1f s",
            g,
            epsilon,
            record["acceptance_rate"],
            record["n_simulations"],
            record["ess"],
            record["seconds"],
        )
        return new.reset_index(drop=True), record

    def _stop_reason(self, records: List[dict]) -> Optional[str]:
        last = records[-1]
        if len(records) >= self.generations:
            return "generations"
        if last["epsilon"] <= self.min_epsilon:
            return "min_epsilon"
        if sum(r["n_simulations"] for r in records) >= self.max_simulations:
            return "max_simulations"
        if last["acceptance_rate"] < self.min_acceptance_rate:
            return "min_acceptance_rate"
        return None

    def _posterior(
        self,
        population: pd.DataFrame,
        records: List[dict],
        stop: str,
        seed: int,
        engine: Any,
        seconds: float,
    ) -> Posterior:
        history = pd.DataFrame(records)
        metadata = {
            "algorithm": "PMCABC",
            "seed": seed,
            "settings": self.settings(),
            "stop_reason": stop,
            "engine": engine.name,
            "parallelism": engine.parallelism,
            "n_simulations": int(history["n_simulations"].sum()),
            "n_failed": int(history["n_failed"].sum()),
            "wall_seconds": seconds,
            "versions": versions(),
        }
        names = self.problem.prior.names
        return Posterior(
            population[names],
            population["weight"].to_numpy(),
            population["distance"].to_numpy(),
            history,
            metadata,
        )


def _rate_guess(records: List[dict], population: Optional[pd.DataFrame], epsilon: float) -> float:
    """Particles per proposal to expect in the next generation, to size its first round.

    The last rate times the share of the last (weighted) particles within the new epsilon;
    from generation 3 on, the last rate carried along the trend of generations 1 and later
    (generation 0 samples the prior, which says little about the kernel's rates). Never below
    a quarter of the last rate, so a guess of zero cannot ask for an endless round.
    """
    rates = [r["acceptance_rate"] * r["n_simulations"] / r["n_proposals"] for r in records]
    if not rates:
        return 1.0
    if len(rates) <= 2:
        within = population["distance"].to_numpy() <= epsilon
        guess = rates[-1] * float(population["weight"].to_numpy() @ within)
    else:
        guess = rates[-1] * min(1.0, rates[-1] / max(rates[-2], 1e-12))
    return max(guess, rates[-1] / 4)
