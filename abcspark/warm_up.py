"""An embedded session's Python workers: started in the background, from a compiled daemon.

A session's first Python job pays for its Python workers: the worker daemon starts, forks one
worker per core, and each imports pandas. A trivial job sent from a background thread as soon
as the session exists pays that while the driver does its dry run and pilot, so they overlap.
It runs through the RDD API, as a run's small rounds do (:class:`abcspark.engines.SparkEngine`),
so it starts the workers those rounds use; Spark SQL's Python jobs have a daemon of their own.
The workers stay up (``spark.python.worker.reuse``, on by default) for the run's jobs. Nothing
of the run changes: the job draws no random numbers and returns nothing.

The workers' daemon is :mod:`abcspark.worker_daemon` where :func:`daemon_settings` finds pip's
pyspark: pyspark's own daemon, but importing the installed, compiled pyspark rather than
compiling Spark's zipped copy again at each start.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

log = logging.getLogger("abcspark")

DAEMON_SETTING = "spark.python.daemon.module"


def daemon_settings() -> Dict[str, str]:
    """The embedded session's daemon setting, or none where it would not help or not fit.

    It is given when the workers run this Python (``PYSPARK_PYTHON`` unset or the same) with
    pip's pyspark, whose Spark home is the package's own folder and holds ``pyspark.zip``, and
    when no daemon module is configured already (spark-submit, ``spark-defaults.conf``). Call
    it once Spark's JVM runs, which holds those settings.
    """
    if os.environ.get("PYSPARK_PYTHON", sys.executable) != sys.executable:
        return {}
    import pyspark
    from pyspark import SparkConf
    from pyspark.find_spark_home import _find_spark_home

    home = Path(_find_spark_home()).resolve()
    pip = home == Path(pyspark.__file__).parent.resolve()
    if not pip or not (home / "python" / "lib" / "pyspark.zip").exists():
        return {}
    return (
        {} if SparkConf().contains(DAEMON_SETTING) else {DAEMON_SETTING: "abcspark.worker_daemon"}
    )


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
