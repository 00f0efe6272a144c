"""Engines: where the batches of a generation run.

An engine is any object with the :class:`Engine` interface. It takes a
:class:`~abcspark.batch.BatchTask` and a range of batch numbers and returns the rows of
:mod:`abcspark.rows` (kept particles and one tally row per batch); only those reach the driver.
Algorithms never know which engine runs them, so every engine gives the same bits.

=========  ==========================================================================
``numpy``  :class:`LocalEngine`: this process, the reference (:mod:`.local`)
``spark``  :class:`SparkEngine`: ``mapInPandas`` through Arrow, or the RDD path for
           per-parameter simulators (:mod:`.spark`); :class:`BarrierEngine` for nested
           simulators, in Spark's barrier mode (:mod:`.barrier`)
``mpi``    :class:`MPIEngine`: rank 0 drives, the other ranks simulate (:mod:`.mpi`)
=========  ==========================================================================

A new engine (Dask, Ray) is one module with a class of this interface and one line in
``REGISTRY``; ``engine=`` also takes such an object directly.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Protocol, runtime_checkable

import pandas as pd

from abcspark.batch import BatchTask
from abcspark.engines.barrier import BarrierEngine, task_cpus
from abcspark.engines.local import LocalEngine
from abcspark.engines.mpi import MPIEngine
from abcspark.engines.spark import SparkEngine

__all__ = [
    "REGISTRY",
    "BarrierEngine",
    "Engine",
    "LocalEngine",
    "MPIEngine",
    "SparkEngine",
    "make_engine",
    "task_cpus",
]


@runtime_checkable
class Engine(Protocol):
    """What an algorithm needs of an engine.

    Attributes
    ----------
    name : str
        Recorded in a posterior's metadata.
    parallelism : int
        Batches it runs at once; the driver sizes rounds by it.
    """

    name: str
    parallelism: int

    def share(self, task: BatchTask) -> Any:
        """Make ``task`` available to the workers once per generation; return a handle."""

    def run(
        self, shared: Any, batches: range, best: Optional[int] = None, description: str = ""
    ) -> pd.DataFrame:
        """Run ``batches`` of the shared task; with ``best``, keep only that many particles."""

    def release(self, shared: Any) -> None:
        """Free what :meth:`share` made."""


def _spark(spark: Any, parallelism: Optional[int], process_per_model: int) -> Engine:
    from abcspark.session import get_spark  # starts the JVM: only when Spark is asked for

    if process_per_model > 1:
        return BarrierEngine(get_spark(spark), process_per_model, parallelism)
    return SparkEngine(get_spark(spark), parallelism)


REGISTRY: Dict[str, Callable[[Any, Optional[int], int], Engine]] = {
    "spark": _spark,
    "numpy": lambda spark, parallelism, process_per_model: LocalEngine(),
    "mpi": lambda spark, parallelism, process_per_model: MPIEngine(process_per_model),
}
"""Engine names and how to build each from ``(spark, parallelism, process_per_model)``."""


def check_engine(engine: Any) -> Any:
    """``engine`` if it is a registered name or an :class:`Engine`, else a clear error."""
    if isinstance(engine, str):
        if engine not in REGISTRY:
            raise ValueError(
                f"engine must be one of {tuple(REGISTRY)} or an engine object (got {engine!r})."
            )
    elif not isinstance(engine, Engine):
        raise TypeError(
            f"engine must be one of {tuple(REGISTRY)} or an object with share, run, release, "
            f"parallelism and name (got {type(engine)}); see abcspark.engines.Engine."
        )
    return engine


def make_engine(
    engine: Any, spark: Any, parallelism: Optional[int], process_per_model: int
) -> Engine:
    """The engine a run uses: a registered one built now, or the object given.

    Raises
    ------
    ValueError
        If an engine object's ``process_per_model`` is not the simulator's.
    """
    if isinstance(engine, str):
        return REGISTRY[engine](spark, parallelism, process_per_model)
    engine_size = getattr(engine, "process_per_model", process_per_model)
    if engine_size != process_per_model:
        raise ValueError(
            f"the engine's process_per_model must be the simulator's (got {engine_size} and "
            f"{process_per_model}); decorate the simulator with abcspark.nested("
            f"process_per_model={engine_size}), or build the engine with "
            f"process_per_model={process_per_model}."
        )
    return engine
