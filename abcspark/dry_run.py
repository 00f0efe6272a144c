"""The driver's dry run: the simulator on a few prior draws before any Spark job.

Shape errors, non-numeric output and NaN show up here as a plain local traceback, and a hang
as an error after ``batch_timeout`` (when the driver calls from its main thread).
"""

from __future__ import annotations

import hashlib
import threading
from types import CodeType
from typing import Any

import numpy as np

from abcspark.batch import BatchTask, SimulationError, deadline
from abcspark.validation import float_array


def dry_run(task: BatchTask, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Run the simulator on a few parameter rows ``theta (n, d)`` on the driver.

    Returns
    -------
    ndarray, shape (n, k) or (n,)
        The simulated statistics of a vectorized simulator, or the distances of a
        per-parameter one.
    """
    on_main = threading.current_thread() is threading.main_thread()
    with deadline(task.batch_timeout if on_main else None, "the dry run on the driver"):
        return _dry_run(task, theta, rng)


def _dry_run(task: BatchTask, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if task.vectorized:
        values = simulate_statistics(task, theta, rng)
    else:
        values = np.array([_distance_of(task, row, rng) for row in theta])
    _check_finite(task, theta, values)
    return values


def simulate_statistics(task: BatchTask, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Statistics ``(n, k)`` of a vectorized simulator on the driver, shape-checked.

    With ``on_error='skip'``, a simulator that raises is run again row by row, and the rows
    where it raises again are NaN; with ``'raise'`` its exception becomes a `SimulationError`
    naming the parameters.
    """
    n, k = len(theta), len(task.observed)
    try:
        raw = task.simulate(theta.copy(), rng)
    except SimulationError:
        raise  # the dry run's timeout
    except Exception as exc:
        if task.on_error == "raise":
            raise SimulationError(_raised(exc, theta) + _SKIP_HINT) from exc
        if n == 1:
            return np.full((1, k), np.nan)
        return np.vstack([simulate_statistics(task, row[None, :], rng) for row in theta])
    stats = float_array(
        raw,
        f"simulate must return numbers, an ndarray of shape (n, k) (got {type(raw)}); "
        "return summary statistics as floats, or pass vectorized=False for simulators that "
        "return other objects.",
    )
    if stats.shape != (n, k):
        raise ValueError(
            f"simulate must return shape (n, k) = ({n}, {k}) for {n} parameter rows and {k} "
            f"observed statistics (got {stats.shape}); return one row of k summary statistics "
            "per parameter row."
        )
    return stats


def _distance_of(task: BatchTask, row: np.ndarray, rng: np.random.Generator) -> float:
    """The distance of one per-parameter simulation; NaN where it raised and errors are skipped."""
    try:
        value = task.distance(task.simulate(row.copy(), rng), task.observed)
    except SimulationError:
        raise  # the dry run's timeout
    except Exception as exc:
        if task.on_error == "raise":
            raise SimulationError(_raised(exc, row[None, :]) + _SKIP_HINT) from exc
        return np.nan
    number = float_array(
        value,
        f"the distance of a simulation must be a number (got {value!r} that is a "
        f"{type(value)}); make the distance return a float.",
    )
    if number.size != 1:
        raise ValueError(
            f"the distance of a simulation must be one number (got shape {number.shape}); "
            "make the distance return a float."
        )
    return float(number.reshape(()))


_SKIP_HINT = ", or pass on_error='skip' if some parameters legitimately fail."


def _raised(exc: Exception, theta: np.ndarray) -> str:
    return (
        f"simulate raised {type(exc).__name__}: {exc} in the dry run on the driver, at "
        f"parameters {theta.tolist()}; fix the simulator for these parameters"
    )


def _check_finite(task: BatchTask, theta: np.ndarray, values: np.ndarray) -> None:
    """Refuse NaN/inf results: any with ``on_error='raise'``, only all of them with ``'skip'``."""
    finite = np.isfinite(values.reshape(len(theta), -1)).all(axis=1)
    if finite.all() or (task.on_error == "skip" and finite.any()):
        return
    row = int(np.argmax(~finite))
    what = "statistics" if task.vectorized else "distance"
    if task.on_error == "raise":
        raise SimulationError(
            f"simulate returned NaN or inf in the dry run at parameters {theta[row].tolist()} "
            f"({what} {values[row].tolist()}); fix the simulator, or pass on_error='skip' if "
            "some parameters legitimately fail."
        )
    raise SimulationError(
        f"simulate failed (raised, or gave NaN or inf) on all {len(theta)} dry-run draws from "
        f"the prior, e.g. at parameters {theta[row].tolist()}; on_error='skip' drops failed "
        "simulations but cannot run a simulator that fails everywhere: fix the simulator."
    )


def check_reproducible(first: np.ndarray, second: np.ndarray) -> None:
    """Refuse a simulator whose dry run gave two answers from two generators in one state.

    Such a simulator draws from ``np.random`` or another source the batch's ``rng`` does not
    key, so the same seed would give a different posterior on every run and engine.
    """
    if first.shape != second.shape or not np.array_equal(first, second, equal_nan=True):
        raise SimulationError(
            "simulate must draw all its randomness from the rng it is given (got different "
            "results from two dry runs with generators in the same state); replace "
            "np.random.* calls by rng.* (e.g. rng.normal), and seed any other library from "
            "rng (e.g. rng.integers(2**32))."
        )


def fingerprint(simulate: Any, outputs: np.ndarray) -> str:
    """A digest of what decides a simulator's results: its dry-run outputs and its code."""
    digest = hashlib.sha256(np.ascontiguousarray(outputs, dtype=np.float64).tobytes())
    function = getattr(simulate, "simulate", simulate)  # a nested simulator's own function
    code = getattr(function, "__code__", None)
    if code is None:  # a callable object: the code of its class's __call__
        code = getattr(type(function).__call__, "__code__", None)
    if code is not None:
        digest.update(code.co_code)
        digest.update(repr(_stable(code.co_consts)).encode())
    return digest.hexdigest()[:16]


def _stable(value: Any) -> Any:
    """Constants as ``repr`` shows them, but nested code (comprehensions, lambdas) by content
    and sets sorted: ``repr`` would show a memory address, or an order seeded per process, so
    the same simulator would get another fingerprint in each process (and a checkpoint would
    be refused on resume)."""
    if isinstance(value, CodeType):
        return (value.co_name, value.co_code.hex(), _stable(value.co_consts))
    if isinstance(value, frozenset):
        return ("frozenset", sorted(repr(v) for v in value))
    if isinstance(value, tuple):
        return tuple(_stable(v) for v in value)
    return value
