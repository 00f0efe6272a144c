"""The driver's dry run: the simulator on a few prior draws before any Spark job.

Shape errors, non-numeric output and NaN show up here as a plain local traceback, and a hang
as an error after ``batch_timeout`` (when the driver calls from its main thread).
"""

from __future__ import annotations

import threading
from typing import Optional

import numpy as np

from abcspark.batch import BatchTask, SimulationError, deadline
from abcspark.validation import float_array


def dry_run(task: BatchTask, theta: np.ndarray, rng: np.random.Generator) -> Optional[np.ndarray]:
    """Run the simulator on a few parameter rows ``theta (n, d)`` on the driver.

    Returns
    -------
    ndarray, shape (n, k), or None
        The simulated statistics of a vectorized simulator (None for per-parameter ones).
    """
    on_main = threading.current_thread() is threading.main_thread()
    with deadline(task.batch_timeout if on_main else None, "the dry run on the driver"):
        return _dry_run(task, theta, rng)


def _dry_run(task: BatchTask, theta: np.ndarray, rng: np.random.Generator) -> Optional[np.ndarray]:
    if not task.vectorized:
        for row in theta:
            value = task.distance(task.simulate(row.copy(), rng), task.observed)
            if not np.isfinite(np.asarray(value, dtype=np.float64)).all():
                raise SimulationError(
                    f"the distance of a dry-run simulation must be a finite number (got {value!r}) "
                    f"at parameters {row.tolist()}; check the simulator and the distance."
                )
        return None
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
