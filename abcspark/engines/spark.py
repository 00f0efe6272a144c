"""The Spark engine: batch ids as a ``spark.range`` DataFrame, then ``mapInPandas``.

Vectorized simulators run inside ``mapInPandas`` through Arrow. Simulators that take one
parameter vector and return any Python object run on the RDD path (``parallelize`` /
``mapPartitions``), and so does a small round of a vectorized one on a classic session, where
what the user waits for is the job's own cost, not the simulations (see :class:`SparkEngine`).
Both paths run the same batches, so the results are the same bit for bit. The task is
broadcast once per generation; only kept rows come back.
On Spark Connect (:mod:`abcspark.connect`) there is no broadcast: the task's cloudpickle bytes
travel in each job's ``mapInPandas`` closure, and jobs carry a tag instead of a description.
"""

from __future__ import annotations

import logging
import re
import sys
from contextlib import contextmanager
from functools import partial
from typing import Any, Iterator, Optional

import pandas as pd

from abcspark.batch import BatchTask, SimulationError
from abcspark.batch_loop import run_batches
from abcspark.connect import (
    VECTORIZED_INSTEAD,
    default_parallelism,
    is_connect,
    require_classic,
)
from abcspark.rows import failed_batches, row_schema

log = logging.getLogger("abcspark")

ARROW_FROM = 1_000_000
"""Rounds of at least this many proposals run through ``mapInPandas`` on a classic session."""


def _map_frames(shared: Any, best: Optional[int], frames: Iterator[pd.DataFrame]):
    task = load_task(shared)
    ids = (int(b) for frame in frames for b in frame["id"])
    yield from run_batches(task, ids, best, guard=_retried)


def _map_partition(shared: Any, best: Optional[int], ids: Iterator[int]):
    yield from run_batches(load_task(shared), (int(b) for b in ids), best, guard=_retried)


def _retried() -> bool:
    """Whether this Spark task is a retry: an error that comes back then is deterministic.

    The first attempt's error fails the task, so Spark retries it and a transient fault (a
    lost file, a flaky network) recovers; the retry's error ends the partition with a marker
    and the driver reports it, instead of Spark trying ``spark.task.maxFailures`` times.
    """
    from pyspark import TaskContext

    context = TaskContext.get()
    return context is not None and context.attemptNumber() > 0


def load_task(shared: Any) -> BatchTask:
    """The task of what :meth:`SparkEngine.share` made: a broadcast, or bytes on Spark Connect."""
    from pyspark import cloudpickle

    return cloudpickle.loads(shared if isinstance(shared, bytes) else shared.value)


class SparkEngine:
    """Run batches on Spark.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session to run on.
    parallelism : int, optional
        Partitions per job (ABCpy's and Spark's word); default the session's default
        parallelism (:func:`abcspark.connect.default_parallelism`, also on Spark Connect).
    arrow_from : int, optional
        Rounds of a vectorized simulator with at least this many proposals run through
        ``mapInPandas`` and Arrow; smaller ones through the RDD API (always ``mapInPandas``
        on Spark Connect, which has no RDDs). The first ``mapInPandas`` job of a session
        waits about 1.5 s for Spark SQL to plan it before its Python workers start, and each
        one costs about 0.06 s more than an RDD job; on 1e7 simulations the two are level
        (``benchmarks/startup.py``). Results are the same either way. Default
        :data:`ARROW_FROM` (1,000,000); 0 sends every round through ``mapInPandas``.
    """

    name = "spark"

    def __init__(
        self, spark: Any, parallelism: Optional[int] = None, arrow_from: Optional[int] = None
    ):
        arrow_from = ARROW_FROM if arrow_from is None else arrow_from
        if isinstance(arrow_from, bool) or not isinstance(arrow_from, int) or arrow_from < 0:
            raise ValueError(
                f"arrow_from must be a whole number of proposals, 0 or more (got {arrow_from!r})"
            )
        self.spark = spark
        self.parallelism = parallelism or default_parallelism(spark)
        self.arrow_from = arrow_from

    def share(self, task: BatchTask) -> Any:
        """Broadcast the task once; user code inside it travels as cloudpickle bytes.

        On Spark Connect, which has no broadcast, the bytes themselves are the handle: each job
        carries them in its ``mapInPandas`` closure. The RDD path is refused there, before any
        job runs.
        """
        from pyspark import cloudpickle

        if not task.vectorized:
            require_classic(self.spark, "vectorized=False (the RDD path)", VECTORIZED_INSTEAD)

        inner = getattr(task.simulate, "simulators", ())  # ModelChoice's models' simulators
        for function in (task.simulate, task.distance, *inner):
            module = _user_module(function)
            if module is not None:
                cloudpickle.register_pickle_by_value(module)
        try:
            payload = cloudpickle.dumps(task)
        except Exception as exc:
            raise TypeError(
                f"simulate and distance must be picklable to run on Spark executors (got "
                f"{type(exc).__name__}: {exc}); do not capture locks, open files, sockets or "
                "Spark sessions in them, or pass engine='numpy'."
            ) from exc
        return payload if is_connect(self.spark) else self.spark.sparkContext.broadcast(payload)

    def run(
        self, shared: Any, batches: range, best: Optional[int] = None, description: str = ""
    ) -> pd.DataFrame:
        """Run ``batches`` as one Spark job and bring the kept rows to the driver."""
        task = load_task(shared)
        parts = max(1, min(self.parallelism, len(batches)))
        large = len(batches) * task.batch_size >= self.arrow_from
        try:
            with job_named(self.spark, description):
                if task.vectorized and (large or is_connect(self.spark)):
                    ids = self.spark.range(batches.start, batches.stop, 1, numPartitions=parts)
                    width = len(task.observed) if task.keep_statistics else 0
                    rows = ids.mapInPandas(
                        partial(_map_frames, shared, best), row_schema(task.names, width)
                    )
                    frame = rows.toPandas()
                    frame.attrs.clear()  # Connect's query metrics: not JSON, so not for Parquet
                else:
                    rdd = self.spark.sparkContext.parallelize(batches, parts)
                    frames = rdd.mapPartitions(partial(_map_partition, shared, best)).collect()
                    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        except Exception as exc:
            raise executor_error(exc, description) from exc
        for batch in failed_batches(frame):
            rerun_on_driver(task, batch)
        return frame

    def release(self, shared: Any) -> None:
        """Free the broadcast on the driver and the executors (nothing to free on Connect)."""
        if not isinstance(shared, bytes):
            shared.destroy()


@contextmanager
def job_named(spark: Any, description: str) -> Iterator[None]:
    """Name the jobs run inside for the Spark UI: a job description, or a tag on Spark Connect.

    Connect has no job descriptions; its tags (no commas allowed) mark the jobs, and
    ``spark.interruptTag(tag)`` cancels them from another thread.
    """
    if is_connect(spark):
        tag = (description or "abcspark").replace(",", ";")
        spark.addTag(tag)
        try:
            yield
        finally:
            spark.removeTag(tag)
        return
    sc = spark.sparkContext
    sc.setJobDescription(description or None)
    try:
        yield
    finally:
        sc.setJobDescription(None)


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


def rerun_on_driver(task: BatchTask, batch: int) -> None:
    """Run a batch that raised twice on executors again here, to raise its error.

    Randomness is keyed by batch, so a deterministic error comes back with its message; one
    that does not (the executors' memory, libraries or disk) is reported as such.
    """
    task.columns(batch)
    raise SimulationError(
        f"batch {batch} of generation {task.generation} raised on two task attempts on the "
        "executors but not when run again on the driver: the failure depends on the executors "
        "(memory, installed libraries, files); check the executors' logs."
    )


def executor_error(exc: Exception, description: str = "") -> Exception:
    """One clear abcspark error for a failed Spark job; the job's exception is its cause."""
    text = str(exc)
    log.debug("executor failure: %s", text)
    found = re.findall(r"SimulationError: (.+)", text)
    if found:
        return SimulationError(found[-1].strip())
    causes = re.findall(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$", text, re.MULTILINE)
    cause = f"{causes[-1][0]}: {causes[-1][1].strip()}" if causes else type(exc).__name__
    return SimulationError(
        f"a Spark job ({description or 'abcspark'}) failed on the executors ({cause}); a worker "
        "that exits or runs out of memory ends its tasks: see the executors' logs, or run "
        "with engine='numpy' to see the error in this process."
    )
