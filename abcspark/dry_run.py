"""The driver's dry run: the simulator on a few prior draws before any Spark job.

Shape errors, non-numeric output and NaN show up here as a plain local traceback, and a hang
as an error after ``batch_timeout`` (when the driver calls from its main thread).
"""

from __future__ import annotations

import hashlib
import threading
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
    if not task.vectorized:
        values = []
        for row in theta:
            value = task.distance(task.simulate(row.copy(), rng), task.observed)
            if not np.isfinite(np.asarray(value, dtype=np.float64)).all():
                raise SimulationError(
                    f"the distance of a dry-run simulation must be a finite number (got {value!r}) "
                    f"at parameters {row.tolist()}; check the simulator and the distance."
                )
            values.append(float(value))
        return np.array(values)
    raw = task.simulate(theta.copy(), rng)
    stats = float_array(
        raw,
        f"simulate must return numbers, an ndarray of shape (n, k) (got {type(raw)}); "
        "return summary statistics as floats, or pass vectorized=False for simulators that "
        "return other objects.",
    )
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
        digest.update(repr(code.co_consts).encode())
    return digest.hexdigest()[:16]
