"""Posterior predictive checks: simulations from the posterior, set against the observed data.

:func:`predict` draws ``n`` parameter vectors from a posterior by weight (``Posterior.sample``,
keyed by the ``DRAWS`` stream), simulates each once on an engine, and returns a
:class:`PredictiveCheck`: the simulated statistics, a p-value per statistic, and a plot. The
simulations run as batches of a :class:`~abcspark.batch.BatchTask`, on the engines that run
ABC itself; batch ``b`` is keyed by ``batch_rng(seed, 0, b, stream=PREDICTIVE)``, so the
result is the same bits on the NumPy engine and on Spark at any parallelism.

A statistic the fitted model cannot reproduce has a p-value ``P(T_sim >= T_obs)`` near 0 or 1:
the observed value lies in a tail of what the model simulates. Such p-values are conservative
(the data were used to fit the posterior), so a value near 0.5 does not prove a good fit.

References
----------
Rubin, D. B. (1984). Bayesianly justifiable and relevant frequency calculations for the
applied statistician. The Annals of Statistics 12(4), 1151-1172.

Gelman, A., Meng, X.-L. and Stern, H. (1996). Posterior predictive assessment of model fitness
via realized discrepancies. Statistica Sinica 6(4), 733-807.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

import numpy as np

from abcspark.batch import BatchTask, SimulationError, deadline
from abcspark.dry_run import check_reproducible, dry_run
from abcspark.engines import check_engine, make_engine
from abcspark.nested import Ranks, as_ranks
from abcspark.predictive_check import PredictiveCheck
from abcspark.problem import DRY_RUN_SIZE, auto_batch_size, check_simulator
from abcspark.rng import PILOT, PREDICTIVE, batch_rng, check_seed
from abcspark.rows import TALLY, particle_columns, statistic_names
from abcspark.validation import check_observed, optional_seconds, positive_int

log = logging.getLogger("abcspark")


@dataclass(frozen=True)
class PredictiveTask(BatchTask):
    """The simulations of a predictive check, ``batch_size`` rows of ``draws`` per batch.

    Batch ``b`` simulates rows ``b * batch_size`` to ``(b + 1) * batch_size`` of ``draws``
    (shape (n, d)) with ``batch_rng(seed, 0, b, stream=PREDICTIVE)``. Its rows follow
    :mod:`abcspark.rows`: ``index`` is the draw's row, ``distance`` 0, the statistics ride as
    ``_stat_j`` columns; a simulation that fails under ``on_error='skip'`` is counted on the
    tally row. ``observed`` only gives ``k``, the number of statistics.
    """

    draws: Optional[np.ndarray] = None

    def columns(self, batch: int, best: Optional[int] = None, bound: float = np.inf) -> dict:
        """Simulate one batch (``best`` and ``bound`` are ignored: every simulation is kept)."""
        start = batch * self.batch_size
        theta = self.draws[start : start + self.batch_size]
        with deadline(self.batch_timeout, f"batch {batch} of the posterior predictive check"):
            rng = batch_rng(self.seed, 0, batch, stream=PREDICTIVE)
            distances, stats = self._score_vectorized(theta, rng, batch)
        done = np.flatnonzero(~np.isnan(distances))
        return particle_columns(
            self.names,
            batch,
            start + done,
            theta[done],
            distances[done],
            len(theta),
            len(theta) - len(done),
            stats[done],
        )


def unscored(stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """The distance of every predictive simulation, ``(n,)`` zeros: a check keeps them all."""
    return np.zeros(len(stats))


def predict(
    posterior: Any,
    simulate: Callable,
    n: int,
    *,
    observed: Any = None,
    seed: Optional[int] = None,
    engine: Any = None,
    spark: Any = None,
    parallelism: Optional[int] = None,
    batch_size: Optional[int] = None,
    on_error: str = "raise",
    batch_timeout: Optional[float] = None,
) -> PredictiveCheck:
    """Simulate ``n`` times from the posterior predictive distribution (``posterior.predict``).

    Parameters
    ----------
    posterior : Posterior
    simulate : callable
        A vectorized simulator, ``(theta (m, d), rng) -> statistics (m, k)``, as for a run.
    n : int
        Simulations, each from one parameter vector drawn from the posterior by weight.
    observed : array_like, shape (k,), optional
        Default ``posterior.metadata["observed"]`` (recorded by runs); needed for p-values.
    seed : int, optional
        Keys the draws (``posterior.sample(n, seed)``) and the simulations; None draws one.
    engine : {'spark', 'numpy'} or engine object, optional
        Default: 'numpy' for a posterior of a NumPy-engine run, else 'spark'.
    spark, parallelism, batch_size, on_error, batch_timeout
        As for a run (:class:`~abcspark.RejectionABC`). The result depends on ``seed``, ``n``
        and ``batch_size`` (default ``n / 10`` between 10 and 1,000), not on the engine.

    Returns
    -------
    PredictiveCheck
        ``.statistics``: one row per simulation, the parameters and then ``_stat_0`` ...
        ``_stat_{k-1}``; failed ones (``on_error='skip'``) are dropped and counted.

    Raises
    ------
    ValueError
        If an argument is invalid, the posterior holds no particles, or the simulator's
        output has the wrong shape (k must match ``observed``).
    SimulationError
        If a simulation raises or returns NaN/inf (with ``on_error='raise'``).

    Examples
    --------
    >>> import pandas as pd
    >>> from abcspark import Posterior
    >>> post = Posterior(pd.DataFrame({"mu": [0.0, 1.0]}), np.ones(2), np.zeros(2))
    >>> def simulate(theta, rng):
    ...     return theta + rng.normal(size=theta.shape)
    >>> check = predict(post, simulate, 500, observed=[0.5], seed=1, engine="numpy")
    >>> check.statistics.shape
    (500, 2)
    >>> float(check.p_values().loc["_stat_0", "p_value"]) > 0.3
    True
    """
    n, seed = positive_int("n", n, "1000"), check_seed(seed)
    _check_arguments(posterior, simulate, on_error)
    if observed is None:
        observed = posterior.metadata.get("observed")
    observed = None if observed is None else check_observed(observed, True)
    size = auto_batch_size(n, math.inf) if batch_size is None else batch_size
    size = positive_int("batch_size", size, "100")
    if parallelism is not None:
        parallelism = positive_int("parallelism", parallelism, "4")
    timeout = optional_seconds("batch_timeout", batch_timeout)
    choice = check_engine(_default_engine(posterior) if engine is None else engine)
    simulate = as_ranks(simulate)
    draws = posterior.sample(n, seed=seed).to_numpy(dtype=np.float64)
    task = _checked_task(
        PredictiveTask(
            seed=seed,
            generation=0,
            batch_size=size,
            names=list(posterior.names),
            proposal=None,
            in_support=None,
            simulate=simulate,
            distance=unscored,
            observed=None,
            on_error=on_error,
            batch_timeout=timeout,
            keep_statistics=True,
            draws=draws,
        ),
        observed,
    )
    ranks = simulate.size if isinstance(simulate, Ranks) else 1
    runner = make_engine(choice, spark, parallelism, ranks)
    statistics, n_failed = _simulate(task, runner)
    metadata = dict(
        seed=seed, n=n, batch_size=size, engine=runner.name, parallelism=runner.parallelism
    )
    return PredictiveCheck(statistics, task.names, observed, {**metadata, "n_failed": n_failed})


def _check_arguments(posterior: Any, simulate: Any, on_error: Any) -> None:
    samples = getattr(posterior, "samples", None)
    if samples is None or samples.shape[0] == 0 or samples.shape[1] == 0:
        shape = None if samples is None else samples.shape
        raise ValueError(
            f"the posterior must hold particles of at least one parameter (got samples of "
            f"shape {shape}); run an algorithm first, or build Posterior(samples, weights, "
            "distances) from draws."
        )
    check_simulator(simulate, on_error)


def _default_engine(posterior: Any) -> str:
    """NumPy for a posterior of a NumPy-engine run, else Spark (an MPI run's ranks are gone)."""
    return "numpy" if posterior.metadata.get("engine") == "numpy" else "spark"


def _checked_task(task: PredictiveTask, observed: Optional[np.ndarray]) -> PredictiveTask:
    """``task`` with ``k`` statistics, after the driver's dry run on the first draws.

    The simulator runs twice from one generator state, as before a run, so shape errors, NaN
    and a simulator that draws from ``np.random`` show up here as a local traceback.
    """
    theta = task.draws[:DRY_RUN_SIZE]
    k = len(observed) if observed is not None else _statistics_count(task, theta)
    task = replace(task, observed=np.zeros(k))
    outputs = [dry_run(task, theta, batch_rng(task.seed, 0, 0, stream=PILOT)) for _ in range(2)]
    check_reproducible(*outputs)
    return task


def _statistics_count(task: PredictiveTask, theta: np.ndarray) -> int:
    """``k`` from the simulator on ``theta``, else on its rows one by one; 1 if all fail.

    Only a guess when the output is not ``(m, k)``: the dry run then says what is wrong.
    """
    for rows in [theta, *theta[:, None, :]]:
        try:
            shape = np.shape(task.simulate(rows.copy(), batch_rng(task.seed, 0, 0, stream=PILOT)))
        except Exception:
            continue
        return shape[1] if len(shape) == 2 else 1
    return 1


def _simulate(task: PredictiveTask, engine: Any) -> tuple:
    """The statistics frame (rows in draw order) and the number of failed simulations."""
    n = len(task.draws)
    started = time.perf_counter()
    shared = engine.share(task)
    try:
        frame = engine.run(
            shared,
            range(math.ceil(n / task.batch_size)),
            description=f"abcspark: posterior predictive check, {n:,} simulations",
        )
    finally:
        engine.release(shared)
    rows = frame[frame["index"] >= 0].sort_values("index", kind="mergesort")
    n_failed = int(frame.loc[frame["index"] == TALLY, "n_failed"].sum())
    if rows.empty:
        raise SimulationError(
            f"the simulator failed (raised, or gave NaN or inf) on all {n:,} posterior "
            "predictive simulations; fix the simulator: on_error='skip' drops failed "
            "simulations but cannot check a simulator that fails everywhere."
        )
    log.info(
        "posterior predictive check: %d simulations, %d failed, %.2f s on %s",
        n,
        n_failed,
        time.perf_counter() - started,
        engine.name,
    )
    columns = [*task.names, *statistic_names(len(task.observed))]
    return rows[columns].astype(np.float64).reset_index(drop=True), n_failed
