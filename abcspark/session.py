"""Which SparkSession a run uses: the given one, else the active one, else an embedded local[*].

The active session is the ``spark`` of the pyspark shell, of a notebook on EMR, or of a
spark-submit script. Without one, a newcomer still needs no cluster: abcspark starts Spark in
this process with ``local[*]``.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger("abcspark")

ARROW_SETTINGS = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
}
_SHIPPED: set = set()


def java_executable() -> Optional[str]:
    """The ``java`` that Spark will start: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home, "bin", "java")
        return str(candidate) if candidate.exists() else None
    return shutil.which("java")


def get_spark(spark: Any = None, master: Optional[str] = None) -> Any:
    """Return the SparkSession to run on.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession, optional
        Used as given.
    master : str, optional
        Master URL for a new session (e.g. ``spark://127.0.0.1:7077``); default ``local[*]``.

    Returns
    -------
    pyspark.sql.SparkSession

    Raises
    ------
    ImportError
        If pyspark is not installed.
    OSError
        If no Java can be found to start Spark.
    """
    if spark is None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise ImportError(
                "pyspark is not installed; pip install 'abcspark[spark]', or pass "
                "engine='numpy' to run without Spark."
            ) from None
        spark = None if master else SparkSession.getActiveSession()
        if spark is None:
            spark = _embedded(SparkSession, master)
    for key, value in ARROW_SETTINGS.items():
        spark.conf.set(key, value)
    ship_package(spark)
    return spark


def _embedded(session_class: Any, master: Optional[str]) -> Any:
    """A new session on ``master``, else spark-submit's or spark-defaults' master, else local[*]."""
    if java_executable() is None:
        where = f"JAVA_HOME={os.environ['JAVA_HOME']}" if "JAVA_HOME" in os.environ else "PATH"
        raise OSError(
            f"Spark needs Java 17 or 21, and none was found on {where}; install one "
            "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME, or pass "
            "engine='numpy' to run without Spark."
        )
    from pyspark import SparkConf, SparkContext

    builder = session_class.builder.appName("abcspark")
    # abcspark's own progress display replaces Spark's stage bar, which Jupyter and terminals
    # would otherwise show interleaved with it.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if master is None:
        # Only the JVM's SparkConf holds spark-submit's --master and spark-defaults.conf; a
        # SparkConf made before the JVM is up is empty, so start (or join) the JVM first.
        SparkContext._ensure_initialized()
        master = SparkConf().get("spark.master", "local[*]")
    if master is not None:
        builder = builder.master(master)
    if master is not None and master.startswith("local"):
        # An embedded session serves only this process: keep it off the network.
        builder = builder.config("spark.driver.host", "127.0.0.1")
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1")
        # Workers of a local session must run this Python (a venv), not whatever is on PATH;
        # pyspark 4.3 reads the worker Python from the environment, not from the setting.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config(
            "spark.pyspark.python", os.environ.get("PYSPARK_PYTHON", sys.executable)
        )
    for key, value in ARROW_SETTINGS.items():
        builder = builder.config(key, value)
    log.info("starting a Spark session (master %s)", master or "from spark-submit")
    return builder.getOrCreate()


def ship_package(spark: Any) -> None:
    """Send this abcspark to the executors of a non-local cluster, once per application.

    Executors import abcspark to run batches. On a cluster without a bootstrap it is not
    installed there, so the driver's copy is zipped and added with ``addPyFile``; on one that
    has it, the driver's version wins, which keeps driver and executors consistent.
    """
    sc = spark.sparkContext
    if sc.master.startswith("local") or sc.applicationId in _SHIPPED:
        return
    package = Path(__file__).parent
    folder = tempfile.mkdtemp(prefix="abcspark-")
    # Executors fetch the file when their first task needs it, so it lives until this process.
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    archive = Path(folder) / "abcspark.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in package.rglob("*"):
            if "__pycache__" not in path.parts and path.is_file():
                zf.write(path, Path("abcspark") / path.relative_to(package))
    sc.addPyFile(str(archive))
    _SHIPPED.add(sc.applicationId)
    log.info("shipped abcspark to the executors of %s", sc.master)
