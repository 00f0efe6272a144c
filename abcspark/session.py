"""Which SparkSession a run uses: the given one, else the active one, else an embedded local[*].

The active session is the ``spark`` of the pyspark shell, of a notebook on EMR or Databricks
(a Spark Connect one there: :mod:`abcspark.connect`), or of a spark-submit script. Without one,
a newcomer still needs no cluster: abcspark starts Spark in this process with ``local[*]``.
That embedded session serves only this process, so every port it opens listens on 127.0.0.1,
and Spark's web UI (no authentication, and it can kill jobs) is off unless asked for with
``ui=True`` or ``ABCSPARK_UI=1``.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Optional

from abcspark import connect, jvm_archive
from abcspark._version import release
from abcspark.jvm_jit import jit_options
from abcspark.warm_up import warm_up, worker_settings

log = logging.getLogger("abcspark")

ARROW_SETTINGS = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
}
LOOPBACK = "127.0.0.1"
UI_VARIABLE = "ABCSPARK_UI"
_UI_WORDS = {"1": True, "true": True, "yes": True, "on": True}
_UI_WORDS.update({"0": False, "false": False, "no": False, "off": False})
# The master URLs SparkSubmit and SparkContext parse (Mesos only before Spark 4 removed it).
_MASTER_FORMS = [
    r"local(\[([1-9]\d*|\*)(\s*,\s*\d+)?\])?",
    r"local-cluster\[\s*[1-9]\d*\s*,\s*[1-9]\d*\s*,\s*[1-9]\d*\s*\]",
    r"spark://(\[[0-9a-fA-F:.]+\]|[^\s/:,\[\]]+):\d+(,(\[[0-9a-fA-F:.]+\]|[^\s/:,\[\]]+):\d+)*",
    r"yarn",
    r"k8s://\S+",
]
_SHIPPED: set = set()


def java_executable() -> Optional[str]:
    """The ``java`` that Spark will start: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home, "bin", "java")
        return str(candidate) if candidate.exists() else None
    return shutil.which("java")


def check_master(master: Any, name: str = "master") -> str:
    """``master`` if it has the form of a Spark master URL, else a one-line ``ValueError``.

    Spark itself reports a bad master only after its JVM has started, as a Java stack trace.

    Examples
    --------
    >>> check_master("local[4]")
    'local[4]'
    """
    forms = list(_MASTER_FORMS)
    if _spark_major() < 4:
        forms.append(r"mesos://\S+")
    if not isinstance(master, str) or not any(re.fullmatch(form, master) for form in forms):
        raise ValueError(
            f"{name} must be a Spark master URL such as local[*], local[N], spark://host:port, "
            f"yarn or k8s://https://host:port (got {master!r}); see https://spark.apache.org/"
            "docs/latest/submitting-applications.html#master-urls, or leave it out to use the "
            "active session or an embedded local[*]."
        )
    return master


def _spark_major() -> int:
    try:
        import pyspark
    except ImportError:
        return 4
    return release(pyspark.__version__)[0]


def ui_choice(ui: Any = None) -> Optional[bool]:
    """Spark's web UI asked for: ``ui`` if given, else ``$ABCSPARK_UI``, else None (not asked).

    Examples
    --------
    >>> ui_choice(True)
    True
    """
    if ui is not None:
        if not isinstance(ui, bool):
            raise TypeError(
                f"ui must be True, False or None (got {ui!r} that is a {type(ui)}); pass "
                "ui=True for Spark's web UI on 127.0.0.1."
            )
        return ui
    value = os.environ.get(UI_VARIABLE, "").strip()
    if not value:
        return None
    if value.lower() not in _UI_WORDS:
        raise ValueError(
            f"{UI_VARIABLE} must be 1 or 0 (got {value!r}); set {UI_VARIABLE}=1 for Spark's web "
            "UI on 127.0.0.1, or unset it."
        )
    return _UI_WORDS[value.lower()]


def get_spark(spark: Any = None, master: Optional[str] = None, ui: Optional[bool] = None) -> Any:
    """Return the SparkSession to run on.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession, optional
        Used as given: classic or Spark Connect (``SparkSession.builder.remote(url)``).
    master : str, optional
        Master URL for a new session (e.g. ``spark://127.0.0.1:7077``); default ``local[*]``.
    ui : bool, optional
        Spark's web UI for a session started here. It has no authentication and can kill jobs,
        so on a local master it is off unless ``ui=True`` (or the environment variable
        ``ABCSPARK_UI=1``), and then it listens on 127.0.0.1 only. A given or active session is
        used as it is.

    Returns
    -------
    pyspark.sql.SparkSession

    Raises
    ------
    ImportError
        If pyspark is not installed.
    OSError
        If no Java can be found to start Spark.
    ValueError
        If ``master`` is not a Spark master URL, or the UI cannot be kept on 127.0.0.1.
    """
    if spark is None:
        if master is not None:
            check_master(master)
        if ui is not None:
            ui_choice(ui)  # the argument now; $ABCSPARK_UI only if a session is started here
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise ImportError(
                "pyspark is not installed; pip install 'abcspark[spark]', or pass "
                "engine='numpy' to run without Spark."
            ) from None
        spark = None if master else connect.active_session()
        if spark is None:
            spark = _embedded(SparkSession, master, ui)
    if not connect.is_connect(spark):  # Connect always uses Arrow; Databricks refuses these
        for key, value in ARROW_SETTINGS.items():
            spark.conf.set(key, value)
    ship_package(spark)
    return spark


def _embedded(session_class: Any, master: Optional[str], ui: Optional[bool] = None) -> Any:
    """A new session on ``master``, else spark-submit's or spark-defaults' master, else local[*]."""
    if java_executable() is None:
        where = f"JAVA_HOME={os.environ['JAVA_HOME']}" if "JAVA_HOME" in os.environ else "PATH"
        raise OSError(
            f"Spark needs Java 17 or 21, and none was found on {where}; install one "
            "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME, or pass "
            "engine='numpy' to run without Spark."
        )
    asked = ui_choice(ui)
    builder = session_class.builder.appName("abcspark")
    # abcspark's own progress display replaces Spark's stage bar, which Jupyter and terminals
    # would otherwise show interleaved with it.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if master is None:
        master = _configured_master(loopback_ui=bool(asked))
    builder = builder.master(master)
    if master.startswith("local"):
        # An embedded session serves only this process: keep it off the network.
        builder = builder.config("spark.driver.host", LOOPBACK)
        builder = builder.config("spark.driver.bindAddress", LOOPBACK)
        builder = builder.config("spark.ui.enabled", "true" if asked else "false")
        _start_jvm(loopback_ui=bool(asked))
        if asked:
            _check_ui_address(ui)
        # Workers of a local session must run this Python (a venv), not whatever is on PATH;
        # pyspark 4.3 reads the worker Python from the environment, not from the setting.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        local = {"spark.pyspark.python": os.environ["PYSPARK_PYTHON"], **worker_settings()}
        builder = builder.config(map=local)
    elif asked is not None:
        builder = builder.config("spark.ui.enabled", "true" if asked else "false")
    for key, value in ARROW_SETTINGS.items():
        builder = builder.config(key, value)
    log.info("starting a Spark session (master %s)", master)
    spark = builder.getOrCreate()
    if master.startswith("local"):
        warm_up(spark)  # the Python workers start while the driver prepares the run
    return spark


def _configured_master(loopback_ui: bool) -> str:
    """spark-submit's or spark-defaults' master, else local[*].

    Only the JVM's SparkConf holds them; a SparkConf made before the JVM is up is empty, so
    the JVM starts (or is joined) first.
    """
    from pyspark import SparkConf, SparkContext

    fresh = SparkContext._gateway is None
    injected = _start_jvm(loopback_ui)
    master = SparkConf().get("spark.master", "local[*]")
    if fresh and injected and not master.startswith("local"):
        # SPARK_LOCAL_IP would also make a cluster's driver advertise 127.0.0.1 to executors.
        gateway = SparkContext._gateway
        SparkContext._gateway = SparkContext._jvm = None
        gateway.shutdown()
        if gateway.proc is not None:
            gateway.proc.stdin.close()  # the gateway JVM exits when its standard input ends
            gateway.proc.wait(timeout=60)
        _start_jvm(loopback_ui=False)
    return master


def _start_jvm(loopback_ui: bool) -> bool:
    """Start Spark's JVM unless one runs; return whether abcspark gave it SPARK_LOCAL_IP.

    A JVM may already run: spark-submit's, or one left by an earlier session of this process.
    Spark's web UI binds to ``$SPARK_LOCAL_IP`` of its JVM, else to every interface; unlike the
    driver's ports it ignores ``spark.driver.bindAddress`` (WebUI.bind up to Spark 4.3). So a
    UI on 127.0.0.1 needs the variable in the JVM's environment, set only for that launch.
    A JVM launched here maps (or records) the class archive of :mod:`abcspark.jvm_archive` and
    runs the quick JIT of :mod:`abcspark.jvm_jit`.
    """
    from pyspark import SparkContext

    launches = SparkContext._gateway is None and "PYSPARK_GATEWAY_PORT" not in os.environ
    inject = loopback_ui and launches and "SPARK_LOCAL_IP" not in os.environ
    if inject:
        os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    try:
        if launches:
            jvm_archive.launch(java_executable(), jit_options())
        else:
            SparkContext._ensure_initialized()
    finally:
        if inject:
            del os.environ["SPARK_LOCAL_IP"]
    return inject


def _check_ui_address(ui: Optional[bool]) -> None:
    """Refuse a UI that would listen on every interface of a JVM started without SPARK_LOCAL_IP."""
    from pyspark import SparkContext

    if SparkContext._jvm.java.lang.System.getenv("SPARK_LOCAL_IP") is None:
        asked = "ui=True" if ui else f"{UI_VARIABLE}={os.environ.get(UI_VARIABLE)}"
        raise ValueError(
            "ui must be off once Spark's JVM runs without SPARK_LOCAL_IP, as its web UI would "
            f"listen on every network interface (got {asked}); start Python with "
            "SPARK_LOCAL_IP=127.0.0.1 to have the UI on 127.0.0.1 only."
        )


def ship_package(spark: Any) -> None:
    """Send this abcspark to the executors of a non-local cluster, once per application.

    Executors import abcspark to run batches. On a cluster without a bootstrap it is not
    installed there, so the driver's copy is zipped and added with ``addPyFile``; on one that
    has it, the driver's version wins, which keeps driver and executors consistent. Spark
    Connect has no ``addPyFile``: see :func:`abcspark.connect.ship_package`.
    """
    if connect.is_connect(spark):
        return connect.ship_package(spark, _package_archive)
    sc = spark.sparkContext
    if sc.master.startswith("local") or sc.applicationId in _SHIPPED:
        return
    sc.addPyFile(_package_archive())
    _SHIPPED.add(sc.applicationId)
    log.info("shipped abcspark to the executors of %s", sc.master)


def _package_archive() -> str:
    """This abcspark zipped, in a folder that lives until this process ends."""
    package = Path(__file__).parent
    folder = tempfile.mkdtemp(prefix="abcspark-")
    # Executors fetch the file when their first task needs it, so it lives until this process.
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    archive = Path(folder) / "abcspark.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in package.rglob("*"):
            if "__pycache__" not in path.parts and path.is_file():
                zf.write(path, Path("abcspark") / path.relative_to(package))
    return str(archive)
