"""Nested simulators on Spark: ranks as barrier-mode tasks, or threads within one task.

:class:`BarrierEngine` runs a nested simulator (see :func:`abcspark.nested` and
:mod:`abcspark.nested`) in Spark's barrier execution mode: each model instance is
``process_per_model`` gang-scheduled tasks, and their :class:`BarrierCommunicator` exchanges
pickled messages through ``BarrierTaskContext.allGather``.

Threads or ranks? A simulator that parallelizes within one machine is simpler as threads in one
task: start the session with ``spark.task.cpus=c`` so that each task owns ``c`` cores, and size
the simulator's thread pool with :func:`task_cpus`. Ranks are for model instances that need
several processes, possibly on several executors. Barrier mode needs all tasks of a job running
at once, so ``process_per_model`` times ``parallelism`` task slots, and it does not run with
dynamic allocation (EMR turns it on by default: set ``spark.dynamicAllocation.enabled=false``).
"""

from __future__ import annotations

import base64
import os
import pickle
from dataclasses import replace
from functools import partial
from typing import Any, Iterator, Optional

import pandas as pd

from abcspark.batch_loop import run_batches
from abcspark.communicators import DONE, Communicator
from abcspark.connect import NESTED_INSTEAD, require_classic
from abcspark.engines.spark import SparkEngine, executor_error, job_named, load_task
from abcspark.nested import Ranks, check_size


class BarrierCommunicator(Communicator):
    """The communicator of one model instance in a Spark barrier stage.

    Task ``p`` of the stage is rank ``p % process_per_model`` of instance
    ``p // process_per_model``. ``BarrierTaskContext.allGather`` synchronizes the whole stage,
    so every task takes part in every exchange: messages are pickled, and each instance reads
    only those of its own ranks. A task whose batches are over keeps answering with a
    ``done`` message (:meth:`finish`) until every task is done, so instances that make
    different numbers of calls never deadlock.

    Parameters
    ----------
    context : pyspark.BarrierTaskContext
        The task's barrier context.
    process_per_model : int
        Ranks per model instance.
    """

    def __init__(self, context: Any, process_per_model: int):
        self.context, self.size = context, process_per_model
        self.instance, self.rank = divmod(context.partitionId(), process_per_model)

    def _post(self, message: Any) -> list:
        text = DONE if message == DONE else _encode(message)
        return self.context.allGather(text)

    def _members(self, messages: list) -> list:
        first = self.instance * self.size
        mine = messages[first : first + self.size]
        return [text if text == DONE else _decode(text) for text in mine]


def _encode(message: Any) -> str:
    return base64.b64encode(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)).decode()


def _decode(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))


def task_cpus() -> int:
    """CPU cores the calling code may use: ``spark.task.cpus`` inside a Spark task.

    Outside Spark tasks (the driver, the NumPy and MPI engines) it is the cores this process may
    run on. A simulator that runs threads sizes its pool with it; to keep results independent
    of the thread count, split the work into a fixed number of parts, each drawing from its own
    :func:`~abcspark.rng.split_rng` generator.

    Examples
    --------
    >>> task_cpus() >= 1
    True
    """
    try:
        from pyspark import TaskContext
    except ImportError:
        context = None
    else:
        context = TaskContext.get()
    if context is not None:
        return int(context.cpus())
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class BarrierEngine(SparkEngine):
    """Run batches of a nested simulator on Spark in barrier execution mode.

    Each model instance is ``process_per_model`` tasks gang-scheduled together. They run the
    same batches in the same order, each rank calling ``simulate(theta, rng, comm=comm)``;
    every rank scores rank 0's statistics, and only rank 0's rows are returned, so the result is
    the one any other engine gives.

    Each call of the simulator costs its own collectives plus one exchange that shares rank 0's
    statistics and any rank's error, and each job one more at its end. A barrier exchange
    (``allGather``) returns at the next whole second, since a Spark task polls for it once a
    second; so give nested simulators batches (``batch_size``) that compute for much longer.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session to run on.
    process_per_model : int
        Ranks (tasks) per model instance.
    parallelism : int, optional
        Model instances per job; default as many as the cluster's task slots hold.

    Raises
    ------
    ValueError
        If the cluster has fewer task slots (``defaultParallelism // spark.task.cpus``) than
        ``process_per_model`` times ``parallelism``, or ``spark`` is a Spark Connect session
        (barrier mode needs RDDs; the message says what to do instead).
    """

    name = "spark-barrier"

    def __init__(self, spark: Any, process_per_model: int, parallelism: Optional[int] = None):
        size = check_size(process_per_model)
        what = f"a nested simulator (process_per_model={size}, Spark's barrier mode)"
        require_classic(spark, what, NESTED_INSTEAD)
        sc = spark.sparkContext
        cpus = int(sc.getConf().get("spark.task.cpus", "1"))
        slots = sc.defaultParallelism // cpus
        cluster = f"defaultParallelism {sc.defaultParallelism}, spark.task.cpus {cpus}"
        if size > slots:
            raise ValueError(
                f"process_per_model={size} needs {size} task slots at once (got {slots}: "
                f"{cluster}); add executor cores, or lower process_per_model."
            )
        if parallelism is not None and parallelism * size > slots:
            raise ValueError(
                f"parallelism={parallelism} model instances of {size} ranks need "
                f"{parallelism * size} task slots at once (got {slots}: {cluster}); pass "
                f"parallelism={slots // size} or less."
            )
        super().__init__(spark, parallelism or slots // size)
        self.process_per_model = size

    def run(
        self, shared: Any, batches: range, best: Optional[int] = None, description: str = ""
    ) -> pd.DataFrame:
        """Run ``batches`` as one barrier job and bring rank 0's rows to the driver."""
        instances = max(1, min(self.parallelism, len(batches)))
        tasks = instances * self.process_per_model
        try:
            with job_named(self.spark, description):
                rdd = self.spark.sparkContext.parallelize(range(tasks), tasks).barrier()
                work = partial(_run_ranks, shared, batches, instances, self.process_per_model, best)
                frames = rdd.mapPartitions(work).collect()
        except Exception as exc:
            raise executor_error(exc, description) from exc
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _run_ranks(
    shared: Any,
    batches: range,
    instances: int,
    process_per_model: int,
    best: Optional[int],
    partition: Iterator[int],
) -> Iterator[pd.DataFrame]:
    from pyspark import BarrierTaskContext

    comm = BarrierCommunicator(BarrierTaskContext.get(), process_per_model)
    task = load_task(shared)
    if isinstance(task.simulate, Ranks):
        task = replace(task, simulate=task.simulate.on(comm))
    for frame in run_batches(task, iter(batches[comm.instance :: instances]), best):
        if comm.rank == 0:
            yield frame
    comm.finish()
