"""One batch of simulations: propose, simulate, score, keep.

A :class:`BatchTask` is everything an executor needs to run any batch of one generation. It
is shipped once per generation (a broadcast on Spark) and run as ``task.run(batch)``, the same
code in every engine, so the NumPy engine and both Spark paths give the same bits.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from abcspark.rng import batch_rng

ON_ERROR = ("raise", "skip")
TALLY = -1
"""``index`` of the one row per batch that carries its counts instead of a particle."""


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
        with _deadline(self.batch_timeout, f"batch {batch} of generation {self.generation}"):
            rng = batch_rng(self.seed, self.generation, batch)
            theta = np.asarray(self.proposal.sample(self.batch_size, rng), dtype=np.float64)
            index = np.flatnonzero(self.in_support(theta))
            theta = theta[index]
            if self.vectorized:
                distances = self._score_vectorized(theta, rng, batch)
            else:
                distances = self._score_each(theta, rng, batch)
        failed = np.isnan(distances)
        kept = distances <= min(self.epsilon, bound)  # NaN (failed) compares False
        if best is not None and np.count_nonzero(kept) > best:
            kept &= distances <= np.partition(distances[kept], best - 1)[best - 1]
        return particle_columns(
            self.names, batch, index[kept], theta[kept], distances[kept], len(index), failed.sum()
        )

    def _score_vectorized(
        self, theta: np.ndarray, rng: np.random.Generator, batch: int
    ) -> np.ndarray:
        if len(theta) == 0:
            return np.empty(0)
        try:
            stats = np.asarray(self.simulate(theta, rng), dtype=np.float64)
        except SimulationError:
            raise  # a batch timeout, not a failure of this simulation
        except Exception as exc:
            # A vectorized simulator that raises loses its whole batch; the error names the
            # first row that also fails on its own, so the user sees the offending parameters.
            self._fail(
                batch, self._first_failing_row(theta, batch), f"raised {type(exc).__name__}: {exc}"
            )
            return np.full(len(theta), np.nan)
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
        distances[bad | ~np.isfinite(distances)] = np.nan
        return distances

    def _first_failing_row(self, theta: np.ndarray, batch: int) -> np.ndarray:
        if self.on_error == "skip":
            return theta[0]
        rng = batch_rng(self.seed, self.generation, batch)
        for row in theta:
            try:
                self.simulate(row[None, :], rng)
            except SimulationError:
                raise
            except Exception:
                return row
        return theta[0]

    def _score_each(self, theta: np.ndarray, rng: np.random.Generator, batch: int) -> np.ndarray:
        distances = np.full(len(theta), np.nan)
        for i, row in enumerate(theta):
            try:
                value = float(self.distance(self.simulate(row, rng), self.observed))
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


def particle_columns(
    names: list,
    batch: int,
    index: np.ndarray,
    theta: np.ndarray,
    distances: np.ndarray,
    n_simulated: int,
    n_failed: int,
) -> dict:
    """Kept particles of one batch followed by its tally row, in the engines' row schema."""
    n = len(index)
    columns = {
        "batch": np.full(n + 1, batch, dtype=np.int64),
        "index": np.append(index, TALLY).astype(np.int64),
        "distance": np.append(distances, np.nan),
        "n_simulated": np.append(np.zeros(n, dtype=np.int64), n_simulated),
        "n_failed": np.append(np.zeros(n, dtype=np.int64), n_failed),
    }
    for j, name in enumerate(names):
        columns[name] = np.append(theta[:, j], np.nan)
    return columns


def row_schema(names: list) -> str:
    """The Spark DDL schema of :func:`particle_columns` rows."""
    params = ", ".join(f"`{name}` double" for name in names)
    return f"batch long, index long, distance double, n_simulated long, n_failed long, {params}"


class _deadline:
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


def check_observed(observed: Any, vectorized: bool) -> Any:
    """Return observed statistics as a finite float vector ``(k,)`` (any object if per-parameter).

    Raises
    ------
    TypeError, ValueError
        If vectorized and ``observed`` is not a finite numeric vector.
    """
    if not vectorized:
        return observed
    try:
        values = np.asarray(observed, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"observed must be numeric summary statistics, shape (k,) (got {type(observed)}); "
            "pass the observed data's summaries, e.g. np.array([mean, sd])."
        ) from None
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"observed must have shape (k,) (got {values.shape}); pass one vector of summary "
            "statistics, e.g. observed.ravel()."
        )
    if not np.isfinite(values).all():
        raise ValueError(
            f"observed must be finite (got {values.tolist()}); remove NaN/inf summaries."
        )
    return values


def dry_run(task: BatchTask, theta: np.ndarray, rng: np.random.Generator) -> Optional[np.ndarray]:
    """Run the simulator on a few parameter rows on the driver before any Spark job.

    Shape errors, non-numeric output and NaN show up here as a plain local traceback, and a
    hang as an error after ``batch_timeout`` (when the driver calls from its main thread).

    Returns
    -------
    ndarray, shape (n, k), or None
        The simulated statistics of a vectorized simulator (None for per-parameter ones).
    """
    on_main = threading.current_thread() is threading.main_thread()
    with _deadline(task.batch_timeout if on_main else None, "the dry run on the driver"):
        return _dry_run(task, theta, rng)


def _dry_run(task: BatchTask, theta: np.ndarray, rng: np.random.Generator) -> Optional[np.ndarray]:
    if not task.vectorized:
        for row in theta:
            value = task.distance(task.simulate(row, rng), task.observed)
            if not np.isfinite(np.asarray(value, dtype=np.float64)).all():
                raise SimulationError(
                    f"the distance of a dry-run simulation must be a finite number (got {value!r}) "
                    f"at parameters {row.tolist()}; check the simulator and the distance."
                )
        return None
    raw = task.simulate(theta, rng)
    try:
        stats = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"simulate must return numbers, an ndarray of shape (n, k) (got {type(raw)}); "
            "return summary statistics as floats, or pass vectorized=False for simulators that "
            "return other objects."
        ) from None
    n, k = len(theta), len(task.observed)
    if stats.shape != (n, k):
        raise ValueError(
            f"simulate must return shape (n, k) = ({n}, {k}) for {n} parameter rows and {k} "
            f"observed statistics (got {stats.shape}); return one row of k summary statistics "
            "per parameter row."
        )
    finite = np.isfinite(stats).all(axis=1)
    if not finite.all() and (task.on_error == "raise" or not finite.any()):
        row = int(np.argmax(~finite))
        raise SimulationError(
            f"simulate returned NaN or inf in the dry run at parameters {theta[row].tolist()} "
            f"(statistics {stats[row].tolist()}); fix the simulator, or pass on_error='skip' "
            "if some parameters legitimately fail."
        )
    return stats
