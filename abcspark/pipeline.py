"""Engines: where the batches of a generation run.

Every engine takes a :class:`~abcspark.simulation.BatchTask` and a range of batch numbers and
returns the kept particles plus one tally row per batch. Only those rows reach the driver.

- :class:`LocalEngine` runs batches in this process with NumPy: tiny runs and the reference.
- :class:`SparkEngine` runs them on Spark: batch ids as a ``spark.range`` DataFrame, then
  ``mapInPandas`` through Arrow for vectorized simulators; ``parallelize`` / ``mapPartitions``
  (the RDD path) for simulators that take one parameter vector and return any Python object.
"""

from __future__ import annotations

import logging
import re
import sys
from functools import partial
from typing import Any, Iterator, List, Optional

import numpy as np
import pandas as pd

from abcspark.simulation import TALLY, BatchTask, SimulationError, row_schema

log = logging.getLogger("abcspark")

ROWS_PER_FRAME = 10_000
"""Rows gathered before an engine hands a frame on (Spark's Arrow batches hold 10,000)."""


def keep_best(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """Keep the tally rows and the ``k`` particles of smallest distance.

    Ties are broken by (batch, index), so the choice does not depend on arrival order.
    """
    tally = frame["index"] == TALLY
    particles = frame[~tally].sort_values(["distance", "batch", "index"], kind="mergesort")
    return pd.concat([particles.head(k), frame[tally]], ignore_index=True)


def _frame(pieces: List[dict]) -> pd.DataFrame:
    """One frame of the columns of several batches, in order."""
    return pd.DataFrame({c: np.concatenate([p[c] for p in pieces]) for c in pieces[0]})


def run_batches(
    task: BatchTask, batches: Iterator[int], best: Optional[int]
) -> Iterator[pd.DataFrame]:
    """Run batches in order; with ``best``, keep only the ``best`` particles seen so far.

    Batches are gathered into frames of about ``ROWS_PER_FRAME`` rows: one pandas frame (and
    one Arrow batch) per batch would cost more than a cheap simulator's batch. A top-k passes
    its current ``best``-th distance to the next batches, which then keep only rows that can
    still enter it, so quantile mode never frames the simulations it drops.
    """
    pieces: List[dict] = []
    rows = particles = 0
    bound = np.inf
    distances = np.empty(0)
    for batch in batches:
        columns = task.columns(batch, best, bound)
        pieces.append(columns)
        rows += len(columns["index"])
        if best is None:
            if rows >= ROWS_PER_FRAME:
                yield _frame(pieces)
                pieces, rows = [], 0
            continue
        found = columns["distance"][columns["index"] != TALLY]
        distances = np.concatenate([distances, found])
        particles += len(found)
        if len(distances) >= best:
            bound = np.partition(distances, best - 1)[best - 1]
            distances = distances[distances <= bound]
        if particles > 2 * best + ROWS_PER_FRAME:
            kept = keep_best(_frame(pieces), best)
            pieces, particles = [{c: kept[c].to_numpy() for c in kept}], best
    if pieces:
        yield _frame(pieces) if best is None else keep_best(_frame(pieces), best)


class LocalEngine:
    """Run batches in this Python process (no Spark): the reference engine."""

    name = "numpy"
    parallelism = 1

    def share(self, task: BatchTask) -> BatchTask:
        """Make ``task`` available to the batches; in-process there is nothing to ship."""
        return task

    def run(
        self, shared: BatchTask, batches: range, best: Optional[int] = None, description: str = ""
    ) -> pd.DataFrame:
        """Run ``batches`` of the shared task; see :func:`keep_best` for ``best``."""
        frames = list(run_batches(shared, iter(batches), best))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def release(self, shared: BatchTask) -> None:
        """Nothing to release in-process."""


def _map_frames(broadcast: Any, best: Optional[int], frames: Iterator[pd.DataFrame]):
    task = load_task(broadcast)
    ids = (int(b) for frame in frames for b in frame["id"])
    yield from run_batches(task, ids, best)


def _map_partition(broadcast: Any, best: Optional[int], ids: Iterator[int]):
    yield from run_batches(load_task(broadcast), (int(b) for b in ids), best)


def load_task(broadcast: Any) -> BatchTask:
    """The task of a broadcast that :meth:`SparkEngine.share` made."""
    from pyspark import cloudpickle

    return cloudpickle.loads(broadcast.value)


class SparkEngine:
    """Run batches on Spark.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session to run on.
    parallelism : int, optional
        Partitions per job (ABCpy's and Spark's word); default ``defaultParallelism``.
    """

    name = "spark"

    def __init__(self, spark: Any, parallelism: Optional[int] = None):
        self.spark = spark
        self.parallelism = parallelism or spark.sparkContext.defaultParallelism

    def share(self, task: BatchTask) -> Any:
        """Broadcast the task once; user code inside it travels as cloudpickle bytes."""
        from pyspark import cloudpickle

        for function in (task.simulate, task.distance):
            module = _user_module(function)
            if module is not None:
                cloudpickle.register_pickle_by_value(module)
        return self.spark.sparkContext.broadcast(cloudpickle.dumps(task))

    def run(
        self, shared: Any, batches: range, best: Optional[int] = None, description: str = ""
    ) -> pd.DataFrame:
        """Run ``batches`` as one Spark job and bring the kept rows to the driver."""
        task = load_task(shared)
        parts = max(1, min(self.parallelism, len(batches)))
        sc = self.spark.sparkContext
        sc.setJobDescription(description or None)
        try:
            if task.vectorized:
                ids = self.spark.range(batches.start, batches.stop, 1, numPartitions=parts)
                rows = ids.mapInPandas(partial(_map_frames, shared, best), row_schema(task.names))
                frame = rows.toPandas()
            else:
                rdd = sc.parallelize(batches, parts).mapPartitions(
                    partial(_map_partition, shared, best)
                )
                frames = rdd.collect()
                frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        except Exception as exc:
            raise executor_error(exc) from None
        finally:
            sc.setJobDescription(None)
        return frame

    def release(self, shared: Any) -> None:
        """Free the broadcast on the driver and the executors."""
        shared.destroy()


def _user_module(function: Any) -> Any:
    """The module of a user's function if executors may not be able to import it.

    Functions of ``__main__`` (scripts, notebooks) are pickled by value anyway, and installed
    packages are importable everywhere; a user's own module beside the script is neither, so
    it is sent by value too.
    """
    name = getattr(function, "__module__", None) or type(function).__module__
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None) or ""
    installed = any(part in path for part in ("site-packages", "dist-packages"))
    if module is None or not path or installed or name == "__main__" or name.startswith("abcspark"):
        return None
    return module


def executor_error(exc: Exception) -> Exception:
    """Turn an executor's traceback back into the abcspark error it carries, if any."""
    text = str(exc)
    found = re.findall(r"SimulationError: (.+)", text)
    if found:
        log.debug("executor failure: %s", text)
        return SimulationError(found[-1].strip())
    return exc
