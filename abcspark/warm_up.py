"""Start an embedded session's Python workers in the background, while the driver works.

A session's first Python job pays for its Python workers: the worker daemon starts, forks one
worker per core, and each imports pandas. A trivial job sent from a background thread as soon
as the session exists pays that while the driver does its dry run and pilot, so they overlap.
It runs through the RDD API, as a run's small rounds do (:class:`abcspark.engines.SparkEngine`),
so it starts the workers those rounds use; Spark SQL's Python jobs have a daemon of their own.
The workers stay up (``spark.python.worker.reuse``, on by default) for the run's jobs. Nothing
of the run changes: the job draws no random numbers and returns nothing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterator, List

log = logging.getLogger("abcspark")


def warm_up(spark: Any) -> threading.Thread:
    """Send a trivial Python job to every core of ``spark`` from a background thread."""
    thread = threading.Thread(
        target=_first_python_job, args=(spark,), name="abcspark-warm-up", daemon=True
    )
    thread.start()
    return thread


def _first_python_job(spark: Any) -> None:
    try:
        slots = max(1, spark.sparkContext.defaultParallelism)
        spark.sparkContext.parallelize(range(slots), slots).mapPartitions(_nothing).collect()
    except Exception as exc:  # noqa: BLE001 (a stopped session; the run will say what is wrong)
        log.debug("warming up the Python workers failed: %s", exc)


def _nothing(ids: Iterator[int]) -> List[int]:
    import pandas  # noqa: F401 (the batches' frames need it; import it now, once per worker)

    return []
