"""Start an embedded session's Python workers in the background, while the driver works.

A session's first Python job pays for its Python workers: the worker daemon starts, forks one
worker per core, and each imports pandas and pyarrow. It also pays for the JVM planning its first
query. Run one after the other (the run's first generation does both), they add up; a trivial job
sent from a background thread as soon as the session exists pays the workers' start while the
driver does its dry run and the JVM plans the first generation, so they overlap. The workers stay
up (``spark.python.worker.reuse``, on by default) for the run's jobs. Nothing of the run changes:
the job draws no random numbers and returns nothing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterator

import pandas as pd

from abcspark.connect import default_parallelism

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
        slots = max(1, default_parallelism(spark))  # a SparkContext's, or a Connect session's
        spark.range(0, slots, 1, slots).mapInPandas(_nothing, "id long").collect()
    except Exception as exc:  # noqa: BLE001 (a stopped session; the run will say what is wrong)
        log.debug("warming up the Python workers failed: %s", exc)


def _nothing(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for frame in frames:
        yield frame.iloc[:0]
