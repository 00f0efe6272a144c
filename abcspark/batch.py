"""One batch of simulations: propose, simulate, score, keep; and batches run in order.

A :class:`BatchTask` is everything an executor needs to run any batch of one generation. It
is shipped once per generation (a broadcast on Spark) and run as ``task.run(batch)``, the same
code in every engine, so the NumPy engine and both Spark paths give the same bits. Its output
is the row format of :mod:`abcspark.rows`; :func:`abcspark.batch_loop.run_batches` is the loop
every engine runs over its share of batches.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from abcspark.rng import batch_rng
from abcspark.rows import particle_columns
from abcspark.simulation_store import write_batch

ON_ERROR = ("raise", "skip")


class SimulationError(ValueError):
    """A simulation failed or returned NaN/inf, or a batch ran past its timeout."""


@dataclass(frozen=True)
class BatchTask:
    """The work of one generation, split into batches of ``batch_size`` proposals.

    Parameters
    ----------
    seed, generation : int
        Key the randomness of each batch together with the batch number.
    names : list of str
        Parameter (column) names, ``d`` of them.
    proposal : object
        ``sample(n, rng) -> ndarray (n, d)``: the prior or a PMC kernel.
    in_support : callable
        ``(n, d) -> bool (n,)``: proposals outside the prior's support are never simulated.
    simulate : callable
        Vectorized ``(theta (n, d), rng) -> stats (n, k)``, or per parameter
        ``(theta (d,), rng) -> object`` when ``vectorized`` is False.
    distance : callable
        ``(stats (n, k), observed (k,)) -> (n,)``, or ``(object, observed) -> float``.
    observed : object
        Observed summary statistics ``(k,)`` (or any object for per-parameter simulators).
    epsilon : float
        Particles with distance <= epsilon are kept (``inf`` keeps all).
    on_error : {'raise', 'skip'}
        What a simulation that raises or returns NaN/inf does.
    batch_timeout : float or None
        Seconds a batch may take before it fails with :class:`SimulationError`.
    keep_statistics : bool
        Carry each kept particle's simulated statistics in the rows (vectorized only).
    sample_batches : int
        Batches below this number send every finite simulation, within epsilon or not (with
        its statistics): the sample an adaptive distance is refitted on.
    store : str, optional
        Where every batch also writes all its simulations (:mod:`abcspark.simulation_store`).
    """

    seed: int
    generation: int
    batch_size: int
    names: list
    proposal: Any
    in_support: Callable
    simulate: Callable
    distance: Callable
    observed: Any
    epsilon: float = np.inf
    vectorized: bool = True
    on_error: str = "raise"
    batch_timeout: Optional[float] = None
    keep_statistics: bool = False
    sample_batches: int = 0
    store: Optional[str] = None

    def simulated_after(self, batch: int, index: int) -> int:
        """How many of ``batch``'s proposals after proposal ``index`` it simulated (redrawn)."""
        theta = self.proposal.sample(self.batch_size, batch_rng(self.seed, self.generation, batch))
        return int(
            np.count_nonzero(self.in_support(np.asarray(theta, dtype=np.float64))[index + 1 :])
        )

    def run(self, batch: int) -> pd.DataFrame:
        """Run one batch; return its kept particles and one tally row (``index == TALLY``)."""
        return pd.DataFrame(self.columns(batch))

    def columns(self, batch: int, best: Optional[int] = None, bound: float = np.inf) -> dict:
        """Run one batch; return the columns of :meth:`run`'s frame as arrays.

        Parameters
        ----------
        batch : int
            The batch number.
        best : int, optional
            Keep only particles that can be among the ``best`` of smallest distance: those not
            beyond this batch's ``best``-th smallest distance (ties kept).
        bound : float, default inf
            Keep only particles with distance <= ``bound`` (a top-k's current ``k``-th
            distance); the tally still counts every simulation.

        Returns
        -------
        dict of str to ndarray
            ``batch, index, distance, n_simulated, n_failed`` and one column per parameter,
            each of shape (m + 1,) for m kept particles and the tally row.
        """
        with deadline(self.batch_timeout, f"batch {batch} of generation {self.generation}"):
            rng = batch_rng(self.seed, self.generation, batch)
            theta = np.asarray(self.proposal.sample(self.batch_size, rng), dtype=np.float64)
            index = np.flatnonzero(self.in_support(theta))
            theta = theta[index]
            if self.vectorized:
                distances, stats = self._score_vectorized(theta, rng, batch)
            else:
                distances, stats = self._score_each(theta, rng, batch), None
        if self.store is not None:
            write_batch(
                self.store, self.generation, batch, self.names, index, theta, distances, stats
            )
        failed = np.isnan(distances)
        kept = distances <= min(self.epsilon, bound)  # NaN (failed) compares False
        if best is not None and np.count_nonzero(kept) > best:
            kept &= distances <= np.partition(distances[kept], best - 1)[best - 1]
        if batch < self.sample_batches:
            kept = ~failed  # the driver tells particles (distance <= epsilon) from the sample
        return particle_columns(
            self.names,
            batch,
            index[kept],
            theta[kept],
            distances[kept],
            len(index),
            failed.sum(),
            stats[kept] if self.keep_statistics else None,
        )

    def _score_vectorized(self, theta: np.ndarray, rng: np.random.Generator, batch: int) -> tuple:
        """Distances ``(n,)`` (NaN where a simulation failed) and statistics ``(n, k)``."""
        if len(theta) == 0:
            return np.empty(0), np.empty((0, len(self.observed)))
        try:
            # A copy: a simulator that changes theta in place must not change the particles.
            stats = np.asarray(self.simulate(theta.copy(), rng), dtype=np.float64)
        except SimulationError:
            raise  # a batch timeout, not a failure of this simulation
        except Exception as exc:
            # A vectorized simulator that raises loses its whole batch; the error names the
            # first row that also fails on its own, so the user sees the offending parameters.
            self._fail(
                batch, self._first_failing_row(theta, batch), f"raised {type(exc).__name__}: {exc}"
            )
            return np.full(len(theta), np.nan), np.full((len(theta), len(self.observed)), np.nan)
        if stats.shape[:1] != theta.shape[:1] or stats.ndim != 2:
            raise SimulationError(
                f"simulate must return shape (n, k) with n = {len(theta)} "
                f"(got {stats.shape}) in generation {self.generation}, batch {batch}; "
                "return one row of summary statistics per parameter row."
            )
        bad = ~np.isfinite(stats).all(axis=1)
        if bad.any():
            self._fail(batch, theta[np.argmax(bad)], "returned NaN or inf")
        distances = np.asarray(self.distance(stats, self.observed), dtype=np.float64)
        undefined = ~bad & ~np.isfinite(distances)
        if undefined.any():
            self._fail(batch, theta[np.argmax(undefined)], "gave a NaN or inf distance")
        distances[bad | undefined] = np.nan
        return distances, stats

    def _first_failing_row(self, theta: np.ndarray, batch: int) -> np.ndarray:
        if self.on_error == "skip":
            return theta[0]
        rng = batch_rng(self.seed, self.generation, batch)
        for row in theta:
            try:
                self.simulate(row[None, :].copy(), rng)
            except SimulationError:
                raise
            except Exception:
                return row
        return theta[0]

    def _score_each(self, theta: np.ndarray, rng: np.random.Generator, batch: int) -> np.ndarray:
        distances = np.full(len(theta), np.nan)
        for i, row in enumerate(theta):
            try:
                value = float(self.distance(self.simulate(row.copy(), rng), self.observed))
            except SimulationError:
                raise  # a batch timeout, not a failure of this simulation
            except Exception as exc:
                self._fail(batch, row, f"raised {type(exc).__name__}: {exc}")
                continue
            if np.isfinite(value):
                distances[i] = value
            else:
                self._fail(batch, row, "gave a NaN or inf distance")
        return distances

    def _fail(self, batch: int, theta: np.ndarray, what: str) -> None:
        if self.on_error == "raise":
            values = ", ".join(f"{n}={v!r}" for n, v in zip(self.names, theta.tolist()))
            raise SimulationError(
                f"the simulator {what} in generation {self.generation}, batch {batch}, "
                f"at parameters ({values}); fix the simulator for these parameters, or pass "
                "on_error='skip' to drop and count such simulations."
            )


class deadline:
    """Raise :class:`SimulationError` when ``what`` (a batch, the dry run) runs over ``seconds``.

    Uses SIGALRM, so it needs the main thread of a POSIX process; that is where Spark's Python
    workers and the NumPy engine run batches.
    """

    def __init__(self, seconds: Optional[float], what: str):
        self.seconds, self.what = seconds, what

    def __enter__(self) -> None:
        if self.seconds is None:
            return
        if threading.current_thread() is not threading.main_thread():
            raise SimulationError(
                "batch_timeout needs batches to run on a process's main thread (got a batch on "
                f"{threading.current_thread().name}); drop batch_timeout in this environment."
            )
        self._previous = signal.signal(signal.SIGALRM, self._expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        if self.seconds is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)

    def _expire(self, signum: int, frame: object) -> None:
        raise SimulationError(
            f"{self.what} ran longer than batch_timeout={self.seconds} s; the simulator may "
            "hang for some parameters: fix it, or raise batch_timeout."
        )
