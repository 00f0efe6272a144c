"""An embedded session's Python workers: started in the background, from a compiled daemon.

A session's first Python job pays for its Python workers: the worker daemon starts, forks one
worker per core, and each imports pandas. A trivial job sent from a background thread as soon
as the session exists pays that while the driver does its dry run and pilot, so they overlap.
It runs through the RDD API, as a run's small rounds do (:class:`abcspark.engines.SparkEngine`),
so it starts the workers those rounds use; Spark SQL's Python jobs have a daemon of their own.
The workers stay up (``spark.python.worker.reuse``, on by default) for the run's jobs. Nothing
of the run changes: the job draws no random numbers and returns nothing.

Two settings of the embedded session serve its workers (:func:`worker_settings`):

- their daemon is :mod:`abcspark.worker_daemon` where pip's pyspark is installed: pyspark's own
  daemon, importing the installed, compiled pyspark instead of compiling Spark's zipped copy
  again at each start (0.7 s of the first Python job here);
- on Spark 4.1 and later, the JVM talks to them over Unix domain sockets, in a folder only this
  user can enter, instead of TCP on 127.0.0.1: there every Python task waited about 40 ms for
  its input, the JVM's small writes held back until the worker's delayed acknowledgement
  (Nagle's algorithm), so a task of a few milliseconds took 45-55 ms (``benchmarks/startup.py``).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from abcspark._version import release

log = logging.getLogger("abcspark")

DAEMON_SETTING = "spark.python.daemon.module"
SOCKET_SETTING, SOCKET_FOLDER = (
    "spark.python.unix.domain.socket.enabled",
    "spark.python.unix.domain.socket.dir",
)
SOCKET_PATH_LENGTH = 100
"""Longest Unix socket path we make: the system's limit is 104 (macOS) to 108 (Linux) bytes."""


def worker_settings() -> Dict[str, str]:
    """The embedded session's settings for its Python workers; none the user has already made.

    Call it once Spark's JVM runs, which holds spark-submit's and ``spark-defaults.conf``'s
    settings. The daemon is given when the workers run this Python (``PYSPARK_PYTHON`` unset or
    the same) with pip's pyspark, whose Spark home is the package's own folder and holds
    ``pyspark.zip``; Unix domain sockets where pyspark is 4.1 or later and the platform has them.
    """
    import pyspark
    from pyspark import SparkConf

    configured, settings = SparkConf(), {}
    this_python = os.environ.get("PYSPARK_PYTHON", sys.executable) == sys.executable
    if not configured.contains(DAEMON_SETTING) and this_python and _pip_pyspark():
        settings[DAEMON_SETTING] = "abcspark.worker_daemon"
    chosen = configured.contains(SOCKET_SETTING) or configured.contains(SOCKET_FOLDER)
    if not chosen and release(pyspark.__version__) >= (4, 1) and hasattr(socket, "AF_UNIX"):
        folder = _socket_folder()
        if folder is not None:
            settings.update({SOCKET_SETTING: "true", SOCKET_FOLDER: folder})
    return settings


def _pip_pyspark() -> bool:
    """Whether pyspark is pip's: its Spark home is its own folder, with Spark's zipped copy."""
    import pyspark

    try:  # pyspark's own lookup, as its launcher uses; private, so its absence means no
        from pyspark.find_spark_home import _find_spark_home
    except ImportError:
        return False
    home = Path(_find_spark_home()).resolve()
    pip = home == Path(pyspark.__file__).parent.resolve()
    return pip and (home / "python" / "lib" / "pyspark.zip").exists()


def _socket_folder() -> Optional[str]:
    """A new folder only this user may enter, removed at exit; None if its paths are too long."""
    folder = tempfile.mkdtemp(prefix="abcspark-")  # mode 0700
    longest = os.path.join(folder, f".{uuid.uuid4()}.sock")  # as Spark names its sockets
    if len(longest.encode()) > SOCKET_PATH_LENGTH:
        os.rmdir(folder)
        return None
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


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
