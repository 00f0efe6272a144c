"""Spark Connect: telling a Connect session from a classic one, and what differs on it.

A Spark Connect session (``SparkSession.builder.remote("sc://host:15002")``, Spark 3.4+; the
only kind on Databricks serverless and shared clusters) sends DataFrame plans to a server. It
has no SparkContext in this process, so no RDDs, ``sc.broadcast``, ``addPyFile`` or Hadoop
FileSystem, while ``mapInPandas`` runs as on a classic session. abcspark's DataFrame path runs
there unchanged and gives the same bits; what needs a SparkContext (the RDD path of
``vectorized=False``, barrier mode for nested simulators, ABCpy's backend, Hadoop URIs) is
refused by :func:`require_classic` before any Spark job, with the alternative to use.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable, Dict, Optional

log = logging.getLogger("abcspark")

_PARALLELISM: Dict[str, int] = {}
"""Default parallelism measured per Connect session id (see :func:`default_parallelism`)."""
_SHIPPED: set = set()
"""Ids of the Connect sessions this abcspark was added to (see :func:`ship_package`)."""
_CLASSIC = "pass a classic session (SparkSession.builder.master(...).getOrCreate()) as spark="

# What to do instead, on Spark Connect, of what needs a SparkContext (see require_classic).
VECTORIZED_INSTEAD = (
    "write a vectorized simulator, simulate(theta (n, d), rng) -> statistics (n, k), which runs "
    f"through mapInPandas on Spark Connect, or engine='numpy', or {_CLASSIC}"
)
NESTED_INSTEAD = (
    "run its ranks as threads in one task (process_per_model=1, a pool sized by task_cpus(), "
    f"which runs through mapInPandas on Spark Connect), or engine='mpi', or {_CLASSIC}"
)
HADOOP_INSTEAD = (
    "use a local path (on Databricks a /Volumes/... or /dbfs/... one) and copy the folder, "
    f"or {_CLASSIC}"
)
ABCPY_INSTEAD = (
    "pass a classic session's spark.sparkContext, or use abcspark's own RejectionABC and "
    "PMCABC, which run on Spark Connect"
)


def is_connect(spark: Any) -> bool:
    """Whether ``spark`` is a Spark Connect session.

    It asks the session's class (``pyspark.sql.connect.session.SparkSession``, also what
    Databricks Connect returns), not ``pyspark.sql.utils.is_remote()``: that reads an environment
    variable of the whole process, which a classic session and a Connect one may share.

    Examples
    --------
    >>> is_connect(object())
    False
    """
    return type(spark).__module__.startswith("pyspark.sql.connect")


def active_session() -> Any:
    """The active session that ``spark=None`` means: classic first, else Spark Connect's.

    None if there is neither; it starts nothing. The Connect client is not imported: whoever
    made a Connect session imported it, and importing it fails without its dependencies.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    module = sys.modules.get("pyspark.sql.connect.session")
    remote = None if module is None else module.SparkSession.getActiveSession()
    return SparkSession.getActiveSession() or remote


def require_classic(spark: Any, what: str, instead: str, error: type = ValueError) -> None:
    """Raise ``error`` naming ``instead`` if ``spark`` is a Spark Connect session.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession or None
        The session a feature would run on (None: not known yet, nothing to refuse).
    what : str
        The feature, as the subject of the message (``"vectorized=False (the RDD path)"``).
    instead : str
        What to do on Spark Connect instead.

    Examples
    --------
    >>> require_classic(None, "vectorized=False", "write a vectorized simulator")
    """
    if spark is not None and is_connect(spark):
        raise error(
            f"{what} must run on a classic Spark session (got a Spark Connect session, which "
            f"has no SparkContext, RDDs or JVM in this process); {instead}."
        )


def default_parallelism(spark: Any) -> int:
    """Partitions per job when ``parallelism`` is not given.

    On a classic session ``sparkContext.defaultParallelism``. A Connect session has no
    SparkContext: its ``spark.default.parallelism`` if the session's conf sets it, else the
    number of partitions Spark itself gives ``spark.range`` without ``numPartitions`` (its
    ``leafNodeDefaultParallelism``: ``spark.sql.leafNodeDefaultParallelism`` if set, else the
    server's ``sparkContext.defaultParallelism``, its executors' cores), counted by one small
    query once per session. Results never depend on it (randomness is keyed by batch).
    """
    if not is_connect(spark):
        return int(spark.sparkContext.defaultParallelism)
    key = _session_key(spark)
    if key not in _PARALLELISM:
        configured = setting(spark, "spark.default.parallelism")
        if configured is not None and configured.strip().isdigit() and int(configured) > 0:
            _PARALLELISM[key] = int(configured)
        else:
            ids = spark.range(0, 1 << 16).selectExpr("spark_partition_id() AS p")
            _PARALLELISM[key] = int(ids.selectExpr("max(p) + 1 AS n").collect()[0][0])
    return _PARALLELISM[key]


def setting(spark: Any, key: str) -> Optional[str]:
    """A setting of the session's conf, or None if it is unset or cannot be read there
    (Databricks serverless refuses some)."""
    try:
        return spark.conf.get(key, None)
    except Exception:  # noqa: BLE001 (any refusal means: not known here)
        return None


def ship_package(spark: Any, archive: Callable[[], str]) -> None:
    """Add this abcspark (the zip ``archive()`` makes) to a Connect session, once per session.

    Connect has no ``addPyFile``; ``addArtifacts(pyfile=True)`` puts the zip first on the path
    of the session's Python workers, so the driver's version wins there as with ``addPyFile``.
    Not when the server's master reads as local (its workers import the server's own abcspark).
    Where the server refuses (Databricks may), install abcspark on the cluster instead
    (``%pip install abcspark`` in a Databricks notebook).
    """
    key = _session_key(spark)
    if (setting(spark, "spark.master") or "").startswith("local") or key in _SHIPPED:
        return
    try:
        spark.addArtifacts(archive(), pyfile=True)
    except Exception as exc:  # noqa: BLE001 (the executors may have abcspark installed)
        log.warning(
            "could not add abcspark to the Spark Connect session (%s); install it on "
            "the cluster if its executors lack it",
            exc,
        )
        return
    _SHIPPED.add(key)
    log.info("added abcspark to Spark Connect session %s", key)


def _session_key(spark: Any) -> str:
    """The id of a Connect session (the same for every object of one server-side session)."""
    return str(getattr(spark, "session_id", id(spark)))
