"""Rejection ABC as a Spark pipeline."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from abcspark.distances import Euclidean
from abcspark.generation import sample_best, sample_until
from abcspark.posterior import Posterior
from abcspark.priors import Prior
from abcspark.problem import Problem, versions
from abcspark.rng import check_seed

log = logging.getLogger("abcspark")


class RejectionABC:
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
    batch_size : int, default 1000
        Proposals per batch, the unit of randomness and of work.
    on_error : {'raise', 'skip'}, default 'raise'
        A simulation that raises or returns NaN/inf fails the run with the generation, batch
        and parameters (``'raise'``), or is dropped and counted (``'skip'``).
    batch_timeout : float, optional
        Seconds one batch may take before it fails with a clear error.
    engine : {'spark', 'numpy'} or engine object, default 'spark'
        Spark (given, active or embedded ``local[*]`` session), this process with NumPy, or an
        object with the interface of :class:`abcspark.pipeline.LocalEngine` (e.g. the MPI engine).
    parallelism : int, optional
        Partitions per Spark job; default the session's ``defaultParallelism``.
    spark : pyspark.sql.SparkSession, optional
        The session to use; default the active one, else an embedded ``local[*]``.

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

    def __init__(
        self,
        prior: Prior,
        simulate: Callable,
        distance: Any = None,
        *,
        vectorized: bool = True,
        batch_size: int = 1000,
        on_error: str = "raise",
        batch_timeout: Optional[float] = None,
        engine: str = "spark",
        parallelism: Optional[int] = None,
        spark: Any = None,
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
            Cap on proposals with ``epsilon`` and ``n_samples``.
        seed : int, optional
            Keys all randomness; None draws one (recorded in ``posterior.metadata``).

        Returns
        -------
        Posterior
            Equally weighted accepted particles.

        Raises
        ------
        ValueError
            On a bad combination of arguments, bad ``observed``, a failing simulator, or
            (:class:`~abcspark.generation.BudgetExhausted`) when ``max_simulations`` runs out.
        """
        mode = _mode(epsilon, n_samples, n_simulations, quantile)
        seed = check_seed(seed)
        started = time.perf_counter()
        problem = self.problem
        observed, distance = problem.prepare(observed, seed)
        engine = problem.engine()
        threshold = np.inf if mode == "quantile" else float(epsilon)
        shared = engine.share(problem.task(seed, 0, problem.prior, threshold, observed, distance))
        try:
            if mode == "until":
                sample = sample_until(
                    engine,
                    shared,
                    n_samples,
                    problem.batch_size,
                    max_simulations,
                    description="abcspark RejectionABC",
                )
            else:
                n_batches = math.ceil(n_simulations / problem.batch_size)
                best = math.ceil(quantile * n_batches * problem.batch_size) if quantile else None
                sample = sample_best(engine, shared, n_batches, best, "abcspark RejectionABC")
        finally:
            engine.release(shared)
        if len(sample.particles) == 0:
            raise ValueError(
                f"epsilon={epsilon} accepted none of {sample.n_simulations:,} simulations; "
                "raise epsilon or n_simulations, or use quantile= instead."
            )
        seconds = time.perf_counter() - started
        reached = threshold if mode != "quantile" else float(sample.particles["distance"].max())
        history = pd.DataFrame(
            [
                {
                    "generation": 0,
                    "epsilon": reached,
                    "n_proposals": sample.n_simulations,  # prior draws are all in its support
                    "n_simulations": sample.n_simulations,
                    "acceptance_rate": sample.acceptance_rate,
                    "ess": float(len(sample.particles)),
                    "n_failed": sample.n_failed,
                    "seconds": seconds,
                }
            ]
        )
        log.info(
            "RejectionABC: %d accepted of %d simulations (epsilon %.4g) in %.1f s",
            len(sample.particles),
            sample.n_simulations,
            reached,
            seconds,
        )
        metadata = {
            "algorithm": "RejectionABC",
            "seed": seed,
            "mode": mode,
            "settings": {
                **problem.settings(),
                "epsilon": epsilon,
                "n_samples": n_samples,
                "n_simulations": n_simulations,
                "quantile": quantile,
            },
            "engine": engine.name,
            "parallelism": engine.parallelism,
            "n_simulations": sample.n_simulations,
            "n_failed": sample.n_failed,
            "wall_seconds": seconds,
            "versions": versions(),
        }
        names = problem.prior.names
        return Posterior(
            sample.particles[names],
            np.ones(len(sample.particles)),
            sample.particles["distance"].to_numpy(),
            history,
            metadata,
        )


def _mode(epsilon: Any, n_samples: Any, n_simulations: Any, quantile: Any) -> str:
    """Which stopping mode the arguments ask for, or a clear error."""
    if epsilon is not None and not (isinstance(epsilon, (int, float)) and epsilon >= 0):
        raise ValueError(
            f"epsilon must be a non-negative number (got {epsilon!r}); e.g. epsilon=0.5."
        )
    if quantile is not None and not (isinstance(quantile, (int, float)) and 0 < quantile <= 1):
        raise ValueError(f"quantile must be in (0, 1] (got {quantile!r}); e.g. quantile=0.01.")
    for name, value in (("n_samples", n_samples), ("n_simulations", n_simulations)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{name} must be a positive int (got {value!r}).")
    if epsilon is not None and n_samples is not None and n_simulations is None and quantile is None:
        return "until"
    if quantile is not None and n_simulations is not None and epsilon is None and n_samples is None:
        return "quantile"
    if epsilon is not None and n_simulations is not None and n_samples is None and quantile is None:
        return "budget"
    raise ValueError(
        "run needs one stopping mode (got "
        f"epsilon={epsilon}, n_samples={n_samples}, n_simulations={n_simulations}, "
        f"quantile={quantile}); pass epsilon and n_samples, quantile and n_simulations, or "
        "epsilon and n_simulations."
    )
